"""Perplexity of one or more trained runs on a whole validation split, per token and per character.

    python eval_ppl.py --out_dir=out/pretrain_jinyong
    python eval_ppl.py --out_dir=out/pretrain_char out/pretrain_gpt2     # one table for several runs
    python eval_ppl.py --out_dir=out/sft --dataset=sft_jinyong --print_json

Each run is evaluated on the dataset it was trained on, unless --dataset names one (the tokenizer must be
the model's). What is scored follows the dataset:
  - a pretraining dataset (prepare.py): every token of val.bin after the first, each exactly once, in
    windows of the model's block_size; non-overlapping by default, or advancing by --stride tokens so
    that every token after the first window sees at least block_size - stride tokens of context;
  - an SFT dataset (prepare_sft.py): the answer tokens (the loss mask: answer and final <|endoftext|>) of
    every val row.
Per-token perplexity depends on the tokenizer (a GPT-2 token is about one or two Chinese characters, a
char-model token exactly one). Bits per character and per-character perplexity do not, so compare models
with different tokenizers by those. Characters counted:
  - pretraining: meta.json's "val_chars", the characters of the cleaned val text, <|endoftext|> not
    counted (its NLL, like that of every scored token, is);
  - SFT: the characters of the val answers in val.jsonl, plus one per answer for the <|endoftext|> the
    loss mask scores.
The table is printed as Markdown and saved as CSV and Markdown (ppl.csv and ppl.md in the first out_dir,
or --output).
"""
import json
import os
import sys
import time

from wuxia.checkpoint import load_for_inference
from wuxia.configurator import AT_LEAST_0, AT_LEAST_1, DEVICE, DTYPE, configure, explain_machine_errors
from wuxia.dataset import check_rows_fit, check_tokenizer, dataset_dir, load_meta, load_split, records_path
from wuxia.device import for_inference, pick_device, weights_format
from wuxia.jsonl import read_records
from wuxia.perplexity import perplexity_measures, pretrain_nll, sft_answer_chars, sft_nll
from wuxia.report import markdown_table, write_report

# -----------------------------------------------------------------------------------------------------------
out_dir = []          # one or more runs: --out_dir=out/a out/b ...
dataset = ""          # a folder under data/ (or a path); default: the dataset each run was trained on
stride = 0            # pretraining data: windows advance by this many tokens; 0 = block_size (non-overlapping)
batch_size = 8        # windows (or SFT rows) per forward pass
device = "auto"       # auto picks cuda > mps > cpu
dtype = "float32"     # the weights scored: float32 as trained; int8 or float16 measure what CPU decoding's formats lose
output = ""           # the CSV (the Markdown beside it, .md); default: <first out_dir>/ppl.csv
print_json = False    # print one JSON object instead of the table
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={"stride": AT_LEAST_0, "batch_size": AT_LEAST_1, "device": DEVICE, "dtype": DTYPE})
if not out_dir:
    raise SystemExit("name the run(s) to evaluate: python eval_ppl.py --out_dir=out/pretrain_jinyong [more out_dirs]")
device = pick_device(device)


def evaluate(run_dir):
    model, tokenizer, checkpoint = load_for_inference(run_dir, device)
    model, _ = for_inference(model, device, dtype)
    data_dir = dataset_dir(dataset or checkpoint["dataset"])
    meta = load_meta(data_dir)
    check_tokenizer(meta, checkpoint["tokenizer"], data_dir, run_dir, "evaluate it on a dataset made with its own "
                    "tokenizer (leave --dataset out to use the one it was trained on)")
    block_size = model.config.block_size
    check_rows_fit(meta, block_size, data_dir, run_dir)
    t0 = time.time()
    if meta["kind"] == "sft":
        rows, spans = load_split(data_dir, "val", meta)
        records = read_records(records_path(data_dir, "val"), ["answer"])
        if len(records) != len(rows):
            raise SystemExit(f"{data_dir}: val.jsonl has {len(records)} records but val.bin {len(rows)} rows; "
                             "re-run prepare_sft.py")
        nll, tokens = sft_nll(model, rows, spans, batch_size, device)
        chars = sft_answer_chars(records)
        scored = f"answer tokens of {len(rows)} val rows"
    else:
        data = load_split(data_dir, "val", meta)
        window_stride = stride or block_size
        nll, tokens, n_windows = pretrain_nll(model, data, window_stride, batch_size, device)
        chars = meta.get("val_chars")
        overlap = "non-overlapping" if window_stride == block_size else f"stride {window_stride}"
        scored = f"all val tokens, {n_windows} windows of {min(block_size, len(data) - 1)}, {overlap}"
    seconds = time.time() - t0
    measures = perplexity_measures(nll, tokens, chars)
    return {"run": run_dir, "iter": checkpoint.get("iter_num"), "dataset": data_dir, "kind": meta.get("kind"),
            "tokenizer": checkpoint["tokenizer"]["tokenizer"], "weights": weights_format(model), "scored": scored, "tokens": tokens,
            "chars": chars, **measures, "seconds": round(seconds, 2)}


def fmt(value, digits):
    return "n/a" if value is None else f"{value:.{digits}f}"


results = []
for run_dir in out_dir:
    results.append(evaluate(run_dir))
    if not print_json:
        r = results[-1]
        print(f"{run_dir}: {r['tokens']:,} tokens scored in {r['seconds']:.1f} s ({r['scored']}; {r['weights']})")

header = ["run", "iter", "dataset", "tokenizer", "scored", "tokens", "loss", "token ppl", "chars", "bits/char",
          "char ppl"]
table_rows = [[r["run"], str(r["iter"]), r["dataset"], r["tokenizer"], r["scored"], f"{r['tokens']:,}",
               fmt(r["loss"], 4), fmt(r["token_ppl"], 3), "n/a" if r["chars"] is None else f"{r['chars']:,}",
               fmt(r["bits_per_char"], 4), fmt(r["char_ppl"], 3)] for r in results]
markdown = markdown_table(header, table_rows)
notes = ("loss = mean NLL per scored token (nats); token ppl = exp(loss); bits/char = total NLL / ln 2 / chars; "
         "char ppl = 2^(bits/char). Compare models with different tokenizers by bits/char.")
if any(r["chars"] is None for r in results):
    notes += " n/a: the dataset's meta.json has no val_chars (made by an older prepare.py)."

csv_path, md_path = write_report(output or os.path.join(out_dir[0], "ppl.csv"), results, markdown + "\n\n" + notes)

if print_json:
    print(json.dumps({"runs": results, "csv": csv_path, "markdown": md_path}, ensure_ascii=False))
else:
    print()
    print(markdown)
    print()
    print(notes)
    print(f"saved {csv_path} and {md_path}")
