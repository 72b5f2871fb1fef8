"""Does llama.cpp answer as this project does? A run's GGUF file (export.py --format=gguf) against the run
itself, on the first questions of a QA file: the greedy answer of llama.cpp (through llama-cpp-python:
temperature 0, no repetition penalty) and that of this project's generate, as sample.py gives it with
--temperature=0 --repetition_penalty=1.0 --dtype=float32, compared token by token; and llama.cpp's
tokenizer against this project's on every question and answer of the file.

    python export.py --out_dir=out/sft --format=gguf
    python bench/bench_gguf.py --out_dir=out/sft --gguf=sft-f16.gguf --questions=dev_qa.jsonl --first=5

Answers stop at <|endoftext|> or where the context is full (llama.cpp stops there; this project would
slide its window on).
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from bench.common import describe_machine
from wuxia import gguf_export
from wuxia.checkpoint import load_for_inference
from wuxia.configurator import AT_LEAST_1, EXISTING_PATH, configure
from wuxia.generate import encode_input, generate
from wuxia.jsonl import read_qa_records
from wuxia.report import markdown_table

# -----------------------------------------------------------------------------------------------------------
out_dir = "out/sft"          # the run
gguf = "sft-f16.gguf"        # its export
questions = ""               # a QA file (JSON Lines with question and answer)
first = 5                    # how many of its questions are answered
prefix_tokens = 64           # the length of the answers' beginnings compared on their own
max_new_tokens = 256         # at most; less where the context ends first
# -----------------------------------------------------------------------------------------------------------
configure(globals(), sys.argv[1:], rules={"gguf": EXISTING_PATH, "questions": EXISTING_PATH, "first": AT_LEAST_1,
                                          "prefix_tokens": AT_LEAST_1, "max_new_tokens": AT_LEAST_1})

model, tokenizer, ckpt = load_for_inference(out_dir)
sft = ckpt.get("data_kind") == "sft"
block_size = model.config.block_size
llm = gguf_export.load_with_llama_cpp(gguf, n_ctx=block_size)
records, _, _ = read_qa_records(questions)

# the tokenizers, on every question and answer of the file
texts = [text for record in records for text in (record["question"], record["answer"])]
unk_id = getattr(tokenizer, "unk_id", None)
same = joined = 0
for text in texts:
    theirs, ours = gguf_export.tokenize_with_llama_cpp(llm, text), tokenizer.encode(text)
    same += theirs == ours
    joined += theirs != ours and unk_id is not None and theirs == gguf_export.unknown_runs_joined(ours, unk_id)
unknown = sum(tokenizer.count_unknown(text) for text in texts)
print(f"tokenizers: {same} of {len(texts)} texts get the same ids from llama.cpp, {joined} differ only where it "
      f"reads a run of unknown characters as one <unk>, {len(texts) - same - joined} otherwise "
      f"({unknown} characters of the texts are <unk> here)")

# the greedy answers
rows, same_prefix, same_answer = [], 0, 0
seconds = {"this project": 0.0, "llama.cpp": 0.0}
for number, record in enumerate(records[:first], start=1):
    prompt_ids = encode_input(tokenizer, record["question"], sft)
    room = min(max_new_tokens, block_size - len(prompt_ids))
    t0 = time.time()
    ours, _ = generate(model, [prompt_ids], room, tokenizer.eot_id, temperature=0, repetition_penalty=1.0)
    ours = ours[0]
    seconds["this project"] += time.time() - t0
    t0 = time.time()
    theirs = []
    for token in llm.generate(prompt_ids, temp=0.0, repeat_penalty=1.0, reset=True):
        if token == tokenizer.eot_id or len(theirs) == room:
            break
        theirs.append(token)
    seconds["llama.cpp"] += time.time() - t0
    parted = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
    same_prefix += ours[:prefix_tokens] == theirs[:prefix_tokens]
    same_answer += ours == theirs
    rows.append([number, len(prompt_ids), len(ours), len(theirs), "yes" if ours[:prefix_tokens] == theirs[:prefix_tokens]
                 else "no", "yes" if ours == theirs else "no", "-" if ours == theirs else parted,
                 tokenizer.decode(theirs[:24]).replace("\n", " ").replace("|", "/")])

print(markdown_table(["question", "prompt tokens", "tokens (project)", "tokens (llama.cpp)",
                      f"same first {prefix_tokens}", "same answer", "first difference at", "llama.cpp's answer begins"],
                     rows))
print(f"same first {prefix_tokens} tokens: {same_prefix} of {len(rows)}; same whole answer: {same_answer} of "
      f"{len(rows)}; generation time: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
print(f"{out_dir} ({'SFT' if sft else 'pretrained'}, {ckpt['model_args'].get('arch', 'gpt2')}, {tokenizer.name} "
      f"tokenizer) against {gguf}; {describe_machine('cpu')}; torch threads {torch.get_num_threads()}, "
      f"llama.cpp threads 1")
llm.close()
