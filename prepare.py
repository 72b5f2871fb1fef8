"""Prepare a pretraining dataset from novel files and JSON Lines articles.

    python prepare.py --dataset=jinyong --input=novels/*.txt [--tokenizer=char] [--t2s] [--drop_lines=REGEX]
    python prepare.py --dataset=wiki --input=wiki-zh-subset-train_subset.jsonl      # {"text": ...} per line

A .txt file is one document (a book; its encoding is detected). A .jsonl file holds one document per line:
the "text" field of each JSON object (other fields, such as id, url and title, are ignored). Every document
is cleaned into one paragraph per line, the last val_fraction of each goes to validation, and each part
ends with <|endoftext|>. Writes data/<dataset>/train.bin and val.bin (flat token ids) and meta.json
(tokenizer, counts per file, the options used). Documents are read, encoded and written one at a time, so
the corpus is never held in memory as a whole.
"""
import json
import os
import re
import sys
import time
from collections import Counter

import numpy as np

from wuxia.configurator import AT_LEAST_0, AT_LEAST_1, FRACTION, REGEX, configure, explain_machine_errors, one_of
from wuxia.dataset import NEW_DATASET, dataset_dir, refuse_evaluation_only, write_dataset
from wuxia.text import (clean_text, find_input_files, pieces_for_encoding, read_documents, split_train_val,
                        t2s_converter)
from wuxia.tokenizer import CharTokenizer, GPT2Tokenizer

# -----------------------------------------------------------------------------
dataset = "jinyong"     # output goes to data/<dataset>/ (or to the folder, when it is a path)
input = []              # files, folders (every .txt and .jsonl inside) or globs; empty: data/<dataset>/raw/
tokenizer = "gpt2"      # "gpt2" (tiktoken's GPT-2 encoding) or "char" (one id per character of the corpus)
min_char_count = 1      # char tokenizer: characters seen fewer times than this become <unk>
val_fraction = 0.1      # the last 10% of every document (book or article) is the validation split
val_from = ""           # regex: only files whose path matches give a validation part (others train whole)
drop_lines = ""         # regex: paragraphs it matches are dropped (website ads), e.g. "www\.|本书由"
keep_mojibake = False   # keep paragraphs with mojibake (text decoded with the wrong codec upstream)
t2s = False             # convert traditional to simplified Chinese (needs OpenCC: pip install opencc)
join_paragraphs = False  # run all paragraphs of a document together with no newline (as the course's students did)
num_threads = 0         # threads for GPT-2 encoding; 0: one per CPU core
# -----------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
config = configure(globals(), sys.argv[1:], rules={
    "dataset": NEW_DATASET, "tokenizer": one_of("gpt2", "char"), "min_char_count": AT_LEAST_1,
    "val_fraction": FRACTION, "val_from": REGEX, "drop_lines": REGEX, "num_threads": AT_LEAST_0})
started = time.time()
ENCODE_BATCH_CHARS = 1 << 22  # characters encoded per batch call: big enough for the threads, small for memory
drop_pattern = re.compile(drop_lines) if drop_lines else None
val_pattern = re.compile(val_from) if val_from else None
convert = t2s_converter() if t2s else None
out_dir = dataset_dir(dataset)
if not input and not os.path.isdir(os.path.join(out_dir, "raw")):
    sys.exit(f"no input files: put the novels (.txt) or articles (.jsonl) in {out_dir}/raw/ (from {os.getcwd()}) "
             f"or name them with --input=PATH [PATH ...] (files, folders or globs)")
# the input files: novels (.txt, one book each) and JSON Lines articles (.jsonl, one document per line)
files = find_input_files(input or [os.path.join(out_dir, "raw")], extensions=(".txt", ".jsonl"))
refuse_evaluation_only(files, "--input", "Name the novels or articles to pretrain on (--input=data/jinyong/raw/).")


