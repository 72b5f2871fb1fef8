"""The experiment report in one command: a Markdown page (Chinese headings) with its figures, from what the
runs already hold.

    python report.py --out_dir=out/demo_pretrain out/demo_sft --output=report/
    python report.py --out_dir=out/pretrain_jinyong out/sft --output=report/ --evaluate   # run what is missing

It writes report/report.md and beside it loss_curves.png (all runs overlaid, best val marked),
bits_per_char.png and rouge_l.png. Sections: the data (files, encodings, characters, tokens, tokenizer, val
split, from each dataset's meta.json), how the SFT data was made (its meta.json, and make_qa.py's summary
when a QA file came from there), each run's model and settings (its checkpoint), loss curves (log.csv),
perplexity and bits per character (ppl.csv), Rouge-L and answer quality with the baselines (rouge.md,
rouge.csv, rouge_predictions.jsonl), sample continuations (samples.txt), sample answers for the four kinds
of question (with the passages an open-book run read for each), and generation speed against the course's
thresholds (speed.json).

Every number comes from those files. What a run does not hold is listed under 缺失项 with the command that
makes it; --evaluate runs those commands (eval_ppl.py, eval_rouge.py, sample.py) and times 256 new tokens.
"""
import json
import os
import subprocess
import sys
from datetime import datetime, timezone

from wuxia.audit import audit_report, audits_from_csv, summarize_audit
from wuxia.checkpoint import checkpoint_path, load_checkpoint, load_for_inference, model_from_checkpoint
from wuxia.configurator import AT_LEAST_0, DEVICE, EXISTING_PATH, OUTPUT_DIR, configure, explain_machine_errors
from wuxia.device import for_inference, pick_device
from wuxia.generate import DECODING, encode_input, generate
from wuxia.jsonl import read_jsonl
from wuxia.retrieval import show_passages
from wuxia.plotting import plot_bars, plot_runs, read_log, run_names
from wuxia import qa_pairs
from wuxia.qa_pairs import question_kind
from wuxia.report import markdown_table, read_csv, shown_path
from wuxia.timing import describe_machine, timed

# -----------------------------------------------------------------------------------------------------------
out_dir = []          # the runs: --out_dir=out/a out/b ...
output = "report/"    # the folder for report.md and its figures
evaluate = False      # run what is missing: eval_ppl.py, eval_rouge.py, sample.py, and a 256-token timing
device = "auto"       # for --evaluate
samples_shown = 2     # samples of samples.txt shown per run
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={
    "out_dir": EXISTING_PATH, "output": OUTPUT_DIR, "device": DEVICE, "samples_shown": AT_LEAST_0})
if not out_dir:
    raise SystemExit("name the runs: python report.py --out_dir=out/demo_pretrain out/demo_sft --output=report/")
SPEED_TOKENS = 256                                 # the course's measure: seconds for 256 new tokens
SPEED_LIMITS = {"cpu": 50.0, "cuda": 2.0}          # ... on a 2-core CPU and on a GPU
device = pick_device(device)
os.makedirs(output, exist_ok=True)
names = dict(zip(out_dir, run_names(out_dir)))
missing = []  # (run, what, the command that makes it)


def in_run(run, name):
    return os.path.join(run, name)


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def first_table(path):
    """(header, rows) of the first Markdown table in a file, the cells as text."""
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f]
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    if start is None:
        return None, []
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip("|").split("|")])
    return table[0], [row for row in table[2:]]


def run_command(args):
    """Run one of the project's scripts (for --evaluate), showing the command."""
    print("$ python " + " ".join(args), flush=True)
    subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), args[0]), *args[1:]],
                   check=True)


def fmt(value, digits=4):
    return "n/a" if value in (None, "") else f"{float(value):.{digits}f}"


# -----------------------------------------------------------------------------------------------------------
# the runs: checkpoint, dataset, log
runs = {}
for run in out_dir:
    try:
        path = checkpoint_path(run)
    except SystemExit:
        missing.append((run, "检查点 (checkpoint)", f"python train.py ... --out_dir={shown_path(run)}"))
        continue
    checkpoint = load_checkpoint(path)
    model = model_from_checkpoint(checkpoint)
    runs[run] = {"checkpoint": checkpoint, "params": model.num_params(), "dataset": checkpoint.get("dataset", ""),
                 "kind": checkpoint.get("data_kind", "pretrain"), "config": checkpoint.get("config", {})}
    del model
