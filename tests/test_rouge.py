"""Rouge-L (wuxia/rouge.py) against hand-computed values and the rouge-score package, and the answer-quality
flags (wuxia/quality.py) on crafted answers."""
import random

import pytest

from wuxia.quality import (answer_quality, exact_match, find_loop, is_clean, normalize_for_match, repeated_ngram_share,
                           summarize_quality)
from wuxia.rouge import lcs_length, rouge_l, rouge_l_tokens, tokenize, typical_answer


def test_identical_texts_score_one():
    for text in ["郭靖的师父是洪七公。", "The cat sat on the mat.", "虚竹的妻子是西夏公主Li Qingluo"]:
        assert rouge_l(text, text) == {"p": 1.0, "r": 1.0, "f": 1.0, "lcs": len(tokenize(text))}


def test_disjoint_texts_score_zero():
    assert rouge_l("郭靖黄蓉", "杨过小龙女") == {"p": 0.0, "r": 0.0, "f": 0.0, "lcs": 0}
    assert rouge_l("", "杨过")["f"] == 0.0
    assert rouge_l("。！？", "，、")["f"] == 0.0  # punctuation is not a token


def test_worked_chinese_example():
    # prediction 郭靖的师父是洪七公 (9 characters), reference 郭靖拜洪七公为师 (8, the 。 is no token).
    # LCS = 郭靖洪七公 = 5 (师 comes before 洪七公 in one and after it in the other), so
    # P = 5/9, R = 5/8, F1 = 2PR/(P+R) = 10/17, F(beta=2) = 5PR/(R+4P) = 25/41.
    score = rouge_l("郭靖的师父是洪七公", "郭靖拜洪七公为师。")
    assert score["lcs"] == 5
    assert score["p"] == pytest.approx(5 / 9, abs=1e-12)
    assert score["r"] == pytest.approx(5 / 8, abs=1e-12)
    assert score["f"] == pytest.approx(10 / 17, abs=1e-12)
    assert rouge_l("郭靖的师父是洪七公", "郭靖拜洪七公为师。", beta=2)["f"] == pytest.approx(25 / 41, abs=1e-12)


def test_latin_text_is_compared_by_words():
    assert tokenize("The cat sat on the mat.") == ["the", "cat", "sat", "on", "the", "mat"]
    score = rouge_l("The cat sat on the mat.", "the cat is on the mat")  # LCS: the cat on the mat
    assert (score["lcs"], score["p"], score["r"]) == (5, 5 / 6, 5 / 6)


def test_mixed_text_tokens():
    assert tokenize("郭靖用降龙十八掌打败了Ouyang Feng。ＡＢＣ１２ 3") == [
        "郭", "靖", "用", "降", "龙", "十", "八", "掌", "打", "败", "了", "ouyang", "feng", "abc12", "3"]


def test_lcs_is_symmetric_and_right_on_known_cases():
    assert lcs_length("ABCBDAB", "BDCABA") == 4  # the textbook example (CLRS)
    assert lcs_length("BDCABA", "ABCBDAB") == 4
    assert lcs_length("", "abc") == 0
    assert lcs_length("a" * 1000, "a") == 1


@pytest.mark.slow
def test_matches_rouge_score_package_per_character():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")

    class PerCharacter:
        def tokenize(self, text):
            return list(text)

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=PerCharacter())
    rng = random.Random(0)
    alphabet = "郭靖黄蓉杨过小龙女洪七公"  # a small alphabet, so that the strings share subsequences
    for _ in range(300):
        prediction = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        reference = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        ours = rouge_l(prediction, reference)
        theirs = scorer.score(reference, prediction)["rougeL"]
        assert ours["p"] == pytest.approx(theirs.precision, abs=1e-9)
        assert ours["r"] == pytest.approx(theirs.recall, abs=1e-9)
        assert ours["f"] == pytest.approx(theirs.fmeasure, abs=1e-9)
        assert rouge_l_tokens(list(prediction), list(reference)) == ours


