"""Open-book answers on a tiny made-up shelf (two short novels written here): the index finds the passage a
question is about, the SFT layout keeps the passages out of the loss, and a run fine-tuned open book
(prepare_sft.py --index, train.py) answers through every entry point with the passages it read shown or
recorded, and without them when --open_book=False. A bad index (missing, empty, mismatched, corrupt, or a
novel changed since it was built) is a clear message from every script, never a traceback."""
import ast
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run, run_here
from test_decoding_defaults import module_assignments
from tiny_datasets import write_pretrain, write_random_run
from wuxia import generate as generation
from wuxia import retrieval
from wuxia.checkpoint import load_for_inference
from wuxia.generate import encode_input
from wuxia.retrieval import build_index, describe_passage, load_index, retrieve, save_index, show_passages
from wuxia.sft_format import PASSAGES_HEADER, encode_example, encode_prompt, format_prompt, loss_masks
from wuxia.tokenizer import CharTokenizer, tokenizer_from_meta

NOVELS = {
    "青锋剑": ("第一回 雪夜访师\n"
              "林远舟自幼父母双亡，由师父玄机子抚养长大。玄机子是青城派的掌门，剑法极高。"
              "那一年冬天，大雪纷飞，林远舟冒雪上山。他在山门外跪了一夜！\n"
              "玄机子推门出来，叹道：“痴儿，起来吧。”林远舟这才站起身来。\n"
              "第二回 洛阳风波\n"
              "林远舟下山之后，在洛阳结识了女侠苏晚晴。苏晚晴的父亲是铁掌帮帮主苏大海。"
              "两人一同追查失窃的青锋剑，一路上遇到了许多凶险。\n"
              "一个黑衣人拦住去路，喝道：“你是谁？你要去哪里？你为什么在这里？”"
              "林远舟道：“我是谁？你又是谁？这是什么地方？”\n"),
    "白云谣": ("沈青禾是白云山庄的少庄主，为人豪爽。他的妻子叫柳如烟，擅长吹箫。\n"
              "柳如烟每天清晨都在湖边吹箫，箫声悠扬，传遍了整座山庄。\n"
              "山庄的老管家姓方，名叫方伯，已经在山庄里住了四十年。他最拿手的是煮茶。\n"),
}
PASSAGE_CHARS = 60
QA = [("林远舟的师父是谁？", "玄机子。"), ("苏晚晴的父亲是谁？", "苏大海。"), ("沈青禾的妻子是谁？", "柳如烟。"),
      ("方伯最拿手的是什么？", "煮茶。"), ("谁在湖边吹箫？", "柳如烟。"), ("林远舟在哪里结识了苏晚晴？", "洛阳。")]
VAL_QA = [("玄机子是哪个门派的掌门？", "青城派。"), ("介绍一下沈青禾。", "沈青禾是白云山庄的少庄主。")]
ASKED = QA[0][0]            # retrieves passages
NO_MATCH = "你好吗？"        # shares no word with the shelf: retrieves nothing, still answered
K, CHARS = 2, 30            # the run's retrieval: 2 passages of up to 30 characters
FAST = ["--device=cpu", "--dtype=float32", "--max_new_tokens=6"]


def write_novels(folder):
    os.makedirs(folder, exist_ok=True)
    for book, text in NOVELS.items():
        with open(os.path.join(folder, f"{book}.txt"), "w", encoding="utf-8") as f:
            f.write(text)
    return str(folder)


def write_jsonl(path, pairs):
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"question": q, "answer": a}, ensure_ascii=False) + "\n" for q, a in pairs)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# -----------------------------------------------------------------------------------------------------------
# the index and retrieval, on the tiny shelf

@pytest.fixture(scope="module")
def shelf_index(tmp_path_factory):
    return build_index([write_novels(tmp_path_factory.mktemp("novels"))], PASSAGE_CHARS)


