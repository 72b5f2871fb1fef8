"""Grade answers with an LLM judge, the way the course graded them: any OpenAI-compatible chat endpoint (a
cloud API, or a local server such as Ollama or vLLM) sees each question, its reference answer and the answer,
and gives a score from 0 to 5 with a one-line reason (wuxia/judging.py holds the prompt and the scale).

    python judge.py --pred=out/sft/rouge_predictions.jsonl --dry_run      # the prompt, and what it would cost
    OPENAI_API_KEY=... python judge.py --pred=out/sft/rouge_predictions.jsonl --base_url=https://api.example.com/v1 --model=m
    python judge.py --pred=out/sft/rouge_predictions.jsonl --base_url=... --model=... --baselines   # + echo, constant
    python judge.py --pred=answers.jsonl --qa=data/qa_test.jsonl --base_url=http://127.0.0.1:11434/v1 --model=qwen2.5:7b

--pred is eval_rouge.py's rouge_predictions.jsonl, or any JSON Lines with question, reference and prediction;
or answer.py's output (question, answer), whose reference answers come from --qa (the same questions, in the
same order). The key is read from the environment variable named by api_key_env, never printed or written.

A reply is parsed strictly: a JSON object with an integer score and a one-line reason. A reply that is not
is asked again (parse_retries times), then recorded as unparsed: it counts in no mean, and it is never
guessed from the text. Requests are spaced to requests_per_minute; network errors, 429 and 5xx are retried
with backoff. Each judgement is appended to --output as it comes, keyed by the judge model and the whole
prompt, so an interrupted run continues where it stopped and a second run costs no request.

Prints, and writes beside --output (.md, and .csv with one row per answer): the mean score overall and per
kind of question, the unparsed count, the agreement with Rouge-L F1 (Spearman's rank correlation over the
judged answers), and with --baselines the judge's scores for echoing the question and for one constant answer
(the reference most like the others, chosen with hindsight: a ceiling for any constant).
"""
import json
import os
import sys
from collections import defaultdict

from wuxia.chat_client import chat, spaced
from wuxia.configurator import (AT_LEAST_0, AT_LEAST_1, EXISTING_PATH, NON_NEGATIVE, OUTPUT_FILE, POSITIVE, configure,
                                explain_machine_errors)
from wuxia.jsonl import complete_lines, parse_records, read_qa_records
from wuxia.judging import MAX_SCORE, build_prompt, cache_key, parse_judgement, spearman
from wuxia.qa_pairs import question_kind
from wuxia.report import markdown_table, write_report
from wuxia.rouge import rouge_l, typical_answer

# -----------------------------------------------------------------------------------------------------------
pred = ""                     # the answers: JSON Lines with question, reference, prediction (or answer.py's question, answer)
qa = ""                       # the reference answers for answer.py's output: question/answer JSON Lines, same order
output = ""                   # the judgements, JSON Lines; default: <pred minus .jsonl>_judged.jsonl
base_url = ""                 # the judge endpoint's base; requests go to <base_url>/chat/completions
model = ""                    # the judge model's name at that endpoint
api_key_env = "OPENAI_API_KEY"  # the environment variable holding the key (unset: no key is sent, for local servers)
llm_temperature = 0.0         # the judge's sampling temperature
max_tokens = 200              # the longest reply asked for (a score and a one-line reason)
parse_retries = 2             # a reply that does not parse is asked again this many times, then recorded as unparsed
requests_per_minute = 30.0    # rate limit: requests start at least 60 / requests_per_minute s apart
max_retries = 5               # per request, on network errors, 429 and 5xx
backoff_seconds = 2.0         # first wait before a retry; doubled each time (a Retry-After header wins)
timeout_seconds = 120.0       # per request
baselines = False             # also judge two answers that need no model: the question echoed, and one constant answer
limit = 0                     # judge only the first N answers; 0 = all
dry_run = False               # print the first prompt and the number of requests, send nothing
print_json = False            # print one JSON object instead of the tables
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={
    "pred": EXISTING_PATH, "qa": EXISTING_PATH, "output": OUTPUT_FILE, "max_tokens": AT_LEAST_1,
    "llm_temperature": NON_NEGATIVE, "parse_retries": AT_LEAST_0, "requests_per_minute": POSITIVE,
    "max_retries": AT_LEAST_0, "backoff_seconds": NON_NEGATIVE, "timeout_seconds": POSITIVE, "limit": AT_LEAST_0})
