"""What a new user gets wrong, across every script: each case must end with a message naming what to fix, a
non-zero exit, no traceback, and nothing written (the folder is exactly as it was before). The scripts run
inside this process (conftest.run_here), so the whole file takes seconds."""
import ast
import glob
import json
import os
import random

import pytest

from conftest import ROOT, TINY_QA, TINY_TEXT, run_here, write_pretrain_dataset, write_sft_dataset
from model import GPT, GPTConfig
from wuxia.checkpoint import save_checkpoint

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
NOISE = random.Random(0).randbytes(4096)  # no signature: judged by its content


def write_run(out_dir, tokenizer, data_kind, dataset="", block_size=32):
    """A run folder with an untrained tiny model: enough for every check that happens before generation."""
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=block_size,
                          vocab_size=-(-tokenizer.vocab_size // 64) * 64))
    save_checkpoint({"model": model.state_dict(), "model_args": vars(model.config), "tokenizer": tokenizer.to_meta(),
                     "data_kind": data_kind, "dataset": dataset, "iter_num": 0, "best_val_loss": 1.0,
                     "config": {}}, os.path.join(out_dir, "ckpt_best.pt"))


@pytest.fixture
def world(tmp_path):
    """A working folder as a user has it: two novels, a QA file, a prepared pretraining and SFT dataset, a
    pretrained and a fine-tuned run, a PNG named like text, a file where a folder is expected."""
    (tmp_path / "a.txt").write_text(TINY_TEXT, encoding="utf-8")
    (tmp_path / "b.txt").write_bytes(TINY_TEXT.replace("郭靖", "黄药师").encode("gb18030"))
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps({"question": q, "answer": a}, ensure_ascii=False) + "\n"
                                               for q, a in TINY_QA), encoding="utf-8")
    (tmp_path / "picture.txt").write_bytes(PNG)
    (tmp_path / "picture.jsonl").write_bytes(PNG)
    (tmp_path / "noise.txt").write_bytes(NOISE)
    (tmp_path / "a_file").write_text("not a folder", encoding="utf-8")
    (tmp_path / "bad_config.py").write_text('batch_size = "32"  # a string where a number belongs\n', encoding="utf-8")
    tokenizer = write_pretrain_dataset(str(tmp_path / "data" / "tiny"))
    write_sft_dataset(str(tmp_path / "data" / "sft"), tokenizer, block_size=32)
    write_run(str(tmp_path / "pre"), tokenizer, "pretrain", dataset=str(tmp_path / "data" / "tiny"))
    write_run(str(tmp_path / "sft_run"), tokenizer, "sft", dataset=str(tmp_path / "data" / "sft"))
    write_run(str(tmp_path / "small"), tokenizer, "pretrain", dataset=str(tmp_path / "data" / "tiny"), block_size=16)
    return tmp_path


def snapshot(folder):
    """Every path under folder, with the size and modification time of each file."""
    result = {}
    for path in glob.glob(os.path.join(folder, "**"), recursive=True, include_hidden=True):
        stat = os.stat(path)
        result[os.path.relpath(path, folder)] = None if os.path.isdir(path) else (stat.st_size, stat.st_mtime_ns)
    return result


LONG_QUESTION = "郭靖" * 40 + "？"

