"""Which fine-tuning settings and which decoding answer held-out questions best? Each candidate fine-tunes
the same pretrained run (config/sft_cpu.py with the candidate's changes); each is then asked the held-out
questions of its own SFT dataset (the val split) and, optionally, another question file that was never
trained on. The candidate with the best Rouge-L F1 on the val split is then asked again with each decoding.
This is how config/sft_cpu.py and the decoding defaults (wuxia/generate.DECODING) were chosen.

    python bench/sweep_sft.py --extra_qa=../shared/jinyong/dev_qa.jsonl
    python bench/sweep_sft.py --device=cuda --parallel=8 --extra_qa=...      # the same arithmetic, faster

The table also estimates each candidate's CPU minutes from the tokens it trains on and --cpu_ms_per_token
(the pretraining step time per token on the CPU the recipe is meant for: bench/bench_train.py).
"""
import json
import math
import os
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench.common import run_parallel  # noqa: E402
from wuxia.configurator import configure, explain_machine_errors  # noqa: E402
from wuxia.dataset import dataset_dir, load_meta, load_split  # noqa: E402
from wuxia.report import markdown_table  # noqa: E402

# -----------------------------------------------------------------------------------------------------------
base_config = "config/sft_cpu.py"  # every candidate starts from these settings
dataset = "sft_jinyong_char"
init_from = ""                # the pretrained run; empty: the base config's
extra_qa = ""                 # another held-out QA file to report (never used to choose)
eval_limit = 0                # ask only the first N questions of each file; 0 = all
eval_batch_size = 16          # questions generated together (a GPU takes many more)
device = "auto"
parallel = 1                  # runs at once (a GPU has room for several small ones)
out_root = "out/sweep_sft"
cpu_ms_per_token = 0.21       # CPU training cost per token, for the time estimate
only = ""                     # comma-separated candidate names; empty: all
tiny = False                  # smoke test: two toy candidates, a few iterations
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:])

CANDIDATES = {  # "epochs" is turned into max_iters; the rest are train.py settings
    "lr5e-4_ep6": dict(epochs=6, learning_rate=5e-4),
    "lr5e-4_ep6_mix": dict(epochs=6, learning_rate=5e-4, pretrain_mix=0.25),
    "lr5e-4_ep6_mix_drop": dict(epochs=6, learning_rate=5e-4, pretrain_mix=0.25, dropout=0.1),
    "lr1e-3_ep6_mix": dict(epochs=6, learning_rate=1e-3, pretrain_mix=0.25),
    "lr1e-3_ep12_mix_drop": dict(epochs=12, learning_rate=1e-3, pretrain_mix=0.5, dropout=0.1),
    "lr3e-4_ep12_mix_drop": dict(epochs=12, learning_rate=3e-4, pretrain_mix=0.25, dropout=0.1),
    "lr5e-4_ep3_mix": dict(epochs=3, learning_rate=5e-4, pretrain_mix=0.25),
    "lr2e-4_ep6_mix": dict(epochs=6, learning_rate=2e-4, pretrain_mix=0.25),
}
DECODINGS = {  # eval_rouge.py settings
    "greedy": dict(temperature=0.0, repetition_penalty=1.0),
    "greedy_rp1.1": dict(temperature=0.0, repetition_penalty=1.1),
    "greedy_rp1.2": dict(temperature=0.0, repetition_penalty=1.2),
    "greedy_rp1.3": dict(temperature=0.0, repetition_penalty=1.3),
    "sample_t0.7_rp1.1": dict(temperature=0.7, top_k=200, top_p=0.95, repetition_penalty=1.1),
}
if tiny:
    CANDIDATES = {"tiny_a": dict(epochs=1, learning_rate=5e-4), "tiny_b": dict(epochs=1, pretrain_mix=0.5)}
    DECODINGS = {"greedy": dict(temperature=0.0), "greedy_rp1.2": dict(temperature=0.0, repetition_penalty=1.2)}
    eval_limit = eval_limit or 4
names = [n for n in CANDIDATES if not only or n in only.split(",")]

data_dir = os.path.join(ROOT, dataset_dir(dataset))
_, spans = load_split(data_dir, "train", load_meta(data_dir))
base = {}
with open(os.path.join(ROOT, base_config), encoding="utf-8") as f:
    exec(f.read(), {}, base)
mean_row = float(spans[:, 1].mean())


