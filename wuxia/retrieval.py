"""Retrieval over the user's novels: the passages a question is about, found with BM25, for open-book answers.

An index is a folder written by index.py:
    index.json       what it was built from (every novel's path, size and sha256) and how (passage length)
    passages.jsonl   one passage per line: {"book", "place", "text"}
    bm25/            the BM25 matrices (the bm25s library's own files)
A passage is a run of whole sentences of one chapter (or, where a file marks no chapters, of nearby
paragraphs), at most passage_chars long; its place says where it is ("第三回", or "第120段" for the 120th
paragraph). Text is cleaned exactly as prepare.py cleans it, so passages read like the training text.

Chinese has no spaces, so BM25's terms are character bigrams: "郭靖的师父" -> 郭靖 靖的 的师 师父. Bigrams
reward a passage that holds the question's phrase, not only its characters. A question's own question words
(是谁, 什么, 哪个...) are taken out before its bigrams are made: they say what kind of answer is wanted, not
where it is, and would otherwise match every passage of dialogue. A book named in 《》 limits the search to it.
"""
import hashlib
import json
import os
import re
import shutil
import tempfile

import numpy as np

from wuxia.jsonl import write_jsonl
from wuxia.report import shown_path
from wuxia.text import clean_text, find_input_files, read_documents

INDEX_FILE = "index.json"
PASSAGES_FILE = "passages.jsonl"
BM25_DIR = "bm25"
INDEX_VERSION = 1

# a chapter heading on a line of its own: 第一回 风雪惊变 / 第十二章 / 第3卷 ...
CHAPTER_HEADING = re.compile(r"^第[一二三四五六七八九十百千零〇两\d]+[回章节卷部集][\s\u3000]*\S{0,24}$")
# where a sentence ends: after 。！？… (and a closing quote that follows them)
SENTENCE_END = re.compile(r"(?<=[。！？!?…])(?![”」』\"’。！？!?…])|(?<=[。！？!?…][”」』\"’])")
# the words a question asks with: they say what is wanted, not where to find it (longest first)
QUESTION_WORDS = sorted(["是谁", "是什么", "什么", "为什么", "为何", "怎么样", "怎么", "怎样", "如何", "哪个", "哪位",
                         "哪些", "哪里", "哪儿", "哪一", "多少", "几个", "叫什么名字", "叫什么", "名字", "请问",
                         "介绍一下", "介绍", "简述", "描述", "吗", "呢", "吧", "谁", "哪", "有何", "有哪些"],
                        key=len, reverse=True)
_QUESTION_WORD = re.compile("|".join(map(re.escape, QUESTION_WORDS)))
_BOOK_TITLE = re.compile(r"《([^》]{1,30})》")
_WORD_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaffA-Za-z0-9]+")  # hanzi, letters and digits; the rest splits


def bigrams(text):
    """The BM25 terms of a text: character bigrams inside runs of hanzi/letters/digits (a run of one
    character is its own term)."""
    terms = []
    for run in _WORD_RUN.findall(text):
        terms += [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]
    return terms


# words for kin and teachers that novels write in several ways: a question's word brings its other forms
SAME_MEANING = [("父亲", "爹爹", "爸爸", "爹", "父"), ("母亲", "妈妈", "娘亲", "娘", "母"), ("妻子", "夫人", "老婆", "娘子", "妻"),
                ("丈夫", "夫君", "老公", "相公"), ("师父", "师傅", "恩师", "师尊"), ("徒弟", "弟子", "徒儿"),
                ("儿子", "孩儿"), ("女儿", "闺女"), ("意中人", "心上人", "情郎", "伴侣")]


def query_terms(question):
    """The terms a question is searched with: its bigrams once the question words and book titles are out,
    with the other forms of its kin and teacher words."""
    text = _QUESTION_WORD.sub(" ", _BOOK_TITLE.sub(" ", question))
    terms = bigrams(text)
    for forms in SAME_MEANING:
        if any(form in text for form in forms):
            terms += [t for form in forms for t in bigrams(form) if len(t) == 2 and t not in terms]
    return terms


def sentences(paragraph):
    return [s for s in SENTENCE_END.split(paragraph) if s]


