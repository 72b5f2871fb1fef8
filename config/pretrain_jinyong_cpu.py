# Pretrain on a laptop CPU: 600 iterations of 913 ms on this project's 2-core machine (bench/bench_train.py),
# about 10 minutes; raise max_iters (and lr_decay_iters) for a better model. Character tokenizer: on a CPU it
# learns far more per minute than GPT-2's BPE, which spends ~2.16 tokens per Chinese character.
# Data: python prepare.py --dataset=jinyong_char --tokenizer=char --input=data/jinyong/raw/
out_dir = "out/pretrain_jinyong_cpu"
dataset = "jinyong_char"
init_from = "scratch"
device = "cpu"
n_layer = 4
n_head = 4
n_embd = 256
block_size = 256
dropout = 0.0
batch_size = 16
max_iters = 600
lr_decay_iters = 600
learning_rate = 2e-3
min_lr = 2e-4
warmup_iters = 50
eval_interval = 100
eval_iters = 20
