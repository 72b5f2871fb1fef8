"""tools/poetry/poetry.py and tools/poetry/fetch.py on tiny collections written here in the npm package's real JSON
schemas (traditional and simplified): parsing, t2s, rendering, the QA generator and its leak-free split."""
import io
import json
import os
import random
import re
import sys
import tarfile

import pytest

from conftest import ROOT, run

sys.path.insert(0, os.path.join(ROOT, "tools", "poetry"))
import poetry  # noqa: E402  the demo corpus module, tools/poetry/poetry.py

# 唐诗三百首: traditional; sections of {"chapter", "subchapter", "author", "paragraphs"}; editorial notes
TANGSHI = {"title": "唐詩三百首", "content": [
    {"type": "五言絕句", "content": [
        {"chapter": "靜夜思", "subchapter": None, "author": "李白",
         "paragraphs": ["床前明月光，疑是地上霜，", "舉頭望明月，低頭思故鄉。"]},
        {"chapter": "登鸛雀樓", "subchapter": None, "author": "王之渙",
         "paragraphs": ["白日依山盡，黃河入海流。", "欲窮千里目，更上一層樓。"]},
        {"chapter": "相思", "subchapter": None, "author": "王維",
         "paragraphs": ["紅豆生南國，春來發幾枝。", "願君多采擷，此物最相思。"]},
        {"chapter": "鹿柴", "subchapter": None, "author": "王維",
         "paragraphs": ["空山不見人，但聞人語響。", "返景入深林，復照青苔上。"]},
        {"chapter": "山中送別", "subchapter": "送別 / 山中送別", "author": "王維",
         "paragraphs": ["山中相送罷，日暮掩柴扉。", "春草明年綠，王孫歸不歸？(明年 一作：年年)"]},
        {"chapter": "春曉", "subchapter": None, "author": "孟浩然",
         "paragraphs": ["春眠不覺曉，處處聞啼鳥。", "夜來風雨聲，花落知多少。"]},
        {"chapter": "雜詩", "subchapter": "雜詩三首·其二", "author": "王維",
         "paragraphs": ["君自故鄉來，應知故鄉事。", "來日綺窗前，寒梅著花未？"]},
        {"chapter": "雜詩", "subchapter": "雜詩三首·其三", "author": "王維",
         "paragraphs": ["已見寒梅發，復聞啼鳥聲。", "心心視春草，畏向玉階生。"]},
        {"chapter": "宿建德江", "subchapter": None, "author": "孟浩然",
         "paragraphs": ["移舟泊煙渚，日暮客愁新。", "野曠天低樹，江清月近人。"]},
    ]},
    {"type": "七言絕句", "content": [
        {"chapter": "夜上受降城聞笛", "subchapter": None, "author": "李益",  # a note over three lines
         "paragraphs": ["回樂烽前沙似雪，受降城外月如霜。(回樂", "一作：回樂", "）", "不知何處吹蘆管，一夜徵人盡望鄉。"]},
        {"chapter": "早發白帝城", "subchapter": None, "author": "李白",
         "paragraphs": ["朝辭白帝彩雲間，千里江陵一日還。", "兩岸猿聲啼不住，輕舟已過萬重山。"]},
        {"chapter": "楓橋夜泊", "subchapter": None, "author": "張繼",
         "paragraphs": ["月落烏啼霜滿天，江楓漁火對愁眠。", "姑蘇城外寒山寺，夜半鐘聲到客船。"]},
    ]},
]}

# 千家诗: traditional; "（唐）" before the author; a set of poems nested as paragraphs
QIANJIASHI = {"title": "千家詩", "author": "南宋謝枋得/明代王相", "content": [
    {"type": "五言絕句", "content": [
        {"chapter": "春眠", "author": "（唐）孟浩然",  # 唐诗三百首's 春晓 under another title
         "paragraphs": ["春眠不覺曉，處處聞啼鳥。", "夜來風雨聲，花落知多少。"]},
        {"chapter": "登樓", "author": "（唐）朱斌",  # 登鹳雀楼 again, one character apart, under another poet
         "paragraphs": ["白日依山沒，黃河入海流。", "欲窮千里目，更上一層樓。"]},
        {"chapter": "雜詩", "author": "（唐）王維",  # 王维 has another 杂诗 in 唐诗三百首
         "paragraphs": ["家住孟津河，門對孟津口。", "常有江南船，寄書家中否？"]},
        {"chapter": "雪梅", "author": "（宋）盧梅坡", "paragraphs": [
            {"subchapter": "其一", "paragraphs": ["梅雪爭春未肯降，騷人閣筆費評章。", "梅須遜雪三分白，雪卻輸梅一段香。"]},
            {"subchapter": "其二", "paragraphs": ["有梅無雪不精神，有雪無詩俗了人。", "日暮詩成天又雪，與梅并作十分春。"]},
        ]},
    ]},
]}

