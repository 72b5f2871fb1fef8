"""Take the docs' screenshots of the web pages: start chat_web.py (its chat page) or serve.py (its arena), open
the page in headless Chromium, type a question, press Submit, wait until every answer has finished streaming,
save a PNG of the whole page.

    apt-get install chromium fonts-wqy-microhei      # Debian: the browser and a font with Chinese characters
    python docs/screenshot_page.py --out_dir=out/sft_cpu --question="郭靖的师父是谁？"    # docs/chat_web.png
    python docs/screenshot_page.py --page=arena --out_dir=out/sft_closed out/sft_open      # docs/arena.png

docs/serving.md names the runs and the commands behind its pictures. The pages start from the project's
decoding defaults (wuxia/generate.DECODING), so the answers are the ones a newcomer gets. Chromium is driven
through its DevTools protocol over a pipe (--remote-debugging-pipe: JSON messages ending in a NUL byte on file
descriptors 3 and 4), so no Python package beyond the standard library is needed.
"""
import base64
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from wuxia.configurator import AT_LEAST_1, Rule, configure, explain_machine_errors  # noqa: E402

# -----------------------------------------------------------------------------------------------------------
page = "chat"                       # chat: chat_web.py's page; arena: serve.py's arena
out_dir = ["out/sft_cpu"]           # the chat page shows the first run; the arena the first (left) and the last (right)
index = ""                          # open book: this passage index instead of the one the run was trained with
question = "郭靖的师父是谁？"
output = ""                         # default: docs/chat_web.png or docs/arena.png
port = 7861
width = 1200                        # CSS pixels; the picture is as tall as the page
chromium = "chromium"
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={"page": Rule("chat or arena", lambda v: v in ("chat", "arena")),
                                         "port": AT_LEAST_1, "width": AT_LEAST_1})
if shutil.which(chromium) is None:
    raise SystemExit(f"{chromium!r} not found: apt-get install chromium fonts-wqy-microhei (or pass --chromium=PATH)")

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
output = output or os.path.join(root, "docs", "chat_web.png" if page == "chat" else "arena.png")
# what each page needs: the server, where the page is, and the boxes its answers stream into
if page == "chat":
    command, path, answers = ["chat_web.py", f"--out_dir={out_dir[0]}"], "/", ["#answer"]
else:  # no votes are read or kept, so the picture shows no one's leaderboard
    command = ["serve.py", f"--out_dir={out_dir[0]}", *out_dir[1:], f"--votes={os.devnull}"]
    path, answers = "/arena/", ["#left_answer", "#right_answer"]
server = subprocess.Popen([sys.executable, os.path.join(root, command[0]), *command[1:], f"--port={port}",
                           *([f"--index={index}"] if index else [])],
                          env=dict(os.environ, GRADIO_ANALYTICS_ENABLED="False"))
deadline = time.time() + 300
while True:
    if server.poll() is not None:
        raise SystemExit(f"{command[0]} exited before serving the page (see its message above)")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        if time.time() > deadline:
            server.terminate()
            raise SystemExit(f"{command[0]} did not listen on port {port} within 300 s")
        time.sleep(0.5)

# Chromium reads commands on fd 3 and writes replies on fd 4
commands_read, commands_write = os.pipe()
replies_read, replies_write = os.pipe()


def wire_pipes_to_fds_3_and_4():
    commands, replies = os.dup(commands_read), os.dup(replies_write)  # out of the way of 3 and 4 first
    os.dup2(commands, 3)
    os.dup2(replies, 4)


profile = tempfile.mkdtemp(prefix="chromium-profile-")
browser = subprocess.Popen(
    [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
     "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
     f"--user-data-dir={profile}", "--remote-debugging-pipe", f"--window-size={width},600", "about:blank"],
    close_fds=False, preexec_fn=wire_pipes_to_fds_3_and_4, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(commands_read)
os.close(replies_write)

replies, replies_changed = {}, threading.Condition()


def read_replies():
    pending = b""
    while chunk := os.read(replies_read, 1 << 16):
        pending += chunk
        while b"\0" in pending:
            message, pending = pending.split(b"\0", 1)
            message = json.loads(message)
            if "id" in message:  # a reply; events have no id and are not needed here
                with replies_changed:
                    replies[message["id"]] = message
                    replies_changed.notify_all()


threading.Thread(target=read_replies, daemon=True).start()
message_ids = itertools.count(1)


def send(method, session=None, **params):
    message_id = next(message_ids)
    message = {"id": message_id, "method": method, "params": params}
    if session:
        message["sessionId"] = session
    os.write(commands_write, json.dumps(message).encode() + b"\0")
    with replies_changed:
        if not replies_changed.wait_for(lambda: message_id in replies, timeout=60):
            raise SystemExit(f"Chromium did not answer {method} within 60 s")
        reply = replies.pop(message_id)
    if "error" in reply:
        raise SystemExit(f"Chromium refused {method}: {reply['error']}")
    return reply["result"]


def run_js(session, expression):
    return send("Runtime.evaluate", session, expression=expression, returnByValue=True)["result"].get("value")


try:
    target = send("Target.createTarget", url="about:blank")["targetId"]
    tab = send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    send("Emulation.setDeviceMetricsOverride", tab, width=width, height=600, deviceScaleFactor=1, mobile=False)
    send("Page.navigate", tab, url=f"http://127.0.0.1:{port}{path}")
    deadline = time.time() + 60
    while not run_js(tab, "!!document.querySelector('#question textarea') && !!document.querySelector('#submit')"):
        if time.time() > deadline:
            raise SystemExit("the page did not show its question box within 60 s")
        time.sleep(0.5)
    time.sleep(1)  # let the page finish wiring its events
    run_js(tab, f"""const box = document.querySelector('#question textarea');
                    box.value = {json.dumps(question)};
                    box.dispatchEvent(new Event('input', {{bubbles: true}}));""")
    time.sleep(0.5)
    run_js(tab, "document.querySelector('#submit').click()")
    # the answers have finished when each has text and none has changed for 3 s
    read_answers = f"{json.dumps(answers)}.map(a => document.querySelector(a + ' textarea').value)"
    shown, unchanged_since, deadline = None, time.time(), time.time() + 600
    while time.time() < deadline:
        now = run_js(tab, read_answers)
        if now != shown:
            shown, unchanged_since = now, time.time()
        elif all(shown) and time.time() - unchanged_since > 3:
            break
        time.sleep(0.5)
    print(f"question: {question}")
    for box, answer in zip(answers, shown):
        print(f"{box}: {answer}")
    run_js(tab, "document.activeElement && document.activeElement.blur()")  # no text cursor in the picture
    height = run_js(tab, "document.documentElement.scrollHeight")  # the whole page, in one picture
    send("Emulation.setDeviceMetricsOverride", tab, width=width, height=height, deviceScaleFactor=1, mobile=False)
    time.sleep(1)
    png = base64.b64decode(send("Page.captureScreenshot", tab, format="png")["data"])
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    with open(output, "wb") as f:
        f.write(png)
    print(f"saved {output} ({len(png) / 1024:.0f} KB, {width}x{height})")
finally:
    try:
        send("Browser.close")
        browser.wait(timeout=30)
    except (SystemExit, subprocess.TimeoutExpired):
        browser.kill()
    server.terminate()
    server.wait(timeout=30)
    shutil.rmtree(profile, ignore_errors=True)
