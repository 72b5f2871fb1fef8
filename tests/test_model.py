"""model.py and wuxia/generate.py: the masked loss, the KV cache, stopping, and clean text output."""
import math

import pytest
import torch
from torch.nn import functional as F

from model import GPT, GPTConfig
from wuxia.generate import (CUT_MARK, check_input, decoding_problem, filter_logits, generate, left_pad, new_generator,
                            next_tokens, penalize_repeats, sample_next, stream_text, trim_to_sentence)
from wuxia.tokenizer import GPT2Tokenizer, StreamDecoder


def tiny_model(vocab_size=64, block_size=32, seed=0):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(block_size=block_size, vocab_size=vocab_size, n_layer=2, n_head=2, n_embd=32))
    return model.eval()


def test_masked_loss_is_cross_entropy_over_masked_targets_only():
    model = tiny_model()
    x = torch.randint(0, 64, (2, 10))
    y = torch.randint(0, 64, (2, 10))
    mask = torch.zeros(2, 10)
    mask[0, 3:6] = 1
    mask[1, 8:] = 1
    logits, loss = model(x, y, mask)
    by_hand = []
    for row, col in mask.nonzero().tolist():
        log_probs = F.log_softmax(logits[row, col].double(), dim=-1)
        by_hand.append(-log_probs[y[row, col]].item())
    assert math.isclose(loss.item(), sum(by_hand) / len(by_hand), rel_tol=1e-5)
    # no mask: the plain mean over every target
    _, full = model(x, y)
    assert math.isclose(full.item(), F.cross_entropy(logits.view(-1, 64), y.view(-1)).item(), rel_tol=1e-5)


def test_batch_without_supervised_targets_gives_zero_not_nan():
    model = tiny_model()
    x = torch.randint(0, 64, (2, 8))
    _, loss = model(x, x, torch.zeros(2, 8))
    assert loss.item() == 0.0
    loss.backward()  # and the gradient is finite (zero)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.slow
def test_greedy_generation_with_kv_cache_equals_full_recompute():
    model = tiny_model()
    prompts = [[5, 6, 7, 8, 9], [10, 11], [12]]  # different lengths: the batch is left-padded
    with_cache, _ = generate(model, prompts, 20, eot_id=0, temperature=0, use_cache=True)
    without_cache, _ = generate(model, prompts, 20, eot_id=0, temperature=0, use_cache=False)
    one_by_one = [generate(model, [p], 20, eot_id=0, temperature=0)[0][0] for p in prompts]
    assert with_cache == without_cache == one_by_one
    assert all(len(ids) > 0 for ids in with_cache)


@pytest.mark.slow
def test_generation_longer_than_the_context_keeps_going():
    model = tiny_model(block_size=16)
    ids, stopped = generate(model, [[3, 4, 5]], 60, eot_id=63, temperature=1.0, seed=1)
    # the model is untrained, so it may stop at the end token by chance; it must not fail at position 16
    assert len(ids[0]) == 60 or stopped[0]
    ids, _ = generate(model, [[3] * 40], 5, eot_id=63, temperature=0)  # a prompt longer than the context
    assert len(ids[0]) <= 5


@pytest.mark.slow
def test_sampling_is_reproducible_for_a_seed():
    model = tiny_model()
    options = dict(temperature=1.0, top_k=10, top_p=0.9, repetition_penalty=1.2)
    a, _ = generate(model, [[1, 2, 3]] * 3, 30, eot_id=0, seed=7, **options)
    b, _ = generate(model, [[1, 2, 3]] * 3, 30, eot_id=0, seed=7, **options)
    assert a == b


def test_top_k_draws_only_among_the_k_most_likely():
    logits = torch.log(torch.tensor([[0.05, 0.5, 0.15, 0.3]])).repeat(2000, 1)
    drawn = sample_next(logits, 1.0, 2, 1.0, torch.Generator().manual_seed(0))
    assert set(drawn.tolist()) == {1, 3}
    share_of_1 = (drawn == 1).float().mean().item()  # renormalised: 0.5 / (0.5 + 0.3)
    assert abs(share_of_1 - 0.625) < 0.05


def test_filter_logits_top_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(filter_logits(logits, top_p=0.7))  # 0.5 + 0.3 reaches 0.7
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(filter_logits(logits, top_p=0.4))  # the most likely token always stays
    assert kept.tolist() == [[True, False, False, False]]


