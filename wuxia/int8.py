"""int8 weight-only models for CPU decoding: every weight matrix (the attention and MLP layers, and the
output layer with the token embedding tied to it) is stored as int8 with one scale per output row, and
multiplied by PyTorch's fused kernel (torch.ops.aten._weight_int8pack_mm), which dequantizes as it goes.

Why: decoding one prompt reads every weight once per token, so on a CPU its speed is the memory bandwidth
divided by the bytes of the weights. int8 is a quarter of float32's bytes and half of float16's. The
activations, LayerNorms, attention, residual stream and KV cache stay float32; only the input of a matmul
is rounded to bfloat16, as the kernel requires, and its result comes back as float32.
"""
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


def int8_matmul(x, q, scale, bias=None):
    """x (..., in) float32 times the int8 matrix q (out, in) with its row scales, plus bias: (..., out) float32."""
    rows = x.reshape(-1, x.size(-1))
    if rows.size(0) >= FLOAT32_ROWS:
        y = F.linear(rows, q.float() * scale.float()[:, None], bias)
    else:
        y = torch.ops.aten._weight_int8pack_mm(rows.to(torch.bfloat16), q, scale)
        # adding the float32 bias to the bfloat16 result gives float32 in one step (decoding is op-bound too)
        y = y.float() if bias is None else torch.add(bias, y)
    return y.view(*x.shape[:-1], q.size(0))


class Int8Linear(nn.Module):
    """An nn.Linear whose weight is int8 with per-row scales; the bias stays float32."""

    def __init__(self, linear):
        super().__init__()
        q, scale = quantize_rows(linear.weight)
        self.register_buffer("weight", q)
        self.register_buffer("scale", scale)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().float(), requires_grad=False)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x):
        return int8_matmul(x, self.weight, self.scale, self.bias)

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


def quantize_model(model):
    """Replace the model's nn.Linear layers, in place, by Int8Linear, and its token embedding by an
    Int8Embedding (sharing the output layer's int8 matrix when the two are tied, as in GPT-2). Returns the
    model, in eval mode; it is for inference only."""
    model.float().eval()
    embedding = model.transformer.wte
    tied = embedding.weight is model.lm_head.weight
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8Linear(child))
    if tied:
        model.transformer.wte = Int8Embedding(model.lm_head.weight, model.lm_head.scale)
    else:
        model.transformer.wte = Int8Embedding(*quantize_rows(embedding.weight))
    return model


def int8_supported():
    """Whether this PyTorch build has the fused int8 kernel for the CPU (PyTorch 2.4 and later)."""
    try:
        q, scale = quantize_rows(torch.ones(8, 32))
        return torch.allclose(int8_matmul(torch.ones(1, 32), q, scale), torch.full((1, 8), 32.0))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
