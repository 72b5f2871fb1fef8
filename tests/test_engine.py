"""The batching engine (wuxia/engine.py) answers each request exactly as generate() answers it alone, however
requests arrive, join and leave; its queue is bounded and a cancelled request stops."""
import queue

import pytest
import torch

from model import GPT, GPTConfig
from wuxia.engine import Engine, QueueFull, Request
from wuxia.generate import generate

EOT = 0
SAMPLING = dict(temperature=0.9, top_k=12, top_p=0.9, repetition_penalty=1.2)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(block_size=48, vocab_size=40, n_layer=2, n_head=2, n_embd=32)).eval()


def request(prompt, max_tokens, **settings):
    """A Request whose delivered items are collected in request.items."""
    items = []
    req = Request(prompt=prompt, max_tokens=max_tokens, deliver=items.append, **settings)
    req.items = items
    return req


def run_until_idle(engine, arrivals=None):
    """Step until nothing is left; arrivals {step: [requests]} are submitted just before that step."""
    arrivals = dict(arrivals or {})
    steps, batch_sizes, timelines = 0, [], []
    while engine.busy() or arrivals:
        for req in arrivals.pop(steps, []):
            engine.submit(req)
        engine.step()
        batch_sizes.append(len(engine.rows))
        timelines.append(0 if engine.valid is None else engine.valid.size(1))
        steps += 1
    return steps, max(batch_sizes), max(timelines)


def alone(model, prompt, max_tokens, **settings):
    """generate()'s tokens and finish reason for one prompt: what the engine must reproduce."""
    [ids], [stopped] = generate(model, [prompt], max_tokens, EOT, **settings)
    return ids + ["stop" if stopped else "length"]


PROMPTS = [[5, 6, 7, 8, 9, 10, 11], [12], [], [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]]


def test_one_request_is_generate_with_the_same_seed(model):
    for seed in (1, 2, 3):
        engine = Engine(model, EOT)
        req = request(PROMPTS[0], 30, seed=seed, **SAMPLING)
        engine.submit(req)
        run_until_idle(engine)
        assert req.items == alone(model, PROMPTS[0], 30, seed=seed, **SAMPLING)
        assert len(req.items) > 5


def test_requests_that_arrive_together_are_decoded_in_one_batch(model):
    engine = Engine(model, EOT)
    reqs = [request(p, 25, seed=10 + i, **SAMPLING) for i, p in enumerate(PROMPTS)]
    for req in reqs:
        engine.submit(req)
    steps, _, _ = run_until_idle(engine)
    longest = max(len(r.items) - 1 for r in reqs)  # tokens, without the finish reason
    assert steps == longest, "one step per token for all rows together, not one request after another"
    for i, (req, prompt) in enumerate(zip(reqs, PROMPTS)):
        assert req.items == alone(model, prompt, 25, seed=10 + i, **SAMPLING)


