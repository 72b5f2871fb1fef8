"""How high can Rouge-L go on a question file with answers of the kind the QA set teaches? For each question,
the best Rouge-L F1 that any answer of the QA set reaches against its reference, chosen with hindsight (an
oracle that knows the reference), beside the nearest question's answer (no hindsight: the QA set's answer to
the most similar question) and the echo baseline. If even the oracle stays far below a target, the target asks
for the reference's own wording, not for right facts in other words.

    python bench/bench_ceiling.py --qa=../shared/jinyong/dev_qa.jsonl            # 100 questions, a few minutes
    python bench/bench_ceiling.py --qa=my_questions.jsonl --sample=0             # every question (slow)

The oracle compares each question's reference with every answer of the QA set (pure-Python LCS), so it
samples `sample` questions (seeded) by default.
"""
import os
import random
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from wuxia.configurator import AT_LEAST_0, configure, explain_machine_errors
from wuxia.jsonl import read_qa_records
from wuxia.report import markdown_table
from wuxia.rouge import rouge_l_tokens, tokenize
from wuxia.text import find_input_files

# -----------------------------------------------------------------------------------------------------------
qa = ""                          # the question file (JSON Lines with question and answer), never trained on
answers = "data/jinyong_qa/"     # the QA set whose answers the oracle may choose from
sample = 100                     # questions scored (seeded sample); 0 = all
target = 0.35                    # the F1 to compare with
seed = 0
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={"sample": AT_LEAST_0})
if not qa:
    raise SystemExit("name the question file: python bench/bench_ceiling.py --qa=../shared/jinyong/dev_qa.jsonl")

pool = [r for path in find_input_files([answers], "--answers", (".json", ".jsonl")) for r in read_qa_records(path)[0]]
questions = read_qa_records(qa)[0]
if sample and sample < len(questions):
    questions = random.Random(seed).sample(questions, sample)
pool_answers = [tokenize(p["answer"]) for p in pool]
pool_questions = [set(tokenize(p["question"])) for p in pool]

oracle, nearest, echo = [], [], []
for i, q in enumerate(questions):
    reference = tokenize(q["answer"])
    oracle.append(max(rouge_l_tokens(a, reference)["f"] for a in pool_answers))
    asked = set(tokenize(q["question"]))
    closest = max(range(len(pool)), key=lambda j: len(asked & pool_questions[j]) / len(asked | pool_questions[j]))
    nearest.append(rouge_l_tokens(pool_answers[closest], reference)["f"])
    echo.append(rouge_l_tokens(tokenize(q["question"]), reference)["f"])
    print(f"\r{i + 1}/{len(questions)} questions", end="", file=sys.stderr, flush=True)
print(file=sys.stderr)

rows = [[name, f"{statistics.mean(scores):.4f}", f"{sum(s >= target for s in scores)} of {len(scores)}"]
        for name, scores in [("oracle: the best of the QA set's answers, chosen knowing the reference", oracle),
                             ("the QA set's answer to the most similar question", nearest),
                             ("baseline: echo the question", echo)]]
print(f"{qa}: {len(questions)} questions; {len(pool)} answers from {answers}\n")
print(markdown_table(["answer", "Rouge-L F1", f"questions at F1 >= {target}"], rows))
