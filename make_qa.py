"""Make question–answer pairs for SFT from passages of your own corpus, with any OpenAI-compatible chat
endpoint: a local server (Ollama, vLLM, llama.cpp, this project's serve.py) or a cloud API.

    python make_qa.py --input=data/jinyong/raw/ --base_url=http://127.0.0.1:11434/v1 --model=qwen2.5:7b --dry_run
    OPENAI_API_KEY=... python make_qa.py --input=data/jinyong/raw/ --base_url=https://api.example.com/v1 \
        --model=some-model --passages=200 --output=data/qa_made.jsonl
    python prepare_sft.py --dataset=sft_made --input=data/qa_made.jsonl --pretrain_data=data/jinyong

The corpus is read as prepare.py reads it (.txt novels in any encoding, .jsonl articles; files, folders or
globs), cut into passages of about passage_chars characters, and `passages` of them, spread evenly over
the corpus, are each sent once with a prompt asking for one pair of each of the course's four kinds of
question (人物介绍, 情节, 人物关系, 其他; wuxia/qa_pairs.py). A pair is kept only when the reply is JSON,
question and answer are not empty, its kind is known, the names its answer mentions all appear in the
passage, and enough of the answer's wording is the passage's; a question already kept is a duplicate.
Everything rejected is counted by reason.

The API key is read from the environment variable named by api_key_env, never from a file or the command
line, and is never printed or written. Requests are spaced to requests_per_minute; failed requests (network
errors, 429, 5xx) are retried with exponential backoff. Each kept pair is appended to --output as one whole
line, and each finished passage to <output>.progress, so an interrupted run continues where it stopped.
At the end <output minus .jsonl>.make_qa.json records the endpoint, model, settings and counts (report.py
shows them).
"""
import json
import os
import sys
import time
from collections import Counter

from wuxia.chat_client import chat, spaced
from wuxia.configurator import (AT_LEAST_0, AT_LEAST_1, NON_NEGATIVE, OUTPUT_FILE, POSITIVE, UNIT_INTERVAL, configure,
                                explain_machine_errors)
from wuxia.jsonl import complete_lines
from wuxia import qa_pairs
from wuxia.qa_pairs import build_prompt, check_pair, dedup_key, parse_reply, split_passages
from wuxia.text import clean_text, find_input_files, read_documents

# -----------------------------------------------------------------------------------------------------------
input = []                    # the corpus: .txt / .jsonl files, folders or globs (as prepare.py)
output = "data/qa_made.jsonl"  # kept pairs, JSON Lines: question, answer, kind, names, passage
base_url = "http://127.0.0.1:8000/v1"  # the endpoint's base; requests go to <base_url>/chat/completions
model = ""                    # the model name the endpoint expects
api_key_env = "OPENAI_API_KEY"  # the environment variable holding the key (unset: no key is sent, for local servers)
passages = 50                 # passages to send (one request each), spread evenly over the corpus
passage_chars = 600           # characters per passage (cut at paragraph ends)
llm_temperature = 0.7         # the endpoint's sampling temperature (its model, not this project's decoding)
max_tokens = 1024             # the longest reply asked for (four pairs fit easily)
requests_per_minute = 30.0    # rate limit: requests start at least 60 / requests_per_minute s apart
max_retries = 5               # per request, on network errors, 429 and 5xx
backoff_seconds = 2.0         # first wait before a retry; doubled each time (a Retry-After header wins)
timeout_seconds = 120.0       # per request
min_grounding = 0.3           # share of the answer's Chinese bigrams that must occur in the passage
dry_run = False               # print the first prompt and the number of requests, send nothing
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
config = configure(globals(), sys.argv[1:], rules={
    "output": OUTPUT_FILE, "passages": AT_LEAST_1, "passage_chars": AT_LEAST_1, "llm_temperature": NON_NEGATIVE,
    "max_tokens": AT_LEAST_1, "requests_per_minute": POSITIVE, "max_retries": AT_LEAST_0,
    "backoff_seconds": NON_NEGATIVE, "timeout_seconds": POSITIVE, "min_grounding": UNIT_INTERVAL})
api_key = os.environ.get(api_key_env, "")


# the passages: every document of the corpus, cleaned, cut at paragraph ends; `passages` spread evenly
if not input:
    raise SystemExit("name the corpus: python make_qa.py --input=data/jinyong/raw/ --base_url=... --model=...")
