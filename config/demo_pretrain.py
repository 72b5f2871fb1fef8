# The demo: pretrain a small character-level GPT on the public-domain poetry corpus (tools/poetry/fetch.py),
# about 7 to 8 minutes on a 2-core CPU (7 min 8 s and 7 min 56 s in two runs of make demo).
out_dir = "out/demo_pretrain"
dataset = "poetry"
init_from = "scratch"
device = "cpu"
n_layer = 4
n_head = 4
n_embd = 256
block_size = 192      # the longest demo QA row is 138 characters: SFT rows must fit the context
dropout = 0.0
batch_size = 16
max_iters = 500
lr_decay_iters = 500
learning_rate = 2e-3
min_lr = 2e-4
warmup_iters = 50
eval_interval = 100
eval_iters = 10
log_interval = 20
