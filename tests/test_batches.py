"""wuxia/batches.py: length-grouped, trimmed SFT batches lose nothing against rows padded to the full block,
every row is seen once per epoch, and batches are a pure function of (seed, step)."""
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from model import GPT, GPTConfig
from wuxia.batches import (get_batch, get_batch_sft, length_grouped_batches, sft_batch, sft_rows_for_step,
                           step_rng)
from wuxia.sft_format import encode_example, loss_masks
from wuxia.tokenizer import CharTokenizer

BLOCK = 48


def make_sft_rows(n_rows=37, seed=0):
    """SFT rows of many lengths (some truncated at the block), laid out by encode_example as prepare_sft.py
    does: (tokenizer, rows (N, BLOCK) padded with <|endoftext|>, spans (N, 2), answer ids per row)."""
    rng = np.random.default_rng(seed)
    chars = list("郭靖黄蓉杨过小龙女段誉乔峰虚竹令狐冲张无忌赵敏韦宝剑掌武功内力江湖师父弟子")
    pairs = []
    for _ in range(n_rows):
        question = "".join(rng.choice(chars, rng.integers(2, 8))) + "？"
        answer = "。".join("".join(rng.choice(chars, rng.integers(2, 9))) for _ in range(rng.integers(1, 7))) + "。"
        pairs.append((question, answer))
    tokenizer = CharTokenizer.from_texts([q + a for q, a in pairs] + ["问：答"])
    rows = np.full((n_rows, BLOCK), tokenizer.eot_id, dtype=np.uint16)
    spans = np.zeros((n_rows, 2), dtype=np.int32)
    answers = []
    for i, (question, answer) in enumerate(pairs):
        ids, prompt_len, status = encode_example(tokenizer, question, answer, BLOCK)
        assert status in ("ok", "truncated")
        rows[i, :len(ids)] = ids
        spans[i] = prompt_len, len(ids)
        answers.append(ids[prompt_len:])
    assert len(set(spans[:, 1].tolist())) > 10, "the test needs rows of many lengths"
    return tokenizer, rows, spans, answers


def per_row_losses(model, x, y, mask):
    """Mean cross-entropy over each row's supervised targets, and the model's own loss for the batch."""
    logits, batch_loss = model(x, y, mask)
    token_losses = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")
    return (token_losses * mask).sum(1) / mask.sum(1), batch_loss


@pytest.mark.slow
def test_grouped_trimmed_batches_give_the_same_losses_as_full_width_padding():
    _, rows, spans, _ = make_sft_rows()
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=BLOCK, vocab_size=128, dropout=0.0))
    model.eval()
    n_checked = 0
    for row_ids in length_grouped_batches(spans[:, 1], batch_size=5, seed=1, epoch=0):
        x, y, mask = sft_batch(rows, spans, row_ids)
        assert x.size(1) == spans[row_ids, 1].max() - 1 < BLOCK - 1, "a grouped batch must be trimmed"
        # the same rows, unpacked: every row at the full block, masks built for the full width
        ids = np.sort(row_ids)
        full = torch.from_numpy(rows[ids].astype(np.int64))
        full_mask = torch.from_numpy(loss_masks(spans[ids, 0], spans[ids, 1], BLOCK - 1))
        with torch.no_grad():
            trimmed_rows, trimmed_loss = per_row_losses(model, x, y, mask)
            full_rows, full_loss = per_row_losses(model, full[:, :-1], full[:, 1:], full_mask)
        torch.testing.assert_close(trimmed_rows, full_rows, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(trimmed_loss, full_loss, rtol=1e-5, atol=1e-5)
        assert mask.sum() == full_mask.sum() == (spans[ids, 1] - spans[ids, 0]).sum()
        n_checked += len(ids)
    assert n_checked == len(rows)


def test_sft_batch_supervises_exactly_the_answer_and_end_of_text():
    tokenizer, rows, spans, answers = make_sft_rows()
    row_ids = np.array([5, 2, 30, 11])
    x, y, mask = sft_batch(rows, spans, row_ids)
    for i, row in enumerate(np.sort(row_ids)):  # sft_batch returns the rows in file order
        assert y[i][mask[i] > 0].tolist() == answers[row]
        assert answers[row][-1] == tokenizer.eot_id
        assert x[i, :spans[row, 1] - 1].tolist() == rows[row, :spans[row, 1] - 1].tolist()


def test_every_row_appears_exactly_once_per_epoch_in_batches_of_similar_length():
    _, _, spans, _ = make_sft_rows()
    lengths = spans[:, 1]
    batch_size = 4
    n_batches = -(-len(lengths) // batch_size)
    for epoch in range(3):
        batches = [sft_rows_for_step(lengths, batch_size, seed=7, step=epoch * n_batches + k) for k in range(n_batches)]
        assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
        assert all(1 <= len(b) <= batch_size for b in batches)
        # similar lengths: the batches' length ranges do not overlap (they are slices of the sorted lengths)
        ranges = sorted((lengths[b].min(), lengths[b].max()) for b in batches)
        assert all(high <= next_low for (_, high), (next_low, _) in zip(ranges, ranges[1:]))
    epoch0 = [sft_rows_for_step(lengths, batch_size, 7, k).tolist() for k in range(n_batches)]
    epoch1 = [sft_rows_for_step(lengths, batch_size, 7, n_batches + k).tolist() for k in range(n_batches)]
    assert epoch0 != epoch1, "each epoch must be reshuffled"


def test_sft_rows_for_step_is_a_pure_function_of_seed_and_step():
    _, _, spans, _ = make_sft_rows()
    lengths = spans[:, 1]
    for step in (0, 3, 17):
        assert sft_rows_for_step(lengths, 4, 1337, step).tolist() == sft_rows_for_step(lengths, 4, 1337, step).tolist()
    first_epoch = [sft_rows_for_step(lengths, 4, 1337, k).tolist() for k in range(10)]
    assert first_epoch != [sft_rows_for_step(lengths, 4, 1338, k).tolist() for k in range(10)]


def test_get_batch_windows_are_shifted_by_one():
    data = np.arange(1000, dtype=np.uint16)  # each token is its own position, so windows can be checked
    x, y = get_batch(data, batch_size=8, block_size=16, rng=step_rng(1337, 0, 5))
    assert x.shape == y.shape == (8, 16) and x.dtype == y.dtype == torch.int64
    assert torch.equal(y, x + 1), "y must be x shifted by one token"
    assert torch.equal(x, x[:, :1] + torch.arange(16)), "a window must be contiguous text"
    assert int(y.max()) < len(data)
    again, _ = get_batch(data, 8, 16, step_rng(1337, 0, 5))
    assert torch.equal(x, again), "a batch must be a pure function of its random key"


def test_get_batch_sft_draws_rows_reproducibly():
    _, rows, spans, _ = make_sft_rows()
    first = get_batch_sft(rows, spans, 6, step_rng(1, 1, 0))
    second = get_batch_sft(rows, spans, 6, step_rng(1, 1, 0))
    assert all(torch.equal(a, b) for a, b in zip(first, second))