# (script, arguments, what the message must say). Paths are relative to the `world` folder.
MISTAKES = [
    # prepare.py
    ("prepare.py", ["--dataset=x", "--input=a.txt", "碧血剑.txt"], "碧血剑.txt"),
    ("prepare.py", ["--dataset=x", "--input=a.txt", "--input=books/*.txt"], "books/*.txt"),
    ("prepare.py", ["--dataset=x", "--input=picture.txt"], "picture.txt is not a text file: it is a PNG image"),
    ("prepare.py", ["--dataset=x", "--input=noise.txt"], "noise.txt is not a text file"),
    ("prepare.py", ["--dataset=x", "--input=a.txt", "--val_fraction=0"], "--val_fraction=0.0: must be between 0 and 1"),
    ("prepare.py", ["--dataset=x", "--input=a.txt", "--tokenizer=bpe"], "--tokenizer=bpe: must be one of gpt2, char"),
    ("prepare.py", ["--dataset=x", "--input=a.txt", "--drop_lines=(www"], "--drop_lines=(www: is not a valid regular"),
    ("prepare.py", ["--dataset=x", "--input=a.txt", "--min_char_count=0"], "--min_char_count=0: must be at least 1"),
    ("prepare.py", ["--dataset=a_file/x", "--input=a.txt"], "a_file is a file"),
    ("prepare.py", ["--dataset=x", "--input=a.txt", "--val_fraction=half"], "--val_fraction expects a float"),
    ("prepare.py", ["--dataset=x", "--input=a.txt", "--tokenzier=char"], "unknown setting 'tokenzier'"),
    ("prepare.py", ["--dataset=x"], "no input files: put the novels (.txt) or articles (.jsonl) in data/x/raw/"),
    # prepare_sft.py
    ("prepare_sft.py", ["--dataset=y", "--pretrain_data=tiny"], "name the question/answer files"),
    ("prepare_sft.py", ["--dataset=y", "--pretrain_data=tiny", "--input=qa.jsonl", "more.jsonl"], "more.jsonl"),
    ("prepare_sft.py", ["--dataset=y", "--pretrain_data=tiny", "--input=picture.jsonl"], "picture.jsonl is not a text"),
    ("prepare_sft.py", ["--dataset=y", "--pretrain_data=nothing", "--input=qa.jsonl"], "data/nothing/meta.json not found"),
    ("prepare_sft.py", ["--dataset=tiny", "--pretrain_data=tiny", "--input=qa.jsonl"], "both name data/tiny"),
    ("prepare_sft.py", ["--dataset=y", "--pretrain_data=tiny", "--input=qa.jsonl", "--block_size=4"], "at least 8"),
    ("prepare_sft.py", ["--dataset=tiny", "--show=0"], "data/tiny is a pretrain dataset: it has no train.jsonl"),
    # train.py
    ("train.py", ["--dataset=tiny", "--batch_size=0"], "--batch_size=0: must be at least 1"),
    ("train.py", ["--dataset=sft", "--init_from=pre", "--batch_size=0"], "--batch_size=0: must be at least 1"),
    ("train.py", ["--dataset=tiny", "--learning_rate=1e999"], "--learning_rate=inf: must be a finite number above 0"),
    ("train.py", ["--dataset=tiny", "--learning_rate=nan"], "--learning_rate expects a float, got 'nan'"),
    ("train.py", ["--dataset=tiny", "--learning_rate=-1e-3"], "--learning_rate=-0.001: must be a finite number"),
    ("train.py", ["--dataset=tiny", "--dropout=1.0"], "--dropout=1.0: must be from 0 to 1, 1 excluded"),
    ("train.py", ["--dataset=tiny", "--out_dir=a_file"], "a_file exists and is not a folder"),
    ("train.py", ["bad_config.py"], "bad_config.py: batch_size = '32' must be an int, like the default 32"),
    ("train.py", ["missing_config.py"], "config file not found: missing_config.py"),
    ("train.py", ["--dataset=missing", "--out_dir=out"], "data/missing/meta.json not found"),
    ("train.py", ["--dataset=sft", "--init_from=no_such_run"], "no_such_run not found"),
    ("train.py", ["--dataset=tiny", "--device=gpu"], "--device=gpu: must be auto, cpu, cuda"),
    # sample.py
    ("sample.py", ["--out_dir=pre", "--num_samples=0"], "--num_samples=0: must be at least 1"),
    ("sample.py", ["--out_dir=pre", "--temperature=-1"], "--temperature=-1.0: must be a finite number, 0 or more"),
    ("sample.py", ["--out_dir=pre", "--top_p=1.5"], "--top_p=1.5: must be from 0 to 1"),
    ("sample.py", ["--out_dir=pre", "--top_k=-5"], "--top_k=-5: must be at least 0"),
    ("sample.py", ["--out_dir=pre", "--repetition_penalty=0"], "--repetition_penalty=0.0: must be a finite number"),
    ("sample.py", ["--out_dir=pre", "--start=FILE:missing.txt"], "--start=FILE:missing.txt: no such file"),
    ("sample.py", ["--out_dir=pre", "--start=FILE:picture.txt"], "picture.txt is not a text file"),
    ("sample.py", ["--out_dir=pre", "--checkpoint=worst"], "--checkpoint=worst: must be one of best, last"),
    ("sample.py", ["--out_dir=nowhere"], "no checkpoint in 'nowhere'"),
    ("sample.py", ["--out_dir=sft_run", "--start="], "Please type a question first"),
    ("sample.py", ["--out_dir=sft_run", f"--start={LONG_QUESTION}"], "it must be shorter than the model's context, 32"),
    # eval_rouge.py
    ("eval_rouge.py", ["--pred=missing.jsonl"], "--pred=missing.jsonl: not found"),
    ("eval_rouge.py", ["--pred=picture.jsonl"], "picture.jsonl is not a text file"),
    ("eval_rouge.py", ["--out_dir=pre"], "is a pretrain dataset: it has no val.jsonl of questions; pass the questions"),
    ("eval_rouge.py", ["--out_dir=sft_run", "--top_p=-0.1"], "--top_p=-0.1: must be from 0 to 1"),
    ("eval_rouge.py", ["--out_dir=sft_run", "--batch_size=0"], "--batch_size=0: must be at least 1"),
    # eval_ppl.py, plot_loss.py, chat_web.py
    ("eval_ppl.py", [], "name the run(s) to evaluate"),
    ("eval_ppl.py", ["--out_dir=pre", "--batch_size=0"], "--batch_size=0: must be at least 1"),
    ("eval_ppl.py", ["--out_dir=small", "--dataset=sft"], "data/sft has rows of 32 tokens but the model in small has a "
                                                          "context of 16: re-run prepare_sft.py with --block_size=16"),
    ("plot_loss.py", ["--out_dir=pre", "missing_run"], "--out_dir=missing_run: not found"),
    ("chat_web.py", ["--out_dir=sft_run", "--top_k=-1"], "--top_k=-1: must be at least 0"),
    ("chat_web.py", ["--out_dir=sft_run", "--port=0"], "--port=0: must be from 1 to 65535"),
    # the demo's corpus script and the benchmarks take the same kind of settings
    ("tools/poetry/fetch.py", ["--val_fraction=1"], "--val_fraction=1.0: must be between 0 and 1"),
    ("bench/bench_sample.py", ["--batch_sizes=1", "zero"], "--batch_sizes expects an int, got 'zero'"),
    ("bench/bench_prepare.py", ["--repeats=0"], "--repeats=0: must be at least 1"),
]


