"""Where the model runs and in which precision: one answer for training, sampling, evaluation, the chat page
and the benchmarks."""
from contextlib import nullcontext

import torch


def pick_device(device="auto"):
    """cuda > mps > cpu, unless one is named."""
    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def precision(device, dtype="auto"):
    """(dtype name, autocast context). On CUDA: bfloat16 autocast where the card has it, else float16 (train.py
    then adds a GradScaler), and TF32 matmuls for what stays in float32. Elsewhere float32: CPU autocast to
    bfloat16 is slower than float32 on most CPUs."""
    on_cuda = device.startswith("cuda")
    if dtype == "auto":
        dtype = ("bfloat16" if torch.cuda.is_bf16_supported() else "float16") if on_cuda else "float32"
    if on_cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if dtype == "float32" or not on_cuda:
        return "float32", nullcontext()
    return dtype, torch.autocast(device_type="cuda", dtype=getattr(torch, dtype))


def for_inference(model, device, dtype="auto"):
    """(model, autocast context) for generation. On CUDA: autocast as in precision(). Elsewhere the model stays
    float32 unless dtype names float16 or bfloat16: then its weights themselves are cast. Decoding one token
    reads every weight once, so on a CPU one prompt at a time is limited by memory bandwidth and half the bytes
    is faster (3x on this project's machine). Batches and long prompts are limited by arithmetic instead, which
    most CPUs do slower in float16: there float32 wins. bench/bench_sample.py --dtype=float16 measures both."""
    if device.startswith("cuda"):
        return model, precision(device, dtype)[1]
    if dtype in ("float16", "bfloat16"):
        model = model.to(getattr(torch, dtype))
    elif dtype not in ("auto", "float32"):
        raise SystemExit(f"--dtype={dtype!r}: choose auto, float32, float16 or bfloat16")
    return model, nullcontext()