def test_a_known_passage_is_found_with_its_book_and_place(shelf_index):
    [first, *_] = retrieve(shelf_index, "林远舟的师父是谁？", 2, 200)
    assert first["book"] == "青锋剑" and first["place"] == "第一回" and "由师父玄机子抚养长大" in first["text"]
    [wife] = retrieve(shelf_index, "沈青禾的妻子是谁？", 1, 200)
    assert wife["book"] == "白云谣" and wife["place"] == "第1段" and "柳如烟" in wife["text"]  # no chapters
    assert describe_passage(wife).startswith("《白云谣》第1段：沈青禾是白云山庄的少庄主")
    assert retrieve(shelf_index, NO_MATCH, 2, 200) == []


def test_a_questions_name_outranks_its_question_words(shelf_index):
    """The dialogue passage says 是谁 four times and 什么 twice, but the question is about 苏晚晴."""
    found = retrieve(shelf_index, "苏晚晴是谁？", 3, 200)
    assert found and "苏晚晴" in found[0]["text"]
    assert not any("你是谁" in p["text"] for p in found)
    assert retrieve(shelf_index, "是谁？是什么？", 3, 200) == []  # question words alone find nothing


def test_passages_are_whole_sentences_of_one_chapter(shelf_index):
    for book, text in NOVELS.items():
        passages = [p for p in shelf_index.passages if p["book"] == book]
        assert all(len(p["text"]) <= PASSAGE_CHARS and p["text"][-1] in "。！？”" for p in passages)
        # nothing lost or repeated: the passages are the book's paragraphs without its chapter headings
        body = "".join(line for line in text.splitlines() if not line.startswith("第") or "回 " not in line)
        assert "".join(p["text"] for p in passages) == body
    # 他在山门外跪了一夜！ would pass 60 characters in the first passage: it opens the second instead
    first_chapter = [p["text"] for p in shelf_index.passages if p["place"] == "第一回"]
    assert first_chapter[0].endswith("林远舟冒雪上山。") and first_chapter[1].startswith("他在山门外跪了一夜！")
    assert {p["place"] for p in shelf_index.passages if p["book"] == "青锋剑"} == {"第一回", "第二回"}


def test_an_interrupted_save_leaves_the_earlier_index(shelf_index, tmp_path, monkeypatch):
    folder = str(tmp_path / "index")
    save_index(shelf_index, folder)
    other = build_index([write_novels(tmp_path / "more")], 30)
    assert other.meta["passages"] != shelf_index.meta["passages"]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(retrieval.json, "dump", interrupted)  # index.json is written last: all else is done
    with pytest.raises(KeyboardInterrupt):
        save_index(other, folder)
    monkeypatch.undo()
    assert load_index(folder).passages == shelf_index.passages
    assert sorted(os.listdir(tmp_path)) == ["index", "more"], "no half-written folder is left beside it"


# -----------------------------------------------------------------------------------------------------------
# the SFT layout with passages

def test_passages_are_prompt_never_loss():
    question, answer = "林远舟的师父是谁？", "玄机子。"
    passages = [{"text": "林远舟自幼父母双亡，由师父玄机子抚养长大。"}, {"text": "玄机子是青城派的掌门。"}]
    tokenizer = CharTokenizer.from_texts([format_prompt(question, passages) + answer])
    ids, prompt_len, status = encode_example(tokenizer, question, answer, 64, passages)
    assert status == "ok" and tokenizer.decode(ids[:prompt_len]) == (
        "资料：林远舟自幼父母双亡，由师父玄机子抚养长大。\n玄机子是青城派的掌门。\n问：林远舟的师父是谁？\n答：")
    mask = loss_masks([prompt_len], [len(ids)], 63)[0]
    targets = np.array(ids + [tokenizer.eot_id] * (64 - len(ids)))[1:]  # the row padded, as prepare_sft.py saves it
    # exactly the answer and its <|endoftext|>, though the passages hold the answer's words too
    assert np.flatnonzero(mask).tolist() == list(range(prompt_len - 1, len(ids) - 1))
    assert tokenizer.decode(targets[mask > 0][:-1].tolist()) == answer and targets[mask > 0][-1] == tokenizer.eot_id
    # a row too short for both passages drops the last one, and still holds the whole answer
    short, short_prompt_len, status = encode_example(tokenizer, question, answer, 48, passages)
    assert status == "ok" and tokenizer.decode(short[:short_prompt_len]) == format_prompt(question, passages[:1])


