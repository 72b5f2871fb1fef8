"""Answer a file of questions with a trained run: one {"question", "answer"} line per question, in order.

    python answer.py --out_dir=out/sft --input=questions.jsonl --output=answers.jsonl
    python answer.py --out_dir=out/sft --input=questions.txt --output=answers.jsonl    # one question per line

The input is JSON Lines with a question under any usual key (question, instruction (+ input), prompt,
query, q, 问题; any case) or a plain text file with one question per line. Other fields of a JSON record
(an id, ...) are copied to its answer line. Decoding follows the project's defaults (wuxia/generate.DECODING,
the chat page's settings); --temperature=0 is greedy. Questions are asked in the SFT template and generated
in batches. A run fine-tuned open book reads the passages retrieved for each question, and its answer lines
carry them ("passages": [{"book", "place", "text", "score"}]); --open_book=False answers without them.

Resumable: answers are appended to --output a chunk at a time, so after an interruption the same command
continues after the last complete line instead of starting again (a chunk always holds the same questions
and starts from the same seed, so a resumed file equals an uninterrupted one). At the end it prints how many
answers are empty, garbled, looping or cut by max_new_tokens (wuxia/quality.py).
"""
import json
import os
import sys
import time

from wuxia import retrieval
from wuxia.checkpoint import load_for_inference
from wuxia.configurator import (AT_LEAST_0, AT_LEAST_1, DEVICE, DTYPE, EXISTING_PATH, OUTPUT_FILE, configure,
                                explain_machine_errors)
from wuxia.device import for_inference, pick_device
from wuxia.generate import DECODING, DECODING_RULES, answer_questions, check_input, passages_for
from wuxia.jsonl import complete_lines, read_questions
from wuxia.quality import answer_quality, summarize_quality

# -----------------------------------------------------------------------------------------------------------
out_dir = "out/sft"           # the run that answers
input = ""                    # the questions: JSON Lines, or plain text with one question per line
output = "answers.jsonl"      # JSON Lines, one answer per question, in the input's order
max_new_tokens = 0            # per answer; 0 = the model's block_size
temperature = DECODING["temperature"]                # 0 is greedy decoding
top_k = DECODING["top_k"]                            # 0 = off
top_p = DECODING["top_p"]                            # 1.0 = off
repetition_penalty = DECODING["repetition_penalty"]  # 1.0 = off
batch_size = 16               # questions generated together
seed = 1337
open_book = True              # a run fine-tuned open book reads the passages retrieved for each question; False: none
index = ""                    # open book: this passage index (index.py) instead of the one the run was trained with
device = "auto"               # auto picks cuda > mps > cpu
dtype = "auto"                # auto: int8 weights on a CPU (float32 where the kernel is missing), bf16 autocast on CUDA
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={
    **DECODING_RULES, "out_dir": EXISTING_PATH, "input": EXISTING_PATH, "output": OUTPUT_FILE,
    "max_new_tokens": AT_LEAST_0, "batch_size": AT_LEAST_1, "device": DEVICE, "dtype": DTYPE})
CHUNK = 4 * batch_size  # questions answered before each append to the output (the unit of resuming)

if not input:
    raise SystemExit("name the questions: python answer.py --out_dir=out/sft --input=questions.jsonl --output=answers.jsonl")
questions = read_questions(input)
if not questions:
    raise SystemExit(f"{input} holds no questions")


def read_done(path):
    """The answers already in the output: its complete lines (a last line cut off by an interruption is
    answered again)."""
    done = []
    for line_no, line in enumerate(complete_lines(path), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise SystemExit(f"{path}, line {line_no}: not JSON; is it another file? Delete it or choose another --output")
        expected = questions[line_no - 1][0] if line_no <= len(questions) else None
        if record.get("question") != expected:
            raise SystemExit(f"{path}, line {line_no} answers {record.get('question')!r}, but question {line_no} of "
                             f"{input} is {expected!r}: it holds answers to other questions. Delete it or choose "
                             "another --output")
        done.append(record["answer"])
    return done


done = read_done(output)
if len(done) == len(questions):
    print(f"{output} already answers all {len(questions)} questions of {input}")
elif done:
    print(f"{output} already answers {len(done)} of {len(questions)} questions: continuing with question {len(done) + 1}")

if len(done) < len(questions):
    device = pick_device(device)
    model, tokenizer, checkpoint = load_for_inference(out_dir, device)
    model, autocast = for_inference(model, device, dtype)
    find_passages = retrieval.open_book(checkpoint, open_book, index)  # None: closed book
    new_tokens = max_new_tokens or model.config.block_size
    for number, (question, _) in enumerate(questions[len(done):], start=len(done) + 1):
        problem = check_input(tokenizer, question, True, model.config.block_size)
        if problem:
            raise SystemExit(f"{input}, question {number}: {problem}")

# answer chunk by chunk; a chunk covers questions [k * CHUNK, (k + 1) * CHUNK) whatever run answers it
stopped = [None] * len(done)  # not known for answers written by an earlier run
t0, answered = time.time(), 0
os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
with open(output, "a", encoding="utf-8") as f:
    while len(done) < len(questions):
        start = len(done)
        end = min((start // CHUNK + 1) * CHUNK, len(questions))
        asked = [q for q, _ in questions[start:end]]
        passages = [passages_for(find_passages, tokenizer, q, model.config.block_size) for q in asked]
        answers, chunk_stopped = answer_questions(
            model, tokenizer, asked, new_tokens, batch_size, seed + start, passages=passages,
            temperature=temperature, top_k=top_k, top_p=top_p, repetition_penalty=repetition_penalty,
            autocast=autocast)
        records = [{**fields, "question": question, "answer": answer} for (question, fields), answer
                   in zip(questions[start:end], answers)]
        if find_passages:
            for record, read in zip(records, passages):
                record["passages"] = read
        f.write("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
        f.flush()
        os.fsync(f.fileno())
        done += answers
        stopped += chunk_stopped
        answered += len(answers)
        seconds = time.time() - t0
        eta = seconds / answered * (len(questions) - len(done))
        print(f"{len(done)}/{len(questions)} answered | {seconds:.0f} s | ETA {eta:.0f} s", flush=True)

qualities = [answer_quality(answer, "", s) for answer, s in zip(done, stopped)]
summary = summarize_quality(qualities)
counts = {name: sum(bool(q[name]) for q in qualities) for name in ("empty", "garbled", "loop")}
cut = sum(s is False for s in stopped)
print(f"{len(done)} answers in {output} ({answered} generated now in {time.time() - t0:.1f} s by {out_dir}); "
      f"mean {summary['pred_chars']:.0f} characters")
print(f"quality flags: {counts['empty']} empty, {counts['garbled']} with U+FFFD, {counts['loop']} looping, "
      f"{cut} cut by max_new_tokens" +
      ("" if answered == len(done) else f" (known for the {answered} answered in this run)") +
      f"; clean: {100 * summary['clean']:.1f}%")
