"""Retrieval recall: how often the passages retrieved for a question hold its answer, per question file and
per number of passages k, for passages cut to the characters the model reads (--chars) and whole.

    python bench/bench_retrieval.py --index=data/jinyong_index --probe=data/eval/jinyong_probe.jsonl \
        --probe=data/eval/bixuejian_probe.jsonl
    python bench/bench_retrieval.py --novels=../shared/jinyong/novels --passage_chars=100,150,200   # indexes in memory

A probe question counts as found at k when one of its "names" (the answers' names, checked in the novels)
occurs in the text of its first k passages. Also prints how long building the index took, when it builds.
"""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from wuxia.configurator import configure, explain_machine_errors  # noqa: E402
from wuxia.jsonl import read_jsonl  # noqa: E402
from wuxia.report import markdown_table  # noqa: E402
from wuxia.retrieval import build_index, load_index, retrieve  # noqa: E402
from wuxia.timing import describe_machine  # noqa: E402

# -----------------------------------------------------------------------------------------------------------
index = ""                    # an index folder made by index.py; or, when empty, one built in memory from --novels
novels = []                   # novels to index in memory (files or folders), once per --passage_chars
passage_chars = "150"         # with --novels: comma-separated passage lengths to compare
probe = ["data/eval/jinyong_probe.jsonl"]  # question files with "names" (the right answers' names)
ks = "1,2,3,4,5,8"            # numbers of passages to score
chars = 40                    # characters the model reads of each passage (the recipe's retrieve_chars); 0: whole
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:])
ks = [int(k) for k in ks.split(",")]

questions = {os.path.basename(path): read_jsonl(path) for path in probe}

indexes = []
if index:
    loaded = load_index(index)
    indexes.append((f"{index} ({loaded.meta['passage_chars']} chars)", loaded))
else:
    if not novels:
        sys.exit("name an index (--index=data/jinyong_index) or the novels to index (--novels=FOLDER)")
    for length in map(int, passage_chars.split(",")):
        started = time.time()
        built = build_index(novels, length)
        print(f"indexed {built.meta['passages']:,} passages of up to {length} characters from "
              f"{len(built.books)} book(s) in {time.time() - started:.1f} s")
        indexes.append((f"{length} chars", built))

print(describe_machine("cpu"))
rows = []
for name, passage_index in indexes:
    for cut in sorted({chars, 0}):
        for file, records in questions.items():
            found = [0] * len(ks)
            for record in records:
                width = cut or passage_index.meta["passage_chars"]
                texts = [p["text"] for p in retrieve(passage_index, record["question"], max(ks), width)]
                for i, k in enumerate(ks):
                    found[i] += any(n in "".join(texts[:k]) for n in record["names"])
            rows.append([name, f"{cut} chars read" if cut else "whole passage", file, str(len(records))]
                        + [f"{100 * n / len(records):.0f}%" for n in found])
print(markdown_table(["index", "of each passage", "questions", "n"] + [f"recall@{k}" for k in ks], rows))