# -----------------------------------------------------------------------------------------------------------
# a tiny run fine-tuned open book, and every entry point

@pytest.fixture(scope="module")
def shelf(tmp_path_factory):
    """A folder with novels/, index/ (index.py), an open-book SFT dataset (prepare_sft.py --index) and run/, a
    tiny model fine-tuned on it for two iterations (train.py), whose checkpoint records the retrieval."""
    tmp = tmp_path_factory.mktemp("open_book")
    write_novels(tmp / "novels")
    indexed = run_here("index.py", "--input=novels", "--index=index", f"--passage_chars={PASSAGE_CHARS}", cwd=tmp)
    assert indexed.returncode == 0, indexed.stderr
    texts = list(NOVELS.values()) + [q + a for q, a in QA + VAL_QA] + [PASSAGES_HEADER, NO_MATCH]
    meta = write_pretrain(str(tmp / "pre"), texts, ["林远舟"])
    write_jsonl(tmp / "qa.jsonl", QA)
    write_jsonl(tmp / "qa_val.jsonl", VAL_QA)
    prepared = run_here("prepare_sft.py", f"--dataset={tmp / 'data' / 'sft_ob'}", "--input=qa.jsonl",
                        "--val_input=qa_val.jsonl", "--pretrain_data=pre", "--block_size=160", "--index=index",
                        f"--retrieve_k={K}", f"--retrieve_chars={CHARS}", cwd=tmp)
    assert prepared.returncode == 0, prepared.stderr
    write_random_run(str(tmp / "pre_run"), meta, str(tmp / "pre"), block_size=192, data_kind="pretrain")
    run("train.py", f"--dataset={tmp / 'data' / 'sft_ob'}", "--init_from=pre_run", "--out_dir=run", "--max_iters=2",
        "--eval_interval=1", "--eval_iters=1", "--batch_size=2", "--warmup_iters=1", "--lr_decay_iters=2",
        "--log_interval=1", "--plot=False", "--device=cpu", cwd=tmp)
    return tmp


@pytest.fixture(scope="module")
def reader(shelf):
    """(tokenizer, block_size, expected): expected(question) is what the run reads for a question, found
    here the long way: its index, retrieve() with its settings, as many as encode_input keeps."""
    model, tokenizer, checkpoint = load_for_inference(str(shelf / "run"))
    assert checkpoint["retrieval"]["index"] == str(shelf / "index")
    assert (checkpoint["retrieval"]["k"], checkpoint["retrieval"]["chars"]) == (K, CHARS)
    index = load_index(checkpoint["retrieval"]["index"])
    block_size = model.config.block_size

    def expected(question):
        found = retrieve(index, question, K, CHARS)
        assert encode_input(tokenizer, question, True, found, block_size) == encode_prompt(tokenizer, question, found)
        return found

    assert len(expected(ASKED)) == K and expected(NO_MATCH) == []
    return tokenizer, block_size, expected


@pytest.fixture
def prompts_seen(monkeypatch):
    """The prompts (token ids) the model is given in this process: every generation goes through
    generate_tokens."""
    seen = []
    original = generation.generate_tokens

    def recording(model, prompts, *args, **kwargs):
        seen.extend(list(p) for p in prompts)
        yield from original(model, prompts, *args, **kwargs)

    monkeypatch.setattr(generation, "generate_tokens", recording)
    return seen


def without_scores(passages):
    return [{k: p[k] for k in ("book", "place", "text")} for p in passages]


def records_passages(records):
    """The passages each output record says its answer read (scores left out: floats)."""
    return [without_scores(r["passages"]) for r in records]