def cleaned_parts(path, book):
    """(train text, val text) of each document of one file, cleaned; fills book (the file's entry in
    meta.json) with its counts. One document at a time: the corpus is never in memory as a whole. A file
    that is no text stops the run (read_documents)."""
    book.update(documents=0, chars=0, paragraphs=0, dropped_paragraphs=0, mojibake_spans=0, mojibake_paragraphs=0,
                repaired_spaces=0, mojibake_examples=[])
    for text in read_documents(path, book):
        cleaned, report = clean_text(text, drop_pattern, convert, join_paragraphs, keep_mojibake)
        for key in ("paragraphs", "mojibake_spans", "mojibake_paragraphs", "repaired_spaces"):
            book[key] += report[key]
        book["dropped_paragraphs"] += report["dropped"]
        book["mojibake_examples"] += report["mojibake_examples"][:3 - len(book["mojibake_examples"])]
        if len(cleaned) < 2:
            continue
        book["documents"] += 1
        book["chars"] += len(cleaned)
        if val_pattern is None or val_pattern.search(path):
            yield split_train_val(cleaned, val_fraction)
        else:
            yield cleaned, ""


def warn_about(path, book):
    """The warnings for one file once it is read: undecodable bytes, skipped JSON lines, mojibake."""
    if book["replaced_bytes"] > 0.001 * book["bytes"]:
        print(f"warning: {path}: {book['replaced_bytes']} of {book['bytes']} bytes could not be decoded as "
              f"{book['encoding']}; is the file damaged or in another encoding?", file=sys.stderr)
    if book.get("skipped_records"):
        print(f"warning: {path}: {book['skipped_records']} line(s) without a \"text\" string skipped (the "
              f"first is line {book['first_skipped']})", file=sys.stderr)
    if book["mojibake_spans"]:
        action = "kept (--keep_mojibake)" if keep_mojibake else "dropped"
        print(f"warning: {path}: {book['mojibake_spans']} mojibake spans (text decoded with the wrong codec "
              f"upstream) in {book['mojibake_paragraphs']} paragraphs, {action}; e.g. "
              + ", ".join(repr(example[:30]) for example in book["mojibake_examples"]), file=sys.stderr)


# a character vocabulary needs every character's count first: one pass to count, one to encode
if tokenizer == "gpt2":
    tok = GPT2Tokenizer()
else:
    counts = Counter()
    for path in files:
        for train_text, val_text in cleaned_parts(path, {"path": path}):
            counts.update(train_text)
            counts.update(val_text)
    tok = CharTokenizer.from_counts(counts, min_char_count)
dtype = np.uint16 if tok.vocab_size <= 65535 else np.uint32
num_threads = num_threads or os.cpu_count()


def encode_and_write(pending, outputs):
    """Encode the buffered (book, split, text) parts in one batch call (threads for GPT-2; each part cut at
    places BPE never merges across) and append each part's ids and <|endoftext|> to its split's file."""
    part_pieces = [pieces_for_encoding(text) for _, _, text in pending]
    encoded = iter(tok.encode_lines([piece for pieces in part_pieces for piece in pieces], num_threads=num_threads))
    for (book, split, text), pieces in zip(pending, part_pieces):
        ids = [np.asarray(next(encoded), dtype=dtype) for _ in pieces]
        ids.append(np.array([tok.eot_id], dtype=dtype))  # each document's part ends with <|endoftext|>
        np.concatenate(ids).tofile(outputs[split])
        book[split + "_chars"] += len(text)
        book[split + "_tokens"] += sum(len(part) for part in ids) - 1  # <|endoftext|> not counted
        book["unknown_chars"] += tok.count_unknown(text)


