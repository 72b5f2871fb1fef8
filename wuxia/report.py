"""Result tables: Markdown for people, CSV for spreadsheets and sweeps. Used by the eval scripts, report.py and
the benchmarks. And how a path is shown to people, so that a report or a page reads the same on every machine."""
import csv
import os

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def shown_path(path):
    """path as people should read it: relative to the project when it lies in it (out/sft), from ~ when it lies
    in the home folder (~/novels), else as given. Links are not followed: out/sft stays out/sft even where it
    links elsewhere."""
    if not path:
        return path
    full, home = os.path.abspath(path), os.path.expanduser("~").rstrip(os.sep)  # a home of / is no home
    if full == PROJECT or full.startswith(PROJECT + os.sep):
        return os.path.relpath(full, PROJECT)
    if home and (full == home or full.startswith(home + os.sep)):
        return "~" + full[len(home):]
    return path


def markdown_table(header, rows):
    """header: column names; rows: lists of cells (formatted as text by the caller)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(csv_path, records, markdown, md_path=None):
    """records (dicts with the same keys) as CSV, and the Markdown text beside it (same name, .md).
    Returns (csv_path, md_path)."""
    md_path = md_path or os.path.splitext(csv_path)[0] + ".md"
    os.makedirs(os.path.dirname(csv_path) or ".", exist_ok=True)
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(markdown.rstrip("\n") + "\n")
    return csv_path, md_path


def read_csv(path):
    """The rows of a CSV table (write_report's, train.py's log.csv) as dicts of text, keyed by its header."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