def test_the_open_book_dataset_keeps_its_passages_out_of_the_loss(shelf):
    meta = json.loads((shelf / "data" / "sft_ob" / "meta.json").read_text(encoding="utf-8"))
    assert meta["retrieval"]["index"] == str(shelf / "index") and meta["retrieval"]["k"] == K
    tokenizer = tokenizer_from_meta(meta)
    for split in ("train", "val"):
        rows = np.fromfile(shelf / "data" / "sft_ob" / f"{split}.bin", dtype=meta["dtype"]).reshape(-1, 160)
        spans = np.load(shelf / "data" / "sft_ob" / f"{split}_spans.npy")
        records = read_jsonl(shelf / "data" / "sft_ob" / f"{split}.jsonl")
        assert any(r["passages"] for r in records)
        for row, (prompt_len, total_len), record in zip(rows, spans, records):
            assert tokenizer.decode(row[:prompt_len].tolist()) == format_prompt(record["question"], record["passages"])
            supervised = row[1:][loss_masks([prompt_len], [total_len], 159)[0] > 0]
            assert tokenizer.decode(supervised[:-1].tolist()) == record["answer"]


def test_sample_py_shows_the_passages_above_each_answer(shelf, reader, prompts_seen, tmp_path):
    tokenizer, block_size, expected = reader
    (tmp_path / "questions.txt").write_text(f"{ASKED}\n{NO_MATCH}\n", encoding="utf-8")
    result = run_here("sample.py", f"--out_dir={shelf / 'run'}", f"--start=FILE:{tmp_path / 'questions.txt'}", *FAST)
    assert result.returncode == 0, result.stderr
    for question in (ASKED, NO_MATCH):
        assert f"{show_passages(expected(question))}\n问：{question}\n答：" in result.stdout
    assert "《青锋剑》第一回：" in result.stdout and "资料：（没有与问题相关的段落）\n问：你好吗？" in result.stdout
    assert prompts_seen == [encode_prompt(tokenizer, q, expected(q)) for q in (ASKED, NO_MATCH)]
    samples = (shelf / "run" / "samples.txt").read_text(encoding="utf-8")
    assert f"{show_passages(expected(ASKED))}\n问：{ASKED}\n答：" in samples

    prompts_seen.clear()
    closed = run_here("sample.py", f"--out_dir={shelf / 'run'}", f"--start={ASKED}", "--open_book=False", *FAST)
    assert closed.returncode == 0 and "资料" not in closed.stdout and f"\n问：{ASKED}\n答：" in closed.stdout
    assert prompts_seen == [encode_prompt(tokenizer, ASKED)]


def test_the_terminal_chat_shows_the_passages_before_each_answer(shelf, reader, prompts_seen, monkeypatch):
    tokenizer, _, expected = reader
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{ASKED}\n{NO_MATCH}\n"))
    result = run_here("sample.py", f"--out_dir={shelf / 'run'}", "--interactive", *FAST)
    assert result.returncode == 0, result.stderr
    assert f"open book on: {K} passages of up to {CHARS} characters from {shelf / 'index'}" in result.stdout
    turns = result.stdout.split("\n> ")[1:]
    assert turns[0].startswith(show_passages(expected(ASKED)) + "\n")
    assert turns[1].startswith("资料：（没有与问题相关的段落）\n")
    assert prompts_seen == [encode_prompt(tokenizer, q, expected(q)) for q in (ASKED, NO_MATCH)]


def page_answer(out_dir, find_passages, question):
    """What the chat page's Submit shows at the end: the answer, or (answer, passages) for an open-book run."""
    pytest.importorskip("gradio", reason="the chat page needs Gradio: pip install -r requirements-chat.txt")
    from wuxia.chat_page import build_page

    model, tokenizer, _ = load_for_inference(out_dir)
    page = build_page(model, tokenizer, True, find_passages=find_passages, max_new_tokens=6)
    [respond] = [f.fn for f in page.fns.values() if f.api_name == "answer"]
    *_, last = respond(question, 6, 0.0, 200, 0.95, 1.2, 1337)
    return last


