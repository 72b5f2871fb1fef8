"""Open book against closed book: the share of short factual questions answered with a right name, by runs
with and without retrieval, and whether the right name was in the passages the model read.

    python bench/bench_open_book.py --run=out/sft_open --run=out/sft_closed \
        --probe=data/eval/jinyong_probe.jsonl --probe=data/eval/bixuejian_probe.jsonl \
        --sample=../shared/jinyong/dev_qa.jsonl

Every open-book run is asked twice: with its retrieval (as a user's question gets it) and without (to see
what its weights alone know). A probe question is right when the answer names one of its "names" (checked
in the novels). For open-book answers it also counts, among the questions whose passages held a right name,
how many answers named it (reading), and among the others, how many still did (memory). --sample writes
the first --sample_n questions of a question file answered by each run side by side, with the passages used,
to --sample_out.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from wuxia.checkpoint import load_for_inference  # noqa: E402
from wuxia.configurator import AT_LEAST_1, configure, explain_machine_errors  # noqa: E402
from wuxia.device import for_inference  # noqa: E402
from wuxia.generate import DECODING, answer_questions, passages_for  # noqa: E402
from wuxia.jsonl import read_jsonl, read_questions  # noqa: E402
from wuxia.report import markdown_table  # noqa: E402
from wuxia.retrieval import describe_passage, open_book  # noqa: E402
from wuxia.timing import describe_machine  # noqa: E402

# -----------------------------------------------------------------------------------------------------------
run = ["out/sft_cpu"]          # fine-tuned runs to compare (open-book ones are also asked without retrieval)
probe = ["data/eval/jinyong_probe.jsonl", "data/eval/bixuejian_probe.jsonl"]  # questions with the right "names"
sample = ""                    # a question file whose first questions are answered side by side
sample_n = 20
sample_out = "open_book_samples.md"
batch_size = 16
dtype = "float32"              # the weights' format for answering (float32: the same answers on every CPU)
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={"sample_n": AT_LEAST_1, "batch_size": AT_LEAST_1})

probes = {os.path.basename(path): read_jsonl(path) for path in probe}
sample_questions = [q for q, _ in read_questions(sample)][:sample_n] if sample else []


def ask(model, tokenizer, autocast, find_passages, questions):
    """(answers, the passages each answer read) for the questions, greedy with the project's decoding defaults."""
    passages = [passages_for(find_passages, tokenizer, q, model.config.block_size) for q in questions]
    answers, _ = answer_questions(model, tokenizer, questions, model.config.block_size, batch_size, 1337,
                                  passages=passages, autocast=autocast, **DECODING)
    return answers, passages


print(describe_machine("cpu"))
rows, columns = [], []
for out_dir in run:
    model, tokenizer, checkpoint = load_for_inference(out_dir, "cpu")
    model, autocast = for_inference(model, "cpu", dtype)
    retriever = open_book(checkpoint)
    for mode, find_passages in ([("open book", retriever), ("retrieval off", None)] if retriever
                                else [("closed book", None)]):
        cells = [out_dir, mode]
        for name, records in probes.items():
            answers, passages = ask(model, tokenizer, autocast, find_passages, [r["question"] for r in records])
            right = [any(n in a for n in r["names"]) for r, a in zip(records, answers)]
            held = [any(n in "".join(p["text"] for p in ps) for n in r["names"]) for r, ps in zip(records, passages)]
            cells.append(f"{sum(right)}/{len(records)} ({100 * sum(right) / len(records):.0f}%)")
            if find_passages:
                read = sum(r for r, h in zip(right, held) if h)
                remembered = sum(r for r, h in zip(right, held) if not h)
                cells.append(f"in passages {sum(held)}: named {read}; not in them {len(held) - sum(held)}: named "
                             f"{remembered}")
            else:
                cells.append("–")
        rows.append(cells)
        if sample_questions:
            answers, passages = ask(model, tokenizer, autocast, find_passages, sample_questions)
            columns.append((f"{out_dir}, {mode}", answers, passages))
headers = ["run", "retrieval"]
for name in probes:
    headers += [f"{name}: right name", f"{name}: passages"]
print(markdown_table(headers, rows))

if sample_questions:
    lines = [f"# The first {len(sample_questions)} questions of {os.path.basename(sample)}, answered side by side\n"]
    for i, question in enumerate(sample_questions):
        lines.append(f"## {i + 1}. {question}\n")
        for title, answers, passages in columns:
            lines.append(f"- **{title}**: {answers[i]}")
            lines += [f"  - {describe_passage(p)}" for p in passages[i]]
        lines.append("")
    with open(sample_out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print(f"side by side: {sample_out}")
