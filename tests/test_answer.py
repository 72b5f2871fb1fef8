"""answer.py through its command line: every question answered once, in order; an interrupted run resumed
without redoing the done answers; plain-text and JSON Lines inputs; answers to other questions refused."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, run
from tiny_datasets import qa_pairs, write_pretrain, write_random_run, write_sft

PUPILS = ["郭靖", "杨过", "张无忌", "令狐冲", "虚竹", "段誉", "狄云", "石破天", "袁承志", "胡斐"]
QUESTIONS = [f"{PUPILS[i % 10]}的第{i}个问题是什么？" for i in range(200)]
# a random-weight model rarely emits <|endoftext|>: each answer runs to max_new_tokens. Sampled explicitly
# (the default decoding is greedy now), so a resumed run must draw the same random numbers to match
FAST = ["--device=cpu", "--batch_size=8", "--max_new_tokens=12", "--temperature=1.0"]


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("answer")
    pairs = qa_pairs()
    meta = write_pretrain(str(tmp / "pre"), [q + a for q, a in pairs] + ["第个问题是什么0123456789"], ["郭靖"])
    write_sft(str(tmp / "sft"), meta, pairs[:8], pairs[8:], 64)
    write_random_run(str(tmp / "run"), meta, str(tmp / "sft"))
    return tmp


def write_questions(path):
    with open(path, "w", encoding="utf-8") as f:
        for i, q in enumerate(QUESTIONS):
            f.write(json.dumps({"id": f"s{i:03d}", "Question": q}, ensure_ascii=False) + "\n")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def answer(sft_run, *args):
    return run("answer.py", f"--out_dir={sft_run / 'run'}", *FAST, *args)


@pytest.fixture(scope="module")
def uninterrupted(sft_run):
    """200 questions answered in one go, sampled."""
    write_questions(sft_run / "questions.jsonl")
    result = answer(sft_run, f"--input={sft_run / 'questions.jsonl'}", f"--output={sft_run / 'full.jsonl'}")
    return read_jsonl(sft_run / "full.jsonl"), result.stdout


def test_two_hundred_questions_two_hundred_answers_in_order(uninterrupted):
    answers, stdout = uninterrupted
    assert [a["question"] for a in answers] == QUESTIONS
    assert [a["id"] for a in answers] == [f"s{i:03d}" for i in range(200)]  # other fields travel with the answer
    assert all(set(a) == {"id", "question", "answer"} and isinstance(a["answer"], str) for a in answers)
    assert len({a["answer"] for a in answers}) > 100  # sampled, not one answer repeated
    assert "200 answers in" in stdout and "quality flags:" in stdout
    assert "cut by max_new_tokens" in stdout


def test_killed_halfway_then_resumed_equals_uninterrupted(sft_run, uninterrupted):
    output = sft_run / "killed.jsonl"
    command = [sys.executable, os.path.join(ROOT, "answer.py"), f"--out_dir={sft_run / 'run'}", *FAST,
               f"--input={sft_run / 'questions.jsonl'}", f"--output={output}"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (output.exists() and output.stat().st_size > 0):  # the first chunk is written
        assert process.poll() is None and time.time() < deadline, process.stderr.read().decode()
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first_part = read_jsonl(output)
    assert 0 < len(first_part) < 200, "the run finished before it could be killed"

    result = run("answer.py", *command[2:])
    assert f"already answers {len(first_part)} of 200 questions" in result.stdout
    assert f"({200 - len(first_part)} generated now" in result.stdout  # the done ones are not redone
    assert read_jsonl(output) == uninterrupted[0]


def test_a_line_cut_by_the_interruption_is_answered_again(sft_run, uninterrupted):
    output = sft_run / "torn.jsonl"
    lines = (sft_run / "full.jsonl").read_bytes().splitlines(keepends=True)
    output.write_bytes(b"".join(lines[:32]) + lines[32][:20])  # 32 whole lines, then half of one
    result = answer(sft_run, f"--input={sft_run / 'questions.jsonl'}", f"--output={output}")
    assert "already answers 32 of 200" in result.stdout
    assert read_jsonl(output) == uninterrupted[0]
    again = answer(sft_run, f"--input={sft_run / 'questions.jsonl'}", f"--output={output}")
    assert "already answers all 200 questions" in again.stdout and "(0 generated now" in again.stdout


def test_plain_text_questions_one_per_line(sft_run):
    (sft_run / "questions.txt").write_text("郭靖的师父是谁？\n\n  杨过的师父是谁？  \n段誉会什么？\n", encoding="utf-8")
    answer(sft_run, f"--input={sft_run / 'questions.txt'}", f"--output={sft_run / 'txt_answers.jsonl'}",
           "--temperature=0")
    answers = read_jsonl(sft_run / "txt_answers.jsonl")
    assert [a["question"] for a in answers] == ["郭靖的师父是谁？", "杨过的师父是谁？", "段誉会什么？"]
    assert all(set(a) == {"question", "answer"} for a in answers)


def test_alpaca_and_other_keys(sft_run):
    records = [{"instruction": "郭靖的师父是谁？", "input": "请简答。", "output": "洪七公"}, {"prompt": "杨过是谁？"},
               {"问题": "段誉会什么？"}, {"query": "虚竹是谁？"}]
    path = sft_run / "keys.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    answer(sft_run, f"--input={path}", f"--output={sft_run / 'keys_answers.jsonl'}", "--temperature=0")
    answers = read_jsonl(sft_run / "keys_answers.jsonl")
    assert [a["question"] for a in answers] == ["郭靖的师父是谁？\n请简答。", "杨过是谁？", "段誉会什么？", "虚竹是谁？"]
    assert answers[0]["output"] == "洪七公"  # other fields kept, whatever they are


def test_a_record_without_question_is_an_error_naming_the_line(sft_run):
    path = sft_run / "bad.jsonl"
    path.write_text('{"question": "郭靖是谁？"}\n{"id": 7}\n', encoding="utf-8")
    result = run("answer.py", f"--out_dir={sft_run / 'run'}", f"--input={path}", f"--output={sft_run / 'x.jsonl'}",
                 check=False)
    assert result.returncode != 0 and f"{path}:2: no question" in result.stderr
    assert not (sft_run / "x.jsonl").exists()


def test_output_answering_other_questions_is_refused(sft_run):
    output = sft_run / "other.jsonl"
    output.write_text(json.dumps({"question": "别的问题", "answer": "别的答案"}, ensure_ascii=False) + "\n", encoding="utf-8")
    result = run("answer.py", f"--out_dir={sft_run / 'run'}", f"--input={sft_run / 'questions.txt'}",
                 f"--output={output}", check=False)
    assert result.returncode != 0 and "holds answers to other questions" in result.stderr
    assert output.read_text(encoding="utf-8").count("\n") == 1  # left as it was
