"""Prepare a supervised fine-tuning (SFT) dataset from question/answer files.

    python prepare_sft.py --dataset=sft_jinyong --input=qa.jsonl [more.json ...] --pretrain_data=jinyong
    python prepare_sft.py --dataset=sft_jinyong --show=0     # see train row 0 token by token, with its loss mask

Input: JSON Lines or one JSON array of objects with the keys question/answer (any case) or Alpaca's
instruction/input/output. The tokenizer is the pretraining dataset's, so ids match the checkpoint. Each
example becomes one row of block_size tokens laid out by wuxia/sft_format.py (prompt, answer,
<|endoftext|>, padding); the prompt and total length of every row are saved beside it, so training knows the
answer span exactly. Writes data/<dataset>/ whole (wuxia/dataset.py): bad input never leaves a half-written
dataset, and no file of an earlier dataset in that folder survives.
"""
import hashlib
import json
import os
import random
import sys
import time

import numpy as np

from wuxia.configurator import (AT_LEAST_0, AT_LEAST_1, FRACTION, UNIT_INTERVAL, at_least, configure,
                                explain_machine_errors)
from wuxia.dataset import NEW_DATASET, dataset_dir, load_meta, records_path, refuse_evaluation_only, write_dataset
from wuxia.jsonl import read_jsonl, read_qa_records, write_jsonl
from wuxia.reading import rename_answer, speaker_exercises, speaker_names
from wuxia.retrieval import answer_passage, load_index, retrieve
from wuxia.sft_format import PROMPT_TEMPLATE, encode_example, format_prompt, show_row
from wuxia.text import find_input_files
from wuxia.tokenizer import tokenizer_from_meta

# -----------------------------------------------------------------------------
dataset = "sft_jinyong"        # output goes to data/<dataset>/ (or to the folder, when it is a path)
input = []                     # JSONL / JSON files, folders or globs with the question/answer records
val_input = []                 # records for the val split (no random split then); empty: val_fraction of input
pretrain_data = "jinyong"      # the pretraining dataset (named as --dataset) whose tokenizer the model uses
block_size = 512               # tokens per row; at most the pretrained model's block_size (train.py checks)
val_fraction = 0.1             # share of the records (whole question groups) held out for validation
drop_long = False              # drop examples that do not fit instead of cutting the answer at a sentence end
seed = 1337                    # the train/val split is random but fixed by this seed
index = ""                     # open book: a passage index of the novels (index.py); every question gets its passages
retrieve_k = 4                 # open book: passages per question
retrieve_chars = 40            # open book: characters kept of each passage, around its match with the question
answer_passage_share = 0.5     # open book: share of train rows where one passage is swapped for one that holds
                               # the answer's words, so that reading pays (val rows: as at answer time)
renamed_share = 0.0            # open book: share of those rows whose answer's name is replaced, in the passages and
                               # the answer, by another name of the books: only reading answers them (wuxia/reading.py)
reading_exercises = 0          # open book: train rows added that ask who said a quote of the novels (wuxia/reading.py)
show = -1                      # >= 0: print train row `show` of data/<dataset> token by token, then exit
# -----------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
config = configure(globals(), sys.argv[1:], rules={
    "dataset": NEW_DATASET, "block_size": at_least(8), "val_fraction": FRACTION, "show": at_least(-1),
    "seed": AT_LEAST_0, "retrieve_k": AT_LEAST_1, "retrieve_chars": at_least(8), "answer_passage_share": UNIT_INTERVAL,
    "renamed_share": UNIT_INTERVAL, "reading_exercises": AT_LEAST_0})
started = time.time()
out_dir = dataset_dir(dataset)
pretrain_dir = dataset_dir(pretrain_data)


