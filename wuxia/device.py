"""Where the model runs and in which precision: one answer for training, sampling, evaluation, the chat page
and the benchmarks."""
from contextlib import nullcontext

import torch

from wuxia.int8 import Int8Linear, int8_supported, quantize_model


def pick_device(device="auto"):
    """cuda > mps > cpu, unless one is named."""
    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def cpu_has_bf16():
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX): there bfloat16 autocast trains
    the CPU recipe's model 1.66x faster than float32 (0.61 vs 1.01 s per step on a 2-core AMD EPYC with
    AVX512-BF16, bench/bench_train.py). Without those instructions bfloat16 is emulated and slower."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, check, lambda: False)() for check in checks)


def precision(device, dtype="auto"):
    """(dtype name, autocast context) for training. On CUDA: bfloat16 autocast where the card has it, else
    float16 (train.py then adds a GradScaler), and TF32 matmuls for what stays in float32. On a CPU: bfloat16
    autocast where the CPU multiplies bfloat16 natively (cpu_has_bf16), else float32; float16 is not offered
    on a CPU. Elsewhere (mps) float32."""
    on_cuda, on_cpu = device.startswith("cuda"), device == "cpu"
    if on_cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if dtype == "auto":
        if on_cuda:
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            dtype = "bfloat16" if on_cpu and cpu_has_bf16() else "float32"
    if (on_cuda and dtype != "float32") or (on_cpu and dtype == "bfloat16"):
        return dtype, torch.autocast(device_type="cuda" if on_cuda else "cpu", dtype=getattr(torch, dtype))
    return "float32", nullcontext()


def for_inference(model, device, dtype="auto"):
    """(model, autocast context) for generation. On CUDA: autocast as in precision(). On a CPU, auto picks
    int8 weights (wuxia/int8.py) when this PyTorch has the fused kernel, else float32; float32, float16,
    bfloat16 or int8 force one. Decoding one token reads every weight once, so one prompt at a time is limited
    by memory bandwidth, and fewer bytes per weight is faster: int8 reads a quarter of float32's bytes (one
    prompt's steps multiply integers through fbgemm, where this PyTorch has it), and its kernel also wins at
    small batches. Long prompts are limited by arithmetic instead: there an int8 layer computes in float32
    (see wuxia/int8.py). weights_format() names what was chosen, for the progress
    line; bench/bench_sample.py measures every format."""
    if dtype not in ("auto", "float32", "float16", "bfloat16", "int8"):
        raise SystemExit(f"--dtype={dtype!r}: choose auto, float32, float16, bfloat16 or int8")
    if dtype == "int8" and device != "cpu":
        raise SystemExit(f"--dtype=int8 is for decoding on a CPU; on {device} use --dtype=auto or float16")
    if device.startswith("cuda"):
        return model, precision(device, dtype)[1]
    if dtype == "auto":
        dtype = "int8" if device == "cpu" and int8_supported() else "float32"
    if dtype == "int8":
        return quantize_model(model), nullcontext()
    return model.to(getattr(torch, dtype)), nullcontext()


def weights_format(model, autocast=None):
    """How the model computes, in a few words for a progress line: 'int8 weights', 'float16 weights',
    'bfloat16 autocast', ..."""
    if isinstance(autocast, torch.autocast):
        return f"{str(autocast.fast_dtype).removeprefix('torch.')} autocast"
    if any(isinstance(m, Int8Linear) for m in model.modules()):
        return "int8 weights"
    return f"{str(next(model.parameters()).dtype).removeprefix('torch.')} weights"


def compile_for_training(model, first_step):
    """torch.compile(model), compiled now by running first_step(compiled) once (a forward and a backward pass:
    both graphs), so that the compile time is paid and reported before the progress line's clock starts
    counting iterations. Where compiling fails (no C++ compiler for inductor's CPU kernels, an unsupported device
    or PyTorch build), says so in one line and returns the model as it was: training goes on uncompiled.
    Returns (model to train, seconds spent compiling). The gradients of the trial step are cleared."""
    import time
    started = time.time()
    compiled = torch.compile(model)
    try:
        first_step(compiled)
    except Exception as error:  # noqa: BLE001 -- any failure inside the compiler means: train without it
        torch._dynamo.reset()
        reason = (str(error).strip().splitlines() or [""])[0][:200]
        print(f"torch.compile does not work here ({type(error).__name__}: {reason}); training without it")
        compiled = model
    finally:
        model.zero_grad(set_to_none=True)
    return compiled, time.time() - started