if not runs:
    raise SystemExit(f"none of {' '.join(out_dir)} holds a checkpoint: train first")
sft_runs = [r for r in runs if runs[r]["kind"] == "sft"]
baseline_qa = next((os.path.join(runs[r]["dataset"], "val.jsonl") for r in sft_runs
                    if os.path.isfile(os.path.join(runs[r]["dataset"], "val.jsonl"))), None)

# --evaluate: what a run lacks, made by the project's own scripts
if evaluate:
    for run in runs:
        if not os.path.isfile(in_run(run, "ppl.csv")):
            run_command(["eval_ppl.py", f"--out_dir={run}", f"--device={device}"])
        if not os.path.isfile(in_run(run, "rouge.csv")) and (runs[run]["kind"] == "sft" or baseline_qa):
            qa = [] if runs[run]["kind"] == "sft" else [f"--qa={baseline_qa}"]
            run_command(["eval_rouge.py", f"--out_dir={run}", *qa, "--limit=200", f"--device={device}"])
        if not os.path.isfile(in_run(run, "samples.txt")):
            run_command(["sample.py", f"--out_dir={run}", "--num_samples=2", "--max_new_tokens=100",
                         f"--device={device}", *(["--start=" + read_jsonl(baseline_qa)[0]["question"]]
                                                 if runs[run]["kind"] == "sft" and baseline_qa else [])])
        if not os.path.isfile(in_run(run, "speed.json")):
            model, tokenizer, checkpoint = load_for_inference(run, device)
            model, autocast = for_inference(model, device)
            prompt = encode_input(tokenizer, "郭靖", runs[run]["kind"] == "sft")
            generate(model, [prompt], 2, -1, autocast=autocast)  # warm-up
            # eot id -1: no token stops it, so all SPEED_TOKENS tokens are made
            seconds, (ids, _) = timed(lambda: generate(model, [prompt], SPEED_TOKENS, -1, seed=1337, autocast=autocast,
                                                       **DECODING), device)
            speed = {"new_tokens": len(ids[0]), "batch": 1, "seconds": round(seconds, 3), "device": device,
                     "machine": describe_machine(device), "load_average": round(os.getloadavg()[0], 1),
                     "decoding": DECODING,
                     "measured": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
            with open(in_run(run, "speed.json"), "w", encoding="utf-8") as f:
                json.dump(speed, f, ensure_ascii=False, indent=1)
            print(f"{run}: {SPEED_TOKENS} new tokens in {seconds:.2f} s on {device}")

# -----------------------------------------------------------------------------------------------------------
# 1. data
lines = [f"# 实验报告：{', '.join(names[r] for r in runs)}", "",
         f"由 `python report.py --out_dir={' '.join(map(shown_path, out_dir))} --output={shown_path(output)}` 于 "
         f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} 生成。表中的每个数字都读自运行目录和数据目录"
         "中的文件（meta.json、log.csv、ppl.csv、rouge.csv 等）；没有的项目在“缺失项”中列出，没有编造。", ""]
