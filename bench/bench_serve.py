"""Serving throughput: serve.py under 1, 4 and 16 concurrent streaming clients, and the same 16 requests
sent one at a time. Reports the aggregate tokens/s (all tokens received / wall time from the first request
to the last token) and the p50/p95 time to first token, in one run against one server.

    python bench/bench_serve.py             # a small CPU model: 4 layers, 4 heads, 256 wide, block 256, char vocab
    python bench/bench_serve.py --tiny      # smoke test (seconds)

The model has random weights (speed does not depend on them) and is saved as a real checkpoint that
serve.py loads; the clients are asynchronous httpx streams in this process, asking SFT-style questions
through /v1/chat/completions with serve.py's default sampling settings. Tokens are counted from the
server's usage report.
"""
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict

import httpx
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from model import GPT, GPTConfig  # noqa: E402
from wuxia.checkpoint import BEST, save_checkpoint  # noqa: E402
from wuxia.configurator import configure, explain_machine_errors  # noqa: E402
from wuxia.report import markdown_table  # noqa: E402
from wuxia.timing import describe_machine  # noqa: E402
from wuxia.tokenizer import CharTokenizer  # noqa: E402

# -----------------------------------------------------------------------------------------------------------
n_layer = 4            # the CPU recipe's shape until 2026-12-06 (it has 6 layers now): the README's figure
n_head = 4
n_embd = 256
block_size = 256
characters = 5118      # its character vocabulary: with <|endoftext|> and <unk>, 5120 ids
max_tokens = 128       # new tokens per request
question_chars = 12    # characters per question (the SFT template adds 5)
concurrency = [1, 4, 16]  # concurrent streaming clients; on the command line: --concurrency=1 4 16
sequential = 16        # then this many requests, one at a time
max_batch = 16         # serve.py's settings
num_threads = 1        # torch threads of the server: on 2 shared cores one thread leaves a core to HTTP and the clients
port = 0               # 0: a free port
seed = 1337
tiny = False           # smoke test: a toy model, a few tokens
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:])
if tiny:
    n_layer, n_head, n_embd, block_size, characters, max_tokens, concurrency, sequential = 2, 2, 32, 64, 60, 8, [1, 4], 4
concurrency = [int(c) for c in concurrency]

# a random SFT checkpoint of the model's shape, in a temporary run folder
run_dir = tempfile.mkdtemp(prefix="bench_serve_")
tokenizer = CharTokenizer([chr(0x4E00 + i) for i in range(characters)])
config = GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size,
                   vocab_size=tokenizer.vocab_size, dropout=0.0)
torch.manual_seed(seed)
model = GPT(config)
save_checkpoint({"model": model.state_dict(), "model_args": asdict(config), "tokenizer": tokenizer.to_meta(),
                 "data_kind": "sft", "dataset": "random", "iter_num": 0, "best_val_loss": 0.0, "config": {}},
                os.path.join(run_dir, BEST))
parameters = model.num_params()
del model

if not port:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
server = subprocess.Popen([sys.executable, os.path.join(ROOT, "serve.py"), f"--out_dir={run_dir}", f"--port={port}",
                           f"--max_batch={max_batch}", f"--num_threads={num_threads}", f"--votes={os.path.join(run_dir, 'votes.jsonl')}"],
                          cwd=ROOT, env=dict(os.environ, GRADIO_ANALYTICS_ENABLED="False"), stdout=subprocess.DEVNULL)
url = f"http://127.0.0.1:{port}/v1/chat/completions"
model_id = os.path.basename(run_dir)


def wait_for_server():
    deadline = time.time() + 180
    while True:
        if server.poll() is not None:
            raise SystemExit("serve.py exited before serving (see its message above)")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline:
                raise SystemExit(f"serve.py did not listen on port {port} within 180 s")
            time.sleep(0.5)


async def one_request(client, number):
    """(seconds to the first token, tokens) of one streamed answer."""
    question = "".join(chr(0x4E00 + (number * 7 + i * 13) % characters) for i in range(question_chars))
    body = {"model": model_id, "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens,
            "stream": True, "stream_options": {"include_usage": True}, "seed": seed + number}
    start, first, tokens = time.perf_counter(), None, 0
    async with client.stream("POST", url, json=body) as reply:
        if reply.status_code != 200:
            raise SystemExit(f"serve.py answered {reply.status_code}: {(await reply.aread()).decode()}")
        async for line in reply.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - start
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    return first if first is not None else time.perf_counter() - start, tokens


async def measure(clients, requests):
    """(aggregate tokens/s, times to first token, tokens) for `requests` requests, `clients` at a time."""
    async with httpx.AsyncClient(timeout=600) as client:
        start, results = time.perf_counter(), []
        for wave in range(0, requests, clients):
            results += await asyncio.gather(*(one_request(client, n) for n in range(wave, min(wave + clients, requests))))
        seconds = time.perf_counter() - start
    tokens = sum(t for _, t in results)
    return tokens / seconds, [ttft for ttft, _ in results], tokens


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


try:
    wait_for_server()
    asyncio.run(measure(2, 2))  # warm-up: thread pools, allocator, first connections
    runs = [(f"{c} concurrent", c, c) for c in concurrency] + [(f"{sequential} sequential", 1, sequential)]
    results = {name: asyncio.run(measure(clients, requests)) for name, clients, requests in runs}
finally:
    server.terminate()
    server.wait(timeout=30)

print(f"bench_serve on {describe_machine('cpu')}")
print(f"model {n_layer} layers x {n_head} heads x {n_embd} wide, block {block_size}, vocab {tokenizer.vocab_size} "
      f"({parameters / 1e6:.1f}M parameters), RANDOM weights; serve.py --max_batch={max_batch} --num_threads={num_threads}, "
      f"default sampling; "
      f"{question_chars + 5}-token prompts, up to {max_tokens} new tokens per request, streamed")
print()
one_stream = results[runs[0][0]][0]
rows = []
for name, clients, requests in runs:
    rate, ttfts, tokens = results[name]
    rows.append([name, requests, tokens, f"{rate:,.0f}", f"{rate / one_stream:.1f}x",
                 f"{percentile(ttfts, 50):.2f}", f"{percentile(ttfts, 95):.2f}"])
print(markdown_table(["clients", "requests", "tokens", "tokens/s (all streams)", f"vs {runs[0][0]}",
                      "p50 first token (s)", "p95 first token (s)"], rows))
