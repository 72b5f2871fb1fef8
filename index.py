"""Index the novels for open-book answers: cut them into passages and build a BM25 index over them.

    python index.py --input=data/jinyong/raw/ --index=data/jinyong_index      # build (seconds per book)
    python index.py --index=data/jinyong_index --query="郭靖的师父是谁？"        # what a question retrieves
                                                                                # (with --input: build, then ask)

The passages are cleaned as prepare.py cleans the books (wuxia/retrieval.py says how they are cut and
searched). An SFT dataset made with `prepare_sft.py --index=...` is open book: every question is given the
passages retrieved for it, in training and at answer time, and the fine-tuned run remembers the index.
The index is written whole or not at all; it notes every novel's sha256, so a novel changed later is caught.
"""
import sys
import time

from wuxia.configurator import AT_LEAST_1, at_least, configure, explain_machine_errors
from wuxia.retrieval import build_index, load_index, retrieve, save_index

# -----------------------------------------------------------------------------------------------------------
input = []                # the novels: .txt files, folders of them, or globs (as prepare.py reads them)
index = "data/novels_index"  # the index folder to write (or, with --query, to read)
passage_chars = 150       # longest passage; passages are whole sentences of one stretch of a book
query = ""                # print the passages this question retrieves from --index, then exit
k = 4                     # --query: passages to show
chars = 40                # --query: characters kept of each passage around its match (0: whole passages)
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={"passage_chars": at_least(16), "k": AT_LEAST_1, "chars": at_least(0)})

if not input and not query:
    sys.exit("name the novels to index: --input=FOLDER (or files, globs), e.g. --input=data/jinyong/raw/")
if input:
    started = time.time()
    built = build_index(input, passage_chars)
    save_index(built, index)
    books = {}
    for passage in built.passages:
        books[passage["book"]] = books.get(passage["book"], 0) + 1
    print(f"{built.meta['passages']:,} passages of up to {passage_chars} characters from {len(books)} book(s) "
          f"({', '.join(f'{book} {n:,}' for book, n in books.items())}) -> {index}/  in {time.time() - started:.1f} s")
    if not query:
        print(f"try it: python index.py --index={index} --query=\"...?\"")

if query:
    found = retrieve(load_index(index), query, k, chars or passage_chars)
    if not found:
        print(f"no passage of {index} shares a word with {query!r}")
    for rank, passage in enumerate(found, start=1):
        print(f"{rank}. 《{passage['book']}》{passage['place']} (score {passage['score']:.1f}): {passage['text']}")
