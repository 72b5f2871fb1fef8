"""Data preparation speed: prepare.py on a generated three-novel corpus (about 9 MB, like three Jin Yong
novels), with the GPT-2 and the character tokenizer, and its tokenizing step against the plain ways: one
tokenizer call per line in one thread (GPT-2), a dict lookup per character (char, as nanoGPT does).

    python bench/bench_prepare.py                  # 9 MB (the issue's goal: under 30 s on a 2-core machine)
    python bench/bench_prepare.py --size_mb=0.3    # smoke test (seconds)

The prepare.py rows are its whole run as a user starts it (python start-up, loading the tokenizer,
reading, encoding detection, cleaning, tokenizing, writing); the other rows time only the tokenizing of the
same cleaned text, prepare.py's way and the plain ways, each best of `repeats` (the machine is shared).
The corpus is deterministic: common Chinese
characters with Zipf-like frequencies, clauses, sentences, dialogue in quotes, paragraphs and chapter
titles, written as three files in the styles real files come in (UTF-8 with indentation; GB18030 with
CRLF and blank lines; UTF-8 with a BOM and whole chapters on one line).
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from wuxia.configurator import AT_LEAST_0, AT_LEAST_1, POSITIVE, configure, explain_machine_errors
from wuxia.report import markdown_table
from wuxia.text import clean_text, decode_text, find_input_files, pieces_for_encoding
from wuxia.timing import cpu_name
from wuxia.tokenizer import CharTokenizer, GPT2Tokenizer

# -----------------------------------------------------------------------------
size_mb = 9.0   # total size of the three generated files on disk
seed = 0
repeats = 3     # each row is the best of this many runs
# -----------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={"size_mb": POSITIVE, "seed": AT_LEAST_0, "repeats": AT_LEAST_1})

# the most frequent characters of Chinese fiction first (roughly), then the rest of GB2312's common ones
FREQUENT = ("的一是了不人我他在这有个来到说们大中上为你道地着也就那出要下得以时子和么看之过去生她后自心里"
            "会天家然没好只手见起小面还都可头而把如对又什向前事意无已长样方动经老身声走想开成用多家些"
            "郭靖黄蓉杨过小龙女令狐冲张无忌段誉乔峰虚竹韦小宝剑掌武功内力江湖师父弟子门派少林武当峨嵋丐帮")
GB2312_COMMON = bytes(b for lead in range(0xB0, 0xD8) for trail in range(0xA1, 0xFF)
                      for b in (lead, trail)).decode("gb2312", errors="ignore")
CHARACTERS = list(dict.fromkeys(FREQUENT + GB2312_COMMON))


def generate_book(rng, structure, n_chars):
    """About n_chars characters of novel-like text: a list of (chapter title, paragraphs). rng draws the
    characters (numpy, fast in bulk), structure the lengths and punctuation (random.Random)."""
    weights = 1.0 / (np.arange(len(CHARACTERS)) + 8.0)
    pool = iter(rng.choice(len(CHARACTERS), size=2 * n_chars + 1000, p=weights / weights.sum()).tolist())

    def words(n):
        return "".join(CHARACTERS[next(pool)] for _ in range(n))

    chapters, paragraphs, written = [], [], 0
    while written < n_chars:
        sentences = []
        for _ in range(structure.randint(1, 6)):
            clauses = [words(structure.randint(3, 11)) for _ in range(structure.randint(1, 3))]
            sentence = "，".join(clauses) + structure.choices("。！？", weights=(8, 1, 1))[0]
            if structure.random() < 0.2:
                sentence = words(2) + "道：“" + sentence + "”"
            sentences.append(sentence)
        paragraphs.append("".join(sentences))
        written += len(paragraphs[-1])
        if len(paragraphs) == 120 or written >= n_chars:
            chapters.append((f"第{len(chapters) + 1}回　" + words(6), paragraphs))
            paragraphs = []
    return chapters


def write_corpus(folder):
    """Three files of about size_mb / 3 each, in three real-world styles. Returns their paths."""
    rng, structure = np.random.default_rng(seed), random.Random(seed)
    per_file = size_mb * 1e6 / 3
    styles = [  # (name, encoding, bytes per character, how a chapter is laid out)
        ("book1_utf8.txt", "utf-8", 3,
         lambda title, ps: title + "\n" + "".join("\u3000\u3000" + p + "\n" for p in ps)),
        ("book2_gb18030_crlf.txt", "gb18030", 2,
         lambda title, ps: title + "\r\n\r\n" + "".join("  " + p + "\r\n\r\n" for p in ps)),
        ("book3_utf8_bom_chapter_lines.txt", "utf-8", 3,
         lambda title, ps: title + "\n" + "".join("\u3000\u3000" + p for p in ps) + "\n"),
    ]
    paths = []
    for name, encoding, bytes_per_char, layout in styles:
        chapters = generate_book(rng, structure, int(per_file / bytes_per_char))
        data = "".join(layout(title, ps) for title, ps in chapters).encode(encoding)
        if name.startswith("book3"):
            data = b"\xef\xbb\xbf" + data
        paths.append(os.path.join(folder, name))
        with open(paths[-1], "wb") as f:
            f.write(data)
    return paths


def best_time(fn):
    """(fewest seconds of `repeats` calls of fn, its result): the machine is shared, the minimum is the
    least disturbed run."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        runs.append((time.perf_counter() - start, result))
    return min(runs, key=lambda run: run[0])


