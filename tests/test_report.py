"""report.py through its command line, on tiny runs trained here: every figure the report shows exists, its
numbers are the runs' own, what a run lacks is listed (not invented), and --evaluate fills it in."""
import csv
import json
import os
import re

import pytest

from conftest import run
from test_eval_rouge import TINY
from tiny_datasets import qa_pairs, write_pretrain, write_sft
from wuxia.report import read_csv, write_report


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A pretrained and a fine-tuned tiny run; only some evaluations done, as a student's runs often are."""
    tmp = tmp_path_factory.mktemp("report")
    pairs = qa_pairs()
    pairs[8] = ("杨过和小龙女是什么关系？", "小龙女是杨过的师父。")  # the val questions: two of the four kinds
    pairs[9] = ("介绍一下胡斐。", "胡斐的师父是赵半山。")
    answers = [a for _, a in pairs]
    meta = write_pretrain(str(tmp / "pre"), answers[:8] * 3, answers[8:] * 2)
    write_sft(str(tmp / "sft"), meta, pairs[:8], pairs[8:], 32)
    # the SFT data's provenance, as prepare_sft.py and make_qa.py record it
    qa_path = str(tmp / "qa_made.jsonl")
    with open(tmp / "sft" / "meta.json", encoding="utf-8") as f:
        sft_meta = json.load(f)
    sft_meta.update(files=[{"path": qa_path, "split": "train", "records": 10, "skipped": 0}], train_rows=8, val_rows=2,
                    skipped=0, truncated=0, dropped=0, duplicates=0, options={"seed": 1337})
    (tmp / "sft" / "meta.json").write_text(json.dumps(sft_meta, ensure_ascii=False), encoding="utf-8")
    (tmp / "qa_made.make_qa.json").write_text(json.dumps(
        {"generator": "make_qa.py", "base_url": "http://127.0.0.1:9/v1", "model": "stub-model", "passages": 5, "kept": 10,
         "rejected": {"not JSON": 2}, "kinds": ["人物介绍", "情节", "人物关系", "其他"]}), encoding="utf-8")
    run("train.py", f"--out_dir={tmp / 'out_pre'}", f"--dataset={tmp / 'pre'}", "--max_iters=10", "--eval_interval=5",
        "--lr_decay_iters=10", *TINY)
    run("train.py", f"--out_dir={tmp / 'out_sft'}", f"--dataset={tmp / 'sft'}", f"--init_from={tmp / 'out_pre'}",
        "--max_iters=4", "--eval_interval=2", "--lr_decay_iters=4", "--plot=False", *TINY)
    run("eval_ppl.py", f"--out_dir={tmp / 'out_pre'}", "--device=cpu")
    run("eval_rouge.py", f"--out_dir={tmp / 'out_sft'}", "--device=cpu", "--max_new_tokens=16")
    run("eval_rouge.py", f"--out_dir={tmp / 'out_pre'}", f"--qa={tmp / 'sft' / 'val.jsonl'}", "--device=cpu",
        "--max_new_tokens=16")
    run("sample.py", f"--out_dir={tmp / 'out_pre'}", "--start=郭靖", "--num_samples=2", "--max_new_tokens=20",
        "--device=cpu")
    return tmp


def report(runs, *args):
    out = runs / "report"
    result = run("report.py", f"--out_dir={runs / 'out_pre'}", str(runs / "out_sft"), f"--output={out}", "--device=cpu",
                 *args)
    return (out / "report.md").read_text(encoding="utf-8"), result.stdout


def section(text, number):
    return re.search(rf"## {number}\. .*?(?=\n## |\Z)", text, re.S).group(0)


