"""Checks on the Jin Yong QA set (data/jinyong_qa/*.jsonl, one file per book), on its probes (data/eval/, never
trained on) and on its fact checker (tools/jinyong_qa/check_facts.py), which is run here on a tiny made-up book:
the novels are not part of the project, so the facts themselves are checked by running check_facts.py where the
novels are."""
import glob
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

QA_FILES = sorted(glob.glob(os.path.join(ROOT, "data", "jinyong_qa", "*.jsonl")))
BOOKS = ("射雕英雄传", "神雕侠侣", "天龙八部")
KINDS = ("人物介绍", "情节", "人物关系", "其他")
MIN_PAIRS, MIN_PAIRS_PER_BOOK = 1500, 450
CHECKER = os.path.join(ROOT, "tools", "jinyong_qa", "check_facts.py")


@pytest.fixture(scope="module")
def records():
    records = []
    for path in QA_FILES:
        with open(path, encoding="utf-8") as f:
            for line_number, line in enumerate(f, start=1):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise AssertionError(f"{path}:{line_number}: not valid JSON ({error})") from None
                records.append((f"{os.path.basename(path)}:{line_number}", record))
    return records


def test_every_record_has_the_fields(records):
    for source, r in records:
        assert isinstance(r.get("question"), str) and r["question"].strip(), source
        assert isinstance(r.get("answer"), str) and r["answer"].strip(), source
        assert r.get("book") in BOOKS, source
        assert r.get("kind") in KINDS, source
        groups = r.get("evidence")
        assert isinstance(groups, list) and groups, source
        for group in groups:
            assert isinstance(group, list) and len(group) >= 1 and all(isinstance(t, str) and t for t in group), source
            # evidence is about this pair: every term is in the question or the answer
            assert all(t in r["question"] or t in r["answer"] for t in group), (source, group)


def test_enough_pairs_spread_over_books_and_kinds(records):
    assert len(records) >= MIN_PAIRS
    for book in BOOKS:
        of_book = [r for _, r in records if r["book"] == book]
        assert len(of_book) >= MIN_PAIRS_PER_BOOK, book
        for kind in KINDS:
            assert sum(r["kind"] == kind for r in of_book) >= len(of_book) // 10, (book, kind)


def test_questions_are_unique(records):
    seen = {}
    for source, r in records:
        assert r["question"] not in seen, f"{source} repeats {seen.get(r['question'])}"
        seen[r["question"]] = source


def test_text_is_clean(records):
    for source, r in records:
        for text in (r["question"], r["answer"]):
            assert "\ufffd" not in text and not any(ch.isspace() for ch in text), source
        assert r["question"].endswith(("？", "。")), source
        assert r["answer"].endswith(("。", "！", "”")), source


