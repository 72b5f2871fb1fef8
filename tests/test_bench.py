"""The bench scripts run end to end on a tiny setting, so they cannot rot (no timing is checked)."""
import json
import re

import pytest

from conftest import run
from wuxia.device import precision

pytestmark = pytest.mark.slow  # every test here runs real training or generation

ONE_THREAD = ["--num_threads=1", "--device=cpu"]


def table_rows(stdout, header_start):
    """The data rows of the Markdown table whose header row starts with header_start."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    assert re.fullmatch(r"\|(---\|)+", lines[start + 1]), f"no Markdown separator under the header:\n{stdout}"
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def number(cell):
    return float(re.match(r"[\d,.]+", cell)[0].replace(",", ""))


def test_bench_train_tiny():
    stdout = run("bench/bench_train.py", "--tiny", *ONE_THREAD, timeout=300).stdout
    eager, compiled = table_rows(stdout, "| step | compile | ms/iter | tokens/s")
    dtype = precision("cpu")[0]  # bfloat16 where the CPU has it natively
    assert eager[0] == f"eager, {dtype}" and compiled[0] == f"compiled, {dtype}"
    assert eager[1] == "-" and number(compiled[1]) >= 0 and eager[4] == "1.00x"
    assert all(number(row[2]) > 0 and number(row[3]) > 0 and row[8] == "- (CPU)" for row in (eager, compiled))
    phases = table_rows(stdout, "| step | batch | forward | backward")
    assert [row[0] for row in phases] == ["eager", "compiled"] and all(number(cell) >= 0 for cell in phases[0][1:])
    assert "bench_train on" in stdout and "native bfloat16 matmuls:" in stdout


def test_bench_sft_tiny_generated_and_from_a_qa_file(tmp_path):
    stdout = run("bench/bench_sft.py", "--tiny", *ONE_THREAD, timeout=120).stdout
    rows = table_rows(stdout, "| batching | tokens computed per epoch")
    assert [r[0] for r in rows] == ["padded to the block", "random batches, trimmed to longest row",
                                    "length-grouped, trimmed (ours)"]
    padded, trimmed, grouped = (number(r[1]) for r in rows)
    assert grouped < trimmed < padded, "grouping must compute fewer tokens than random trimming and padding"
    assert "ideal speed-up = rows x 64" in stdout

    qa = tmp_path / "qa.jsonl"
    records = [{"question": f"第{i}个问题是什么？", "answer": "郭靖和黄蓉在桃花岛上练武。" * (1 + i % 5)} for i in range(12)]
    qa.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    stdout = run("bench/bench_sft.py", "--tiny", f"--qa={qa}", *ONE_THREAD, timeout=120).stdout
    assert f"data: {qa}" in stdout and "12 rows" in stdout
    assert len(table_rows(stdout, "| batching |")) == 3


def test_bench_sft_names_the_bad_line_of_a_qa_file(tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"question": "谁？", "answer": "他。"}\n{"question": "缺答案"}\n', encoding="utf-8")
    result = run("bench/bench_sft.py", "--tiny", f"--qa={qa}", *ONE_THREAD, check=False, timeout=120)
    assert result.returncode != 0 and f"{qa}:2" in result.stderr


def test_bench_sample_tiny():
    stdout = run("bench/bench_sample.py", "--tiny", *ONE_THREAD, timeout=240).stdout
    rows = table_rows(stdout, "| batch | weights | sampler |")
    expected = []
    for batch in ("1", "10"):
        expected += [(batch, "float32", "KV cache"), (batch, "float32", "full recompute"),
                     (batch, "float16", "KV cache"), (batch, "int8", "KV cache"), (batch, "auto (int8)", "KV cache")]
    assert [(r[0], r[1], r[2]) for r in rows] == expected
    assert all(number(r[4]) > 0 and number(r[5]) > 50 for r in rows)  # tokens/s; resident MB (PyTorch alone is more)
    assert "RANDOM weights" in stdout


def test_bench_prepare_small():
    stdout = run("bench/bench_prepare.py", "--size_mb=0.3", "--repeats=1", timeout=120).stdout
    assert len(table_rows(stdout, "| method | seconds |")) >= 2


def test_bench_serve_tiny():
    pytest.importorskip("gradio", reason="serve.py needs the web requirements: pip install -r requirements-chat.txt")
    stdout = run("bench/bench_serve.py", "--tiny", timeout=300).stdout
    rows = table_rows(stdout, "| clients | requests | tokens |")
    assert [r[0] for r in rows] == ["1 concurrent", "4 concurrent", "4 sequential"]
    # up to 8 tokens per request (a random model may draw <|endoftext|> sooner)
    assert all(0 < number(r[2]) <= 8 * number(r[1]) for r in rows)
    assert all(number(r[3]) > 0 and number(r[6]) >= number(r[5]) > 0 for r in rows)
    assert "RANDOM weights" in stdout


@pytest.fixture(scope="module")
def recipe_runs(tmp_path_factory):
    """A tiny pretraining dataset and run, and an SFT dataset made for it, as the recipe's sweeps take them."""
    from conftest import TINY_MODEL, TINY_QA, write_pretrain_dataset
    tmp = tmp_path_factory.mktemp("recipe")
    write_pretrain_dataset(str(tmp / "pre"))
    qa = tmp / "qa.jsonl"
    qa.write_text("".join(json.dumps({"question": f"{q}（{i}）", "answer": a}, ensure_ascii=False) + "\n"
                          for i in range(3) for q, a in TINY_QA), encoding="utf-8")
    run("prepare_sft.py", f"--dataset={tmp / 'sft'}", f"--input={qa}", f"--pretrain_data={tmp / 'pre'}", "--block_size=64",
        "--val_fraction=0.25")
    run("train.py", f"--dataset={tmp / 'pre'}", f"--out_dir={tmp / 'out_pre'}", *TINY_MODEL, "--max_iters=4",
        "--lr_decay_iters=4", "--eval_interval=2", "--eval_iters=2", "--batch_size=4", "--plot=False", "--device=cpu")
    return tmp


