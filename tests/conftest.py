"""Shared test helpers: tiny datasets (tiny_datasets.py writes them in the formats prepare.py and
prepare_sft.py produce) and a way to run the real scripts."""
import contextlib
import io
import os
import runpy
import signal
import subprocess
import sys
from types import SimpleNamespace

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tiny_datasets import write_pretrain, write_sft  # noqa: E402
from wuxia.tokenizer import tokenizer_from_meta  # noqa: E402

TINY_TEXT = "郭靖和黄蓉在桃花岛上练武。杨过是小龙女的徒弟。段誉会六脉神剑。乔峰是丐帮帮主。\n" * 60
TINY_QA = [("杨过的师父是谁？", "小龙女。"), ("段誉会什么武功？", "六脉神剑。"),
           ("乔峰是哪个帮的帮主？", "丐帮。"), ("郭靖和谁在桃花岛练武？", "黄蓉。")]
TINY_MODEL = ["--n_layer=2", "--n_head=2", "--n_embd=32", "--block_size=64", "--dropout=0.0", "--bias=True"]


def run(script, *args, check=True, timeout=300, **kwargs):
    """Run one of the project's scripts through its real command line."""
    result = subprocess.run([sys.executable, os.path.join(ROOT, script), *args], cwd=kwargs.pop("cwd", ROOT),
                            capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{script} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def run_here(script, *args, cwd=ROOT):
    """Run one of the project's scripts inside this process (torch is imported once, so a case takes
    milliseconds, not seconds), as `python script args` would from cwd. Returns (returncode, stdout, stderr)
    like subprocess.run. An exception the script does not turn into a message propagates: a traceback the
    user would see fails the test. Machine errors (OSError) go through the excepthook the script set, as they
    do when the interpreter ends a real run."""
    path = os.path.join(ROOT, script)
    saved = (sys.argv, list(sys.path), os.getcwd(), sys.excepthook, signal.getsignal(signal.SIGINT),
             signal.getsignal(signal.SIGTERM))
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        sys.argv = [path, *args]
        sys.path.insert(0, os.path.dirname(path))
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(path, run_name="__main__")
            except SystemExit as e:
                if isinstance(e.code, str):
                    print(e.code, file=sys.stderr)
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except OSError as e:
                sys.excepthook(type(e), e, e.__traceback__)
                code = 1
    finally:
        sys.argv, sys.path[:], _, sys.excepthook = saved[0], saved[1], os.chdir(saved[2]), saved[3]
        signal.signal(signal.SIGINT, saved[4])
        signal.signal(signal.SIGTERM, saved[5])
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def write_pretrain_dataset(data_dir, text=TINY_TEXT):
    """A char-tokenizer pretraining dataset (90% train, 10% val); returns its tokenizer."""
    split = int(len(text) * 0.9)
    return tokenizer_from_meta(write_pretrain(data_dir, [text[:split]], [text[split:]]))


def write_sft_dataset(data_dir, tokenizer, block_size=64, qa=TINY_QA):
    """An SFT dataset whose val split repeats its train split (tests that want the model to recall them)."""
    write_sft(data_dir, tokenizer.to_meta(), qa, qa, block_size)


@pytest.fixture
def tiny_pretrain(tmp_path):
    data_dir = str(tmp_path / "data" / "tiny")
    return data_dir, write_pretrain_dataset(data_dir)
