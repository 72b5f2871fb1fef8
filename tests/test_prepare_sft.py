"""prepare_sft.py: rows hold exactly prompt, answer, <|endoftext|>, padding, and the saved spans make the loss
mask cover exactly the answer and the final <|endoftext|> (hand-checked positions); bad input leaves no
dataset behind."""
import json
import os

import numpy as np
import pytest

from conftest import ROOT, run, run_here, write_pretrain_dataset
from wuxia.dataset import refuse_evaluation_only
from wuxia.sft_format import encode_example, loss_masks
from wuxia.tokenizer import GPT2Tokenizer, tokenizer_from_meta

TRAIN_RECORDS = [
    {"Question": "郭靖是谁？", "Answer": " 射雕英雄。 "},
    {"question": "黄蓉是谁", "answer": "她是帮主。她说：“好！”然后她走了很远很远的路。"},  # too long for 24 tokens
    {"instruction": "回答", "input": "郭靖是谁？", "output": "英雄。"},
    {"question": "空答案", "answer": "   "},
    {"answer": "没有问题"},
    [1, 2],
]
VAL_RECORDS = [{"QUESTION": "谁是英雄？", "ANSWER": "郭靖。"}]
# the char vocabulary of the pretraining dataset holds every character used here (and the template's)
VOCAB_TEXT = "问：答\n" + json.dumps([TRAIN_RECORDS, VAL_RECORDS], ensure_ascii=False)


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


@pytest.fixture
def workdir(tmp_path):
    write_pretrain_dataset(str(tmp_path / "data" / "pre"), text=VOCAB_TEXT)
    write_jsonl(tmp_path / "train.jsonl", TRAIN_RECORDS)
    write_jsonl(tmp_path / "val.jsonl", VAL_RECORDS)
    return tmp_path