# 宋词三百首: simplified; a list of {"author", "paragraphs", "rhythmic"}: a 词 is named by its tune
SONGCI = [
    {"author": "苏轼", "rhythmic": "水调歌头", "tags": ["宋词三百首"], "paragraphs": [
        "明月几时有？把酒问青天。", "不知天上宫阙，今夕是何年。", "我欲乘风归去，又恐琼楼玉宇，高处不胜寒。",
        "起舞弄清影，何似在人间。"]},
    {"author": "晏殊", "rhythmic": "浣溪沙", "paragraphs": [
        "一曲新词酒一杯，去年天气旧亭台。", "夕阳西下几时回。", "无可奈何花落去，似曾相识燕归来。", "小园香径独徘徊。"]},
    {"author": "晏殊", "rhythmic": "浣溪沙", "paragraphs": [
        "一向年光有限身，等闲离别易销魂。", "酒筵歌席莫辞频。", "满目山河空念远，落花风雨更伤春。", "不如怜取眼前人。"]},
    {"author": "苏轼", "rhythmic": "浣溪沙", "paragraphs": [
        "山下兰芽短浸溪，松间沙路净无泥。", "萧萧暮雨子规啼。", "谁道人生无再少？门前流水尚能西！", "休将白发唱黄鸡。"]},
    {"author": "李清照", "rhythmic": "如梦令", "paragraphs": [
        "常记溪亭日暮，沉醉不知归路。", "兴尽晚回舟，误入藕花深处。", "争渡，争渡，惊起一滩鸥鹭。"]},
]

SHIJING = [{"title": "关雎", "chapter": "国风", "section": "周南", "content": [
    "关关雎鸠，在河之洲。窈窕淑女，君子好逑。", "参差荇菜，左右流之。窈窕淑女，寤寐求之。"]}]
LUNYU = [{"chapter": "学而篇", "paragraphs": ["子曰：“学而时习之，不亦说乎？有朋自远方来，不亦乐乎？”"]}]
CHUCI = [{"title": "离骚", "section": "离骚", "author": "屈原", "content": ["帝高阳之苗裔兮，朕皇考曰伯庸。"]}]
MENGZI = [{"chapter": "梁惠王上", "paragraphs": ["孟子見梁惠王。王曰：「叟不遠千里而來，亦將有以利吾國乎？」"]}]
GUWEN = {"title": "古文觀止", "abstract": ["…"], "content": [{"title": "卷一・周文", "content": [
    {"chapter": "鄭伯克段於鄢", "source": "《左傳》", "author": "先秦：左丘明 ",
     "paragraphs": ["初，鄭武公娶於申，曰武姜，生莊公及共叔段。"]}]}]}
# 全唐诗: traditional, a list of {"author", "paragraphs", "title", "id"}; a poem that repeats 床前明月光
QUANTANGSHI = [
    {"author": "李白", "title": "靜夜思", "id": "1", "paragraphs": ["床前看月光，疑是地上霜。", "舉頭望山月，低頭思故鄉。"]},
    {"author": "李白", "title": "夜思", "id": "2", "paragraphs": ["床前明月光，照我讀書堂。", "夜深人不寐，獨坐思故鄉。"]},
    {"author": "王維", "title": "鳥鳴澗", "id": "3", "paragraphs": ["人閒桂花落，夜靜春山空。", "月出驚山鳥，時鳴春澗中。"]},
    {"author": "杜甫", "title": "絕句", "id": "4", "paragraphs": ["兩個黃鸝鳴翠柳，一行白鷺上青天。"]},
    {"author": "王維", "title": "缺字", "id": "5", "paragraphs": ["□□山中客，相逢不相識。"]},
]

