"""Sampling speed and memory of each weight format: seconds and tokens/s for 256 new tokens from the course's
model shape (6 layers, 8 heads, 512 wide, block 512, GPT-2 vocabulary 50304) through wuxia.generate.generate,
batch 1 and batch 10, with float32, float16 and int8 weights and the format --dtype=auto picks, each beside
the resident memory of the process that ran it; and, for float32, the whole context recomputed for every new
token (nanoGPT's sampler) against the KV cache. The course's target is 256 tokens in about 50 s on a
2-core CPU.

    python bench/bench_sample.py
    python bench/bench_sample.py --dtypes=int8 --batch_sizes=1 --prompt_tokens=400   # a long prompt
    python bench/bench_sample.py --tiny       # smoke test (seconds)

Each format runs in a process of its own, so its resident memory (VmRSS after generating) is its own.
The weights are random (speed does not depend on them): the output says so. Sampling uses sample.py's
defaults (wuxia.generate.DECODING). A random model may draw <|endoftext|> and stop early, so generation is
told to stop on id -1, which no token has: every row makes all max_new_tokens tokens (checked).
"""
import json
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from model import GPT, GPTConfig
from wuxia.configurator import AT_LEAST_0, AT_LEAST_1, DEVICE, DTYPE, POSITIVE, configure, explain_machine_errors
from wuxia.device import for_inference, pick_device, weights_format
from wuxia.generate import DECODING, generate
from wuxia.report import markdown_table
from wuxia.timing import describe_machine, timed

# -----------------------------------------------------------------------------------------------------------
n_layer = 6            # the course's model
n_head = 8
n_embd = 512
block_size = 512
vocab_size = 50304
max_new_tokens = 256
prompt_tokens = 16     # prompt length (random ids), the same for every row
batch_sizes = [1, 10]  # on the command line: --batch_sizes=1 10
dtypes = ["float32", "float16", "int8", "auto"]  # weight formats, as sample.py's --dtype; auto: what it picks here
repeats = 3            # timed runs of each row: the table shows the median (and the best)
recompute = True       # also time the full-recompute sampler, float32 only (minutes at batch 10 on a 2-core CPU)
target_seconds = 50.0  # the course's time for 256 new tokens on a 2-core CPU
device = "auto"
num_threads = 0        # CPU threads for torch; 0 leaves torch's default (one per core)
seed = 1337
tiny = False           # smoke test: a toy model, 8 new tokens
worker = False         # internal: time one format (dtypes[0]) and print its results as JSON
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={
    "n_layer": AT_LEAST_1, "n_head": AT_LEAST_1, "n_embd": AT_LEAST_1, "block_size": AT_LEAST_1, "vocab_size": AT_LEAST_1,
    "max_new_tokens": AT_LEAST_1, "prompt_tokens": AT_LEAST_1, "repeats": AT_LEAST_1, "batch_sizes": AT_LEAST_1,
    "dtypes": DTYPE, "target_seconds": POSITIVE, "device": DEVICE, "num_threads": AT_LEAST_0})
if tiny:
    n_layer, n_head, n_embd, block_size, vocab_size, max_new_tokens, prompt_tokens = 2, 2, 32, 64, 256, 8, 4
try:
    batch_sizes = [int(b) for b in batch_sizes]
except ValueError:
    raise SystemExit(f"--batch_sizes expects whole numbers separated by spaces (--batch_sizes=1 10), got {batch_sizes}")
device = pick_device(device)
NO_STOP = -1  # no token has this id, so no row stops before max_new_tokens


def resident_mb():
    """The process's resident memory now (VmRSS), in MB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def time_one_format(dtype):
    """{"weights": ..., "seconds": {"batch,sampler": s}, "resident_mb": ..., "params": ...} for one format."""
    if num_threads:
        torch.set_num_threads(num_threads)
    torch.manual_seed(seed)
    model = GPT(GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size,
                          vocab_size=vocab_size, dropout=0.0)).to(device)
    params = model.num_params()
    model, autocast = for_inference(model.eval(), device, dtype)
    modes = [("KV cache", True)] + ([("full recompute", False)] if recompute and dtype == "float32" else [])

    def sample(batch, use_cache, new_tokens):
        prompts = torch.randint(0, vocab_size, (batch, prompt_tokens),
                                generator=torch.Generator().manual_seed(seed)).tolist()
        new_ids, _ = generate(model, prompts, new_tokens, NO_STOP, **DECODING, seed=seed, use_cache=use_cache,
                              autocast=autocast)
        if any(len(ids) != new_tokens for ids in new_ids):
            raise SystemExit(f"a row stopped early: {[len(ids) for ids in new_ids]} tokens instead of {new_tokens}")

    seconds = {}
    for batch in batch_sizes:
        for name, use_cache in modes:
            sample(batch, use_cache, 2)  # warm-up: thread pools, allocator
            runs = sorted(timed(lambda: sample(batch, use_cache, max_new_tokens), device)[0]
                          for _ in range(repeats if use_cache else 1))  # full recompute: minutes, once
            seconds[f"{batch},{name}"] = (runs[len(runs) // 2], runs[0])
    return {"weights": weights_format(model, autocast), "seconds": seconds, "resident_mb": resident_mb(),
            "params": params, "machine": describe_machine(device)}


if worker:
    print(json.dumps(time_one_format(dtypes[0])))
    sys.exit(0)

# each format in a fresh process: its resident memory is then its own, not what an earlier format left
settings, in_dtypes = [], False
for arg in sys.argv[1:]:  # this command line less --dtypes and its list (--dtypes=int8 float16)
    in_dtypes = arg.startswith("--dtypes=") or (in_dtypes and not arg.startswith("--"))
    if not in_dtypes:
        settings.append(arg)
results = {}
for dtype in dtypes:
    done = subprocess.run([sys.executable, os.path.abspath(__file__), *settings, f"--dtypes={dtype}", "--worker=True"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"bench_sample --dtypes={dtype} failed:\n{done.stderr}")
    results[dtype] = json.loads(done.stdout.strip().splitlines()[-1])

first = results[dtypes[0]]
print(f"bench_sample on {first['machine']}; device {device}")
print(f"model {n_layer} layers x {n_head} heads x {n_embd} wide, block {block_size}, vocab {vocab_size} "
      f"({first['params'] / 1e6:.1f}M parameters), RANDOM weights; prompt {prompt_tokens} tokens, "
      f"{max_new_tokens} new tokens per row; " + ", ".join(f"{k} {v}" for k, v in DECODING.items()))
print("resident MB: the whole process (Python, PyTorch, model, KV cache) after generating")
print()
table = []
for batch in batch_sizes:
    baseline = results.get("float32", first)["seconds"][f"{batch},KV cache"][0]
    for dtype in dtypes:
        result = results[dtype]
        weights = result["weights"].removesuffix(" weights")
        for key, (s, best) in result["seconds"].items():
            if int(key.split(",")[0]) != batch:
                continue
            name = key.split(",", 1)[1]
            table.append([batch, f"{dtype} ({weights})" if dtype == "auto" else weights, name,
                          f"{s:.2f} ({best:.2f})", f"{batch * max_new_tokens / s:,.0f}", f"{result['resident_mb']:,.0f}",
                          f"{baseline / s:.2f}x", f"{target_seconds * max_new_tokens / 256 / s:.0f}x"])
print(markdown_table(["batch", "weights", "sampler", f"s for {max_new_tokens} tokens: median (best) of {repeats}",
                      "tokens/s (all rows)", "resident MB", "speed vs float32 KV cache",
                      f"faster than the course ({target_seconds:.0f} s per 256 tokens)"], table))