def load_relations_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("relations", os.path.join(ROOT, "tools", "jinyong_qa", "relations.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_relation_pairs_and_probe_are_what_relations_py_writes():
    """relations.py's table is the source: the committed relations.jsonl and probe are its output."""
    relations = load_relations_module()
    pairs, probe = relations.relation_pairs(relations.questions_asked_by_hand())
    for path, expected in ((relations.PAIRS_PATH, pairs), (relations.PROBE_PATH, probe)):
        with open(path, encoding="utf-8") as f:
            assert [json.loads(line) for line in f] == expected, f"{path} is stale: run python {relations.__file__}"


def test_no_probe_question_is_trained_on(records):
    trained = {r["question"] for _, r in records}
    probes = glob.glob(os.path.join(ROOT, "data", "eval", "*_probe.jsonl"))
    assert len(probes) >= 2
    for path in probes:
        with open(path, encoding="utf-8") as f:
            asked_in_training = [q for q in (json.loads(line)["question"] for line in f) if q in trained]
        assert not asked_in_training, f"{path}: trained on {asked_in_training[:3]}"


def test_the_probe_of_the_course_books_is_answered_by_its_names():
    with open(os.path.join(ROOT, "data", "eval", "jinyong_probe.jsonl"), encoding="utf-8") as f:
        probe = [json.loads(line) for line in f]
    assert len(probe) >= 50
    for p in probe:
        assert p["book"] in BOOKS and p["names"] and any(name in p["answer"] for name in p["names"]), p
        assert not any(name in p["question"] for name in p["names"]), f"echoing {p['question']} would score"


def test_probe_names_are_what_the_question_asks_for():
    """A nickname asked the other way ("“东邪”是谁？") is answered by the person, with their other names."""
    relations = load_relations_module()
    assert relations.held_out_names("黄药师", "东邪", "外号", "“{y}”是谁？") == ["黄药师"]
    assert relations.held_out_names("一灯大师", "南僧", "外号", "“{y}”是谁？") == ["一灯", "段皇爷", "段智兴"]
    assert relations.held_out_names("洪七公", "降龙十八掌和打狗棒法", "绝学", "{x}会什么武功？") == ["降龙十八掌", "打狗棒法"]
    assert relations.held_out_names("郭靖", "黄蓉", "妻子", "{x}娶了谁？") == ["黄蓉"]


def write_book(folder, name, paragraphs):
    (folder / f"{name}.txt").write_text("".join(f"\u3000\u3000{p}\n" for p in paragraphs), encoding="utf-8")


@pytest.fixture
def novels(tmp_path):
    folder = tmp_path / "novels"
    folder.mkdir()
    filler = ["风雨交加，众人默然。"] * 5
    write_book(folder, "射雕英雄传", ["郭靖拜洪七公为师，学了降龙十八掌。"] + filler + ["黄蓉在桃花岛长大。"] + filler * 3)
    write_book(folder, "神雕侠侣", ["杨过在古墓中随小龙女学武。"] + filler)
    write_book(folder, "天龙八部", ["段誉是大理国的王子，学会了凌波微步。"] + filler)
    return folder


def check(tmp_path, novels, records):
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return subprocess.run([sys.executable, CHECKER, f"--input={path}", f"--novels={novels}", "--min_name_count=1"],
                          capture_output=True, text=True, cwd=ROOT)


def pair(question, answer, book, evidence):
    return {"question": question, "answer": answer, "book": book, "kind": "人物关系", "evidence": evidence}


def test_fact_checker_accepts_supported_pairs(tmp_path, novels):
    result = check(tmp_path, novels, [
        pair("郭靖的师父是谁？", "郭靖的师父是洪七公，洪七公教了他降龙十八掌。", "射雕英雄传", [["郭靖", "洪七公", "降龙十八掌"]]),
        pair("段誉会什么武功？", "段誉会凌波微步。", "天龙八部", [["段誉", "凌波微步"]])])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 pairs in 1 file(s)" in result.stdout and "0 pair(s) failed" in result.stdout


def test_fact_checker_rejects_what_the_book_does_not_support(tmp_path, novels):
    result = check(tmp_path, novels, [
        # the terms occur, but paragraphs apart: not evidence that they belong together
        pair("黄蓉的师父是谁？", "黄蓉的师父是洪七公。", "射雕英雄传", [["黄蓉", "洪七公"]]),
        # a character of another book
        pair("段誉和杨过是什么关系？", "段誉和杨过没有关系。", "天龙八部", [["段誉", "凌波微步"], ["杨过", "小龙女"]]),
        # evidence that is not in the pair
        pair("郭靖学了什么？", "郭靖学了武功。", "射雕英雄传", [["郭靖", "降龙十八掌"]]),
    ])
    assert result.returncode == 1
    out = result.stdout
    assert "黄蓉+洪七公 not found within 3 paragraphs" in out
    assert "the answer names 杨过, who never occurs in 《天龙八部》" in out
    assert "evidence 降龙十八掌 is not in the question or the answer" in out
    assert "3 pair(s) failed" in out


def test_fact_checker_says_where_the_novels_are_missing(tmp_path):
    result = check(tmp_path, tmp_path / "nowhere", [pair("郭靖是谁？", "郭靖是大侠。", "射雕英雄传", [["郭靖", "大侠"]])])
    assert result.returncode != 0 and "--novels" in result.stderr