# -----------------------------------------------------------------------------------------------------------
# answer quality

def test_exact_match_ignores_whitespace_punctuation_and_width():
    assert normalize_for_match(" Guo Jing！\n") == "guojing"
    assert exact_match("郭靖的师父是洪七公。", "郭靖的师父是洪七公")
    assert exact_match("ＡＢＣ，郭靖", "abc 郭靖")
    assert not exact_match("郭靖的师父是洪七公", "郭靖的师父是黄药师")


def test_loop_flags():
    assert find_loop("虚竹和西夏公主和西夏公主和西夏公主") == "和西夏公主"
    assert find_loop("哈哈哈哈哈哈") == "哈"
    assert find_loop("是的是的是的") == "是的"
    assert find_loop("哈哈哈") == ""  # three copies, but only 3 characters: ordinary laughter
    assert find_loop("虚竹和西夏公主和西夏公主") == ""  # two copies only
    assert find_loop("他说…………！！！！！！") == ""  # punctuation and digits need 12 characters or more
    assert find_loop("黄金1000000两") == ""
    assert find_loop("《" * 12) == "《"
    assert find_loop("。 " * 6) == "。 "
    assert find_loop("郭靖的师父是洪七公，黄蓉的父亲是黄药师。") == ""


def test_repeated_ngram_share():
    assert repeated_ngram_share("郭靖的师父是洪七公") == 0.0
    assert repeated_ngram_share("郭靖") == 0.0  # shorter than one 4-gram
    # 啊啊啊啊啊 has two 4-grams, both 啊啊啊啊: one repeats the other
    assert repeated_ngram_share("啊啊啊啊啊") == 0.5
    assert repeated_ngram_share("abcdabcd") == pytest.approx(1 - 4 / 5)


def test_answer_quality_on_crafted_answers():
    reference = "虚竹的妻子是西夏公主。"
    good = answer_quality("虚竹的妻子是西夏公主。", reference, stopped=True)
    assert good["exact"] and good["stopped"] and not (good["empty"] or good["garbled"] or good["loop"])
    assert is_clean(good)
    looping = answer_quality("虚竹和西夏公主和西夏公主和西夏公主", reference, stopped=False)
    assert looping["loop"] and looping["loop_unit"] == "和西夏公主" and looping["repeat_4gram"] > 0.3
    assert not is_clean(looping)
    empty = answer_quality("  \n", reference, stopped=True)
    assert empty["empty"] and empty["pred_chars"] == 0 and not is_clean(empty)
    garbled = answer_quality("虚竹的\ufffd妻子", reference, stopped=True)
    assert garbled["garbled"] and not is_clean(garbled)
    cut = answer_quality("虚竹的妻子是西夏", reference, stopped=False)
    assert not is_clean(cut)
    unknown_stop = answer_quality("虚竹的妻子是西夏", reference, stopped=None)
    assert is_clean(unknown_stop)

    summary = summarize_quality([good, looping, empty, garbled, cut, unknown_stop])
    assert summary["exact"] == 1 / 6
    assert summary["loop"] == 1 / 6
    assert summary["stopped"] == 3 / 5  # known for five answers, three of them stopped
    assert summary["clean"] == 2 / 6


def test_typical_answer_is_the_one_closest_to_the_others():
    answers = ["郭靖的师父是洪七公。", "郭靖的师父是江南七怪。", "郭靖的妻子是黄蓉。", "天龙八部讲的是段誉。"]
    # the first shares most with the other three (郭靖的 + 师父是 / 的 / 是)
    scores = {a: sum(rouge_l(a, b)["f"] for b in answers if b != a) for a in answers}
    assert typical_answer(answers) == max(scores, key=scores.get)
    assert typical_answer(answers).startswith("郭靖的师父")
    assert typical_answer(["只有一个。"]) == "只有一个。"
