"""Reading question/answer files and prediction files, with errors that name the file and line.

QA files are JSON Lines or one JSON array; keys match in any case: question/answer, or Alpaca's
instruction (+ input) / output. prepare_sft.py, eval_rouge.py and the benchmarks all read them here.
"""
import json
import os
import sys

from wuxia.text import decode_text


def read_decoded(path, data=None):
    """The text of a JSON / JSON Lines file (its bytes `data`, or read from path), decoded with the one
    encoding detection of wuxia/text.py; undecodable bytes are reported."""
    if data is None:
        if not os.path.isfile(path):
            raise SystemExit(f"{path} not found")
        with open(path, "rb") as f:
            data = f.read()
    text, encoding, replaced_bytes = decode_text(data, path)
    if replaced_bytes:
        print(f"warning: {path}: {replaced_bytes} bytes could not be decoded (read as {encoding})", file=sys.stderr)
    return text


def read_records(path, required, optional=()):
    """One dict per non-blank line of a JSON Lines file, holding the required and optional fields. Keys
    match case-insensitively ("Question" is "question"); a missing optional field is None."""
    records = []
    for line_no, line in enumerate(read_decoded(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise SystemExit(f"{path}, line {line_no}: not valid JSON ({e.msg}, column {e.colno}). "
                             "Each line must be one JSON object.")
        if not isinstance(obj, dict):
            raise SystemExit(f"{path}, line {line_no}: expected a JSON object, got {type(obj).__name__}")
        by_lower = {str(k).lower(): v for k, v in obj.items()}
        missing = [k for k in required if k not in by_lower]
        if missing:
            raise SystemExit(f"{path}, line {line_no}: no {', '.join(repr(k) for k in missing)} field "
                             f"(it has {', '.join(repr(k) for k in obj) or 'no fields'}); "
                             f"each line needs {', '.join(repr(k) for k in required)}")
        not_text = [k for k in required if not isinstance(by_lower[k], str)]
        if not_text:
            raise SystemExit(f"{path}, line {line_no}: {not_text[0]!r} must be a string, got "
                             f"{json.dumps(by_lower[not_text[0]], ensure_ascii=False)}")
        records.append({k: by_lower.get(k) for k in (*required, *optional)})
    if not records:
        raise SystemExit(f"{path} holds no records")
    return records


def text_field(fields, key):
    """The value of one field as stripped text ('' when missing, None when not text); numbers are text."""
    value = fields.get(key)
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    return value.strip() if isinstance(value, str) else None


def question_answer(record):
    """(question, answer) of one record, with keys matched case-insensitively: question/answer, or Alpaca's
    instruction (+ input) / output."""
    fields = {str(key).strip().lower(): value for key, value in record.items()}
    if "question" in fields or "answer" in fields:
        return text_field(fields, "question"), text_field(fields, "answer")
    question, extra = text_field(fields, "instruction"), text_field(fields, "input")
    if question and extra:
        question = question + "\n" + extra
    return question, text_field(fields, "output")


def parse_records(path, data=None):
    """The records of one JSONL or JSON-array file (its bytes, or read from path) as (source, object) pairs;
    source is "file:line" (JSON Lines) or "file[index]" (array). Invalid JSON is an error naming the file and line."""
    text = read_decoded(path, data)
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as e:
            raise SystemExit(f"{path}:{e.lineno}: invalid JSON: {e.msg} (column {e.colno}). Fix the file and run again.")
        return [(f"{path}[{i}]", item) for i, item in enumerate(items)]
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"{path}:{lineno}", json.loads(line)))
        except json.JSONDecodeError as e:
            raise SystemExit(f"{path}:{lineno}: invalid JSON: {e.msg} (column {e.colno}). Each line must hold one whole "
                     f"JSON object (JSON Lines), or the file one JSON array. Fix the file and run again.")
    return records


def read_qa_records(path, data=None):
    """The usable records of one QA file as {question, answer, source} (source is "file:line" or
    "file[index]"), the skipped ones as (source, reason), and the number of records read."""
    records = parse_records(path, data)
    examples, skipped = [], []
    for source, record in records:
        if not isinstance(record, dict):
            skipped.append((source, "not a JSON object"))
            continue
        question, answer = question_answer(record)
        if question is None or answer is None:
            skipped.append((source, "question or answer is not text"))
        elif not question:
            skipped.append((source, "no question"))
        elif not answer:
            skipped.append((source, "no answer"))
        else:
            examples.append({"question": question, "answer": answer, "source": source})
    return examples, skipped, len(records)
