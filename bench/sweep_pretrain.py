"""Which pretraining settings learn most in a fixed CPU budget? Each candidate trains for the iterations that
the budget buys at its own measured CPU step time, then is scored in bits per character on the whole val split.
This is how config/pretrain_jinyong_cpu.py was chosen.

    python bench/sweep_pretrain.py --dataset=jinyong_char                      # measure and train here
    python bench/sweep_pretrain.py --dataset=jinyong_char --device=cuda --parallel=8 --cpu_ms_scale=1.3

Step 1 times every candidate's training step on the CPU with bench/bench_train.py (2 threads, as on a
2-core laptop). Step 2 trains every candidate for cpu_minutes of those steps, on --device: the arithmetic
is the same float32 arithmetic on any device, so a GPU can run the sweep quickly without changing what
is compared. When step 1 runs on another CPU than the one the budget is meant for, --cpu_ms_scale converts
its step times (the ratio of the two CPUs' times for the first candidate).
"""
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench.common import run_parallel  # noqa: E402
from wuxia.configurator import configure, explain_machine_errors  # noqa: E402
from wuxia.dataset import dataset_dir, load_meta  # noqa: E402
from wuxia.report import markdown_table  # noqa: E402

# -----------------------------------------------------------------------------------------------------------
dataset = "jinyong_char"      # a prepare.py dataset
cpu_minutes = 30.0            # the budget every candidate gets, in minutes of CPU training steps
cpu_threads = 2               # threads for the CPU step timing
cpu_ms_scale = 1.0            # multiply measured CPU step times by this (see the top of the file)
reference_ms = 0.0            # when set: the target CPU's ms/iter for the first candidate, which fixes cpu_ms_scale
device = "auto"               # where the candidates train
parallel = 1                  # candidates trained at once (a GPU has room for several small ones)
out_root = "out/sweep"
only = ""                     # comma-separated candidate names; empty: all
tiny = False                  # smoke test: two toy candidates, a few iterations
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:])

BASE = dict(n_layer=4, n_head=4, n_embd=256, block_size=256, batch_size=16, arch="gpt2", dropout=0.0,
            learning_rate=2e-3, warmup_iters=100, weight_decay=0.1)
CANDIDATES = {
    "preset_4x256": {},
    "lr3e-3": dict(learning_rate=3e-3),
    "llama_4x256": dict(arch="llama", learning_rate=3e-3),
    "gpt2_6x384": dict(n_layer=6, n_head=6, n_embd=384, learning_rate=1.5e-3),
    "llama_6x384": dict(n_layer=6, n_head=6, n_embd=384, arch="llama", learning_rate=2e-3),
    "batch32": dict(batch_size=32, learning_rate=3e-3),
    "deep_6x256": dict(n_layer=6, learning_rate=2e-3),
    "ctx128_b32": dict(block_size=128, batch_size=32, learning_rate=3e-3),
}
if tiny:
    BASE.update(n_layer=1, n_head=2, n_embd=32, block_size=32, batch_size=4, warmup_iters=2)
    CANDIDATES = {"tiny_gpt2": {}, "tiny_llama": dict(arch="llama")}
names = [n for n in CANDIDATES if not only or n in only.split(",")]
BENCH_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "arch", "dropout")


def settings(name):
    return {**BASE, **CANDIDATES[name]}


def cpu_ms_per_iter(name):
    """ms per training step on the CPU, from bench_train.py (the same step as train.py's)."""
    s = settings(name)
    args = [f"--{k}={s[k]}" for k in BENCH_KEYS] + [f"--vocab_size={vocab_size}", "--device=cpu",
                                                     f"--num_threads={cpu_threads}", "--peak_size=256",
                                                     "--dtype=float32",  # the sweep compares float32 eager steps
                                                     "--variants=eager", "--breakdown=False"]
    args += ["--iters=2", "--warmup_iters=1"] if tiny else ["--iters=6", "--warmup_iters=2"]
    out = subprocess.run([sys.executable, "bench/bench_train.py", *args], cwd=ROOT, capture_output=True, text=True)
    row = re.search(r"^\| eager, float32 \| - \| ([\d.]+) \|", out.stdout, re.M)
    if out.returncode or not row:
        raise SystemExit(f"bench_train.py failed for {name}:\n{out.stdout}\n{out.stderr}")
    return float(row.group(1)) * (1.0 if reference_ms and name == names[0] else cpu_ms_scale)


vocab_size = -(-load_meta(os.path.join(ROOT, dataset_dir(dataset)))["vocab_size"] // 64) * 64

print(f"step 1: CPU step times ({cpu_threads} threads, scale {cpu_ms_scale})", flush=True)
step_ms = {}
for name in names:
    step_ms[name] = cpu_ms_per_iter(name)
    if reference_ms and name == names[0]:
        cpu_ms_scale = reference_ms / step_ms[name]
        step_ms[name] = reference_ms
        print(f"  (this CPU's times are scaled by {cpu_ms_scale:.3f} to the target CPU's)")
    print(f"  {name}: {step_ms[name]:.0f} ms/iter", flush=True)

print(f"step 2: train each for {cpu_minutes} CPU minutes on {device}, {parallel} at a time", flush=True)
iters = {n: max(10, int(cpu_minutes * 60_000 / step_ms[n])) for n in names}
if tiny:
    iters = {n: 6 for n in names}
started = time.time()
jobs = {}
for name in names:
    s, out_dir = settings(name), os.path.join(out_root, name)
    args = [f"--{k}={v}" for k, v in s.items()] + [
        f"--out_dir={out_dir}", f"--dataset={dataset}", f"--device={device}", "--dtype=float32",
        f"--max_iters={iters[name]}", f"--lr_decay_iters={iters[name]}", f"--min_lr={s['learning_rate'] / 10}",
        f"--eval_interval={max(2, iters[name] // 4)}", "--eval_iters=20", "--log_interval=100", "--plot=False"]
    jobs[name] = ([sys.executable, "train.py", *args], os.path.join(out_dir, "train.log"))
run_parallel(jobs, parallel, ROOT)
print(f"  trained in {time.time() - started:.0f} s", flush=True)

rows, results = [], []
for name in names:
    out = subprocess.run([sys.executable, "eval_ppl.py", f"--out_dir={os.path.join(out_root, name)}", "--print_json",
                          f"--device={device}"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        print(f"  {name}: failed, see {os.path.join(out_root, name, 'train.log')}\n{out.stderr[-2000:]}")
        continue
    result = json.loads(out.stdout)["runs"][0]
    s = settings(name)
    results.append({"name": name, "settings": s, "cpu_ms_per_iter": step_ms[name], "iterations": iters[name],
                    "bits_per_char": result["bits_per_char"]})
    rows.append([name, f"{s['arch']} {s['n_layer']}x{s['n_head']}x{s['n_embd']}, ctx {s['block_size']}, batch "
                 f"{s['batch_size']}, lr {s['learning_rate']:g}", f"{step_ms[name]:.0f}", f"{iters[name]:,}",
                 f"{iters[name] * s['batch_size'] * s['block_size'] / 1e6:.2f}M", f"{result['bits_per_char']:.3f}"])
print()
print(markdown_table(["candidate", "settings", "CPU ms/iter", "iterations", "tokens", "val bits/char"], rows))
with open(os.path.join(out_root, "sweep.json"), "w", encoding="utf-8") as f:
    json.dump(results, f, indent=1)