def test_requests_join_a_running_batch_and_leave_it_when_done(model, monkeypatch):
    """Late arrivals join at a step boundary and short requests leave early, over more steps than the model's
    context (block 48), so the shared timeline must drop the columns of rows that left."""
    new_cache = model.new_cache

    def cache_of_nan(*args):
        """Fresh caches hold whatever memory held, NaN included: a masked column must still not spread it."""
        cache = new_cache(*args)
        for layer in cache:
            layer.k.fill_(float("nan"))
            layer.v.fill_(float("nan"))
        return cache

    monkeypatch.setattr(model, "new_cache", cache_of_nan)
    engine = Engine(model, EOT, max_batch=3)
    arrivals = {0: [request(PROMPTS[0], 40, temperature=0)], 3: [request(PROMPTS[1], 5, temperature=0)],
                9: [request(PROMPTS[2], 35, temperature=0.7, top_k=5, seed=4),
                    request(PROMPTS[3], 30, temperature=0, repetition_penalty=1.3)],
                20: [request(PROMPTS[0], 20, temperature=0, frequency_penalty=0.5, presence_penalty=0.3)],
                45: [request(PROMPTS[1], 40, temperature=0)], 80: [request(PROMPTS[3], 30, temperature=0)]}
    steps, widest, timeline = run_until_idle(engine, arrivals)
    assert steps >= 110
    assert widest == 3, "max_batch bounds the running rows; the rest wait"
    # each row spans at most 47 columns, and the oldest running row's columns are all that is kept when a
    # row joins: without that, 110 steps would need a timeline of 110 columns
    assert timeline < 2 * 48, "columns no row uses any more are dropped when rows join"
    for step, reqs in arrivals.items():
        for req in reqs:
            settings = dict(temperature=req.temperature, top_k=req.top_k, top_p=req.top_p,
                            repetition_penalty=req.repetition_penalty, seed=req.seed)
            if req.frequency_penalty:
                continue  # generate() has no OpenAI penalties: checked below
            assert req.items == alone(model, req.prompt, req.max_tokens, **settings), f"arrived at step {step}"
    penalized = arrivals[20][0].items
    plain = alone(model, PROMPTS[0], 20, temperature=0)
    assert penalized != plain and len(set(penalized[:-1])) > len(set(plain[:-1]))


def test_a_cancelled_request_stops_and_frees_its_row(model):
    engine = Engine(model, EOT)
    kept, dropped = request(PROMPTS[0], 30, temperature=0), request(PROMPTS[1], 30, temperature=0)
    engine.submit(kept)
    engine.submit(dropped)
    engine.step()
    engine.step()
    dropped.cancel()
    engine.step()
    assert dropped.items[-1] == "cancelled" and len(dropped.items) == 3
    assert len(engine.rows) == 1
    run_until_idle(engine)
    assert kept.items == alone(model, PROMPTS[0], 30, temperature=0)


def test_the_queue_is_bounded_and_requests_must_fit_the_context(model):
    engine = Engine(model, EOT, max_waiting=2)
    engine.submit(request([1], 5))
    engine.submit(request([1], 5))
    with pytest.raises(QueueFull):
        engine.submit(request([1], 5))
    with pytest.raises(ValueError, match="context, 48 tokens"):
        Engine(model, EOT).submit(request([1] * 40, 9))
    with pytest.raises(ValueError):
        Engine(model, EOT).submit(request([1], 0))


def test_the_engine_thread_serves_requests_from_other_threads(model):
    from wuxia.engine import start_engine
    engine = start_engine(model, EOT)
    items = queue.Queue()
    engine.submit(Request(prompt=PROMPTS[0], max_tokens=12, deliver=items.put, temperature=0))
    got = []
    while not got or isinstance(got[-1], int):
        got.append(items.get(timeout=30))
    assert got == alone(model, PROMPTS[0], 12, temperature=0)


def test_a_failed_step_ends_its_requests_with_error_and_the_engine_goes_on(model, monkeypatch, capsys):
    from wuxia.engine import start_engine
    engine = start_engine(model, EOT)
    answer = alone(model, PROMPTS[0], 6, temperature=0)
    forward = model.forward
    calls = []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("out of memory, say")
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", fails_once)
    for expected in (["error"], answer):
        items = queue.Queue()
        engine.submit(Request(prompt=PROMPTS[0], max_tokens=6, deliver=items.put, temperature=0))
        got = []
        while not got or isinstance(got[-1], int):
            got.append(items.get(timeout=30))
        assert got == expected
    assert "out of memory, say" in capsys.readouterr().err


def test_a_request_cancelled_while_waiting_leaves_the_queue(model):
    engine = Engine(model, EOT, max_batch=1, max_waiting=2)
    engine.submit(request(PROMPTS[0], 10, temperature=0))
    engine.step()  # the one row is taken
    behind, last = request([1], 5), request([2], 5)
    engine.submit(last)
    engine.submit(behind)
    last.cancel()
    engine.step()
    assert last.items == ["cancelled"] and list(engine.waiting) == [behind]
    engine.submit(request([3], 5))  # its place is free again
