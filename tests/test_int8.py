"""wuxia/int8.py and the CPU format choice in wuxia/device.py: int8 weight-only layers compute what the float
layers compute (to int8's precision), on both of their paths; the whole model's logits stay close; the token
embedding shares the output layer's int8 matrix; auto picks int8 on a CPU and --dtype forces a format."""
import copy

import pytest
import torch
from torch import nn

from model import GPT, GPTConfig
from wuxia.device import for_inference, weights_format
from wuxia.generate import generate
from wuxia.int8 import (FLOAT32_ROWS, Int8Embedding, Int8Linear, fbgemm_supported, int8_supported, quantize_model,
                        quantize_rows)

pytestmark = pytest.mark.skipif(not int8_supported(), reason="this PyTorch has no fused int8 CPU kernel")


def test_quantize_rows_error_is_at_most_half_a_step():
    torch.manual_seed(0)
    weight = torch.randn(64, 96) * torch.logspace(-3, 1, 64)[:, None]  # rows of very different scales
    q, scale = quantize_rows(weight)
    assert q.dtype == torch.int8 and scale.shape == (64,) and int(q.abs().max()) <= 127
    error = (q.float() * scale.float()[:, None] - weight).abs()
    assert bool((error <= scale.float()[:, None] * 0.5 + 1e-7).all())


@pytest.mark.parametrize("rows", [1, 10, FLOAT32_ROWS + 3])  # the int8 kernel, and the float32 path
def test_int8_linear_matches_float_linear(rows):
    torch.manual_seed(0)
    linear = nn.Linear(256, 384)
    x = torch.randn(rows, 256)
    expected = linear(x)
    got = Int8Linear(linear)(x)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    relative = (got - expected).norm() / expected.norm()
    assert relative < 0.01, relative


@pytest.mark.skipif(not fbgemm_supported(), reason="this PyTorch has no fbgemm dynamic int8 linear")
def test_one_row_goes_through_fbgemm_and_stays_close_while_batches_do_not():
    """One row (a single prompt's decoding step) is multiplied by fbgemm, which rounds that row to 7 bits
    too: close to float32. Several rows keep the weight-only kernel, so no row's rounding depends on
    another's: exactly what the layer without fbgemm computes."""
    torch.manual_seed(0)
    linear = nn.Linear(256, 384)
    fast, plain = Int8Linear(linear, fbgemm=True), Int8Linear(linear, fbgemm=False)
    assert fast.packed is not None and plain.packed is None
    x = torch.randn(1, 1, 256)
    expected = linear(x)
    got = fast(x)
    assert got.shape == expected.shape and got.dtype == torch.float32
    assert (got - expected).norm() / expected.norm() < 0.03
    assert not torch.equal(got, plain(x))  # it did take the other kernel
    batch = torch.randn(10, 256)
    assert torch.equal(fast(batch), plain(batch))


def test_quantize_model_packs_for_fbgemm_where_it_is_supported():
    model = quantize_model(GPT(GPTConfig(block_size=32, vocab_size=100, n_layer=1, n_head=2, n_embd=32)))
    layers = [m for m in model.modules() if isinstance(m, Int8Linear)]
    assert layers and all((m.packed is not None) == fbgemm_supported() for m in layers)
    plain = quantize_model(GPT(GPTConfig(block_size=32, vocab_size=100, n_layer=1, n_head=2, n_embd=32)), fbgemm=False)
    assert all(m.packed is None for m in plain.modules() if isinstance(m, Int8Linear))


def test_quantized_model_logits_close_and_embedding_shared():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=64, vocab_size=300, n_layer=2, n_head=2, n_embd=64)).eval()
    quantized = quantize_model(copy.deepcopy(model))
    assert isinstance(quantized.lm_head, Int8Linear) and isinstance(quantized.transformer.wte, Int8Embedding)
    assert quantized.transformer.wte.weight is quantized.lm_head.weight  # tied: one int8 matrix, not two
    assert not any(isinstance(m, nn.Linear) for m in quantized.modules())
    idx = torch.randint(0, 300, (2, 40))
    with torch.no_grad():
        expected, _ = model(idx, targets=idx)
        got, _ = quantized(idx, targets=idx)
    assert (got - expected).norm() / expected.norm() < 0.02
    # generation works on it, with a float32 KV cache: one prompt decodes through fbgemm where it is here
    ids, _ = generate(quantized, [[1, 2, 3]], 8, eot_id=-1, temperature=0)
    assert len(ids[0]) == 8
    with torch.no_grad():
        cache = model.new_cache(1, 64, "cpu", torch.float32)
        quantized_cache = quantized.new_cache(1, 64, "cpu", torch.float32)
        for t in range(5):  # step by step, one row per matmul
            expected, _ = model(idx[:1, t:t + 1], cache=cache)
            got, _ = quantized(idx[:1, t:t + 1], cache=quantized_cache)
            assert (got - expected).norm() / expected.norm() < 0.03


def test_for_inference_picks_int8_on_cpu_and_dtype_forces_a_format():
    config = GPTConfig(block_size=32, vocab_size=100, n_layer=1, n_head=2, n_embd=32)
    model, _ = for_inference(GPT(config), "cpu", "auto")
    assert weights_format(model) == "int8 weights"
    model, _ = for_inference(GPT(config), "cpu", "float16")
    assert weights_format(model) == "float16 weights"
    model, _ = for_inference(GPT(config), "cpu", "float32")
    assert weights_format(model) == "float32 weights"
    with pytest.raises(SystemExit, match="choose auto"):
        for_inference(GPT(config), "cpu", "int4")
    with pytest.raises(SystemExit, match="for decoding on a CPU"):
        for_inference(GPT(config), "cuda", "int8")


def test_training_precision_on_a_cpu_follows_native_bfloat16(monkeypatch):
    """train.py's auto precision on a CPU: bfloat16 autocast where the CPU multiplies bfloat16 natively, else
    float32; float32 forces float32, and float16 (a CUDA format) falls back to float32 on a CPU."""
    from wuxia import device
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    dtype, autocast = device.precision("cpu", "auto")
    assert dtype == "bfloat16" and autocast.fast_dtype == torch.bfloat16 and autocast.device == "cpu"
    assert device.precision("cpu", "float32")[0] == "float32"
    assert device.precision("cpu", "float16")[0] == "float32"
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    assert device.precision("cpu", "auto")[0] == "float32"
    assert device.precision("mps", "auto")[0] == "float32"
