"""Training throughput: tokens/s and ms per iteration of train.py's step (get_batch, forward and backward
under train.py's autocast, gradient clipping, AdamW), the model's FLOPs per token, and the FLOP/s achieved
as a share of this machine's own matmul peak, measured in the same run (a large fp32 matmul on CPU, bf16
on a GPU). On a GPU also the MFU against the card's nominal datasheet peak.

    python bench/bench_train.py                  # the CPU preset's shape: 4 layers, 4 heads, 256 wide, block 256, char vocab
    python bench/bench_train.py --shape=course   # the course's GPT-2 model: 6 layers, 8 heads, 512 wide, block 512
    python bench/bench_train.py --tiny           # smoke test (seconds)

The step mirrors train.py's loop (which is a script and cannot be imported); random tokens stand in for
the corpus, which changes nothing in the arithmetic.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from bench.common import matmul_peak, nominal_gpu_peak, si
from model import GPT, GPTConfig
from wuxia.batches import TRAIN_STREAM, get_batch, step_rng
from wuxia.configurator import AT_LEAST_0, AT_LEAST_1, DEVICE, DTYPE, configure
from wuxia.device import pick_device, precision
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
arch = "gpt2"          # "gpt2" or "llama" (model.py)
dropout = None         # dropout is part of the step: on a CPU it costs time (random masks, no flash attention)
iters = 10             # timed iterations
warmup_iters = 3       # untimed first iterations (allocator, thread pools, torch.compile)
device = "auto"
num_threads = 0        # CPU threads for torch; 0 leaves torch's default (one per core)
dtype = "auto"         # as train.py: bfloat16 autocast on CUDA (else float16) and on CPUs with native bf16, else float32
compile = False        # torch.compile the model, as train.py --compile=True
peak_size = 0          # side of the square matmul that measures the machine's peak; 0: 2048 on CPU, 8192 on GPU
gpu_peak_tflops = 0.0  # the card's nominal bf16 peak for MFU; 0: look the card up by name
seed = 1337
tiny = False           # smoke test: a toy model, 2 timed iterations, a small peak matmul
# -----------------------------------------------------------------------------------------------------------
configure(globals(), sys.argv[1:], rules={
    "iters": AT_LEAST_1, "warmup_iters": AT_LEAST_0, "device": DEVICE, "num_threads": AT_LEAST_0, "dtype": DTYPE,
    "peak_size": AT_LEAST_0, "gpu_peak_tflops": AT_LEAST_0})

SHAPES = {
    "cpu": dict(n_layer=4, n_head=4, n_embd=256, block_size=256, vocab_size=5120, batch_size=16, dropout=0.0),
    "course": dict(n_layer=6, n_head=8, n_embd=512, block_size=512, vocab_size=50304, batch_size=32, dropout=0.2),
    "tiny": dict(n_layer=2, n_head=2, n_embd=32, block_size=32, vocab_size=128, batch_size=4, dropout=0.0),
}
if tiny:
    shape, iters, warmup_iters, peak_size = "tiny", 2, 1, 256
if shape not in SHAPES:
    raise SystemExit(f"--shape={shape!r}: choose one of {', '.join(SHAPES)}")
chosen = {k: v if globals()[k] is None else globals()[k] for k, v in SHAPES[shape].items()}
n_layer, n_head, n_embd, block_size, vocab_size, batch_size, dropout = (
    chosen[k] for k in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size", "batch_size", "dropout"))

device = pick_device(device)
if num_threads:
    torch.set_num_threads(num_threads)
device_type = "cuda" if device.startswith("cuda") else device.split(":")[0]
dtype, autocast = precision(device, dtype)

torch.manual_seed(seed)
model = GPT(GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size,
                      vocab_size=vocab_size, dropout=dropout, arch=arch)).to(device)
optimizer = model.configure_optimizer(0.1, 1e-3, (0.9, 0.99), device_type)  # train.py's defaults
scaler = torch.amp.GradScaler(device_type, enabled=(dtype == "float16"))
step_model = torch.compile(model) if compile else model
# a random "corpus" long enough that windows rarely overlap, in the dtype prepare.py writes
corpus = np.random.default_rng(seed).integers(0, vocab_size, size=max(1 << 21, 4 * batch_size * block_size),
                                              dtype=np.uint16 if vocab_size <= 65535 else np.uint32)


def train_step(it):
    """One iteration of train.py's loop (gradient_accumulation_steps=1)."""
    x, y = get_batch(corpus, batch_size, block_size, step_rng(seed, TRAIN_STREAM, it), device)
    with autocast:
        _, loss = step_model(x, y)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    if not scaler.is_enabled() and not (torch.isfinite(loss) and torch.isfinite(grad_norm)):
        raise SystemExit(f"loss is {loss.item()} at iteration {it}")  # train.py checks this every step too
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


for it in range(warmup_iters):
    train_step(it)
# one clock around all timed iterations: on a GPU the host may run ahead of the device, as in train.py
seconds, _ = timed(lambda: [train_step(warmup_iters + it) for it in range(iters)], device)
ms_per_iter = seconds * 1000 / iters
tokens_per_sec = iters * batch_size * block_size / seconds
flops_per_token = model.flops_per_token()
achieved = flops_per_token * tokens_per_sec

# this machine's own yardstick, measured now (after the model's run, so with the same clocks and neighbours)
peak_dtype = torch.bfloat16 if device_type == "cuda" else torch.float32
peak = matmul_peak(device, peak_dtype, peak_size or (8192 if device_type == "cuda" else 2048), repeats=5)
mfu = "- (CPU)"
if device_type == "cuda":
    card, nominal = (("given", gpu_peak_tflops * 1e12) if gpu_peak_tflops else nominal_gpu_peak(device))
    mfu = (f"{achieved / nominal:.1%} of {card} bf16 dense {nominal / 1e12:.0f} TFLOP/s" if nominal
           else "unknown card: pass --gpu_peak_tflops=...")
synchronize(device)

print(f"bench_train on {describe_machine(device)}")
print(f"model {n_layer} layers x {n_head} heads x {n_embd} wide, block {block_size}, vocab {vocab_size}, "
      f"dropout {dropout}, arch {arch}: {model.num_params() / 1e6:.2f}M parameters (non-embedding count, as in flops_per_token); "
      f"batch {batch_size}; {iters} timed iterations after {warmup_iters} warm-up; compile={compile}")
print()
print(markdown_table(
    ["device, dtype", "tokens/iter", "ms/iter", "tokens/s", "FLOPs/token", "achieved FLOP/s",
     f"measured {str(peak_dtype).removeprefix('torch.')} matmul peak", "share of measured peak", "MFU (nominal peak)"],
    [[f"{device}, {dtype}", f"{batch_size * block_size:,}", f"{ms_per_iter:.1f}", f"{tokens_per_sec:,.0f}",
      si(flops_per_token), si(achieved, "FLOP/s"), si(peak, "FLOP/s"), f"{achieved / peak:.1%}", mfu]]))
