"""The demo corpus: classical Chinese poetry from the MIT-licensed chinese-poetry collection.

Pure functions, no I/O: fetch.py (beside this file) reads the JSON files out of the npm tarball and calls these.
Demo-only code, so it lives next to its data, not in the shared package wuxia/.

Every collection has its own JSON schema; the parsers below turn each into a list of common records

    {"collection": "唐诗三百首", "title": "静夜思", "author": "李白",
     "lines": ["床前明月光，疑是地上霜，", "举头望明月，低头思故乡。"], "text": "床前明月光，...\n举头望明月，..."}

in simplified characters (some collections are traditional; opencc converts them). From the records we
render pretraining text (title line, author line, the poem, a blank line) and generate SFT question/answer
pairs about the poems' structure: who wrote it, how it starts, the line after a line, the whole poem, an
author's works, which poem a line comes from. The QA split is by poem: a val question is only ever about a
poem whose QA never appears in train, though every poem is in the pretraining text.
"""
import collections
import functools
import random
import re

from wuxia.text import t2s_converter

# Poems of these collections are 词 (song lyrics), the rest 诗; only the QA wording uses this.
CI_COLLECTIONS = {"宋词三百首"}

# ---------------------------------------------------------------------------------------------------------
# cleaning and traditional -> simplified

# Editorial notes, e.g. "春草明年綠，王孫歸不歸？(明年 一作：年年)": variants, not poem text. Some run over
# two or three lines ("…月如霜。(回樂", "一作：回樂", "）"), so they are removed from the joined lines.
_NOTE = re.compile(r"[(（][^()（）]{0,40}[)）]")
_NORMALIZE = str.maketrans({",": "，", "?": "？", "!": "！", ":": "：", ";": "；", "・": "·",
                            # editors' brackets around restored characters: keep the character
                            "[": None, "]": None, "〖": None, "〗": None, "<": None, ">": None})
_SPACES = re.compile(r"[ \t\u3000\xa0]+")


def clean_line(line):
    """No spaces, full-width punctuation."""
    return _SPACES.sub("", line).translate(_NORMALIZE)


def clean_lines(lines):
    """The lines of a poem as the model should see them: cleaned, without editorial notes or empty lines."""
    lines = (clean_line(line) for line in _NOTE.sub("", "\n".join(lines)).split("\n"))
    return [line for line in lines if line]


def clean_author(author):
    """'（唐）孟浩然' -> '孟浩然', '魏晉：西晉·李密 ' -> '李密', '先秦：劉向 撰 ' -> '劉向'."""
    author = (author or "").strip()
    author = re.sub(r"^[(（][^)）]*[)）]", "", author)
    author = author.split("：")[-1].strip()
    author = author.split()[0] if author else ""
    return author.split("·")[-1]


def make_record(collection, title, author, lines):
    """The common record, its lines cleaned."""
    lines = clean_lines(lines)
    return {"collection": collection, "title": clean_line(title or ""), "author": clean_author(author),
            "lines": lines, "text": "\n".join(lines)}


def to_simplified(record, convert):
    """The record with title, author and lines converted by `convert` (a str -> str function)."""
    lines = [convert(line) for line in record["lines"]]
    return {**record, "title": convert(record["title"]), "author": convert(record["author"]),
            "lines": lines, "text": "\n".join(lines)}


# ---------------------------------------------------------------------------------------------------------
# one parser per schema: each takes the loaded JSON of one file and returns raw records


def parse_sections(doc, collection):
    """唐诗三百首 / 千家诗 / 古文观止: {"title", "content": [{"type" or "title", "content": [{"chapter",
    "author", "paragraphs", ...}]}]}. The title is `chapter` (唐诗三百首's `subchapter` is a variant name).
    千家诗 nests a set of poems as paragraphs [{"subchapter": "其一", "paragraphs": [...]}, ...]: each
    becomes its own record, 《秋兴八首·其一》."""
    records = []
    for section in doc["content"]:
        for poem in section["content"]:
            parts = poem["paragraphs"]
            if parts and isinstance(parts[0], dict):
                records += [make_record(collection, f"{poem['chapter']}·{part['subchapter']}", poem.get("author"),
                                        part["paragraphs"]) for part in parts]
            else:
                records.append(make_record(collection, poem["chapter"], poem.get("author"), parts))
    return records