PACKAGE_FILES = {
    "mengxue/tangshisanbaishou.json": TANGSHI, "mengxue/qianjiashi.json": QIANJIASHI,
    "songci/宋词三百首.json": SONGCI, "shijing/shijing.json": SHIJING, "lunyu/lunyu.json": LUNYU,
    "chuci/chuci.json": CHUCI, "sishuwujing/mengzi.json": MENGZI, "mengxue/guwenguanzhi.json": GUWEN,
    "quantangshi/poet.tang.0.json": QUANTANGSHI[:3], "quantangshi/poet.tang.1000.json": QUANTANGSHI[3:],
    "quantangshi/poet.song.0.json": [{"author": "宋太祖", "title": "日詩", "paragraphs": ["欲出未出光辣達。"]}],
}


def by_title(records):
    return {record["title"]: record for record in records}


@pytest.fixture(scope="module")
def fixture_poems():
    tang = poetry.load_collection("tangshi300", [TANGSHI])
    qianjia = poetry.load_collection("qianjiashi", [QIANJIASHI])
    songci = poetry.load_collection("songci300", [SONGCI])
    extra = poetry.load_collection("quantangshi", [QUANTANGSHI])
    shijing = poetry.load_collection("shijing", [SHIJING])
    qa_poems = tang + qianjia + songci
    return qa_poems, qa_poems + shijing + extra


# ---------------------------------------------------------------------------------------------------------
# parsing and conversion

def test_traditional_collection_is_parsed_and_converted_to_simplified():
    records = poetry.load_collection("tangshi300", [TANGSHI])
    assert len(records) == 12
    poem = by_title(records)["静夜思"]
    assert poem == {"collection": "唐诗三百首", "title": "静夜思", "author": "李白",
                    "lines": ["床前明月光，疑是地上霜，", "举头望明月，低头思故乡。"],
                    "text": "床前明月光，疑是地上霜，\n举头望明月，低头思故乡。"}
    assert by_title(records)["登鹳雀楼"]["author"] == "王之涣"
    assert not any(char in "".join(r["text"] + r["title"] + r["author"] for r in records) for char in "舉鄉樓渙維")


def test_editorial_notes_are_removed_even_across_lines():
    records = by_title(poetry.load_collection("tangshi300", [TANGSHI]))
    assert records["山中送别"]["lines"] == ["山中相送罢，日暮掩柴扉。", "春草明年绿，王孙归不归？"]
    assert records["夜上受降城闻笛"]["lines"] == ["回乐烽前沙似雪，受降城外月如霜。", "不知何处吹芦管，一夜征人尽望乡。"]


def test_qianjiashi_authors_lose_the_dynasty_and_nested_poems_become_records():
    records = by_title(poetry.load_collection("qianjiashi", [QIANJIASHI]))
    assert sorted(records) == ["春眠", "杂诗", "登楼", "雪梅·其一", "雪梅·其二"]
    assert records["春眠"]["author"] == "孟浩然"
    assert records["雪梅·其二"]["author"] == "卢梅坡"
    assert records["雪梅·其二"]["lines"][0] == "有梅无雪不精神，有雪无诗俗了人。"


def test_simplified_collections_keep_their_text_and_get_titles():
    songci = poetry.load_collection("songci300", [SONGCI])
    assert [(r["title"], r["author"]) for r in songci][:2] == [("水调歌头", "苏轼"), ("浣溪沙", "晏殊")]
    assert songci[0]["lines"] == SONGCI[0]["paragraphs"]
    shijing = poetry.load_collection("shijing", [SHIJING])[0]
    assert (shijing["title"], shijing["author"], shijing["collection"]) == ("诗经·周南·关雎", "", "诗经")
    assert poetry.load_collection("lunyu", [LUNYU])[0]["title"] == "论语·学而篇"
    guwen = poetry.load_collection("guwenguanzhi", [GUWEN])[0]
    assert (guwen["title"], guwen["author"]) == ("郑伯克段于鄢", "左丘明")


def test_converter_is_applied_only_to_traditional_collections():
    marked = poetry.load_collection("tangshi300", [TANGSHI], convert=lambda text: "<" + text + ">")
    assert marked[0]["title"] == "<靜夜思>" and marked[0]["lines"][0] == "<床前明月光，疑是地上霜，>"
    assert marked[0]["text"] == "\n".join(marked[0]["lines"])
    untouched = poetry.load_collection("songci300", [SONGCI], convert=lambda text: "<" + text + ">")
    assert untouched[0]["title"] == "水调歌头"


