"""Checks on the hand-written Jin Yong QA set, data/sft_jinyong/qa.jsonl.

Run as a script to print how many records each book has:
    python tests/test_jinyong_qa.py
"""
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QA_PATH = os.path.join(ROOT, "data", "sft_jinyong", "qa.jsonl")

# Names, places and things that point to one book. 神雕侠侣 is the sequel of 射雕英雄传 and shares its cast
# (郭靖, 黄蓉, 洪七公 ...), so a record that names anything of 神雕侠侣 counts for 神雕侠侣, and only the rest
# count for 射雕英雄传. 天龙八部 shares no characters with the other two.
BOOK_KEYWORDS = {
    "天龙八部": ["天龙", "段誉", "乔峰", "萧峰", "萧远山", "虚竹", "段正淳", "段正明", "段延庆", "刀白凤", "王语嫣",
                 "慕容", "包不同", "阿朱", "阿紫", "阿碧", "鸠摩智", "游坦之", "木婉清", "钟灵", "天山童姥", "李秋水",
                 "无崖子", "丁春秋", "玄慈", "叶二娘", "南海鳄神", "逍遥派", "灵鹫宫", "星宿", "六脉神剑", "凌波微步",
                 "北冥神功", "雁门关", "聚贤庄", "扫地僧", "康敏", "马大元", "薛慕华"],
    "神雕侠侣": ["神雕", "杨过", "小龙女", "古墓", "玉女", "李莫愁", "林朝英", "孙婆婆", "赵志敬", "尹志平", "郭芙",
                 "郭襄", "郭破虏", "耶律齐", "武三通", "武敦儒", "武修文", "陆无双", "程英", "独孤求败", "玄铁重剑",
                 "绝情谷", "公孙止", "裘千尺", "公孙绿萼", "金轮法王", "霍都", "达尔巴", "朱子柳", "大胜关", "襄阳",
                 "蒙哥", "黯然销魂掌", "寒玉床", "冯默风", "何沅君"],
    "射雕英雄传": ["射雕", "郭靖", "黄蓉", "郭啸天", "杨铁心", "包惜弱", "李萍", "江南七怪", "柯镇恶", "朱聪", "韩小莹",
                  "张阿生", "丘处机", "全真七子", "马钰", "谭处端", "黑风双煞", "陈玄风", "梅超风", "完颜洪烈", "杨康",
                  "穆念慈", "铁木真", "成吉思汗", "哲别", "拖雷", "华筝", "五绝", "王重阳", "周伯通", "瑛姑", "一灯",
                  "裘千仞", "黄药师", "洪七公", "欧阳锋", "欧阳克", "梁子翁", "沙通天", "陆乘风", "傻姑", "软猬甲",
                  "打狗棒", "九阴真经"],
}
MIN_RECORDS_PER_BOOK = 60
MIN_UNIQUE_QUESTIONS = 200
SENTENCE_ENDS = "。！？"


def load_records(path):
    """The records of a JSON Lines file; a line that is not a JSON object fails naming its line number."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise AssertionError(f"{path}:{line_number}: not valid JSON ({error})") from None
            assert isinstance(record, dict), f"{path}:{line_number}: expected a JSON object, got {type(record).__name__}"
            records.append(record)
    return records


def book_of(record):
    """The book a record is about, by the first book in BOOK_KEYWORDS whose keywords it names; None if none."""
    text = record["question"] + record["answer"]
    for book, keywords in BOOK_KEYWORDS.items():
        if any(keyword in text for keyword in keywords):
            return book
    return None


def count_per_book(records):
    counts = {book: 0 for book in BOOK_KEYWORDS}
    for record in records:
        book = book_of(record)
        if book is not None:
            counts[book] += 1
    return counts


@pytest.fixture(scope="module")
def records():
    return load_records(QA_PATH)


def test_every_record_has_a_question_and_an_answer(records):
    for line_number, record in enumerate(records, start=1):
        assert set(record) == {"question", "answer"}, f"{QA_PATH}:{line_number}: keys are {sorted(record)}"
        for key in ("question", "answer"):
            assert isinstance(record[key], str) and record[key], f"{QA_PATH}:{line_number}: empty or non-string {key}"


def test_questions_are_unique_and_enough(records):
    questions = [record["question"] for record in records]
    repeated = sorted({question for question in questions if questions.count(question) > 1})
    assert not repeated, f"{QA_PATH}: repeated questions: {repeated}"
    assert len(set(questions)) >= MIN_UNIQUE_QUESTIONS


def test_text_is_clean(records):
    for line_number, record in enumerate(records, start=1):
        for key in ("question", "answer"):
            text = record[key]
            assert "\ufffd" not in text, f"{QA_PATH}:{line_number}: U+FFFD in {key}"
            assert not any(char.isspace() for char in text), f"{QA_PATH}:{line_number}: whitespace in {key}: {text!r}"
        assert record["question"].endswith("？"), f"{QA_PATH}:{line_number}: question should end with ？"
        assert record["answer"][-1] in SENTENCE_ENDS, f"{QA_PATH}:{line_number}: answer should end with one of {SENTENCE_ENDS}"


def test_every_book_is_covered(records):
    counts = count_per_book(records)
    for book, count in counts.items():
        assert count >= MIN_RECORDS_PER_BOOK, f"only {count} records about {book}, want {MIN_RECORDS_PER_BOOK}"


def test_every_record_is_about_one_of_the_books(records):
    strays = [record["question"] for record in records if book_of(record) is None]
    assert not strays, f"{QA_PATH}: records naming no known character or place (add a keyword?): {strays}"


def test_book_of_prefers_the_sequel_for_shared_characters():
    assert book_of({"question": "郭靖的父亲是谁？", "answer": "郭啸天。"}) == "射雕英雄传"
    assert book_of({"question": "杨过的父亲是谁？", "answer": "杨康。"}) == "神雕侠侣"
    assert book_of({"question": "段誉会什么？", "answer": "六脉神剑。"}) == "天龙八部"
    assert book_of({"question": "你好吗？", "answer": "好。"}) is None


if __name__ == "__main__":
    all_records = load_records(QA_PATH)
    for book, count in count_per_book(all_records).items():
        print(f"{book}\t{count}")
    print(f"total\t{len(all_records)}")
