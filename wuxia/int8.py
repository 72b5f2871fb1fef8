"""int8 weight-only models for CPU decoding: every weight matrix (the attention and MLP layers, and the
output layer with the token embedding tied to it) is stored as int8 with one scale per output row, and
multiplied by PyTorch's fused kernel (torch.ops.aten._weight_int8pack_mm), which dequantizes as it goes.

Why: decoding one prompt reads every weight once per token, so on a CPU its speed is the memory bandwidth
divided by the bytes of the weights. int8 is a quarter of float32's bytes and half of float16's. The
activations, LayerNorms, attention, residual stream and KV cache stay float32; only the input of a matmul
is rounded to bfloat16, as the kernel requires, and its result comes back as float32.

One row at a time (one prompt's decoding step: the chat page, sample.py) that kernel is limited by its own
arithmetic, not by memory: it turns every int8 weight into a float before multiplying. There, where fbgemm
is in this PyTorch, the layer uses fbgemm's dynamic int8 linear instead, which also rounds the one input row
to 7 bits (with that row's own scale, so no row depends on another) and multiplies integers: it reads the
weights at memory speed (256 tokens of the course's model in 0.80 s instead of 1.05 s, bench/bench_sample.py).
Its rounding costs little: +0.15% perplexity when decoding the Jin Yong recipe's model (README, Performance).
"""
import ctypes
import warnings

import torch
import torch.nn as nn
from torch.nn import functional as F


def quantize_rows(weight):
    """(int8 weight, bfloat16 scale per row) with weight ≈ int8 * scale: symmetric, per output channel. The
    scale is rounded to bfloat16 first and the weight divided by that rounded scale, so the kernel's
    dequantization is exactly the one the int8 values were made for."""
    weight = weight.detach().float()
    scale = (weight.abs().amax(dim=1) / 127).clamp(min=1e-12).to(torch.bfloat16)
    q = torch.round(weight / scale.float()[:, None]).clamp(-127, 127).to(torch.int8)
    return q.contiguous(), scale


# From this many rows on (batch x new tokens: a long prompt), a matmul is limited by arithmetic rather than by
# reading the weight, and float32 arithmetic is faster than the int8 kernel's: the layer then dequantizes its
# weight and multiplies in float32. bench/bench_sample.py --prompt_tokens=... times both sides.
FLOAT32_ROWS = 128


def int8_matmul(x, q, scale, bias=None, packed=None):
    """x (..., in) float32 times the int8 matrix q (out, in) with its row scales, plus bias: (..., out) float32.
    packed: the same matrix and bias packed for fbgemm (pack_for_fbgemm), used when x is one row."""
    rows = x.reshape(-1, x.size(-1))
    if packed is not None and rows.size(0) == 1:
        # reduce_range: the input rounds to 7 bits, so CPUs without VNNI cannot overflow fbgemm's int16 sums
        y = torch.ops.quantized.linear_dynamic(rows, packed, reduce_range=True)
    elif rows.size(0) >= FLOAT32_ROWS:
        y = F.linear(rows, q.float() * scale.float()[:, None], bias)
    else:
        y = torch.ops.aten._weight_int8pack_mm(rows.to(torch.bfloat16), q, scale)
        # adding the float32 bias to the bfloat16 result gives float32 in one step (decoding is op-bound too)
        y = y.float() if bias is None else torch.add(bias, y)
    return y.view(*x.shape[:-1], q.size(0))


def pack_for_fbgemm(q, scale, bias):
    """q (int8, per-row scales) and bias packed for fbgemm's dynamic linear: the same int8 values and scales.
    Packing goes through PyTorch's quantized tensors, whose creation warns that they are deprecated; the
    warning is silenced here, and fbgemm_supported() sends every layer to the other kernel where they are gone."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zero_points = torch.zeros(q.size(0), dtype=torch.long)
        weight = torch._make_per_channel_quantized_tensor(q, scale.double(), zero_points, 0)
        return torch.ops.quantized.linear_prepack(weight, bias)


class Int8Linear(nn.Module):
    """An nn.Linear whose weight is int8 with per-row scales; the bias stays float32. fbgemm: also pack the
    weight for fbgemm's one-row kernel (see the top of this file)."""

    def __init__(self, linear, fbgemm=False):
        super().__init__()
        q, scale = quantize_rows(linear.weight)
        self.register_buffer("weight", q)
        self.register_buffer("scale", scale)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().float(), requires_grad=False)
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.packed = pack_for_fbgemm(q, scale, self.bias) if fbgemm else None

    def forward(self, x):
        return int8_matmul(x, self.weight, self.scale, self.bias, self.packed)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, int8, bias={self.bias is not None}"


class Int8Embedding(nn.Module):
    """A token embedding that reads its rows from an int8 matrix (the output layer's, when they are tied):
    the rows a batch looks up are dequantized, nothing else is."""

    def __init__(self, q, scale):
        super().__init__()
        self.weight, self.scale = q, scale

    def forward(self, idx):
        return self.weight[idx].float() * self.scale[idx].float().unsqueeze(-1)


def quantize_model(model, fbgemm=None):
    """Replace the model's nn.Linear layers, in place, by Int8Linear, and its token embedding by an
    Int8Embedding (sharing the output layer's int8 matrix when the two are tied, as in GPT-2). fbgemm: pack
    the layers for fbgemm's one-row kernel too (default: where this PyTorch has it). Returns the model, in
    eval mode; it is for inference only."""
    model.float().eval()
    fbgemm = fbgemm_supported() if fbgemm is None else fbgemm
    embedding = model.transformer.wte
    tied = embedding.weight is model.lm_head.weight
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8Linear(child, fbgemm))
    if tied:
        model.transformer.wte = Int8Embedding(model.lm_head.weight, model.lm_head.scale)
    else:
        model.transformer.wte = Int8Embedding(*quantize_rows(embedding.weight))
    del embedding  # the last reference to the float embedding (tied: the output layer's float weight)
    release_freed_memory()
    return model


def release_freed_memory():
    """Hand the memory just freed (the float weights and quantization's temporaries) back to the system.
    glibc's allocator keeps freed blocks for reuse, so otherwise the process stays ~100 MB larger than its
    int8 model (bench/bench_sample.py's resident MB). Elsewhere than glibc this does nothing."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def int8_supported():
    """Whether this PyTorch build has the fused int8 kernel for the CPU (PyTorch 2.4 and later)."""
    try:
        q, scale = quantize_rows(torch.ones(8, 32))
        return torch.allclose(int8_matmul(torch.ones(1, 32), q, scale), torch.full((1, 8), 32.0))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


def fbgemm_supported():
    """Whether fbgemm's dynamic int8 linear is here and computes right (x86 builds of PyTorch have it; ARM
    builds, and PyTorch versions without quantized tensors, use the weight-only kernel for every row)."""
    if torch.backends.quantized.engine not in ("x86", "fbgemm"):
        return False
    try:
        q, scale = quantize_rows(torch.eye(8, 32))
        y = int8_matmul(torch.ones(1, 32), q, scale, packed=pack_for_fbgemm(q, scale, None))
        return torch.allclose(y, torch.ones(1, 8), atol=0.02)
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