def cut_passages(paragraphs, passage_chars):
    """[(place, text)] of one book's paragraphs: whole sentences packed into passages of at most passage_chars
    (a longer sentence is cut), never across a chapter heading. place is the chapter, or where the book marks
    no chapters, the number of the paragraph the passage starts in."""
    has_chapters = sum(bool(CHAPTER_HEADING.match(p)) for p in paragraphs) >= 2
    passages, current, chapter, start_paragraph = [], "", "", 1

    def flush():
        nonlocal current
        if current:
            passages.append((chapter if has_chapters else f"第{start_paragraph}段", current))
        current = ""

    for number, paragraph in enumerate(paragraphs, start=1):
        if has_chapters and CHAPTER_HEADING.match(paragraph):
            flush()
            chapter = paragraph.split()[0]  # 第一回 风雪惊变 -> 第一回 (str.split also splits at U+3000)
            continue
        for sentence in sentences(paragraph):
            while len(sentence) > passage_chars:  # one overlong sentence: cut it
                flush()
                start_paragraph = number
                passages.append((chapter if has_chapters else f"第{number}段", sentence[:passage_chars]))
                sentence = sentence[passage_chars:]
            if len(current) + len(sentence) > passage_chars:
                flush()
            if not current:
                start_paragraph = number
            current += sentence
    flush()
    return passages


def book_name(path):
    return os.path.splitext(os.path.basename(path))[0]


