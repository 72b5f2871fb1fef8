"""A dataset on disk: what prepare.py and prepare_sft.py write and every other script reads.

    data/<name>/meta.json         kind ("pretrain" or "sft"), tokenizer, dtype, counts, the files it came from
                train.bin val.bin             token ids: pretraining, one flat array; SFT, rows of block_size
                train_spans.npy val_spans.npy SFT: [prompt_len, total_len] of every row
                train.jsonl val.jsonl         SFT: the question/answer record of every row, in row order

Every setting that names a dataset (--dataset of every script, prepare_sft.py's --pretrain_data) is
resolved the same way, by dataset_dir(): a plain name is data/<name>/, a path (it holds a '/', or is an
existing folder) is itself. A dataset is written whole (write_dataset): no file of an earlier dataset in the
same folder survives, and a failed write leaves the earlier dataset as it was. Other files in the folder
(raw/ with the novels, a hand-written qa.jsonl, a README) are not the dataset's and are left alone. No dataset
is made from data/eval/, the files that only measure a model (refuse_evaluation_only).
"""
import json
import os
import shutil
import tempfile

import numpy as np

from wuxia.configurator import Rule, _creatable_dir

DATASET_FILES = ["meta.json", "train.bin", "val.bin", "train_spans.npy", "val_spans.npy", "train.jsonl", "val.jsonl"]


def dataset_dir(name):
    """A dataset's folder: the name itself when it is a path (holds a '/' or is a folder), else data/<name>."""
    if "/" in name or os.sep in name or os.path.isdir(name):
        return os.path.normpath(name)
    return os.path.join("data", name)


# a --dataset that will be written: its folder must exist or be creatable
NEW_DATASET = Rule("a name (data/<name>/) or a folder that can be written", lambda name: _creatable_dir(dataset_dir(name)))


# The project's files that measure a model and must never be trained on (the probes, the demo questions) live
# in data/eval/, and everything that makes a training set refuses them: the layout is the guard, written down.
EVALUATION_ONLY_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "eval")


def refuse_evaluation_only(files, setting, instead):
    """Stop when one of the files a training set would be made from lies in data/eval/, named itself or reached
    through a folder or glob (--input=data/ reads every file below it): a model trained on those questions
    would be scored on what it memorised. `instead` says what to pass."""
    evaluation_only = os.path.realpath(EVALUATION_ONLY_DIR)
    for path in files:
        if os.path.commonpath([os.path.realpath(path), evaluation_only]) == evaluation_only:
            raise SystemExit(f"{setting}: {path} is evaluation-only: data/eval/ holds the questions that measure a "
                             f"model (the probes, the demo questions), and one trained on them would be scored on "
                             f"what it memorised. {instead}")


def has_meta(data_dir):
    return os.path.isfile(os.path.join(data_dir, "meta.json"))


def load_meta(data_dir, what_to_do="prepare the dataset first (python prepare.py or prepare_sft.py)"):
    path = os.path.join(data_dir, "meta.json")
    if not os.path.isfile(path):
        raise SystemExit(f"{path} not found: {what_to_do}")
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SystemExit(f"{path} is damaged ({e}): prepare the dataset again")
    if not isinstance(meta, dict) or "kind" not in meta or "dtype" not in meta:
        raise SystemExit(f"{path} is not the meta.json of a wuxia-gpt dataset: prepare the dataset again")
    return meta


def load_split(data_dir, split, meta):
    """The split's token file as a read-only memmap, opened once (not per batch).
    For an SFT dataset also its spans: (rows (N, block_size), spans (N, 2) of [prompt_len, total_len])."""
    path = os.path.join(data_dir, f"{split}.bin")
    if not os.path.isfile(path):
        raise SystemExit(f"{path} not found: prepare the dataset again")
    if os.path.getsize(path) == 0:
        raise SystemExit(f"{path} is empty: prepare the dataset again with more text")
    data = np.memmap(path, dtype=np.dtype(meta["dtype"]), mode="r")
    if meta["kind"] != "sft":
        return data
    spans = np.load(os.path.join(data_dir, f"{split}_spans.npy"))
    return data.reshape(-1, meta["block_size"]), spans


def records_path(data_dir, split, what_to_do="name an SFT dataset (made by prepare_sft.py)"):
    """The question/answer records of an SFT dataset's split (val.jsonl, ...); an error for any other kind."""
    meta = load_meta(data_dir)
    if meta["kind"] != "sft":
        raise SystemExit(f"{data_dir} is a {meta['kind']} dataset: it has no {split}.jsonl of questions; {what_to_do}")
    return os.path.join(data_dir, f"{split}.jsonl")


def check_tokenizer(meta, tokenizer_meta, data_dir, model_source, advice):
    """Stop when the dataset was made with another tokenizer (or character vocabulary) than the model's."""
    if all(meta.get(key) == value for key, value in tokenizer_meta.items()):
        return
    raise SystemExit(f"{data_dir} was made with the {meta.get('tokenizer')} tokenizer, the model in {model_source} "
                     f"uses {tokenizer_meta['tokenizer']}"
                     + (" with a different character vocabulary" if meta.get("tokenizer") == "char" else "")
                     + f": {advice}")


def check_rows_fit(meta, block_size, data_dir, model_source):
    """Stop when an SFT dataset's rows are longer than the model's context. A row of N tokens is read as
    x = row[:-1], y = row[1:]: it fits a context of N - 1."""
    if meta["kind"] == "sft" and meta["block_size"] - 1 > block_size:
        raise SystemExit(f"{data_dir} has rows of {meta['block_size']} tokens but the model in {model_source} has a "
                         f"context of {block_size}: re-run prepare_sft.py with --block_size={block_size}")


def write_dataset(out_dir, write_files):
    """Write a dataset into out_dir whole: write_files(folder) writes its files into a temporary folder
    inside out_dir, then they replace the earlier dataset's (meta.json last; any dataset file the new one
    does not have is removed). When writing the files fails (a full disk, bad data, Ctrl-C), the temporary
    folder and the folders this call created are removed, and the earlier dataset is left as it was."""
    created, parent = None, os.path.abspath(out_dir)  # created: the outermost folder this call makes
    while not os.path.exists(parent):
        created, parent = parent, os.path.dirname(parent)
    tmp_dir = None
    try:
        os.makedirs(out_dir, exist_ok=True)
        tmp_dir = tempfile.mkdtemp(prefix=".writing-", dir=out_dir)
        write_files(tmp_dir)
        written = set(os.listdir(tmp_dir))
        assert written <= set(DATASET_FILES) and "meta.json" in written, f"unexpected dataset files: {written}"
        meta_path = os.path.join(out_dir, "meta.json")
        if os.path.exists(meta_path):
            os.remove(meta_path)  # while files are swapped the folder holds no dataset, never a mix of two
        for name in DATASET_FILES[1:]:
            if name in written:
                os.replace(os.path.join(tmp_dir, name), os.path.join(out_dir, name))
            elif os.path.exists(os.path.join(out_dir, name)):
                os.remove(os.path.join(out_dir, name))
        os.replace(os.path.join(tmp_dir, "meta.json"), meta_path)
    except BaseException:
        if tmp_dir:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        if created:
            shutil.rmtree(created, ignore_errors=True)
        raise
    shutil.rmtree(tmp_dir, ignore_errors=True)
