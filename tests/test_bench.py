"""The bench scripts run end to end on a tiny setting, so they cannot rot (no timing is checked)."""
import json
import re

from conftest import run

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
    stdout = run("bench/bench_train.py", "--tiny", *ONE_THREAD, timeout=120).stdout
    [row] = table_rows(stdout, "| device, dtype | tokens/iter | ms/iter | tokens/s")
    assert row[0] == "cpu, float32" and row[1] == "128"
    assert number(row[2]) > 0 and number(row[3]) > 0 and row[8] == "- (CPU)"
    assert "bench_train on" in stdout


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
    assert all(number(r[3]) > 0 and number(r[5]) > 50 for r in rows)  # seconds; resident MB (PyTorch alone is more)
    assert "RANDOM weights" in stdout


def test_bench_prepare_small():
    stdout = run("bench/bench_prepare.py", "--size_mb=0.3", "--repeats=1", timeout=120).stdout
    assert len(table_rows(stdout, "| method | seconds |")) >= 2
