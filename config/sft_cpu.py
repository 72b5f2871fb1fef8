# Fine-tune the CPU model on the Jin Yong QA pairs (answer-only loss), in under 10 minutes on 2 cores.
# Chosen by bench/sweep_sft.py on the held-out questions of the QA set's val split: a high learning rate for
# several epochs, with a quarter of a batch of the novels' own text mixed into every batch and dropout 0.1, so
# that the model keeps reading the books instead of memorising ~3,000 answers (the best val loss comes last).
# With 3,042 pairs, 4 rows of novel text instead of 8 bought more epochs in the same minutes, and more epochs
# taught more facts (README: "Short facts, asked the ways people ask").
# Data: python prepare_sft.py --dataset=sft_jinyong_char --input=data/jinyong_qa/ --pretrain_data=jinyong_char --block_size=256
out_dir = "out/sft_cpu"
dataset = "sft_jinyong_char"
init_from = "out/pretrain_jinyong_cpu"
device = "cpu"
dropout = 0.1
pretrain_mix = 0.25     # 4 rows of pretraining text beside the 16 QA rows of every batch
batch_size = 16
max_iters = 1300        # 7.6 epochs of the 2,738 training pairs; ~9 min here
lr_decay_iters = 1300
learning_rate = 1e-3
min_lr = 1e-4
warmup_iters = 20
eval_interval = 130
eval_iters = 10
