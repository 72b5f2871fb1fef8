#!/usr/bin/env bash
# The whole pipeline on a public-domain corpus (chinese-poetry, MIT), on a CPU, in about 15 minutes:
# fetch -> prepare -> pretrain -> prepare_sft -> fine-tune -> sample -> evaluate -> plot.
# Run it as `make demo` (which installs the requirements first) or `bash demo.sh`.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
started=$(date +%s)
step() { printf '\n=== [%s, %ds] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - started ))" "$*"; }

step "1/9 fetch the chinese-poetry corpus and generate poem questions"
$PYTHON tools/poetry/fetch.py
step "2/9 prepare the pretraining data (character tokenizer; val text from collections no question is about)"
$PYTHON prepare.py --dataset=poetry --tokenizer=char --input=data/poetry/raw/ \
    --val_from='guwenguanzhi|mengzi|lunyu|shijing|chuci'
step "3/9 pretrain (config/demo_pretrain.py)"
$PYTHON train.py config/demo_pretrain.py
step "4/9 prepare the SFT data (train questions and held-out questions about other poems)"
$PYTHON prepare_sft.py --dataset=sft_poetry --pretrain_data=data/poetry --block_size=192 \
    --input=data/poetry/qa_train.jsonl --val_input=data/poetry/qa_val.jsonl
step "5/9 fine-tune (config/demo_sft.py)"
$PYTHON train.py config/demo_sft.py
step "6/9 sample: a continuation from the pretrained model, answers from the fine-tuned one"
$PYTHON sample.py --out_dir=out/demo_pretrain --start="《静夜思》" --num_samples=2 --temperature=0.8 --max_new_tokens=60 --trim=True
$PYTHON sample.py --out_dir=out/demo_sft --start=FILE:data/eval/poetry_demo_questions.txt --num_samples=1 \
    --temperature=0 --max_new_tokens=100
step "7/9 perplexity and bits per character on the held-out data"
$PYTHON eval_ppl.py --out_dir=out/demo_pretrain
$PYTHON eval_ppl.py --out_dir=out/demo_sft
step "8/9 Rouge-L on held-out poem questions: fine-tuned vs pretrained only (same questions, same prompt)"
$PYTHON eval_rouge.py --out_dir=out/demo_sft --qa=data/sft_poetry/val.jsonl --limit=200
$PYTHON eval_rouge.py --out_dir=out/demo_pretrain --qa=data/sft_poetry/val.jsonl --limit=200
step "9/9 loss curves"
$PYTHON plot_loss.py --out_dir=out/demo_pretrain out/demo_sft --output=out/demo_loss.png

step "done in $(( $(date +%s) - started )) s. Everything is under out/:"
cat <<MSG
  out/demo_pretrain/   pretrained model: ckpt_best.pt, log.csv, loss.png, samples.txt, ppl.md
  out/demo_sft/        fine-tuned model: ckpt_best.pt, log.csv, loss.png, samples.txt, ppl.md, rouge.md,
                       the per-question CSV and predictions
  out/demo_loss.png    both loss curves
Ask it yourself:   $PYTHON sample.py --out_dir=out/demo_sft --interactive
Chat page:         pip install -r requirements-chat.txt && $PYTHON chat_web.py --out_dir=out/demo_sft
MSG
