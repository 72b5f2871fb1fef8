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