@pytest.mark.parametrize("script, args, message", MISTAKES, ids=[f"{s} {' '.join(a)}"[:80] for s, a, _ in MISTAKES])
def test_a_mistake_ends_with_a_message_and_leaves_nothing(world, script, args, message):
    before = snapshot(world)
    result = run_here(script, *args, cwd=world)
    assert result.returncode != 0, result.stdout
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(world) == before, "the failed run changed the folder"


SCRIPTS = ["prepare.py", "prepare_sft.py", "train.py", "sample.py", "eval_ppl.py", "eval_rouge.py", "plot_loss.py",
           "chat_web.py", "tools/poetry/fetch.py", "docs/screenshot_page.py",
           *sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "bench", "bench_*.py")))]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_lists_the_settings_with_defaults_and_comments(script, tmp_path):
    result = run_here(script, "--help", cwd=tmp_path)
    with open(os.path.join(ROOT, script), encoding="utf-8") as f:
        docstring = ast.get_docstring(ast.parse(f.read()))
    assert result.returncode == 0 and result.stdout.startswith(docstring.splitlines()[0])
    assert "Settings (default first" in result.stdout and "--" in result.stdout
    assert os.listdir(tmp_path) == []
    assert not any(line.lstrip().startswith(("--BEST", "--LAST", "--EVAL_STREAM", "--PROMPT_TEMPLATE", "--CUT_MARK",
                                             "--DECODING"))
                   for line in result.stdout.splitlines())


def test_help_of_train_is_grouped_as_in_the_file():
    text = run_here("train.py", "-h").stdout
    assert text.index("# optimisation") < text.index("--batch_size=32") < text.index("# system")
    assert "--batch_size=32" in text and "sequences per micro-step [at least 1]" in text
    assert "--learning_rate=0.001" in text and "[a finite number above 0]" in text


