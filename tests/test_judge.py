"""judge.py through its command line, against the stub endpoint of tests/openai_stub.py: scores and their
summary, malformed replies asked again and then recorded as unparsed (never guessed), server errors retried,
a failing endpoint resumed, a second run that costs nothing, the rate limit, the baselines, answer.py's output
with its references, the key never shown; the strict parser and the rank correlation of wuxia/judging.py;
and one run against the project's own serve.py (plumbing, not quality)."""
import json
import os

import pytest

import openai_stub
from conftest import run
from tiny_datasets import write_pretrain, write_random_run
from wuxia.judging import MAX_SCORE, build_prompt, parse_judgement, spearman

SECRET = "sk-test-5ecret-DO-NOT-SHOW-0042"
ANSWERS = [  # the stub gives 5 to an answer equal to its reference, 0 to an empty one, else 2
    {"question": "郭靖的师父是谁？", "reference": "洪七公", "prediction": "洪七公"},
    {"question": "杨过的妻子是谁？", "reference": "小龙女", "prediction": "小龙女"},
    {"question": "段誉会什么武功？", "reference": "六脉神剑", "prediction": ""},
    {"question": "乔峰是哪个帮的帮主？", "reference": "丐帮", "prediction": "少林派的大弟子"},
]


@pytest.fixture
def stub():
    server = openai_stub.start()
    yield server
    server.shutdown()


@pytest.fixture
def pred(tmp_path):
    path = tmp_path / "rouge_predictions.jsonl"
    path.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in ANSWERS), encoding="utf-8")
    return path


def judge(pred, server, *args, check=True):
    env = dict(os.environ, WUXIA_TEST_KEY=SECRET)
    return run("judge.py", f"--pred={pred}", f"--base_url={server.base_url}", "--model=stub-judge",
               "--api_key_env=WUXIA_TEST_KEY", "--requests_per_minute=6000", "--backoff_seconds=0.01", "--print_json",
               *args, check=check, env=env)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_scores_are_summarized_overall_per_kind_and_against_rouge_l(pred, stub):
    result = judge(pred, stub)
    summary = json.loads(result.stdout)
    assert summary["answers"] == 4 and summary["judged"] == 4 and summary["unparsed"] == 0
    assert summary["mean_score"] == (5 + 5 + 0 + 2) / 4 and summary["max_score"] == MAX_SCORE
    assert summary["spearman_rouge_l"] == pytest.approx(spearman([5, 5, 0, 2], [1.0, 1.0, 0.0, 0.0]))
    assert sum(k["answers"] for k in summary["by_kind"].values()) == 4
    assert len(stub.requests) == 4
    _, headers, body = stub.requests[0]
    assert headers["Authorization"] == f"Bearer {SECRET}" and body["model"] == "stub-judge"
    assert body["messages"][0]["content"] == build_prompt(*ANSWERS[0].values())
    judged = read_jsonl(pred.parent / "rouge_predictions_judged.jsonl")
    assert [r["score"] for r in judged] == [5, 5, 0, 2] and all(r["reason"] for r in judged)
    written = "".join(p.read_text(encoding="utf-8") for p in pred.parent.iterdir())
    assert SECRET not in written + result.stdout + result.stderr


def test_malformed_replies_are_asked_again_then_recorded_unparsed_never_guessed(pred, stub):
    stub.mode = "broken"  # six replies that must be refused, then a valid one, over and over
    summary = json.loads(judge(pred, stub, "--parse_retries=2").stdout)
    # answer 1: replies 1-3 refused; answer 2: 4-6 refused; answer 3: reply 7 (fenced JSON) valid; answer 4: 1-3
    assert len(stub.requests) == 3 + 3 + 1 + 3
    assert summary["judged"] == 1 and summary["unparsed"] == 3 and summary["mean_score"] == 4
    judged = read_jsonl(pred.parent / "rouge_predictions_judged.jsonl")
    assert [r["score"] for r in judged] == [None, None, 4, None]
    assert [r["requests"] for r in judged] == [3, 3, 1, 3]
    assert judged[0]["unparsed"] == "score is not an integer: \"4\"" and judged[0]["reply"] == openai_stub.BROKEN_JUDGEMENTS[2]
    assert judged[1]["unparsed"] == "reason is not one line of text"
    # a rerun does not ask again: unparsed is a result, not a gap
    assert json.loads(judge(pred, stub).stdout)["unparsed"] == 3 and len(stub.requests) == 10


@pytest.mark.parametrize("reply", openai_stub.BROKEN_JUDGEMENTS[:-1])
def test_the_parser_refuses_every_broken_reply(reply):
    with pytest.raises(ValueError):
        parse_judgement(reply)


def test_the_parser_reads_a_plain_or_fenced_object():
    assert parse_judgement('{"score": 0, "reason": " 答非所问 "}') == (0, "答非所问")
    assert parse_judgement(openai_stub.BROKEN_JUDGEMENTS[-1]) == (4, "有围栏也可以")
    for bad in ('{"score": true, "reason": "x"}', '[4, "x"]', '{"score": -1, "reason": "x"}', "", None):
        with pytest.raises(ValueError):
            parse_judgement(bad)


def test_a_second_run_costs_no_request_and_an_interrupted_one_resumes(pred, stub):
    first = json.loads(judge(pred, stub, "--limit=2").stdout)
    assert first["answers"] == 2 and len(stub.requests) == 2
    whole = json.loads(judge(pred, stub).stdout)
    assert whole["answers"] == 4 and len(stub.requests) == 4  # only the two not judged yet
    again = json.loads(judge(pred, stub).stdout)
    assert len(stub.requests) == 4 and again["mean_score"] == whole["mean_score"]
    assert len(read_jsonl(pred.parent / "rouge_predictions_judged.jsonl")) == 4
    judge(pred, stub, "--model=another-judge")  # another judge is another judgement
    assert len(stub.requests) == 8