def file_fingerprint(path):
    with open(path, "rb") as f:
        data = f.read()
    return {"path": os.path.abspath(path), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


class Index:
    """The passages of a shelf of novels and their BM25 index. search() returns the top passages."""

    def __init__(self, passages, bm25, meta):
        self.passages = passages  # [{"book", "place", "text"}]
        self.bm25 = bm25
        self.meta = meta
        self.books = sorted({p["book"] for p in passages})
        self._book_of = np.array([self.books.index(p["book"]) for p in passages])

    def search(self, question, k=3):
        """The k passages that best match the question, best first, each a dict with book, place, text and
        score; fewer (or none) when fewer passages share a term with it."""
        terms = [t for t in query_terms(question) if t in self.bm25.vocab_dict]
        if not terms or k <= 0:
            return []
        mask = None
        named = [b for b in _BOOK_TITLE.findall(question) if b in self.books]
        if named:  # the question names a book of the shelf: search only that book
            mask = np.isin(self._book_of, [self.books.index(b) for b in named]).astype(np.float32)
        ids, scores = self.bm25.retrieve([terms], k=min(k, len(self.passages)), show_progress=False,
                                         weight_mask=mask, n_threads=1)
        return [{**self.passages[i], "score": float(s)} for i, s in zip(ids[0], scores[0]) if s > 0]


def best_window(text, terms, chars):
    """The stretch of at most `chars` characters of text that holds the most distinct terms (the earliest
    such stretch on a tie): where in a retrieved passage the question's words meet."""
    if len(text) <= chars:
        return text
    starts = sorted({m.start() for t in set(terms) for m in re.finditer(re.escape(t), text)})
    best_start, best_count = 0, -1
    for start in starts:
        start = max(0, min(start - chars // 4, len(text) - chars))  # a little context before the first match
        count = sum(t in text[start:start + chars] for t in set(terms))
        if count > best_count:
            best_start, best_count = start, count
    return text[best_start:best_start + chars]


def retrieve(index, question, k, chars):
    """What the model reads for a question: the k best passages, each cut to the `chars` characters around
    its matches with the question (best_window). Each is a dict with book, place, text and score."""
    terms = query_terms(question)
    return [{**p, "text": best_window(p["text"], terms, chars)} for p in index.search(question, k)]


def answer_passage(index, question, answer, chars, candidates=10):
    """A passage (cut to `chars` as retrieve() cuts) that holds the answer's own words: searched with the
    question and answer together, the window with the most of the answer's terms that the question lacks.
    For training rows whose passages must hold the answer; None when no window shares 2 such terms."""
    asked = set(query_terms(question))
    wanted = [t for t in dict.fromkeys(bigrams(answer)) if t not in asked]
    best, best_count = None, 1
    for p in index.search(question + " " + answer, candidates):
        window = best_window(p["text"], wanted, chars)
        count = sum(t in window for t in wanted)
        if count > best_count:
            best, best_count = {**p, "text": window}, count
    return best


def build_index(paths, passage_chars=150):
    """An Index of the novels at paths (files or folders of .txt), each cleaned as prepare.py cleans it."""
    import bm25s  # imported here: only open-book runs need it

    files = find_input_files(paths, "--input", extensions=(".txt",))
    passages, sources = [], []
    for path in files:
        for text in read_documents(path, {}):
            cleaned, _ = clean_text(text)
            passages += [{"book": book_name(path), "place": place, "text": passage}
                         for place, passage in cut_passages(cleaned.split("\n"), passage_chars)]
        sources.append(file_fingerprint(path))
    if not passages:
        raise SystemExit(f"no text to index in {', '.join(paths)}")
    bm25 = bm25s.BM25()
    bm25.index([bigrams(p["text"]) for p in passages], show_progress=False)
    meta = {"version": INDEX_VERSION, "passage_chars": passage_chars, "passages": len(passages), "sources": sources,
            "books": sorted({p["book"] for p in passages})}
    return Index(passages, bm25, meta)


def save_index(index, folder):
    """Write the index into folder whole: into a temporary folder beside it first, then swapped in, so an
    interrupted run leaves the earlier index (or none), never half of one."""
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".index-", dir=parent)
    try:
        index.bm25.save(os.path.join(tmp, BM25_DIR), show_progress=False)
        write_jsonl(os.path.join(tmp, PASSAGES_FILE), index.passages)
        with open(os.path.join(tmp, INDEX_FILE), "w", encoding="utf-8") as f:
            json.dump(index.meta, f, ensure_ascii=False, indent=1)
        old = None
        if os.path.exists(folder):
            old = tempfile.mkdtemp(prefix=".index-old-", dir=parent)
            os.replace(folder, os.path.join(old, "index"))
        os.replace(tmp, folder)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def rebuild_hint(meta, folder):
    novels = sorted({os.path.dirname(s["path"]) for s in meta.get("sources", [])}) or ["<folder of novels>"]
    return (f"rebuild it: python index.py --input={' '.join(novels)} --index={folder}"
            + (f" --passage_chars={meta['passage_chars']}" if "passage_chars" in meta else ""))


def stale_sources(meta):
    """(changed, missing): the novels the index was built from that differ now, or are gone."""
    changed, missing = [], []
    for source in meta["sources"]:
        if not os.path.isfile(source["path"]):
            missing.append(source["path"])
        elif (os.path.getsize(source["path"]) != source["bytes"]
              or file_fingerprint(source["path"])["sha256"] != source["sha256"]):
            changed.append(source["path"])
    return changed, missing


def load_index(folder, check_sources=True, warn=print):
    """The Index saved in folder. A missing or damaged index stops with what to do; one whose novels have
    changed since it was built stops too (its passages no longer match the books); novels that are gone only
    warn (the index still holds their passages)."""
    import bm25s

    meta_path = os.path.join(folder, INDEX_FILE)
    meta = {}
    if not os.path.isfile(meta_path):
        raise SystemExit(f"no passage index in {folder}: build one with python index.py --input=<folder of novels> "
                         f"--index={folder}")
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        if meta.get("version") != INDEX_VERSION:
            raise ValueError(f"index version {meta.get('version')}, this code reads {INDEX_VERSION}")
        with open(os.path.join(folder, PASSAGES_FILE), encoding="utf-8") as f:
            passages = [json.loads(line) for line in f]
        if len(passages) != meta["passages"]:
            raise ValueError(f"{len(passages)} passages where index.json says {meta['passages']}")
        bm25 = bm25s.BM25.load(os.path.join(folder, BM25_DIR), show_progress=False)
        if bm25.scores["num_docs"] != len(passages):
            raise ValueError("the BM25 matrices and the passages differ in length")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"the passage index in {folder} is damaged ({type(e).__name__}: {e}); "
                         + rebuild_hint(meta, folder))
    if check_sources:
        changed, missing = stale_sources(meta)
        if changed:
            raise SystemExit(f"the passage index in {folder} no longer matches the novels it was built from "
                             f"({', '.join(changed)} changed since); " + rebuild_hint(meta, folder))
        if missing:
            warn(f"note: {', '.join(missing)} (indexed in {folder}) is gone; its passages are still searched. "
                 + rebuild_hint(meta, folder))
    return Index(passages, bm25, meta)


def open_book(checkpoint, enabled=True, index="", warn=print):
    """For a run fine-tuned open book (its checkpoint's "retrieval"), the function that gives a question the
    passages it was trained to read: retrieve() with the run's index (or `index`, when given) and settings.
    None for a closed-book run, or when enabled is False (to compare answers without retrieval)."""
    settings = checkpoint.get("retrieval")
    if not settings or not enabled:
        return None
    passage_index = load_index(index or settings["index"], warn=warn)
    return lambda question: retrieve(passage_index, question, settings["k"], settings["chars"])


def describe_passage(passage):
    """One line that says where a passage is from and what it says: 《射雕英雄传》第120段：……"""
    return f"《{passage['book']}》{passage['place']}：{passage['text']}"


def open_book_summary(checkpoint, open_book=True, index=""):
    """Whether a run's answers read passages, in words, for banners and evaluation reports: the settings
    open_book(checkpoint, open_book, index) retrieves with."""
    settings = checkpoint.get("retrieval")
    if not settings:
        return "off (a closed-book run)"
    if not open_book:
        return "off (--open_book=False)"
    return f"on: {settings['k']} passages of up to {settings['chars']} characters from {shown_path(index or settings['index'])}"


def show_passages(passages):
    """The passages an open-book answer read, for people: one line each, with its book and place."""
    if not passages:
        return "资料：（没有与问题相关的段落）"
    return "资料：\n" + "\n".join(describe_passage(p) for p in passages)
