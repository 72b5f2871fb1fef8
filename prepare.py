"""Prepare a pretraining dataset from novel files.

    python prepare.py --dataset=jinyong --input=novels/*.txt [--tokenizer=char] [--t2s] [--drop_lines=REGEX]

Reads every file (its encoding is detected), cleans it into one paragraph per line, keeps the last
val_fraction of each book for validation, and writes data/<dataset>/train.bin and val.bin (flat token ids,
each book ending with <|endoftext|>) and meta.json (tokenizer, counts per file, the options used).
"""
import hashlib
import json
import os
import re
import sys
import time

import numpy as np

from wuxia.configurator import AT_LEAST_0, AT_LEAST_1, FRACTION, REGEX, configure, one_of
from wuxia.dataset import NEW_DATASET, dataset_dir, write_dataset
from wuxia.text import (clean_text, decode_text, find_input_files, pieces_for_encoding, split_train_val,
                        t2s_converter)
from wuxia.tokenizer import CharTokenizer, GPT2Tokenizer

# -----------------------------------------------------------------------------
dataset = "jinyong"     # output goes to data/<dataset>/ (or to the folder, when it is a path)
input = []              # files, folders (every .txt inside) or glob patterns; empty: data/<dataset>/raw/
tokenizer = "gpt2"      # "gpt2" (tiktoken's GPT-2 encoding) or "char" (one id per character of the corpus)
min_char_count = 1      # char tokenizer: characters seen fewer times than this become <unk>
val_fraction = 0.1      # the last 10% of every book is the validation split
val_from = ""           # regex: only files whose path matches give a validation part (others train whole)
drop_lines = ""         # regex: paragraphs it matches are dropped (website ads), e.g. "www\.|本书由"
keep_mojibake = False   # keep paragraphs with mojibake (text decoded with the wrong codec upstream)
t2s = False             # convert traditional to simplified Chinese (needs OpenCC: pip install opencc)
join_paragraphs = False  # run all paragraphs of a book together with no newline (as the course's students did)
num_threads = 0         # threads for GPT-2 encoding; 0: one per CPU core
# -----------------------------------------------------------------------------
config = configure(globals(), sys.argv[1:], rules={
    "dataset": NEW_DATASET, "tokenizer": one_of("gpt2", "char"), "min_char_count": AT_LEAST_1,
    "val_fraction": FRACTION, "val_from": REGEX, "drop_lines": REGEX, "num_threads": AT_LEAST_0})
started = time.time()
drop_pattern = re.compile(drop_lines) if drop_lines else None
val_pattern = re.compile(val_from) if val_from else None
convert = t2s_converter() if t2s else None
out_dir = dataset_dir(dataset)
if not input and not os.path.isdir(os.path.join(out_dir, "raw")):
    sys.exit(f"no input files: put the novels (.txt) in {out_dir}/raw/ (from {os.getcwd()}) or name them with "
             f"--input=PATH [PATH ...] (files, folders or globs)")
files = find_input_files(input or [os.path.join(out_dir, "raw")])

# read, decode and clean every book; files that are no text are refused before anything is written
books = []
for path in files:
    with open(path, "rb") as f:
        data = f.read()
    text, encoding, replaced_bytes = decode_text(data, path)
    cleaned, report = clean_text(text, drop_pattern, convert, join_paragraphs, keep_mojibake)
    if len(cleaned) < 2:
        print(f"warning: {path} holds no text after cleaning, skipped", file=sys.stderr)
        continue
    if replaced_bytes > 0.001 * len(data):
        print(f"warning: {path}: {replaced_bytes} of {len(data)} bytes could not be decoded as {encoding}; "
              f"is the file damaged or in another encoding?", file=sys.stderr)
    if report["mojibake_spans"]:
        action = "kept (--keep_mojibake)" if keep_mojibake else "dropped"
        print(f"warning: {path}: {report['mojibake_spans']} mojibake spans (text decoded with the wrong codec "
              f"upstream) in {report['mojibake_paragraphs']} paragraphs, {action}; e.g. "
              + ", ".join(repr(example[:30]) for example in report["mojibake_examples"]), file=sys.stderr)
    if val_pattern is None or val_pattern.search(path):
        train_text, val_text = split_train_val(cleaned, val_fraction)
    else:
        train_text, val_text = cleaned, ""
    books.append({"path": path, "encoding": encoding, "sha256": hashlib.sha256(data).hexdigest(),
                  "bytes": len(data), "chars": len(cleaned), "paragraphs": report["paragraphs"],
                  "dropped_paragraphs": report["dropped"], "mojibake_spans": report["mojibake_spans"],
                  "mojibake_paragraphs": report["mojibake_paragraphs"],
                  "repaired_spaces": report["repaired_spaces"], "replaced_bytes": replaced_bytes,
                  "train_text": train_text, "val_text": val_text})
