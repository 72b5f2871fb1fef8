"""The knowledge test made from a novel (wuxia/cloze.py, eval_cloze.py): names found in a tiny made-up book,
adverbs that open the same clauses refused, items deterministic, drawn from the held-out end only, never
given away by their context; the likelihood score equal to one computed token by token by hand; the script
end to end on a random run."""
import json
import math
import os

import pytest
import torch

from conftest import run_here
from model import GPT, GPTConfig
from tiny_datasets import write_pretrain, write_random_run
from wuxia.cloze import accuracy, candidate_items, find_names, gives_away, make_items, option_scores, spread
from wuxia.text import split_train_val
from wuxia.tokenizer import CharTokenizer

NAMES = ["张三丰", "李寻欢", "王重阳", "赵敏", "周芷若", "令狐冲", "段誉", "郭靖", "杨过", "黄蓉"]  # no character in common


def made_up_book(paragraphs=80):
    """A book where every name speaks (name + 道), is spoken to (向 + name), and an adverb (低声) opens
    clauses before 道 as often as any name but is never spoken to."""
    lines = []
    for i in range(paragraphs):
        a, b, c = NAMES[i % 10], NAMES[(i + 3) % 10], NAMES[(i + 6 + i % 3) % 10]
        lines.append(f"{a}道：“第{i}天的风很大。”{b}笑道：“我去找{c}。”{a}向{b}点了点头，低声道：“走吧。”")
    return "\n".join(lines)


def test_names_are_the_speakers_and_not_the_adverbs():
    book = made_up_book()
    names = find_names(book)
    assert sorted(n for n, _ in names) == sorted(NAMES)
    assert all(mentions == book.count(name) for name, mentions in names)
    assert [m for _, m in names] == sorted((m for _, m in names), reverse=True)  # most mentioned first


def test_items_come_from_the_held_out_end_are_deterministic_and_fair():
    book = made_up_book()
    train, held_out = split_train_val(book, 0.2)
    items = make_items(book, held_out, "book", n_options=4, seed=7)
    assert items and items == make_items(book, held_out, "book", n_options=4, seed=7)
    assert make_items(book, held_out, "book", n_options=4, seed=8) != items  # the seed picks the options
    for item in items:
        answer = item["options"][item["answer"]]
        assert len(item["options"]) == 4 and len(set(item["options"])) == 4 and answer in NAMES
        assert item["context"] + answer + item["rest"] in held_out  # a real passage of the held-out text
        assert not gives_away(answer, item["context"] + item["rest"])
        assert all(not set(o) & set(answer) for o in item["options"] if o != answer)
        assert item["mentions"] == [book.count(o) for o in item["options"]]
    assert {item["options"][item["answer"]] for item in items} > {NAMES[0]}  # not one name every time


def test_a_context_that_names_the_answer_gives_no_item():
    names = [(n, 10) for n in NAMES]
    context = "这是一段很长的开场白，足足有二十多个字，什么人也没有提到。"
    assert candidate_items(context + "赵敏道：“好。”", names, min_context_chars=20) == [(context, "赵敏", "道")]
    assert candidate_items(context + "赵敏说，赵敏道：“好。”", names) == []      # twice in the sentence
    assert candidate_items("赵敏来了。" + context + "赵敏道：“好。”", names) == []  # in the context before it
    assert candidate_items("开场白。" + "赵敏道：“好。”", names) == []            # too little context


def test_spread_keeps_the_order_and_samples_evenly():
    assert spread(list(range(10)), 3) == [0, 3, 6]
    assert spread(list(range(3)), 5) == [0, 1, 2]


def tiny_model(tokenizer, block_size=32):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=block_size, vocab_size=tokenizer.vocab_size, n_layer=1, n_head=2, n_embd=16))
    return model.eval()


def by_hand(model, tokenizer, context, continuation):
    """log P(continuation | context) per character, one forward pass per token, the context cut to fit."""
    ids = tokenizer.encode(context)[-(model.config.block_size + 1 - len(continuation)):] + tokenizer.encode(continuation)
    first = len(ids) - len(continuation)  # a character tokenizer: one token per character
    total = 0.0
    with torch.no_grad():
        for k in range(first, len(ids)):
            logits, _ = model(torch.tensor([ids[:k]]))
            total += torch.log_softmax(logits[0, -1], dim=-1)[ids[k]].item()
    return total / len(continuation)


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_option_scores_equal_the_likelihood_computed_by_hand(batch_size):
    tokenizer = CharTokenizer.from_texts([made_up_book(5)])
    model = tiny_model(tokenizer)
    items = [{"context": "李寻欢笑道：“我去找", "rest": "。”", "options": ["张三丰", "赵敏", "周芷若"], "answer": 0},
             {"context": "风很大。" * 12, "rest": "道", "options": ["王重阳", "赵敏"], "answer": 1}]  # cut to fit
    scores = option_scores(model, tokenizer, items, batch_size, "cpu")
    for item, item_scores in zip(items, scores):
        expected = [by_hand(model, tokenizer, item["context"], option + item["rest"]) for option in item["options"]]
        assert item_scores == pytest.approx(expected, abs=1e-5)


def test_accuracy_chance_and_the_most_mentioned_baseline():
    items = [{"options": ["a", "b"], "answer": 0, "mentions": [5, 1]},
             {"options": ["a", "b", "c", "d"], "answer": 3, "mentions": [9, 1, 1, 1]}]
    result = accuracy(items, [[-1.0, -2.0], [-3.0, -2.0, -2.5, -2.1]])
    assert result["accuracy"] == 0.5 and result["chance"] == pytest.approx((1 / 2 + 1 / 4) / 2)
    assert result["most_mentioned"] == 0.5 and result["stderr"] == pytest.approx(math.sqrt(0.25 / 2))


def test_eval_cloze_end_to_end_on_a_random_run(tmp_path):
    book = made_up_book()
    (tmp_path / "novels").mkdir()
    (tmp_path / "novels" / "book.txt").write_text(book, encoding="utf-8")
    meta = write_pretrain(str(tmp_path / "data"), [book], [book[-200:]])
    write_random_run(str(tmp_path / "run"), meta, str(tmp_path / "data"), block_size=128, data_kind="pretrain")

    result = run_here("eval_cloze.py", f"--out_dir={tmp_path / 'run'}")  # its dataset does not name the novels
    assert result.returncode != 0 and "--input=" in result.stderr

    args = [f"--out_dir={tmp_path / 'run'}", f"--input={tmp_path / 'novels'}", "--items=20", "--val_fraction=0.3",
            f"--output={tmp_path / 'report' / 'cloze.csv'}", "--print_json"]
    result = run_here("eval_cloze.py", *args)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    (scored,) = summary["runs"]
    assert scored["items"] == 20 and scored["chance"] == 0.25 and 0 <= scored["accuracy"] <= 1
    assert scored["accuracy book.txt"] == scored["accuracy"]  # the one book holds every item
    items_file = tmp_path / "report" / "cloze_items.jsonl"
    first = items_file.read_text(encoding="utf-8")
    assert len(first.splitlines()) == 20 and os.path.isfile(tmp_path / "report" / "cloze.md")
    assert run_here("eval_cloze.py", *args).returncode == 0
    assert items_file.read_text(encoding="utf-8") == first  # the same corpus and seed: the same items