if not pred:
    raise SystemExit("name the answers to grade: python judge.py --pred=out/sft/rouge_predictions.jsonl --base_url=... "
                     "--model=...")
api_key = os.environ.get(api_key_env, "")
output = output or os.path.splitext(pred)[0] + "_judged.jsonl"

# -----------------------------------------------------------------------------------------------------------
# the answers and their references
answers = []
for source, record in parse_records(pred):
    fields = {str(k).lower(): v for k, v in record.items()} if isinstance(record, dict) else {}
    prediction = fields.get("prediction", fields.get("answer"))  # answer.py calls the model's answer "answer"
    if not isinstance(prediction, str):
        raise SystemExit(f"{source}: no prediction (a 'prediction' field, or answer.py's 'answer')")
    reference = fields.get("reference") if "prediction" in fields else None
    answers.append({"question": str(fields.get("question") or ""), "reference": reference, "prediction": prediction})
answers = answers[:limit or None]
if qa:
    references = read_qa_records(qa)[0]
    if len(references) < len(answers):
        raise SystemExit(f"{qa} has {len(references)} questions but {pred} {len(answers)} answers: they must be the "
                         "same questions in the same order")
    for number, (answer, reference) in enumerate(zip(answers, references), start=1):
        if answer["question"] and answer["question"].strip() != reference["question"].strip():
            raise SystemExit(f"{pred}, answer {number} is to {answer['question'][:40]!r} but {reference['source']} "
                             f"asks {reference['question'][:40]!r}: pass the question file the answers were made from")
        answer["reference"] = answer["reference"] or reference["answer"]
missing = [i + 1 for i, a in enumerate(answers) if not isinstance(a["reference"], str) or not a["reference"].strip()]
if missing:
    raise SystemExit(f"{pred}: answer {missing[0]} (and {len(missing) - 1} more) has no reference answer; pass the "
                     "questions with their answers: --qa=<question/answer JSON Lines, same order>")

# what to judge: the answers, and with --baselines the two that need no model, on the same questions
tasks = [("model", a["question"], a["reference"], a["prediction"]) for a in answers]
if baselines:
    constant = typical_answer([a["reference"] for a in answers])
    tasks += [("echo", a["question"], a["reference"], a["question"]) for a in answers]
    tasks += [("constant", a["question"], a["reference"], constant) for a in answers]
keys = [cache_key(model, build_prompt(q, r, p)) for _, q, r, p in tasks]
judged = {}
for line in complete_lines(output):
    record = json.loads(line)
    judged[record["key"]] = record
todo = [(key, task) for key, task in zip(keys, tasks) if key not in judged]
todo = list({key: task for key, task in todo}.items())  # the same prompt twice is asked once

print(f"{len(tasks)} answers to judge ({len(answers)} from {pred}{' + the baselines' if baselines else ''}); "
      f"{len(tasks) - len(todo)} already judged in {output} -> {len(todo)} to ask {base_url or '?'} (model "
      f"{model or '?'}), up to {parse_retries + 1} requests each, at most {requests_per_minute:g} per minute; key: "
      f"{'from $' + api_key_env if api_key else 'none ($' + api_key_env + ' is not set)'}", file=sys.stderr)
if dry_run:
    if todo:
        print(f"\nthe prompt for the first answer:\n{build_prompt(*todo[0][1][1:])}")
    sys.exit(0)
if todo and not (base_url and model):
    raise SystemExit("no judge to ask: pass the endpoint and the model, e.g. --base_url=https://api.openai.com/v1 "
                     f"--model=gpt-4o-mini with the key in ${api_key_env}, or a local server (Ollama: "
                     "--base_url=http://127.0.0.1:11434/v1 --model=qwen2.5:7b, no key). --dry_run shows the prompt.")