if not books:
    sys.exit("every input file was empty after cleaning: nothing to prepare")
if not any(b["val_text"] for b in books):
    sys.exit(f"--val_from={val_from!r} matches none of the input files: no validation text")

# tokenize: all parts of all books cut into pieces and encoded in one batch call (threads for GPT-2)
if tokenizer == "gpt2":
    tok = GPT2Tokenizer()
else:
    tok = CharTokenizer.from_texts([b["train_text"] + b["val_text"] for b in books], min_char_count)
for book in books:
    book.update(train_chars=0, train_tokens=0, val_chars=0, val_tokens=0)
parts = [(book, split) for book in books for split in ("train", "val") if book[split + "_text"]]
part_pieces = [pieces_for_encoding(book[split + "_text"]) for book, split in parts]
encoded = iter(tok.encode_lines([piece for pieces in part_pieces for piece in pieces],
                                num_threads=num_threads or os.cpu_count()))
dtype = np.uint16 if tok.vocab_size <= 65535 else np.uint32
split_ids = {"train": [], "val": []}
for (book, split), pieces in zip(parts, part_pieces):
    ids = [np.asarray(next(encoded), dtype=dtype) for _ in pieces]
    ids.append(np.array([tok.eot_id], dtype=dtype))  # each book's part ends with <|endoftext|>
    split_ids[split].append(np.concatenate(ids))
    book[split + "_chars"] = len(book[split + "_text"])
    book[split + "_tokens"] = len(split_ids[split][-1]) - 1  # <|endoftext|> not counted
for book in books:
    book["tokens"] = book["train_tokens"] + book["val_tokens"]
    book["unknown_chars"] = tok.count_unknown(book.pop("train_text") + book.pop("val_text"))
train_ids = np.concatenate(split_ids["train"])
val_ids = np.concatenate(split_ids["val"])

# write: the whole dataset at once (wuxia/dataset.py), replacing any earlier one in that folder
meta = {
    "kind": "pretrain",
    **tok.to_meta(),
    "vocab_size": tok.vocab_size,
    "eot_id": tok.eot_id,
    "dtype": np.dtype(dtype).name,
    "train_tokens": len(train_ids),
    "val_tokens": len(val_ids),
    "train_chars": sum(b["train_chars"] for b in books),
    "val_chars": sum(b["val_chars"] for b in books),
    "unknown_chars": sum(b["unknown_chars"] for b in books),
    "files": books,
    "options": config,
}


def write_files(folder):
    train_ids.tofile(os.path.join(folder, "train.bin"))
    val_ids.tofile(os.path.join(folder, "val.bin"))
    with open(os.path.join(folder, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False, indent=1)


write_dataset(out_dir, write_files)

# summary
n_chars = meta["train_chars"] + meta["val_chars"]
n_tokens = sum(b["tokens"] for b in books)
print(f"{'file':<40} {'encoding':<10} {'chars':>11} {'tokens':>11} {'replaced':>8} {'dropped':>7} {'mojibake':>8}")
for b in books:
    name = b["path"] if len(b["path"]) <= 40 else "..." + b["path"][-37:]
    print(f"{name:<40} {b['encoding']:<10} {b['chars']:>11,} {b['tokens']:>11,} {b['replaced_bytes']:>8,} "
          f"{b['dropped_paragraphs']:>7,} {b['mojibake_paragraphs']:>8,}")
encodings = {}
for b in books:
    encodings[b["encoding"]] = encodings.get(b["encoding"], 0) + 1
print(f"{len(books)} files ({', '.join(f'{n} {e}' for e, n in encodings.items())}), {n_chars:,} characters, "
      f"{n_tokens:,} tokens ({n_tokens / n_chars:.2f} per character), "
      f"{sum(b['replaced_bytes'] for b in books):,} bytes replaced")
if tokenizer == "char":
    print(f"char vocabulary: {tok.vocab_size:,} ids, {meta['unknown_chars']:,} characters became <unk> "
          f"(--min_char_count={min_char_count})")
print(f"train {meta['train_tokens']:,} tokens ({meta['train_chars']:,} chars), val {meta['val_tokens']:,} "
      f"tokens ({meta['val_chars']:,} chars), {meta['dtype']} -> {out_dir}/  in {time.time() - started:.1f} s")
