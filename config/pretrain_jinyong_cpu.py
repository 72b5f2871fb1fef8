# Pretrain on a laptop CPU in ~26 minutes: 4,200 compiled iterations of a 6-layer model (0.35 s each on a 2-core
# AMD EPYC with AVX512-BF16 and bfloat16 autocast; about 1.6x that on a 2-core EPYC of an older generation), so
# that `make jinyong` ends within ~35 minutes. torch.compile made the step 1.6-1.8x faster than eager; the time it
# buys went to depth (6 layers instead of 4) and to more passes over the books, which strong weight decay makes
# pay (docs/log.md, 2026-12-06: dropout, batch 8 and Muon did no better). A CPU without native bfloat16 trains in
# float32, ~1.6x slower: lower max_iters there.
# Chosen by bench/sweep_pretrain.py: at equal CPU time the llama-style blocks (rotary positions, RMSNorm, SwiGLU)
# with lr 3e-3 beat nanoGPT's blocks and batch 32 (in a 15-minute budget, before compiling).
# Character tokenizer: on a CPU it learns far more per minute than GPT-2's BPE (~2.16 tokens per character).
# Data: python prepare.py --dataset=jinyong_char --tokenizer=char --input=data/jinyong/raw/
out_dir = "out/pretrain_jinyong_cpu"
dataset = "jinyong_char"
init_from = "scratch"
device = "cpu"
arch = "llama"
n_layer = 6
n_head = 4
n_embd = 256
block_size = 256      # an SFT row (question + answer) must fit: the longest QA rows are ~200 characters
dropout = 0.0         # no dropout: it learned less per iteration here, and its random masks double a compiled step
batch_size = 16
max_iters = 4200
lr_decay_iters = 4200
learning_rate = 3e-3
weight_decay = 1.0    # 10x the usual 0.1: the run sees the books ~6 times, and decay keeps it from memorising them
min_lr = 3e-5         # the cosine ends at 1% of the peak: 0.10 bits/char lower than ending at 10% (docs/log.md, 2026-12-06)
warmup_iters = 100
eval_interval = 1050
eval_iters = 20
compile = True        # torch.compile: ~1.6-1.8x faster steps after a compile of 10-20 s (falls back where it fails)
