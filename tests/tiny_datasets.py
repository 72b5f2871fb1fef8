"""Tiny character-level datasets written straight with numpy, following the data contracts that prepare.py
and prepare_sft.py fulfil (so tests of the eval scripts do not depend on those scripts)."""
import json
import os

import numpy as np

from wuxia.sft_format import PROMPT_TEMPLATE, encode_example
from wuxia.tokenizer import CharTokenizer, tokenizer_from_meta

MASTERS = [("郭靖", "洪七公"), ("杨过", "小龙女"), ("张无忌", "张三丰"), ("令狐冲", "风清扬"), ("虚竹", "无崖子"),
           ("段誉", "枯荣大师"), ("狄云", "丁典"), ("石破天", "谢烟客"), ("袁承志", "穆人清"), ("胡斐", "赵半山")]


def qa_pairs():
    """(question, answer) pairs; the first eight for training, the last two for validation."""
    return [(f"{pupil}的师父是谁？", f"{pupil}的师父是{master}。") for pupil, master in MASTERS]


def write_pretrain(data_dir, train_texts, val_texts):
    """A pretraining dataset: documents joined with <|endoftext|> before each. Returns its meta."""
    os.makedirs(data_dir, exist_ok=True)
    tokenizer = CharTokenizer.from_texts(train_texts + val_texts + [PROMPT_TEMPLATE])
    meta = {"kind": "pretrain", **tokenizer.to_meta(), "vocab_size": tokenizer.vocab_size,
            "eot_id": tokenizer.eot_id, "dtype": "uint16", "files": [], "options": {}}
    for split, texts in (("train", train_texts), ("val", val_texts)):
        ids = [i for text in texts for i in [tokenizer.eot_id] + tokenizer.encode(text)]
        np.array(ids, dtype=np.uint16).tofile(os.path.join(data_dir, f"{split}.bin"))
        meta[f"{split}_tokens"] = len(ids)
        meta[f"{split}_chars"] = sum(len(t) for t in texts)
    with open(os.path.join(data_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False)
    return meta


def write_sft(data_dir, pretrain_meta, train_pairs, val_pairs, block_size):
    """An SFT dataset of padded rows, spans and JSON Lines records. Returns its meta."""
    os.makedirs(data_dir, exist_ok=True)
    tokenizer = tokenizer_from_meta(pretrain_meta)
    for split, pairs in (("train", train_pairs), ("val", val_pairs)):
        rows = np.full((len(pairs), block_size), tokenizer.eot_id, dtype=np.uint16)
        spans = np.zeros((len(pairs), 2), dtype=np.int32)
        with open(os.path.join(data_dir, f"{split}.jsonl"), "w", encoding="utf-8") as f:
            for row, (question, answer) in enumerate(pairs):
                ids, prompt_len, status = encode_example(tokenizer, question, answer, block_size)
                assert status == "ok", f"test data does not fit block_size {block_size}: {question}"
                rows[row, :len(ids)] = ids
                spans[row] = prompt_len, len(ids)
                f.write(json.dumps({"question": question, "answer": answer}, ensure_ascii=False) + "\n")
        rows.tofile(os.path.join(data_dir, f"{split}.bin"))
        np.save(os.path.join(data_dir, f"{split}_spans.npy"), spans)
    meta = {"kind": "sft", **tokenizer.to_meta(), "vocab_size": tokenizer.vocab_size, "eot_id": tokenizer.eot_id,
            "dtype": "uint16", "block_size": block_size, "template": PROMPT_TEMPLATE, "pretrain_data": "",
            "records": len(train_pairs) + len(val_pairs)}
    with open(os.path.join(data_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False)
    return meta


def write_random_run(out_dir, meta, data_dir, block_size=64, data_kind="sft", seed=0):
    """A run folder holding a tiny GPT with random weights (ckpt_best.pt), as train.py would save it: for
    tests of scripts that only need *a* model, not a trained one."""
    import torch

    from model import GPT, GPTConfig
    from wuxia.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    model = GPT(GPTConfig(block_size=block_size, vocab_size=meta["vocab_size"], n_layer=2, n_head=2, n_embd=32,
                          dropout=0.0))
    tokenizer = {k: meta[k] for k in tokenizer_from_meta(meta).to_meta()}
    save_checkpoint({"model": model.state_dict(), "model_args": vars(model.config), "data_kind": data_kind,
                     "tokenizer": tokenizer, "dataset": data_dir, "iter_num": 0, "best_val_loss": float("inf"),
                     "config": {}}, os.path.join(out_dir, "ckpt_best.pt"))