@pytest.mark.slow
def test_sweep_pretrain_tiny(recipe_runs):
    out = recipe_runs / "sweep"
    stdout = run("bench/sweep_pretrain.py", "--tiny", f"--dataset={recipe_runs / 'pre'}", f"--out_root={out}",
                 "--parallel=2", "--device=cpu", timeout=600).stdout
    rows = table_rows(stdout, "| candidate | settings |")
    assert [r[0] for r in rows] == ["tiny_gpt2", "tiny_llama"]
    assert all(number(r[2]) > 0 and number(r[5]) > 0 for r in rows)  # CPU ms/iter, bits/char
    assert {r["name"] for r in json.loads((out / "sweep.json").read_text())} == {"tiny_gpt2", "tiny_llama"}


def test_bench_decode_ppl_tiny(recipe_runs):
    from wuxia.int8 import fbgemm_supported, int8_supported
    stdout = run("bench/bench_decode_ppl.py", f"--out_dir={recipe_runs / 'out_pre'}", "--windows=2",
                 "--window_tokens=8", "--num_threads=1", timeout=120).stdout
    rows = table_rows(stdout, "| weights | token perplexity, decoded |")
    names = ["float32", "float16"] + ["int8, weight-only kernel"] * int8_supported() \
        + ["int8, one row through fbgemm (--dtype=auto)"] * fbgemm_supported()
    assert [r[0] for r in rows] == names
    assert all(number(r[1]) > 1 for r in rows) and rows[0][2] == "" and all(r[2].endswith("%") for r in rows[1:])


@pytest.mark.slow
def test_sweep_sft_and_bench_quality_tiny(recipe_runs):
    out = recipe_runs / "sweep_sft"
    stdout = run("bench/sweep_sft.py", "--tiny", f"--dataset={recipe_runs / 'sft'}", f"--init_from={recipe_runs / 'out_pre'}",
                 f"--out_root={out}", "--parallel=2", "--device=cpu", timeout=900).stdout
    assert "fine-tuning candidates" in stdout and "decodings, on the best candidate" in stdout
    results = json.loads((out / "sweep_sft.json").read_text(encoding="utf-8"))
    assert set(results["candidates"]) == {"tiny_a", "tiny_b"} and results["chosen"] in results["candidates"]
    assert set(results["decodings"]) == {"greedy", "greedy_rp1.2"}
    assert all(c["val"]["baselines"]["echo"]["rouge_l_f"] > 0 for c in results["candidates"].values())

    quality = run("bench/bench_quality.py", f"--pretrained={recipe_runs / 'out_pre'}",
                  f"--finetuned={out / results['chosen']}", f"--qa={recipe_runs / 'sft' / 'val.jsonl'}",
                  "--limit=3", "--device=cpu", timeout=600).stdout
    assert "bits per character" in quality
    assert re.search(r"probe \(data/eval/jinyong_probe.jsonl\): \d+ of 3 short questions", quality)
    rows = table_rows(quality, "| run | questions |")
    assert [r[0].startswith("baseline: echo") for r in rows].count(True) == 2  # one per question set
