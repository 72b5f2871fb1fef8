"""Perplexity of a model on a whole validation split, and the per-character measures that make models with
different tokenizers comparable.

A GPT-2-BPE model spends about one token on one or two Chinese characters, a character model exactly one,
so their perplexities per token measure different things. Per character they measure the same thing: how
many bits the model needs to encode the text.

    token perplexity = exp(NLL / tokens)     bits per character = NLL / ln 2 / chars
    char perplexity  = exp(NLL / chars) = 2 ** bits per character

where NLL is the summed negative log-likelihood (natural log) of the scored tokens.
"""
import math

import numpy as np
import torch

from wuxia.batches import sft_batch, to_device


def pretrain_windows(n_tokens, block_size, stride):
    """Windows that score every target of a split exactly once. The targets are tokens 1 .. n_tokens-1
    (token 0 has no context). Returns (window_len, [(start, n_scored), ...]): each window is
    tokens[start : start + window_len] and scores its last n_scored targets.

    Windows start at 0, stride, 2*stride, ...; each scores the targets the windows before it have not,
    so with stride = block_size they do not overlap and with a smaller stride every target after the first
    window sees at least block_size - stride tokens of context. The last window is aligned with the end of
    the split, so all windows have the same length and batch together."""
    if not 1 <= stride <= block_size:
        raise SystemExit(f"stride must be between 1 and the model's block_size ({block_size}), got {stride}")
    if n_tokens < 2:
        raise SystemExit(f"the split has {n_tokens} token(s): nothing to score")
    last_target = n_tokens - 1
    window_targets = min(block_size, last_target)
    windows, scored_until = [], 0  # targets 1 .. scored_until are scored
    start = 0
    while start + window_targets <= last_target:
        end = start + window_targets  # the window's last target
        windows.append((start, end - scored_until))
        scored_until = end
        start += stride
    if scored_until < last_target:
        windows.append((last_target - window_targets, last_target - scored_until))
    return window_targets + 1, windows


@torch.no_grad()
def pretrain_nll(model, data, stride, batch_size, device):
    """(summed NLL, scored tokens, windows) over a whole pretraining split (a 1-D array of token ids)."""
    model.eval()
    window_len, windows = pretrain_windows(len(data), model.config.block_size, stride)
    total_nll, total_tokens = 0.0, 0
    for i in range(0, len(windows), batch_size):
        batch = windows[i:i + batch_size]
        tokens = np.stack([data[start:start + window_len] for start, _ in batch]).astype(np.int64)
        mask = np.zeros((len(batch), window_len - 1), dtype=np.float32)
        for row, (_, n_scored) in enumerate(batch):
            mask[row, -n_scored:] = 1.0
        x, y, loss_mask = to_device([tokens[:, :-1], tokens[:, 1:], mask], device)
        _, mean_loss = model(x, y, loss_mask)
        n = int(mask.sum())
        total_nll += mean_loss.item() * n
        total_tokens += n
    return total_nll, total_tokens, len(windows)


@torch.no_grad()
def sft_nll(model, rows, spans, batch_size, device):
    """(summed NLL, scored tokens) over the answer tokens (the loss mask: answer and final <|endoftext|>)
    of every row of an SFT split. Rows are batched by length, so little is spent on padding."""
    model.eval()
    order = np.argsort(spans[:, 1], kind="stable")
    total_nll, total_tokens = 0.0, 0
    for i in range(0, len(order), batch_size):
        x, y, loss_mask = sft_batch(rows, spans, order[i:i + batch_size], device)
        _, mean_loss = model(x, y, loss_mask)
        n = int(loss_mask.sum().item())
        total_nll += mean_loss.item() * n
        total_tokens += n
    return total_nll, total_tokens


def sft_answer_chars(records):
    """Characters the answer tokens of an SFT split encode: each answer as it is in its row (stripped, as
    sft_format.encode_example strips it), plus one per answer for the <|endoftext|> that ends it, which the
    loss mask also scores."""
    return sum(len(r["answer"].strip()) + 1 for r in records)


def perplexity_measures(nll, tokens, chars=None):
    """The measures from a summed NLL (nats): loss (nats per token), token_ppl, and, when the character
    count is known, bits_per_char and char_ppl (else None)."""
    loss = nll / tokens
    measures = {"loss": loss, "token_ppl": math.exp(loss), "bits_per_char": None, "char_ppl": None}
    if chars:
        measures["bits_per_char"] = nll / math.log(2) / chars
        measures["char_ppl"] = math.exp(nll / chars)
    return measures
