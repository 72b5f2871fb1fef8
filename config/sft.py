# Fine-tune the pretrained Jin Yong model on question-answer pairs (answer-only loss).
# Data: python prepare_sft.py --dataset=sft_jinyong --input=data/jinyong_qa/ --pretrain_data=data/jinyong --block_size=512
out_dir = "out/sft"
dataset = "sft_jinyong"
init_from = "out/pretrain_jinyong"   # its ckpt_best.pt; the model's shape and tokenizer come from there
dropout = 0.1
batch_size = 16
max_iters = 600
lr_decay_iters = 600
learning_rate = 1e-4                 # 10x below pretraining: adapt, don't forget the books
min_lr = 1e-5
warmup_iters = 30
eval_interval = 50
eval_iters = 20