@pytest.mark.parametrize("raw, clean", [("（唐）孟浩然", "孟浩然"), ("先秦：左丘明 ", "左丘明"),
                                        ("魏晉：西晉·李密 ", "李密"), ("先秦：劉向 撰 ", "劉向"), (None, "")])
def test_clean_author(raw, clean):
    assert poetry.clean_author(raw) == clean


# ---------------------------------------------------------------------------------------------------------
# pretraining text

def test_render_title_author_then_poem_one_block_per_poem(fixture_poems):
    qa_poems, all_poems = fixture_poems
    poem = by_title(qa_poems)["静夜思"]
    assert poetry.render_poem(poem) == "《静夜思》\n李白\n床前明月光，疑是地上霜，\n举头望明月，低头思故乡。\n\n"
    shijing = [p for p in all_poems if p["collection"] == "诗经"][0]
    assert poetry.render_poem(shijing).startswith("《诗经·周南·关雎》\n关关雎鸠，在河之洲。")  # no author line
    text = poetry.render_collection(qa_poems[:2])
    assert text.count("\n\n") == 2 and text.startswith("《静夜思》\n") and "\n\n《登鹳雀楼》\n王之涣\n" in text


# ---------------------------------------------------------------------------------------------------------
# QA generation

def all_records(fixture_poems, val_fraction=0.3, seed=1):
    qa_poems, all_poems = fixture_poems
    train, val = poetry.make_qa(qa_poems, all_poems, val_fraction, seed)
    return train + val


def poem_of(record, qa_poems):
    [poem] = [p for p in poetry.dedupe_poems(qa_poems)
              if p["title"] == record["titles"][0] and p["author"] == record["author"]
              and all(f"“{quoted}”" not in record["answer"] or quoted in poetry.clauses(p)
                      for quoted in re.findall(r"“(.+?)”", record["answer"]))]
    return poem


def test_every_kind_of_question_is_asked(fixture_poems):
    kinds = {record["kind"] for record in all_records(fixture_poems)}
    assert kinds == {"author", "first_line", "next_line", "recite", "source", "works"}


def test_answers_are_short_sentences_ending_in_a_full_stop(fixture_poems):
    for record in all_records(fixture_poems):
        assert record["answer"].endswith("。") and len(record["answer"]) < 300, record
        assert record["question"] and set(record) == {"question", "answer", "kind", "author", "titles"}


def test_answers_are_right_for_the_fixture_poems(fixture_poems):
    qa_poems, _ = fixture_poems
    truth = {(p["title"], p["author"]) for p in qa_poems}
    for record in all_records(fixture_poems):
        answer = record["answer"]
        if record["kind"] == "author":
            [title] = re.findall(r"《(.+?)》", record["question"])
            assert record["author"] in answer and f"《{title}》" in answer and (title, record["author"]) in truth
        elif record["kind"] == "first_line":
            [first] = re.findall(r"“(.+?)”", answer)
            assert first == poetry.clauses(poem_of(record, qa_poems))[0]
        elif record["kind"] == "next_line":
            line, after = re.findall(r"“(.+?)”", answer)
            assert line in record["question"]
            pieces = poetry.clauses(poem_of(record, qa_poems))
            assert pieces[pieces.index(line) + 1] == after, record
        elif record["kind"] == "recite":
            poem = poem_of(record, qa_poems)
            assert answer == f"{poem['author']}的《{poem['title']}》全文是：{''.join(poem['lines'])}"
        elif record["kind"] == "source":
            [line] = re.findall(r"“(.+?)”", answer)
            assert line in record["question"] and line in poetry.clauses(poem_of(record, qa_poems))
            assert answer.endswith(f"出自{record['author']}的《{record['titles'][0]}》。")
        elif record["kind"] == "works":
            listed = re.findall(r"《(.+?)》", answer)
            assert listed and all((title, record["author"]) in truth for title in listed)
            assert set(listed) <= set(record["titles"])


def test_known_questions_and_answers(fixture_poems):
    pairs = {(r["question"], r["answer"]) for r in poetry.make_qa(*fixture_poems, val_fraction=0.01, seed=3)[0]}
    answers = {answer for _, answer in pairs}
    assert any(answer in answers for answer in ["《静夜思》的作者是李白。", "《静夜思》是李白写的。",
                                                "李白写了《静夜思》。", "《静夜思》出自李白之手。"])
    assert "王维的《鹿柴》全文是：空山不见人，但闻人语响。返景入深林，复照青苔上。" in answers


