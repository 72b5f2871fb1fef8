"""What each CPU weight format costs in quality where it is used: the perplexity of a trained run on its own val
split, computed as decoding computes it, one token at a time through the KV cache (one row per matmul, so
int8 takes fbgemm's integer kernel where this PyTorch has it; eval_ppl.py scores whole windows at once and
therefore measures the other kernels). Formats: float32, float16, int8 with the weight-only kernel alone,
and int8 as --dtype=auto uses it on a CPU.

    python bench/bench_decode_ppl.py --out_dir=out/pretrain_jinyong_cpu
    python bench/bench_decode_ppl.py --out_dir=out/pretrain_jinyong_cpu --windows=20 --window_tokens=100

Scored: `windows` stretches of `window_tokens` tokens spread evenly over val.bin, each decoded from an empty
cache (the first token of a stretch is only read, every later one is predicted), the same stretches for
every format.
"""
import copy
import math
import os
import sys
import time

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from wuxia.checkpoint import load_for_inference
from wuxia.configurator import AT_LEAST_0, AT_LEAST_1, configure, explain_machine_errors
from wuxia.dataset import dataset_dir, load_meta, load_split
from wuxia.generate import cache_dtype
from wuxia.int8 import fbgemm_supported, int8_supported, quantize_model
from wuxia.report import markdown_table
from wuxia.timing import describe_machine

# -----------------------------------------------------------------------------------------------------------
out_dir = "out/pretrain_jinyong_cpu"  # a pretraining run (its dataset's val.bin is scored)
windows = 60                          # stretches of val text scored
window_tokens = 200                   # tokens per stretch (at most the run's block_size)
num_threads = 0                       # CPU threads for torch; 0 leaves torch's default (one per core)
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={"windows": AT_LEAST_1, "window_tokens": AT_LEAST_1,
                                          "num_threads": AT_LEAST_0})
if num_threads:
    torch.set_num_threads(num_threads)

float_model, _, checkpoint = load_for_inference(out_dir, "cpu")
data_dir = dataset_dir(checkpoint["dataset"])
meta = load_meta(data_dir)
if meta["kind"] != "pretrain":
    raise SystemExit(f"{out_dir} was trained on an SFT dataset ({data_dir}); name a pretraining run")
val = load_split(data_dir, "val", meta)
window_tokens = min(window_tokens, float_model.config.block_size, len(val) - 1)
starts = np.linspace(0, len(val) - window_tokens - 1, windows).astype(np.int64)


@torch.inference_mode()
def decoded_nll(model):
    """Mean negative log-likelihood per predicted token, predicting each from a KV cache step by step."""
    total, count = 0.0, 0
    for start in starts:
        ids = torch.from_numpy(np.asarray(val[start:start + window_tokens + 1], dtype=np.int64))[None]
        cache = model.new_cache(1, model.config.block_size, "cpu", cache_dtype(model, None))
        for t in range(window_tokens):
            logits, _ = model(ids[:, t:t + 1], cache=cache)
            total += float(F.cross_entropy(logits[0, -1].float(), ids[0, t + 1]))
            count += 1
    return total / count


formats = [("float32", lambda m: m), ("float16", lambda m: m.half())]
if int8_supported():
    formats.append(("int8, weight-only kernel", lambda m: quantize_model(m, fbgemm=False)))
    if fbgemm_supported():
        formats.append(("int8, one row through fbgemm (--dtype=auto)", lambda m: quantize_model(m, fbgemm=True)))
rows, reference = [], None
print(f"bench_decode_ppl on {describe_machine('cpu')}\n{out_dir}: {windows} stretches of {window_tokens} "
      f"tokens of {data_dir}/val.bin, decoded one token at a time", flush=True)
for name, convert in formats:
    t0 = time.time()
    nll = decoded_nll(convert(copy.deepcopy(float_model)).eval())
    reference = reference if reference is not None else nll
    change = f"{100 * (math.exp(nll - reference) - 1):+.3f}%" if rows else ""
    rows.append([name, f"{math.exp(nll):.4f}", change, f"{time.time() - t0:.0f}"])
    print(f"  {name}: perplexity {math.exp(nll):.4f}", file=sys.stderr, flush=True)
print()
print(markdown_table(["weights", "token perplexity, decoded", "vs float32", "seconds"], rows))