lines += ["## 1. 数据", ""]
datasets = list(dict.fromkeys(runs[r]["dataset"] for r in runs))
sft_metas = {}
for data_dir in datasets:
    meta_path = os.path.join(data_dir, "meta.json")
    if not os.path.isfile(meta_path):
        lines += [f"### `{shown_path(data_dir)}`", "", f"没有找到 `{shown_path(meta_path)}`：数据目录不在这里，无法说明数据。", ""]
        missing.append((data_dir, "数据集 meta.json", "python prepare.py / prepare_sft.py"))
        continue
    meta = read_json(meta_path)
    if meta.get("kind") == "sft":
        sft_metas[data_dir] = meta
        lines += [f"### `{shown_path(data_dir)}`（SFT 问答数据）", "",
                  markdown_table(["记录", "训练行", "验证行", "跳过", "截断", "丢弃", "重复问题", "每行词元 (block_size)",
                                  "分词器", "预训练数据"],
                                 [[meta.get("records"), meta.get("train_rows"), meta.get("val_rows"), meta.get("skipped"),
                                   meta.get("truncated"), meta.get("dropped"), meta.get("duplicates"),
                                   meta.get("block_size"), meta.get("tokenizer"),
                                   shown_path(meta.get("pretrain_data", ""))]]), "",
                  f"模板：`{json.dumps(meta.get('template', ''), ensure_ascii=False)}`；只在答案和结尾的 "
                  "`<|endoftext|>` 上计算损失。", ""]
        continue
    files = meta.get("files", [])
    options = meta.get("options", {})
    split_rule = (f"每个文档最后 {100 * options.get('val_fraction', 0.1):g}% 作为验证集" +
                  (f"（只取路径匹配 `{options['val_from']}` 的文件）".replace("|", "\\|") if options.get("val_from") else ""))
    lines += [f"### `{shown_path(data_dir)}`（预训练语料）", "",
              markdown_table(["文件", "编码", "文档", "字符", "词元", "替换字节", "删除段落"],
                             [[f"`{shown_path(f['path'])}`", f.get("encoding", ""), f"{f.get('documents', 1):,}",
                               f"{f['chars']:,}", f"{f['tokens']:,}", f"{f.get('replaced_bytes', 0):,}",
                               f"{f.get('dropped_paragraphs', 0):,}"]
                              for f in files]), "",
              markdown_table(["分词器", "词表大小", "训练词元", "训练字符", "验证词元", "验证字符", "每字符词元", "验证集划分"],
                             [[meta.get("tokenizer"), f"{meta.get('vocab_size', 0):,}", f"{meta.get('train_tokens', 0):,}",
                               f"{meta.get('train_chars', 0):,}", f"{meta.get('val_tokens', 0):,}",
                               f"{meta.get('val_chars', 0):,}",
                               fmt((meta.get('train_tokens', 0) + meta.get('val_tokens', 0)) /
                                   max(1, meta.get('train_chars', 0) + meta.get('val_chars', 0)), 2), split_rule]]), ""]
    cleaning = [f"{k}={options[k]!r}" for k in ("drop_lines", "t2s", "join_paragraphs") if options.get(k)]
    if options.get("min_char_count", 1) > 1:
        cleaning.append(f"min_char_count={options['min_char_count']}")
    if cleaning:
        lines += [f"清洗选项：{', '.join(cleaning)}。", ""]

# 2. how the SFT data was made
lines += ["## 2. SFT 数据是怎么做的", ""]
if not sft_metas:
    lines += ["这些运行里没有 SFT 运行（或其数据目录不在这里）。", ""]
for data_dir, meta in sft_metas.items():
    sft_options = meta.get("options", {})
    val_split = ("验证集来自 --val_input 的文件" if sft_options.get("val_input") else
                 f"随机划分验证集，seed {sft_options.get('seed')}")
    lines += [f"`{shown_path(data_dir)}` 由 `prepare_sft.py` 从下面的问答文件生成（{val_split}）：", ""]
    for f in meta.get("files", []):
        made = os.path.splitext(f["path"])[0] + ".make_qa.json"  # make_qa.py's summary beside its output
        readme = os.path.join(os.path.dirname(f["path"]), "README.md")
        line = f"- `{shown_path(f['path'])}`（{f.get('split', '')}，{f.get('records')} 条记录，跳过 {f.get('skipped', 0)} 条）："
        if os.path.isfile(made):
            summary = read_json(made)
            rejected = summary.get("rejected", {})
            line += (f"由 `make_qa.py` 用模型 `{summary.get('model')}`（{summary.get('base_url')}）从 "
                     f"{summary.get('passages')} 段原文生成，问题类型 {'、'.join(summary.get('kinds', []))}；保留 "
                     f"{summary.get('kept')} 对，拒绝 {sum(rejected.values())} 对" +
                     (f"（{', '.join(f'{k} {v}' for k, v in rejected.items())}）" if rejected else "") + "。")
        elif os.path.isfile(readme):
            with open(readme, encoding="utf-8") as r:
                first_paragraphs = r.read().strip().split("\n\n")[:2]
            line += (f"来源说明（`{shown_path(readme)}`）："
                     + " ".join(p.replace("\n", " ").lstrip("# ") for p in first_paragraphs))
        else:
            line += "meta 中没有它是怎么做的记录（不是 make_qa.py 生成的，旁边也没有 README.md）。"
        lines.append(line)
    lines.append("")

