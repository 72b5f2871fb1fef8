"""wuxia/jsonl.py's plain reader and writer: every script writes its JSON Lines with write_jsonl and reads
them back with read_jsonl."""
import pytest

from wuxia.jsonl import read_jsonl, write_jsonl


def test_written_records_read_back_in_order_with_chinese_as_characters(tmp_path):
    records = [{"question": "郭靖的妻子是谁？", "answer": "黄蓉。", "stopped": True}, {"passages": [], "n": 2}]
    path = tmp_path / "records.jsonl"
    write_jsonl(path, records)
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith('{"question": "郭靖的妻子是谁？"')  # characters, not \u escapes
    assert text.endswith("}\n") and text.count("\n") == len(records)
    assert read_jsonl(str(path)) == records


def test_a_line_that_is_no_json_is_named_with_its_line(tmp_path):
    path = tmp_path / "predictions.jsonl"
    path.write_text('{"prediction": "黄蓉"}\n\n{"prediction": "郭靖"\n', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"predictions.jsonl:3: invalid JSON"):
        read_jsonl(str(path))
