# Fine-tune the CPU model on the Jin Yong QA pairs (answer-only loss), in under 10 minutes on 2 cores.
# Chosen by bench/sweep_sft.py on the held-out questions of the QA set's val split: a high learning rate for
# a few epochs, with half a batch of the novels' own text mixed into every batch and dropout 0.1, so that the
# model keeps reading the books instead of memorising ~2,300 answers (the best val loss comes last).
# Data: python prepare_sft.py --dataset=sft_jinyong_char --input=data/jinyong_qa/ --pretrain_data=jinyong_char --block_size=256
out_dir = "out/sft_cpu"
dataset = "sft_jinyong_char"
init_from = "out/pretrain_jinyong_cpu"
device = "cpu"
dropout = 0.1
pretrain_mix = 0.5      # 8 rows of pretraining text beside the 16 QA rows of every batch
batch_size = 16
max_iters = 1048        # 6 epochs of the 2,738 training pairs (7 of 2,345 and 8 of 2,085 with earlier QA sets); ~8.5 min here
lr_decay_iters = 1048
learning_rate = 1e-3
min_lr = 1e-4
warmup_iters = 20
eval_interval = 131
eval_iters = 10