# 3. models and settings
lines += ["## 3. 模型与训练设置", ""]
rows = []
for run, info in runs.items():
    args, config = info["checkpoint"]["model_args"], info["config"]
    log_rows = read_csv(in_run(run, "log.csv")) if os.path.isfile(in_run(run, "log.csv")) else []
    elapsed = max((float(r["elapsed_sec"]) for r in log_rows if r.get("elapsed_sec")), default=None)
    rows.append([names[run], "SFT" if info["kind"] == "sft" else "预训练", f"{info['params'] / 1e6:.2f}M",
                 f"{args['n_layer']}×{args['n_head']}×{args['n_embd']}", args["block_size"], f"{args['vocab_size']:,}",
                 info["checkpoint"].get("tokenizer", {}).get("tokenizer"), f"`{shown_path(info['dataset'])}`",
                 config.get("init_from", ""), info["checkpoint"].get("iter_num"), config.get("max_iters", ""),
                 config.get("batch_size", ""), config.get("learning_rate", ""), config.get("dropout", args.get("dropout")),
                 "n/a" if elapsed is None else f"{elapsed / 60:.1f} min"])
lines += [markdown_table(["运行", "类型", "参数", "层×头×宽", "上下文", "词表", "分词器", "数据", "初始化", "检查点迭代",
                          "max_iters", "batch", "lr", "dropout", "训练时间"], rows), "",
          "参数不含位置嵌入（与 nanoGPT 相同）。检查点是验证损失最低的那个（ckpt_best.pt）。", ""]

# 4. loss curves
lines += ["## 4. 损失曲线", ""]
logged = [r for r in runs if os.path.isfile(in_run(r, "log.csv"))]
for run in runs:
    if run not in logged:
        missing.append((run, "log.csv（训练日志）", "train.py 训练时写入；这个运行目录里没有"))
if logged:
    plot_runs(logged, os.path.join(output, "loss_curves.png"))
    best = []
    for run in logged:
        val = read_log(run).get("val_loss", [])
        it, loss = min(val, key=lambda p: p[1]) if val else (None, None)
        best.append([names[run], "n/a" if it is None else it, fmt(loss)])
    lines += ["![训练与验证损失](loss_curves.png)", "",
              markdown_table(["运行", "最佳验证损失的迭代", "最佳验证损失"], best), ""]
else:
    lines += ["没有运行带有 log.csv，画不出损失曲线。", ""]

# 5. perplexity
lines += ["## 5. 困惑度与每字符比特数", ""]
ppl_rows = {}
for run in runs:
    if os.path.isfile(in_run(run, "ppl.csv")):
        for row in read_csv(in_run(run, "ppl.csv")):
            ppl_rows.setdefault(os.path.normpath(row["run"]), row)
ppl_found = [(run, ppl_rows[os.path.normpath(run)]) for run in runs if os.path.normpath(run) in ppl_rows]
for run in runs:
    if os.path.normpath(run) not in ppl_rows:
        missing.append((run, "困惑度 (ppl.csv)", f"python eval_ppl.py --out_dir={shown_path(run)}"))
if ppl_found:
    lines += [markdown_table(["运行", "数据", "评估范围", "词元", "损失", "词元困惑度", "每字符比特", "字符困惑度"],
                             [[names[run], f"`{shown_path(r['dataset'])}`", r["scored"], f"{int(r['tokens']):,}",
                               fmt(r["loss"]), fmt(r["token_ppl"], 3), fmt(r["bits_per_char"]), fmt(r["char_ppl"], 3)]
                              for run, r in ppl_found]), "",
              "损失是每个词元的平均负对数似然（nat）；每字符比特 = 总负对数似然 / ln 2 / 字符数，不同分词器的模型用它比较。", ""]
    bits = [(names[run], float(r["bits_per_char"])) for run, r in ppl_found if r["bits_per_char"] not in ("", None)]
    if bits:
        plot_bars([n for n, _ in bits], [b for _, b in bits], "bits per character on held-out text (lower is better)",
                  os.path.join(output, "bits_per_char.png"))
        lines += ["![每字符比特](bits_per_char.png)", ""]
else:
    lines += ["没有运行做过困惑度评估。", ""]
cloze_rows = {os.path.normpath(row["run"]): row for run in runs if os.path.isfile(in_run(run, "cloze.csv"))
              for row in read_csv(in_run(run, "cloze.csv"))}
