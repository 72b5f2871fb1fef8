"""Check the Jin Yong QA pairs against the novels: find, for every pair, the passages that support it.

    python tools/jinyong_qa/check_facts.py                                  # every *.jsonl of data/jinyong_qa/
    python tools/jinyong_qa/check_facts.py --novels=../shared/jinyong/novels --show=5 data/jinyong_qa/tianlong.jsonl

Each record names its book and lists its evidence: groups of terms (names, places, skills, key words) that
must all occur close together in that book, within `--window` consecutive paragraphs:

    {"question": "郭靖的师父有哪些？", "answer": "郭靖的师父有江南七怪、洪七公……", "book": "射雕英雄传",
     "kind": "人物关系", "evidence": [["郭靖", "七怪", "师父"], ["洪七公", "降龙十八掌", "郭靖"]]}

A group that never occurs together is a failure: the answer is wrong, or the terms are badly chosen. Every
evidence term must also appear in the question or the answer, so the evidence is about this pair. Beyond the
evidence it checks the answer's names: every known name (an evidence term anywhere in the set that occurs
at least --min_name_count times in the novels) that the answer mentions must occur in the record's book, which
catches a character put into the wrong novel.

The novels are read from --novels; they are not part of this project. Prints one line per failure (with the
paragraph numbers that were searched), a summary per book, and exits 1 when anything failed.
"""
import bisect
import glob
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, ROOT)  # to import wuxia/
from wuxia.configurator import configure, explain_machine_errors  # noqa: E402
from wuxia.jsonl import parse_records  # noqa: E402
from wuxia.text import decode_text  # noqa: E402

# -----------------------------------------------------------------------------------------------------------
input = []                              # QA files to check; default: every .jsonl of data/jinyong_qa/
novels = "../shared/jinyong/novels"     # folder with <book>.txt for each book named in the records
window = 3                              # an evidence group's terms must all occur within this many paragraphs
min_name_count = 5                      # an evidence term that occurs this often in the novels counts as a name
show = 0                                # also print the evidence paragraphs (first 40 characters) of N pairs
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:])

BOOKS = ("射雕英雄传", "神雕侠侣", "天龙八部")
KINDS = ("人物介绍", "情节", "人物关系", "其他")


def read_paragraphs(path):
    """The book as a list of paragraphs: the course's files put a chapter on one line, with paragraphs
    marked by full-width spaces, so both newlines and runs of U+3000 separate them."""
    with open(path, "rb") as f:
        text, _, _ = decode_text(f.read())
    return [p.strip() for p in re.split(r"[\n\r]+|\u3000+", text) if p.strip()]


def term_positions(paragraphs, term):
    return [i for i, p in enumerate(paragraphs) if term in p]


def find_group(paragraphs, positions, group):
    """The first paragraph index where all terms of the group occur within `window` paragraphs, or None."""
    lists = [positions(term) for term in group]
    if any(not found for found in lists):
        return None
    rarest = min(lists, key=len)
    for anchor in rarest:
        start = anchor - window + 1
        for first in range(max(start, 0), anchor + 1):
            end = first + window
            if all(bisect.bisect_left(found, first) < bisect.bisect_left(found, end) for found in lists):
                return first
    return None


def check_record(record, book_text, positions, names_by_book):
    """A list of problems with one record (empty when it is supported)."""
    problems = []
    book = record.get("book")
    if book not in BOOKS:
        return [f"book {book!r} is not one of {', '.join(BOOKS)}"]
    if record.get("kind") not in KINDS:
        problems.append(f"kind {record.get('kind')!r} is not one of {', '.join(KINDS)}")
    question, answer = record.get("question", ""), record.get("answer", "")
    if not question.endswith("？") and not question.endswith("。"):
        problems.append("the question should end with ？")
    if not answer.endswith(("。", "！", "”")):
        problems.append("the answer should end with 。")
    groups = record.get("evidence") or []
    if not groups:
        problems.append("no evidence groups")
    found_at = []
    for group in groups:
        missing_in_pair = [t for t in group if t not in question and t not in answer]
        if missing_in_pair:
            problems.append(f"evidence {'、'.join(missing_in_pair)} is not in the question or the answer")
        where = find_group(book_text[book], positions[book], group)
        if where is None:
            absent = [t for t in group if not positions[book](t)]
            detail = f" ({'、'.join(absent)} never occurs in 《{book}》)" if absent else ""
            problems.append(f"evidence {'+'.join(group)} not found within {window} paragraphs{detail}")
        found_at.append(where)
    # book titles (《射雕英雄传》 in an answer about 神雕侠侣) are no names
    answer_names_text = re.sub(r"《[^》]*》", "", answer)
    for name in names_by_book["all"]:
        if name in answer_names_text and not positions[book](name):
            problems.append(f"the answer names {name}, who never occurs in 《{book}》")
    record["_found_at"] = found_at
    return problems


def main():
    files = input or sorted(glob.glob(os.path.join(ROOT, "data", "jinyong_qa", "*.jsonl")))
    if not files:
        raise SystemExit("no QA files to check: pass --input=FILE.jsonl")
    missing = [b for b in BOOKS if not os.path.isfile(os.path.join(novels, b + ".txt"))]
    if missing:
        raise SystemExit(f"{novels}: {', '.join(b + '.txt' for b in missing)} not found. Point --novels at the folder "
                         "holding the three novels (for example data/jinyong/raw/).")
    book_text = {b: read_paragraphs(os.path.join(novels, b + ".txt")) for b in BOOKS}
    caches = {b: {} for b in BOOKS}

    def positions_in(book):
        def positions(term):
            if term not in caches[book]:
                caches[book][term] = term_positions(book_text[book], term)
            return caches[book][term]
        return positions
    positions = {b: positions_in(b) for b in BOOKS}

    records = []
    for path in files:
        for source, record in parse_records(os.path.relpath(path)):
            record["_source"] = source
            records.append(record)
    terms = {t for r in records for g in (r.get("evidence") or []) for t in g if len(t) >= 2}
    names = sorted((t for t in terms if sum(len(positions[b](t)) for b in BOOKS) >= min_name_count),
                   key=len, reverse=True)
    names_by_book = {"all": names}

    failed = 0
    per_book = {}
    seen_questions = {}
    for record in records:
        problems = check_record(record, book_text, positions, names_by_book)
        question = record.get("question", "")
        if question in seen_questions:
            problems.append(f"the same question is at {seen_questions[question]}")
        seen_questions.setdefault(question, record["_source"])
        stats = per_book.setdefault(record.get("book"), [0, 0])
        stats[0] += 1
        if problems:
            failed += 1
            stats[1] += 1
            print(f"{record['_source']}: {record.get('question')}")
            for p in problems:
                print(f"    {p}")
    for record in records[:show]:
        print(f"{record['_source']}: {record['question']} {record['answer']}")
        for group, where in zip(record.get("evidence") or [], record["_found_at"]):
            if where is not None:
                passage = "".join(book_text[record["book"]][where:where + window])
                print(f"    {'+'.join(group)}: paragraph {where}: {passage[:40]}…")
    print()
    print(f"{'book':<8} {'pairs':>6} {'failed':>7}")
    for book, (total, bad) in sorted(per_book.items(), key=lambda kv: str(kv[0])):
        print(f"{str(book):<8} {total:>6} {bad:>7}")
    print(f"{len(records)} pairs in {len(files)} file(s), {len(names)} known names, "
          f"{sum(len(r.get('evidence') or []) for r in records)} evidence groups; {failed} pair(s) failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
