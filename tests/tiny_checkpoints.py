"""Tiny random models saved as real checkpoints, for the tests of serve.py and its pages."""
import os
from dataclasses import asdict

import torch

from model import GPT, GPTConfig
from wuxia.checkpoint import BEST, save_checkpoint
from wuxia.tokenizer import CharTokenizer

VOCABULARY_TEXT = "问答：郭靖黄蓉杨过小龙女射雕英雄传。，"


def save_tiny_checkpoint(out_dir, kind="sft", seed=0, endless=False, **shape):
    """A random GPT with a character vocabulary, saved in out_dir as a `kind` ("sft" or "pretrain") run.
    endless: the model never draws <|endoftext|> or <unk> (its final LayerNorm bias points away from their
    embeddings), so every answer runs to max_tokens, one character per token: long streams for tests that
    watch them grow."""
    tokenizer = CharTokenizer.from_texts([VOCABULARY_TEXT])
    config = GPTConfig(**{"block_size": 64, "n_layer": 2, "n_head": 2, "n_embd": 32, **shape,
                          "vocab_size": tokenizer.vocab_size})
    torch.manual_seed(seed)
    model = GPT(config)
    if endless:
        with torch.no_grad():
            direction = torch.nn.functional.normalize(torch.randn(config.n_embd), dim=0)
            model.transformer.ln_f.bias.copy_(10 * direction)
            model.lm_head.weight[[tokenizer.eot_id, tokenizer.unk_id]] = -5 * direction  # <unk> shows no text
    save_checkpoint({"model": model.state_dict(), "model_args": asdict(config), "tokenizer": tokenizer.to_meta(),
                     "data_kind": kind, "dataset": "tiny", "iter_num": 0, "best_val_loss": 3.0, "config": {}},
                    os.path.join(out_dir, BEST))
    return out_dir
