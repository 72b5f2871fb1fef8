"""The memorisation audit beside Rouge-L (eval_rouge.py): is an answer knowledge, or a copy of something
the model was trained on? A fine-tuned model that recites a training answer to a new question can score
well by Rouge-L while knowing nothing about the question; a model evaluated on its own training questions
shows what it memorised, not what it learned.

For each answer: the longest stretch (contiguous characters, as written) it shares with any one SFT training
answer and, when given, with the novels; whether that stretch is most of the answer (mostly_copied: at least
MOSTLY_COPIED of its characters); and whether the question itself is a training question (equal after
normalize_for_match: case, width, spaces and punctuation do not count).
"""
from wuxia.quality import normalize_for_match
from wuxia.report import markdown_table

MOSTLY_COPIED = 0.5   # an answer whose longest copied stretch covers this share of it is "mostly a copy"
_SEPARATOR = "\x00"   # joins the training answers so that no stretch runs from one answer into the next


def longest_copy(text, corpus):
    """The longest stretch of text that occurs in corpus. One pass: at each start, the best so far is only
    extended, so it takes about len(text) substring searches of the corpus."""
    best = ""
    for start in range(len(text)):
        while start + len(best) < len(text) and text[start:start + len(best) + 1] in corpus:
            best = text[start:start + len(best) + 1]
    return best


def training_set(records):
    """What the audit compares with, from the SFT training records (dicts with question and answer)."""
    return {"answers": _SEPARATOR.join(r["answer"].strip() for r in records),
            "questions": {normalize_for_match(r["question"]) for r in records}}


def audit_answer(question, prediction, training, novels=None):
    """The audit of one answer: trained_question, copy_train (the stretch), copy_train_chars, copy_train_share,
    mostly_copied, and copy_novel_chars when novels (one string) are given."""
    answer = prediction.strip()
    copied = longest_copy(answer, training["answers"])
    share = len(copied) / len(answer) if answer else 0.0
    audit = {"trained_question": normalize_for_match(question) in training["questions"], "copy_train": copied,
             "copy_train_chars": len(copied), "copy_train_share": share, "mostly_copied": share >= MOSTLY_COPIED}
    if novels is not None:
        audit["copy_novel_chars"] = len(longest_copy(answer, novels))
    return audit


def summarize_audit(audits):
    """Shares of trained questions and mostly-copied answers, mean copied lengths."""
    n = len(audits)
    summary = {"trained_questions": sum(a["trained_question"] for a in audits) / n,
               "mostly_copied": sum(a["mostly_copied"] for a in audits) / n,
               "copy_train_chars": sum(a["copy_train_chars"] for a in audits) / n}
    if audits and "copy_novel_chars" in audits[0]:
        summary["copy_novel_chars"] = sum(a["copy_novel_chars"] for a in audits) / n
    return summary


def audits_from_csv(rows):
    """The audit fields of eval_rouge.py's rouge.csv rows (text cells) as audit_answer gives them, or [] when
    the rows hold no audit (a run without a training set)."""
    if not rows or "trained_question" not in rows[0]:
        return []
    return [{"trained_question": r["trained_question"] == "True", "mostly_copied": r["mostly_copied"] == "True",
             "copy_train_chars": int(r["copy_train_chars"]),
             **({"copy_novel_chars": int(r["copy_novel_chars"])} if r.get("copy_novel_chars") else {})} for r in rows]


def audit_report(summary, questions):
    """Markdown for a report: a warning when evaluated questions were trained on, then a table."""
    trained = round(summary["trained_questions"] * questions)
    lines = []
    if trained:
        lines += [f"Warning: {trained} of {questions} evaluated questions are training questions: their scores show "
                  "what the run memorised, not what it learned. Evaluate on held-out questions.", ""]
    header = ["trained questions", f"answers ≥ {100 * MOSTLY_COPIED:g}% copied from one training answer",
              "longest copy from training answers (mean chars)"]
    row = [f"{trained}/{questions}", f"{100 * summary['mostly_copied']:.1f}%", f"{summary['copy_train_chars']:.1f}"]
    if "copy_novel_chars" in summary:
        header.append("longest copy from the novels (mean chars)")
        row.append(f"{summary['copy_novel_chars']:.1f}")
    return "\n".join(lines + [markdown_table(header, [row])])
