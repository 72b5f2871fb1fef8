"""The OpenAI-compatible API that serve.py serves under /v1: GET /v1/models, POST /v1/chat/completions and
POST /v1/completions, streamed as server-sent events when "stream" is true.

Each request's choices are rows of the model's batching engine (wuxia/engine.py); this module turns an
HTTP request into engine rows and their tokens back into OpenAI's JSON: text decoded as it streams (never
half a character), stop strings, usage counts, finish reasons, and OpenAI-style errors.

A model fine-tuned open book answers a chat question reading the passages retrieved for it; the response says
which in an extra field, "passages": [{"book", "place", "text", "score"}], on the chat completion (or on the
first chunk of a stream), which OpenAI clients ignore. A closed-book model's responses have no such field.
"""
import asyncio
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Optional

from fastapi import Depends, FastAPI, Request as HTTPRequest
from fastapi.responses import JSONResponse, StreamingResponse

from wuxia.engine import Engine, QueueFull, Request
from wuxia.generate import DECODING, encode_input, passages_for
from wuxia.tokenizer import StreamDecoder


@dataclass
class ServedModel:
    """One model the server offers: its engine, tokenizer, whether it answers questions (SFT), and for an
    open-book run the function that retrieves a question's passages (retrieval.open_book's)."""
    id: str
    engine: Engine
    tokenizer: object
    sft: bool
    created: int
    find_passages: Optional[Callable] = None


class APIError(Exception):
    def __init__(self, status, message, param=None, code=None, error_type="invalid_request_error", headers=None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.error_type, self.headers = error_type, headers


def error_response_body(error):
    return {"message": error.message, "type": error.error_type, "param": error.param, "code": error.code}


def error_response(error):
    return JSONResponse({"error": error_response_body(error)}, status_code=error.status, headers=error.headers)


# the sampling fields a request may set: (type, smallest, largest); None is "no bound"
FIELDS = {
    "temperature": (float, 0.0, 2.0),
    "top_p": (float, 0.0, 1.0),
    "top_k": (int, 0, None),
    "repetition_penalty": (float, 0.01, 10.0),
    "frequency_penalty": (float, -2.0, 2.0),
    "presence_penalty": (float, -2.0, 2.0),
    "max_tokens": (int, 1, None),
    "n": (int, 1, None),
    "seed": (int, None, None),
}


def read_field(body, name, default):
    """body[name] checked against FIELDS, or the default when it is absent or null."""
    value = body.get(name)
    if value is None:
        return default
    kind, low, high = FIELDS[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise APIError(400, f"'{name}' must be {'an integer' if kind is int else 'a number'}, got {value!r}", name)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"at most {high}" if low is None else f"between {low} and {high}"
        raise APIError(400, f"'{name}' must be {bounds}, got {value!r}", name)
    return kind(value)


def read_stop(body):
    stop = body.get("stop")
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) and s for s in stops):
        raise APIError(400, "'stop' must be a non-empty string or a list of up to 4 of them", "stop")
    return stops


def cut_at_stop(text, stops):
    """(the part of text that may be shown now, whether a stop string ended it): the text before the first
    stop string, or else all of it but the longest tail that could be the start of a stop string (held back
    until the next piece shows whether it is one)."""
    first = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    if first >= 0:
        return text[:first], True
    held = max((n for s in stops for n in range(1, len(s)) if text.endswith(s[:n])), default=0)
    return text[:len(text) - held], False


class Choice:
    """One choice of a response: the text decoded so far from its engine row."""

    def __init__(self, tokenizer, stops):
        self.decoder, self.stops = StreamDecoder(tokenizer), stops
        self.pending, self.text, self.tokens, self.finish_reason = "", "", 0, None

    def push(self, item):
        """Take an item the engine delivered (a token id or the reason the row ended); returns the new text
        that may be shown."""
        if isinstance(item, str):
            shown, self.pending = self.pending, ""
            self.finish_reason = self.finish_reason or item
        else:
            self.tokens += 1
            self.pending += self.decoder.push(item)
            shown, stopped = cut_at_stop(self.pending, self.stops)
            self.pending = self.pending[len(shown):]
            if stopped:
                self.pending, self.finish_reason = "", "stop"
        self.text += shown
        return shown


