"""Train the GPT: pretraining on a novel corpus, or supervised fine-tuning (SFT) on QA pairs.

    python train.py config/pretrain_jinyong.py            # pretrain (GPU settings of the course)
    python train.py config/sft.py                         # fine-tune from the pretrained out_dir
    python train.py config/pretrain_jinyong_cpu.py --max_iters=500
    torchrun --standalone --nproc_per_node=4 train.py config/pretrain_jinyong.py   # several GPUs (DDP)

Which loss is trained follows the dataset: a prepare.py dataset trains next-token prediction on every
token; a prepare_sft.py dataset trains on the answer tokens only (and the final <|endoftext|>).
"""
import csv
import math
import os
import signal
import sys
import time
from contextlib import nullcontext

import torch

from model import GPT, GPTConfig
from wuxia.batches import (EVAL_STREAM, MIX_STREAM, TRAIN_STREAM, add_text_rows, get_batch, get_batch_sft,
                           length_grouped_batches, sft_batch, sft_rows_for_step, step_rng)
from wuxia.checkpoint import BEST, LAST, checkpoint_path, load_checkpoint, model_from_checkpoint, save_checkpoint
from wuxia.configurator import (AT_LEAST_0, AT_LEAST_1, BELOW_ONE, DEVICE, DTYPE, NON_NEGATIVE, OUTPUT_DIR, POSITIVE,
                                Rule, configure, explain_machine_errors, one_of)
from wuxia.dataset import check_rows_fit, check_tokenizer, dataset_dir, load_meta, load_split
from wuxia.device import compile_for_training, pick_device, precision
from wuxia.tokenizer import tokenizer_from_meta

# -----------------------------------------------------------------------------------------------------------
# settings (override with a config file and/or --key=value)
out_dir = "out/pretrain_jinyong"
dataset = "jinyong"           # a folder under data/ (or a path) made by prepare.py or prepare_sft.py
init_from = "scratch"         # "scratch", "resume" (ckpt_last.pt in out_dir), or a pretrained run's out_dir (SFT)
# model shape, used only when init_from="scratch" (otherwise it comes from the checkpoint)
n_layer = 6
n_head = 8
n_embd = 512
block_size = 512
bias = True
arch = "gpt2"                 # "gpt2" (nanoGPT's blocks) or "llama" (rotary, RMSNorm, SwiGLU, no biases): see model.py
dropout = 0.2
# optimisation
batch_size = 32               # sequences per micro-step
gradient_accumulation_steps = 1
max_iters = 5000
learning_rate = 1e-3
min_lr = 1e-4                 # the cosine decay ends here
warmup_iters = 100
lr_decay_iters = 5000         # usually = max_iters
weight_decay = 0.1
beta1 = 0.9
beta2 = 0.99
grad_clip = 1.0               # 0 switches clipping off
pretrain_mix = 0.0            # SFT: rows of pretraining text added to each batch, as a share of batch_size
# evaluation, logging, checkpoints
eval_interval = 250
eval_iters = 50               # batches per loss estimate (an SFT val split is always evaluated whole)
log_interval = 10
plot = True                   # write out_dir/loss.png at the end
# system
seed = 1337
device = "auto"               # auto picks cuda > mps > cpu
dtype = "auto"                # auto: bfloat16 on CUDA when supported, else float16; on a CPU bfloat16 where it is native, else float32
compile = False               # torch.compile the model: a faster step after a compile of ~10-60 s; falls back if it fails
num_threads = 0               # CPU threads for torch; 0 leaves torch's default (one per core)
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
config = configure(globals(), sys.argv[1:], rules={
    "out_dir": OUTPUT_DIR, "init_from": Rule("scratch, resume or a pretrained run's out_dir", lambda v: v in (
        "scratch", "resume") or os.path.isdir(v) or f"is neither scratch, resume nor a folder: {v} not found"),
    "n_layer": AT_LEAST_1, "n_head": AT_LEAST_1, "n_embd": AT_LEAST_1, "block_size": AT_LEAST_1, "dropout": BELOW_ONE,
    "batch_size": AT_LEAST_1, "gradient_accumulation_steps": AT_LEAST_1, "max_iters": AT_LEAST_0,
    "learning_rate": POSITIVE, "min_lr": NON_NEGATIVE, "warmup_iters": AT_LEAST_0, "lr_decay_iters": AT_LEAST_0,
    "weight_decay": NON_NEGATIVE, "beta1": BELOW_ONE, "beta2": BELOW_ONE, "grad_clip": NON_NEGATIVE,
    "eval_interval": AT_LEAST_1, "eval_iters": AT_LEAST_1, "log_interval": AT_LEAST_1, "device": DEVICE,
    "dtype": DTYPE, "num_threads": AT_LEAST_0, "arch": one_of("gpt2", "llama"), "pretrain_mix": NON_NEGATIVE})

