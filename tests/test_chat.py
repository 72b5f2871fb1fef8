"""The chat page and the terminal chat answer exactly what sample.py answers for the same seed and settings.

A tiny randomly initialised GPT with a character vocabulary is saved as a real checkpoint (save_checkpoint,
read back by load_for_inference), once as an SFT and once as a pretrained run. Its answers are gibberish,
but they are long enough and seed-dependent, so any difference in prompt, settings or seed shows.
"""
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from model import GPT, GPTConfig  # noqa: E402
from wuxia.chat_page import answer_stream  # noqa: E402
from wuxia.checkpoint import BEST, load_for_inference, save_checkpoint  # noqa: E402
from wuxia.device import for_inference  # noqa: E402
from wuxia.tokenizer import CharTokenizer  # noqa: E402

pytestmark = pytest.mark.slow  # every test here runs real training or generation

# no ">" and no "-" in the vocabulary, so the markers the tests split on never come from the model
VOCABULARY_TEXT = "问答：郭靖黄蓉杨过小龙女射雕英雄传。，"
QUESTION = "郭靖的师父是谁"
SEED = 7
# not sample.py's defaults, so a page that ignored a setting would answer differently
SETTINGS = dict(max_new_tokens=40, temperature=0.9, top_k=12, top_p=0.9, repetition_penalty=1.2)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """{"sft": out_dir, "pretrain": out_dir}, both holding the same tiny random model."""
    tokenizer = CharTokenizer.from_texts([VOCABULARY_TEXT])
    config = GPTConfig(block_size=64, vocab_size=tokenizer.vocab_size, n_layer=2, n_head=2, n_embd=32)
    torch.manual_seed(0)
    model = GPT(config)
    out_dirs = {}
    for kind in ("sft", "pretrain"):
        out_dir = str(tmp_path_factory.mktemp(kind))
        save_checkpoint({"model": model.state_dict(), "model_args": asdict(config), "tokenizer": tokenizer.to_meta(),
                         "data_kind": kind, "dataset": "tiny", "iter_num": 0, "best_val_loss": 3.0, "config": {}},
                        os.path.join(out_dir, BEST))
        out_dirs[kind] = out_dir
    return out_dirs


def settings_args(seed):
    return [f"--seed={seed}"] + [f"--{key}={value}" for key, value in SETTINGS.items()]


def sample_py_text(out_dir, prompt, seed, sft):
    """What `sample.py --num_samples=1` prints for one prompt, as the page shows it: an SFT answer alone, or
    the prompt with its continuation (both end with " …" when max_new_tokens cut them)."""
    result = subprocess.run([sys.executable, "sample.py", f"--out_dir={out_dir}", f"--start={prompt}",
                             "--num_samples=1"] + settings_args(seed),
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    body = result.stdout.split("--- sample 1 of prompt 1", 1)[1].split("\n", 1)[1]
    body = body[:body.rindex("\n--- ")]  # the "--- N tokens in ..." line ends the sample
    if sft:
        prefix = f"问：{prompt}\n答："
        assert body.startswith(prefix), body
        body = body[len(prefix):]
    return body


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_completion_mode_continues_the_text_like_sample_py(checkpoints):
    model, tokenizer, _ = load_for_inference(checkpoints["pretrain"])
    model, _ = for_inference(model, "cpu")  # the format chat_web.py and sample.py use by default
    shown = list(answer_stream(model, tokenizer, False, "郭靖", seed=SEED, max_input_chars=100, **SETTINGS))
    expected = sample_py_text(checkpoints["pretrain"], "郭靖", SEED, sft=False)
    assert len(expected) > len("郭靖") + 5, "the tiny model should write something"
    assert shown[0] == "郭靖" and shown[-1] == expected


def test_terminal_chat_answers_each_question_and_exits_on_eof(checkpoints):
    out_dir = checkpoints["sft"]
    # the empty line in between is skipped without using up a turn
    result = subprocess.run([sys.executable, "sample.py", f"--out_dir={out_dir}", "--interactive"] + settings_args(SEED),
                            cwd=ROOT, input=f"{QUESTION}\n\n黄蓉\n", capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    banner, first, empty, second, at_eof = result.stdout.split("\n> ")
    assert "SFT model" in banner and empty == "" and at_eof == "\n"
    # turn k samples with seed + k, as sample.py's prompt k of a prompt file does
    assert first == sample_py_text(out_dir, QUESTION, SEED, sft=True) + "\n"
    assert second == sample_py_text(out_dir, "黄蓉", SEED + 1, sft=True) + "\n"
    assert len(first) > 5


def test_chat_web_without_gradio_says_how_to_install_it(checkpoints, tmp_path):
    (tmp_path / "gradio.py").write_text("raise ImportError('gradio is hidden by this test')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    result = subprocess.run([sys.executable, "chat_web.py", f"--out_dir={checkpoints['sft']}"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "pip install -r requirements-chat.txt" in result.stderr


def test_web_page_streams_the_answer_sample_py_gives(checkpoints):
    pytest.importorskip("gradio", reason="the chat page needs Gradio: pip install -r requirements-chat.txt")
    from gradio_client import Client

    out_dir, port = checkpoints["sft"], free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    server = subprocess.Popen([sys.executable, "chat_web.py", f"--out_dir={out_dir}", f"--port={port}"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while True:
            assert server.poll() is None, f"chat_web.py exited early:\n{server.stdout.read()}"
            assert time.time() < deadline, "chat_web.py did not start listening within 120 s"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False)

        def ask(text, seed=SEED):
            s = SETTINGS
            return client.submit(text, s["max_new_tokens"], s["temperature"], s["top_k"], s["top_p"],
                                 s["repetition_penalty"], seed, api_name="/answer")

        expected = sample_py_text(out_dir, QUESTION, SEED, sft=True)
        assert len(expected) > 5, "the tiny model should write something"
        # two browsers at once are queued, and both get the whole answer
        with ThreadPoolExecutor(2) as pool:
            jobs = list(pool.map(ask, [QUESTION, QUESTION]))
            answers = [job.result(timeout=120) for job in jobs]
        assert answers == [expected, expected]
        # the answer streamed in: the page showed growing prefixes before the final text
        steps = jobs[0].outputs()
        assert len(steps) > 3 and steps[-1] == expected
        assert all(later.startswith(earlier) for earlier, later in zip(steps, steps[1:]))

        assert ask(QUESTION, seed=SEED + 1).result(timeout=120) != expected
        assert "Please type a question first" in ask("   ").result(timeout=60)
        assert "the limit is 500" in ask("郭" * 501).result(timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=30)
