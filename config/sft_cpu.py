# Fine-tune the CPU model on the Jin Yong QA pairs (answer-only loss).
# Data: python prepare_sft.py --dataset=sft_jinyong_char --input=data/jinyong_qa/ --pretrain_data=data/jinyong_char --block_size=256
out_dir = "out/sft_cpu"
dataset = "sft_jinyong_char"
init_from = "out/pretrain_jinyong_cpu"
device = "cpu"
dropout = 0.0
batch_size = 16
max_iters = 500
lr_decay_iters = 500
learning_rate = 5e-4
min_lr = 5e-5
warmup_iters = 20
eval_interval = 50
eval_iters = 10
