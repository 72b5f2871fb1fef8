"""Shared test helpers: tiny datasets written directly in the formats prepare.py / prepare_sft.py produce,
and a way to run the real scripts."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from wuxia.sft_format import encode_example  # noqa: E402
from wuxia.tokenizer import CharTokenizer  # noqa: E402

TINY_TEXT = "郭靖和黄蓉在桃花岛上练武。杨过是小龙女的徒弟。段誉会六脉神剑。乔峰是丐帮帮主。\n" * 60
TINY_QA = [("杨过的师父是谁？", "小龙女。"), ("段誉会什么武功？", "六脉神剑。"),
           ("乔峰是哪个帮的帮主？", "丐帮。"), ("郭靖和谁在桃花岛练武？", "黄蓉。")]
TINY_MODEL = ["--n_layer=2", "--n_head=2", "--n_embd=32", "--block_size=64", "--dropout=0.0", "--bias=True"]


def run(script, *args, check=True, timeout=300, **kwargs):
    """Run one of the project's scripts through its real command line."""
    result = subprocess.run([sys.executable, os.path.join(ROOT, script), *args], cwd=kwargs.pop("cwd", ROOT),
                            capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{script} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def write_pretrain_dataset(data_dir, text=TINY_TEXT):
    """A char-tokenizer pretraining dataset (train.bin, val.bin, meta.json) as prepare.py writes it."""
    os.makedirs(data_dir, exist_ok=True)
    tokenizer = CharTokenizer.from_texts([text])
    ids = np.array(tokenizer.encode(text) + [tokenizer.eot_id], dtype=np.uint16)
    split = int(len(ids) * 0.9)
    ids[:split].tofile(os.path.join(data_dir, "train.bin"))
    ids[split:].tofile(os.path.join(data_dir, "val.bin"))
    meta = dict(kind="pretrain", vocab_size=tokenizer.vocab_size, eot_id=tokenizer.eot_id, dtype="uint16",
                train_tokens=split, val_tokens=len(ids) - split, train_chars=split, val_chars=len(ids) - split - 1,
                **tokenizer.to_meta())
    with open(os.path.join(data_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False)
    return tokenizer


def write_sft_dataset(data_dir, tokenizer, block_size=64, qa=TINY_QA):
    """An SFT dataset (rows, spans, jsonl, meta.json) as prepare_sft.py writes it; val = train here."""
    os.makedirs(data_dir, exist_ok=True)
    rows, spans = [], []
    for question, answer in qa:
        ids, prompt_len, status = encode_example(tokenizer, question, answer, block_size)
        assert status == "ok"
        rows.append(ids + [tokenizer.eot_id] * (block_size - len(ids)))
        spans.append([prompt_len, len(ids)])
    for split in ("train", "val"):
        np.array(rows, dtype=np.uint16).tofile(os.path.join(data_dir, f"{split}.bin"))
        np.save(os.path.join(data_dir, f"{split}_spans.npy"), np.array(spans, dtype=np.int32))
        with open(os.path.join(data_dir, f"{split}.jsonl"), "w", encoding="utf-8") as f:
            for question, answer in qa:
                f.write(json.dumps({"question": question, "answer": answer}, ensure_ascii=False) + "\n")
    meta = dict(kind="sft", vocab_size=tokenizer.vocab_size, eot_id=tokenizer.eot_id, dtype="uint16",
                block_size=block_size, **tokenizer.to_meta())
    with open(os.path.join(data_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False)


@pytest.fixture
def tiny_pretrain(tmp_path):
    data_dir = str(tmp_path / "data" / "tiny")
    return data_dir, write_pretrain_dataset(data_dir)
