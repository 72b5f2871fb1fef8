# Pretrain on a laptop CPU in ~15 minutes: 3,200 compiled iterations (0.26 s each on a 2-core AMD EPYC with
# AVX512-BF16 and bfloat16 autocast; about 1.6x that on a 2-core EPYC of an older generation). torch.compile made
# the step 1.63x faster than eager, and the iterations it buys fill the wall-clock time the former 2,000 eager
# iterations took (docs/log.md, 2026-12-06: batch 8, Muon and 6 layers did no better). A CPU without native
# bfloat16 trains in float32, ~1.6x slower: lower max_iters there.
# Chosen by bench/sweep_pretrain.py: at equal CPU time the llama-style blocks (rotary positions, RMSNorm, SwiGLU)
# with lr 3e-3 beat nanoGPT's blocks, wider/deeper models (too few steps in the budget) and batch 32.
# Character tokenizer: on a CPU it learns far more per minute than GPT-2's BPE (~2.16 tokens per character).
# Data: python prepare.py --dataset=jinyong_char --tokenizer=char --input=data/jinyong/raw/
out_dir = "out/pretrain_jinyong_cpu"
dataset = "jinyong_char"
init_from = "scratch"
device = "cpu"
arch = "llama"
n_layer = 4
n_head = 4
n_embd = 256
block_size = 256      # an SFT row (question + answer) must fit: the longest QA rows are ~200 characters
dropout = 0.0         # no dropout: its random masks double a compiled CPU step, and the run sees the books ~5 times
batch_size = 16
max_iters = 3200
lr_decay_iters = 3200
learning_rate = 3e-3
min_lr = 3e-4
warmup_iters = 100
eval_interval = 800
eval_iters = 20
compile = True        # torch.compile: 1.63x faster steps after a compile of 10-20 s (falls back where it fails)
