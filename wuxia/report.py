"""Result tables: Markdown for people, CSV for spreadsheets and sweeps. Used by the eval scripts, report.py and
the benchmarks."""
import csv
import os


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