def test_every_figure_exists_and_every_heading_is_there(runs):
    text, stdout = report(runs)
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert set(figures) == {"loss_curves.png", "bits_per_char.png", "rouge_l.png"}
    for name in figures:
        data = (runs / "report" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5_000
    for heading in ("## 1. 数据", "## 2. SFT 数据是怎么做的", "## 3. 模型与训练设置", "## 4. 损失曲线",
                    "## 5. 困惑度与每字符比特数", "## 6. Rouge-L 与回答质量", "## 7. 生成样例", "## 8. 生成速度", "## 9. 缺失项"):
        assert heading in text
    assert "saved" in stdout


def test_numbers_come_from_the_runs(runs):
    text, _ = report(runs)
    with open(runs / "out_pre" / "ppl.csv", newline="", encoding="utf-8") as f:
        ppl = next(csv.DictReader(f))
    assert f"| {float(ppl['bits_per_char']):.4f} |" in section(text, 5)
    rouge_rows = [line for line in (runs / "out_sft" / "rouge.md").read_text(encoding="utf-8").splitlines()
                  if line.startswith("| out_sft |")]
    baseline_rows = [line for line in (runs / "out_pre" / "rouge.md").read_text(encoding="utf-8").splitlines()
                     if line.startswith("| out_pre |")]
    assert rouge_rows[0] in section(text, 6) and baseline_rows[0] in section(text, 6)  # the baseline beside it
    assert section(text, 6).count("| baseline: echo the question |") == 1  # both runs asked the same questions
    with open(runs / "out_pre" / "log.csv", newline="", encoding="utf-8") as f:
        best_val = min(float(r["val_loss"]) for r in csv.DictReader(f) if r["val_loss"])
    assert f"{best_val:.4f}" in section(text, 4)
    with open(runs / "pre" / "meta.json", encoding="utf-8") as f:
        meta = json.load(f)
    assert f"{meta['train_tokens']:,}" in section(text, 1)
    assert "`stub-model`" in section(text, 2) and "保留 10 对，拒绝 2 对（not JSON 2）" in section(text, 2)
    samples = section(text, 7)
    assert "人物关系" in samples and "杨过和小龙女是什么关系？" in samples and "介绍一下胡斐。" in samples
    assert "（验证集里没有这类问题）" in samples  # 情节 and 其他: none in this val split, said so
    predictions = [json.loads(line) for line in open(runs / "out_sft" / "rouge_predictions.jsonl", encoding="utf-8")]
    assert predictions[0]["prediction"].replace("\n", " ") in samples
    assert "郭靖" in samples  # the pretrained run's continuation from samples.txt


def test_missing_pieces_are_listed_not_invented_then_evaluate_fills_them(runs):
    text, _ = report(runs)
    missing = section(text, 9)
    assert f"python eval_ppl.py --out_dir={runs / 'out_sft'}" in missing
    assert f"python sample.py --out_dir={runs / 'out_sft'}" in missing
    assert missing.count("speed.json") == 2
    assert "out_sft |" not in section(text, 5).split("\n\n", 2)[1]  # no invented perplexity row
    assert not (runs / "out_sft" / "ppl.csv").exists()

    text, _ = report(runs, "--evaluate")
    assert "没有。" in section(text, 9)
    assert (runs / "out_sft" / "ppl.csv").exists() and (runs / "out_sft" / "samples.txt").exists()
    speed = json.loads((runs / "out_sft" / "speed.json").read_text(encoding="utf-8"))
    assert speed["new_tokens"] == 256 and speed["batch"] == 1 and speed["device"] == "cpu"
    assert f"| {speed['seconds']:.2f} |" in section(text, 8) and "50 s" in section(text, 8)


def test_read_csv_reads_back_what_write_report_wrote(tmp_path):
    """report.py reads the eval scripts' CSV tables with read_csv: the cells come back as text, a comma inside
    a cell stays in its cell."""
    rows = [{"run": "out/sft", "rouge_f": 0.5, "question": "郭靖, 黄蓉"}, {"run": "b", "rouge_f": 1, "question": ""}]
    csv_path, _ = write_report(str(tmp_path / "rouge.csv"), rows, "# Rouge-L")
    assert read_csv(csv_path) == [{"run": "out/sft", "rouge_f": "0.5", "question": "郭靖, 黄蓉"},
                                  {"run": "b", "rouge_f": "1", "question": ""}]


def test_paths_show_from_the_project_or_from_home_else_as_given(monkeypatch, tmp_path):
    from wuxia.report import PROJECT, shown_path

    home = tmp_path / "me"
    monkeypatch.setenv("HOME", str(home))
    assert shown_path(os.path.join(PROJECT, "out", "sft")) == os.path.join("out", "sft")
    assert shown_path(str(home / "novels" / "射雕英雄传.txt")) == os.path.join("~", "novels", "射雕英雄传.txt")
    assert shown_path(str(tmp_path / "me2" / "a.txt")) == str(tmp_path / "me2" / "a.txt")  # beside home, not in it
    assert shown_path(str(tmp_path / "a.txt")) == str(tmp_path / "a.txt")
    monkeypatch.setenv("HOME", "/")  # a home of / would make every path ~/...
    assert shown_path(str(tmp_path / "a.txt")) == str(tmp_path / "a.txt")


def test_the_rouge_chart_draws_a_bar_for_each_row_even_when_two_share_a_name(monkeypatch, tmp_path):
    """Two runs evaluated on the same questions both carry a row 'baseline: echo the question'."""
    from matplotlib.figure import Figure

    from wuxia.plotting import plot_bars

    saved = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, path: saved.append(figure))
    names = ["sft", "baseline: echo the question", "pretrain", "baseline: echo the question"]
    plot_bars(names, [0.4, 0.2, 0.07, 0.2], "Rouge-L F1", str(tmp_path / "rouge_l.png"))
    [axes] = saved[0].axes
    assert len({bar.get_y() for bar in axes.patches}) == 4
    assert [label.get_text() for label in axes.get_yticklabels()][::-1] == names
