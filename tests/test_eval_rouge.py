"""eval_rouge.py end to end through its command line: a tiny checkpoint trained by train.py on tiny datasets
made here, a hand-built one that shows its prompt, and scoring a predictions file without a model."""
import csv
import json
import os
import subprocess
import sys

import pytest
import torch

from model import GPT, GPTConfig
from tiny_datasets import qa_pairs, write_pretrain, write_sft
from wuxia.checkpoint import save_checkpoint
from wuxia.rouge import rouge_l

pytestmark = pytest.mark.slow  # every test here runs real training or generation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--n_layer=2", "--n_head=2", "--n_embd=32", "--block_size=32", "--dropout=0.0", "--batch_size=4",
        "--eval_iters=2", "--log_interval=5", "--warmup_iters=2", "--device=cpu"]


def run(script, *args):
    result = subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A pretrained and a fine-tuned tiny run (a few iterations each: the mechanics matter here, not quality)."""
    tmp = tmp_path_factory.mktemp("eval_rouge")
    pairs = qa_pairs()
    answers = [a for _, a in pairs]
    meta = write_pretrain(str(tmp / "pre"), answers[:8] * 3, answers[8:] * 2)
    write_sft(str(tmp / "sft"), meta, pairs[:8], pairs[8:], 32)
    run("train.py", f"--out_dir={tmp / 'out_pre'}", f"--dataset={tmp / 'pre'}", "--max_iters=10", "--eval_interval=5",
        "--lr_decay_iters=10", *TINY)
    run("train.py", f"--out_dir={tmp / 'out_sft'}", f"--dataset={tmp / 'sft'}", f"--init_from={tmp / 'out_pre'}",
        "--max_iters=4", "--eval_interval=2", "--lr_decay_iters=4", "--plot=False", *TINY)
    return tmp


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_sft_run_on_its_own_val_questions(runs):
    summary = json.loads(run("eval_rouge.py", f"--out_dir={runs / 'out_sft'}", "--print_json", "--device=cpu",
                             "--temperature=0", "--repetition_penalty=1.0"))
    with open(runs / "sft" / "val.jsonl", encoding="utf-8") as f:
        val = [json.loads(line) for line in f]
    assert summary["questions"] == len(val) == 2
    assert summary["settings"]["qa"] == os.path.join(str(runs / "sft"), "val.jsonl")
    assert summary["settings"]["decoding"] == "greedy"
    assert summary["settings"]["open_book"] == "off (a closed-book run)"  # tests/test_open_book.py: open-book runs
    # the baselines are scored on the same questions; the constant is an answer of the training set
    train_answers = [json.loads(line)["answer"] for line in open(runs / "sft" / "train.jsonl", encoding="utf-8")]
    assert summary["baselines"]["constant"]["answer"] in train_answers
    assert summary["baselines"]["echo"]["rouge_l_f"] == pytest.approx(
        sum(rouge_l(v["question"], v["answer"])["f"] for v in val) / len(val))
    rows = read_csv(summary["csv"])
    assert [r["question"] for r in rows] == [r["question"] for r in val]
    assert [r["reference"] for r in rows] == [r["answer"] for r in val]
    for r in rows:  # the CSV's scores are Rouge-L of its own prediction and reference
        assert float(r["rouge_f"]) == pytest.approx(rouge_l(r["prediction"], r["reference"])["f"])
        assert r["stopped"] in ("True", "False")
    assert summary["rouge_l_f"] == pytest.approx(sum(float(r["rouge_f"]) for r in rows) / len(rows))
    assert os.path.isfile(summary["markdown"])
    with open(runs / "out_sft" / "rouge_predictions.jsonl", encoding="utf-8") as f:
        predictions = [json.loads(line) for line in f]
    assert [p["prediction"] for p in predictions] == [r["prediction"] for r in rows]


def echo_run(out_dir, data_dir, meta):
    """A hand-built pretrained checkpoint that repeats its input's last token forever: every block adds
    nothing (all weights zero) and the embeddings are one-hot, so the logits are the last token's one-hot
    vector after LayerNorm."""
    model = GPT(GPTConfig(block_size=32, vocab_size=128, n_layer=2, n_head=2, n_embd=128, dropout=0.0))
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    with torch.no_grad():
        model.transformer.wte.weight.copy_(torch.eye(128))  # tied with lm_head
        model.transformer.ln_f.weight.fill_(1.0)
    save_checkpoint({"model": model.state_dict(), "model_args": vars(model.config), "data_kind": "pretrain",
                     "tokenizer": {k: meta[k] for k in ("tokenizer", "chars")}, "dataset": data_dir,
                     "iter_num": 0, "best_val_loss": float("inf"), "config": {}}, os.path.join(out_dir, "ckpt_best.pt"))


def test_a_pretrained_baseline_is_asked_in_the_sft_template(runs):
    """The SFT prompt 问：...\n答： ends in ：, the bare question in ？: an echo model shows which it was given."""
    with open(runs / "pre" / "meta.json", encoding="utf-8") as f:
        meta = json.load(f)
    echo_run(str(runs / "echo"), str(runs / "pre"), meta)
    out = run("eval_rouge.py", f"--out_dir={runs / 'echo'}", f"--qa={runs / 'sft' / 'val.jsonl'}", "--max_new_tokens=5",
              "--device=cpu")
    assert "| echo | 2 |" in out
    with open(runs / "echo" / "rouge_predictions.jsonl", encoding="utf-8") as f:
        predictions = [json.loads(line) for line in f]
    assert [p["prediction"] for p in predictions] == ["：" * 5] * 2
    assert [p["stopped"] for p in predictions] == [False, False]


def test_training_leaves_a_loss_plot(runs):
    assert os.path.getsize(runs / "out_pre" / "loss.png") > 10_000  # train.py calls wuxia.plotting.plot_runs


def test_pretraining_dataset_has_no_questions(runs):
    result = subprocess.run([sys.executable, "eval_rouge.py", f"--out_dir={runs / 'out_pre'}", "--device=cpu"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0 and "--qa=" in result.stderr


def test_scores_a_predictions_file_without_a_model(tmp_path):
    records = [
        {"question": "q1", "prediction": "郭靖的师父是洪七公。", "reference": "郭靖的师父是洪七公", "stopped": True},
        {"Prediction": "虚竹和西夏公主和西夏公主和西夏公主", "Reference": "虚竹娶了西夏公主。", "stopped": False},
        {"prediction": "", "reference": "杨过"},
        {"prediction": "张无忌\ufffd", "reference": "张无忌"},
    ]
    path = tmp_path / "other_system.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    summary = json.loads(run("eval_rouge.py", f"--pred={path}", "--print_json"))
    assert summary["questions"] == 4
    expected_f = [1.0, rouge_l(records[1]["Prediction"], records[1]["Reference"])["f"], 0.0, 1.0]
    assert summary["rouge_l_f"] == pytest.approx(sum(expected_f) / 4)
    assert summary["exact"] == 0.25
    assert summary["loop"] == 0.25 and summary["empty"] == 0.25 and summary["garbled"] == 0.25
    assert summary["stopped"] == 0.5  # known for the first two only
    assert summary["clean"] == 0.25
    # baselines on the same questions: echo (three records have a question: the others echo "") and a constant
    assert summary["baselines"]["echo"]["rouge_l_f"] == pytest.approx(
        sum(rouge_l(r.get("question", ""), r.get("reference", r.get("Reference")))["f"] for r in records) / 4)
    assert "constant" not in summary["baselines"]  # no training set to learn it from, and none given
    assert summary["csv"] == str(tmp_path / "other_system_rouge.csv")
    assert len(read_csv(summary["csv"])) == 4


def test_bad_predictions_file_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prediction": "a", "reference": "b"}\n{"prediction": "a"}\n', encoding="utf-8")
    result = subprocess.run([sys.executable, "eval_rouge.py", f"--pred={path}"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert f"{path}, line 2: no 'reference' field" in result.stderr