def test_server_errors_are_retried_and_a_failing_endpoint_stops_then_resumes(pred, stub):
    stub.mode = "flaky"  # 503 twice, then good
    result = judge(pred, stub, "--limit=1")
    assert len(stub.requests) == 3 and result.stderr.count("HTTP 503") == 2
    stub.mode = "fail"
    result = judge(pred, stub, "--max_retries=1", check=False)
    assert result.returncode != 0 and "gave up after 2 tries" in result.stderr and "again" in result.stderr
    assert len(read_jsonl(pred.parent / "rouge_predictions_judged.jsonl")) == 1  # nothing half-written
    stub.mode = "good"
    assert json.loads(judge(pred, stub).stdout)["judged"] == 4


def test_a_refused_key_stops_at_once_and_is_never_shown(pred, stub):
    stub.mode = "unauthorized"  # echoes the Authorization header back
    result = judge(pred, stub, check=False)
    assert result.returncode != 0 and "HTTP 401" in result.stderr and "***" in result.stderr
    assert SECRET not in result.stdout + result.stderr and len(stub.requests) == 1


def test_requests_are_spaced_by_the_rate_limit(pred, stub):
    judge(pred, stub, "--requests_per_minute=120")  # 0.5 s apart
    arrivals = [t for t, _, _ in stub.requests]
    # the first request reaches the stub late (urllib's first connection), and on a busy machine any may
    # arrive a little later than sent: the gaps after the first, with a margin
    assert len(arrivals) == 4 and min(b - a for a, b in zip(arrivals[1:], arrivals[2:])) >= 0.35


def test_baselines_are_judged_on_the_same_questions(pred, stub):
    summary = json.loads(judge(pred, stub, "--baselines").stdout)
    assert summary["answers"] == 4  # the baselines are not the model's answers
    assert summary["baselines"]["echo"]["mean_score"] == 2  # a question is never its reference, never empty
    constant = summary["baselines"]["constant"]
    assert constant["answer"] in ("洪七公", "小龙女")
    # 4 answers, 4 echoes, 4 constants, but the constant given to the question whose reference it is was
    # already asked as the model's right answer there: the same prompt is asked once
    assert len(stub.requests) == 4 + 4 + 3
    assert constant["mean_score"] == (5 + 2 * 3) / 4  # right for the one question it is the reference of


def test_answer_py_output_takes_its_references_from_the_question_file(tmp_path, stub):
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"Question": a["question"], "Answer": a["reference"]}, ensure_ascii=False) + "\n"
                          for a in ANSWERS), encoding="utf-8")
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"question": a["question"], "answer": a["prediction"]}, ensure_ascii=False)
                               + "\n" for a in ANSWERS), encoding="utf-8")
    result = judge(answers, stub, check=False)
    assert result.returncode != 0 and "--qa=" in result.stderr and not stub.requests
    assert json.loads(judge(answers, stub, f"--qa={qa}").stdout)["mean_score"] == 3.0
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("".join(reversed(qa.read_text(encoding="utf-8").splitlines(keepends=True))), encoding="utf-8")
    result = judge(answers, stub, f"--qa={shuffled}", check=False)
    assert result.returncode != 0 and "same order" not in result.stderr and "asks" in result.stderr


def test_without_an_endpoint_it_says_what_to_pass_and_a_dry_run_sends_nothing(pred):
    result = run("judge.py", f"--pred={pred}", check=False)
    assert result.returncode != 0 and "--base_url=" in result.stderr and "--model=" in result.stderr
    result = run("judge.py", f"--pred={pred}", "--dry_run")
    assert result.returncode == 0 and "【学生回答】洪七公" in result.stdout and "4 to ask" in result.stderr


def test_spearman_by_hand():
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # ranks with ties: x -> 1, 2.5, 2.5, 4; y -> 1, 2, 3, 4: Pearson of the ranks = 4.5 / sqrt(4.5 * 5)
    assert spearman([0, 2, 2, 5], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(4.5 / (4.5 * 5) ** 0.5)
    assert spearman([3, 3, 3], [1, 2, 3]) is None and spearman([1], [1]) is None


def test_against_the_projects_serve_py(pred, tmp_path):
    """A tiny random SFT model behind serve.py is no judge: its replies are not JSON, so every answer is
    recorded as unparsed. What is checked is that requests and replies go through."""
    meta = write_pretrain(str(tmp_path / "pre"), ["".join(a["question"] + a["reference"] for a in ANSWERS)], ["郭靖"])
    write_random_run(str(tmp_path / "run"), meta, str(tmp_path / "pre"), block_size=1024)  # the prompt fits
    with openai_stub.serve_py(tmp_path / "run", tmp_path / "votes.jsonl") as base_url:
        result = run("judge.py", f"--pred={pred}", f"--base_url={base_url}", "--model=run",
                     "--parse_retries=0", "--max_tokens=20", "--requests_per_minute=6000", "--print_json")
        summary = json.loads(result.stdout)
        assert summary["answers"] == 4 and summary["unparsed"] == 4 and summary["mean_score"] is None
        assert all(r["reply"] is not None for r in read_jsonl(pred.parent / "rouge_predictions_judged.jsonl"))