def candidate_settings(name):
    settings = {**base, **CANDIDATES[name], **({"init_from": init_from} if init_from else {})}
    batches_per_epoch = math.ceil(len(spans) / settings["batch_size"])
    iters = 2 if tiny else settings.pop("epochs") * batches_per_epoch
    settings.pop("epochs", None)
    settings.update(max_iters=iters, lr_decay_iters=iters, min_lr=settings["learning_rate"] / 10,
                    eval_interval=max(1, iters // 8), warmup_iters=min(settings.get("warmup_iters", 20), iters // 4))
    # tokens per step: the SFT rows (trimmed batches: about the mean row length) plus the mixed-in text rows
    rows = settings["batch_size"] * (1 + settings.get("pretrain_mix", 0.0))
    settings["_cpu_minutes"] = iters * rows * mean_row * cpu_ms_per_token / 60_000
    return settings


def train_args(name):
    s = candidate_settings(name)
    return [sys.executable, "train.py", base_config, f"--dataset={dataset}", f"--device={device}", "--dtype=float32",
            f"--out_dir={os.path.join(out_root, name)}", "--plot=False",
            *[f"--{k}={v}" for k, v in s.items() if not k.startswith("_") and k not in ("out_dir", "dataset", "device")]]


def evaluate(runs, qa, tag, decoding):
    """eval_rouge.py on each run (in parallel); returns {run: summary}. A run may be given with a decoding
    each: {run: decoding}."""
    jobs = {}
    for run_name in runs:
        decoding = runs[run_name] if isinstance(runs, dict) else decoding
        args = [sys.executable, "eval_rouge.py", f"--out_dir={os.path.join(out_root, run_name)}", "--print_json",
                f"--device={device}", "--dtype=float32", f"--batch_size={eval_batch_size}",
                *[f"--{k}={v}" for k, v in decoding.items()]]
        args += ([f"--qa={qa}"] if qa else []) + ([f"--limit={eval_limit}"] if eval_limit else [])
        jobs[run_name] = (args, os.path.join(out_root, run_name, f"eval_{tag}.log"))
    run_parallel(jobs, parallel, ROOT)
    summaries = {}
    for run_name, (_, log_path) in jobs.items():
        with open(log_path, encoding="utf-8") as f:
            lines = [line for line in f if line.startswith("{")]
        summaries[run_name] = json.loads(lines[-1]) if lines else None
    return summaries


def row(label, s):
    if s is None:
        return [label] + ["failed"] * 7
    return [label, f"{s['rouge_l_f']:.4f}", f"{100 * s['stopped']:.1f}%", f"{100 * s['loop']:.1f}%",
            f"{100 * s['clean']:.1f}%", f"{s['pred_chars']:.0f}/{s['ref_chars']:.0f}",
            f"{s['baselines']['echo']['rouge_l_f']:.4f}",
            f"{s['baselines']['constant']['rouge_l_f']:.4f}" if "constant" in s["baselines"] else "–"]


print(f"{len(names)} candidates from {base_config} on {dataset} ({len(spans)} train rows, mean "
      f"{mean_row:.0f} tokens), {parallel} at a time on {device}", flush=True)
codes = run_parallel({n: (train_args(n), os.path.join(out_root, n, "train.log")) for n in names}, parallel, ROOT)
trained = [n for n in names if codes[n] == 0]
for n in names:
    if codes[n]:
        print(f"  {n}: training failed, see {os.path.join(out_root, n, 'train.log')}")

default_decoding = DECODINGS["greedy_rp1.2"] if "greedy_rp1.2" in DECODINGS else next(iter(DECODINGS.values()))
own = evaluate(trained, "", "val", default_decoding)
extra = evaluate(trained, extra_qa, "extra", default_decoding) if extra_qa else {}
header = ["run", "Rouge-L F1", "stopped", "loop", "clean", "chars pred/ref", "echo F1", "constant F1"]
results = {"candidates": {}, "decodings": {}}
rows = []
for n in trained:
    s = candidate_settings(n)
    best_val = None
    with open(os.path.join(out_root, n, "log.csv"), encoding="utf-8") as f:
        vals = [float(r.split(",")[2]) for r in list(f)[1:] if r.split(",")[2]]
        best_val = min(vals) if vals else None
    label = (f"{n} ({s['max_iters']} iters, ~{s['_cpu_minutes']:.1f} CPU min, best val loss "
             f"{best_val if best_val is None else round(best_val, 3)})")
    rows.append(row(f"{label}: val split", own[n]))
    if extra:
        rows.append(row(f"{n}: {os.path.basename(extra_qa)}", extra[n]))
    results["candidates"][n] = {"settings": s, "best_val_loss": best_val, "val": own[n], "extra": extra.get(n)}
print()
print(f"fine-tuning candidates, decoded with {default_decoding}:")
print(markdown_table(header, rows))

scored = [n for n in trained if own[n]]
if scored:
    chosen = max(scored, key=lambda n: own[n]["rouge_l_f"])
    # one folder per decoding, holding a link to the chosen checkpoint, so the evaluations run side by side
    # without writing over each other's reports
    runs = {}
    for d, decoding in DECODINGS.items():
        run_dir = os.path.join(out_root, f"{chosen}@{d}")
        os.makedirs(run_dir, exist_ok=True)
        link = os.path.join(run_dir, "ckpt_best.pt")
        if not os.path.lexists(link):
            os.symlink(os.path.abspath(os.path.join(out_root, chosen, "ckpt_best.pt")), link)
        runs[f"{chosen}@{d}"] = decoding
    own_d = evaluate(runs, "", "val", None)
    extra_d = evaluate(runs, extra_qa, "extra", None) if extra_qa else {}
    rows = []
    for d, decoding in DECODINGS.items():
        key = f"{chosen}@{d}"
        rows.append(row(f"{d}: val split", own_d[key]))
        if extra_qa:
            rows.append(row(f"{d}: {os.path.basename(extra_qa)}", extra_d[key]))
        results["decodings"][d] = {"settings": decoding, "val": own_d[key], "extra": extra_d.get(key)}
    print()
    print(f"decodings, on the best candidate by val-split Rouge-L ({chosen}):")
    print(markdown_table(header, rows))
    results["chosen"] = chosen
with open(os.path.join(out_root, "sweep_sft.json"), "w", encoding="utf-8") as f:
    json.dump(results, f, ensure_ascii=False, indent=1)
