"""A tiny OpenAI-compatible chat endpoint for tests (POST /v1/chat/completions), run in a thread on a free
localhost port. Its mode decides the replies: A prompt with a passage (make_qa.py's) is
answered with question–answer pairs, a prompt with a student's answer (judge.py's) with a judgement. "good"
writes grounded pairs from the passage, or a judgement (5 when the answer is the reference, 0 when it is
empty, else 2); "broken" cycles through the ways a model's output goes wrong; "fail" answers HTTP 500;
"flaky" answers 503 twice, then as "good"; "unauthorized" answers 401 with the Authorization header echoed
back (as a careless server might). Every request is recorded: (time, headers, body)."""
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
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


def good_judgement(prompt):
    reference, answer = re.search("【参考答案】(.*)\n【学生回答】(.*)\n评分标准", prompt, re.S).groups()
    score = 5 if answer.strip() == reference.strip() else 0 if not answer.strip() else 2
    return json.dumps({"score": score, "reason": f"stub: {score}"}, ensure_ascii=False)


# judgements that must all be refused, then one valid one
BROKEN_JUDGEMENTS = [
    "这个回答基本正确，给4分。",                                       # not JSON (a score in words is no score)
    json.dumps({"score": 7, "reason": "太好了"}, ensure_ascii=False),  # off the scale
    json.dumps({"score": "4", "reason": "字符串"}, ensure_ascii=False),  # not an integer
    json.dumps({"score": 3}),                                         # no reason
    json.dumps({"score": 4.5, "reason": "半分"}, ensure_ascii=False),  # not an integer
    json.dumps({"score": 3, "reason": "第一行\n第二行"}, ensure_ascii=False),  # not one line
    "```json\n" + json.dumps({"score": 4, "reason": "有围栏也可以"}, ensure_ascii=False) + "\n```",  # valid
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
        prompt = body["messages"][-1]["content"]
        if "【学生回答】" in prompt:
            content = BROKEN_JUDGEMENTS[(count - 1) % len(BROKEN_JUDGEMENTS)] if mode == "broken" else good_judgement(prompt)
            return self.reply_content(body, count, content)
        passage = re.search("<<<\n(.*)\n>>>", prompt, re.S).group(1)
        if mode == "broken":
            replies = broken_replies(passage)
            content = replies[(count - 1) % len(replies)]
        else:
            content = json.dumps(good_pairs(passage), ensure_ascii=False)
        self.reply_content(body, count, content)

    def reply_content(self, body, count, content):
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


@contextlib.contextmanager
def serve_py(run_dir, votes_path):
    """The project's own serve.py serving run_dir on a free port, for tests of its clients (make_qa.py,
    judge.py); yields its base URL once it listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    server = subprocess.Popen([sys.executable, os.path.join(root, "serve.py"), f"--out_dir={run_dir}", f"--port={port}",
                               "--device=cpu", f"--votes={votes_path}"], cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while True:
            assert server.poll() is None, server.stderr.read().decode()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "serve.py did not listen within 120 s"
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        server.wait(timeout=30)