def parse_poem_list(doc, collection, title_key="title", lines_key="paragraphs"):
    """宋词三百首 (title_key="rhythmic": a 词 is named by its tune), 全唐诗, 楚辞 (lines_key="content"):
    a list of {title_key, "author", lines_key}."""
    return [make_record(collection, poem[title_key], poem.get("author"), poem[lines_key]) for poem in doc]


def parse_shijing(doc, collection):
    """诗经: [{"title": "关雎", "chapter": "国风", "section": "周南", "content": [...]}]; no author, so the
    title says where the poem stands: 诗经·周南·关雎."""
    return [make_record(collection, f"诗经·{poem['section']}·{poem['title']}", "", poem["content"])
            for poem in doc]


def parse_book_chapters(doc, collection):
    """论语 / 孟子: [{"chapter": "学而篇", "paragraphs": [...]}]; each chapter is one record 论语·学而篇."""
    return [make_record(collection, f"{collection}·{chapter['chapter']}", "", chapter["paragraphs"])
            for chapter in doc]


# Where each collection lives in the npm package (paths under package/dist/; fnmatch patterns), which
# parser reads it, and whether it is written in traditional characters.
COLLECTIONS = {
    "tangshi300": {"name": "唐诗三百首", "files": ["mengxue/tangshisanbaishou.json"], "parse": parse_sections,
                   "traditional": True},
    "qianjiashi": {"name": "千家诗", "files": ["mengxue/qianjiashi.json"], "parse": parse_sections,
                   "traditional": True},
    "songci300": {"name": "宋词三百首", "files": ["songci/宋词三百首.json"],
                  "parse": functools.partial(parse_poem_list, title_key="rhythmic"), "traditional": False},
    "shijing": {"name": "诗经", "files": ["shijing/shijing.json"], "parse": parse_shijing, "traditional": False},
    "chuci": {"name": "楚辞", "files": ["chuci/chuci.json"],
              "parse": functools.partial(parse_poem_list, lines_key="content"), "traditional": False},
    "lunyu": {"name": "论语", "files": ["lunyu/lunyu.json"], "parse": parse_book_chapters, "traditional": False},
    "mengzi": {"name": "孟子", "files": ["sishuwujing/mengzi.json"], "parse": parse_book_chapters,
               "traditional": True},
    "guwenguanzhi": {"name": "古文观止", "files": ["mengxue/guwenguanzhi.json"], "parse": parse_sections,
                     "traditional": True},
    "quantangshi": {"name": "全唐诗", "files": ["quantangshi/poet.tang.*.json"], "parse": parse_poem_list,
                    "traditional": True},
}


def load_collection(key, docs, convert=None):
    """All records of collection `key` from its loaded JSON documents (in file order), in simplified
    characters. `convert` is the traditional -> simplified function; by default opencc's, loaded only when
    the collection is traditional. Records with no lines are dropped."""
    collection = COLLECTIONS[key]
    records = [record for doc in docs for record in collection["parse"](doc, collection["name"]) if record["lines"]]
    if collection["traditional"]:
        convert = convert or t2s_converter()
        records = [to_simplified(record, convert) for record in records]
    return records


# ---------------------------------------------------------------------------------------------------------
# pretraining text


def render_poem(poem):
    """《title》, the author on the next line (when known), then the poem: title/author -> poem, which is
    what a character model learns to continue. Ends with a blank line so poems are paragraph blocks."""
    head = [f"《{poem['title']}》"] + ([poem["author"]] if poem["author"] else [])
    return "\n".join(head + poem["lines"]) + "\n\n"


def render_collection(poems):
    return "".join(render_poem(poem) for poem in poems)


# ---------------------------------------------------------------------------------------------------------
# the pieces QA is built from

_CLAUSE_END = re.compile(r"[，。？！；：]")
_QUOTES = re.compile(r"[“”‘’「」『』]")


