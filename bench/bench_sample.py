"""Sampling speed: seconds and tokens/s for 256 new tokens from the course's model shape (6 layers, 8 heads,
512 wide, block 512, GPT-2 vocabulary 50304) through wuxia.generate.generate, with the KV cache and with
the whole context recomputed for every new token (nanoGPT's sampler), batch 1 and batch 10, same run.
The course's target is 256 tokens in about 50 s on a 2-core CPU; the issue asks for 10x better.

    python bench/bench_sample.py
    python bench/bench_sample.py --tiny       # smoke test (seconds)

The weights are random (speed does not depend on them): the output says so. Sampling uses sample.py's
defaults (temperature 0.8, top-k 200, top-p 0.95, repetition penalty 1.1). A random model may draw <|endoftext|> and stop early, so generation is told
to stop on id -1, which no token has: every row makes all max_new_tokens tokens (checked).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from bench.common import describe_machine, timed
from model import GPT, GPTConfig
from wuxia.configurator import AT_LEAST_0, AT_LEAST_1, DEVICE, DTYPE, POSITIVE, configure
from wuxia.device import for_inference, pick_device
from wuxia.generate import DECODING, DECODING_RULES, generate
from wuxia.report import markdown_table

# -----------------------------------------------------------------------------------------------------------
n_layer = 6            # the course's model
n_head = 8
n_embd = 512
block_size = 512
vocab_size = 50304
max_new_tokens = 256
prompt_tokens = 16     # prompt length (random ids), the same for every row
batch_sizes = [1, 10]  # on the command line: --batch_sizes=1 10
recompute = True       # also time the full-recompute sampler (minutes at batch 10 on a 2-core CPU)
# sampling settings: the defaults of sample.py and the chat page (wuxia/generate.DECODING)
temperature = DECODING["temperature"]
top_k = DECODING["top_k"]
top_p = DECODING["top_p"]
repetition_penalty = DECODING["repetition_penalty"]
target_seconds = 50.0  # the course's time for 256 new tokens on a 2-core CPU
device = "auto"
num_threads = 0        # CPU threads for torch; 0 leaves torch's default (one per core)
dtype = "auto"         # as sample.py: bfloat16 autocast on CUDA, float32 elsewhere; float16/bfloat16 cast the weights
seed = 1337
tiny = False           # smoke test: a toy model, 8 new tokens
# -----------------------------------------------------------------------------------------------------------
configure(globals(), sys.argv[1:], rules={
    **DECODING_RULES, "n_layer": AT_LEAST_1, "n_head": AT_LEAST_1, "n_embd": AT_LEAST_1, "block_size": AT_LEAST_1,
    "vocab_size": AT_LEAST_1, "max_new_tokens": AT_LEAST_1, "prompt_tokens": AT_LEAST_1, "batch_sizes": AT_LEAST_1,
    "target_seconds": POSITIVE, "device": DEVICE, "num_threads": AT_LEAST_0, "dtype": DTYPE})
if tiny:
    n_layer, n_head, n_embd, block_size, vocab_size, max_new_tokens, prompt_tokens = 2, 2, 32, 64, 256, 8, 4

device = pick_device(device)
if num_threads:
    torch.set_num_threads(num_threads)

torch.manual_seed(seed)
model = GPT(GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size,
                      vocab_size=vocab_size, dropout=0.0)).to(device)
model.eval()
model, autocast = for_inference(model, device, dtype)
NO_STOP = -1  # no token has this id, so no row stops before max_new_tokens


def sample(batch, use_cache, new_tokens):
    prompts = torch.randint(0, vocab_size, (batch, prompt_tokens), generator=torch.Generator().manual_seed(seed)).tolist()
    new_ids, _ = generate(model, prompts, new_tokens, NO_STOP, temperature=temperature, top_k=top_k, top_p=top_p,
                          repetition_penalty=repetition_penalty, seed=seed, use_cache=use_cache, autocast=autocast)
    if any(len(ids) != new_tokens for ids in new_ids):
        raise SystemExit(f"a row stopped early: {[len(ids) for ids in new_ids]} tokens instead of {new_tokens}")
    return new_ids


modes = [("KV cache", True)] + ([("full recompute", False)] if recompute else [])
seconds = {}
for batch in batch_sizes:
    for name, use_cache in modes:
        sample(batch, use_cache, 2)  # warm-up: thread pools, allocator
        seconds[batch, name] = timed(lambda: sample(batch, use_cache, max_new_tokens), device)[0]

weights = str(next(model.parameters()).dtype).removeprefix("torch.")
print(f"bench_sample on {describe_machine(device)}, {weights} weights, dtype setting {dtype}")
print(f"model {n_layer} layers x {n_head} heads x {n_embd} wide, block {block_size}, vocab {vocab_size} "
      f"({model.num_params() / 1e6:.1f}M parameters), RANDOM weights; prompt {prompt_tokens} tokens, "
      f"{max_new_tokens} new tokens per row; temperature {temperature}, top-k {top_k}, top-p {top_p}, "
      f"repetition penalty {repetition_penalty}")
print()
table = []
for batch in batch_sizes:
    for name, _ in modes:
        s = seconds[batch, name]
        gain = f"{seconds[batch, 'full recompute'] / s:.1f}x" if recompute and name == "KV cache" else "-"
        table.append([batch, name, f"{s:.2f}", f"{batch * max_new_tokens / s:,.0f}", f"{max_new_tokens / s:,.0f}",
                      gain, f"{target_seconds * max_new_tokens / 256 / s:.0f}x"])
print(markdown_table(["batch", "sampler", f"s for {max_new_tokens} tokens", "tokens/s (all rows)", "tokens/s per row",
                      "KV cache gain", f"faster than the course ({target_seconds:.0f} s per 256 tokens)"], table))