def test_the_chat_page_shows_the_passages_under_the_answer(shelf, reader, prompts_seen, monkeypatch):
    import wuxia.chat_page

    tokenizer, _, expected = reader
    monkeypatch.setattr(wuxia.chat_page, "stream_text", generation.stream_text)  # through the recorder
    checkpoint = load_for_inference(str(shelf / "run"))[2]
    for question in (ASKED, NO_MATCH):
        answer, passages = page_answer(str(shelf / "run"), retrieval.open_book(checkpoint), question)
        assert isinstance(answer, str) and passages == show_passages(expected(question))
    assert prompts_seen == [encode_prompt(tokenizer, q, expected(q)) for q in (ASKED, NO_MATCH)]
    prompts_seen.clear()
    assert isinstance(page_answer(str(shelf / "run"), retrieval.open_book(checkpoint, enabled=False), ASKED), str)
    assert prompts_seen == [encode_prompt(tokenizer, ASKED)]


def test_answer_py_records_the_passages(shelf, reader, prompts_seen, tmp_path):
    tokenizer, _, expected = reader
    (tmp_path / "questions.txt").write_text(f"{ASKED}\n{NO_MATCH}\n", encoding="utf-8")
    for open_book in (True, False):
        output = tmp_path / f"answers_{open_book}.jsonl"
        result = run_here("answer.py", f"--out_dir={shelf / 'run'}", f"--input={tmp_path / 'questions.txt'}",
                          f"--output={output}", f"--open_book={open_book}", *FAST)
        assert result.returncode == 0, result.stderr
        records = read_jsonl(output)
        assert [r["question"] for r in records] == [ASKED, NO_MATCH] and all(isinstance(r["answer"], str) for r in records)
        if open_book:
            assert records_passages(records) == [without_scores(expected(ASKED)), []]
        else:
            assert all("passages" not in r for r in records)
    assert sorted(prompts_seen) == sorted([encode_prompt(tokenizer, q, expected(q)) for q in (ASKED, NO_MATCH)]
                                          + [encode_prompt(tokenizer, q) for q in (ASKED, NO_MATCH)])


@pytest.fixture(scope="module")
def closed_copy(shelf):
    """A copy of the run, for evaluations with --open_book=False (eval_rouge.py writes into the run)."""
    shutil.copytree(shelf / "run", shelf / "run_copy")
    return shelf / "run_copy"


def test_eval_rouge_reads_as_a_user_and_records_the_passages(shelf, reader, closed_copy):
    _, _, expected = reader
    summary = json.loads(run_here("eval_rouge.py", f"--out_dir={shelf / 'run'}", "--print_json", *FAST, cwd=shelf).stdout)
    assert summary["settings"]["open_book"] == f"on: {K} passages of up to {CHARS} characters from {shelf / 'index'}"
    records = read_jsonl(shelf / "run" / "rouge_predictions.jsonl")
    assert [r["question"] for r in records] == [q for q, _ in VAL_QA]
    assert records_passages(records) == [without_scores(expected(q)) for q, _ in VAL_QA]
    assert "open_book on: 2 passages" in (shelf / "run" / "rouge.md").read_text(encoding="utf-8")

    closed = json.loads(run_here("eval_rouge.py", f"--out_dir={closed_copy}", "--print_json", "--open_book=False", *FAST,
                                 cwd=shelf).stdout)
    assert closed["settings"]["open_book"] == "off (--open_book=False)"
    assert all("passages" not in r for r in read_jsonl(closed_copy / "rouge_predictions.jsonl"))


def test_report_shows_the_passages_with_the_sample_answers(shelf, reader):
    _, _, expected = reader
    if not (shelf / "run" / "rouge_predictions.jsonl").exists():
        run_here("eval_rouge.py", f"--out_dir={shelf / 'run'}", *FAST, cwd=shelf)
    result = run_here("report.py", f"--out_dir={shelf / 'run'}", f"--output={shelf / 'report'}", "--device=cpu",
                      cwd=shelf)
    assert result.returncode == 0, result.stderr
    text = (shelf / "report" / "report.md").read_text(encoding="utf-8")
    assert "读到的资料" in text
    assert show_passages(expected(VAL_QA[1][0])).replace("\n", "<br>") in text  # 介绍一下沈青禾。: 人物介绍