cloze_found = [(run, cloze_rows[os.path.normpath(run)]) for run in runs if os.path.normpath(run) in cloze_rows]
if cloze_found:
    lines += ["### 知识测试（从小说验证部分自动生成的人名选择题，eval_cloze.py）", "",
              markdown_table(["运行", "题数", "正确率", "随机猜", "总选出现最多的人名"],
                             [[names[run], r["items"], f"{100 * float(r['accuracy']):.1f}% ± "
                               f"{100 * float(r['stderr']):.1f}", f"{100 * float(r['chance']):.1f}%",
                               f"{100 * float(r['most_mentioned']):.1f}%"] for run, r in cloze_found]), "",
              "每题是验证文本中的一句话，去掉一个人名，从同一本书的几个人名中选：按模型给“人名 + 句子余下部分”的每字符对数似然选最高的。", ""]
else:
    lines += ["知识测试（人名选择题）：还没有做，`python eval_cloze.py --out_dir=<运行> --input=<小说>` 生成 cloze.csv。", ""]

# 6. Rouge-L and answer quality, the baselines included
lines += ["## 6. Rouge-L 与回答质量", ""]
rouge_table, rouge_settings, per_question = None, [], {}
for run in runs:
    if not os.path.isfile(in_run(run, "rouge.md")):
        if runs[run]["kind"] == "sft" or baseline_qa:
            qa = "" if runs[run]["kind"] == "sft" else f" --qa={shown_path(baseline_qa)}"
            missing.append((run, "Rouge-L (rouge.md)", f"python eval_rouge.py --out_dir={shown_path(run)}{qa}"))
        continue
    header, table_rows = first_table(in_run(run, "rouge.md"))
    if header:
        if rouge_table is None:
            rouge_table = (header, [])
        if header == rouge_table[0]:
            # runs asked the same questions share their baseline rows: show each once
            rouge_table[1].extend(row for row in table_rows if row not in rouge_table[1])
    with open(in_run(run, "rouge.md"), encoding="utf-8") as f:
        rouge_settings += [f"- {names[run]}：{line.strip()[len('Settings: '):]}" for line in f if line.startswith("Settings:")]
    if os.path.isfile(in_run(run, "rouge.csv")):
        per_question[run] = read_csv(in_run(run, "rouge.csv"))
if rouge_table:
    lines += [markdown_table(*rouge_table), "",
              "一行一个运行（及 eval_rouge.py 给出的基线行）；只做了预训练的运行用同一个提问模板回答同样的问题，是微调的基线。"
              "exact：去掉空白和标点后完全相同；stopped：在 `<|endoftext|>` 处结束；U+FFFD：乱码；loop：一段文字连续重复 3 次以上；"
              "clean：不空、无乱码、不循环、未被截断。", "", "评估设置：", "", *rouge_settings, ""]
    f1_column = next((i for i, h in enumerate(rouge_table[0]) if h.startswith("Rouge-L F")), None)
    if f1_column is not None:
        scores = [(row[0], float(row[f1_column].strip("*"))) for row in rouge_table[1]]
        plot_bars([n for n, _ in scores], [v for _, v in scores],
                  f"{rouge_table[0][f1_column]} on held-out questions (higher is better)",
                  os.path.join(output, "rouge_l.png"), color="C2", xmax=max(1.0, max(v for _, v in scores) * 1.2))
        lines += ["![Rouge-L](rouge_l.png)", ""]
else:
    lines += ["没有运行做过 Rouge-L 评估。", ""]
for run, rows in per_question.items():
    audits = audits_from_csv(rows)
    if audits:
        summary = summarize_audit(audits)
        flag = (f"⚠ **{names[run]} 在自己的训练问题上评估**：下面的分数反映记住了什么，不是学到了什么。"
                if summary["trained_questions"] else f"{names[run]}：")
        lines += [f"记忆审计（答案从训练答案抄了多少）：{flag}", "", audit_report(summary, len(audits)), ""]

# 7. samples: continuations, and answers for the four kinds of question
lines += ["## 7. 生成样例", "", "### 续写与回答（samples.txt）", ""]
for run in runs:
    path = in_run(run, "samples.txt")
    if not os.path.isfile(path):
        missing.append((run, "样例 (samples.txt)", f"python sample.py --out_dir={shown_path(run)}"))
        continue
    with open(path, encoding="utf-8") as f:
        blocks = [b for b in f.read().split("--- sample ") if b.strip()][:samples_shown]
    lines += [f"**{names[run]}**（{'SFT 模型回答问题' if runs[run]['kind'] == 'sft' else '预训练模型续写'}）：", ""]
    for block in blocks:
        title, _, text = block.partition("\n")
        lines += [f"sample {title.strip()}：", "", "```text", text.strip(), "```", ""]
