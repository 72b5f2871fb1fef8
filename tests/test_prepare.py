"""prepare.py and wuxia/text.py: messy real files (every encoding and line-ending style the issue lists) come
out as clean text, and the token files decode back to exactly that text."""
import json
import os
import re

import numpy as np
import pytest

from conftest import ROOT, run, run_here
from wuxia.text import (clean_text, decode_text, find_input_files, find_mojibake, paragraphs, pieces_for_encoding,
                        repair_gbk_spaces, split_train_val, t2s_converter)
from wuxia.tokenizer import GPT2Tokenizer, tokenizer_from_meta

SIMPLIFIED = ["第一回　风雪惊变", "钱塘江浩浩江水，日日夜夜无穷无休的从临安牛家村边绕过，东流入海。",
              "江畔一排数十株乌柏树，叶子似火烧般红，正是八月天时。", "“你是谁？”那汉子问道。",
              "Guo Jing said: \"OK!\" 123"]
TRADITIONAL = ["第一回　風雪驚變", "錢塘江浩浩江水，日日夜夜無窮無休的從臨安牛家村邊繞過，東流入海。",
               "江畔一排數十株烏柏樹，葉子似火燒般紅，正是八月天時。", "「你是誰？」那漢子問道。",
               "Guo Jing said: \"OK!\" 123"]
ADS = ["本书来自 www.example-novels.com 免费下载", "更多好书请关注某某小说网"]


def lines(paras, indent="\u3000\u3000", newline="\n", blank=False):
    return "".join(indent + p + newline + (newline if blank else "") for p in paras)


def fixture_files():
    """{file name: (bytes, encoding label prepare must detect, cleaned text prepare must produce)}."""
    clean = "\n".join(SIMPLIFIED)
    gbk_with_bad_byte = (lines(SIMPLIFIED[:2], newline="\r\n").encode("gbk")
                         + "\u3000\u3000江畔一排".encode("gbk") + b"\xff"
                         + ("数十株乌柏树，叶子似火烧般红，正是八月天时。\r\r\n" + lines(SIMPLIFIED[3:])).encode("gbk"))
    chapter_on_one_line = SIMPLIFIED[0] + "\n" + "".join("\u3000\u3000" + p for p in SIMPLIFIED[1:]) + "\n"
    utf8_bad_byte = lines(SIMPLIFIED).encode("utf-8") + b"\x80"
    if len(utf8_bad_byte) % 2:
        utf8_bad_byte += b"\n"
    return {
        "01_utf8.txt": (lines(SIMPLIFIED).encode("utf-8"), "utf-8", clean),
        "02_utf8_bom_crlf_blank_lines.txt": (lines(SIMPLIFIED, "  ", "\r\n", blank=True).encode("utf-8-sig"),
                                             "utf-8-sig", clean),
        "03_gbk_bad_byte_mixed_endings.txt": (gbk_with_bad_byte, "gb18030",
                                              clean.replace("江畔一排", "江畔一排\ufffd")),
        "04_big5.txt": (lines(TRADITIONAL, newline="\r\n").encode("big5"), "big5", "\n".join(TRADITIONAL)),
        "05_utf16_bom.txt": (lines(SIMPLIFIED).encode("utf-16"), "utf-16", clean),
        "06_chapter_on_one_line.txt": (chapter_on_one_line.encode("utf-8"), "utf-8", clean),
        "07_ads.txt": (lines(ADS + SIMPLIFIED).encode("utf-8"), "utf-8", clean),
        "08_utf8_bad_byte_even_length.txt": (utf8_bad_byte, "utf-8", clean + "\n\ufffd"),
    }


@pytest.mark.parametrize("name", sorted(fixture_files()))
def test_decode_and_clean_each_style(name):
    data, encoding, clean = fixture_files()[name]
    text, detected, replaced_bytes = decode_text(data)
    assert detected == encoding
    assert replaced_bytes == (1 if "bad_byte" in name else 0)
    cleaned, report = clean_text(text, re.compile("www\\.|好书"))
    assert cleaned == clean
    assert report["dropped"] == (2 if name == "07_ads.txt" else 0) and report["mojibake_spans"] == 0