def read_split(patterns, what):
    """The usable records ({question, answer, source}) of the files named by patterns (files, globs, or
    folders: their .json and .jsonl files), the skipped ones as (source, reason), and one summary per file."""
    paths = find_input_files(patterns, f"--{what}", extensions=(".json", ".jsonl"))
    refuse_evaluation_only(paths, f"--{what}", "Make the dataset from the QA training set (--input=data/jinyong_qa/) "
                           "or your own QA files; score a model on an evaluation file with eval_rouge.py --qa=FILE.")
    examples, skipped, files = [], [], []
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        file_examples, file_skipped, n_records = read_qa_records(path, data)
        examples += file_examples
        skipped += file_skipped
        files.append({"path": path, "split": what, "sha256": hashlib.sha256(data).hexdigest(),
                      "records": n_records, "skipped": len(file_skipped)})
    return examples, skipped, files


if show >= 0:
    meta = load_meta(out_dir, f"prepare the SFT dataset first (python prepare_sft.py --dataset={dataset} --input=...)")
    train_records = records_path(out_dir, "train")
    tok = tokenizer_from_meta(meta)
    rows = np.fromfile(os.path.join(out_dir, "train.bin"), dtype=meta["dtype"]).reshape(-1, meta["block_size"])
    spans = np.load(os.path.join(out_dir, "train_spans.npy"))
    if show >= len(rows):
        sys.exit(f"--show={show}: {out_dir} has {len(rows)} train rows (0 to {len(rows) - 1})")
    record = read_jsonl(train_records)[show]
    prompt_len, total_len = (int(n) for n in spans[show])
    print(f"train row {show} of {len(rows)}: prompt {prompt_len} tokens, answer + <|endoftext|> "
          f"{total_len - prompt_len} tokens, padding {meta['block_size'] - total_len}")
    print(f"question: {record['question']}\nanswer:   {record['answer']}\n")
    print(show_row(tok, rows[show].tolist(), prompt_len, total_len))
    print("loss 1: the model is trained to predict this token (answer and final <|endoftext|>); .: not trained")
    sys.exit(0)

if not input:
    sys.exit("name the question/answer files: --input=qa.jsonl [more.jsonl ...] (JSON Lines or a JSON array)")
if os.path.abspath(out_dir) == os.path.abspath(pretrain_dir):
    sys.exit(f"--dataset and --pretrain_data both name {out_dir}: the SFT dataset would replace the pretraining "
             "one; choose another --dataset")
pretrain_meta = load_meta(pretrain_dir, "--pretrain_data must name a dataset made by prepare.py (python "
                                        "prepare.py --dataset=...): its tokenizer is the model's")

# read every record
train_examples, skipped, files = read_split(input, "input")
val_examples, val_skipped, val_files = read_split(val_input, "val_input") if val_input else ([], [], [])
skipped += val_skipped
files += val_files
n_records = sum(f["records"] for f in files)
for source, reason in skipped[:5]:
    print(f"skipped {source}: {reason}", file=sys.stderr)
if len(skipped) > 5:
    print(f"... {len(skipped) - 5} more records skipped", file=sys.stderr)
if not train_examples or (val_input and not val_examples):
    sys.exit(f"no usable records in {' '.join(input + val_input)}: each needs a question and an answer "
             "(keys question/answer in any case, or instruction/input/output)")

# the tokenizer is the pretraining dataset's, so the ids mean what the pretrained model learned
tok = tokenizer_from_meta(pretrain_meta)
dtype = np.dtype(pretrain_meta["dtype"])

# duplicate questions: reported; the random split keeps all records of one question on the same side
first_source = {}
duplicates = []
for example in train_examples + val_examples:
    if example["question"] in first_source:
        duplicates.append((example["source"], first_source[example["question"]]))
    else:
        first_source[example["question"]] = example["source"]
for source, first in duplicates[:5]:
    print(f"duplicate question: {source} repeats {first}", file=sys.stderr)
if len(duplicates) > 5:
    print(f"... {len(duplicates) - 5} more duplicate questions", file=sys.stderr)