def clauses(poem):
    """The poem's lines cut at every ，。？！；： — '床前明月光，疑是地上霜，' -> ['床前明月光', '疑是地上霜']."""
    pieces = _CLAUSE_END.split(_QUOTES.sub("", "".join(poem["lines"])))
    return [piece for piece in pieces if piece]


def poem_identity(poem):
    """A quick name for the poem that is the same in collections that print it under other titles (千家诗's
    《春眠》 is 唐诗三百首's 《春晓》): its first two clauses (one is not enough: 张先's 《千秋岁》 and 蔡伸's
    《柳梢青》 both begin 数声鶗鴂)."""
    return "，".join(clauses(poem)[:2])


def dedupe_poems(poems):
    """The first record of each poem, in order. Two records are the same poem when at least half the clauses
    of the shorter one are in the other: collections print a poem under another title, with variant
    characters (终南山's 太乙/太一), or under another author (宋词三百首 has the same 《玉楼春》 as 欧阳修's
    and as 晏殊's)."""
    kept, kept_clauses, kept_with_clause = [], [], {}
    for poem in poems:
        pieces = set(clauses(poem))
        shared = collections.Counter(k for piece in pieces for k in kept_with_clause.get(piece, ()))
        if any(2 * count >= min(len(pieces), len(kept_clauses[k])) for k, count in shared.items()):
            continue
        for piece in pieces:
            kept_with_clause.setdefault(piece, []).append(len(kept))
        kept.append(poem)
        kept_clauses.append(pieces)
    return kept


def build_index(all_poems):
    """What the whole pretraining corpus says, so a question is asked only when its answer is unambiguous:
    title -> authors, title -> poems, (title, author) -> poems, clause -> next clauses, clause -> sources."""
    index = {"title_authors": {}, "title_poems": {}, "title_author_poems": {}, "next": {}, "sources": {}}
    for poem in all_poems:
        identity = poem_identity(poem)
        title, author = poem["title"], poem["author"]
        index["title_authors"].setdefault(title, set()).add(author)
        index["title_poems"].setdefault(title, set()).add(identity)
        index["title_author_poems"].setdefault((title, author), set()).add(identity)
        pieces = clauses(poem)
        for i, piece in enumerate(pieces):
            index["next"].setdefault(piece, set()).add(pieces[i + 1] if i + 1 < len(pieces) else None)
            index["sources"].setdefault(piece, set()).add((title, author))
    return index


def poem_name(poem, index):
    """How a question can name the poem without ambiguity: 《静夜思》 when no other poem has that title,
    王维的《鹿柴》 when only the author tells them apart, None when not even that does (晏殊 wrote several
    《浣溪沙》)."""
    title, author = poem["title"], poem["author"]
    if len(index["title_poems"][title]) == 1:
        return f"《{title}》"
    if author and len(index["title_author_poems"][(title, author)]) == 1:
        return f"{author}的《{title}》"
    return None


def poem_word(poem):
    return "词" if poem["collection"] in CI_COLLECTIONS else "诗"


# ---------------------------------------------------------------------------------------------------------
# QA generation: each generator returns (question, answer) pairs; answers are whole sentences ending in 。
# The phrasings use only characters the classical texts have too (not 哪: a character tokenizer built on the
# corpus would make it <unk>); fetch.py reports any that slip in.

def qa_author(poem, index, rng):
    """《静夜思》的作者是谁？ -> 《静夜思》的作者是李白。 Only when every poem of that title has the one author."""
    title, author = poem["title"], poem["author"]
    if not author or index["title_authors"][title] != {author}:
        return []
    word = poem_word(poem)
    question, answer = rng.choice([
        (f"《{title}》的作者是谁？", f"《{title}》的作者是{author}。"),
        (f"《{title}》是谁写的？", f"《{title}》是{author}写的。"),
        (f"谁写了《{title}》？", f"{author}写了《{title}》。"),
        (f"《{title}》这首{word}出自何人之手？", f"《{title}》出自{author}之手。"),
    ])
    return [(question, answer)]


