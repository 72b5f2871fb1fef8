#!/usr/bin/env bash
# The Jin Yong recipe on a CPU, in under 40 minutes on a 2-core machine:
# prepare the novels -> pretrain (~26 min) -> prepare the QA pairs -> fine-tune (~7 min) -> evaluate -> answer
# (see docs/log.md for the timed runs and their machines; a CPU without native bfloat16 trains ~1.6x slower).
# Run it as `make jinyong NOVELS=<folder of .txt novels>` or `bash jinyong.sh <folder>`.
# It writes data/ and out/ under the current folder. PRETRAIN_ARGS, SFT_ARGS, EVAL_ARGS and SAMPLE_ARGS pass
# extra settings to those steps, SFT_BLOCK the SFT row length, OPEN_BOOK_ARGS prepare_sft.py's open-book settings
# (quick trials, tests).
# OPEN_BOOK=1 also indexes the novels and fine-tunes open book: every question is answered with the passages
# retrieved for it (index.py, wuxia/retrieval.py; docs/open_book.md). Closed book (OPEN_BOOK=0) is the default:
# at this model size it answered more short questions right (docs/open_book.md has the measurements).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python3}
NOVELS=${1:-${NOVELS:-data/jinyong/raw}}
QA=${QA:-$ROOT/data/jinyong_qa/}
OPEN_BOOK=${OPEN_BOOK:-0}
OPEN_BOOK_ARGS=$([ "$OPEN_BOOK" = 1 ] && echo "--index=data/jinyong_index ${OPEN_BOOK_ARGS:-}" || true)
started=$(date +%s)
step() { printf '\n=== [%s, %ds] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - started ))" "$*"; }

if [ ! -e "$NOVELS" ]; then
    echo "error: $NOVELS not found. Put the novels (.txt files, any encoding) in data/jinyong/raw/ or pass NOVELS=<folder>." >&2
    exit 2
fi
step "1/6 prepare the novels in $NOVELS (character tokenizer)$([ "$OPEN_BOOK" = 1 ] && echo ' and index their passages')"
$PYTHON "$ROOT/prepare.py" --dataset=jinyong_char --tokenizer=char --input="$NOVELS"
if [ "$OPEN_BOOK" = 1 ]; then
    $PYTHON "$ROOT/index.py" --input="$NOVELS" --index=data/jinyong_index
fi
step "2/6 pretrain (config/pretrain_jinyong_cpu.py: about 26 minutes on a 2-core CPU, compiled)"
$PYTHON "$ROOT/train.py" "$ROOT/config/pretrain_jinyong_cpu.py" ${PRETRAIN_ARGS:-}
step "3/6 prepare the question-answer pairs ($QA)"
$PYTHON "$ROOT/prepare_sft.py" --dataset=sft_jinyong_char --input="$QA" --pretrain_data=data/jinyong_char --block_size=${SFT_BLOCK:-256} $OPEN_BOOK_ARGS
step "4/6 fine-tune (config/sft_cpu.py: about 7 minutes on a 2-core CPU closed book; open-book rows are longer)"
$PYTHON "$ROOT/train.py" "$ROOT/config/sft_cpu.py" ${SFT_ARGS:-}
step "5/6 bits per character on the held-out text; Rouge-L on the held-out questions"
$PYTHON "$ROOT/eval_ppl.py" --out_dir=out/pretrain_jinyong_cpu
$PYTHON "$ROOT/eval_rouge.py" --out_dir=out/sft_cpu ${EVAL_ARGS:-}
step "6/6 answers to a few questions (data/eval/jinyong_demo_questions.txt)"
$PYTHON "$ROOT/sample.py" --out_dir=out/sft_cpu --start="FILE:$ROOT/data/eval/jinyong_demo_questions.txt" --num_samples=1 ${SAMPLE_ARGS:-}

step "done in $(( $(date +%s) - started )) s."
cat <<MSG
  out/pretrain_jinyong_cpu/   pretrained model: ckpt_best.pt, log.csv, loss.png, ppl.md
  out/sft_cpu/                fine-tuned model: ckpt_best.pt, log.csv, loss.png, rouge.md, samples.txt
Chat with it:  python sample.py --out_dir=out/sft_cpu --interactive
MSG