def test_wrong_decodings_do_not_fail_so_detection_must_score_them():
    """The traps: these bytes decode "without error" in the wrong encoding, into mojibake."""
    big5 = "\n".join(TRADITIONAL).encode("big5")
    assert big5.decode("gb18030") != "\n".join(TRADITIONAL)  # no exception: GB18030 takes Big5 bytes
    assert decode_text(big5)[:2] == ("\n".join(TRADITIONAL), "big5")
    utf8 = "\n".join(SIMPLIFIED).encode("utf-8")
    assert len(utf8) % 2 == 0 and utf8.decode("utf-16-le")  # no exception: UTF-16 takes these UTF-8 bytes
    assert decode_text(utf8)[:2] == ("\n".join(SIMPLIFIED), "utf-8")


def test_utf16_without_bom_and_utf32():
    text = "\n".join(SIMPLIFIED)
    assert decode_text(text.encode("utf-16-le"))[:2] == (text, "utf-16-le")
    assert decode_text(text.encode("utf-16-be"))[:2] == (text, "utf-16-be")
    assert decode_text(text.encode("utf-32"))[:2] == (text, "utf-32")


def test_paragraphs_line_endings_indentation_and_marks():
    text = "\ufeff  一\r\n\u3000\u3000二\n\n\n三\r\r\n\t四 \r五\u3000\u3000六\u3000\u3000\u3000七\n \u3000 \n第八回　标题"
    assert paragraphs(text) == ["一", "二", "三", "四", "五", "六", "七", "第八回　标题"]


def test_clean_text_options():
    text = "\u3000\u3000廣告 www.x.com\n\u3000\u3000郭靖說道。\n\u3000\u3000黃蓉笑了。\n"
    cleaned, report = clean_text(text, re.compile("www"), convert=str.upper, join_paragraphs=True)
    assert (cleaned, report["paragraphs"], report["dropped"]) == ("郭靖說道。黃蓉笑了。", 2, 1)
    pytest.importorskip("opencc")
    assert clean_text(text, convert=t2s_converter())[0] == "广告 www.x.com\n郭靖说道。\n黄蓉笑了。"


def test_split_train_val_keeps_every_book_in_val():
    book = "\n".join(f"第{i}段。" * 3 for i in range(100))
    train, val = split_train_val(book, 0.1)
    assert train + val == book
    assert train.endswith("\n") and 0.08 < len(val) / len(book) < 0.12
    assert split_train_val("一二", 0.1) == ("一", "二")  # a tiny book still has a val part
    assert split_train_val("一句话没有换行" * 10, 0.1)[1]
    # an article of two long paragraphs: the cut is not moved back to the paragraph end, half the text away,
    # but to the sentence end before it
    article = "第一段。" * 25 + "\n" + "第二句话。" * 20
    train, val = split_train_val(article, 0.1)
    assert train + val == article and train.endswith("。") and 0.1 <= len(val) / len(article) <= 0.15


def test_pieces_encode_exactly_like_the_whole_text():
    text = ("郭靖道：“好！”他转身就走。Hello, world!\n  indented line\n\n" + "黄蓉笑道：“靖哥哥。”" * 50) * 40
    pieces = pieces_for_encoding(text, target_chars=100)
    assert "".join(pieces) == text and len(pieces) > 20
    tokenizer = GPT2Tokenizer()
    assert [t for ids in tokenizer.encode_lines(pieces) for t in ids] == tokenizer.encode(text)