@pytest.mark.slow
def test_bench_quality_passes_open_book_through(shelf, closed_copy):
    args = [f"--pretrained={shelf / 'pre_run'}", f"--finetuned={closed_copy}", "--probe=", "--limit=1",
            "--device=cpu"]
    assert "open book on: 2 passages" in run("bench/bench_quality.py", *args).stdout
    assert "open book off (--open_book=False)" in run("bench/bench_quality.py", *args, "--open_book=False").stdout


def test_every_script_that_answers_names_the_setting_alike():
    """--open_book=False and --index=... mean the same everywhere (bench/bench_quality.py passes --open_book on)."""
    for script in ("sample.py", "chat_web.py", "serve.py", "answer.py", "eval_rouge.py"):
        settings = module_assignments(os.path.join(ROOT, script))
        assert ast.literal_eval(settings["open_book"]) is True and ast.literal_eval(settings["index"]) == "", script
    assert ast.literal_eval(module_assignments(os.path.join(ROOT, "bench", "bench_quality.py"))["open_book"]) is True


# -----------------------------------------------------------------------------------------------------------
# serve.py: the passages in an extra field of the response, the answer streamed as before

@pytest.fixture(scope="module")
def served(shelf):
    pytest.importorskip("gradio", reason="serve.py needs the web requirements: pip install -r requirements-chat.txt")
    from test_serve import free_port, start_serve, stop_serve

    port = free_port()
    server = start_serve(f"--out_dir={shelf / 'run'}", "--dtype=float32", f"--votes={shelf / 'votes.jsonl'}",
                         port=port)
    yield f"http://127.0.0.1:{port}/v1"
    stop_serve(server)


def test_serve_answers_with_the_passages_in_an_extra_field(shelf, reader, served):
    import httpx
    from test_serve import client_for

    tokenizer, _, expected = reader
    body = {"model": "run", "temperature": 0, "max_tokens": 8}
    for question in (ASKED, NO_MATCH):
        reply = httpx.post(f"{served}/chat/completions", json={**body, "messages": [{"role": "user", "content": question}]},
                           timeout=60).json()
        assert without_scores(reply["passages"]) == without_scores(expected(question))
        assert reply["usage"]["prompt_tokens"] == len(encode_prompt(tokenizer, question, expected(question)))
        assert reply["choices"][0]["finish_reason"] in ("stop", "length")
        # streamed: the passages come with the first chunk, then the same answer as before
        streamed = httpx.post(f"{served}/chat/completions", timeout=60, json={
            **body, "stream": True, "messages": [{"role": "user", "content": question}]})
        chunks = [json.loads(line[6:]) for line in streamed.text.splitlines()
                  if line.startswith("data: ") and line != "data: [DONE]"]
        assert chunks[0]["passages"] == reply["passages"] and all("passages" not in c for c in chunks[1:])
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == \
            reply["choices"][0]["message"]["content"]
    # the official client reads the answer and ignores the field
    answer = client_for(served).chat.completions.create(model="run", messages=[{"role": "user", "content": ASKED}],
                                                        temperature=0, max_tokens=8)
    assert answer.choices[0].message.content == reply_content(served, ASKED)


def reply_content(url, question):
    import httpx

    return httpx.post(f"{url}/chat/completions", timeout=60, json={
        "model": "run", "temperature": 0, "max_tokens": 8,
        "messages": [{"role": "user", "content": question}]}).json()["choices"][0]["message"]["content"]


def test_the_served_chat_page_shows_the_passages(shelf, reader, served):
    from gradio_client import Client

    _, _, expected = reader
    page = Client(served.removesuffix("/v1") + "/chat/", verbose=False, analytics_enabled=False)
    answer, passages = page.predict("run", ASKED, 8, 0.0, 200, 0.95, 1.2, 7, api_name="/answer")
    assert passages == show_passages(expected(ASKED)) and answer == reply_content(served, ASKED)


