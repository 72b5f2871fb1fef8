"""The memorisation audit (wuxia/audit.py) on answers whose copies are known, and in eval_rouge.py's report:
the longest copied stretch, copies never joined across two training answers, a training question found
through punctuation and width, and the warning a run evaluated on its own training questions gets."""
import json

import pytest

from conftest import run_here, write_pretrain_dataset, write_sft_dataset
from tiny_datasets import write_random_run
from wuxia.audit import audit_answer, audit_report, longest_copy, summarize_audit, training_set

TRAIN = [{"question": "郭靖的师父是谁？", "answer": "郭靖的师父是江南七怪和洪七公。"},
         {"question": "杨过的妻子是谁？", "answer": "杨过的妻子是小龙女。"}]


def brute_force_longest_copy(text, corpus):
    return max((text[i:j] for i in range(len(text)) for j in range(i + 1, len(text) + 1) if text[i:j] in corpus),
               key=len, default="")


@pytest.mark.parametrize("text, corpus", [
    ("郭靖的师父是洪七公", "郭靖的师父是江南七怪和洪七公。"),
    ("黄蓉是黄药师的女儿", "黄药师有一个女儿，叫黄蓉。"),
    ("abcabcabd", "xxabcabdyyabcabc"),
    ("没有一个字相同", "完全不一样"),
    ("", "随便"),
])
def test_longest_copy_is_the_longest_common_stretch(text, corpus):
    assert longest_copy(text, corpus) == brute_force_longest_copy(text, corpus)


def test_an_answer_copied_from_a_training_answer_is_found_and_never_across_two():
    training = training_set(TRAIN)
    copied = audit_answer("郭靖的师父是谁？", "郭靖的师父是江南七怪和洪七公。", training)
    assert copied["copy_train_chars"] == 15 and copied["copy_train_share"] == 1.0 and copied["mostly_copied"]
    # the end of one training answer and the start of the next are not one stretch
    joined = audit_answer("新问题", "洪七公。杨过的妻子", training)
    assert joined["copy_train"] == "杨过的妻子" and joined["mostly_copied"]  # 5 of its 9 characters
    own_words = audit_answer("新问题", "他是一个好人，名叫郭靖。", training)
    assert own_words["copy_train_chars"] == 2 and not own_words["mostly_copied"]  # "郭靖" only


def test_a_training_question_is_found_through_punctuation_and_width():
    training = training_set(TRAIN)
    assert audit_answer("郭靖的师父是谁?", "", training)["trained_question"]   # half-width question mark
    assert audit_answer(" 杨过的妻子 是谁 ", "", training)["trained_question"]
    assert not audit_answer("郭靖的妻子是谁？", "", training)["trained_question"]


def test_novels_are_searched_only_when_given():
    training = training_set(TRAIN)
    assert "copy_novel_chars" not in audit_answer("q", "黄蓉", training)
    assert audit_answer("q", "黄蓉笑道：好", training, novels="……黄蓉笑道：“靖哥哥。”")["copy_novel_chars"] == 5


def test_summary_and_report_flag_training_questions():
    training = training_set(TRAIN)
    audits = [audit_answer("郭靖的师父是谁？", "郭靖的师父是江南七怪和洪七公。", training),
              audit_answer("别的问题", "不知道", training)]
    summary = summarize_audit(audits)
    assert summary == {"trained_questions": 0.5, "mostly_copied": 0.5, "copy_train_chars": 7.5}
    assert "Warning: 1 of 2 evaluated questions are training questions" in audit_report(summary, 2)
    assert "Warning" not in audit_report({**summary, "trained_questions": 0.0}, 2)


def test_eval_rouge_audits_predictions_against_a_training_file(tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in TRAIN), encoding="utf-8")
    (tmp_path / "novels").mkdir()
    (tmp_path / "novels" / "book.txt").write_text("\u3000\u3000杨过道：“姑姑，我回来了。”\n", encoding="utf-8")
    pred = tmp_path / "answers.jsonl"
    pred.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in [
        {"question": "杨过的妻子是谁？", "prediction": "杨过的妻子是小龙女。", "reference": "小龙女"},
        {"question": "杨过怎么叫小龙女？", "prediction": "他叫她姑姑，我回来了", "reference": "姑姑"}]), encoding="utf-8")
    result = run_here("eval_rouge.py", f"--pred={pred}", f"--train_qa={train}", f"--novels={tmp_path / 'novels'}",
                      "--print_json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    # copied from a training answer: all 10 characters of the first, none of the second; from the novel: "杨过"
    # of the first, "姑姑，我回来了" of the second
    assert summary["audit"] == {"trained_questions": 0.5, "mostly_copied": 0.5, "copy_train_chars": 5.0,
                                "copy_novel_chars": 4.5}
    report = (tmp_path / "answers_rouge.md").read_text(encoding="utf-8")
    assert "Warning: 1 of 2 evaluated questions are training questions" in report
    assert "## Memorisation audit" in report


def test_the_report_flags_a_run_evaluated_on_its_own_training_questions(tmp_path):
    tokenizer = write_pretrain_dataset(str(tmp_path / "pre"))
    write_sft_dataset(str(tmp_path / "sft"), tokenizer)  # its val split repeats its train split
    meta = json.loads((tmp_path / "sft" / "meta.json").read_text(encoding="utf-8"))
    write_random_run(str(tmp_path / "run"), meta, str(tmp_path / "sft"))
    result = run_here("eval_rouge.py", f"--out_dir={tmp_path / 'run'}", "--device=cpu", "--max_new_tokens=4")
    assert result.returncode == 0, result.stderr
    assert "Warning: 4 of 4 evaluated questions are training questions" in result.stdout
    result = run_here("report.py", f"--out_dir={tmp_path / 'run'}", f"--output={tmp_path / 'report'}", "--device=cpu")
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "⚠ **run 在自己的训练问题上评估**" in report and "| 4/4 |" in report