def qa_first_line(poem, index, rng):
    """《静夜思》的第一句是什么？ -> 《静夜思》的第一句是“床前明月光”。"""
    name = poem_name(poem, index)
    if name is None:
        return []
    first = clauses(poem)[0]
    question, answer = rng.choice([
        (f"{name}的第一句是什么？", f"{name}的第一句是“{first}”。"),
        (f"{name}是怎么开头的？", f"{name}开头一句是“{first}”。"),
        (f"{name}的首句是什么？", f"{name}的首句是“{first}”。"),
    ])
    return [(question, answer)]


def qa_next_line(poem, index, rng, count=2, min_chars=4):
    """“床前明月光”的下一句是什么？ -> “床前明月光”的下一句是“疑是地上霜”。 For up to `count` clauses
    that are followed by the same clause wherever they appear in the corpus."""
    pieces = clauses(poem)
    candidates = [i for i in range(len(pieces) - 1)
                  if len(pieces[i]) >= min_chars and index["next"][pieces[i]] == {pieces[i + 1]}]
    name = poem_name(poem, index)
    pairs = []
    for i in sorted(rng.sample(candidates, min(count, len(candidates)))):
        line, after = pieces[i], pieces[i + 1]
        phrasings = [
            (f"“{line}”的下一句是什么？", f"“{line}”的下一句是“{after}”。"),
            (f"“{line}”后面一句是什么？", f"“{line}”后面一句是“{after}”。"),
            (f"请接下一句：{line}。", f"“{line}”的下一句是“{after}”。"),
        ]
        if name:
            phrasings.append((f"{name}中，“{line}”的下一句是什么？", f"{name}中，“{line}”的下一句是“{after}”。"))
        pairs.append(rng.choice(phrasings))
    return pairs


def qa_recite(poem, index, rng, max_chars=100):
    """请背诵《静夜思》。 -> 李白的《静夜思》全文是：床前明月光，……低头思故乡。 For short poems ending
    in 。 (so the answer is a sentence that ends in 。)."""
    name = poem_name(poem, index)
    body = "".join(poem["lines"])
    if name is None or len(body) > max_chars or not body.endswith("。"):
        return []
    who = f"{poem['author']}的《{poem['title']}》" if poem["author"] else f"《{poem['title']}》"
    question = rng.choice([f"请背诵{name}。", f"{name}的全文是什么？", f"默写{name}。"])
    return [(question, f"{who}全文是：{body}")]


def qa_source(poem, index, rng, min_chars=5):
    """“疑是地上霜”出自何处？ -> “疑是地上霜”出自李白的《静夜思》。 For one clause that appears in no
    other poem of the corpus."""
    title, author = poem["title"], poem["author"]
    candidates = [piece for piece in clauses(poem)
                  if len(piece) >= min_chars and index["sources"][piece] == {(title, author)}]
    if not candidates:
        return []
    line = rng.choice(candidates)
    word = poem_word(poem)
    where = f"{author}的《{title}》" if author else f"《{title}》"
    question = rng.choice([f"“{line}”出自何处？", f"“{line}”是谁的{word}句？", f"“{line}”的出处是什么？"])
    return [(question, f"“{line}”出自{where}。")]


def qa_works(author, titles, rng, avoid=(), max_titles=3):
    """李白写过什么作品？ -> 李白的作品有《静夜思》、《将进酒》和《蜀道难》。 (`titles` in corpus order).
    Not in a phrasing from `avoid`: the other split asks about the same author with other titles, and the
    same question with two different answers would make the val score unfair."""
    picked = sorted(rng.sample(range(len(titles)), min(max_titles, len(titles))))
    named = [f"《{titles[i]}》" for i in picked]
    listed = named[0] if len(named) == 1 else "、".join(named[:-1]) + "和" + named[-1]
    phrasings = [f"{author}写过什么作品？", f"请列举几首{author}的作品。", f"{author}有什么代表作？"]
    question = rng.choice([question for question in phrasings if question not in avoid])
    return [(question, f"{author}的作品有{listed}。")]


