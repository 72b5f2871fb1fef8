"""eval_ppl.py and wuxia/perplexity.py: perplexity equals exp(mean cross-entropy) computed by hand, token by
token, on a tiny model; bits per character on a model whose every prediction is exactly uniform."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from model import GPT, GPTConfig
from tiny_datasets import qa_pairs, write_pretrain, write_sft
from wuxia.checkpoint import save_checkpoint
from wuxia.perplexity import perplexity_measures, pretrain_nll, pretrain_windows, sft_nll

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = 32


def tiny_model(vocab_size=64):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=BLOCK, vocab_size=vocab_size, n_layer=2, n_head=2, n_embd=32, dropout=0.0))
    return model.eval()


def next_token_nll(model, context, target):
    """-log p(target | context), from the logits of the context's last position, in float64."""
    logits, _ = model(torch.tensor([context]))
    return -F.log_softmax(logits[0, -1].double(), dim=-1)[target].item()


@pytest.mark.parametrize("n_tokens", [2, 3, BLOCK, BLOCK + 1, BLOCK + 2, 2 * BLOCK + 7, 3 * BLOCK + 1])
@pytest.mark.parametrize("stride", [1, 5, BLOCK])
def test_windows_score_every_target_exactly_once(n_tokens, stride):
    window_len, windows = pretrain_windows(n_tokens, BLOCK, stride)
    assert window_len == min(BLOCK, n_tokens - 1) + 1
    times_scored = np.zeros(n_tokens, dtype=int)
    for start, n_scored in windows:
        assert 0 <= start and start + window_len <= n_tokens and 1 <= n_scored <= window_len - 1
        times_scored[start + window_len - n_scored:start + window_len] += 1
    assert times_scored[0] == 0 and (times_scored[1:] == 1).all()


def test_pretrain_ppl_non_overlapping_windows_by_hand():
    model = tiny_model()
    data = np.random.default_rng(1).integers(0, 64, size=3 * BLOCK + 1).astype(np.uint16)  # 3 whole windows
    nll, tokens, n_windows = pretrain_nll(model, data, BLOCK, batch_size=2, device="cpu")
    by_hand = []
    for w in range(3):  # each window's tokens predict the next ones, from the window's own start
        window = torch.tensor(data[w * BLOCK:(w + 1) * BLOCK + 1].astype(np.int64))
        logits, _ = model(window[None, :-1], window[None, 1:])  # with targets: the logits of every position
        log_probs = F.log_softmax(logits[0].double(), dim=-1)
        by_hand += [-log_probs[j, window[j + 1]].item() for j in range(BLOCK)]
    assert (tokens, n_windows) == (3 * BLOCK, 3)
    assert math.exp(nll / tokens) == pytest.approx(math.exp(np.mean(by_hand)), rel=1e-5)


def test_pretrain_ppl_stride_one_is_full_context_by_hand():
    model = tiny_model()
    data = np.random.default_rng(2).integers(0, 64, size=41).astype(np.uint16)
    nll, tokens, _ = pretrain_nll(model, data, 1, batch_size=8, device="cpu")
    # with stride 1 every token is predicted from the block_size tokens before it (or all, near the start)
    by_hand = [next_token_nll(model, data[max(0, t - BLOCK):t].tolist(), int(data[t])) for t in range(1, len(data))]
    assert tokens == len(data) - 1
    assert nll == pytest.approx(sum(by_hand), rel=1e-5)


def test_sft_ppl_counts_answer_tokens_only_by_hand():
    model = tiny_model()
    rng = np.random.default_rng(3)
    spans = np.array([[5, 9], [3, 16], [7, 8], [4, 12], [6, 14]], dtype=np.int32)  # [prompt_len, total_len]
    rows = rng.integers(1, 64, size=(len(spans), BLOCK)).astype(np.uint16)
    for row, (_, total_len) in zip(rows, spans):
        row[total_len - 1:] = 0  # <|endoftext|> ends the answer, then padding
    nll, tokens = sft_nll(model, rows, spans, batch_size=2, device="cpu")
    by_hand = [next_token_nll(model, row[:t].tolist(), int(row[t]))
               for row, (prompt_len, total_len) in zip(rows, spans) for t in range(prompt_len, total_len)]
    assert tokens == sum(total - prompt for prompt, total in spans) == len(by_hand)
    assert math.exp(nll / tokens) == pytest.approx(math.exp(np.mean(by_hand)), rel=1e-5)


