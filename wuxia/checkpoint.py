"""Checkpoints: written atomically, read with torch.load(weights_only=True) so that a checkpoint from a
stranger can hold tensors and plain values but never code.

A checkpoint is a dict: model (state dict), optimizer (state dict, may be absent), model_args (GPTConfig
fields), tokenizer (the tokenizer's metadata), data_kind ("pretrain" or "sft"), dataset, iter_num,
best_val_loss, config (the run's settings).
"""
import os

import torch

from model import GPT, GPTConfig
from wuxia.configurator import one_of
from wuxia.tokenizer import tokenizer_from_meta

BEST, LAST = "ckpt_best.pt", "ckpt_last.pt"
CHECKPOINT_CHOICE = one_of("best", "last")  # the rule of every script's --checkpoint setting


def save_checkpoint(checkpoint, path):
    """Write to a temporary file beside the target, then rename: an interrupted write never leaves a
    half-written checkpoint under the real name."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:  # through a Python file, so a full disk is an OSError like any other
            torch.save(checkpoint, f)
        os.replace(tmp, path)
    except BaseException:  # a full disk, Ctrl-C: no half-written file is left behind
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def checkpoint_path(out_dir, which="best"):
    """out_dir's best (default) or last checkpoint; 'best' falls back to 'last' when there is no best yet."""
    best, last = os.path.join(out_dir, BEST), os.path.join(out_dir, LAST)
    if which == "last":
        candidates = [last]
    else:
        candidates = [best, last]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise SystemExit(f"no checkpoint in {out_dir!r} (looked for {', '.join(os.path.basename(c) for c in candidates)}): "
                     "train one first, e.g. python train.py config/pretrain_jinyong_cpu.py, or pass --out_dir=...")


def load_checkpoint(path, map_location="cpu"):
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise SystemExit(f"checkpoint not found: {path}")
    except Exception as e:  # truncated zip, wrong file, pickled code refused by weights_only, ...
        raise SystemExit(f"cannot read checkpoint {path}: {type(e).__name__}: {e}\n"
                         "The file is truncated, corrupt or not a wuxia-gpt checkpoint. If a run was killed while "
                         "saving, use the other checkpoint in the same folder (ckpt_best.pt / ckpt_last.pt).")


def model_from_checkpoint(checkpoint, device="cpu", dropout=None):
    """Rebuild the GPT a checkpoint holds (its shape comes from the checkpoint, not from settings)."""
    model_args = dict(checkpoint["model_args"])
    if dropout is not None:
        model_args["dropout"] = dropout
    model = GPT(GPTConfig(**model_args))
    state = {k.removeprefix("_orig_mod.").removeprefix("module."): v for k, v in checkpoint["model"].items()}
    model.load_state_dict(state)
    return model.to(device)


def load_for_inference(out_dir, device="cpu", which="best"):
    """(model in eval mode, tokenizer, checkpoint) for sampling, evaluation and chat."""
    checkpoint = load_checkpoint(checkpoint_path(out_dir, which), map_location=device)
    model = model_from_checkpoint(checkpoint, device)
    model.eval()
    return model, tokenizer_from_meta(checkpoint["tokenizer"]), checkpoint
