"""Reading JSON Lines records (question/answer files, prediction files) with errors that name file and line."""
import json
import os


def read_records(path, required, optional=()):
    """One dict per non-blank line of a JSON Lines file, holding the required and optional fields. Keys
    match case-insensitively ("Question" is "question"); a missing optional field is None."""
    if not os.path.isfile(path):
        raise SystemExit(f"{path} not found")
    records = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
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
