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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from wuxia import gguf_export
from wuxia.checkpoint import load_for_inference
from wuxia.configurator import AT_LEAST_1, EXISTING_PATH, configure, explain_machine_errors
from wuxia.generate import encode_input, generate
from wuxia.jsonl import read_qa_records
from wuxia.report import markdown_table
from wuxia.timing import describe_machine

# -----------------------------------------------------------------------------------------------------------
out_dir = "out/sft"          # the run
gguf = ["sft-f16.gguf"]      # its exports (each is compared with the run)
questions = ""               # a QA file (JSON Lines with question and answer)
first = 5                    # how many of its questions are answered
prefix_tokens = 64           # the length of the answers' beginnings compared on their own
max_new_tokens = 256         # at most; less where the context ends first
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={"gguf": EXISTING_PATH, "questions": EXISTING_PATH, "first": AT_LEAST_1,
                                          "prefix_tokens": AT_LEAST_1, "max_new_tokens": AT_LEAST_1})

model, tokenizer, ckpt = load_for_inference(out_dir)
sft = ckpt.get("data_kind") == "sft"
block_size = model.config.block_size
records, _, _ = read_qa_records(questions)
texts = [text for record in records for text in (record["question"], record["answer"])]
unk_id = getattr(tokenizer, "unk_id", None)
print(f"{out_dir} ({'SFT' if sft else 'pretrained'}, {ckpt['model_args'].get('arch', 'gpt2')}, {tokenizer.name} "
      f"tokenizer); {describe_machine('cpu')}; llama.cpp threads 1")

# this project's greedy answers, as sample.py --temperature=0 --repetition_penalty=1.0 --dtype=float32 gives them
prompts, answers = [], []
t0 = time.time()
for record in records[:first]:
    prompts.append(encode_input(tokenizer, record["question"], sft))
    room = min(max_new_tokens, block_size - len(prompts[-1]))
    answers.append(generate(model, [prompts[-1]], room, tokenizer.eot_id, temperature=0, repetition_penalty=1.0)[0][0])
print(f"this project: {len(answers)} answers in {time.time() - t0:.1f} s")

for file in gguf:
    llm = gguf_export.load_with_llama_cpp(file, n_ctx=block_size)
    # the tokenizers, on every question and answer of the file
    same = joined = 0
    for text in texts:
        theirs, ours = gguf_export.tokenize_with_llama_cpp(llm, text), tokenizer.encode(text)
        same += theirs == ours
        joined += theirs != ours and unk_id is not None and theirs == gguf_export.unknown_runs_joined(ours, unk_id)
    unknown = sum(tokenizer.count_unknown(text) for text in texts)
    print(f"\n{file}\ntokenizers: {same} of {len(texts)} texts get the same ids from llama.cpp, {joined} differ only "
          f"where it reads a run of unknown characters as one <unk>, {len(texts) - same - joined} otherwise "
          f"({unknown} characters of the texts are <unk> here)")

    # llama.cpp's greedy answers: its own sampler at temperature 0, no repetition penalty
    rows, same_prefix, same_answer = [], 0, 0
    t0 = time.time()
    for number, (prompt_ids, ours) in enumerate(zip(prompts, answers), start=1):
        room = min(max_new_tokens, block_size - len(prompt_ids))
        theirs = []
        for token in llm.generate(prompt_ids, temp=0.0, repeat_penalty=1.0, reset=True):
            if token == tokenizer.eot_id or len(theirs) == room:
                break
            theirs.append(token)
        parted = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        same_prefix += ours[:prefix_tokens] == theirs[:prefix_tokens]
        same_answer += ours == theirs
        rows.append([number, len(prompt_ids), len(ours), len(theirs),
                     "yes" if ours[:prefix_tokens] == theirs[:prefix_tokens] else "no",
                     "yes" if ours == theirs else "no", "-" if ours == theirs else parted,
                     tokenizer.decode(theirs[:24]).replace("\n", " ").replace("|", "/")])
    seconds = time.time() - t0
    llm.close()
    print(markdown_table(["question", "prompt tokens", "tokens (project)", "tokens (llama.cpp)",
                          f"same first {prefix_tokens}", "same answer", "first difference at",
                          "llama.cpp's answer begins"], rows))
    print(f"same first {prefix_tokens} tokens: {same_prefix} of {len(rows)}; same whole answer: {same_answer} of "
          f"{len(rows)}; llama.cpp: {len(rows)} answers in {seconds:.1f} s")
