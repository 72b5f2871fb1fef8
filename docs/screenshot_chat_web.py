"""Take the README's screenshot of the chat page: start chat_web.py, open it in headless Chromium, type a
question, press Submit, wait until the answer has finished streaming, save a PNG.

    apt-get install chromium fonts-wqy-microhei      # Debian: the browser and a font with Chinese characters
    python docs/screenshot_chat_web.py --out_dir=out/demo_sft --question="郭靖的师父是谁？"

Chromium is driven through its DevTools protocol over a pipe (--remote-debugging-pipe: JSON messages ending
in a NUL byte on file descriptors 3 and 4), so no Python package beyond the standard library is needed.
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
from wuxia.configurator import AT_LEAST_1, configure, explain_machine_errors  # noqa: E402
from wuxia.generate import DECODING, DECODING_RULES  # noqa: E402

# -----------------------------------------------------------------------------------------------------------
out_dir = "out/demo_sft"
question = "郭靖的师父是谁？"
output = "docs/chat_web.png"
temperature = DECODING["temperature"]  # the page's starting value; 0 shows the greedy answer
port = 7861
width = 1200
height = 700
chromium = "chromium"
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={"temperature": DECODING_RULES["temperature"], "port": AT_LEAST_1,
                                         "width": AT_LEAST_1, "height": AT_LEAST_1})
if shutil.which(chromium) is None:
    raise SystemExit(f"{chromium!r} not found: apt-get install chromium fonts-wqy-microhei (or pass --chromium=PATH)")

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
server = subprocess.Popen([sys.executable, os.path.join(root, "chat_web.py"), f"--out_dir={out_dir}", f"--port={port}",
                           f"--temperature={temperature}"],
                          env=dict(os.environ, GRADIO_ANALYTICS_ENABLED="False"))
deadline = time.time() + 120
while True:
    if server.poll() is not None:
        raise SystemExit("chat_web.py exited before serving the page (see its message above)")
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        if time.time() > deadline:
            server.terminate()
            raise SystemExit(f"chat_web.py did not listen on port {port} within 120 s")
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
     f"--user-data-dir={profile}", "--remote-debugging-pipe", f"--window-size={width},{height}", "about:blank"],
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
    send("Emulation.setDeviceMetricsOverride", tab, width=width, height=height, deviceScaleFactor=1, mobile=False)
    send("Page.navigate", tab, url=f"http://127.0.0.1:{port}/")
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
    # the answer has finished when it has text that has not changed for 3 s
    answer, unchanged_since, deadline = None, time.time(), time.time() + 300
    while time.time() < deadline:
        shown = run_js(tab, "document.querySelector('#answer textarea').value")
        if shown != answer:
            answer, unchanged_since = shown, time.time()
        elif answer and time.time() - unchanged_since > 3:
            break
        time.sleep(0.5)
    print(f"question: {question}\nanswer:   {answer}")
    run_js(tab, "document.activeElement && document.activeElement.blur()")  # no text cursor in the picture
    time.sleep(0.5)
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