lines += ["### 四类问题的回答（验证集问题，rouge_predictions.jsonl）", ""]
for run in sft_runs:
    path = in_run(run, "rouge_predictions.jsonl")
    if not os.path.isfile(path):
        continue
    predictions = read_jsonl(path)
    scores = {r["question"]: r["rouge_f"] for r in per_question.get(run, [])}
    open_book = any("passages" in p for p in predictions)  # an open-book run: what each answer read, too
    lines += [f"**{names[run]}**：", ""]
    rows = []
    for kind in qa_pairs.KINDS:
        found = next((p for p in predictions if question_kind(p["question"]) == kind), None)
        if found is None:
            rows.append([kind, "（验证集里没有这类问题）", "", "", ""] + [""] * open_book)
            continue
        cells = [found[k].replace("\n", " ") for k in ("question", "reference", "prediction")]
        if open_book:  # one passage a line
            cells.append(show_passages(found.get("passages")).replace("\n", "<br>"))
        rows.append([kind] + [c.replace("|", "\\|") for c in cells] + [fmt(scores.get(found["question"]), 3)])
    header = ["类型", "问题", "参考答案", "模型回答"] + ["读到的资料"] * open_book + ["Rouge-L F1"]
    lines += [markdown_table(header, rows), "",
              "问题类型按问题的措辞归类（wuxia/qa_pairs.question_kind），每类取验证集中的第一个。", ""]
if not any(os.path.isfile(in_run(r, "rouge_predictions.jsonl")) for r in sft_runs):
    lines += ["没有 SFT 运行的 rouge_predictions.jsonl（先运行 eval_rouge.py）。", ""]

# 8. generation speed
lines += ["## 8. 生成速度", "",
          f"课程的标准：生成 {SPEED_TOKENS} 个新词元，2 核 CPU 上约 {SPEED_LIMITS['cpu']:g} 秒，GPU 上 {SPEED_LIMITS['cuda']:g} 秒。", ""]
speed_rows = []
for run in runs:
    path = in_run(run, "speed.json")
    if not os.path.isfile(path):
        missing.append((run, "生成速度 (speed.json)", f"python report.py --out_dir={shown_path(run)} --evaluate"))
        continue
    speed = read_json(path)
    limit = SPEED_LIMITS["cuda" if speed["device"].startswith("cuda") else "cpu"]
    speed_rows.append([names[run], speed["device"], speed["machine"], speed["new_tokens"], fmt(speed["seconds"], 2),
                       f"{speed['new_tokens'] / speed['seconds']:.0f}", f"{limit:g} s",
                       f"{limit / speed['seconds']:.1f}× 快" if speed["seconds"] <= limit else
                       f"慢 {speed['seconds'] / limit:.1f}×", speed.get("load_average", "n/a"), speed.get("measured", "")])
if speed_rows:
    lines += [markdown_table(["运行", "设备", "机器", "新词元", "秒", "词元/秒", "标准", "对比", "当时负载", "测量时间"],
                             speed_rows), "",
              "batch 1，KV 缓存，项目默认解码设置（wuxia/generate.DECODING），不在 `<|endoftext|>` 处停止，以便总是生成满 "
              f"{SPEED_TOKENS} 个词元。当时负载：测量时机器的 1 分钟平均负载（大于核数说明有别的任务在抢 CPU，时间偏慢）。", ""]
else:
    lines += ["没有运行测过速度：`python report.py ... --evaluate` 会测。", ""]

# 9. what is missing
lines += ["## 9. 缺失项", ""]
if missing:
    lines += ["这些内容运行目录里没有，报告里就没有写。用下面的命令补上，或者加 `--evaluate` 重新生成报告：", "",
              markdown_table(["运行/数据", "缺少", "命令"],
                             [[f"`{shown_path(r)}`", what, f"`{cmd}`"] for r, what, cmd in missing]), ""]
else:
    lines += ["没有。", ""]

report_path = os.path.join(output, "report.md")
with open(report_path, "w", encoding="utf-8") as f:
    f.write("\n".join(lines).rstrip("\n") + "\n")
figures = sorted(p for p in os.listdir(output) if p.endswith(".png"))
print(f"saved {report_path} ({len(missing)} missing item(s)) and {', '.join(figures) or 'no figures'}")