# distributed data parallel: torchrun sets RANK / LOCAL_RANK / WORLD_SIZE
ddp = int(os.environ.get("RANK", -1)) != -1
if ddp:
    device = pick_device(device)
    backend = "nccl" if device == "cuda" else "gloo"
    torch.distributed.init_process_group(backend=backend)
    rank, local_rank, world_size = (int(os.environ[k]) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE"))
    if device == "cuda":
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
    if gradient_accumulation_steps % world_size:
        raise SystemExit(f"gradient_accumulation_steps={gradient_accumulation_steps} must be a multiple of the "
                         f"number of processes ({world_size}): each process does its share of the micro-steps")
    gradient_accumulation_steps //= world_size
else:
    rank, world_size = 0, 1
    device = pick_device(device)
master = rank == 0
device_type = "cuda" if device.startswith("cuda") else device.split(":")[0]
if num_threads:
    torch.set_num_threads(num_threads)
dtype, autocast = precision(device, dtype)


def log(*args):
    if master:
        print(*args, flush=True)


# -----------------------------------------------------------------------------------------------------------
# data
data_dir = dataset_dir(dataset)
meta = load_meta(data_dir)
is_sft = meta.get("kind") == "sft"
train_data, val_data = load_split(data_dir, "train", meta), load_split(data_dir, "val", meta)
mix_rows = round(pretrain_mix * batch_size) if is_sft else 0
if mix_rows:
    # the text the model was pretrained on: prepare_sft.py recorded its dataset
    pretrain_dir = dataset_dir(meta["pretrain_data"])
    mix_text = load_split(pretrain_dir, "train", load_meta(pretrain_dir, f"pretrain_mix needs {pretrain_dir}, "
                                                         "the pretraining dataset this SFT dataset was made for"))

# -----------------------------------------------------------------------------------------------------------
# model: from scratch, resumed, or initialised from a pretrained run
iter_num, best_val_loss, optimizer_state = 0, float("inf"), None
torch.manual_seed(seed)
if init_from == "scratch":
    if is_sft:
        raise SystemExit(f"{data_dir} is an SFT dataset: fine-tune from a pretrained run with "
                         "--init_from=<its out_dir> (e.g. out/pretrain_jinyong)")
    model_args = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size, bias=bias, arch=arch,
                      dropout=dropout, vocab_size=-(-meta["vocab_size"] // 64) * 64)  # round up: faster matmuls
    model = GPT(GPTConfig(**model_args))
    tokenizer_meta = tokenizer_from_meta(meta).to_meta()
else:
    resuming = init_from == "resume"
    source = checkpoint_path(out_dir, "last") if resuming else checkpoint_path(init_from, "best")
    checkpoint = load_checkpoint(source, map_location="cpu")
    model = model_from_checkpoint(checkpoint, dropout=dropout)
    model_args = dict(checkpoint["model_args"], dropout=dropout)
    tokenizer_meta = checkpoint["tokenizer"]
    if resuming:
        iter_num, best_val_loss = checkpoint["iter_num"], checkpoint["best_val_loss"]
        optimizer_state = checkpoint.get("optimizer")
    log(f"initialised from {source} (iteration {checkpoint['iter_num']})")
    check_tokenizer(meta, tokenizer_meta, data_dir, source,
                    "re-run prepare_sft.py with --pretrain_data=<the dataset that model was pretrained on>")
    check_rows_fit(meta, model_args["block_size"], data_dir, source)
sequence_len = meta["block_size"] if is_sft else model_args["block_size"]
if meta["vocab_size"] > model_args["vocab_size"]:
    raise SystemExit(f"{data_dir} has {meta['vocab_size']} token ids, the model only {model_args['vocab_size']}")
model.to(device)
log(f"model: {model.num_params() / 1e6:.2f}M parameters, {model_args['n_layer']} layers, {model_args['n_head']} heads, "
    f"{model_args['n_embd']} wide, context {model_args['block_size']}; {'SFT (answer-only loss)' if is_sft else 'pretraining'} "
    f"on {data_dir}; device {device}, {dtype}" + (f"; {mix_rows} rows of {pretrain_dir} text in every batch" if mix_rows else ""))

optimizer = model.configure_optimizer(weight_decay, learning_rate, (beta1, beta2), device_type)
if optimizer_state is not None:
    optimizer.load_state_dict(optimizer_state)
scaler = torch.amp.GradScaler(device_type, enabled=(dtype == "float16"))
raw_model = model

# -----------------------------------------------------------------------------------------------------------
# batches: each a pure function of (seed, iteration, micro-step, rank), so resume repeats nothing and skips nothing
def train_batch(it, micro_step):
    if is_sft:
        rows, spans = train_data
        step = (it * gradient_accumulation_steps + micro_step) * world_size + rank
        batch = sft_batch(rows, spans, sft_rows_for_step(spans[:, 1], batch_size, seed, step), device)
        return add_text_rows(batch, mix_text, mix_rows, step_rng(seed, MIX_STREAM, step)) if mix_rows else batch
    return get_batch(train_data, batch_size, sequence_len, step_rng(seed, TRAIN_STREAM, it, micro_step, rank), device)


@torch.no_grad()
def estimate_loss():
    """Mean loss on each split. The same batches every time, so successive evals compare like with like; an
    SFT val split is evaluated whole, weighting each batch by its number of supervised tokens."""
    raw_model.eval()
    losses = {}
    for split, data in (("train", train_data), ("val", val_data)):
        total, weight = 0.0, 0.0
        if is_sft and split == "val":
            rows, spans = data
            batches = [sft_batch(rows, spans, ids, device) for ids in length_grouped_batches(spans[:, 1], batch_size, 0, 0)]
        elif is_sft:
            batches = [get_batch_sft(*data, batch_size, step_rng(seed, EVAL_STREAM, k), device) for k in range(eval_iters)]
        else:
            batches = [get_batch(data, batch_size, sequence_len, step_rng(seed, EVAL_STREAM, k), device) for k in range(eval_iters)]
        for x, y, *mask in batches:
            with autocast:
                _, loss = raw_model(x, y, mask[0] if mask else None)
            n = float(mask[0].sum()) if mask else 1.0
            total, weight = total + loss.item() * n, weight + n
        losses[split] = total / max(weight, 1.0)
    raw_model.train()
    return losses


def lr_at(it):
    """Linear warmup, then cosine decay from learning_rate to min_lr at lr_decay_iters."""
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it >= lr_decay_iters:
        return min_lr
    progress = (it - warmup_iters) / max(1, lr_decay_iters - warmup_iters)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (learning_rate - min_lr)


def checkpoint_dict():
    return {"model": raw_model.state_dict(), "optimizer": optimizer.state_dict(), "model_args": model_args,
            "tokenizer": tokenizer_meta, "data_kind": "sft" if is_sft else "pretrain", "dataset": data_dir,
            "retrieval": meta.get("retrieval"),  # an open-book run: how its questions get their passages
            "iter_num": iter_num, "best_val_loss": best_val_loss, "config": config}


# -----------------------------------------------------------------------------------------------------------
# the log: one CSV row per eval (train_loss, val_loss) and per log line (batch_loss), read by plot_loss.py
LOG_FIELDS = ["iter", "train_loss", "val_loss", "batch_loss", "lr", "tokens_per_sec", "elapsed_sec"]
log_path = os.path.join(out_dir, "log.csv")
if master:
    os.makedirs(out_dir, exist_ok=True)
    kept_rows = []
    if init_from == "resume" and os.path.isfile(log_path):
        with open(log_path, newline="") as f:  # keep the curve up to the resumed iteration
            kept_rows = [r for r in csv.DictReader(f)
                         if int(r["iter"]) < iter_num or (int(r["iter"]) == iter_num and r["batch_loss"])]
    with open(log_path, "w", newline="") as f:
        writer = csv.DictWriter(f, LOG_FIELDS)
        writer.writeheader()
        writer.writerows(kept_rows)


def append_log(**row):
    if master:
        with open(log_path, "a", newline="") as f:
            csv.DictWriter(f, LOG_FIELDS).writerow(row)


# Ctrl-C / SIGTERM: finish the current iteration, write ckpt_last.pt, exit cleanly
stop_requested = False


def request_stop(signum, frame):
    global stop_requested
    if stop_requested:  # a second Ctrl-C: the user really wants out now
        raise KeyboardInterrupt
    stop_requested = True
    log(f"\n{signal.Signals(signum).name} received: saving {LAST} after this iteration (Ctrl-C again to abort)")


signal.signal(signal.SIGINT, request_stop)
signal.signal(signal.SIGTERM, request_stop)

def stop_if_diverged():
    """Called before anything is logged or saved: once a loss or gradient was NaN/inf, stop without saving, so
    the checkpoints on disk stay the last good ones."""
    if (iter_num % log_interval == 0 or iter_num % eval_interval == 0 or iter_num == max_iters or stop_requested) \
            and int(diverged_at) >= 0:
        saved = [name for name in (BEST, LAST) if os.path.isfile(os.path.join(out_dir, name))]
        log(f"\nthe loss or its gradient became NaN/inf at iteration {int(diverged_at)}: training diverged. "
            + (f"Nothing was saved since; {out_dir}/{' and '.join(saved)} hold the last good state. Lower "
               "learning_rate (or raise warmup_iters) and resume with --init_from=resume." if saved else
               "No checkpoint was written. Lower learning_rate (or raise warmup_iters) and start again."))
        sys.exit(1)


# -----------------------------------------------------------------------------------------------------------
# the loop
t_start = time.time()  # elapsed time counts compiling too
if compile:
    def first_step(compiled):
        x, y, *mask = train_batch(iter_num, 0)
        with autocast:
            _, loss = compiled(x, y, mask[0] if mask else None)
        scaler.scale(loss).backward()
    model, compile_seconds = compile_for_training(model, first_step)
    if model is not raw_model:
        log(f"compiled the model in {compile_seconds:.0f} s (torch.compile)")
if ddp:
    model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if device_type == "cuda" else None)
diverged_at = torch.tensor(-1, device=device)
start_iter = iter_num
tokens_per_iter = gradient_accumulation_steps * world_size * batch_size * sequence_len
log(f"{max_iters - iter_num} iterations to go, up to {tokens_per_iter:,} tokens each; "
    f"log in {log_path}, checkpoints in {out_dir}/")
tokens_seen, t_window = 0, time.time()
while True:
    lr = lr_at(iter_num)
    for group in optimizer.param_groups:
        group["lr"] = lr

    if iter_num % eval_interval == 0 or iter_num == max_iters or stop_requested:
        eval_started = time.time()
        if master and not stop_requested:
            losses = estimate_loss()
            improved = losses["val"] < best_val_loss
            best_val_loss = min(best_val_loss, losses["val"])
            log(f"eval  iter {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}"
                + (" (best so far: saved)" if improved and iter_num > start_iter else ""))
            append_log(iter=iter_num, train_loss=f"{losses['train']:.5f}", val_loss=f"{losses['val']:.5f}",
                       lr=f"{lr:.3e}", elapsed_sec=f"{time.time() - t_start:.1f}")
            if improved and iter_num > start_iter:
                save_checkpoint(checkpoint_dict(), os.path.join(out_dir, BEST))
        if master and iter_num > start_iter:
            save_checkpoint(checkpoint_dict(), os.path.join(out_dir, LAST))
        if stop_requested:
            log(f"stopped at iteration {iter_num}; continue with --init_from=resume")
            break
        t_window += time.time() - eval_started  # tokens/s and the ETA count training time only
    if iter_num >= max_iters:
        break

    # dropout's randomness is also a function of the iteration, so a resumed run repeats the same curve
    torch.manual_seed(seed + 1_000_003 * iter_num + rank)
    for micro_step in range(gradient_accumulation_steps):
        x, y, *mask = train_batch(iter_num, micro_step)
        # DDP: all-reduce the gradients once, on the last micro-step, not after every backward
        sync = nullcontext() if not ddp or micro_step == gradient_accumulation_steps - 1 else model.no_sync()
        with sync, autocast:
            _, loss = model(x, y, mask[0] if mask else None)
            loss = loss / gradient_accumulation_steps
        with sync:
            scaler.scale(loss).backward()
        tokens_seen += x.numel() * world_size
    scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(), grad_clip if grad_clip > 0 else float("inf"))
    if not scaler.is_enabled():  # (float16's GradScaler skips non-finite steps by itself)
        # a flag on the device, read at the next log line or checkpoint: no GPU sync on every step
        diverged_at = torch.where((torch.isfinite(loss) & torch.isfinite(grad_norm)) | (diverged_at >= 0),
                                  diverged_at, iter_num)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    iter_num += 1
    stop_if_diverged()

    if iter_num % log_interval == 0 and master:
        batch_loss = loss.item() * gradient_accumulation_steps
        now = time.time()
        tokens_per_sec = tokens_seen / (now - t_window)
        ms_per_iter = (now - t_window) * 1000 / log_interval
        eta = (max_iters - iter_num) * ms_per_iter / 1000
        log(f"iter {iter_num}/{max_iters} | loss {batch_loss:.4f} | lr {lr:.2e} | {tokens_per_sec:,.0f} tok/s | "
            f"{ms_per_iter:.0f} ms/iter | elapsed {time.strftime('%H:%M:%S', time.gmtime(now - t_start))} | "
            f"ETA {time.strftime('%H:%M:%S', time.gmtime(eta))}")
        append_log(iter=iter_num, batch_loss=f"{batch_loss:.5f}", lr=f"{lr:.3e}",
                   tokens_per_sec=f"{tokens_per_sec:.0f}", elapsed_sec=f"{now - t_start:.1f}")
        tokens_seen, t_window = 0, now

if master:
    log(f"done: best val loss {best_val_loss:.4f}; checkpoints in {out_dir}/ ({BEST}, {LAST})")
    if plot:
        try:
            from wuxia.plotting import plot_runs
            log(f"loss curve: {plot_runs([out_dir], os.path.join(out_dir, 'loss.png'))}")
        except ImportError as e:
            log(f"no loss plot ({e}); pip install matplotlib")
if ddp:
    # wait for rank 0's saving and plotting: a rank that tears gloo down while another still holds the
    # connection can abort ("terminate called without an active exception") and fail the whole run
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