def test_find_input_files(tmp_path):
    (tmp_path / "books" / "more").mkdir(parents=True)
    for name in ("books/a.txt", "books/more/b.TXT", "books/notes.md", "c.txt"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    files = find_input_files([str(tmp_path / "books"), str(tmp_path / "*.txt"), str(tmp_path / "c.txt")])
    assert [os.path.relpath(f, tmp_path) for f in files] == ["books/a.txt", "books/more/b.TXT", "c.txt"]
    with pytest.raises(SystemExit, match=r"--input: nothing found for .*nothing\*\.txt"):
        find_input_files([str(tmp_path / "c.txt"), str(tmp_path / "nothing*.txt")])


def split_books(ids, tokenizer):
    """Token ids of a .bin file -> the decoded text of each book's part (they end with <|endoftext|>)."""
    ends = np.flatnonzero(ids == tokenizer.eot_id)
    assert ends[-1] == len(ids) - 1
    return [tokenizer.decode(part.tolist()) for part in np.split(ids, ends + 1)[:-1]]


@pytest.mark.parametrize("tokenizer_name", ["gpt2", "char"])
def test_prepare_round_trip(tmp_path, tokenizer_name):
    files = fixture_files()
    (tmp_path / "raw").mkdir()
    for name, (data, _, _) in files.items():
        (tmp_path / "raw" / name).write_bytes(data)
    result = run("prepare.py", "--dataset=books", "--input=raw/", f"--tokenizer={tokenizer_name}",
                 "--drop_lines=www\\.|好书", cwd=tmp_path)
    out = tmp_path / "data" / "books"
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    tokenizer = tokenizer_from_meta(meta)
    train = np.fromfile(out / "train.bin", dtype=meta["dtype"])
    val = np.fromfile(out / "val.bin", dtype=meta["dtype"])
    train_parts, val_parts = split_books(train, tokenizer), split_books(val, tokenizer)

    expected = [clean for _, _, clean in (files[name] for name in sorted(files))]
    assert [t + v for t, v in zip(train_parts, val_parts)] == expected
    assert len(val_parts) == len(expected) and all(val_parts)  # every book is in val
    assert [f["encoding"] for f in meta["files"]] == [files[name][1] for name in sorted(files)]
    assert [f["replaced_bytes"] for f in meta["files"]] == [("bad_byte" in name) * 1 for name in sorted(files)]
    assert meta["kind"] == "pretrain" and meta["dtype"] == "uint16" and meta["tokenizer"] == tokenizer_name
    assert (meta["train_tokens"], meta["val_tokens"]) == (len(train), len(val))
    assert meta["train_chars"] == sum(map(len, train_parts)) and meta["val_chars"] == sum(map(len, val_parts))
    assert meta["eot_id"] == tokenizer.eot_id and meta["vocab_size"] == tokenizer.vocab_size
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]
    assert "8 files" in result.stdout and "2 bytes replaced" in result.stdout


def test_prepare_t2s_and_joined_paragraphs(tmp_path):
    pytest.importorskip("opencc")
    (tmp_path / "big5.txt").write_bytes(lines(TRADITIONAL, newline="\r\n").encode("big5"))
    run("prepare.py", "--dataset=joined", "--input=big5.txt", "--tokenizer=char", "--t2s", "--join_paragraphs",
        cwd=tmp_path)
    out = tmp_path / "data" / "joined"
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    tokenizer = tokenizer_from_meta(meta)
    text = "".join(split_books(np.fromfile(out / "train.bin", dtype=np.uint16), tokenizer)
                   + split_books(np.fromfile(out / "val.bin", dtype=np.uint16), tokenizer))
    assert text.startswith("第一回　风雪惊变钱塘江浩浩江水，日日夜夜无穷无休的从临安") and "\n" not in text


def test_prepare_min_char_count_makes_unk(tmp_path):
    (tmp_path / "a.txt").write_text("甲甲甲乙乙丙\n" * 3 + "丁\n", encoding="utf-8")
    run("prepare.py", "--dataset=rare", "--input=a.txt", "--tokenizer=char", "--min_char_count=2", cwd=tmp_path)
    meta = json.loads((tmp_path / "data" / "rare" / "meta.json").read_text(encoding="utf-8"))
    assert meta["chars"][:2] == "甲乙" and "丙" in meta["chars"] and "丁" not in meta["chars"]
    assert meta["unknown_chars"] == 1


def test_no_input_files_says_where_it_looked(tmp_path):
    result = run("prepare.py", "--dataset=missing", check=False, cwd=tmp_path)
    assert result.returncode != 0
    assert "no input files" in result.stderr and os.path.join("data", "missing", "raw") in result.stderr
    assert "--input=" in result.stderr and not (tmp_path / "data" / "missing").exists()


