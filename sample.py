"""Sample from a trained model: continue a text (pretrained checkpoint) or answer a question (SFT checkpoint).

    python sample.py --start="杨过被他掌力震伤胸膛"                          # continue a passage
    python sample.py --out_dir=out/sft --start="介绍一下《天龙八部》的主角？"   # answer a question
    python sample.py --out_dir=out/sft --start=FILE:questions.txt           # one prompt per line
    python sample.py --out_dir=out/sft --interactive                        # terminal chat

An SFT checkpoint gets the prompt wrapped in the template it was trained with, so it answers; a pretrained
checkpoint continues the text. A run fine-tuned open book (prepare_sft.py --index=...) reads the passages of
the novels retrieved for each question, shown above its answer; --open_book=False asks it without them.
Samples are printed and saved to <out_dir>/samples.txt.
"""
import os
import sys
import time

from wuxia import retrieval
from wuxia.checkpoint import CHECKPOINT_CHOICE, load_for_inference
from wuxia.configurator import AT_LEAST_1, DEVICE, DTYPE, OUTPUT_DIR, configure, explain_machine_errors
from wuxia.device import for_inference, pick_device, weights_format
from wuxia.generate import (CUT_MARK, DECODING, DECODING_RULES, check_input, encode_input, generate, passages_for,
                            stream_text, trim_to_sentence)
from wuxia.retrieval import open_book_summary, show_passages
from wuxia.sft_format import format_prompt
from wuxia.text import read_text

# -----------------------------------------------------------------------------------------------------------
out_dir = "out/pretrain_jinyong"
checkpoint = "best"           # "best" (lowest val loss) or "last"
start = "杨过被他掌力震伤胸膛"   # the prompt, or FILE:path with one prompt per line
num_samples = 1               # samples per prompt, generated together (with --temperature above 0 they differ)
max_new_tokens = 256
temperature = DECODING["temperature"]                # 0 is greedy decoding
top_k = DECODING["top_k"]                            # 0 switches it off
top_p = DECODING["top_p"]                            # 1.0 switches it off
repetition_penalty = DECODING["repetition_penalty"]  # 1.0 switches it off
trim = False                  # cut an unfinished continuation back to its last complete sentence
interactive = False           # a terminal chat: type a prompt, watch the answer stream in; Ctrl-D to quit
open_book = True              # a run fine-tuned open book reads the passages retrieved for each question; False: none
index = ""                    # open book: this passage index (index.py) instead of the one the run was trained with
seed = 1337
device = "auto"
dtype = "auto"                # auto: int8 weights on a CPU (float32 where the kernel is missing), bf16 autocast on CUDA; or float32, float16, bfloat16, int8
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={
    **DECODING_RULES, "out_dir": OUTPUT_DIR, "checkpoint": CHECKPOINT_CHOICE, "num_samples": AT_LEAST_1,
    "max_new_tokens": AT_LEAST_1, "device": DEVICE, "dtype": DTYPE})
if start.startswith("FILE:"):  # the prompts are read (and judged) before the model is loaded
    prompts_file = start[len("FILE:"):]
    if not os.path.isfile(prompts_file):
        sys.exit(f"--start=FILE:{prompts_file}: no such file (from {os.getcwd()})")
    prompts = [line.strip() for line in read_text(prompts_file)[0].splitlines() if line.strip()]
    if not prompts:
        sys.exit(f"--start=FILE:{prompts_file}: the file holds no prompt (one per line)")
else:
    prompts = [start]

device = pick_device(device)
model, tokenizer, ckpt = load_for_inference(out_dir, device, checkpoint)
model, autocast = for_inference(model, device, dtype)
sft = ckpt.get("data_kind") == "sft"
find_passages = retrieval.open_book(ckpt, open_book, index)  # None: a closed-book run, or --open_book=False
options = dict(temperature=temperature, top_k=top_k, top_p=top_p, repetition_penalty=repetition_penalty,
               autocast=autocast)


def warn_unknown(text):
    unknown = tokenizer.count_unknown(text)
    if unknown:
        print(f"(note: {unknown} character(s) of the prompt are not in the model's vocabulary and are read as <unk>)",
              file=sys.stderr)


if interactive:
    mode = "question" if sft else "text to continue"
    print(f"{out_dir}: {'SFT model, asks questions' if sft else 'pretrained model, continues text'} "
          f"({device}, {weights_format(model, autocast)}). "
          f"Type a {mode}; Ctrl-D or Ctrl-C to quit.")
    if ckpt.get("retrieval"):
        print(f"open book {open_book_summary(ckpt, open_book, index)}")
    turn = 0
    while True:
        try:
            text = input("\n> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            break
        if not text:
            continue
        problem = check_input(tokenizer, text, sft, model.config.block_size)
        if problem:
            print(problem)
            continue
        warn_unknown(text)
        passages = passages_for(find_passages, tokenizer, text, model.config.block_size)
        if find_passages:
            print(show_passages(passages))
        if not sft:
            print(text, end="", flush=True)
        try:
            prompt_ids = encode_input(tokenizer, text, sft, passages, model.config.block_size)
            for piece in stream_text(model, tokenizer, prompt_ids, max_new_tokens, seed=seed + turn, **options):
                print(piece, end="", flush=True)
        except KeyboardInterrupt:  # Ctrl-C stops this answer, not the chat
            print(" [stopped]", end="")
        print()
        turn += 1
    sys.exit(0)

for number, prompt in enumerate(prompts, start=1):  # a question must fit; a text to continue may be anything
    problem = check_input(tokenizer, prompt, sft, model.config.block_size) if sft else None
    if problem:
        sys.exit(f"--start, prompt {number}: {problem}" if len(prompts) > 1 else f"--start: {problem}")

lines = []
t0, new_tokens = time.time(), 0
for prompt_index, prompt in enumerate(prompts):
    warn_unknown(prompt)
    passages = passages_for(find_passages, tokenizer, prompt, model.config.block_size)
    prompt_ids = encode_input(tokenizer, prompt, sft, passages, model.config.block_size)
    outputs, stopped = generate(model, [prompt_ids] * num_samples, max_new_tokens, tokenizer.eot_id,
                                seed=seed + prompt_index, **options)
    for k, (ids, ended) in enumerate(zip(outputs, stopped)):
        new_tokens += len(ids)
        text = tokenizer.decode(ids)
        if trim and not ended:
            text = trim_to_sentence(text)
        shown = format_prompt(prompt) + text if sft else prompt + text  # the question as the model was asked it
        if find_passages:
            shown = show_passages(passages) + "\n" + shown
        if not ended and not trim:
            shown += CUT_MARK
        lines.append(f"--- sample {k + 1} of prompt {prompt_index + 1}{'' if ended else ' (max_new_tokens reached)'}\n{shown}")
        print(lines[-1], flush=True)

seconds = time.time() - t0
print(f"--- {new_tokens} tokens in {seconds:.1f} s ({new_tokens / max(seconds, 1e-9):.0f} tokens/s) on {device}, "
      f"{weights_format(model, autocast)}")
os.makedirs(out_dir, exist_ok=True)
samples_path = os.path.join(out_dir, "samples.txt")
with open(samples_path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")
print(f"saved to {samples_path}")
