"""A knowledge test made from your own novels: does the model know which character fits a sentence of a
book's held-out text? Multiple choice, scored by likelihood, so pretrained and fine-tuned runs and runs with
different tokenizers all answer the same items.

    python eval_cloze.py --out_dir=out/pretrain_jinyong                  # the novels its dataset was made from
    python eval_cloze.py --out_dir=out/pretrain_char out/pretrain_gpt2 out/sft --input=data/jinyong/raw/

Items (wuxia/cloze.py): each book's names are found in its own text (who 道 / 心想 ...); a sentence of the
held-out end of the book (the last val_fraction, the part prepare.py keeps for validation, so the model never
trained on it) with one name taken out is an item, the right name among n_options names of the same book.
Items the sentence gives away are dropped; the same corpus and seed always give the same items, written to
<output minus .csv>_items.jsonl so you can read them.

Each option is scored by the model's log-likelihood of the option and the rest of its clause after the
context, per character; the best-scored option is the model's answer. Reported per run: accuracy (± its
standard error), chance level (1 / n_options) and the most-mentioned baseline (always the option the book
names most often: a model that only learned which names are frequent gets that). Saved as cloze.csv and
cloze.md in the first out_dir, or --output.
"""
import json
import os
import sys
import time

from wuxia.checkpoint import checkpoint_path, load_checkpoint, load_for_inference
from wuxia.cloze import accuracy, chosen_right, make_items, option_scores, spread
from wuxia.configurator import (AT_LEAST_1, DEVICE, DTYPE, FRACTION, OUTPUT_FILE, at_least, configure,
                                explain_machine_errors)
from wuxia.dataset import dataset_dir, has_meta, load_meta
from wuxia.device import for_inference, pick_device, weights_format
from wuxia.jsonl import write_jsonl
from wuxia.report import markdown_table, write_report
from wuxia.text import cleaned_documents, split_train_val

# -----------------------------------------------------------------------------------------------------------
out_dir = []          # one or more runs: --out_dir=out/a out/b ...
input = []            # the novels (.txt / .jsonl, files, folders or globs); default: those the first run's pretraining dataset was made from
val_fraction = 0.1    # the held-out end of each book the items come from (prepare.py's default split)
n_options = 4         # options per item: the right name and n_options - 1 others
items = 500           # at most this many items, spread evenly over all books
context_chars = 100   # about this much text before the blank (from a sentence start)
min_speeches = 3      # a name must open a clause before 道 / 心想 at least this often
seed = 1337           # picks the wrong options; the same seed gives the same items
batch_size = 32       # options scored together
device = "auto"       # auto picks cuda > mps > cpu
dtype = "float32"     # the weights scored (float32 as trained)
output = ""           # the CSV (the Markdown beside it, .md); default: <first out_dir>/cloze.csv
print_json = False    # print one JSON object instead of the table
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={
    "val_fraction": FRACTION, "n_options": at_least(2), "items": AT_LEAST_1, "context_chars": AT_LEAST_1,
    "min_speeches": AT_LEAST_1, "batch_size": AT_LEAST_1, "device": DEVICE, "dtype": DTYPE, "output": OUTPUT_FILE})
if not out_dir:
    raise SystemExit("name the run(s) to test: python eval_cloze.py --out_dir=out/pretrain_jinyong [more out_dirs]")
device = pick_device(device)
output = output or os.path.join(out_dir[0], "cloze.csv")


def pretraining_input(run_dir):
    """The files the run's pretraining dataset was made from (an SFT dataset names its pretraining one)."""
    data_dir = dataset_dir(load_checkpoint(checkpoint_path(run_dir))["dataset"])
    meta = load_meta(data_dir) if has_meta(data_dir) else {}
    if meta.get("kind") == "sft" and meta.get("pretrain_data") and has_meta(dataset_dir(meta["pretrain_data"])):
        meta = load_meta(dataset_dir(meta["pretrain_data"]))
    found = [p for p in meta.get("options", {}).get("input", []) if os.path.exists(p)]
    if not found:
        raise SystemExit(f"{run_dir}: the novels its dataset ({data_dir}) was made from are not here; name them: "
                         "--input=data/jinyong/raw/ (the .txt files, or the folder that holds them)")
    return found


# -----------------------------------------------------------------------------------------------------------
# the items: from the held-out end of every book, the same for every run
novels = input or pretraining_input(out_dir[0])
all_items, sources = [], 0
for source, book in cleaned_documents(novels):
    book_items = make_items(book, split_train_val(book, val_fraction)[1], source, n_options, context_chars,
                            min_speeches, seed)
    if not print_json:
        print(f"{source}: {len(book_items)} items")
    all_items += book_items
    sources += 1
test = spread(all_items, items)
if not test:
    raise SystemExit(f"no items from {' '.join(novels)}: the books need at least {n_options} characters who speak "
                     f"(name + 道) {min_speeches}+ times and held-out sentences that name them")
books = list(dict.fromkeys(item["source"] for item in test))
items_path = os.path.splitext(output)[0] + "_items.jsonl"
os.makedirs(os.path.dirname(items_path) or ".", exist_ok=True)
write_jsonl(items_path, test)

# -----------------------------------------------------------------------------------------------------------
# score every run on the same items
results = []
for run_dir in out_dir:
    model, tokenizer, checkpoint = load_for_inference(run_dir, device)
    model, _ = for_inference(model, device, dtype)
    t0 = time.time()
    scores = option_scores(model, tokenizer, test, batch_size, device)
    right = chosen_right(test, scores)
    by_book = {f"accuracy {book}": sum(r for r, item in zip(right, test) if item["source"] == book) /
               sum(item["source"] == book for item in test) for book in books}
    results.append({"run": run_dir, "iter": checkpoint.get("iter_num"), "kind": checkpoint.get("data_kind"),
                    "tokenizer": checkpoint["tokenizer"]["tokenizer"], "weights": weights_format(model),
                    **accuracy(test, scores), **by_book, "seconds": round(time.time() - t0, 1)})
    if not print_json:
        print(f"{run_dir}: {len(test)} items in {results[-1]['seconds']:.1f} s")

header = ["run", "iter", "kind", "tokenizer", "items", "accuracy", "chance", "most-mentioned baseline"]
rows = [[r["run"], str(r["iter"]), r["kind"], r["tokenizer"], str(r["items"]),
         f"{100 * r['accuracy']:.1f}% ± {100 * r['stderr']:.1f}", f"{100 * r['chance']:.1f}%",
         f"{100 * r['most_mentioned']:.1f}%"] for r in results]
by_book_table = markdown_table(["run"] + [f"{book} ({sum(i['source'] == book for i in test)} items)" for book in books],
                               [[r["run"]] + [f"{100 * r['accuracy ' + book]:.1f}%" for book in books] for r in results])
markdown = markdown_table(header, rows) + "\n\nAccuracy by book:\n\n" + by_book_table
notes = (f"{len(test)} items from the last {100 * val_fraction:g}% of {sources} book(s), {n_options} options each "
         f"(seed {seed}; {items_path}). accuracy: the option with the highest log-likelihood per character of option "
         "and the rest of its clause, ± one standard error. most-mentioned baseline: always the option the book names "
         "most often.")
csv_path, md_path = write_report(output, results, markdown + "\n\n" + notes)

if print_json:
    print(json.dumps({"runs": results, "items_file": items_path, "csv": csv_path, "markdown": md_path},
                     ensure_ascii=False))
else:
    print(f"\n{markdown}\n\n{notes}\nsaved {csv_path} and {md_path}")
