"""Training throughput: tokens/s and ms per iteration of train.py's step (get_batch, forward and backward
under train.py's autocast, gradient clipping, AdamW), eager and compiled side by side (train.py
--compile=True), the model's FLOPs per token, and the FLOP/s achieved as a share of this machine's own matmul
peaks, measured in the same run (large float32 and bfloat16 matmuls). On a GPU also the MFU against the
card's nominal datasheet peak. On a CPU it also shows where a step's time goes: the phases of the step, and
the operators (matmuls, attention, the rest) as the PyTorch profiler counts them.

    python bench/bench_train.py                  # the CPU recipe's shape: 6 layers, 4 heads, 256 wide, block 256, char vocab
    python bench/bench_train.py --batch_size=8   # any of the shape's numbers can be overridden
    python bench/bench_train.py --shape=course   # the course's GPT-2 model: 6 layers, 8 heads, 512 wide, block 512
    python bench/bench_train.py --tiny           # smoke test (seconds)

The step mirrors train.py's loop (which is a script and cannot be imported); random tokens stand in for
the corpus, which changes nothing in the arithmetic.
"""
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from bench.common import matmul_peak, nominal_gpu_peak, si
from model import GPT, GPTConfig
from wuxia.batches import TRAIN_STREAM, get_batch, step_rng
from wuxia.configurator import AT_LEAST_0, AT_LEAST_1, DEVICE, DTYPE, Rule, configure, explain_machine_errors
from wuxia.device import compile_for_training, pick_device, precision
from wuxia.report import markdown_table
from wuxia.timing import describe_machine, synchronize, timed

# -----------------------------------------------------------------------------------------------------------
shape = "cpu"          # "cpu": config/pretrain_jinyong_cpu.py (char vocabulary ~5,100 -> 5120);
                       # "course": config/pretrain_jinyong.py (the course's GPT-2 model)
n_layer = None         # these seven: None takes the shape's value, a number overrides it
n_head = None
n_embd = None
block_size = None
vocab_size = None
batch_size = None
arch = None            # "gpt2" or "llama" (model.py); None takes the shape's
dropout = None         # dropout is part of the step: on a CPU it costs time (random masks)
variants = "eager,compiled"  # the steps timed side by side: "eager" (train.py's default), "compiled" (--compile=True)
iters = 10             # timed iterations
warmup_iters = 3       # untimed first iterations (allocator, thread pools), after compiling
breakdown = True       # on a CPU: where the eager and compiled steps' time goes (phases, operators)
device = "auto"
num_threads = 0        # CPU threads for torch; 0 leaves torch's default (one per core)
dtype = "auto"         # as train.py: bfloat16 autocast on CUDA (else float16) and on CPUs with native bf16, else float32
peak_size = 0          # side of the square matmuls that measure the machine's peaks; 0: 2048 on CPU, 8192 on GPU
gpu_peak_tflops = 0.0  # the card's nominal bf16 peak for MFU; 0: look the card up by name
seed = 1337
tiny = False           # smoke test: a toy model, 2 timed iterations, small peak matmuls
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={
    "iters": AT_LEAST_1, "warmup_iters": AT_LEAST_0, "device": DEVICE, "num_threads": AT_LEAST_0, "dtype": DTYPE,
    "peak_size": AT_LEAST_0, "gpu_peak_tflops": AT_LEAST_0,
    "variants": Rule("a comma-separated list of eager and compiled",
                     lambda v: bool(v) and set(v.split(",")) <= {"eager", "compiled"})})

SHAPES = {
    "cpu": dict(n_layer=6, n_head=4, n_embd=256, block_size=256, vocab_size=5120, batch_size=16, dropout=0.0,
                arch="llama"),
    "course": dict(n_layer=6, n_head=8, n_embd=512, block_size=512, vocab_size=50304, batch_size=32, dropout=0.2,
                   arch="gpt2"),
    "tiny": dict(n_layer=2, n_head=2, n_embd=32, block_size=32, vocab_size=128, batch_size=4, dropout=0.0,
                 arch="llama"),
}
if tiny:
    shape, iters, warmup_iters, peak_size = "tiny", 2, 1, 256