def test_serve_with_open_book_off_sends_no_passages(shelf, reader):
    pytest.importorskip("gradio", reason="serve.py needs the web requirements: pip install -r requirements-chat.txt")
    import httpx
    from test_serve import free_port, start_serve, stop_serve

    tokenizer, _, _ = reader
    port = free_port()
    server = start_serve(f"--out_dir={shelf / 'run'}", "--open_book=False", f"--votes={shelf / 'votes.jsonl'}",
                         port=port)
    try:
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=60, json={
            "model": "run", "max_tokens": 4, "messages": [{"role": "user", "content": ASKED}]}).json()
        assert "passages" not in reply and reply["usage"]["prompt_tokens"] == len(encode_prompt(tokenizer, ASKED))
    finally:
        stop_serve(server)


# -----------------------------------------------------------------------------------------------------------
# a bad index: a clear message from every script, never a traceback

@pytest.fixture(scope="module")
def bad_indexes(shelf):
    """{kind: index folder}, each wrong in its own way."""
    bad = shelf / "bad"
    (bad / "empty").mkdir(parents=True)
    shutil.copytree(shelf / "index", bad / "mismatched")
    passages = (bad / "mismatched" / "passages.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (bad / "mismatched" / "passages.jsonl").write_text("".join(passages[:-1]), encoding="utf-8")
    shutil.copytree(shelf / "index", bad / "corrupt")
    (bad / "corrupt" / "index.json").write_text('{"version": 1, "passages', encoding="utf-8")
    # an index of a copy of the novels, one of which is then changed
    assert run_here("index.py", f"--input={write_novels(bad / 'novels')}", f"--index={bad / 'changed'}").returncode == 0
    with open(bad / "novels" / "白云谣.txt", "a", encoding="utf-8") as f:
        f.write("方伯后来离开了山庄。\n")
    return {"missing": str(bad / "nowhere"), "empty": str(bad / "empty"), "mismatched": str(bad / "mismatched"),
            "corrupt": str(bad / "corrupt"), "changed": str(bad / "changed")}


MESSAGES = {"missing": "no passage index in", "empty": "no passage index in", "mismatched": "is damaged",
            "corrupt": "is damaged", "changed": "no longer matches the novels it was built from"}


@pytest.mark.parametrize("script", ["sample.py", "answer.py", "eval_rouge.py", "chat_web.py", "serve.py"])
@pytest.mark.parametrize("kind", list(MESSAGES))
def test_a_bad_index_is_a_clear_message_from_every_script(shelf, bad_indexes, script, kind, tmp_path):
    if script in ("chat_web.py", "serve.py"):
        pytest.importorskip("gradio", reason="the pages need Gradio: pip install -r requirements-chat.txt")
    (tmp_path / "q.txt").write_text(ASKED + "\n", encoding="utf-8")
    extra = {"answer.py": [f"--input={tmp_path / 'q.txt'}", f"--output={tmp_path / 'a.jsonl'}"],
             "sample.py": [f"--start={ASKED}"]}.get(script, [])
    result = run_here(script, f"--out_dir={shelf / 'run'}", f"--index={bad_indexes[kind]}", "--device=cpu", *extra,
                      cwd=shelf)
    assert result.returncode == 1 and MESSAGES[kind] in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    if kind in ("mismatched", "corrupt", "changed"):
        assert "rebuild it: python index.py --input=" in result.stderr
    assert not (tmp_path / "a.jsonl").exists() or not (tmp_path / "a.jsonl").read_text()


def test_serve_stops_at_start_up_on_a_bad_index(shelf, bad_indexes):
    pytest.importorskip("gradio", reason="serve.py needs the web requirements: pip install -r requirements-chat.txt")
    result = subprocess.run([sys.executable, "serve.py", f"--out_dir={shelf / 'run'}", f"--index={bad_indexes['changed']}",
                             "--port=9"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "no longer matches the novels" in result.stderr and "Serving" not in result.stdout