# mojibake made here the way it is made in the wild: Chinese text encoded one way, decoded another, saved
STORY = "钱塘江浩浩江水，日日夜夜无穷无休的从临安牛家村边绕过，东流入海。江畔一排数十株乌柏树，叶子似火烧般红。"
MOJIBAKE = {
    "utf-8 read as gbk": STORY.encode("utf-8").decode("gbk", errors="replace").replace("\ufffd", "?"),
    "gbk read as latin-1": STORY.encode("gbk").decode("latin-1"),
    "gbk read as big5": STORY.encode("gbk").decode("cp950", errors="replace"),
    "utf-8 read as big5": STORY.encode("utf-8").decode("cp950", errors="replace"),
}


@pytest.mark.parametrize("kind", sorted(MOJIBAKE))
def test_mojibake_is_found_counted_shown_and_dropped(kind):
    garbled = "“你是谁？”那汉子问道。" + MOJIBAKE[kind] + "/P>"  # it starts inside a clean paragraph
    spans = find_mojibake(garbled)
    assert spans and spans[0][0] >= len("“你是谁？”那汉子问道。") - 2
    text = "\n".join(SIMPLIFIED[:3] + [garbled] + SIMPLIFIED[3:])
    cleaned, report = clean_text(text)
    assert cleaned == "\n".join(SIMPLIFIED)
    assert report["mojibake_paragraphs"] == report["dropped"] == 1 and report["mojibake_spans"] == len(spans)
    assert report["mojibake_examples"][0] in garbled
    kept, report = clean_text(text, keep_mojibake=True)
    assert garbled in kept and report["mojibake_paragraphs"] == 1 and report["dropped"] == 0


@pytest.mark.parametrize("clean", [
    "远处传来更鼓声：“笃笃笃、笃笃笃”，已是三更时分。",  # one rare character repeated: an onomatopoeia
    "他说道：“你这是什么?”欧阳锋冷笑一声。",  # a stray '?' where a punctuation mark was lost
    "鸠摩智、慕容复、阿朱、阿紫与游坦之先后来到少室山下。",  # rare names
    "Guo Jing (郭靖) said: \"Where is Huang Rong?\" 2024-01-01, ＡＢＣ.",  # Latin, digits, a few full-width letters
    "\n".join(TRADITIONAL),
])
def test_clean_text_is_not_mojibake(clean):
    assert [find_mojibake(p) for p in paragraphs(clean)] == [[] for _ in paragraphs(clean)]


def test_broken_gbk_full_width_spaces_are_repaired():
    """Indentation written as 0xA0 bytes: GBK reads each pair as 牋, a lone last one with the next byte."""
    data = b"\xa0\xa0\xa0\xa0\xa0?" + "郭靖说道。".encode("gbk") + b"\xa0\xa0\xa0\xa0" + "黄蓉笑了。".encode("gbk")
    text, encoding, _ = decode_text(data * 20)
    assert "牋牋" in text
    cleaned, report = clean_text(text)
    assert cleaned == "\n".join(["郭靖说道。", "黄蓉笑了。"] * 20) and report["repaired_spaces"] == 40
    assert repair_gbk_spaces("一张牋纸")[1] == 0  # the character itself (letter paper) stays


def test_prepare_reports_mojibake_per_file(tmp_path):
    (tmp_path / "clean.txt").write_text(lines(SIMPLIFIED), encoding="utf-8")
    garbled = lines(SIMPLIFIED[:2] + [MOJIBAKE["utf-8 read as gbk"]] + SIMPLIFIED[2:])
    (tmp_path / "garbled.txt").write_text(garbled, encoding="utf-8")
    result = run("prepare.py", "--dataset=m", "--tokenizer=char", "--input=clean.txt", "garbled.txt", cwd=tmp_path)
    assert "garbled.txt: 1 mojibake spans (text decoded with the wrong codec upstream) in 1 paragraphs, dropped" \
        in result.stderr and "clean.txt" not in result.stderr
    meta = json.loads((tmp_path / "data" / "m" / "meta.json").read_text(encoding="utf-8"))
    assert [(f["path"], f["mojibake_paragraphs"], f["paragraphs"]) for f in meta["files"]] == \
        [("clean.txt", 0, 5), ("garbled.txt", 1, 5)]
    result = run("prepare.py", "--dataset=m", "--tokenizer=char", "--input=garbled.txt", "--keep_mojibake",
                 cwd=tmp_path)
    assert "kept (--keep_mojibake)" in result.stderr