def test_measures_hand_built():
    # ten tokens of probability 1/4 each (NLL 10 ln 4 = 20 bits) spelling five characters: 4 bits per
    # character, per-character perplexity 2^4 = 16, per-token perplexity 4
    m = perplexity_measures(10 * math.log(4), tokens=10, chars=5)
    assert m["loss"] == pytest.approx(math.log(4))
    assert m["token_ppl"] == pytest.approx(4.0)
    assert m["bits_per_char"] == pytest.approx(4.0)
    assert m["char_ppl"] == pytest.approx(16.0)
    assert perplexity_measures(1.0, tokens=1)["bits_per_char"] is None


def uniform_run(out_dir, data_dir, meta):
    """A checkpoint whose weights are all zero: every logit is 0, so every prediction is uniform over the
    128 token ids, each token costs exactly log2(128) = 7 bits."""
    assert meta["vocab_size"] <= 128
    model = tiny_model(vocab_size=128)
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    save_checkpoint({"model": model.state_dict(), "model_args": vars(model.config), "data_kind": meta["kind"],
                     "tokenizer": {k: meta[k] for k in ("tokenizer", "chars")}, "dataset": data_dir,
                     "iter_num": 0, "best_val_loss": float("inf"), "config": {}}, os.path.join(out_dir, "ckpt_best.pt"))


@pytest.mark.slow
def test_cli_bits_per_char_of_a_uniform_model(tmp_path):
    pairs = qa_pairs()
    pretrain_meta = write_pretrain(str(tmp_path / "pre"), [a for _, a in pairs[:8]], [a for _, a in pairs[8:]])
    write_sft(str(tmp_path / "sft"), pretrain_meta, pairs[:8], pairs[8:], BLOCK)
    uniform_run(str(tmp_path / "run_pre"), str(tmp_path / "pre"), pretrain_meta)
    uniform_run(str(tmp_path / "run_sft"), str(tmp_path / "sft"), pretrain_meta)

    result = subprocess.run([sys.executable, "eval_ppl.py", f"--out_dir={tmp_path / 'run_pre'}", str(tmp_path / "run_sft"),
                             "--print_json", "--device=cpu"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    pre, sft = report["runs"]
    # pretraining: every val token but the first is scored; characters are meta's val_chars
    assert pre["tokens"] == pretrain_meta["val_tokens"] - 1 and pre["chars"] == pretrain_meta["val_chars"]
    assert pre["token_ppl"] == pytest.approx(128.0, rel=1e-5)
    assert pre["bits_per_char"] == pytest.approx(7.0 * pre["tokens"] / pre["chars"], rel=1e-5)
    # SFT with a char tokenizer: one token per answer character plus <|endoftext|>, one char counted for it
    answers = [a for _, a in pairs[8:]]
    assert sft["tokens"] == sft["chars"] == sum(len(a) + 1 for a in answers)
    assert sft["bits_per_char"] == pytest.approx(7.0, rel=1e-5)
    assert sft["char_ppl"] == pytest.approx(128.0, rel=1e-5)
    with open(report["csv"]) as f:
        assert len(f.read().strip().splitlines()) == 3  # header and two runs
    assert report["csv"] == str(tmp_path / "run_pre" / "ppl.csv")


@pytest.mark.slow
def test_cli_rejects_a_dataset_of_another_tokenizer(tmp_path):
    pairs = qa_pairs()
    meta = write_pretrain(str(tmp_path / "pre"), [a for _, a in pairs[:8]], [a for _, a in pairs[8:]])
    write_pretrain(str(tmp_path / "other"), ["完全不同的文字"], ["另一套字表"])
    uniform_run(str(tmp_path / "run"), str(tmp_path / "pre"), meta)
    result = subprocess.run([sys.executable, "eval_ppl.py", f"--out_dir={tmp_path / 'run'}",
                             f"--dataset={tmp_path / 'other'}", "--device=cpu"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0 and "different character vocabulary" in result.stderr