def test_repeated_list_options_append_in_every_script(world):
    """--input=a --input=b keeps both (once, silently, only the last was kept)."""
    result = run_here("prepare.py", "--dataset=both", "--input=a.txt", "--input=b.txt", "--tokenizer=char", cwd=world)
    assert result.returncode == 0, result.stderr
    meta = json.loads((world / "data" / "both" / "meta.json").read_text(encoding="utf-8"))
    assert [f["path"] for f in meta["files"]] == ["a.txt", "b.txt"]
    assert [f["encoding"] for f in meta["files"]] == ["utf-8", "gb18030"]
    (world / "more.jsonl").write_text(json.dumps({"question": "黄药师住在哪里？", "answer": "桃花岛。"},
                                                 ensure_ascii=False) + "\n", encoding="utf-8")
    result = run_here("prepare_sft.py", "--dataset=qa2", "--pretrain_data=both", "--input=qa.jsonl",
                      "--input=more.jsonl", "--block_size=32", cwd=world)
    assert result.returncode == 0, result.stderr
    assert "5 records in 2 file(s)" in result.stdout


def test_a_dataset_replaces_every_file_of_an_earlier_one_of_another_kind(world):
    """prepare.py into a folder that held an SFT dataset: no val.jsonl is left for eval_rouge.py to score."""
    sft = world / "data" / "sft"
    (sft / "raw").mkdir()
    (sft / "raw" / "book.txt").write_text(TINY_TEXT, encoding="utf-8")
    (sft / "README.md").write_text("my notes", encoding="utf-8")
    result = run_here("prepare.py", "--dataset=sft", "--tokenizer=char", cwd=world)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(sft)) == ["README.md", "meta.json", "raw", "train.bin", "val.bin"]


def test_a_full_disk_while_writing_leaves_the_earlier_dataset(world, monkeypatch):
    """The disk fills up while the new dataset is written: the message says so, the temporary files go, the
    earlier dataset stays whole."""
    before = snapshot(world)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", "meta.json")
    monkeypatch.setattr(json, "dump", disk_full)
    result = run_here("prepare.py", "--dataset=tiny", "--input=a.txt", "--tokenizer=char", cwd=world)
    assert result.returncode == 1 and "No space left on device (meta.json): the disk is full" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(world) == before


def test_no_permission_is_a_message_and_leaves_nothing(world, monkeypatch):
    """A folder the user may not write in (simulated: the tests may run as root, who may write anywhere)."""
    import tempfile
    before = snapshot(world)

    def refused(*args, dir=None, **kwargs):
        raise PermissionError(13, "Permission denied", dir)
    monkeypatch.setattr(tempfile, "mkdtemp", refused)
    result = run_here("prepare_sft.py", "--dataset=y", "--pretrain_data=tiny", "--input=qa.jsonl", cwd=world)
    assert result.returncode == 1 and "error: Permission denied (data/y): no permission" in result.stderr
    assert snapshot(world) == before  # not even the empty data/y/ it had made


def test_top_p_zero_is_greedy(world):
    greedy = run_here("sample.py", "--out_dir=pre", "--temperature=0", "--max_new_tokens=8", "--num_samples=1",
                      "--start=郭靖", cwd=world)
    top_p_zero = run_here("sample.py", "--out_dir=pre", "--top_p=0", "--max_new_tokens=8", "--num_samples=1",
                          "--start=郭靖", "--seed=7", cwd=world)
    assert greedy.returncode == top_p_zero.returncode == 0, greedy.stderr + top_p_zero.stderr
    assert greedy.stdout.split("\n")[1] == top_p_zero.stdout.split("\n")[1]


def test_files_in_other_encodings_are_read_everywhere(world):
    """A predictions file and a prompts file saved as GB18030 (a Windows editor's default in China)."""
    (world / "pred.jsonl").write_bytes((json.dumps({"prediction": "小龙女。", "reference": "小龙女。"},
                                                   ensure_ascii=False) + "\n").encode("gb18030"))
    result = run_here("eval_rouge.py", "--pred=pred.jsonl", cwd=world)
    assert result.returncode == 0, result.stderr
    assert "| pred | 1 | 1.0000 |" in result.stdout
    (world / "prompts.txt").write_bytes("郭靖\n黄蓉\n".encode("gb18030"))
    result = run_here("sample.py", "--out_dir=pre", "--start=FILE:prompts.txt", "--max_new_tokens=2",
                      "--num_samples=1", cwd=world)
    assert result.returncode == 0 and "sample 1 of prompt 2" in result.stdout
