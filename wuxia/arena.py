"""serve.py's two pages, which talk to models only through the OpenAI API, so a classmate's server (or any
other OpenAI-compatible endpoint) is used exactly like a model of this server:
  - /chat: chat_web.py's page (wuxia/chat_page.py) with a model picker: ask any served model, the answer
    streaming in;
  - /arena: one question to two models at once, both answers streaming side by side with their tokens/s;
    votes are appended to a JSONL file, and a leaderboard ranks the models by Elo rating over the votes.
An open-book model's answers come with the passages it read (the response's "passages" field): both pages show
them under the answer, in the chat page's boxes.
"""
import asyncio
import hmac
import json
import os
import time

import httpx

from wuxia.chat_page import answer_boxes, chat_page, decoding_controls, question_box, require_gradio
from wuxia.generate import DECODING
from wuxia.retrieval import show_passages
from wuxia.report import markdown_table, shown_path

VOTES = {"left": "Left is better", "right": "Right is better", "tie": "Tie", "both_bad": "Both are bad"}
ELO_START, ELO_K = 1000.0, 32.0


async def stream_chat(url, key, model, question, settings):
    """Ask an OpenAI-compatible endpoint (url ends in /v1) one question, streaming. Yields (new text, tokens
    so far, passages): tokens are counted as streamed chunks, then taken from the server's usage when it
    reports it; passages is what the text shows of the passages an open-book model read (None when the server
    sends none)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": model, "messages": [{"role": "user", "content": question}], "stream": True,
            "stream_options": {"include_usage": True}, **settings}
    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=10.0)) as client:
        async with client.stream("POST", url.rstrip("/") + "/chat/completions", json=body, headers=headers) as reply:
            if reply.status_code != 200:
                text = (await reply.aread()).decode("utf-8", "replace")
                try:
                    text = json.loads(text)["error"]["message"]
                except (ValueError, KeyError, TypeError):
                    pass
                raise RuntimeError(f"{url} answered {reply.status_code}: {text}")
            tokens, passages = 0, None
            async for line in reply.aiter_lines():
                if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                    continue
                chunk = json.loads(line[5:])
                if isinstance(chunk.get("passages"), list):
                    passages = show_passages(chunk["passages"])
                    yield "", tokens, passages
                if chunk.get("usage"):
                    tokens = chunk["usage"].get("completion_tokens", tokens)
                for choice in chunk.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        tokens += 1
                        yield piece, tokens, passages
                if chunk.get("usage"):
                    yield "", tokens, passages


def request_settings(max_tokens, temperature, top_k, top_p, repetition_penalty, seed):
    """The page's controls as OpenAI request fields (top_k and repetition_penalty are extensions that this
    server reads; other servers ignore or refuse them)."""
    settings = {"max_tokens": int(max_tokens), "temperature": float(temperature), "top_p": float(top_p),
                "top_k": int(top_k), "repetition_penalty": float(repetition_penalty)}
    if seed is not None and seed != "":
        settings["seed"] = int(seed)
    return settings


def speed(tokens, started, first_token_at):
    if not tokens:
        return "waiting for the first token …"
    seconds = time.perf_counter() - started
    return f"{tokens} tokens · {tokens / seconds:.1f} tokens/s · first token after {first_token_at - started:.2f} s"


def elo_ratings(votes):
    """{model: {"rating", "battles", "wins", "ties"}} from votes in the order they were cast. A tie and
    "both are bad" count as half a win for each side."""
    table = {}
    for vote in votes:
        a, b = vote["left"]["model"], vote["right"]["model"]
        score = {"left": 1.0, "right": 0.0}.get(vote["vote"], 0.5)
        for name in (a, b):
            table.setdefault(name, {"rating": ELO_START, "battles": 0, "wins": 0, "ties": 0})
        expected = 1 / (1 + 10 ** ((table[b]["rating"] - table[a]["rating"]) / 400))
        table[a]["rating"] += ELO_K * (score - expected)
        table[b]["rating"] -= ELO_K * (score - expected)
        for name, won in ((a, score == 1.0), (b, score == 0.0)):
            table[name]["battles"] += 1
            table[name]["wins"] += won
            table[name]["ties"] += score == 0.5
    return table


def read_votes(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def leaderboard(path):
    """The leaderboard as Markdown, best first."""
    votes = read_votes(path)
    table = elo_ratings(votes)
    if not table:
        return "No votes yet: ask a question, read both answers, and vote."
    ranked = sorted(table.items(), key=lambda kv: -kv[1]["rating"])
    rows = [[rank, name, f"{t['rating']:.0f}", t["battles"], t["wins"], t["ties"]]
            for rank, (name, t) in enumerate(ranked, 1)]
    counted = f"{len(votes)} vote{'s' if len(votes) != 1 else ''} in {shown_path(path)}"
    return markdown_table(["rank", "model", "Elo", "battles", "wins", "ties"], rows) + f"\n\n{counted}"


def mount(app, page, path, api_key):
    """Mount a Gradio page on the FastAPI app; with a key, the page asks for it as its password."""
    gr = require_gradio()
    auth = (lambda user, password: hmac.compare_digest(password, api_key)) if api_key else None
    gr.mount_gradio_app(app, page, path=path, auth=auth, footer_links=[],
                        auth_message="Password: the server's API key (any user name).")


def build_served_chat(app, own_url, api_key, model_ids, max_new_tokens=256, max_new_tokens_limit=1024, seed=1337):
    """The chat page at /chat: chat_web.py's page with a model picker, any served model through this server's
    own API. Every answer is streamed at once (the server batches them)."""

    async def respond(model, question, *controls):
        shown, passages = "", None
        try:
            async for piece, _, passages in stream_chat(own_url, api_key, model, question, request_settings(*controls)):
                shown += piece
                yield shown, passages or ""
        except RuntimeError as e:
            yield f"{shown}\n[{e}]", passages or ""

    page = chat_page(respond, "wuxia-gpt · chat", "An SFT model answers the question; a pretrained model continues "
                     "the text.", DECODING, models=model_ids, passages="资料 Passages the answer read (open-book models)",
                     max_new_tokens=max_new_tokens, max_new_tokens_limit=max_new_tokens_limit, seed=seed)
    mount(app, page.queue(default_concurrency_limit=None), "/chat", api_key)


def build_arena(app, own_url, api_key, model_ids, votes_path, max_new_tokens=256, max_new_tokens_limit=1024,
                seed=1337):
    """The arena page at /arena. A side whose URL is empty is a model of this server."""
    gr = require_gradio()

    def side_name(model, url):
        return model if not url.strip() else f"{model} @ {url.strip()}"

    async def ask(question, left_model, left_url, left_key, right_model, right_url, right_key, *controls):
        settings = request_settings(*controls)
        sides = [(left_model, left_url.strip() or own_url, left_key if left_url.strip() else api_key),
                 (right_model, right_url.strip() or own_url, right_key if right_url.strip() else api_key)]
        texts, stats, passages = ["", ""], ["waiting for the first token …"] * 2, ["", ""]
        updates, started = asyncio.Queue(), time.perf_counter()

        async def run(i, model, url, key):
            first_token_at = None
            try:
                async for piece, tokens, read in stream_chat(url, key, model, question, settings):
                    first_token_at = first_token_at or (time.perf_counter() if tokens else None)
                    await updates.put((i, piece, speed(tokens, started, first_token_at), read))
            except (RuntimeError, httpx.HTTPError, ValueError) as e:
                await updates.put((i, f"\n[{type(e).__name__}: {e}]", "failed", None))
            finally:
                await updates.put((i, None, None, None))

        tasks = [asyncio.create_task(run(i, *side)) for i, side in enumerate(sides)]
        try:
            running = 2
            while running:
                items = [await updates.get()]
                while not updates.empty():  # everything that arrived meanwhile goes into one page update
                    items.append(updates.get_nowait())
                for i, piece, stat, read in items:
                    if piece is None:
                        running -= 1
                    else:
                        texts[i] += piece
                        stats[i] = stat
                        passages[i] = read or passages[i]
                battle = None if running else {
                    "question": question, "settings": settings,
                    "left": {"model": side_name(left_model, left_url), "answer": texts[0]},
                    "right": {"model": side_name(right_model, right_url), "answer": texts[1]}}
                yield texts[0], texts[1], stats[0], stats[1], passages[0], passages[1], battle
        finally:
            for task in tasks:
                task.cancel()

    def vote(battle, choice):
        if not battle:
            gr.Warning("Ask a question and wait for both answers before voting (one vote per question).")
            return None, leaderboard(votes_path)
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "vote": choice, **battle}
        os.makedirs(os.path.dirname(os.path.abspath(votes_path)), exist_ok=True)
        with open(votes_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        return None, leaderboard(votes_path)

    with gr.Blocks(title="wuxia-gpt arena", analytics_enabled=False) as page:
        gr.Markdown("## wuxia-gpt · arena\nTwo models answer the same question at the same time; vote for the "
                    "better answer. A model is one of this server's (leave the URL empty) or any OpenAI-compatible "
                    "server: a classmate's `serve.py` URL ending in `/v1`, its model id and its key.")
        with gr.Row():
            pickers = []
            for side, default in (("left", model_ids[0]), ("right", model_ids[-1])):
                with gr.Column():
                    pickers += [gr.Dropdown(model_ids, value=default, allow_custom_value=True,
                                            label=f"{side} model", elem_id=f"{side}_model"),
                                gr.Textbox(label=f"{side} URL (empty: this server)", elem_id=f"{side}_url",
                                           placeholder="http://192.168.1.23:8000/v1"),
                                gr.Textbox(label=f"{side} API key", type="password", elem_id=f"{side}_key")]
        question = question_box(gr, lines=2)
        submit = gr.Button("Ask both", variant="primary", elem_id="submit")
        with gr.Row():
            sides = []
            for side in ("left", "right"):
                with gr.Column():  # the speed line over the answer, level with the other side's
                    sides.append([gr.Markdown(elem_id=f"{side}_speed"),
                                  *answer_boxes(gr, f"{side} answer", lines=10, elem_id=f"{side}_answer",
                                                passages=f"passages the {side} answer read (open-book models)")])
        (left_speed, left_answer, left_passages), (right_speed, right_answer, right_passages) = sides
        battle = gr.State(None)
        with gr.Row():
            buttons = {key: gr.Button(label, elem_id=f"vote_{key}") for key, label in VOTES.items()}
        with gr.Accordion("settings", open=False):
            controls = decoding_controls(gr, DECODING, max_new_tokens, max_new_tokens_limit, seed)
        gr.Markdown("### Leaderboard (Elo)")
        board = gr.Markdown(leaderboard(votes_path), elem_id="leaderboard")
        inputs = [question, *pickers, *controls]
        outputs = [left_answer, right_answer, left_speed, right_speed, left_passages, right_passages, battle]
        submit.click(ask, inputs, outputs, concurrency_limit=None)
        question.submit(ask, inputs, outputs, concurrency_limit=None)
        for key, button in buttons.items():
            button.click(lambda state, key=key: vote(state, key), battle, [battle, board])
        page.load(lambda: leaderboard(votes_path), None, board)
    mount(app, page.queue(), "/arena", api_key)
