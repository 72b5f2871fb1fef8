"""Serve trained models to others: an OpenAI-compatible API, a chat page and an arena page, in one process.

    pip install -r requirements-chat.txt                              # FastAPI, uvicorn and Gradio, once
    python serve.py --out_dir=out/sft                                 # http://127.0.0.1:8000
    python serve.py --out_dir=out/sft out/pretrain_jinyong            # several models: ids sft, pretrain_jinyong
    python serve.py --out_dir=out/sft --host=0.0.0.0 --api_key=SECRET # classmates on the LAN, with a key

    /v1/models, /v1/chat/completions, /v1/completions   the OpenAI API (streaming with "stream": true)
    /chat                                               ask any served model
    /arena                                              two models (local or any OpenAI-compatible URL) side by side

Requests that run at the same time are decoded together, one batched step per token (wuxia/engine.py). An
SFT checkpoint answers the last user message in its training template; a pretrained one continues the text.
A run fine-tuned open book reads the passages retrieved for each question, and its chat responses carry them
in an extra field, "passages" (the pages show them under the answer); --open_book=False serves it without.
"""
import os
import socket
import sys
import time

import torch

from wuxia import retrieval
from wuxia.chat_page import require_gradio
from wuxia.checkpoint import CHECKPOINT_CHOICE, load_for_inference
from wuxia.configurator import AT_LEAST_0, AT_LEAST_1, DEVICE, DTYPE, at_least, configure, explain_machine_errors
from wuxia.device import for_inference, pick_device

# -----------------------------------------------------------------------------------------------------------
out_dir = ["out/sft"]         # run folders to serve, one model each: --out_dir=out/sft out/pretrain_jinyong
checkpoint = "best"           # "best" (lowest val loss) or "last"
host = "127.0.0.1"            # 0.0.0.0 serves the local network too: it needs --api_key (or an explicit --no_auth)
port = 8000
api_key = ""                  # when set, /v1 wants "Authorization: Bearer KEY" and the pages ask for it
no_auth = False               # allow --host=0.0.0.0 without a key: anyone who can reach the port may use it
max_batch = 16                # rows decoded together per model; more requests wait in a queue
max_waiting = 64              # rows that may wait; beyond that a request gets 429 with Retry-After
max_tokens_default = 256      # new tokens when a request does not say (never past the model's context)
max_tokens_limit = 1024       # the most new tokens a request may ask for
max_n = 8                     # the most choices (n) per request
votes = "arena_votes.jsonl"   # the arena's votes are appended here; its leaderboard is computed from them
device = "auto"
dtype = "auto"                # auto: int8 weights on a CPU (float32 where the kernel is missing), bf16 autocast on CUDA
num_threads = 0               # CPU threads for torch; 0 leaves torch's default (one per core)
open_book = True              # a run fine-tuned open book reads the passages retrieved for each question; False: none
index = ""                    # open book: this passage index (index.py) instead of the one each run was trained with
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={
    "checkpoint": CHECKPOINT_CHOICE, "port": at_least(1), "max_batch": AT_LEAST_1, "max_waiting": AT_LEAST_0,
    "max_tokens_default": AT_LEAST_1, "max_tokens_limit": AT_LEAST_1, "max_n": AT_LEAST_1, "device": DEVICE,
    "dtype": DTYPE, "num_threads": AT_LEAST_0})
if host not in ("127.0.0.1", "localhost", "::1") and not api_key and not no_auth:
    raise SystemExit(f"--host={host} lets other machines reach this server. Give it a key, --api_key=SOME_SECRET "
                     "(clients send it as 'Authorization: Bearer SOME_SECRET'), or pass --no_auth to serve "
                     "without one on purpose.")
require_gradio()  # fail before loading models when the pages cannot be served
import uvicorn  # noqa: E402  (Gradio brings FastAPI and uvicorn)
from fastapi.responses import RedirectResponse  # noqa: E402

from wuxia.arena import build_arena, build_served_chat  # noqa: E402
from wuxia.engine import start_engine  # noqa: E402
from wuxia.openai_api import ServedModel, build_api  # noqa: E402

device = pick_device(device)
if num_threads:
    torch.set_num_threads(num_threads)
models = {}
# a model's id is its run folder's name (out/sft -> sft), or the whole path when two folders share a name
model_ids = [os.path.basename(os.path.normpath(folder)) for folder in out_dir]
if len(set(model_ids)) < len(model_ids):
    model_ids = [os.path.normpath(folder) for folder in out_dir]
for folder, model_id in zip(out_dir, model_ids):
    model, tokenizer, ckpt = load_for_inference(folder, device, checkpoint)
    parameters = model.num_params()  # counted before for_inference: int8 weights are buffers, not parameters
    model, autocast = for_inference(model, device, dtype)
    sft = ckpt.get("data_kind") == "sft"
    find_passages = retrieval.open_book(ckpt, open_book, index)  # a bad index stops here, before serving
    engine = start_engine(model, tokenizer.eot_id, max_batch=max_batch, max_waiting=max_waiting, autocast=autocast)
    models[model_id] = ServedModel(model_id, engine, tokenizer, sft, int(time.time()), find_passages)
    print(f"{model_id}: {'SFT, answers questions' if sft else 'pretrained, continues text'}; "
          f"{parameters / 1e6:.2f}M parameters, context {model.config.block_size} tokens, on {device}"
          + (f"; open book {retrieval.open_book_summary(ckpt, open_book, index)}" if ckpt.get("retrieval") else ""))

app = build_api(models, api_key=api_key or None, max_tokens_default=max_tokens_default,
                max_tokens_limit=max_tokens_limit, max_n=max_n)
# the pages call this server's own API, like any other OpenAI-compatible endpoint
own_url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', 'localhost') else host}:{port}/v1"
page_settings = dict(max_new_tokens=max_tokens_default, max_new_tokens_limit=max_tokens_limit)
build_served_chat(app, own_url, api_key, list(models), **page_settings)
build_arena(app, own_url, api_key, list(models), votes, **page_settings)
app.add_api_route("/", lambda: RedirectResponse("/arena/"), include_in_schema=False)


def lan_address():
    """This machine's address on the local network: the one its default route uses, else its host name's."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # UDP: nothing is sent
            return s.getsockname()[0]
        except OSError:
            pass
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


shown_host = lan_address() if host in ("0.0.0.0", "::") else host
print(f"\nServing {len(models)} model(s) at http://{shown_host}:{port}")
print(f"  OpenAI API: http://{shown_host}:{port}/v1   (model ids: {', '.join(models)})")
print(f"  chat page:  http://{shown_host}:{port}/chat\n  arena:      http://{shown_host}:{port}/arena")
print(f"  key: {'required (the --api_key you gave)' if api_key else 'none'}", flush=True)
uvicorn.run(app, host=host, port=port, log_level="warning")
