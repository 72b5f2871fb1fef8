"""Answer questions with a trained run and score the answers: Rouge-L against the reference answers, and
an answer-quality report (exact match, stopped at <|endoftext|>, empty, garbled, loops, repetition, length).

    python eval_rouge.py --out_dir=out/sft                         # the val.jsonl of the run's SFT dataset
    python eval_rouge.py --out_dir=out/sft --qa=data/qa_test.jsonl --limit=100
    python eval_rouge.py --out_dir=out/pretrain_jinyong --qa=data/sft_jinyong/val.jsonl   # the baseline
    python eval_rouge.py --pred=other_system.jsonl                 # score existing predictions, no model

Questions are always put to the model in the SFT template (wuxia/sft_format.py), also for a run that was
only pretrained, so a baseline is asked exactly what the fine-tuned model is asked. Decoding is greedy by
default; --temperature, --top_k, --top_p, --repetition_penalty sample as in sample.py. A run fine-tuned open
book reads the passages retrieved for each question, exactly as a user's question gets them (its own index and
settings); --open_book=False asks it without, for comparison. The summary says which.

Rouge-L (wuxia/rouge.py) compares characters for Chinese and words for Latin text; the quality checks are
in wuxia/quality.py. The memorisation audit (wuxia/audit.py) finds, for each answer, the longest stretch
copied from one training answer (train_qa, by default the run's SFT train.jsonl) and, with --novels, from the
novels, and flags questions that were themselves trained on.

Writes, in out_dir: rouge.csv (one row per question), rouge.md (the summary, the audit included) and
rouge_predictions.jsonl (question, reference, prediction, stopped, and for an open-book run the passages read:
re-scorable with --pred). With --pred the reports go beside the predictions file instead: <name>_rouge.csv and
<name>_rouge.md.
"""
import json
import os
import sys
import time

from wuxia import retrieval
from wuxia.audit import audit_answer, audit_report, summarize_audit, training_set
from wuxia.checkpoint import load_for_inference
from wuxia.configurator import (AT_LEAST_0, AT_LEAST_1, DEVICE, DTYPE, EXISTING_PATH, POSITIVE, configure,
                                explain_machine_errors)
from wuxia.dataset import records_path
from wuxia.device import for_inference, pick_device, weights_format
from wuxia.generate import DECODING, DECODING_RULES, answer_questions, check_input, passages_for
from wuxia.jsonl import read_qa_records, read_records, write_jsonl
from wuxia.quality import answer_quality, summarize_quality
from wuxia.report import markdown_table, write_report
from wuxia.rouge import rouge_l, typical_answer
from wuxia.text import cleaned_documents

# -----------------------------------------------------------------------------------------------------------
out_dir = "out/sft"           # the run to evaluate; its reports are written here
qa = ""                       # JSON Lines with question and answer; default: val.jsonl of the run's SFT dataset
pred = ""                     # JSON Lines with prediction and reference (question, stopped optional): no model
limit = 0                     # score only the first N questions; 0 = all
beta = 1.0                    # Rouge-L F weighs recall beta times as much as precision
max_new_tokens = 0            # per answer; 0 = the model's block_size
temperature = DECODING["temperature"]                # the chat page's defaults: 0 = greedy
top_k = DECODING["top_k"]                            # 0 = off
top_p = DECODING["top_p"]                            # 1.0 = off
repetition_penalty = DECODING["repetition_penalty"]  # 1.0 = off
batch_size = 16               # questions generated together
seed = 1337
open_book = True              # a run fine-tuned open book reads the passages retrieved for each question; False: none
index = ""                    # open book: this passage index (index.py) instead of the one the run was trained with
device = "auto"               # auto picks cuda > mps > cpu
dtype = "auto"                # auto: int8 weights on a CPU (float32 where the kernel is missing), bf16 autocast on CUDA; or float32, float16, bfloat16, int8
constant_answer = ""          # the constant-answer baseline; empty: the most typical answer of the run's training set
train_qa = ""                 # the memorisation audit's training QA; default: train.jsonl of the run's SFT dataset
novels = []                   # the audit also measures copies from these novels (.txt/.jsonl, folders); empty: it does not
print_json = False            # print one JSON object instead of the table
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={
    **DECODING_RULES, "qa": EXISTING_PATH, "pred": EXISTING_PATH, "train_qa": EXISTING_PATH, "limit": AT_LEAST_0,
    "beta": POSITIVE, "max_new_tokens": AT_LEAST_0, "batch_size": AT_LEAST_1, "device": DEVICE, "dtype": DTYPE})