def test_ambiguous_questions_are_not_asked(fixture_poems):
    records = all_records(fixture_poems)
    questions = " ".join(r["question"] for r in records)
    # 晏殊 wrote two 《浣溪沙》 and 苏轼 one: no "who wrote", no way to name 晏殊's; 苏轼's is named with him
    assert "《浣溪沙》的作者" not in questions and "晏殊的《浣溪沙》" not in questions
    assert "《浣溪沙》" not in questions.replace("苏轼的《浣溪沙》", "")
    # 床前明月光 is followed by another line in 全唐诗's 《夜思》, and 全唐诗 has another 《静夜思》
    assert "“床前明月光”" not in questions
    assert not any(r["kind"] in ("first_line", "recite") and r["titles"] == ["静夜思"] for r in records)
    # 山中送别 ends with ？, so reciting it would not end in 。
    assert not any(r["kind"] == "recite" and r["titles"] == ["山中送别"] for r in records)


def test_line_questions_only_where_the_whole_corpus_agrees(fixture_poems):
    qa_poems, all_poems = fixture_poems
    index = poetry.build_index(all_poems)
    poem = by_title(qa_poems)["静夜思"]
    # 全唐诗 continues 床前明月光 with 照我读书堂 (《夜思》) and 疑是地上霜 with 举头望山月 (its 《静夜思》)
    pairs = poetry.qa_next_line(poem, index, random.Random(0), count=10)
    assert [re.findall(r"“(.+?)”", answer) for _, answer in pairs] == [["举头望明月", "低头思故乡"]]
    # 床前明月光 is also in 《夜思》; the lines 全唐诗's 《静夜思》 shares are fine: it is 李白's 《静夜思》 too
    sources = {poetry.qa_source(poem, index, random.Random(seed))[0][1] for seed in range(30)}
    assert sources == {f"“{line}”出自李白的《静夜思》。" for line in ("疑是地上霜", "举头望明月", "低头思故乡")}


def test_a_poem_in_two_collections_is_asked_about_once(fixture_poems):
    records = all_records(fixture_poems)
    assert not any(r["titles"] == ["春眠"] for r in records)  # 千家诗's 春眠 is 唐诗三百首's 春晓
    assert any(r["titles"] == ["春晓"] for r in records)
    assert not any(r["titles"] == ["登楼"] for r in records)  # 登鹳雀楼 with a variant, under another author
    assert any(r["titles"] == ["登鹳雀楼"] for r in records)
    # but 王维's two 《杂诗》 are two poems: both are asked about
    answers = "".join(r["answer"] for r in records if r["titles"] == ["杂诗"])
    assert any(line in answers for line in ["君自故乡来", "应知故乡事", "来日绮窗前", "寒梅著花未"])
    assert any(line in answers for line in ["家住孟津河", "门对孟津口", "常有江南船", "寄书家中否"])


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_split_never_leaks_a_val_poem_into_train(fixture_poems, seed):
    qa_poems, all_poems = fixture_poems
    train, val = poetry.make_qa(qa_poems, all_poems, val_fraction=0.3, seed=seed)
    assert train and val
    train_pairs = {(title, r["author"]) for r in train for title in r["titles"]}
    for record in val:
        for title in record["titles"]:
            assert (title, record["author"]) not in train_pairs, record
    questions = [r["question"] for r in train + val]
    assert len(set(questions)) == len(questions)  # e.g. who wrote 《杂诗》 is asked once


def test_repeated_questions_are_dropped_and_works_questions_avoid_the_other_split():
    records = [{"question": q, "answer": a} for q, a in [("甲？", "一。"), ("乙？", "二。"), ("甲？", "三。")]]
    assert poetry.drop_repeated_questions(records, seen={"乙？"}) == [records[0]]
    for seed in range(10):
        [(question, _)] = poetry.qa_works("李白", ["静夜思"], random.Random(seed),
                                          avoid={"李白写过什么作品？", "请列举几首李白的作品。"})
        assert question == "李白有什么代表作？"


