"""Reading and writing JSON Lines: question/answer files, prediction files and every other one-object-a-line
file the scripts write, with errors that name the file and line.

QA files are JSON Lines or one JSON array; keys match in any case: question/answer, or Alpaca's
instruction (+ input) / output. prepare_sft.py, eval_rouge.py and the benchmarks all read them here;
answer.py reads its question files (JSON Lines, or plain text with one question per line) here too.
"""
import json
import os
import sys

from wuxia.text import decode_text, read_text


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


def read_jsonl(path):
    """The objects of a JSON Lines file (predictions, probes, a dataset's val.jsonl), in order."""
    return [record for _, record in parse_records(path)]


def write_jsonl(path, records):
    """records as JSON Lines, one object a line, Chinese written as characters (not \\u escapes)."""
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


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


# the keys a question may come under in a test-set file, in order of preference (matched in any case)
QUESTION_KEYS = ("question", "instruction", "prompt", "query", "q", "问题", "input")


def read_questions(path):
    """The questions of a test-set file, in order, as (question, other fields) pairs. A JSON Lines file
    (a .jsonl/.json name, or a first line that starts with "{") gives one question per record, under any
    of QUESTION_KEYS; Alpaca's instruction + input are joined as prepare_sft.py joins them. The record's
    other fields (an id, ...) are returned so they can travel with the answer. Any other file is plain
    text: one question per non-blank line, no other fields. A record without a question is an error naming
    the file and line: skipping it would shift every later answer onto the wrong question."""
    if not os.path.isfile(path):
        raise SystemExit(f"{path} not found")
    text, _, _ = read_text(path)
    lines = text.splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    if not (path.lower().endswith((".jsonl", ".json")) or first.startswith("{")):
        return [(line.strip(), {}) for line in lines if line.strip()]
    questions = []
    for source, record in parse_records(path, text.encode("utf-8")):
        if not isinstance(record, dict):
            raise SystemExit(f"{source}: expected a JSON object with a question, got {type(record).__name__}")
        fields = {str(key).strip().lower(): key for key in record}
        key = next((fields[k] for k in QUESTION_KEYS if k in fields), None)
        question = text_field(record, key) if key is not None else None
        if key == fields.get("instruction") and "input" in fields and question:
            extra = text_field(record, fields["input"])
            question = question + "\n" + extra if extra else question
        if not question:
            raise SystemExit(f"{source}: no question (looked for the keys {', '.join(QUESTION_KEYS)}); "
                             "every line needs one, so that answer N belongs to question N")
        used = {key, fields.get("input") if key == fields.get("instruction") else None}
        questions.append((question, {k: v for k, v in record.items() if k not in used and k.lower() != "answer"}))
    return questions


def complete_lines(path):
    """The complete lines of a file that a run appends to line by line ([] when it does not exist yet). A
    last line cut off by an interruption is removed from the file, so that the next line appended starts
    on a line of its own."""
    if not os.path.isfile(path):
        return []
    with open(path, "rb") as f:
        data = f.read()
    complete = data[:data.rfind(b"\n") + 1]
    if len(complete) < len(data):
        with open(path, "wb") as f:
            f.write(complete)
    return complete.decode("utf-8").splitlines()