# open book: every question gets the passages retrieve() finds for it, as at answer time
retrieval = None
if index:
    passage_index = load_index(index)
    for example in train_examples + val_examples:
        example["passages"] = retrieve(passage_index, example["question"], retrieve_k, retrieve_chars)

# encode every example with the one layout; too long ones are cut at a sentence end, or dropped
counts = {"truncated": 0, "dropped": 0, "unknown_chars": 0}
unknown_chars_seen = set()
for example in train_examples + val_examples:
    ids, prompt_len, status = encode_example(tok, example["question"], example["answer"], block_size,
                                             example.get("passages", ()))
    if status == "too_long" or (status == "truncated" and drop_long):
        counts["dropped"] += 1
        example["ids"] = None
        continue
    if status == "truncated":
        counts["truncated"] += 1
        example["answer"] = tok.decode(ids[prompt_len:-1])  # the answer as it is in the row
    example["ids"], example["prompt_len"] = ids, prompt_len
    text = format_prompt(example["question"], example.get("passages", ())) + example["answer"]
    n_unknown = tok.count_unknown(text)
    if n_unknown:
        counts["unknown_chars"] += n_unknown
        unknown_chars_seen.update(c for c in set(text) if tok.count_unknown(c))
train_examples = [e for e in train_examples if e["ids"] is not None]
val_examples = [e for e in val_examples if e["ids"] is not None]

# the split: given by --val_input, else whole question groups in a seeded random order until val_fraction
if not val_input:
    groups = {}
    for example in train_examples:
        groups.setdefault(example["question"], []).append(example)
    order = list(groups)
    random.Random(seed).shuffle(order)
    n_val = max(1, round(val_fraction * len(train_examples)))
    val_questions, n_taken = set(), 0
    for question in order:
        if n_taken >= n_val:
            break
        val_questions.add(question)
        n_taken += len(groups[question])
    val_examples = [e for e in train_examples if e["question"] in val_questions]
    train_examples = [e for e in train_examples if e["question"] not in val_questions]
else:
    train_questions = {e["question"] for e in train_examples}
    n_shared = sum(e["question"] in train_questions for e in val_examples)
    if n_shared:
        print(f"warning: {n_shared} val questions also appear in the train input", file=sys.stderr)

# open book: in a share of the train rows one passage is swapped for one that holds the answer's words, so that
# reading the passages pays; val rows keep what retrieval gives, as at answer time
if index:
    rng = random.Random(seed)
    swapped = renamed_rows = 0
    names = speaker_names(passage_index) if renamed_share else []
    for example in train_examples:
        if rng.random() >= answer_passage_share:
            continue
        found = answer_passage(passage_index, example["question"], example["answer"], retrieve_chars)
        if not found or found["text"] in [p["text"] for p in example["passages"]]:
            continue
        passages = example["passages"][:retrieve_k - 1]
        passages.insert(rng.randrange(len(passages) + 1), found)
        answer = example["answer"]
        if rng.random() < renamed_share:
            renamed = rename_answer(example["question"], answer, passages, names, rng)
            if renamed:
                answer, passages = renamed
                renamed_rows += 1
        ids, prompt_len, status = encode_example(tok, example["question"], answer, block_size, passages)
        if ids is not None:
            example.update(ids=ids, prompt_len=prompt_len, passages=passages, answer=answer)
            if status == "truncated":
                example["answer"] = tok.decode(ids[prompt_len:-1])
            swapped += 1
    exercises = []
    for exercise in speaker_exercises(passage_index, reading_exercises, retrieve_k, retrieve_chars, seed):
        ids, prompt_len, status = encode_example(tok, exercise["question"], exercise["answer"], block_size,
                                                 exercise["passages"])
        if status == "ok":
            exercises.append({**exercise, "ids": ids, "prompt_len": prompt_len, "source": "reading exercise"})
    train_examples += exercises
    retrieval = {"index": os.path.abspath(index), "k": retrieve_k, "chars": retrieve_chars,
                 "answer_passage_share": answer_passage_share, "swapped_rows": swapped, "renamed_rows": renamed_rows,
                 "reading_exercises": len(exercises)}
