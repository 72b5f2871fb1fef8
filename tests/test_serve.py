"""serve.py through the official `openai` client: models, answers, streams, concurrent streams, bad requests,
the bounded queue, stop strings, n, keys and the host check; and a client that leaves stops its generation."""
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("gradio", reason="serve.py needs the web requirements: pip install -r requirements-chat.txt")
openai = pytest.importorskip("openai", reason="the tests use the official client: pip install -r requirements-dev.txt")
import httpx  # noqa: E402

from conftest import ROOT  # noqa: E402
from tiny_checkpoints import save_tiny_checkpoint  # noqa: E402

QUESTION = "郭靖的师父是谁"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(*args, port):
    """serve.py in a subprocess, once it listens on port."""
    server = subprocess.Popen([sys.executable, "serve.py", f"--port={port}", *args], cwd=ROOT,
                              env=dict(os.environ, GRADIO_ANALYTICS_ENABLED="False"),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while True:
        if server.poll() is not None:
            raise AssertionError(f"serve.py exited early:\n{server.stdout.read()}")
        assert time.time() < deadline, "serve.py did not listen within 180 s"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.5)


def stop_serve(server):
    server.terminate()
    try:
        return server.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        server.kill()
        return server.communicate()[0]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, sft model id, pretrained model id) of one serve.py with two tiny models: an SFT one, and a
    pretrained one that never draws <|endoftext|> (so its streams have exactly max_tokens tokens)."""
    root = tmp_path_factory.mktemp("runs")
    sft = save_tiny_checkpoint(str(root / "sft"), "sft", seed=0)
    pretrain = save_tiny_checkpoint(str(root / "pretrain"), "pretrain", seed=1, endless=True, block_size=256)
    port = free_port()
    server = start_serve(f"--out_dir={sft}", pretrain, f"--votes={root / 'votes.jsonl'}", port=port)
    yield f"http://127.0.0.1:{port}/v1", "sft", "pretrain"
    stop_serve(server)


def client_for(url, key="unused"):
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=120)


def test_the_openai_client_lists_asks_and_streams_the_same_answer(served):
    url, sft, pretrain = served
    client = client_for(url)
    assert sorted(m.id for m in client.models.list()) == sorted([sft, pretrain])

    messages = [{"role": "system", "content": "ignored"}, {"role": "user", "content": QUESTION}]
    reply = client.chat.completions.create(model=sft, messages=messages, temperature=0, max_tokens=30)
    answer = reply.choices[0].message.content
    assert reply.choices[0].finish_reason in ("stop", "length") and reply.model == sft
    assert "passages" not in reply.model_extra  # only an open-book run's responses carry the passages it read
    assert reply.usage.prompt_tokens == len(f"问：{QUESTION}\n答：")  # the SFT template, one token a character
    assert reply.usage.completion_tokens >= len(answer) and reply.usage.total_tokens == \
        reply.usage.prompt_tokens + reply.usage.completion_tokens

    reply = client.chat.completions.create(model=pretrain, messages=messages, temperature=0, max_tokens=40)
    answer = reply.choices[0].message.content
    assert len(answer) == 40 and reply.choices[0].finish_reason == "length"
    stream = client.chat.completions.create(model=pretrain, messages=messages, temperature=0, max_tokens=40,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) == 40 and "".join(pieces) == answer, "streamed token by token, the same answer"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.completion_tokens == 40 and chunks[-1].usage.prompt_tokens == len(QUESTION)

    # a completion continues the raw prompt, streamed the same way
    text = client.completions.create(model=pretrain, prompt="郭靖", temperature=0, max_tokens=12).choices[0].text
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=pretrain, prompt="郭靖", temperature=0, max_tokens=12, stream=True))
    assert len(text) == 12 and streamed == text


@pytest.mark.parametrize("streams", [8, 16])
def test_concurrent_streams_all_complete_with_nothing_lost(served, streams):
    """Each stream has its own seed; each must equal the answer that seed gives alone."""
    url, _, pretrain = served
    client = client_for(url)
    settings = dict(model=pretrain, temperature=0.9, top_p=0.95, max_tokens=48)
    messages = [{"role": "user", "content": QUESTION}]

    def stream(seed):
        chunks = client.chat.completions.create(messages=messages, seed=seed, stream=True, **settings)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    with ThreadPoolExecutor(streams) as pool:
        answers = list(pool.map(stream, range(streams)))
    alone = [client.chat.completions.create(messages=messages, seed=seed, **settings).choices[0].message.content
             for seed in range(streams)]
    assert answers == alone
    assert all(len(a) == 48 for a in answers) and len(set(answers)) == streams


def test_bad_requests_get_openai_style_4xx_errors(served):
    url, sft, pretrain = served
    client = client_for(url)
    messages = [{"role": "user", "content": QUESTION}]
    cases = [(openai.NotFoundError, dict(model="nobody", messages=messages), "does not exist"),
             (openai.BadRequestError, dict(model=sft, messages=messages, temperature=5), "'temperature' must be"),
             (openai.BadRequestError, dict(model=sft, messages=messages, top_p=-1), "'top_p' must be"),
             (openai.BadRequestError, dict(model=sft, messages=messages, max_tokens=0), "'max_tokens' must be"),
             (openai.BadRequestError, dict(model=sft, messages=messages, max_tokens=5000), "at most 1024"),
             (openai.BadRequestError, dict(model=sft, messages=messages, n=50), "'n' is 50"),
             (openai.BadRequestError, dict(model=sft, messages=[]), "'messages' must"),
             (openai.BadRequestError, dict(model=sft, messages=[{"role": "user", "content": "郭" * 80}]),
              "context is 64 tokens")]
    for error, request, message in cases:
        with pytest.raises(error) as caught:
            client.chat.completions.create(**request)
        assert message in caught.value.message, caught.value.message
        assert 400 <= caught.value.status_code < 500
    with pytest.raises(openai.BadRequestError, match="'stop' must be"):
        client.completions.create(model=pretrain, prompt="郭", stop=["a", "b", "c", "d", "e"])
    reply = httpx.post(f"{url}/chat/completions", content=b'{"model": "x", ', headers={"content-type": "application/json"})
    assert reply.status_code == 400 and "not valid JSON" in reply.json()["error"]["message"]
    assert reply.json()["error"]["type"] == "invalid_request_error"


def test_stop_strings_and_several_choices(served):
    url, _, pretrain = served
    client = client_for(url)
    full = client.completions.create(model=pretrain, prompt="郭", temperature=0, max_tokens=60).choices[0].text
    stop = full[20:22]
    cut = client.completions.create(model=pretrain, prompt="郭", temperature=0, max_tokens=60, stop=[stop, "不在"])
    assert cut.choices[0].text == full[:full.index(stop)] and cut.choices[0].finish_reason == "stop"
    streamed = list(client.completions.create(model=pretrain, prompt="郭", temperature=0, max_tokens=60,
                                              stop=stop, stream=True))
    assert "".join(c.choices[0].text for c in streamed) == cut.choices[0].text
    assert streamed[-1].choices[0].finish_reason == "stop"

    reply = client.chat.completions.create(model=pretrain, messages=[{"role": "user", "content": "郭"}], n=3,
                                           seed=5, max_tokens=20, temperature=0.8)  # sampled: three different texts
    texts = [c.message.content for c in reply.choices]
    assert [c.index for c in reply.choices] == [0, 1, 2] and len(set(texts)) == 3
    assert reply.usage.completion_tokens == 60


def test_lan_host_needs_a_key_or_no_auth_and_the_key_is_checked(tmp_path):
    """--host=0.0.0.0 alone is refused; with --api_key, /v1 wants it as a Bearer token and the pages as a
    password; the LAN address is printed."""
    sft = save_tiny_checkpoint(str(tmp_path / "sft"), "sft")
    refused = subprocess.run([sys.executable, "serve.py", f"--out_dir={sft}", "--host=0.0.0.0"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "--api_key" in refused.stderr and "--no_auth" in refused.stderr

    port = free_port()
    server = start_serve(f"--out_dir={sft}", "--host=0.0.0.0", "--api_key=s3cret", port=port)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        for key in ("wrong", ""):
            with pytest.raises(openai.AuthenticationError) as caught:
                client_for(url, key or "none").models.list()
            assert caught.value.status_code == 401 and "Bearer" in caught.value.message
        assert httpx.get(f"{url}/models").status_code == 401
        assert [m.id for m in client_for(url, "s3cret").models.list()] == ["sft"]
        # the pages ask for the key as their password
        page = f"http://127.0.0.1:{port}/arena"
        assert "Not authenticated" in httpx.get(f"{page}/config").text
        assert httpx.post(f"{page}/login", data={"username": "me", "password": "wrong"}).status_code == 400
        assert httpx.post(f"{page}/login", data={"username": "me", "password": "s3cret"}).status_code == 200
    finally:
        printed = stop_serve(server)
    assert f":{port}/v1" in printed and "key: required" in printed and "http://0.0.0.0" not in printed


@contextmanager
def api_in_this_process(engine, tokenizer):
    """The /v1 app around one engine, served by uvicorn in a thread; yields its base URL."""
    import uvicorn

    from wuxia.openai_api import ServedModel, build_api

    port = free_port()
    app = build_api({"m": ServedModel("m", engine, tokenizer, False, 0)})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def tiny_model(block_size):
    import torch

    from model import GPT, GPTConfig
    from wuxia.tokenizer import CharTokenizer

    tokenizer = CharTokenizer.from_texts(["郭靖黄蓉杨过"])
    torch.manual_seed(0)
    return GPT(GPTConfig(block_size=block_size, vocab_size=tokenizer.vocab_size, n_layer=2, n_head=2, n_embd=32)), \
        tokenizer


def test_a_full_queue_answers_429_with_retry_after():
    """An engine whose thread is not started never admits anyone: two requests fill its queue of two."""
    from wuxia.engine import Engine

    model, tokenizer = tiny_model(64)
    engine = Engine(model, tokenizer.eot_id, max_waiting=2)
    with api_in_this_process(engine, tokenizer) as url:
        body = {"model": "m", "prompt": "郭", "max_tokens": 5}

        async def flood():
            async with httpx.AsyncClient(timeout=60) as client:
                waiting = [asyncio.create_task(client.post(f"{url}/completions", json=body)) for _ in range(2)]
                while len(engine.waiting) < 2:
                    await asyncio.sleep(0.05)
                refused = await client.post(f"{url}/completions", json=body)
                for task in waiting:
                    task.cancel()
                return refused

        refused = asyncio.run(flood())
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "rate_limit_exceeded" and "busy" in refused.json()["error"]["message"]


def test_a_client_that_leaves_stops_its_generation():
    """In one process, to look inside the engine: closing a stream mid-way removes its row."""
    from wuxia.engine import start_engine

    model, tokenizer = tiny_model(1024)
    engine = start_engine(model, eot_id=-1 % tokenizer.vocab_size)  # the last id: the model draws it rarely
    submitted = []
    submit = engine.submit
    engine.submit = lambda request: submitted.append(request) or submit(request)
    with api_in_this_process(engine, tokenizer) as url:
        body = {"model": "m", "prompt": "郭", "max_tokens": 1000, "temperature": 0, "stream": True}
        with httpx.stream("POST", f"{url}/completions", json=body, timeout=60) as reply:
            lines = reply.iter_lines()
            assert json.loads(next(lines)[6:])["choices"][0]["finish_reason"] is None
            assert len(engine.rows) == 1
        deadline = time.time() + 30
        while engine.rows and time.time() < deadline:
            time.sleep(0.05)
        assert not engine.rows, "the row of a client that left is dropped"
        [request] = submitted
        assert request.cancelled.is_set() and request.generated < 1000


def test_a_failed_generation_is_a_500_or_a_last_error_event(monkeypatch):
    from wuxia.engine import start_engine

    model, tokenizer = tiny_model(64)

    def broken(*args, **kwargs):
        raise RuntimeError("the model broke")

    monkeypatch.setattr(model, "forward", broken)
    engine = start_engine(model, tokenizer.eot_id)
    with api_in_this_process(engine, tokenizer) as url:
        body = {"model": "m", "prompt": "郭", "max_tokens": 5}
        reply = httpx.post(f"{url}/completions", json=body, timeout=60)
        assert reply.status_code == 500 and reply.json()["error"]["type"] == "server_error"
        streamed = httpx.post(f"{url}/completions", json={**body, "stream": True}, timeout=60)
        events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
        assert json.loads(events[-2])["error"]["type"] == "server_error" and events[-1] == "[DONE]"


def test_the_chat_page_answers_with_any_served_model(served):
    from gradio_client import Client

    url, sft, pretrain = served
    page = Client(url.removesuffix("/v1") + "/chat/", verbose=False, analytics_enabled=False)
    for model in (sft, pretrain):
        # max new tokens, temperature, top-k, top-p, repetition penalty, seed: the page's controls
        shown, passages = page.predict(model, QUESTION, 30, 0.9, 12, 0.9, 1.2, 7, api_name="/answer")
        reply = client_for(url).chat.completions.create(
            model=model, messages=[{"role": "user", "content": QUESTION}], max_tokens=30, temperature=0.9,
            extra_body={"top_k": 12, "repetition_penalty": 1.2}, top_p=0.9, seed=7)
        assert shown == reply.choices[0].message.content
        assert passages == ""  # closed-book models read no passages (tests/test_open_book.py: open-book ones)
    assert len(shown) == 30