files = find_input_files(input, "--input", extensions=(".txt", ".jsonl"))
candidates = []
for path in files:
    for number, text in enumerate(read_documents(path, {})):
        cleaned = clean_text(text)[0]
        candidates += [(f"{path}#{number}@{offset}", passage) for offset, passage in split_passages(cleaned, passage_chars)]
if not candidates:
    raise SystemExit(f"{' '.join(input)}: no text")
step = max(1, len(candidates) / max(1, passages))
chosen = [candidates[int(i * step)] for i in range(min(passages, len(candidates)))]

# resume: the passages already done, the questions already kept
progress_path = output + ".progress"
done = {json.loads(line)["passage"] for line in complete_lines(progress_path)}
kept_questions = {dedup_key(json.loads(line)["question"]) for line in complete_lines(output)}
todo = [(source, passage) for source, passage in chosen if source not in done]
interval = 60.0 / requests_per_minute

print(f"{len(candidates):,} passages of about {passage_chars} characters in {len(files)} file(s); {len(chosen)} chosen, "
      f"{len(chosen) - len(todo)} already done -> {len(todo)} requests to {base_url} (model {model or '?'}), at most "
      f"{requests_per_minute:g} per minute (at least {len(todo) * interval / 60:.1f} min); key: "
      f"{'from $' + api_key_env if api_key else 'none ($' + api_key_env + ' is not set)'}")
if dry_run:
    if todo:
        print(f"\nthe prompt for {todo[0][0]}:\n{build_prompt(todo[0][1])}")
    sys.exit(0)
if not model:
    raise SystemExit("name the model the endpoint serves: --model=...  (see the endpoint's /v1/models)")


rejected, kept, requests = Counter(), 0, 0
wait_turn = spaced(requests_per_minute)
started = time.time()
os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
with open(output, "a", encoding="utf-8") as out, open(progress_path, "a", encoding="utf-8") as progress:
    for number, (source, passage) in enumerate(todo, start=1):
        wait_turn()
        content = chat(base_url, model, build_prompt(passage), api_key, api_key_env, llm_temperature, max_tokens,
                       max_retries, backoff_seconds, timeout_seconds)
        requests += 1
        passage_kept, passage_rejected = 0, Counter()
        try:
            pairs = parse_reply(content)
        except ValueError as e:
            pairs, passage_rejected[str(e)] = [], 1
        for pair in pairs:
            record, reason = check_pair(pair, passage, min_grounding=min_grounding)
            if record and dedup_key(record["question"]) in kept_questions:
                record, reason = None, "duplicate"
            if reason:
                passage_rejected[reason] += 1
                continue
            kept_questions.add(dedup_key(record["question"]))
            out.write(json.dumps({**record, "passage": source}, ensure_ascii=False) + "\n")
            out.flush()  # one whole line at a time
            passage_kept += 1
        progress.write(json.dumps({"passage": source, "kept": passage_kept, "rejected": dict(passage_rejected)},
                                  ensure_ascii=False) + "\n")
        progress.flush()
        kept += passage_kept
        rejected += passage_rejected
        print(f"{number}/{len(todo)} {source}: kept {passage_kept}, rejected {sum(passage_rejected.values())}"
              f"{' (' + ', '.join(f'{r}: {n}' for r, n in passage_rejected.items()) + ')' if passage_rejected else ''}",
              flush=True)

# counts of every run so far, from the progress file (a resumed run adds to the earlier ones)
totals, total_kept, total_passages = Counter(), 0, 0
for line in complete_lines(progress_path):
    entry = json.loads(line)
    totals.update(entry["rejected"])
    total_kept += entry["kept"]
    total_passages += 1
summary = {"generator": "make_qa.py", "base_url": base_url, "model": model, "kinds": list(qa_pairs.KINDS),
           "corpus": input, "passages": total_passages, "kept": total_kept, "rejected": dict(totals),
           "settings": {k: v for k, v in config.items() if k not in ("input", "dry_run")}}
summary_path = os.path.splitext(output)[0] + ".make_qa.json"
with open(summary_path, "w", encoding="utf-8") as f:
    json.dump(summary, f, ensure_ascii=False, indent=1)
print(f"this run: {requests} requests in {time.time() - started:.0f} s, kept {kept} pairs, rejected "
      f"{sum(rejected.values())}" + (f" ({', '.join(f'{r}: {n}' for r, n in rejected.most_common())})" if rejected else ""))
print(f"{output}: {total_kept} pairs from {total_passages} passages; summary in {summary_path}")
