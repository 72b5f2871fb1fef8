"""Chat with a trained model in the browser: a local Gradio page with the answer streaming in.

    pip install -r requirements-chat.txt                      # Gradio, once
    python chat_web.py --out_dir=out/sft                      # then open http://127.0.0.1:7860
    python chat_web.py --out_dir=out/pretrain_jinyong         # a pretrained model: completion mode
    python chat_web.py --out_dir=out/sft --host=0.0.0.0 --port=8000   # reachable from other machines

An SFT checkpoint answers questions (the prompt wrapped in its training template); a pretrained one
continues the text; a run fine-tuned open book reads the passages retrieved for each question and shows them
under the answer (--open_book=False: without them). The settings below are the controls' starting values;
with the same seed and settings the page answers exactly as
`python sample.py --out_dir=... --start=QUESTION --num_samples=1 --seed=S`.
Several browsers at once are served one answer at a time, in turn.
"""
import sys

from wuxia import retrieval
from wuxia.chat_page import build_page, require_gradio
from wuxia.checkpoint import CHECKPOINT_CHOICE, load_for_inference
from wuxia.configurator import AT_LEAST_1, DEVICE, DTYPE, Rule, configure, explain_machine_errors
from wuxia.device import for_inference, pick_device, weights_format
from wuxia.generate import DECODING, DECODING_RULES
from wuxia.report import shown_path

# -----------------------------------------------------------------------------------------------------------
out_dir = "out/sft"
checkpoint = "best"           # "best" (lowest val loss) or "last"
host = "127.0.0.1"            # 0.0.0.0 serves other machines too: there is no login, so mind who can reach it
port = 7860
max_new_tokens = 256
max_new_tokens_limit = 1024   # the most a visitor may ask for
max_input_chars = 500         # longer questions are refused politely
temperature = DECODING["temperature"]                # 0 is greedy decoding
top_k = DECODING["top_k"]                            # 0 switches it off
top_p = DECODING["top_p"]                            # 1.0 switches it off
repetition_penalty = DECODING["repetition_penalty"]  # 1.0 switches it off
seed = 1337
open_book = True              # a run fine-tuned open book reads the passages retrieved for each question; False: none
index = ""                    # open book: this passage index (index.py) instead of the one the run was trained with
device = "auto"
dtype = "auto"                # auto: int8 weights on a CPU (float32 where the kernel is missing), bf16 autocast on CUDA; or float32, float16, bfloat16, int8
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={
    **DECODING_RULES, "checkpoint": CHECKPOINT_CHOICE, "port": Rule("from 1 to 65535", lambda v: 1 <= v <= 65535),
    "max_new_tokens": AT_LEAST_1, "max_new_tokens_limit": AT_LEAST_1, "max_input_chars": AT_LEAST_1,
    "device": DEVICE, "dtype": DTYPE})
require_gradio()  # fail before loading a model when the page cannot be served

device = pick_device(device)
model, tokenizer, ckpt = load_for_inference(out_dir, device, checkpoint)
model, autocast = for_inference(model, device, dtype)
sft = ckpt.get("data_kind") == "sft"
find_passages = retrieval.open_book(ckpt, open_book, index)  # None: a closed-book run, or --open_book=False
title = f"wuxia-gpt · {shown_path(out_dir)} ({'SFT' if sft else 'pretrained'}, iteration {ckpt.get('iter_num', '?')})"
print(f"{title}: on {device}, {weights_format(model, autocast)}"
      + (f"; open book {retrieval.open_book_summary(ckpt, open_book, index)}" if ckpt.get("retrieval") else ""))

page = build_page(model, tokenizer, sft, title=title, max_input_chars=max_input_chars,
                  max_new_tokens=max_new_tokens, max_new_tokens_limit=max_new_tokens_limit,
                  temperature=temperature, top_k=top_k, top_p=top_p, repetition_penalty=repetition_penalty,
                  seed=seed, autocast=autocast, find_passages=find_passages)
page.launch(server_name=host, server_port=port, footer_links=["api"])