# -----------------------------------------------------------------------------------------------------------
# ask the judge: one line per judgement, appended as it comes
wait_turn = spaced(requests_per_minute)
os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
with open(output, "a", encoding="utf-8") as out:
    for number, (key, (answer_of, question, reference, prediction)) in enumerate(todo, start=1):
        prompt = build_prompt(question, reference, prediction)
        for attempt in range(1, parse_retries + 2):
            wait_turn()
            reply = chat(base_url, model, prompt, api_key, api_key_env, llm_temperature, max_tokens, max_retries,
                         backoff_seconds, timeout_seconds)
            try:
                score, reason = parse_judgement(reply)
                problem = None
                break
            except ValueError as e:
                score, reason, problem = None, None, str(e)
        record = {"key": key, "answer_of": answer_of, "question": question, "reference": reference,
                  "prediction": prediction, "score": score, "reason": reason, "unparsed": problem, "requests": attempt,
                  **({"reply": reply[:500]} if problem else {})}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()  # one whole line at a time
        judged[key] = record
        print(f"{number}/{len(todo)} {answer_of}: " + (f"{score} ({reason})" if problem is None else
                                                         f"unparsed after {attempt} tries ({problem})"), file=sys.stderr)

# -----------------------------------------------------------------------------------------------------------
# summarize: per kind of question, the agreement with Rouge-L, the baselines
rows = [{"answer_of": answer_of, "kind": question_kind(question), "question": question, "reference": reference,
         "prediction": prediction, "score": judged[key]["score"], "reason": judged[key]["reason"],
         "unparsed": judged[key]["unparsed"], "rouge_l_f": rouge_l(prediction, reference)["f"]}
        for key, (answer_of, question, reference, prediction) in zip(keys, tasks)]


def mean_score(selected):
    scores = [r["score"] for r in selected if r["score"] is not None]
    return sum(scores) / len(scores) if scores else None


def fmt(value, digits=2):
    return "n/a" if value is None else f"{value:.{digits}f}"


graded = [r for r in rows if r["answer_of"] == "model"]
parsed = [r for r in graded if r["score"] is not None]
summary = {"answers": len(graded), "judged": len(parsed), "unparsed": len(graded) - len(parsed),
           "mean_score": mean_score(graded), "max_score": MAX_SCORE,
           "spearman_rouge_l": spearman([r["score"] for r in parsed], [r["rouge_l_f"] for r in parsed]),
           "by_kind": {}, "baselines": {}, "judge": {"base_url": base_url, "model": model}}
by_kind = defaultdict(list)
for r in graded:
    by_kind[r["kind"]].append(r)
summary["by_kind"] = {kind: {"answers": len(rs), "mean_score": mean_score(rs)} for kind, rs in by_kind.items()}
for name in ("echo", "constant"):
    chosen = [r for r in rows if r["answer_of"] == name]
    if chosen:
        summary["baselines"][name] = {"mean_score": mean_score(chosen), "answer": constant if name == "constant" else None}

main = markdown_table(["answers", "judged", "unparsed", f"mean score (0–{MAX_SCORE})", "Spearman with Rouge-L F1"],
                      [[summary["answers"], summary["judged"], summary["unparsed"], fmt(summary["mean_score"]),
                        fmt(summary["spearman_rouge_l"], 3)]])
kinds = markdown_table(["kind of question", "answers", "mean score"],
                       [[kind, k["answers"], fmt(k["mean_score"])] for kind, k in summary["by_kind"].items()])
lines = [f"# LLM judge: {pred}", "", f"Judge: {model} at {base_url}", "", main, "", kinds, ""]
if summary["baselines"]:
    lines += [markdown_table(["baseline", "mean score"],
                             [["echo the question" if name == "echo" else f"constant answer “{b['answer'][:20]}…”",
                               fmt(b["mean_score"])] for name, b in summary["baselines"].items()]), ""]
lines.append("Unparsed replies count in no mean; delete their lines from the judgements file to ask again.")
csv_path, md_path = write_report(os.path.splitext(output)[0] + ".csv", rows, "\n".join(lines))

if print_json:
    print(json.dumps({**summary, "judgements": output, "csv": csv_path, "markdown": md_path}, ensure_ascii=False))
else:
    print("\n".join(lines[4:]) + f"\nsaved {output}, {csv_path} and {md_path}")