def write_files(folder):
    """Read, clean, split, encode and write, document by document, into folder (write_dataset's temporary
    one: an interrupted or refused run leaves the earlier dataset as it was); meta.json last."""
    books = []
    with open(os.path.join(folder, "train.bin"), "wb") as train_file, \
            open(os.path.join(folder, "val.bin"), "wb") as val_file:
        outputs = {"train": train_file, "val": val_file}
        pending, pending_chars = [], 0
        for path in files:
            book = {"path": path, "train_chars": 0, "train_tokens": 0, "val_chars": 0, "val_tokens": 0,
                    "unknown_chars": 0}
            for train_text, val_text in cleaned_parts(path, book):
                for split, text in (("train", train_text), ("val", val_text)):
                    if text:
                        pending.append((book, split, text))
                        pending_chars += len(text)
                if pending_chars >= ENCODE_BATCH_CHARS:
                    encode_and_write(pending, outputs)
                    pending, pending_chars = [], 0
            encode_and_write(pending, outputs)  # the file's last parts: its counts are complete below
            pending, pending_chars = [], 0
            if not book["documents"]:
                print(f"warning: {path} holds no text after cleaning, skipped", file=sys.stderr)
                continue
            warn_about(path, book)
            book.pop("first_skipped", None)
            book.pop("mojibake_examples")
            book["tokens"] = book["train_tokens"] + book["val_tokens"]
            books.append(book)
    if not books:
        sys.exit("every input file was empty after cleaning: nothing to prepare")
    if not any(b["val_chars"] for b in books):
        sys.exit(f"--val_from={val_from!r} matches none of the input files: no validation text")
    itemsize = np.dtype(dtype).itemsize
    meta.update({
        "kind": "pretrain",
        **tok.to_meta(),
        "vocab_size": tok.vocab_size,
        "eot_id": tok.eot_id,
        "dtype": np.dtype(dtype).name,
        "train_tokens": os.path.getsize(os.path.join(folder, "train.bin")) // itemsize,  # with the <|endoftext|>s
        "val_tokens": os.path.getsize(os.path.join(folder, "val.bin")) // itemsize,
        "train_chars": sum(b["train_chars"] for b in books),
        "val_chars": sum(b["val_chars"] for b in books),
        "unknown_chars": sum(b["unknown_chars"] for b in books),
        "files": books,
        "options": config,
    })
    with open(os.path.join(folder, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False, indent=1)


# write: the whole dataset at once (wuxia/dataset.py), replacing any earlier one in that folder
meta = {}
write_dataset(out_dir, write_files)

# summary
books = meta["files"]
n_chars = meta["train_chars"] + meta["val_chars"]
n_tokens = sum(b["tokens"] for b in books)
print(f"{'file':<40} {'encoding':<10} {'documents':>9} {'chars':>11} {'tokens':>11} {'replaced':>8} {'dropped':>7} "
      f"{'mojibake':>8}")
for b in books:
    name = b["path"] if len(b["path"]) <= 40 else "..." + b["path"][-37:]
    print(f"{name:<40} {b['encoding']:<10} {b['documents']:>9,} {b['chars']:>11,} {b['tokens']:>11,} "
          f"{b['replaced_bytes']:>8,} {b['dropped_paragraphs']:>7,} {b['mojibake_paragraphs']:>8,}")
encodings = {}
for b in books:
    encodings[b["encoding"]] = encodings.get(b["encoding"], 0) + 1
print(f"{len(books)} files ({', '.join(f'{n} {e}' for e, n in encodings.items())}), "
      f"{sum(b['documents'] for b in books):,} documents, {n_chars:,} characters, "
      f"{n_tokens:,} tokens ({n_tokens / n_chars:.2f} per character), "
      f"{sum(b['replaced_bytes'] for b in books):,} bytes replaced")
if tokenizer == "char":
    print(f"char vocabulary: {tok.vocab_size:,} ids, {meta['unknown_chars']:,} characters became <unk> "
          f"(--min_char_count={min_char_count})")
print(f"train {meta['train_tokens']:,} tokens ({meta['train_chars']:,} chars), val {meta['val_tokens']:,} "
      f"tokens ({meta['val_chars']:,} chars), {meta['dtype']} -> {out_dir}/  in {time.time() - started:.1f} s")
