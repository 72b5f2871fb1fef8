"""Answer-quality checks beside Rouge-L: the course accepts answers that are not garbled, not repetitive,
not empty and not cut off. Each check is a small function on the answer's text; answer_quality() runs
them all for one answer and summarize_quality() counts them over many.
"""
import unicodedata

REPLACEMENT_CHAR = "\ufffd"  # what a decoder shows for bytes that form no character: garbled output


def normalize_for_match(text):
    """Text for exact matching: NFKC (full-width -> half-width), lowercased, with every whitespace,
    punctuation and control character removed (Unicode categories Z*, P*, C*; symbols and U+FFFD stay).
    So "郭靖。" matches "郭靖" and "Guo Jing!" matches "guojing"."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text).lower()
                   if unicodedata.category(ch)[0] not in "ZPC")


def exact_match(prediction, reference):
    return normalize_for_match(prediction) == normalize_for_match(reference)


def is_empty(text):
    """Nothing but whitespace."""
    return not text.strip()


def is_garbled(text):
    """Contains U+FFFD, the replacement character a decoder puts where bytes form no character."""
    return REPLACEMENT_CHAR in text


def repeated_ngram_share(text, n=4):
    """Share of the character n-grams of the text (whitespace removed) that repeat an earlier n-gram:
    0.0 for text without any repeated n-gram, close to 1.0 for a loop. Text shorter than n gives 0.0."""
    chars = "".join(text.split())
    ngrams = [chars[i:i + n] for i in range(len(chars) - n + 1)]
    if not ngrams:
        return 0.0
    return 1.0 - len(set(ngrams)) / len(ngrams)


def _is_punctuation_space_or_digits(unit):
    return all(unicodedata.category(ch)[0] in "ZPSC" or ch.isdigit() for ch in unit)


def find_loop(text, min_repeats=3, min_chars=6, max_unit=50):
    """The first unit that is repeated min_repeats or more times back to back, covering at least min_chars
    characters, such as "和西夏公主" in "虚竹和西夏公主和西夏公主和西夏公主" or "哈" in "哈哈哈哈哈哈" (but not
    in "哈哈哈"). Returns the shortest such unit, or "" when there is none. A unit made only of punctuation,
    spaces or digits needs twice the span, 2 * min_chars, so "…………", "！！！！！！" and the zeros of
    "1000000" pass but "《《《《《《《《《《《《" does not.

    For each unit length L, text[i] == text[i + L] for a run of r positions in a row means the text repeats
    with period L over r + L characters, i.e. (r + L) // L copies of the unit: O(len(text) * max_unit)."""
    for unit_len in range(1, min(max_unit, len(text) // min_repeats) + 1):
        run = 0
        for i in range(len(text) - unit_len):
            run = run + 1 if text[i] == text[i + unit_len] else 0
            span = run + unit_len
            if span // unit_len >= min_repeats and span >= min_chars:
                start = i + unit_len - span + 1
                unit = text[start:start + unit_len]
                if span >= 2 * min_chars or not _is_punctuation_space_or_digits(unit):
                    return unit
    return ""


def answer_quality(prediction, reference, stopped=None):
    """All checks for one answer. stopped: True if generation ended at <|endoftext|>, False if
    max_new_tokens cut it, None when unknown (predictions scored from a file without that field)."""
    loop_unit = find_loop(prediction)
    return {
        "exact": exact_match(prediction, reference),
        "stopped": stopped,
        "empty": is_empty(prediction),
        "garbled": is_garbled(prediction),
        "loop": bool(loop_unit),
        "loop_unit": loop_unit,
        "repeat_4gram": repeated_ngram_share(prediction, 4),
        "pred_chars": len(prediction.strip()),
        "ref_chars": len(reference.strip()),
    }


def is_clean(quality):
    """An answer the course accepts: not empty, not garbled, no loop, and not cut by the length limit."""
    return not (quality["empty"] or quality["garbled"] or quality["loop"] or quality["stopped"] is False)


def summarize_quality(qualities):
    """Shares (0..1) of answers with each flag, mean repeated-4-gram share and mean lengths. "stopped" is
    the share among the answers where it is known (None if it is known for none)."""
    n = len(qualities)
    if n == 0:
        return {}
    known_stops = [q["stopped"] for q in qualities if q["stopped"] is not None]
    return {
        "exact": sum(q["exact"] for q in qualities) / n,
        "stopped": sum(known_stops) / len(known_stops) if known_stops else None,
        "empty": sum(q["empty"] for q in qualities) / n,
        "garbled": sum(q["garbled"] for q in qualities) / n,
        "loop": sum(q["loop"] for q in qualities) / n,
        "repeat_4gram": sum(q["repeat_4gram"] for q in qualities) / n,
        "pred_chars": sum(q["pred_chars"] for q in qualities) / n,
        "ref_chars": sum(q["ref_chars"] for q in qualities) / n,
        "clean": sum(is_clean(q) for q in qualities) / n,
    }
