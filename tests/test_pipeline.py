"""The whole pipeline through the real command lines, as a user runs it, on a tiny corpus:
prepare -> pretrain -> prepare_sft -> SFT -> sample answers a training question."""
import json

import pytest

from conftest import TINY_MODEL, TINY_QA, TINY_TEXT, run

pytestmark = pytest.mark.slow  # every test here runs real training or generation


def test_prepare_pretrain_prepare_sft_finetune_and_answer(tmp_path):
    raw = tmp_path / "data" / "tiny" / "raw"
    raw.mkdir(parents=True)
    # a messy novel file: GB18030, CRLF line endings, full-width indentation, an ad on the first line
    # (its paragraphs use every character of the questions, so the char vocabulary covers them)
    paragraphs = TINY_TEXT.splitlines() + [f"有人问：{q}" for q, _ in TINY_QA] * 5
    novel = "本书由某某网站整理\r\n" + "".join(f"\u3000\u3000{line}\r\n" for line in paragraphs)
    (raw / "book.txt").write_bytes(novel.encode("gb18030"))
    with open(tmp_path / "qa.jsonl", "w", encoding="utf-8") as f:
        for question, answer in TINY_QA:
            f.write(json.dumps({"Question": question, "Answer": answer}, ensure_ascii=False) + "\n")
    with open(tmp_path / "qa_val.jsonl", "w", encoding="utf-8") as f:  # a given val split keeps all of qa.jsonl in train
        f.write(json.dumps({"question": TINY_QA[0][0], "answer": TINY_QA[0][1]}, ensure_ascii=False) + "\n")
    train = ["--batch_size=8", "--eval_iters=2", "--log_interval=50", "--warmup_iters=5", "--plot=False",
             "--device=cpu", "--num_threads=1"]

    prepared = run("prepare.py", "--dataset=tiny", "--tokenizer=char", "--drop_lines=本书由", cwd=tmp_path)
    assert "gb18030" in prepared.stdout
    run("train.py", "--dataset=tiny", "--out_dir=out/pre", *TINY_MODEL, *train, "--max_iters=60",
        "--lr_decay_iters=60", "--eval_interval=30", cwd=tmp_path)
    run("prepare_sft.py", "--dataset=sft_tiny", "--input=qa.jsonl", "--val_input=qa_val.jsonl",
        "--pretrain_data=data/tiny",
        "--block_size=64", cwd=tmp_path)
    run("train.py", "--dataset=sft_tiny", "--out_dir=out/sft", "--init_from=out/pre", *train,
        "--max_iters=200", "--lr_decay_iters=200", "--eval_interval=100", "--learning_rate=3e-3", cwd=tmp_path)
    answer = run("sample.py", "--out_dir=out/sft", "--start=段誉会什么武功？", "--temperature=0", "--num_samples=1",
                 "--max_new_tokens=30", cwd=tmp_path)
    assert "答：六脉神剑。\n" in answer.stdout  # the answer, and it stopped at <|endoftext|>
    assert "max_new_tokens reached" not in answer.stdout
    continuation = run("sample.py", "--out_dir=out/pre", "--start=郭靖", "--num_samples=2", "--max_new_tokens=20",
                       cwd=tmp_path)
    assert continuation.stdout.count("--- sample") == 2 and "\ufffd" not in continuation.stdout
