"""make_qa.py through its command line, against an OpenAI-compatible stub endpoint run here (tests/openai_stub.py):
grounded pairs kept, every kind of broken output rejected and counted, never a partial record, the key sent
but never shown or written, retries, rate limit, resume, dry run; and the pure checks of wuxia/qa_pairs.py.
One test runs make_qa.py against the project's own serve.py too."""
import json
import os

import pytest

import openai_stub
from conftest import run
from tiny_datasets import write_pretrain, write_random_run
from wuxia.qa_pairs import KINDS, build_prompt, check_pair, grounding, parse_reply, question_kind, split_passages

SECRET = "sk-test-5ecret-DO-NOT-SHOW-0042"
STORY = ["郭靖在大漠中长大，拜江南七怪为师。", "黄蓉是桃花岛岛主黄药师的女儿，聪明伶俐。", "郭靖和黄蓉在张家口相识，结为夫妻。",
         "杨过是郭靖义兄杨康的儿子。", "小龙女是古墓派传人，杨过的师父。", "段誉是大理国的王子，学会了凌波微步。",
         "乔峰是丐帮帮主，后来知道自己是契丹人。", "虚竹是少林寺的小和尚，后来做了灵鹫宫主人。", "令狐冲是华山派大弟子，剑法高明。",
         "黄蓉教郭靖读书，又求洪七公传他降龙十八掌。"]


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "book.txt").write_text("\n".join("\u3000\u3000" + p for p in STORY) + "\n", encoding="utf-8")
    return tmp_path


@pytest.fixture
def stub():
    server = openai_stub.start()
    yield server
    server.shutdown()


def make_qa(corpus, server, *args, check=True, key=SECRET):
    env = {k: v for k, v in os.environ.items() if k != "WUXIA_TEST_KEY"}
    if key:
        env["WUXIA_TEST_KEY"] = key
    return run("make_qa.py", f"--input={corpus / 'raw'}", f"--output={corpus / 'qa.jsonl'}", f"--base_url={server.base_url}",
               "--model=stub", "--api_key_env=WUXIA_TEST_KEY", "--passage_chars=30", "--passages=5",
               "--requests_per_minute=6000", "--backoff_seconds=0.01", *args, check=check, env=env)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def all_written_text(corpus):
    return "".join(p.read_text(encoding="utf-8") for p in corpus.iterdir() if p.is_file())


def test_good_endpoint_gives_grounded_pairs_of_the_four_kinds(corpus, stub):
    result = make_qa(corpus, stub)
    records = read_jsonl(corpus / "qa.jsonl")
    assert len(stub.requests) == 5 and len(records) == 20
    assert [r["kind"] for r in records[:4]] == list(KINDS)
    passages = dict(p for p in split_passages("\n".join(STORY), 30))
    for r in records:
        offset = int(r["passage"].rsplit("@", 1)[1])
        assert r["answer"] in passages[offset] and all(n in passages[offset] for n in r["names"])
    assert stub.requests[0][1]["Authorization"] == f"Bearer {SECRET}"  # the key is sent...
    body = stub.requests[0][2]
    assert body["model"] == "stub" and "<<<\n" in body["messages"][0]["content"]
    summary = json.loads((corpus / "qa.make_qa.json").read_text(encoding="utf-8"))
    assert (summary["passages"], summary["kept"], summary["rejected"], summary["model"]) == (5, 20, {}, "stub")
    assert SECRET not in result.stdout + result.stderr + all_written_text(corpus)  # ...and never shown or written
    # the pairs are an SFT dataset's input as they are
    from wuxia.jsonl import read_qa_records
    examples, skipped, _ = read_qa_records(str(corpus / "qa.jsonl"))
    assert len(examples) == 20 and not skipped


