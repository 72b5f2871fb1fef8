"""The arena page in a real headless browser (Chromium and chromedriver from the system packages, driven by
Selenium): two serve.py processes stand in for two classmates; the arena of the first asks its own model
and the second server's model; both answers must grow during the same interval, then a vote must land in
the JSONL file and change the leaderboard. Also the Elo arithmetic. (docs/arena.png is taken with real models
by docs/screenshot_page.py.)
"""
import json
import shutil
import time

import pytest

pytest.importorskip("gradio", reason="serve.py needs the web requirements: pip install -r requirements-chat.txt")

from test_serve import free_port, start_serve, stop_serve  # noqa: E402
from tiny_checkpoints import save_tiny_checkpoint  # noqa: E402
from wuxia.arena import ELO_START, elo_ratings  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
QUESTION = "郭靖的师父是谁？"
# bigger than the other tests' models, so that 400 tokens take long enough to be watched
SLOW_SHAPE = dict(block_size=1024, n_layer=4, n_head=4, n_embd=256)


def vote(left, right, choice):
    return {"left": {"model": left}, "right": {"model": right}, "vote": choice}


def test_elo_ratings_follow_the_votes():
    table = elo_ratings([vote("a", "b", "left"), vote("b", "c", "tie"), vote("c", "a", "both_bad"),
                         vote("a", "c", "right")])
    assert table["a"]["battles"] == 3 and table["a"]["wins"] == 1 and table["a"]["ties"] == 1
    assert table["b"]["wins"] == 0 and table["c"]["wins"] == 1 and table["c"]["ties"] == 2
    assert sum(t["rating"] for t in table.values()) == pytest.approx(3 * ELO_START)  # Elo is zero-sum
    first = elo_ratings([vote("a", "b", "left")])
    assert first["a"]["rating"] == pytest.approx(ELO_START + 16) and first["b"]["rating"] == pytest.approx(ELO_START - 16)


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("the arena test needs Chromium and its driver: apt-get install -y chromium chromium-driver")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1500", "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def test_arena_streams_two_servers_at_once_and_counts_a_vote(tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    mine = save_tiny_checkpoint(str(tmp_path / "my_sft"), "sft", seed=1, endless=True, **SLOW_SHAPE)
    theirs = save_tiny_checkpoint(str(tmp_path / "their_sft"), "sft", seed=2, endless=True, **SLOW_SHAPE)
    votes = tmp_path / "votes.jsonl"
    my_port, their_port = free_port(), free_port()
    settings = ["--max_tokens_default=400", f"--votes={votes}"]
    servers = [start_serve(f"--out_dir={mine}", *settings, port=my_port),
               start_serve(f"--out_dir={theirs}", "--votes=unused.jsonl", port=their_port)]
    try:
        wait = WebDriverWait(browser, 120)
        browser.get(f"http://127.0.0.1:{my_port}/arena/")
        question = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#question textarea"))
        board = browser.find_element(By.ID, "leaderboard")
        assert "No votes yet" in board.text
        # the right side is the other server: its URL and its model id
        their_url = f"http://127.0.0.1:{their_port}/v1"
        browser.find_element(By.CSS_SELECTOR, "#right_url input, #right_url textarea").send_keys(their_url)
        model_box = browser.find_element(By.CSS_SELECTOR, "#right_model input")
        model_box.send_keys(Keys.CONTROL, "a")
        model_box.send_keys("their_sft", Keys.ENTER)
        question.send_keys(QUESTION)
        time.sleep(0.5)
        browser.find_element(By.ID, "submit").click()

        lengths_js = ("return ['#left_answer textarea', '#right_answer textarea']"
                      ".map(s => document.querySelector(s).value.length)")
        samples, deadline = [], time.time() + 180
        while time.time() < deadline:
            samples.append(browser.execute_script(lengths_js))
            if samples[-1] == [400, 400]:
                break
            time.sleep(0.1)
        assert samples[-1] == [400, 400], f"both answers should reach 400 characters: {samples[-1]}"
        # one server after the other would show one answer full or empty while the other grows; streaming at
        # once shows both part-written at the same moment (a busy machine may sample only a few moments)
        both_partial = [s for s in samples if 0 < s[0] < 400 and 0 < s[1] < 400]
        assert both_partial, f"no moment with both answers part-written (they should stream at once): {samples}"
        speeds = [browser.find_element(By.ID, f"{side}_speed").text for side in ("left", "right")]
        assert all("400 tokens" in s and "tokens/s" in s for s in speeds), speeds

        answers = [browser.execute_script(f"return document.querySelector('#{side}_answer textarea').value")
                   for side in ("left", "right")]
        assert answers[0] != answers[1], "two different models answered"
        browser.find_element(By.ID, "vote_left").click()
        wait.until(lambda d: "Elo" in d.find_element(By.ID, "leaderboard").text)
        [record] = [json.loads(line) for line in votes.read_text(encoding="utf-8").splitlines()]
        assert record["vote"] == "left" and record["question"] == QUESTION
        assert record["left"] == {"model": "my_sft", "answer": answers[0]}
        assert record["right"] == {"model": f"their_sft @ {their_url}", "answer": answers[1]}
        assert record["settings"]["max_tokens"] == 400
        board = browser.find_element(By.ID, "leaderboard").text
        assert board.index("my_sft") < board.index(their_url), "the winner is ranked first"
        assert "1016" in board and "984" in board
    finally:
        for server in servers:
            stop_serve(server)


def test_the_arena_shows_the_passages_each_side_read(monkeypatch):
    """Two sides through a stand-in for stream_chat: an open-book model sends the passages it read (the
    response's "passages" field), a closed-book one none; each shows under its own answer."""
    import asyncio

    from fastapi import FastAPI

    import wuxia.arena as arena

    async def fake_stream_chat(url, key, model, question, settings):
        passages = "资料：\n《白云谣》第1段：沈青禾是白云山庄的少庄主。" if model == "open" else None
        if passages:
            yield "", 0, passages
        for tokens, piece in enumerate("答案", start=1):
            yield piece, tokens, passages

    pages = []
    monkeypatch.setattr(arena, "stream_chat", fake_stream_chat)
    monkeypatch.setattr(arena, "mount", lambda app, page, path, key: pages.append(page))
    arena.build_arena(FastAPI(), "http://127.0.0.1:9/v1", "", ["open", "closed"], "unused.jsonl")
    ask = next(f.fn for f in pages[0].fns.values() if f.fn.__name__ == "ask")  # Submit and Enter both ask

    async def last_update():
        updates = [u async for u in ask(QUESTION, "open", "", "", "closed", "", "", 8, 0.0, 200, 0.95, 1.2, 7)]
        return updates[-1]

    left, right, _, _, left_passages, right_passages, battle = asyncio.run(last_update())
    assert left == right == "答案" and battle["left"]["answer"] == "答案"
    assert left_passages == "资料：\n《白云谣》第1段：沈青禾是白云山庄的少庄主。" and right_passages == ""