def load(out):
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    splits = {}
    for split in ("train", "val"):
        rows = np.fromfile(out / f"{split}.bin", dtype=meta["dtype"]).reshape(-1, meta["block_size"])
        records = [json.loads(line) for line in (out / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
        splits[split] = rows, np.load(out / f"{split}_spans.npy"), records
    return meta, splits


def prepare(workdir, *args, dataset="sft", check=True):
    return run("prepare_sft.py", f"--dataset={dataset}", "--input=train.jsonl", "--val_input=val.jsonl",
               "--pretrain_data=data/pre", "--block_size=24", *args, cwd=workdir, check=check)


def test_rows_spans_and_masks_hand_checked(workdir):
    result = prepare(workdir)
    meta, splits = load(workdir / "data" / "sft")
    tokenizer = tokenizer_from_meta(meta)
    train_rows, train_spans, train_records = splits["train"]
    val_rows, val_spans, val_records = splits["val"]

    # 问：郭靖是谁？\n答： is 10 characters, 射雕英雄。 5, then <|endoftext|>; the long answer is cut after
    # its last whole sentence that fits in 24 - 9 - 1 = 14 tokens (a closing quote stays with its sentence)
    assert train_spans.tolist() == [[10, 16], [9, 22], [13, 17]]
    assert val_spans.tolist() == [[10, 14]]
    assert [r["answer"] for r in train_records] == ["射雕英雄。", "她是帮主。她说：“好！”", "英雄。"]
    assert [r["question"] for r in train_records] == ["郭靖是谁？", "黄蓉是谁", "回答\n郭靖是谁？"]
    assert val_records == [{"question": "谁是英雄？", "answer": "郭靖。"}]
    assert tokenizer.decode(train_rows[0, :16].tolist()) == "问：郭靖是谁？\n答：射雕英雄。"
    assert (train_rows[0, 15:] == tokenizer.eot_id).all()  # the final <|endoftext|>, then padding

    width = meta["block_size"] - 1
    masks = loss_masks(train_spans[:, 0], train_spans[:, 1], width)
    assert np.flatnonzero(masks[0]).tolist() == [9, 10, 11, 12, 13, 14]  # targets y[j] = row[j + 1]
    for rows, spans, records in (splits["train"], splits["val"]):
        for row, (prompt_len, total_len), record in zip(rows, spans, records):
            y = row[1:]
            supervised = y[loss_masks([prompt_len], [total_len], width)[0] > 0]
            assert tokenizer.decode(supervised.tolist()) == record["answer"]
            assert len(supervised) == len(record["answer"]) + 1 and supervised[-1] == tokenizer.eot_id

    assert (meta["kind"], meta["block_size"], meta["template"]) == ("sft", 24, "问：{question}\n答：")
    assert (meta["tokenizer"], meta["chars"]) == ("char", tokenizer.to_meta()["chars"])
    assert (meta["records"], meta["skipped"], meta["truncated"], meta["dropped"]) == (7, 3, 1, 0)
    assert (meta["train_rows"], meta["val_rows"], meta["unknown_chars"]) == (3, 1, 0)
    assert "train.jsonl:4: no answer" in result.stderr and "train.jsonl:6: not a JSON object" in result.stderr


def test_empty_answer_supervises_only_endoftext(workdir):
    tokenizer = tokenizer_from_meta(json.loads((workdir / "data" / "pre" / "meta.json").read_text("utf-8")))
    ids, prompt_len, status = encode_example(tokenizer, "郭靖是谁？", "", 24)
    assert (status, prompt_len) == ("ok", 10)
    assert ids == tokenizer.encode("问：郭靖是谁？\n答：") + [tokenizer.eot_id]
    assert np.flatnonzero(loss_masks([prompt_len], [len(ids)], 23)[0]).tolist() == [9]


def test_drop_long_and_unknown_chars(workdir):
    write_jsonl(workdir / "train.jsonl", TRAIN_RECORDS + [{"question": "郭靖", "answer": "龘。"}])
    prepare(workdir, "--drop_long")
    meta, splits = load(workdir / "data" / "sft")
    assert (meta["truncated"], meta["dropped"], meta["train_rows"], meta["unknown_chars"]) == (0, 1, 3, 1)
    assert [r["question"] for r in splits["train"][2]] == ["郭靖是谁？", "回答\n郭靖是谁？", "郭靖"]


@pytest.mark.slow
def test_gpt2_answer_span(tmp_path):
    pre = tmp_path / "data" / "pre"
    pre.mkdir(parents=True)
    (pre / "meta.json").write_text(json.dumps({"kind": "pretrain", "tokenizer": "gpt2", "vocab_size": 50257,
                                               "eot_id": 50256, "dtype": "uint16"}), encoding="utf-8")
    (tmp_path / "qa.json").write_text(json.dumps([{"question": "郭靖是谁？", "answer": "他是射雕英雄。"},
                                                  {"question": "黄蓉是谁？", "answer": "丐帮帮主。"}],
                                                 ensure_ascii=False), encoding="utf-8")
    run("prepare_sft.py", "--dataset=sft", "--input=qa.json", "--pretrain_data=data/pre", "--block_size=64",
        cwd=tmp_path)
    meta, splits = load(tmp_path / "data" / "sft")
    gpt2 = GPT2Tokenizer()
    rows, spans, records = splits["train"] if len(splits["train"][2]) == 1 else splits["val"]
    (prompt_len, total_len), = spans.tolist()
    assert prompt_len == len(gpt2.encode(f"问：{records[0]['question']}\n答："))
    supervised = rows[0, 1:][loss_masks([prompt_len], [total_len], 63)[0] > 0].tolist()
    assert supervised == gpt2.encode(records[0]["answer"]) + [50256]
    assert meta["tokenizer"] == "gpt2" and meta["train_rows"] == meta["val_rows"] == 1


def dataset_left_behind(workdir):
    return sorted(os.listdir(workdir / "data"))


@pytest.mark.parametrize("content, line", [
    ('{"question": "a", "answer": "b"}\n{"question": "c", answer: "d"}\n', 2),
    ('[\n {"question": "a", "answer": "b"},\n {"question": "c" "answer": "d"}\n]\n', 3),
])
def test_malformed_json_names_file_and_line_and_writes_nothing(workdir, content, line):
    (workdir / "train.jsonl").write_text(content, encoding="utf-8")
    result = prepare(workdir, check=False)
    assert result.returncode != 0
    assert f"train.jsonl:{line}: invalid JSON" in result.stderr
    assert dataset_left_behind(workdir) == ["pre"]


def test_no_usable_record_is_an_error(workdir):
    write_jsonl(workdir / "train.jsonl", [{"question": "a"}, {"Answer": "b"}])
    result = prepare(workdir, check=False)
    assert result.returncode != 0 and "no usable records" in result.stderr
    assert dataset_left_behind(workdir) == ["pre"]


def test_refuses_to_replace_the_pretraining_dataset(workdir):
    result = prepare(workdir, dataset="pre", check=False)
    assert result.returncode != 0 and "choose another --dataset" in result.stderr
    assert sorted(os.listdir(workdir / "data" / "pre")) == ["meta.json", "train.bin", "val.bin"]


@pytest.mark.parametrize("setting, named", [
    ("--input", "data/eval/jinyong_probe.jsonl"),         # a probe itself
    ("--input", "data/eval"),                             # the folder of evaluation-only files
    ("--input", "data"),                                  # a folder above it: read whole, it reaches the probes
    ("--val_input", "data/eval/bixuejian_probe.jsonl"),   # val rows choose the checkpoint: no probe there either
])
def test_refuses_evaluation_only_files_and_says_what_to_pass(workdir, setting, named):
    args = {"--input": "train.jsonl", "--val_input": "val.jsonl", setting: os.path.join(ROOT, named)}
    result = run_here("prepare_sft.py", "--dataset=sft", "--pretrain_data=data/pre", "--block_size=24",
                      *(f"{key}={value}" for key, value in args.items()), cwd=workdir)
    assert result.returncode != 0
    assert f"{setting}: {os.path.join(ROOT, 'data', 'eval')}" in result.stderr and "is evaluation-only" in result.stderr
    assert "--input=data/jinyong_qa/" in result.stderr and "eval_rouge.py --qa=FILE" in result.stderr
    assert dataset_left_behind(workdir) == ["pre"]


def test_only_what_lies_in_data_eval_is_refused(tmp_path):
    """The QA training set and a name that merely begins like data/eval pass; a link to a probe does not."""
    training = [os.path.join(ROOT, "data", "jinyong_qa", "relations.jsonl"),
                os.path.join(ROOT, "data", "evaluation.jsonl")]
    refuse_evaluation_only(training, "--input", "")
    (tmp_path / "my_qa.jsonl").symlink_to(os.path.join(ROOT, "data", "eval", "jinyong_probe.jsonl"))
    with pytest.raises(SystemExit, match="my_qa.jsonl is evaluation-only"):
        refuse_evaluation_only([str(tmp_path / "my_qa.jsonl")], "--input", "")


def test_random_split_is_deterministic_and_keeps_duplicates_together(workdir):
    records = [{"question": f"问题{i % 10}", "answer": f"答案{i}。"} for i in range(20)]
    write_pretrain_dataset(str(workdir / "data" / "pre"), text=VOCAB_TEXT + "".join(map(str, records)))
    write_jsonl(workdir / "many.jsonl", records)
    for name in ("a", "b"):
        run("prepare_sft.py", f"--dataset={name}", "--input=many.jsonl", "--pretrain_data=data/pre",
            "--val_fraction=0.01", cwd=workdir)
    meta, splits = load(workdir / "data" / "a")
    for name in ("train.jsonl", "val.jsonl", "train.bin"):
        assert (workdir / "data" / "a" / name).read_bytes() == (workdir / "data" / "b" / name).read_bytes()
    train_questions = {r["question"] for r in splits["train"][2]}
    val_questions = {r["question"] for r in splits["val"][2]}
    assert len(val_questions) == 1 and not train_questions & val_questions
    assert (meta["duplicates"], meta["train_rows"], meta["val_rows"]) == (10, 18, 2)


def test_rerun_replaces_the_dataset_and_show_prints_the_mask(workdir):
    prepare(workdir)
    write_jsonl(workdir / "train.jsonl", TRAIN_RECORDS[:1])
    prepare(workdir)
    meta, splits = load(workdir / "data" / "sft")
    assert meta["train_rows"] == 1 and dataset_left_behind(workdir) == ["pre", "sft"]
    shown = run("prepare_sft.py", "--dataset=sft", "--show=0", cwd=workdir).stdout
    token_lines = [line.split() for line in shown.splitlines() if line[:4].strip().isdigit()]
    assert [fields[2] for fields in token_lines] == ["."] * 10 + ["1"] * 6  # the answer 射雕英雄。 and <|endoftext|>
    assert token_lines[-1][-1] == "<|endoftext|>" and token_lines[10][-1] == "'射'"
