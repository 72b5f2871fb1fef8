"""train.py through its real command line: resume, checkpoints, SFT, DDP on CPU, signals, divergence."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT, TINY_MODEL, run, write_pretrain_dataset, write_sft_dataset
from wuxia.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow  # every test here runs real training or generation

TRAIN = ["--batch_size=4", "--eval_iters=2", "--log_interval=5", "--warmup_iters=2", "--lr_decay_iters=30",
         "--plot=False", "--device=cpu", "--num_threads=1"]


def losses_by_iter(stdout):
    return {int(m[0]): float(m[1]) for m in re.findall(r"iter (\d+)/\d+ \| loss ([\d.]+)", stdout)}


def test_resume_continues_the_same_curve(tiny_pretrain, tmp_path):
    data_dir, _ = tiny_pretrain
    common = TINY_MODEL + TRAIN + [f"--dataset={data_dir}", "--eval_interval=10", "--dropout=0.1"]
    straight = run("train.py", *common, f"--out_dir={tmp_path}/a", "--max_iters=30")
    run("train.py", *common, f"--out_dir={tmp_path}/b", "--max_iters=15")
    resumed = run("train.py", *common, f"--out_dir={tmp_path}/b", "--max_iters=30", "--init_from=resume")
    expected = {i: v for i, v in losses_by_iter(straight.stdout).items() if i > 15}
    assert expected and losses_by_iter(resumed.stdout) == expected
    checkpoint = load_checkpoint(f"{tmp_path}/b/ckpt_last.pt")
    assert checkpoint["iter_num"] == 30 and set(checkpoint) >= {"model", "optimizer", "best_val_loss", "tokenizer"}
    with open(f"{tmp_path}/b/log.csv") as f:
        iters = [int(line.split(",")[0]) for line in f.read().splitlines()[1:]]
    assert iters == sorted(iters) and iters[-1] == 30  # one continuous curve, no duplicated stretch


def test_corrupt_or_truncated_checkpoint_gives_a_clear_error(tiny_pretrain, tmp_path):
    data_dir, _ = tiny_pretrain
    out = f"{tmp_path}/out"
    run("train.py", *TINY_MODEL, *TRAIN, f"--dataset={data_dir}", f"--out_dir={out}", "--max_iters=5",
        "--eval_interval=5")
    with open(f"{out}/ckpt_best.pt", "rb") as f:
        data = f.read()
    with open(f"{out}/ckpt_best.pt", "wb") as f:
        f.write(data[: len(data) // 2])
    result = run("sample.py", f"--out_dir={out}", "--max_new_tokens=5", check=False)
    assert result.returncode != 0
    assert "truncated, corrupt" in result.stderr and "Traceback" not in result.stderr


def test_checkpoint_with_code_is_refused(tmp_path):
    """weights_only loading: a pickle that would run code is an error, not an execution."""
    path = tmp_path / "evil.pt"
    torch.save({"model": os.system}, path)  # any non-tensor callable is refused by weights_only
    with pytest.raises(SystemExit, match="cannot read checkpoint"):
        load_checkpoint(str(path))


def test_sft_trains_on_answers_and_sample_answers_a_training_question(tiny_pretrain, tmp_path):
    data_dir, tokenizer = tiny_pretrain
    pre, sft = f"{tmp_path}/pre", f"{tmp_path}/sft"
    run("train.py", *TINY_MODEL, *TRAIN, f"--dataset={data_dir}", f"--out_dir={pre}", "--max_iters=10",
        "--eval_interval=10")
    sft_dir = f"{tmp_path}/data/sft"
    write_sft_dataset(sft_dir, tokenizer)
    result = run("train.py", *TRAIN, f"--dataset={sft_dir}", f"--out_dir={sft}", f"--init_from={pre}",
                 "--max_iters=150", "--eval_interval=50", "--learning_rate=3e-3", "--lr_decay_iters=150")
    assert "SFT (answer-only loss)" in result.stdout
    checkpoint = load_checkpoint(f"{sft}/ckpt_best.pt")
    assert checkpoint["data_kind"] == "sft" and checkpoint["model_args"]["n_embd"] == 32  # shape from pretraining
    answer = run("sample.py", f"--out_dir={sft}", "--start=杨过的师父是谁？", "--temperature=0",
                 "--num_samples=1", "--max_new_tokens=20")
    assert "答：小龙女。" in answer.stdout
    assert os.path.isfile(f"{sft}/samples.txt")
    half = run("sample.py", f"--out_dir={sft}", "--start=杨过的师父是谁？", "--temperature=0",
               "--num_samples=1", "--max_new_tokens=20", "--dtype=float16")  # weights cast for CPU decoding
    assert "答：小龙女。" in half.stdout


def test_sft_dataset_with_another_tokenizer_is_a_clear_error(tiny_pretrain, tmp_path):
    data_dir, _ = tiny_pretrain
    pre = f"{tmp_path}/pre"
    run("train.py", *TINY_MODEL, *TRAIN, f"--dataset={data_dir}", f"--out_dir={pre}", "--max_iters=5",
        "--eval_interval=5")
    other = write_pretrain_dataset(f"{tmp_path}/data/other", text="完全不同的字符集合。" * 50)
    sft_dir = f"{tmp_path}/data/sft"
    write_sft_dataset(sft_dir, other, qa=[("问题？", "不同。")])
    result = run("train.py", *TRAIN, f"--dataset={sft_dir}", f"--out_dir={tmp_path}/sft", f"--init_from={pre}",
                 check=False)
    assert result.returncode != 0 and "different character vocabulary" in result.stderr


def test_unknown_setting_lists_the_valid_ones():
    result = run("train.py", "--learning_rat=1e-3", check=False)
    assert result.returncode != 0
    assert "unknown setting 'learning_rat'" in result.stderr and "learning_rate" in result.stderr


def test_divergence_stops_with_a_clear_message_and_keeps_checkpoints(tiny_pretrain, tmp_path):
    data_dir, _ = tiny_pretrain
    out = f"{tmp_path}/out"
    common = TINY_MODEL + TRAIN + [f"--dataset={data_dir}", f"--out_dir={out}", "--eval_interval=4"]
    run("train.py", *common, "--max_iters=4")
    result = run("train.py", *common, "--max_iters=40", "--init_from=resume", "--learning_rate=1e12",
                 "--warmup_iters=0", "--grad_clip=0", check=False)
    assert result.returncode == 1 and "training diverged" in result.stdout
    checkpoint = load_checkpoint(f"{out}/ckpt_last.pt")  # still the last good state
    assert checkpoint["iter_num"] == 4 and torch.isfinite(torch.tensor(checkpoint["best_val_loss"]))


def test_divergence_before_any_checkpoint_does_not_advise_resuming(tiny_pretrain, tmp_path):
    data_dir, _ = tiny_pretrain
    result = run("train.py", *TINY_MODEL, *TRAIN, f"--dataset={data_dir}", f"--out_dir={tmp_path}/out",
                 "--max_iters=20", "--eval_interval=20", "--log_interval=1", "--learning_rate=1e12",
                 "--warmup_iters=0", "--grad_clip=0", check=False)
    assert result.returncode == 1 and "No checkpoint was written" in result.stdout
    assert "--init_from=resume" not in result.stdout and not os.path.exists(f"{tmp_path}/out/ckpt_last.pt")


def test_sigterm_saves_the_last_checkpoint_and_exits_cleanly(tiny_pretrain, tmp_path):
    data_dir, _ = tiny_pretrain
    out = f"{tmp_path}/out"
    process = subprocess.Popen([sys.executable, "train.py", *TINY_MODEL, *TRAIN, f"--dataset={data_dir}",
                                f"--out_dir={out}", "--max_iters=100000", "--eval_interval=100000"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log_path = f"{out}/log.csv"
    deadline = time.time() + 60
    while time.time() < deadline and not (os.path.isfile(log_path) and open(log_path).read().count("\n") > 3):
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "SIGTERM received" in stdout and "continue with --init_from=resume" in stdout
    assert load_checkpoint(f"{out}/ckpt_last.pt")["iter_num"] > 0


def test_ddp_on_cpu_with_two_processes_trains_and_saves_once(tiny_pretrain, tmp_path):
    data_dir, _ = tiny_pretrain
    out = f"{tmp_path}/ddp"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "train.py", *TINY_MODEL, *TRAIN, f"--dataset={data_dir}", f"--out_dir={out}",
                             "--max_iters=10", "--eval_interval=10", "--gradient_accumulation_steps=2"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("done: best val loss") == 1  # only rank 0 logs and saves
    assert load_checkpoint(f"{out}/ckpt_last.pt")["iter_num"] == 10
    assert sorted(os.listdir(out)) == ["ckpt_best.pt", "ckpt_last.pt", "log.csv"]


@pytest.mark.parametrize("config", sorted(os.listdir(os.path.join(ROOT, "config"))))
def test_every_config_file_holds_only_train_settings(config, tmp_path):
    """A config with a misspelt key stops at the configurator; a valid one gets as far as the data."""
    result = run("train.py", f"config/{config}", "--init_from=scratch", f"--dataset={tmp_path}/missing", check=False)
    assert "unknown setting" not in result.stderr
    assert f"{tmp_path}/missing/meta.json not found" in result.stderr


def test_compiled_training_follows_the_eager_curve(tiny_pretrain, tmp_path):
    """--compile=True (inductor's CPU kernels, and the written-out attention that only a compiled CPU step
    uses) trains the same model as the eager step: same seed, same batches, the same losses within float32's
    reordering noise, and the compile reported in one line."""
    data_dir, _ = tiny_pretrain
    common = TINY_MODEL + TRAIN + ["--arch=llama", "--bias=False", "--dtype=float32", f"--dataset={data_dir}",
                                   "--eval_interval=20", "--max_iters=20"]
    eager = losses_by_iter(run("train.py", *common, f"--out_dir={tmp_path}/eager").stdout)
    compiled_run = run("train.py", *common, f"--out_dir={tmp_path}/compiled", "--compile=True")
    compiled = losses_by_iter(compiled_run.stdout)
    assert "compiled the model in" in compiled_run.stdout
    assert sorted(eager) == sorted(compiled) == [5, 10, 15, 20]
    assert eager[20] < eager[5]  # it learned: the comparison is between two curves that move
    for it in eager:
        assert compiled[it] == pytest.approx(eager[it], rel=2e-3), it


def test_compile_that_fails_falls_back_to_eager_in_one_line(tiny_pretrain, tmp_path):
    """No C++ compiler for inductor (here: CXX pointing nowhere, and an empty compile cache): training goes on
    uncompiled after one line that says why, with no traceback."""
    data_dir, _ = tiny_pretrain
    env = dict(os.environ, CXX="/nonexistent/g++", TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "inductor_cache"))
    result = run("train.py", *TINY_MODEL, *TRAIN, f"--dataset={data_dir}", f"--out_dir={tmp_path}/out",
                 "--max_iters=5", "--eval_interval=5", "--compile=True", env=env)
    assert "torch.compile does not work here" in result.stdout and "training without it" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert os.path.isfile(f"{tmp_path}/out/ckpt_best.pt")