def test_broken_output_is_rejected_counted_and_never_half_written(corpus, stub):
    stub.mode = "broken"
    result = make_qa(corpus, stub)
    lines = (corpus / "qa.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1  # the one valid pair of the five replies
    record = json.loads(lines[0])
    assert set(record) == {"question", "answer", "kind", "names", "passage"} and record["answer"]
    summary = json.loads((corpus / "qa.make_qa.json").read_text(encoding="utf-8"))
    assert summary["kept"] == 1
    assert summary["rejected"] == {"not JSON": 2, "no pairs": 1, "empty question or answer": 2, "not an object": 1,
                                   "name not in passage": 1, "unknown kind": 1, "no names": 1, "duplicate": 1}
    assert "kept 1 pairs, rejected 10" in result.stdout
    assert SECRET not in result.stdout + result.stderr + all_written_text(corpus)


def test_server_errors_are_retried_with_backoff(corpus, stub):
    stub.mode = "flaky"
    result = make_qa(corpus, stub, "--passages=2")
    assert len(stub.requests) == 4 and len(read_jsonl(corpus / "qa.jsonl")) == 8
    assert result.stderr.count("HTTP 503") == 2 and "retrying" in result.stderr


def test_a_failing_endpoint_stops_and_a_rerun_resumes(corpus, stub):
    make_qa(corpus, stub, "--passages=2")
    stub.mode = "fail"
    failed = make_qa(corpus, stub, "--max_retries=2", check=False)  # now 5 passages: 3 to do
    assert failed.returncode != 0 and "gave up after 3 tries" in failed.stderr and "again" in failed.stderr
    assert len(stub.requests) == 2 + 3
    stub.mode = "good"
    resumed = make_qa(corpus, stub)
    assert "2 already done -> 3 requests" in resumed.stdout
    assert len(stub.requests) == 2 + 3 + 3  # the done passages are not asked again
    records = read_jsonl(corpus / "qa.jsonl")
    assert len({r["passage"] for r in records}) == 5 and len(records) == 20


def test_a_cut_off_line_is_dropped_on_resume(corpus, stub):
    make_qa(corpus, stub, "--passages=2")
    with open(corpus / "qa.jsonl", "a", encoding="utf-8") as f:
        f.write('{"question": "郭靖是')  # as if killed in the middle of a write
    make_qa(corpus, stub)
    assert len(read_jsonl(corpus / "qa.jsonl")) == 20  # every line whole


def test_rate_limit_spaces_the_requests(corpus, stub):
    make_qa(corpus, stub, "--passages=4", "--requests_per_minute=30")  # one request per 2 s at most
    arrivals = [t for t, _, _ in stub.requests]
    # requests start 2 s apart; the first reaches the stub late (the client's first connection sets up urllib),
    # and on a busy machine any may arrive a little later than sent: the gaps after the first, with a margin
    assert min(b - a for a, b in zip(arrivals[1:], arrivals[2:])) >= 1.5


def test_refused_request_stops_with_advice_and_hides_the_echoed_key(corpus, stub):
    stub.mode = "unauthorized"
    result = make_qa(corpus, stub, check=False)
    assert result.returncode != 0 and "HTTP 401" in result.stderr and "$WUXIA_TEST_KEY" in result.stderr
    assert len(stub.requests) == 1  # not retried
    assert SECRET not in result.stdout + result.stderr and "Bearer ***" in result.stderr


def test_dry_run_shows_the_prompt_and_the_number_of_calls_and_sends_nothing(corpus, stub):
    result = make_qa(corpus, stub, "--dry_run", "--passages=3")
    assert not stub.requests and not (corpus / "qa.jsonl").exists()
    assert "3 chosen, 0 already done -> 3 requests" in result.stdout
    assert "key: from $WUXIA_TEST_KEY" in result.stdout and SECRET not in result.stdout
    assert "人物介绍、情节、人物关系、其他" in result.stdout and STORY[0] in result.stdout


def test_no_key_sends_no_authorization(corpus, stub):
    result = make_qa(corpus, stub, "--passages=1", key=None)
    assert "Authorization" not in stub.requests[0][1] and "is not set" in result.stdout


def test_check_pair_rules():
    passage = "郭靖在大漠中长大，拜江南七怪为师。黄蓉是黄药师的女儿。"
    good = {"kind": "人物介绍", "question": "郭靖是谁？", "answer": "郭靖在大漠中长大，拜江南七怪为师。", "names": ["郭靖"]}
    assert check_pair(good, passage)[0]["answer"] == good["answer"]
    assert check_pair({**good, "answer": "郭靖是丐帮帮主，武功天下第一，娶了华筝公主。"}, passage) == (None, "answer not grounded")
    assert check_pair({**good, "names": ["黄蓉"]}, passage) == (None, "name not in the pair")
    assert check_pair({**good, "answer": "郭" * 600}, passage) == (None, "too long")
    assert check_pair({**good, "question": 3}, passage) == (None, "empty question or answer")
    assert grounding("郭靖拜师。", passage) == pytest.approx(1 / 3)  # 郭靖 yes; 靖拜, 拜师 no
    assert parse_reply('```json\n{"pairs": [1]}\n```') == [1] and parse_reply("[2]") == [2]
    with pytest.raises(ValueError, match="not JSON"):
        parse_reply("Sure! {}")
    assert all(kind in build_prompt(passage) for kind in KINDS)


def test_question_kinds():
    assert question_kind("介绍一下《天龙八部》的主角？") == "人物介绍"
    assert question_kind("杨过和小龙女是什么关系？") == "人物关系"
    assert question_kind("郭靖的师父是谁？") == "人物关系"
    assert question_kind("乔峰为什么离开丐帮？") == "情节"
    assert question_kind("降龙十八掌有多少掌？") == "其他"
    assert question_kind("《登鹳雀楼》是谁写的？") == "其他"


def test_against_the_projects_serve_py(corpus, tmp_path):
    """The real plumbing: a tiny (random-weight) SFT model behind serve.py. Its replies are not JSON pairs,
    so they are all rejected and counted; what is checked is that requests and replies go through."""
    meta = write_pretrain(str(tmp_path / "pre"), ["".join(STORY)], ["郭靖"])
    write_random_run(str(tmp_path / "run"), meta, str(tmp_path / "pre"), block_size=1024)  # the prompt fits
    with openai_stub.serve_py(tmp_path / "run", tmp_path / "votes.jsonl") as base_url:
        result = run("make_qa.py", f"--input={corpus / 'raw'}", f"--output={corpus / 'qa.jsonl'}",
                     f"--base_url={base_url}", "--model=run", "--passage_chars=40", "--passages=2",
                     "--requests_per_minute=6000", "--timeout_seconds=300", "--max_tokens=200")
        summary = json.loads((corpus / "qa.make_qa.json").read_text(encoding="utf-8"))
        assert summary["passages"] == 2 and "this run: 2 requests" in result.stdout
        for record in read_jsonl(corpus / "qa.jsonl"):  # whatever was kept is a whole, grounded record
            assert record["question"] and record["answer"]