if shape not in SHAPES:
    raise SystemExit(f"--shape={shape!r}: choose one of {', '.join(SHAPES)}")
chosen = {k: v if globals()[k] is None else globals()[k] for k, v in SHAPES[shape].items()}
n_layer, n_head, n_embd, block_size, vocab_size, batch_size, dropout, arch = (
    chosen[k] for k in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size", "batch_size", "dropout", "arch"))

device = pick_device(device)
if num_threads:
    torch.set_num_threads(num_threads)
device_type = "cuda" if device.startswith("cuda") else device.split(":")[0]
dtype, autocast = precision(device, dtype)
# a random "corpus" long enough that windows rarely overlap, in the dtype prepare.py writes
corpus = np.random.default_rng(seed).integers(0, vocab_size, size=max(1 << 21, 4 * batch_size * block_size),
                                              dtype=np.uint16 if vocab_size <= 65535 else np.uint32)
PHASES = ("batch", "forward", "backward", "clip + AdamW")


def make_step(variant):
    """(model, step function) for one variant, the model freshly initialised from the same seed. step(it, clock)
    runs one iteration of train.py's loop (gradient_accumulation_steps=1); clock(phase) is called at the end
    of each phase."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size,
                          vocab_size=vocab_size, dropout=dropout, arch=arch)).to(device)
    optimizer = model.configure_optimizer(0.1, 1e-3, (0.9, 0.99), device_type)  # train.py's defaults
    scaler = torch.amp.GradScaler(device_type, enabled=(dtype == "float16"))
    step_model = model

    def step(it, clock=lambda phase: None):
        x, y = get_batch(corpus, batch_size, block_size, step_rng(seed, TRAIN_STREAM, it), device)
        clock("batch")
        with autocast:
            _, loss = step_model(x, y)
        clock("forward")
        scaler.scale(loss).backward()
        clock("backward")
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if not scaler.is_enabled() and not (torch.isfinite(loss) and torch.isfinite(grad_norm)):
            raise SystemExit(f"loss is {loss.item()} at iteration {it}")  # train.py checks this every step too
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        clock("clip + AdamW")

    compile_seconds = None
    if variant == "compiled":
        def first_step(compiled):
            x, y = get_batch(corpus, batch_size, block_size, step_rng(seed, TRAIN_STREAM, 0), device)
            with autocast:
                scaler.scale(compiled(x, y)[1]).backward()
        step_model, compile_seconds = compile_for_training(model, first_step)
        if step_model is model:
            return None
    return model, step, compile_seconds


def phase_times(step, first_it):
    """Mean seconds per phase over `iters` iterations (on a GPU each phase is synchronised, which slows it)."""
    totals = dict.fromkeys(PHASES, 0.0)
    last = [time.perf_counter()]

    def clock(phase):
        synchronize(device)
        now = time.perf_counter()
        totals[phase] += now - last[0]
        last[0] = now
    for it in range(iters):
        last[0] = time.perf_counter()
        step(first_it + it, clock)
    return {phase: seconds / iters for phase, seconds in totals.items()}


def operator_times(step, first_it):
    """Mean seconds per iteration spent in matmuls, in attention kernels and in everything else (elementwise
    kernels, normalisation, softmax, casts, the optimizer's loops; in a compiled step, inductor's fused
    kernels), by the operators' self time in the PyTorch profiler (CPU only)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for it in range(iters):
            step(first_it + it)
    totals = {"matmuls": 0.0, "attention kernels": 0.0, "everything else": 0.0}
    for event in profiler.key_averages():
        if event.key in ("aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm"):
            totals["matmuls"] += event.self_cpu_time_total
        elif "scaled_dot_product" in event.key or "flash_attention" in event.key:
            totals["attention kernels"] += event.self_cpu_time_total
        else:
            totals["everything else"] += event.self_cpu_time_total
    return {name: microseconds / 1e6 / iters for name, microseconds in totals.items()}


# -----------------------------------------------------------------------------------------------------------
flops_per_token = None
rows, breakdowns = [], []
for variant in variants.split(","):
    made = make_step(variant)
    if made is None:  # compile failed here; compile_for_training said why
        continue
    model, step, compile_seconds = made
    flops_per_token = model.flops_per_token()
    for it in range(warmup_iters):
        step(1 + it)
    # one clock around all timed iterations: on a GPU the host may run ahead of the device, as in train.py
    seconds, _ = timed(lambda: [step(1 + warmup_iters + it) for it in range(iters)], device)
    rows.append((variant, seconds / iters, compile_seconds))
    if breakdown and device_type == "cpu":
        first_it = 1 + warmup_iters + iters
        breakdowns.append((variant, phase_times(step, first_it), operator_times(step, first_it + iters)))

# this machine's own yardsticks, measured now (after the model's runs, so with the same clocks and neighbours)
size = peak_size or (8192 if device_type == "cuda" else 2048)
peaks = {name: matmul_peak(device, getattr(torch, name), size, repeats=5) for name in ("float32", "bfloat16")}
synchronize(device)
achieved_peak = peaks["bfloat16" if dtype in ("bfloat16", "float16") else "float32"]

print(f"bench_train on {describe_machine(device)}")
if device_type == "cpu":
    has = [name for name, check in (("AVX512-BF16", "_is_avx512_bf16_supported"), ("AMX", "_is_amx_tile_supported"))
           if getattr(torch.cpu, check, lambda: False)()]
    print(f"native bfloat16 matmuls: {', '.join(has) if has else 'none (bfloat16 is emulated: train.py uses float32)'}")
print(f"model {n_layer} layers x {n_head} heads x {n_embd} wide, block {block_size}, vocab {vocab_size}, "
      f"dropout {dropout}, arch {arch}: {model.num_params() / 1e6:.2f}M parameters (non-embedding count, as in "
      f"flops_per_token); batch {batch_size}; {iters} timed iterations after {warmup_iters} warm-up")
print(f"measured matmul peaks ({size}x{size}): float32 {si(peaks['float32'], 'FLOP/s')}, "
      f"bfloat16 {si(peaks['bfloat16'], 'FLOP/s')}")
print()
table = []
for variant, seconds_per_iter, compile_seconds in rows:
    tokens_per_sec = batch_size * block_size / seconds_per_iter
    achieved = flops_per_token * tokens_per_sec
    mfu = "- (CPU)"
    if device_type == "cuda":
        card, nominal = (("given", gpu_peak_tflops * 1e12) if gpu_peak_tflops else nominal_gpu_peak(device))
        mfu = (f"{achieved / nominal:.1%} of {card} bf16 dense {nominal / 1e12:.0f} TFLOP/s" if nominal
               else "unknown card: pass --gpu_peak_tflops=...")
    table.append([f"{variant}, {dtype}", "-" if compile_seconds is None else f"{compile_seconds:.0f} s",
                  f"{seconds_per_iter * 1000:.1f}", f"{tokens_per_sec:,.0f}",
                  f"{rows[0][1] / seconds_per_iter:.2f}x", si(flops_per_token), si(achieved, "FLOP/s"),
                  f"{achieved / achieved_peak:.1%}", mfu])
peak_name = "bfloat16" if achieved_peak is peaks["bfloat16"] else "float32"
print(markdown_table(["step", "compile", "ms/iter", "tokens/s", f"vs {rows[0][0]}", "FLOPs/token",
                      "achieved FLOP/s", f"share of measured {peak_name} peak", "MFU (nominal peak)"], table))
if breakdowns:
    print()
    print("where a step's time goes (ms per iteration; the operators by the profiler's self time):")
    print()
    names = list(PHASES) + list(breakdowns[0][2])
    print(markdown_table(["step"] + names, [[variant] + [f"{1000 * t:.1f}" for t in {**phases, **ops}.values()]
                                             for variant, phases, ops in breakdowns]))
