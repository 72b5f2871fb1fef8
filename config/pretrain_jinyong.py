# Pretrain on the Jin Yong novels with the course's GPU settings.
# Data: python prepare.py --dataset=jinyong --input=data/jinyong/raw/   (GPT-2 tokenizer, the default)
# The course used block_size 256; we use 512 so that SFT rows (question + answer) fit: an SFT row can never
# be longer than the pretrained model's context.
out_dir = "out/pretrain_jinyong"
dataset = "jinyong"
init_from = "scratch"
n_layer = 6
n_head = 8
n_embd = 512
block_size = 512
dropout = 0.2
batch_size = 32
gradient_accumulation_steps = 1
max_iters = 5000
lr_decay_iters = 5000
learning_rate = 1e-3
min_lr = 1e-4
warmup_iters = 100
eval_interval = 250
eval_iters = 50
