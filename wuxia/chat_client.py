"""Asking an OpenAI-compatible chat endpoint (a local server such as Ollama, vLLM, llama.cpp or this project's
serve.py, or a cloud API) for one reply: the client side that make_qa.py and judge.py share.

The key comes from an environment variable (the caller names it) and is sent as a Bearer token, never
printed: text that a server echoes back goes through redact(). Network errors, 429 and 5xx are retried with
exponential backoff (a Retry-After header wins); any other HTTP error is a mistake in the request (URL,
model, key) and stops at once, saying what to check.
"""
import json
import re
import sys
import time
import urllib.error
import urllib.request

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*)\n\s*```\s*$", re.S)


def redact(text, api_key):
    """Text that is safe to print: the key, should a server echo it back, replaced by ***."""
    return text.replace(api_key, "***") if api_key else text


def chat(base_url, model, prompt, api_key="", api_key_env="OPENAI_API_KEY", temperature=0.0, max_tokens=1024,
         max_retries=5, backoff_seconds=2.0, timeout_seconds=120.0):
    """The reply text to one user message, after retries; SystemExit when the endpoint keeps failing or
    refuses the request."""
    body = json.dumps({"model": model, "temperature": temperature, "max_tokens": max_tokens,
                       "messages": [{"role": "user", "content": prompt}]}).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    url = base_url.rstrip("/") + "/chat/completions"
    for attempt in range(max_retries + 1):
        wait = backoff_seconds * 2 ** attempt
        try:
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
                reply = json.loads(response.read().decode("utf-8"))
            return reply["choices"][0]["message"]["content"]
        except urllib.error.HTTPError as e:
            detail = redact(e.read().decode("utf-8", "replace")[:300], api_key)
            if e.code != 429 and e.code < 500:
                raise SystemExit(f"{url} refused the request: HTTP {e.code} {detail}\n(the usual causes: a wrong "
                                 f"--base_url, --model or key in ${api_key_env}, or a prompt longer than the "
                                 "model's context)")
            problem = f"HTTP {e.code} {detail}"
            if e.headers.get("Retry-After", "").isdigit():
                wait = float(e.headers["Retry-After"])
        except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
            problem = redact(str(getattr(e, "reason", e)), api_key)
        except (ValueError, KeyError, IndexError, TypeError):
            problem = "the reply is not an OpenAI chat completion (no choices[0].message.content)"
        if attempt == max_retries:
            raise SystemExit(f"{url}: {problem}; gave up after {max_retries + 1} tries. Run the same command again "
                             "to continue where it stopped.")
        print(f"  {problem}; retrying in {wait:.0f} s", file=sys.stderr)
        time.sleep(wait)


def spaced(requests_per_minute):
    """A function that, called before each request, sleeps until the request may start: requests begin at
    least 60 / requests_per_minute seconds apart."""
    interval, last = 60.0 / requests_per_minute, [0.0]

    def wait():
        time.sleep(max(0.0, last[0] + interval - time.time()))
        last[0] = time.time()
    return wait


def json_reply(content):
    """The JSON value a reply holds, the whole reply (a ```json fence around it is allowed); ValueError("not
    JSON") otherwise. Chat models asked for JSON often fence it; anything else around it is not accepted."""
    fenced = _FENCE.match(content or "")
    try:
        return json.loads(fenced.group(1) if fenced else (content or ""))
    except json.JSONDecodeError:
        raise ValueError("not JSON") from None