# -----------------------------------------------------------------------------------------------------------
# the questions and answers to score
settings = {}
if pred:
    records = read_records(pred, ["prediction", "reference"], ["question", "stopped"])[:limit or None]
    questions = [r["question"] or "" for r in records]
    references = [r["reference"] for r in records]
    predictions = [r["prediction"] for r in records]
    stopped = [r["stopped"] if isinstance(r["stopped"], bool) else None for r in records]
    run_name = os.path.splitext(os.path.basename(pred))[0]
    report_prefix = os.path.join(os.path.dirname(pred), f"{run_name}_rouge")
    settings["predictions"] = pred
else:
    device = pick_device(device)
    model, tokenizer, checkpoint = load_for_inference(out_dir, device)
    model, autocast = for_inference(model, device, dtype)
    find_passages = retrieval.open_book(checkpoint, open_book, index, warn=lambda note: print(note, file=sys.stderr))
    if not qa:  # the val questions of the SFT dataset the run was trained on
        qa = records_path(checkpoint["dataset"], "val", "pass the questions with --qa=<an SFT dataset>/val.jsonl")
    records, skipped, _ = read_qa_records(qa)
    for source, reason in skipped:
        print(f"skipped {source}: {reason}", file=sys.stderr)
    fits = [check_input(tokenizer, r["question"], True, model.config.block_size) is None for r in records]
    if not all(fits):  # the sliding window would cut the template off a longer one: its answer would mean nothing
        print(f"skipped {fits.count(False)} questions longer than the model's context ({model.config.block_size} "
              f"tokens with the template)", file=sys.stderr)
        records = [r for r, fit in zip(records, fits) if fit]
    if not records:
        raise SystemExit(f"{qa} holds no usable question/answer records")
    records = records[:limit or None]
    questions = [r["question"] for r in records]
    references = [r["answer"] for r in records]
    t0 = time.time()
    passages = [passages_for(find_passages, tokenizer, q, model.config.block_size) for q in questions]
    predictions, stopped = answer_questions(model, tokenizer, questions, max_new_tokens or model.config.block_size,
                                            batch_size, seed, progress=not print_json, passages=passages,
                                            temperature=temperature, top_k=top_k, top_p=top_p,
                                            repetition_penalty=repetition_penalty, autocast=autocast)
    seconds = time.time() - t0
    run_name = os.path.basename(os.path.normpath(out_dir))
    report_prefix = os.path.join(out_dir, "rouge")
    decoding = "greedy" if temperature == 0 else (f"temperature {temperature}, top_k {top_k}, top_p {top_p}")
    if repetition_penalty != 1.0:
        decoding += f", repetition penalty {repetition_penalty}"
    train_qa = train_qa or os.path.join(checkpoint["dataset"], "train.jsonl")
    if not constant_answer and os.path.isfile(train_qa):
        constant_answer = typical_answer([r["answer"] for r in read_qa_records(train_qa)[0]])
    settings.update(checkpoint=out_dir, iter=checkpoint.get("iter_num"), data_kind=checkpoint.get("data_kind"),
                    qa=qa, weights=weights_format(model, autocast), decoding=decoding,
                    open_book=retrieval.open_book_summary(checkpoint, open_book, index),
                    max_new_tokens=max_new_tokens or model.config.block_size,
                    seed=seed, generation_seconds=round(seconds, 1))
    records = []
    for q, ref, p, s, read in zip(questions, references, predictions, stopped, passages):
        records.append({"question": q, "reference": ref, "prediction": p, "stopped": s})
        if find_passages:
            records[-1]["passages"] = read
    write_jsonl(os.path.join(out_dir, "rouge_predictions.jsonl"), records)

# -----------------------------------------------------------------------------------------------------------
# score each answer (and audit it for copies of what the run was trained on), then summarize
training = training_set(read_qa_records(train_qa)[0]) if train_qa and os.path.isfile(train_qa) else None
novel_text = "\x00".join(text for _, text in cleaned_documents(novels, "--novels")) if novels else None
per_question = []
for number, (q, ref, p, s) in enumerate(zip(questions, references, predictions, stopped)):
    score = rouge_l(p, ref, beta)
    per_question.append({"index": number, "question": q, "reference": ref, "prediction": p,
                         "rouge_p": score["p"], "rouge_r": score["r"], "rouge_f": score["f"],
                         **answer_quality(p, ref, s), **(audit_answer(q, p, training, novel_text) if training else {})})