if not train_examples or not val_examples:
    sys.exit(f"too few usable records to split: {len(train_examples)} train, {len(val_examples)} val "
             f"({counts['dropped']} dropped as too long for --block_size={block_size})")

# write: the whole dataset at once (wuxia/dataset.py), replacing any earlier one in that folder
meta = {
    "kind": "sft",
    **{key: pretrain_meta[key] for key in tok.to_meta()},
    "vocab_size": tok.vocab_size,
    "eot_id": tok.eot_id,
    "dtype": dtype.name,
    "block_size": block_size,
    "template": PROMPT_TEMPLATE,
    "retrieval": retrieval,
    "pretrain_data": pretrain_dir,
    "records": n_records,
    "skipped": len(skipped),
    "truncated": counts["truncated"],
    "dropped": counts["dropped"],
    "duplicates": len(duplicates),
    "unknown_chars": counts["unknown_chars"],
    "train_rows": len(train_examples),
    "val_rows": len(val_examples),
    "files": files,
    "options": config,
}


def write_files(folder):
    for split, examples in (("train", train_examples), ("val", val_examples)):
        rows = np.full((len(examples), block_size), tok.eot_id, dtype=dtype)  # padding is <|endoftext|>
        spans = np.zeros((len(examples), 2), dtype=np.int32)
        for row, example in enumerate(examples):
            rows[row, :len(example["ids"])] = example["ids"]
            spans[row] = example["prompt_len"], len(example["ids"])
        rows.tofile(os.path.join(folder, f"{split}.bin"))
        np.save(os.path.join(folder, f"{split}_spans.npy"), spans)
        records = []
        for example in examples:
            record = {"question": example["question"], "answer": example["answer"]}
            if "passages" in example:
                record["passages"] = [{k: p[k] for k in ("book", "place", "text")} for p in example["passages"]]
            records.append(record)
        write_jsonl(os.path.join(folder, f"{split}.jsonl"), records)
    with open(os.path.join(folder, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False, indent=1)


write_dataset(out_dir, write_files)

# summary
answer_tokens = [len(e["ids"]) - e["prompt_len"] for e in train_examples + val_examples]
total_tokens = [len(e["ids"]) for e in train_examples + val_examples]
print(f"{n_records:,} records in {len(files)} file(s): {len(skipped):,} skipped, {len(duplicates):,} duplicate "
      f"questions, {counts['truncated']:,} truncated at a sentence end, {counts['dropped']:,} dropped as too long "
      f"(block_size {block_size})")
if counts["unknown_chars"]:
    print(f"{counts['unknown_chars']:,} characters unknown to the {pretrain_dir} vocabulary became <unk>: "
          f"{''.join(sorted(unknown_chars_seen))[:50]}")
print(f"rows: {len(train_examples):,} train, {len(val_examples):,} val; tokens per row: mean "
      f"{np.mean(total_tokens):.0f}, max {max(total_tokens)} (answer + <|endoftext|>: mean "
      f"{np.mean(answer_tokens):.0f}); {tok.to_meta()['tokenizer']} tokenizer, {dtype.name} -> {out_dir}/  "
      f"in {time.time() - started:.1f} s")
if retrieval:
    qa_rows = len(train_examples) - retrieval["reading_exercises"]
    print(f"open book: {retrieve_k} passages of up to {retrieve_chars} characters per question from {index}; "
          f"{retrieval['swapped_rows']:,} train rows ({100 * retrieval['swapped_rows'] / qa_rows:.0f}% of the QA rows) "
          f"read a passage that holds the answer's words ({retrieval['renamed_rows']:,} of them renamed)"
          + (f"; {retrieval['reading_exercises']:,} reading exercises added" if reading_exercises else ""))
print(f"see a row: python prepare_sft.py --dataset={dataset} --show=0")