POEM_QA = {"author": qa_author, "first_line": qa_first_line, "next_line": qa_next_line,
           "recite": qa_recite, "source": qa_source}


def qa_record(question, answer, kind, author, titles):
    """What goes into qa_*.jsonl: the pair plus what it is about (the split test checks those)."""
    return {"question": question, "answer": answer, "kind": kind, "author": author, "titles": titles}


def poem_qa(poem, index, rng):
    """Every kind of question this poem supports, as records."""
    return [qa_record(question, answer, kind, poem["author"], [poem["title"]])
            for kind, generate in POEM_QA.items() for question, answer in generate(poem, index, rng)]


def works_qa(poems, rng, avoid=()):
    """One 'works of this author' record per author among `poems`, listing only titles from `poems`, with
    questions not in `avoid`."""
    titles_by_author = {}
    for poem in poems:
        if poem["author"] and poem["author"] not in ("佚名", "无名氏"):
            titles = titles_by_author.setdefault(poem["author"], [])
            if poem["title"] not in titles:
                titles.append(poem["title"])
    records = []
    for author, titles in titles_by_author.items():
        for question, answer in qa_works(author, titles, rng, avoid):
            records.append(qa_record(question, answer, "works", author, titles))
    return records


def split_poems(poems, val_fraction, seed):
    """(train_poems, val_poems), split by (title, author) so that poems that share both (王维's three
    《杂诗》) fall on the same side; deterministic for a seed."""
    groups = sorted({(poem["title"], poem["author"]) for poem in poems})
    random.Random(seed).shuffle(groups)
    val_groups = set(groups[:round(len(groups) * val_fraction)])
    train = [poem for poem in poems if (poem["title"], poem["author"]) not in val_groups]
    val = [poem for poem in poems if (poem["title"], poem["author"]) in val_groups]
    return train, val


def make_qa(qa_poems, all_poems, val_fraction=0.1, seed=1337):
    """(train_records, val_records): QA about the poems in `qa_poems` (duplicates across collections count
    once), with answers checked against everything in `all_poems` (the whole pretraining corpus).
    A val record's (title, author) never occurs in a train record."""
    index = build_index(all_poems)
    train_poems, val_poems = split_poems(dedupe_poems(qa_poems), val_fraction, seed)
    rng = random.Random(seed)
    train = [record for poem in train_poems for record in poem_qa(poem, index, rng)]
    train = drop_repeated_questions(train + works_qa(train_poems, rng), seen=set())
    train_questions = {record["question"] for record in train}
    val = [record for poem in val_poems for record in poem_qa(poem, index, rng)]
    val += works_qa(val_poems, rng, avoid=train_questions)
    return train, drop_repeated_questions(val, seen=train_questions)


def drop_repeated_questions(records, seen):
    """The records whose question is not in `seen` and not asked before in `records` (two poems can share a
    line, and 王维's three 《杂诗》 the question who wrote 《杂诗》)."""
    seen, kept = set(seen), []
    for record in records:
        if record["question"] not in seen:
            seen.add(record["question"])
            kept.append(record)
    return kept


def select_extra_poems(candidates, authors, exclude, max_chars, seed):
    """Up to `max_chars` characters (as rendered) of poems from `candidates` (e.g. 全唐诗) by the given
    authors: a seeded random pick, returned in the candidates' order. Skips poems already in the corpus
    (same poem_identity as one in `exclude`, or as one picked before), poems with a lost character (□) or
    one spelled out by its parts ({炙火=肉}), and poems that carry an editor's commentary (（按《全唐诗》…）)."""
    known = {poem_identity(poem) for poem in exclude}
    pool = [i for i, poem in enumerate(candidates)
            if poem["author"] in authors and not re.search(r"[□○{}（）《》]", poem["title"] + poem["text"])]
    random.Random(seed).shuffle(pool)
    chosen, total = [], 0
    for i in pool:
        identity, size = poem_identity(candidates[i]), len(render_poem(candidates[i]))
        if identity in known:
            continue
        if total + size > max_chars:
            break
        known.add(identity)
        chosen.append(i)
        total += size
    return [candidates[i] for i in sorted(chosen)]