n = len(per_question)


def mean_rouge(answers):
    scores = [rouge_l(a, ref, beta) for a, ref in zip(answers, references)]
    return {key: sum(s[key[-1]] for s in scores) / n for key in ("rouge_l_p", "rouge_l_r", "rouge_l_f")}


summary = {"run": run_name, "questions": n, "beta": beta,
           **{key: sum(r[f"rouge_{key[-1]}"] for r in per_question) / n for key in ("rouge_l_p", "rouge_l_r", "rouge_l_f")},
           **summarize_quality(per_question)}
# the two answers that need no model, on the same questions: every Rouge-L figure is read against them
baselines = {}
if any(questions):
    baselines["echo"] = {"name": "baseline: echo the question", **mean_rouge(questions)}
if constant_answer:
    baselines["constant"] = {"name": f"baseline: constant answer “{constant_answer[:12]}…”", "answer": constant_answer,
                             **mean_rouge([constant_answer] * n)}
summary["baselines"] = baselines
if training:
    summary["audit"] = summarize_audit(per_question)


def percent(share):
    return "n/a" if share is None else f"{100 * share:.1f}%"


f_name = "Rouge-L F1" if beta == 1.0 else f"Rouge-L F(β={beta:g})"
header = ["run", "questions", "Rouge-L P", "Rouge-L R", f_name, "exact", "stopped", "empty", "U+FFFD", "loop",
          "rep. 4-grams", "chars pred/ref", "clean"]
row = [run_name, str(n), f"{summary['rouge_l_p']:.4f}", f"{summary['rouge_l_r']:.4f}", f"{summary['rouge_l_f']:.4f}",
       percent(summary["exact"]), percent(summary["stopped"]), percent(summary["empty"]), percent(summary["garbled"]),
       percent(summary["loop"]), percent(summary["repeat_4gram"]),
       f"{summary['pred_chars']:.0f}/{summary['ref_chars']:.0f}", percent(summary["clean"])]
baseline_rows = [[b["name"], str(n), f"{b['rouge_l_p']:.4f}", f"{b['rouge_l_r']:.4f}", f"{b['rouge_l_f']:.4f}"]
                 + ["–"] * (len(header) - 5) for b in baselines.values()]
table = markdown_table(header, [row] + baseline_rows)
legend = ("Rouge-L: means over questions, tokens = CJK characters and Latin words. exact: equal after removing "
          "whitespace and punctuation. stopped: ended at <|endoftext|>, not cut by max_new_tokens. U+FFFD: "
          "garbled output. loop: a unit repeated 3+ times in a row (6+ characters). rep. 4-grams: mean share of "
          "character 4-grams that repeat an earlier one. clean: not empty, no U+FFFD, no loop, not cut.")

flagged = [r for r in per_question if r["empty"] or r["garbled"] or r["loop"] or r["stopped"] is False][:5]
lines = [f"# Rouge-L and answer quality: {run_name}", "", table, "", legend, "",
         "Settings: " + ", ".join(f"{k} {v}" for k, v in settings.items()), ""]
if flagged:
    lines += ["## First flagged answers", ""]
    for r in flagged:
        reasons = [name for name, bad in (("empty", r["empty"]), ("U+FFFD", r["garbled"]),
                                          (f"loop {r['loop_unit']!r}", r["loop"]),
                                          ("cut by max_new_tokens", r["stopped"] is False)) if bad]
        lines += [f"- #{r['index']} ({', '.join(reasons)}) Q: {r['question'][:80]!r} A: {r['prediction'][:120]!r}"]
    lines.append("")
if training:
    lines += ["## Memorisation audit", "", audit_report(summary["audit"], n), "", f"Training QA: {train_qa}", ""]

csv_path, md_path = write_report(report_prefix + ".csv", per_question, "\n".join(lines))

if print_json:
    print(json.dumps({**summary, "settings": settings, "csv": csv_path, "markdown": md_path}, ensure_ascii=False))
else:
    print(table)
    print()
    print(legend)
    if training:
        print(audit_report(summary["audit"], n))
    print(f"saved {csv_path} and {md_path}")