def test_split_is_deterministic_for_a_seed(fixture_poems):
    qa_poems, all_poems = fixture_poems
    first = poetry.make_qa(qa_poems, all_poems, 0.3, seed=7)
    assert poetry.make_qa(qa_poems, all_poems, 0.3, seed=7) == first
    assert any(poetry.make_qa(qa_poems, all_poems, 0.3, seed=s) != first for s in (8, 9, 10))


def test_select_extra_poems_skips_known_and_broken_poems():
    extra = poetry.load_collection("quantangshi", [QUANTANGSHI])
    corpus = poetry.load_collection("tangshi300", [TANGSHI])
    picked = poetry.select_extra_poems(extra, {"李白", "王维"}, corpus, max_chars=10_000, seed=0)
    assert [p["title"] for p in picked] == ["静夜思", "夜思", "鸟鸣涧"]  # 杜甫 not asked for, □ skipped
    corpus.append(extra[0])
    assert [p["title"] for p in poetry.select_extra_poems(extra, {"李白"}, corpus, 10_000, 0)] == ["夜思"]
    small = poetry.select_extra_poems(extra, {"李白", "王维"}, [], max_chars=40, seed=0)
    assert len(small) == 1 and len(poetry.render_collection(small)) <= 40


# ---------------------------------------------------------------------------------------------------------
# tools/poetry/fetch.py end to end, on a tarball laid out like npm's (package/dist/...): no network

def write_tarball(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, doc in {"package/package.json": {"name": "chinese-poetry"},
                          **{f"package/dist/{k}": v for k, v in files.items()}}.items():
            data = json.dumps(doc, ensure_ascii=False).encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_fetch_end_to_end_on_a_fixture_tarball(tmp_path):
    tarball = tmp_path / "chinese-poetry-2.0.1.tgz"
    write_tarball(tarball, PACKAGE_FILES)
    raw, qa = tmp_path / "raw", tmp_path / "qa"
    raw.mkdir()
    (raw / "old_collection.txt").write_text("from an earlier run", encoding="utf-8")
    args = [f"--tarball={tarball}", f"--raw_dir={raw}", f"--qa_dir={qa}", "--val_fraction=0.3", "--seed=2"]
    result = run("tools/poetry/fetch.py", *args)
    assert sorted(p.name for p in raw.iterdir()) == sorted(
        ["tangshi300.txt", "qianjiashi.txt", "songci300.txt", "shijing.txt", "chuci.txt", "lunyu.txt",
         "mengzi.txt", "guwenguanzhi.txt", "quantangshi.txt"])
    tang = (raw / "tangshi300.txt").read_text(encoding="utf-8")
    assert tang.startswith("《静夜思》\n李白\n床前明月光，疑是地上霜，\n举头望明月，低头思故乡。\n\n《登鹳雀楼》")
    assert "孟子见梁惠王" in (raw / "mengzi.txt").read_text(encoding="utf-8")
    extra = (raw / "quantangshi.txt").read_text(encoding="utf-8")
    assert "《夜思》" in extra and "杜甫" not in extra and "宋太祖" not in extra  # 杜甫 is in no collection
    train, val = read_jsonl(qa / "qa_train.jsonl"), read_jsonl(qa / "qa_val.jsonl")
    assert train and val
    train_pairs = {(title, r["author"]) for r in train for title in r["titles"]}
    assert not any((title, r["author"]) in train_pairs for r in val for title in r["titles"])
    assert "total" in result.stdout and "qa_val.jsonl" in result.stdout
    assert "removing" in result.stdout and not (raw / "old_collection.txt").exists()
    # the same seed gives the same files
    run("tools/poetry/fetch.py", *args)
    assert read_jsonl(qa / "qa_train.jsonl") == train and read_jsonl(qa / "qa_val.jsonl") == val


def test_fetch_explains_a_tarball_without_the_collection(tmp_path):
    tarball = tmp_path / "other.tgz"
    write_tarball(tarball, {k: v for k, v in PACKAGE_FILES.items() if not k.startswith("songci")})
    result = run("tools/poetry/fetch.py", f"--tarball={tarball}", f"--raw_dir={tmp_path / 'raw'}",
                 f"--qa_dir={tmp_path / 'qa'}", check=False)
    assert result.returncode != 0 and "songci/宋词三百首.json" in result.stderr
    result = run("tools/poetry/fetch.py", f"--tarball={tmp_path / 'missing.tgz'}", check=False)
    assert result.returncode != 0 and "no such file" in result.stderr