def run_prepare(workdir, corpus, tokenizer):
    """prepare.py as a user runs it; returns the number of tokens it wrote (<|endoftext|> not counted)."""
    subprocess.run([sys.executable, os.path.join(ROOT, "prepare.py"), f"--dataset=bench_{tokenizer}",
                    f"--input={corpus}", f"--tokenizer={tokenizer}"], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(workdir, "data", f"bench_{tokenizer}", "meta.json"), encoding="utf-8") as f:
        return sum(b["tokens"] for b in json.load(f)["files"])


def count_tokens(encoded):
    return sum(map(len, encoded))


with tempfile.TemporaryDirectory() as workdir:
    corpus = os.path.join(workdir, "corpus")
    os.makedirs(corpus)
    paths = write_corpus(corpus)
    n_bytes = sum(os.path.getsize(p) for p in paths)
    texts = []
    for path in find_input_files([corpus]):
        with open(path, "rb") as f:
            texts.append(clean_text(decode_text(f.read())[0])[0])
    n_chars = sum(map(len, texts))
    lines = [line for text in texts for line in text.splitlines(keepends=True)]
    pieces = [piece for text in texts for piece in pieces_for_encoding(text)]
    gpt2, char = GPT2Tokenizer(), CharTokenizer.from_texts(texts)
    stoi = {c: i for i, c in enumerate(char.itos)}
    threads = os.cpu_count()
    results = [
        ("prepare.py --tokenizer=gpt2: whole run", best_time(lambda: run_prepare(workdir, corpus, "gpt2"))),
        ("prepare.py --tokenizer=char: whole run", best_time(lambda: run_prepare(workdir, corpus, "char"))),
        (f"GPT-2 tokenizing, prepare.py's way: {len(pieces)} pieces, batch API, {threads} threads",
         best_time(lambda: count_tokens(gpt2.encode_lines(pieces, num_threads=threads)))),
        ("GPT-2 tokenizing: one encode() per line, 1 thread",
         best_time(lambda: count_tokens(gpt2.encode(line) for line in lines))),
        ("char tokenizing, prepare.py's way: numpy per piece",
         best_time(lambda: count_tokens(char.encode_lines(pieces)))),
        ("char tokenizing: a dict lookup per character (nanoGPT's shakespeare_char)",
         best_time(lambda: count_tokens([stoi[c] for c in line] for line in lines))),
    ]

print(f"corpus: {len(paths)} files, {n_bytes / 1e6:.1f} MB, {n_chars:,} characters after cleaning, "
      f"{len(lines):,} paragraphs; {cpu_name()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
      f"best of {repeats} runs\n")
print(markdown_table(["method", "seconds", "characters/s", "tokens/s", "tokens"],
                     [[name, f"{seconds:.2f}", f"{n_chars / seconds:,.0f}", f"{tokens / seconds:,.0f}", f"{tokens:,}"]
                      for name, (seconds, tokens) in results]))
