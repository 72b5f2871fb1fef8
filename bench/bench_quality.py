"""How good are the recipe's answers? Bits per character of the pretrained run on its held-out text, then the
held-out answer table of the fine-tuned run (Rouge-L P/R/F1, stopped, loop, clean, with the echo and
constant-answer baselines) on the QA set's own val split and on other question files, and two measures of
facts: the share of short factual questions ("X的师父是谁？") in those files whose answer names the person the
reference names, and the share of the probe's questions (data/eval/jinyong_probe.jsonl: who is X's wife, father,
master, what is X's nickname, sect, signature martial art, in phrasings the QA set never uses for that fact,
never trained on) whose answer names the right person, nickname, sect or art.

    python bench/bench_quality.py                                   # the runs of make jinyong
    python bench/bench_quality.py --qa=../shared/jinyong/dev_qa.jsonl --qa=my_questions.jsonl

Everything is asked with the project's decoding defaults (wuxia/generate.DECODING), as the chat page asks, and
a run fine-tuned open book reads the passages retrieved for each question, as a user's question gets them
(--open_book=False asks it without them, for the closed-book column of a comparison).
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from wuxia.configurator import AT_LEAST_0, AT_LEAST_1, DEVICE, configure, explain_machine_errors  # noqa: E402
from wuxia.jsonl import read_jsonl  # noqa: E402
from wuxia.report import markdown_table  # noqa: E402

# -----------------------------------------------------------------------------------------------------------
pretrained = "out/pretrain_jinyong_cpu"  # the pretrained run (its val text gives bits per character)
finetuned = "out/sft_cpu"     # the fine-tuned run (its SFT dataset's val split is the first question set)
qa = []                       # more question files (JSON Lines with question and answer), never trained on
probe = "data/eval/jinyong_probe.jsonl"  # short questions with the names that answer them ("names"); "" skips it
limit = 0                     # ask only the first N questions of each set; 0 = all
batch_size = 16               # questions generated together
open_book = True              # an open-book run reads the passages retrieved for each question; False: none
device = "auto"
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={"limit": AT_LEAST_0, "batch_size": AT_LEAST_1, "device": DEVICE})

# "X的师父是谁？" and the like: the reference's answer names one person, which the model must name too
FACTUAL = re.compile(r"^(?:《[^》]+》中，?)?(\S{2,5}?)的(师父|师傅|妻子|丈夫|伴侣|父亲|母亲|爹爹|女儿|儿子|徒弟|义父|义兄)是谁[？?]$")
NAME_IN_REFERENCE = re.compile(r"是([^，。、；,;（(]{2,6}?)(?:[，。、；,;（(]|$)")


def factual_named(rows):
    """(asked, named right) over the short factual questions among rows of question/reference/prediction."""
    asked = named = 0
    for r in rows:
        if not FACTUAL.match(r["question"]):
            continue
        found = NAME_IN_REFERENCE.search(r["reference"])
        if not found:
            continue
        asked += 1
        named += found.group(1) in r["prediction"]
    return asked, named


def run(*args):
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


ppl = run("eval_ppl.py", f"--out_dir={pretrained}", "--print_json", f"--device={device}")["runs"][0]
print(f"{pretrained}: {ppl['bits_per_char']:.3f} bits per character on {ppl['chars']:,} held-out characters "
      f"({ppl['scored']})")

def ask(question_file):
    """eval_rouge.py's summary for the fine-tuned run on a question file ("" = its own val split), and the
    answers it gave (its rouge_predictions.jsonl)."""
    summary = run("eval_rouge.py", f"--out_dir={finetuned}", "--print_json", f"--device={device}",
                  f"--batch_size={batch_size}", f"--open_book={open_book}",
                  *([f"--qa={question_file}"] if question_file else []), *([f"--limit={limit}"] if limit else []))
    return summary, read_jsonl(os.path.join(ROOT, finetuned, "rouge_predictions.jsonl"))


rows = []
for question_file in [""] + list(qa):
    s, answers = ask(question_file)
    asked, named = factual_named(answers)
    name = os.path.basename(question_file) if question_file else "val split of the QA set"
    rows.append([f"{os.path.basename(finetuned)} on {name}", str(s["questions"]), f"{s['rouge_l_p']:.4f}",
                 f"{s['rouge_l_r']:.4f}", f"**{s['rouge_l_f']:.4f}**", f"{100 * s['stopped']:.1f}%",
                 f"{100 * s['loop']:.1f}%", f"{100 * s['clean']:.1f}%", f"{100 * s['garbled']:.1f}%",
                 f"{s['pred_chars']:.0f}/{s['ref_chars']:.0f}", f"{named}/{asked}" if asked else "–"])
    for b in s["baselines"].values():
        rows.append([f"{b['name']} ({name})", str(s["questions"]), f"{b['rouge_l_p']:.4f}", f"{b['rouge_l_r']:.4f}",
                     f"{b['rouge_l_f']:.4f}"] + ["–"] * 6)
    decoding, open_book_state = s["settings"]["decoding"], s["settings"]["open_book"]
probe_line = ""
if probe:
    _, answers = ask(probe)
    probe_questions = {r["question"]: r for r in read_jsonl(os.path.join(ROOT, probe))}
    by_kind = {}  # what a question asks (relation, 外号, 门派, 绝学) -> [right, asked]
    for a in answers:
        question = probe_questions[a["question"]]
        counts = by_kind.setdefault(question.get("asks", "relation"), [0, 0])
        counts[0] += any(n in a["prediction"] for n in question["names"])
        counts[1] += 1
    right = sum(r for r, _ in by_kind.values())
    probe_line = (f"\nprobe ({probe}): {right} of {len(answers)} short questions about the main characters answered "
                  f"with the right name ({100 * right / len(answers):.0f}%): "
                  + ", ".join(f"{kind} {r}/{n}" for kind, (r, n) in by_kind.items()))
print()
print(markdown_table(["run", "questions", "Rouge-L P", "Rouge-L R", "Rouge-L F1", "stopped", "loop", "clean",
                      "U+FFFD", "chars pred/ref", "factual: the reference's person named"], rows))
print(f"\ndecoding: {decoding} (the project's defaults); open book {open_book_state}; factual: questions like "
      "X的师父是谁？ whose answer names the person the reference names (only as right as the references are: the probe below is scored against the "
      "novels)")
print(probe_line)