ARTICLES = [  # wiki-like articles: paragraphs separated by blank lines, traditional and simplified, Latin text
    "金庸\n\n金庸（1924年3月10日—2018年10月30日），本名查良鏞，香港作家。\n\n代表作有《射雕英雄传》。",
    "射雕英雄传\n\n《射鵰英雄傳》是金庸創作的長篇武俠小說。\r\n　　故事以南宋為背景。",
    "x",  # too short after cleaning: no document
    "Wuxia (武侠) is a genre of Chinese fiction. It means \"martial heroes\".\n\n  Indented line.",
    "郭靖\n\n郭靖是《射雕英雄传》的主角。" * 30,
]


def write_articles(path, articles, extra_lines=()):
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(articles):
            f.write(json.dumps({"id": f"ID{7000 + i}", "url": f"https://zh.wikipedia.org/wiki?curid={7000 + i}",
                                "title": f"标题{i}号", "text": text}, ensure_ascii=False) + "\n")
        for line in extra_lines:
            f.write(line + "\n")


def read_dataset(out):
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    return meta, (out / "train.bin").read_bytes(), (out / "val.bin").read_bytes()


@pytest.mark.parametrize("tokenizer_name", ["gpt2", "char"])
def test_jsonl_articles_give_the_tokens_of_the_same_texts_as_txt(tmp_path, tokenizer_name):
    """2024's file, as given ({"id", "url", "title", "text"} per line), against one .txt file per article."""
    write_articles(tmp_path / "wiki-zh-subset-train_subset.jsonl", ARTICLES)
    (tmp_path / "articles").mkdir()  # not "txt": a --dataset that names an existing folder is that folder
    for i, text in enumerate(ARTICLES):
        (tmp_path / "articles" / f"article_{i:03d}.txt").write_text(text, encoding="utf-8")
    result = run("prepare.py", "--dataset=wiki", "--input=wiki-zh-subset-train_subset.jsonl",
                 f"--tokenizer={tokenizer_name}", cwd=tmp_path)
    txt = run("prepare.py", "--dataset=txt", "--input=articles/", f"--tokenizer={tokenizer_name}", cwd=tmp_path)
    assert "article_002.txt holds no text after cleaning" in txt.stderr  # the one-character article
    wiki_meta, wiki_train, wiki_val = read_dataset(tmp_path / "data" / "wiki")
    txt_meta, txt_train, txt_val = read_dataset(tmp_path / "data" / "txt")
    assert (wiki_train, wiki_val) == (txt_train, txt_val)
    for key in ("train_tokens", "val_tokens", "train_chars", "val_chars", "vocab_size"):
        assert wiki_meta[key] == txt_meta[key]
    assert wiki_meta.get("chars") == txt_meta.get("chars")
    assert [f["documents"] for f in wiki_meta["files"]] == [4] and "4 documents" in result.stdout

    tokenizer = tokenizer_from_meta(wiki_meta)
    dtype = wiki_meta["dtype"]
    train_parts = split_books(np.frombuffer(wiki_train, dtype=dtype), tokenizer)
    val_parts = split_books(np.frombuffer(wiki_val, dtype=dtype), tokenizer)
    text = "".join(train_parts + val_parts)
    assert len(train_parts) == len(val_parts) == 4  # each article one document, each in both splits
    assert not re.search("ID7|https?:|wikipedia|curid|标题", text)  # id, url and title never leak
    assert train_parts[0] + val_parts[0] == "金庸\n金庸（1924年3月10日—2018年10月30日），本名查良鏞，香港作家。\n代表作有《射雕英雄传》。"


