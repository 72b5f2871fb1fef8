# The demo: fine-tune the poetry model on generated poem questions (answer-only loss), about 3 minutes on CPU.
out_dir = "out/demo_sft"
dataset = "sft_poetry"
init_from = "out/demo_pretrain"
device = "cpu"
dropout = 0.0
batch_size = 32
max_iters = 400
lr_decay_iters = 400
learning_rate = 1e-3
min_lr = 1e-4
warmup_iters = 20
eval_interval = 50
eval_iters = 10
log_interval = 20
