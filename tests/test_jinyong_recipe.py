"""The Jin Yong CPU recipe (jinyong.sh, `make jinyong`) end to end through its real command line, on a tiny
corpus and a tiny model: every step runs, in order, and leaves what the next step and the user need."""
import json
import os
import subprocess
import sys

import torch

from conftest import ROOT, TINY_QA, TINY_TEXT


def run_recipe(tmp_path, **env_settings):
    """jinyong.sh on two tiny books (one GB18030 with CRLF) with a tiny model; returns the finished process."""
    novels = tmp_path / "novels"
    novels.mkdir()
    # two books, one in GB18030 with CRLF: the recipe reads what users have
    (novels / "book1.txt").write_text(TINY_TEXT, encoding="utf-8")
    paragraphs = [f"有人问：{q}答：{a}" for q, a in TINY_QA] * 20
    (novels / "book2.txt").write_bytes("\r\n".join(paragraphs).encode("gb18030"))
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"question": q, "answer": a}, ensure_ascii=False) + "\n" for q, a in TINY_QA * 3),
                  encoding="utf-8")
    tiny = "--n_layer=1 --n_head=2 --n_embd=32 --block_size=64 --batch_size=4 --eval_iters=2 --eval_interval=3 --num_threads=1"
    env = dict(os.environ, PYTHON=sys.executable, QA=str(qa), SFT_BLOCK="64",
               PRETRAIN_ARGS=f"{tiny} --max_iters=6 --lr_decay_iters=6 --warmup_iters=1 --plot=False",
               SFT_ARGS="--max_iters=4 --lr_decay_iters=4 --warmup_iters=1 --eval_interval=2 --num_threads=1 --plot=False "
                        "--pretrain_mix=0.5",
               EVAL_ARGS="--max_new_tokens=8", SAMPLE_ARGS="--max_new_tokens=8", **env_settings)
    result = subprocess.run(["bash", os.path.join(ROOT, "jinyong.sh"), str(novels)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_recipe_runs_every_step_on_a_tiny_corpus(tmp_path):
    result = run_recipe(tmp_path)
    steps = [line for line in result.stdout.splitlines() if line.startswith("=== [")]
    assert [s.split("] ")[1][:3] for s in steps[:6]] == ["1/6", "2/6", "3/6", "4/6", "5/6", "6/6"]
    assert "gb18030" in result.stdout
    assert "rows of data/jinyong_char text in every batch" in result.stdout  # pretrain_mix reached train.py
    for path in ["out/pretrain_jinyong_cpu/ckpt_best.pt", "out/sft_cpu/ckpt_best.pt", "out/pretrain_jinyong_cpu/ppl.md",
                 "out/sft_cpu/rouge.md", "out/sft_cpu/samples.txt"]:
        assert (tmp_path / path).is_file(), path
    rouge = (tmp_path / "out/sft_cpu/rouge.md").read_text(encoding="utf-8")
    assert "baseline: echo the question" in rouge and "baseline: constant answer" in rouge


def test_recipe_open_book_indexes_the_novels_and_answers_with_their_passages(tmp_path):
    result = run_recipe(tmp_path, OPEN_BOOK="1", OPEN_BOOK_ARGS="--retrieve_k=2 --retrieve_chars=10")
    assert "index their passages" in result.stdout and "open book: 2 passages" in result.stdout
    assert (tmp_path / "data/jinyong_index/index.json").is_file()
    checkpoint = torch.load(tmp_path / "out/sft_cpu/ckpt_best.pt", map_location="cpu", weights_only=True)
    assert checkpoint["retrieval"]["index"] == str(tmp_path / "data/jinyong_index")
    samples = (tmp_path / "out/sft_cpu/samples.txt").read_text(encoding="utf-8")
    assert "《book" in samples  # the passages read are shown with the answers


def test_recipe_says_what_to_do_without_novels(tmp_path):
    result = subprocess.run(["bash", os.path.join(ROOT, "jinyong.sh"), str(tmp_path / "missing")], cwd=tmp_path,
                            env=dict(os.environ, PYTHON=sys.executable), capture_output=True, text=True)
    assert result.returncode == 2
    assert "data/jinyong/raw/" in result.stderr and not (tmp_path / "out").exists()
