"""A tiny OpenAI-compatible chat endpoint for tests (POST /v1/chat/completions), run in a thread on a free
localhost port. Its mode decides the replies: "good" writes grounded pairs from the passage in the prompt;
"broken" cycles through the ways a model's output goes wrong; "fail" answers HTTP 500; "flaky" answers 503
twice, then as "good"; "unauthorized" answers 401 with the Authorization header echoed back (as a careless
server might). Every request is recorded: (time, headers, body)."""
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAMES = ["郭靖", "黄蓉", "杨过", "小龙女", "段誉", "乔峰", "虚竹", "令狐冲"]
KINDS = ["人物介绍", "情节", "人物关系", "其他"]


def good_pairs(passage):
    """One pair per kind, each answer a sentence of the passage that names someone."""
    sentences = [s + "。" for s in re.split("[。\n]", passage) if any(n in s for n in NAMES)]
    pairs = []
    for i, kind in enumerate(KINDS):
        sentence = sentences[i % len(sentences)]
        name = next(n for n in NAMES if n in sentence)
        pairs.append({"kind": kind, "question": f"关于{name}的第{i}个问题：{sentence[:6]}？", "answer": sentence,
                      "names": [name]})
    return {"pairs": pairs}


def broken_replies(passage):
    """Replies that must all be rejected (except the one valid pair in the last)."""
    valid = good_pairs(passage)["pairs"][0]
    return [
        "当然可以！以下是问答对：郭靖是谁？",                                  # not JSON
        '{"pairs": [{"kind": "人物介绍", "question": "郭靖是谁？", "ans',      # cut off
        json.dumps({"pairs": []}),                                              # no pairs
        json.dumps({"pairs": [{"kind": "情节", "question": "郭靖做了什么？", "answer": "  ", "names": ["郭靖"]},
                              {"kind": "人物介绍", "question": "", "answer": "郭靖。", "names": ["郭靖"]},
                              "郭靖是谁？"]}, ensure_ascii=False),           # empty answer, empty question, not an object
        json.dumps({"pairs": [
            {"kind": "人物介绍", "question": "张三丰是谁？", "answer": "张三丰是武当派的祖师。", "names": ["张三丰"]},
            {"kind": "八卦", **{k: valid[k] for k in ("question", "answer", "names")}},
            {**valid, "names": []},
            valid, dict(valid)]}, ensure_ascii=False),                          # invented name, bad kind, no names, ok, duplicate
    ]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def reply(self, status, payload, headers=()):
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        server = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with server.lock:
            server.requests.append((time.time(), dict(self.headers), body))
            count = len(server.requests)
        if self.path != "/v1/chat/completions":
            return self.reply(404, {"error": {"message": f"no route {self.path}"}})
        mode = server.mode
        if mode == "fail":
            return self.reply(500, {"error": {"message": "internal error"}})
        if mode == "unauthorized":
            return self.reply(401, {"error": {"message": f"invalid key: {self.headers.get('Authorization')}"}})
        if mode == "flaky" and count <= 2:
            return self.reply(503, {"error": {"message": "overloaded"}}, [("Retry-After", "0")])
        passage = re.search("<<<\n(.*)\n>>>", body["messages"][-1]["content"], re.S).group(1)
        if mode == "broken":
            replies = broken_replies(passage)
            content = replies[(count - 1) % len(replies)]
        else:
            content = json.dumps(good_pairs(passage), ensure_ascii=False)
        self.reply(200, {"id": f"chatcmpl-{count}", "object": "chat.completion", "model": body.get("model"),
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": content}}]})


def start(mode="good"):
    """A running stub; its base URL is server.base_url. Stop it with server.shutdown()."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.mode, server.requests, server.lock = mode, [], threading.Lock()
    server.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