@pytest.mark.slow
def test_generation_stops_at_end_of_text():
    """A model trained on "a b <eot>" answers b after a and then stops, short of max_new_tokens."""
    model = tiny_model(vocab_size=8, block_size=16).train()
    data = torch.tensor([2, 3, 0] * 6)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(150):
        start = torch.randint(0, 3, (8,))
        x = torch.stack([data[s:s + 12] for s in start])
        y = torch.stack([data[s + 1:s + 13] for s in start])
        _, loss = model(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    ids, stopped = generate(model, [[0, 2], [0, 2]], 50, eot_id=0, temperature=0)
    assert ids == [[3], [3]] and stopped == [True, True]


@pytest.mark.slow
def test_streamed_and_decoded_text_never_contains_replacement_characters():
    """Random GPT-2 tokens include lone pieces of multi-byte characters; output must hold none of them."""
    tokenizer = GPT2Tokenizer()
    model = tiny_model(vocab_size=50304, block_size=64)
    prompt = tokenizer.encode("杨过被他掌力震伤胸膛")
    pieces = list(stream_text(model, tokenizer, prompt, 60, temperature=2.0, seed=3))
    assert pieces and all("\ufffd" not in p for p in pieces)
    assert pieces[-1] == CUT_MARK  # (seeded) no <|endoftext|> in 60 tokens: the stream says it was cut
    ids, _ = generate(model, [prompt], 60, eot_id=tokenizer.eot_id, temperature=2.0, seed=4)
    assert "\ufffd" not in tokenizer.decode(ids[0])
    # a character split across tokens comes out whole once its last byte arrives, and nothing before that
    decoder = StreamDecoder(tokenizer)
    pieces = [decoder.push(i) for i in tokenizer.encode("掌力震伤")]
    assert "".join(pieces) == "掌力震伤" and "" in pieces


def test_trim_to_sentence():
    assert trim_to_sentence("他说：“好。”然后他") == "他说：“好。”"
    assert trim_to_sentence("没有句号") == "没有句号"


def test_check_input_refuses_empty_and_overlong_questions_politely():
    tokenizer = GPT2Tokenizer()
    assert check_input(tokenizer, "郭靖是谁？", True, 64) is None
    assert "Please type a question" in check_input(tokenizer, "  ", True, 64)
    assert "the limit is 5" in check_input(tokenizer, "郭靖是谁？问", True, 64, max_input_chars=5)
    assert "shorter than the model's context, 64" in check_input(tokenizer, "郭" * 40, True, 64)
    assert check_input(tokenizer, "郭" * 40, False, 64) is None  # a continuation may slide


def test_decoding_settings_have_one_set_of_rules_and_top_p_zero_is_greedy():
    assert decoding_problem(temperature=0.0, top_k=0, top_p=0.0, repetition_penalty=1.0) is None
    assert decoding_problem(temperature=0.8, top_p=1.5) == "top_p=1.5: must be from 0 to 1"
    assert decoding_problem(temperature=-1.0) == "temperature=-1.0: must be a finite number, 0 or more"
    logits = torch.tensor([[0.1, 3.0, 2.9, -1.0]])
    kept = filter_logits(logits, temperature=0.8, top_p=0.0)
    assert torch.isfinite(kept).tolist() == [[False, True, False, False]]


def test_repetition_penalty_from_ids_equals_penalty_from_a_mask():
    """generate_tokens penalizes by the generated ids (cheap), the server by a vocabulary mask: same logits,
    repeated ids included, one penalty for all rows or one per row."""
    logits = torch.randn(2, 50)
    ids = torch.tensor([[3, 7, 3], [0, 49, 12]])
    mask = torch.zeros(2, 50, dtype=torch.bool)
    mask[torch.arange(2)[:, None], ids] = True
    for penalty in (1.3, torch.tensor([[1.5], [1.0]])):
        expected = penalize_repeats(logits, mask, penalty)
        assert torch.equal(penalize_repeats(logits, ids, penalty), expected)
        assert not torch.equal(expected, logits)
    assert torch.equal(penalize_repeats(logits, ids[:, :0], 1.3), logits)  # nothing generated yet


def test_prompts_are_left_padded_with_endoftext_and_an_empty_one_starts_from_it():
    tokens, valid = left_pad([[5, 6, 7], [8], []], eot_id=0, device="cpu")
    assert tokens.tolist() == [[5, 6, 7], [0, 0, 8], [0, 0, 0]]
    assert valid.tolist() == [[True, True, True], [False, False, True], [False, False, True]]


def test_rows_with_their_own_settings_draw_what_each_would_draw_alone():
    """The server's rows each have their settings and generator; next_tokens groups them by top_k, and each
    row must still get the token that generate_tokens' path (numbers, one generator) gives it alone."""
    # nearly flat logits: a row drawn with another row's generator would get another token
    logits = torch.randn(6, 50, generator=torch.Generator().manual_seed(0)) * 0.1
    temperature = [0.0, 0.9, 0.9, 1.3, 0.0, 0.7]
    top_k = [0, 20, 20, 0, 10, 20]
    top_p = [1.0, 0.9, 0.5, 1.0, 1.0, 0.95]
    together = next_tokens(logits, temperature, top_k, top_p, [new_generator(10 + row, "cpu") for row in range(6)])
    alone = [int(next_tokens(logits[row:row + 1], temperature[row], top_k[row], top_p[row],
                             new_generator(10 + row, "cpu"))) for row in range(6)]
    assert together.tolist() == alone
    greedy = logits.argmax(dim=-1).tolist()
    assert [together[0], together[4]] == [greedy[0], greedy[4]]
    assert any(together[row] != greedy[row] for row in (1, 2, 3, 5)), "the rows above temperature 0 are drawn"