def build_api(models, api_key=None, max_tokens_default=256, max_tokens_limit=1024, max_n=8):
    """The FastAPI app with the /v1 routes. models: {id: ServedModel}. With an api_key, every /v1 request
    must carry it as `Authorization: Bearer KEY`."""
    app = FastAPI(title="wuxia-gpt", docs_url=None, redoc_url=None)

    @app.exception_handler(APIError)
    async def api_error(request, error):
        return error_response(error)

    def check_key(request: HTTPRequest):
        if api_key and not hmac.compare_digest(request.headers.get("authorization", "").encode(),
                                               f"Bearer {api_key}".encode()):
            raise APIError(401, "Missing or wrong API key: send the header 'Authorization: Bearer KEY' with the "
                           "key the server was started with.", error_type="authentication_error", code="invalid_api_key")

    @app.get("/v1/models", dependencies=[Depends(check_key)])
    async def list_models():
        return {"object": "list", "data": [{"id": m.id, "object": "model", "created": m.created,
                                            "owned_by": "wuxia-gpt"} for m in models.values()]}

    async def read_request(request):
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise APIError(400, f"The body is not valid JSON: {e}")
        if not isinstance(body, dict):
            raise APIError(400, "The body must be a JSON object")
        name = body.get("model")
        if name not in models:
            raise APIError(404, f"The model {name!r} does not exist; this server has: {', '.join(models)}",
                           "model", "model_not_found")
        if body.get("logprobs") or body.get("tools") or body.get("echo"):
            raise APIError(400, "logprobs, tools and echo are not supported by this server")
        return body, models[name]

    def settings_of(body, model, prompt):
        """The engine settings for a request, with DECODING's defaults (OpenAI's for the penalties)."""
        limit = model.engine.block_size
        if len(prompt) >= limit:
            raise APIError(400, f"The prompt is {len(prompt)} tokens; this model's context is {limit} tokens, "
                           "and the prompt must leave room for at least one new token.", "messages",
                           "context_length_exceeded")
        if body.get("max_tokens") is None:  # the newer name of the same field
            body["max_tokens"] = body.get("max_completion_tokens")
        max_tokens = read_field(body, "max_tokens", max_tokens_default)
        if max_tokens > max_tokens_limit:
            raise APIError(400, f"'max_tokens' is {max_tokens}; this server allows at most {max_tokens_limit}",
                           "max_tokens")
        settings = {name: read_field(body, name, DECODING.get(name, 0.0)) for name in
                    ("temperature", "top_k", "top_p", "repetition_penalty", "frequency_penalty", "presence_penalty")}
        if settings["top_p"] == 0:  # only the most likely token is left: greedy decoding
            settings["temperature"] = 0.0
        n = read_field(body, "n", 1)
        if n > max_n:
            raise APIError(400, f"'n' is {n}; this server allows at most {max_n}", "n")
        # an answer that would outgrow the context ends there, with finish_reason "length"
        settings["max_tokens"] = min(max_tokens, limit - len(prompt))
        return settings, n, read_field(body, "seed", None), read_stop(body)

    async def respond(request, body, model, prompt, chat, extra=None):
        """The response to a request for prompt; extra: more top-level fields of a chat response (of a chat
        stream: of its first chunk)."""
        extra = extra or {}
        settings, n, seed, stops = settings_of(body, model, prompt)
        loop, events = asyncio.get_running_loop(), asyncio.Queue()
        rows = []
        for index in range(n):
            def deliver(item, index=index):
                loop.call_soon_threadsafe(events.put_nowait, (index, item))
            rows.append(Request(prompt=prompt, deliver=deliver, seed=None if seed is None else seed + index, **settings))
        try:
            for row in rows:
                model.engine.submit(row)
        except QueueFull:
            for row in rows:
                row.cancel()
            raise APIError(429, "The server is busy: too many requests are waiting. Try again in a moment.",
                           error_type="rate_limit_error", code="rate_limit_exceeded", headers={"Retry-After": "1"})
        choices = [Choice(model.tokenizer, stops) for _ in range(n)]
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
        created = int(time.time())

        async def updates(watch_disconnect):
            """(index, new text, finish_reason or None) until every choice has ended; a choice that ends at a
            stop string has its row cancelled, and a client that leaves cancels all of them. (A stream notices
            a client that leaves by itself: Starlette cancels it.)"""
            try:
                ended = 0
                while ended < n:
                    try:
                        index, item = await asyncio.wait_for(events.get(), timeout=0.5)
                    except asyncio.TimeoutError:
                        if watch_disconnect and await request.is_disconnected():
                            return
                        continue
                    choice = choices[index]
                    if choice.finish_reason:
                        continue  # a choice ended by a stop string: its row's last tokens and its cancel
                    text = choice.push(item)
                    if choice.finish_reason:
                        rows[index].cancel()
                        ended += 1
                    if text or choice.finish_reason:
                        yield index, text, choice.finish_reason
            finally:
                for row in rows:
                    row.cancel()

        def usage():
            completion = sum(c.tokens for c in choices)
            return {"prompt_tokens": len(prompt), "completion_tokens": completion,
                    "total_tokens": len(prompt) + completion}

        failed = APIError(500, "Generation failed on the server (its log says why).", error_type="server_error")
        if not body.get("stream"):
            async for _ in updates(watch_disconnect=True):
                pass
            if any(c.finish_reason == "error" for c in choices):
                raise failed
            if chat:
                out = [{"index": i, "message": {"role": "assistant", "content": c.text}, "logprobs": None,
                        "finish_reason": c.finish_reason} for i, c in enumerate(choices)]
            else:
                out = [{"index": i, "text": c.text, "logprobs": None, "finish_reason": c.finish_reason}
                       for i, c in enumerate(choices)]
            return {"id": ident, "object": "chat.completion" if chat else "text_completion", "created": created,
                    "model": model.id, "choices": out, "usage": usage(), **extra}

        def chunk(choices_part, **fields):
            kind = "chat.completion.chunk" if chat else "text_completion"
            return "data: " + json.dumps({"id": ident, "object": kind, "created": created, "model": model.id,
                                          "choices": choices_part, **fields}, ensure_ascii=False) + "\n\n"

        def piece(index, text, finish_reason):
            if chat:
                return {"index": index, "delta": {"content": text} if text else {}, "logprobs": None,
                        "finish_reason": finish_reason}
            return {"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}

        async def events_stream():
            if chat:  # the first chunk of each choice names the role
                yield chunk([{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                              "finish_reason": None} for i in range(n)], **extra)
            async for index, text, finish_reason in updates(watch_disconnect=False):
                if finish_reason == "error":  # the status line is sent already: the error is the last event
                    yield f"data: {json.dumps({'error': error_response_body(failed)})}\n\n"
                    break
                if text and finish_reason:  # the text, then the end, as OpenAI sends them
                    yield chunk([piece(index, text, None)])
                    text = ""
                yield chunk([piece(index, text, finish_reason)])
            if (body.get("stream_options") or {}).get("include_usage"):
                yield chunk([], usage=usage())
            yield "data: [DONE]\n\n"

        return StreamingResponse(events_stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/v1/chat/completions", dependencies=[Depends(check_key)])
    async def chat_completions(request: HTTPRequest):
        body, model = await read_request(request)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise APIError(400, "'messages' must be a non-empty list of {role, content} objects", "messages")
        user = [m.get("content") for m in messages if m.get("role") == "user"]
        if user and isinstance(user[-1], list):  # content as parts: [{"type": "text", "text": ...}, ...]
            user[-1] = "".join(part.get("text", "") for part in user[-1] if isinstance(part, dict))
        if not user or not isinstance(user[-1], str) or not user[-1].strip():
            raise APIError(400, "'messages' must hold a user message whose content is non-empty text", "messages")
        # an SFT model answers the last user message in its training template (an open-book one reading the
        # passages retrieved for it); a pretrained one continues it
        passages = passages_for(model.find_passages, model.tokenizer, user[-1], model.engine.block_size)
        prompt = encode_input(model.tokenizer, user[-1], model.sft, passages, model.engine.block_size)
        return await respond(request, body, model, prompt, chat=True,
                             extra={"passages": passages} if model.find_passages else None)

    @app.post("/v1/completions", dependencies=[Depends(check_key)])
    async def completions(request: HTTPRequest):
        body, model = await read_request(request)
        text = body.get("prompt", "")
        if isinstance(text, list) and len(text) == 1:
            text = text[0]
        if not isinstance(text, str):
            raise APIError(400, "'prompt' must be a string (one prompt per request)", "prompt")
        return await respond(request, body, model, model.tokenizer.encode(text), chat=False)

    return app
