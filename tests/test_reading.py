"""Reading exercises made from the novels (wuxia/reading.py), on a tiny made-up book."""
from wuxia.reading import speaker_exercises, speakers
from wuxia.retrieval import build_index

BOOK = "\n".join([
    "山道上风雪正紧。萧远笑道：“今日这场雪下得好大。”林小云点了点头。",
    "林小云道：“师兄，咱们几时下山？”萧远道：“等雪停了再说。”",
    "两人在庙中生起火来。那人低声道：“外面有人来了。”",
    "铁掌帮的韩老三叫道：“姓萧的，你往哪里逃！”萧远拔出长剑。",
] * 3)


def test_speakers_finds_names_and_skips_words_that_are_no_names():
    found = speakers("萧远笑道：“今日这场雪下得好大。”那人低声道：“外面有人来了。”他笑道：“好得很呢。”")
    assert found == [("萧远", "今日这场雪下得好大")]


def test_speaker_exercises_answer_with_a_name_that_stands_in_one_of_their_passages(tmp_path):
    (tmp_path / "book.txt").write_text(BOOK, encoding="utf-8")
    index = build_index([str(tmp_path / "book.txt")], passage_chars=40)
    exercises = speaker_exercises(index, n=20, k=3, chars=30, seed=0)
    assert exercises
    for exercise in exercises:
        name = exercise["answer"].removeprefix("是").removesuffix("说的。")
        assert name in {"萧远", "林小云", "韩老三"}
        assert 1 <= len(exercise["passages"]) <= 3
        assert sum(name in p["text"] for p in exercise["passages"]) >= 1
        assert all(len(p["text"]) <= 30 for p in exercise["passages"])
        quote = exercise["question"].split("“")[1].split("”")[0]
        assert any(quote in p["text"] for p in exercise["passages"])
    assert speaker_exercises(index, n=20, k=3, chars=30, seed=0) == exercises  # deterministic for a seed
