# Pretrain on a laptop CPU in under 30 minutes (2,000 iterations of ~0.74 s on a 2-core machine with bfloat16
# autocast; a CPU without native bfloat16 trains in float32 at ~1.25 s per iteration: lower max_iters to ~1,300
# there to stay within 30 minutes). Chosen by
# bench/sweep_pretrain.py: at equal CPU time the llama-style blocks (rotary positions, RMSNorm, SwiGLU) with
# lr 3e-3 beat nanoGPT's blocks, wider/deeper models (too few steps in the budget) and batch 32.
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
dropout = 0.0         # no dropout: it costs ~25% of a CPU step, and 30 minutes see the books under 3 times
batch_size = 16
max_iters = 2000
lr_decay_iters = 2000
learning_rate = 3e-3
min_lr = 3e-4
warmup_iters = 100
eval_interval = 500
eval_iters = 20
