"""Batches for training and evaluation, from the splits wuxia/dataset.py loads.

Every batch is a pure function of (seed, step): a resumed run draws exactly the batches the uninterrupted
run would have drawn, with no sampler state to save.
"""
import numpy as np
import torch

from wuxia.sft_format import loss_masks


TRAIN_STREAM, EVAL_STREAM, MIX_STREAM = 0, 1, 2  # separate random streams: evaluation never draws training's
                                                 # batches, and mixed-in text never shifts the SFT rows


def step_rng(seed, stream, *step):
    """A random generator for one key such as (seed, TRAIN_STREAM, iteration, micro-step, rank)."""
    return np.random.default_rng([seed, stream, *step])


def to_device(arrays, device):
    """numpy -> torch on device; pinned memory and a non-blocking copy on CUDA so the copy overlaps compute."""
    tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
    if torch.device(device).type == "cuda":
        return [t.pin_memory().to(device, non_blocking=True) for t in tensors]
    return [t.to(device) for t in tensors]


def get_batch(data, batch_size, block_size, rng, device="cpu"):
    """Random windows of block_size + 1 tokens from a pretraining split: x is a window, y the same shifted
    by one."""
    if len(data) <= block_size:
        raise SystemExit(f"the split has {len(data)} tokens, fewer than block_size+1={block_size + 1}: "
                         "use more text or a smaller block_size")
    starts = rng.integers(0, len(data) - block_size, size=batch_size)
    windows = data[starts[:, None] + np.arange(block_size + 1)].astype(np.int64)
    return to_device([windows[:, :-1], windows[:, 1:]], device)


def sft_batch(rows, spans, row_ids, device="cpu"):
    """The given rows as x, y, loss_mask, trimmed to the longest row in the batch (no compute spent on
    columns that are padding in every row). loss_mask is 1 exactly on answer tokens and the final
    <|endoftext|>."""
    row_ids = np.sort(row_ids)  # memmap reads in file order
    width = int(spans[row_ids, 1].max())
    tokens = rows[row_ids, :width].astype(np.int64)
    mask = loss_masks(spans[row_ids, 0], spans[row_ids, 1], width - 1)
    return to_device([tokens[:, :-1], tokens[:, 1:], mask], device)


def add_text_rows(batch, text, n_rows, rng):
    """An SFT batch (x, y, loss_mask; numpy or torch on one device) with n_rows windows of pretraining text
    appended, as wide as the batch and supervised on every token. Fine-tuning on a few hundred QA pairs
    alone makes a small model forget the books and memorise the answers; a share of the books' own text in
    every batch keeps it reading them."""
    x, y, mask = batch
    width = x.shape[1]
    starts = rng.integers(0, len(text) - width, size=n_rows)
    windows = torch.from_numpy(text[starts[:, None] + np.arange(width + 1)].astype(np.int64)).to(x.device)
    ones = torch.ones(n_rows, width, dtype=mask.dtype, device=mask.device)
    return torch.cat([x, windows[:, :-1]]), torch.cat([y, windows[:, 1:]]), torch.cat([mask, ones])


def get_batch_sft(rows, spans, batch_size, rng, device="cpu"):
    """Random rows (with replacement), for evaluation."""
    return sft_batch(rows, spans, rng.integers(0, len(rows), size=batch_size), device)


def length_grouped_batches(total_lens, batch_size, seed, epoch):
    """One epoch of SFT batches: rows sorted by length into batches of similar length, the batches then
    shuffled. Trimming a batch to its longest row then wastes almost nothing, where random batches of
    mixed lengths waste most of the padding again. Returns a list of row-id arrays."""
    rng = step_rng(seed, TRAIN_STREAM, epoch)
    # shuffle first so rows of equal length land in different batches each epoch
    order = rng.permutation(len(total_lens))
    order = order[np.argsort(np.asarray(total_lens)[order], kind="stable")]
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def sft_rows_for_step(total_lens, batch_size, seed, step):
    """The rows of global SFT batch number `step` (epochs follow each other; each is reshuffled)."""
    n_batches = -(-len(total_lens) // batch_size)
    epoch, index = divmod(step, n_batches)
    return length_grouped_batches(total_lens, batch_size, seed, epoch)[index]