def test_a_folder_mixing_txt_and_jsonl(tmp_path):
    (tmp_path / "raw" / "wiki").mkdir(parents=True)
    (tmp_path / "raw" / "book.txt").write_bytes(lines(SIMPLIFIED, newline="\r\n").encode("gb18030"))
    write_articles(tmp_path / "raw" / "wiki" / "part1.JSONL", ARTICLES[:2],
                   extra_lines=['{"id": 1, "title": "no text"}', "", '{"text": 42}', "[1, 2]"])
    (tmp_path / "raw" / "notes.md").write_text("# not a corpus file", encoding="utf-8")
    result = run("prepare.py", "--dataset=mixed", "--tokenizer=char", "--input=raw/", cwd=tmp_path)
    meta = json.loads((tmp_path / "data" / "mixed" / "meta.json").read_text(encoding="utf-8"))
    assert [os.path.basename(f["path"]) for f in meta["files"]] == ["book.txt", "part1.JSONL"]
    assert [f["encoding"] for f in meta["files"]] == ["gb18030", "utf-8 (JSON Lines)"]
    assert [f["documents"] for f in meta["files"]] == [1, 2]
    assert meta["files"][1]["skipped_records"] == 3
    assert "3 line(s) without a \"text\" string skipped (the first is line 3)" in result.stderr
    assert "first_skipped" not in meta["files"][1]


def test_invalid_json_line_names_file_and_line_and_writes_nothing(tmp_path):
    write_articles(tmp_path / "articles.jsonl", ARTICLES[:2], extra_lines=['{"text": "cut off'])
    result = run("prepare.py", "--dataset=broken", "--input=articles.jsonl", check=False, cwd=tmp_path)
    assert result.returncode != 0
    assert "articles.jsonl:3: invalid JSON" in result.stderr
    out = tmp_path / "data" / "broken"
    assert not out.exists() or not os.listdir(out)  # no .bin, no .tmp, no meta.json


def test_jsonl_bad_bytes_and_escaped_surrogates_are_counted_not_fatal(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes('{"text": "郭靖'.encode("utf-8") + b"\xff" + '是主角。"}\n{"text": "黄蓉\\ud800很聪明。"}\n'.encode("utf-8"))
    run("prepare.py", "--dataset=bad", "--input=a.jsonl", "--tokenizer=char", cwd=tmp_path)
    meta = json.loads((tmp_path / "data" / "bad" / "meta.json").read_text(encoding="utf-8"))
    assert meta["files"][0]["replaced_bytes"] == 2 and meta["files"][0]["documents"] == 2
    assert "\ufffd" in meta["chars"]


def test_jsonl_articles_get_the_mojibake_checks_of_books(tmp_path):
    garbled = "\n".join(SIMPLIFIED[:2] + [MOJIBAKE["gbk read as big5"]])
    write_articles(tmp_path / "a.jsonl", ["\n".join(SIMPLIFIED), garbled, "\n".join(SIMPLIFIED[2:])])
    result = run("prepare.py", "--dataset=mj", "--input=a.jsonl", "--tokenizer=char", cwd=tmp_path)
    assert "a.jsonl: 1 mojibake spans (text decoded with the wrong codec upstream) in 1 paragraphs, dropped" \
        in result.stderr
    [entry] = json.loads((tmp_path / "data" / "mj" / "meta.json").read_text(encoding="utf-8"))["files"]
    assert (entry["documents"], entry["mojibake_paragraphs"], entry["paragraphs"]) == (3, 1, 10)
    assert "mojibake_examples" not in entry


def test_refuses_to_pretrain_on_evaluation_only_files(tmp_path):
    """data/ read whole would take in data/eval/'s probes and demo questions as text: refused, nothing written."""
    result = run_here("prepare.py", "--dataset=everything", f"--input={os.path.join(ROOT, 'data')}", cwd=tmp_path)
    assert result.returncode != 0
    assert f"--input: {os.path.join(ROOT, 'data', 'eval')}" in result.stderr and "is evaluation-only" in result.stderr
    assert "--input=data/jinyong/raw/" in result.stderr and not (tmp_path / "data").exists()
