"""Reading real novel files: find them, detect their encoding, decode them without crashing, and clean the
text into one paragraph per line.

Real files are messy: UTF-8 with or without a BOM, GB18030/GBK (old ones with a few undecodable bytes),
Big5, UTF-16; CRLF, LF and stray \\r\\r\\n mixed in one file; whole chapters on one line with paragraphs
marked only by two full-width spaces; website ads on the first lines. Everything here is a pure function
of its arguments, so each step can be tested on its own.
"""
import codecs
import glob
import hashlib
import json
import os
import re
import unicodedata
from functools import lru_cache

import numpy as np

# (BOM, label, codec); UTF-32's little-endian BOM starts with UTF-16's, so UTF-32 is checked first
BOMS = [
    (codecs.BOM_UTF32_LE, "utf-32", "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32", "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16", "utf-16-be"),
]
# encodings tried when a file has no BOM and is not valid UTF-8, in order of preference on a tie.
# GB18030 is a superset of GBK and GB2312; cp950 is Big5 as Windows (and most Big5 novel files) write it.
CANDIDATES = [("utf-8", "utf-8"), ("gb18030", "gb18030"), ("big5", "cp950"),
              ("utf-16-le", "utf-16-le"), ("utf-16-be", "utf-16-be")]
DETECT_SAMPLE_BYTES = 1 << 18  # candidates are scored on the first 256 KiB, then the winner decodes it all

_ESCAPE_HANDLER = "wuxia.escape_bytes"
_ESCAPED_BYTES = re.compile("[\udc00-\udcff]+")  # where _escape_bytes put undecodable bytes


def _escape_bytes(error):
    """Decoding error handler: each undecodable byte b becomes the lone surrogate U+DC00+b. No codec ever
    decodes to a lone surrogate, so afterwards the replaced bytes can be counted exactly."""
    bad = error.object[error.start:error.end]
    return "".join(chr(0xDC00 + b) for b in bad), error.end


def _decode_escaping(data, codec):
    codecs.register_error(_ESCAPE_HANDLER, _escape_bytes)  # idempotent; done here, not on import
    return data.decode(codec, errors=_ESCAPE_HANDLER)


@lru_cache(maxsize=1)
def _common_codepoints():
    """Sorted code points of characters that real Chinese text is mostly made of: the 3755 level-1 hanzi of
    GB2312, the 5401 common hanzi of Big5, ASCII, and Chinese punctuation. A wrong decoding (Big5 bytes
    read as GBK, UTF-8 bytes read as UTF-16, ...) decodes "without error" into rare characters instead."""
    chars = set(chr(c) for c in range(0x20, 0x7F)) | set("\t\n\r")
    chars |= set(chr(c) for c in range(0x3000, 0x3012))  # 　、。〃〄々〆〇〈〉《》「」『』【】
    chars |= set(chr(c) for c in range(0xFF01, 0xFF5F))  # full-width ！＂＃ ... ，．：；？ ... ～
    chars |= set("—…‘’“”·")
    for lead in range(0xB0, 0xD8):  # GB2312 level 1
        for trail in range(0xA1, 0xFF):
            chars.update(bytes([lead, trail]).decode("gb2312", errors="ignore"))
    for lead in range(0xA4, 0xC7):  # Big5 common characters, 0xA440-0xC67E
        for trail in list(range(0x40, 0x7F)) + list(range(0xA1, 0xFF)):
            if (lead, trail) <= (0xC6, 0x7E):
                chars.update(bytes([lead, trail]).decode("cp950", errors="ignore"))
    return np.array(sorted(ord(c) for c in chars), dtype=np.uint32)


def plausibility(text):
    """How much `text` looks like real (Chinese or English) text: the share of its characters that are
    common ones, minus a penalty for replacement characters (U+FFFD, where bytes could not be decoded).
    Near 1 for a right decoding, far lower for mojibake."""
    if not text:
        return 0.0
    codepoints = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    common = _common_codepoints()
    pos = np.minimum(np.searchsorted(common, codepoints), len(common) - 1)
    n_common = int((common[pos] == codepoints).sum())
    n_replaced = int((codepoints == 0xFFFD).sum())
    return (n_common - 5 * n_replaced) / len(codepoints)


def detect_encoding(data):
    """Returns (label, codec, bom_length) for the bytes of one file.

    A BOM decides. Otherwise valid UTF-8 (with no NUL characters, which would mean UTF-16) is UTF-8.
    Otherwise every candidate decodes a sample and the most plausible text wins: "it decoded without error"
    proves nothing, since GB18030 decodes Big5 bytes into mojibake and UTF-16 decodes almost anything."""
    for bom, label, codec in BOMS:
        if data.startswith(bom):
            return label, codec, len(bom)
    try:
        if "\x00" not in data.decode("utf-8"):
            return "utf-8", "utf-8", 0
    except UnicodeDecodeError:
        pass
    sample = data[:DETECT_SAMPLE_BYTES]
    best = None
    for label, codec in CANDIDATES:
        if codec.startswith("utf-16") and len(data) % 2:
            continue
        score = plausibility(sample.decode(codec, errors="replace"))
        if best is None or score > best[0]:
            best = (score, label, codec)
    return best[1], best[2], 0


# the first bytes of files that are often mistaken for text: (signature, what the file is)
BINARY_SIGNATURES = [(b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
                     (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive (also .docx, .epub)"),
                     (b"\x1f\x8b", "a gzip archive"), (b"7z\xbc\xaf", "a 7-Zip archive"), (b"Rar!", "a RAR archive"),
                     (b"\x7fELF", "a program"), (b"\xd0\xcf\x11\xe0", "an old Word/Excel document"),
                     (b"PK\x05\x06", "an empty ZIP archive")]
# above this share of characters no text holds (controls other than tab, newlines, form feed and escape;
# unassigned, private-use and surrogate code points; undecodable bytes) a file is not text: random bytes
# and programs come out at 15% and more in their best decoding, real novels at 0, a GBK file with a broken
# byte in every short paragraph at a few percent
MAX_NOT_TEXT_SHARE = 0.1


def not_text_share(text):
    """The share of characters of text that no text file holds (see MAX_NOT_TEXT_SHARE)."""
    if not text:
        return 0.0
    bad = sum(1 for ch in text if ch == "\ufffd" or (unicodedata.category(ch) in ("Cc", "Cn", "Co", "Cs")
                                                      and ch not in "\t\n\r\f\x1b"))
    return bad / len(text)


def decode_text(data, source="input"):
    """Decode the bytes of one text or JSON file: the one encoding detection of every script. Returns
    (text, encoding label, replaced_bytes): every run of undecodable bytes becomes one U+FFFD, and
    replaced_bytes counts the bytes that were replaced. A file that is no text (an image, an archive, a
    program, random bytes) is refused with a message naming `source`."""
    for signature, what in BINARY_SIGNATURES:
        if data.startswith(signature):
            raise SystemExit(f"{source} is not a text file: it is {what}")
    label, codec, bom_length = detect_encoding(data)
    text = _decode_escaping(data[bom_length:], codec)
    replaced_bytes = sum(len(run) for run in _ESCAPED_BYTES.findall(text))
    if replaced_bytes:
        text = _ESCAPED_BYTES.sub("\ufffd", text)
    share = not_text_share(text[:1 << 16])
    if share > MAX_NOT_TEXT_SHARE:
        raise SystemExit(f"{source} is not a text file: {100 * share:.0f}% of its first characters are control "
                         f"characters, no character at all, or bytes that no encoding tried could read (best: {label})")
    return text, label, replaced_bytes


def read_text(path):
    """(text, encoding label, replaced_bytes) of a text file, decoded as decode_text does."""
    with open(path, "rb") as f:
        data = f.read()
    return decode_text(data, path)


# Mojibake: text decoded with the wrong codec somewhere upstream and saved that way, e.g. UTF-8 bytes read
# as GBK: "八名?缸犹Я肆骄吆谄岬墓啄". Such a span is dense in characters that real text rarely uses (rare
# hanzi, kana, symbols, full-width Latin letters, '?' where a byte was lost). Real text has them one or two
# at a time (a rare name, a stray '?'), or one character repeated (an onomatopoeia, "嗒嗒嗒、嗒嗒嗒").
MOJIBAKE_GAP = 6          # suspicious characters at most this far apart belong to one span
MOJIBAKE_MIN_CHARS = 6    # a span has at least this many suspicious characters,
MOJIBAKE_MIN_DISTINCT = 5  # at least this many different ones,
MOJIBAKE_DENSITY = 0.25   # and they are at least this share of the span


@lru_cache(maxsize=1)
def _suspicious():
    """A regex for one suspicious character: any but the common ones, and full-width Latin letters and '?'
    (which mojibake is full of) count as suspicious too. A regex runs the scan in C: 10x a Python loop."""
    plain = set(_common_codepoints().tolist()) - set(range(0xFF21, 0xFF3B)) - set(range(0xFF41, 0xFF5B))
    return re.compile("[^" + "".join(re.escape(chr(c)) for c in sorted(plain - {ord("?")})) + "]")


def find_mojibake(paragraph):
    """The mojibake spans of a paragraph, as (start, end) offsets; [] for clean text."""
    suspicious = [match.start() for match in _suspicious().finditer(paragraph)]
    spans, first = [], 0
    while first < len(suspicious):
        last = first
        while last + 1 < len(suspicious) and suspicious[last + 1] - suspicious[last] <= MOJIBAKE_GAP:
            last += 1
        start, end, count = suspicious[first], suspicious[last] + 1, last - first + 1
        distinct = len({paragraph[i] for i in suspicious[first:last + 1]})
        if count >= MOJIBAKE_MIN_CHARS and distinct >= MOJIBAKE_MIN_DISTINCT and count >= MOJIBAKE_DENSITY * (end - start):
            spans.append((start, end))
        first = last + 1
    return spans


# GBK files whose indentation was written as 0xA0 bytes (no-break spaces of another code page): GBK reads
# each pair as 牋, and a lone last one as '?' or an undecodable byte (with the '?' after it). Two or more 牋
# (or one before '?') are such an indentation, never the rare character 牋 (a letter paper) itself.
_BROKEN_GBK_SPACES = re.compile("(?:牋{2,}|牋(?=[?\ufffd]))[?\ufffd]{0,2}")


def repair_gbk_spaces(text):
    """(text with every broken GBK indentation made two full-width spaces, number of repairs)."""
    if "牋" not in text:  # the usual case, found at memchr speed
        return text, 0
    return _BROKEN_GBK_SPACES.subn("\u3000\u3000", text)


# two or more full-width spaces inside a line mark a paragraph start (a whole chapter on one line)
_PARAGRAPH_MARK = re.compile("[ \t]*\u3000{2,}")
# invisible characters that carry no text: BOMs in the middle of a file (from concatenated files), controls
_INVISIBLE = re.compile("[\ufeff\u200b\x00-\x08\x0e-\x1b\x7f]")


def paragraphs(text):
    """Split decoded text into clean paragraphs: any line ending (CRLF, LF, CR, stray \\r\\r\\n), a run of
    full-width spaces inside a line, indentation (full-width or ASCII spaces) stripped, empty ones gone."""
    result = []
    for line in _INVISIBLE.sub("", text).splitlines():
        for piece in _PARAGRAPH_MARK.split(line):
            piece = piece.strip()  # str.strip() also removes full-width spaces (U+3000) and U+00A0
            if piece:
                result.append(piece)
    return result


def clean_text(text, drop_pattern=None, convert=None, join_paragraphs=False, keep_mojibake=False):
    """Decoded text -> (cleaned text, report). The report counts paragraphs (kept), dropped (by
    drop_pattern), repaired_spaces (broken GBK indentation), mojibake_spans, mojibake_paragraphs (dropped
    for holding mojibake, unless keep_mojibake) and gives mojibake_examples (the first three spans).

    drop_pattern: a compiled regex; paragraphs it matches (re.search, on the paragraph as it is in the file,
    before conversion) are dropped, e.g. a website ad. convert: a function applied to the text, e.g.
    traditional -> simplified. The result is one paragraph per line, or (join_paragraphs) all paragraphs
    run together with no newline at all, as the course's students did."""
    text, repaired = repair_gbk_spaces(text)
    kept = paragraphs(text)
    report = {"repaired_spaces": repaired, "dropped": 0, "mojibake_spans": 0, "mojibake_paragraphs": 0,
              "mojibake_examples": []}
    if drop_pattern is not None:
        n_before = len(kept)
        kept = [p for p in kept if not drop_pattern.search(p)]
        report["dropped"] = n_before - len(kept)
    clean = []
    for paragraph in kept:
        spans = find_mojibake(paragraph)
        if spans:
            report["mojibake_spans"] += len(spans)
            report["mojibake_paragraphs"] += 1
            report["mojibake_examples"] += [paragraph[start:end] for start, end in spans][:3 - len(report["mojibake_examples"])]
        if keep_mojibake or not spans:
            clean.append(paragraph)
    if not keep_mojibake:
        report["dropped"] += report["mojibake_paragraphs"]
    report["paragraphs"] = len(clean)
    cleaned = ("" if join_paragraphs else "\n").join(clean)
    if convert is not None:
        cleaned = convert(cleaned)
    return cleaned, report


@lru_cache(maxsize=None)
def t2s_converter():
    """Traditional -> simplified Chinese with OpenCC, as a function of a string (built once: loading its
    dictionaries takes a moment)."""
    try:
        import opencc
    except ImportError:
        raise SystemExit("converting traditional to simplified Chinese needs OpenCC for Python: pip install opencc")
    return opencc.OpenCC("t2s").convert


def split_train_val(text, val_fraction):
    """Split one document (a book, an article) into (train, val): val is the last val_fraction of its
    characters, never empty for a document of 2+ characters. The cut moves back to the end of a paragraph,
    or else of a sentence, when one is near: at most half a val part back, so val keeps between 1 and 1.5
    times its share also in a short article of a few paragraphs."""
    cut = min(int(len(text) * (1 - val_fraction)), len(text) - 1)
    nearest = cut - len(text) * val_fraction / 2
    newline = text.rfind("\n", 0, cut)
    sentence_end = max(text.rfind(mark, 0, cut) for mark in "。！？!?")
    if newline >= max(nearest, cut // 2):
        cut = newline + 1
    elif sentence_end >= nearest and sentence_end + 1 < len(text):
        cut = sentence_end + 1
    return text[:cut], text[cut:]


# places where GPT-2's pre-tokenizer always starts a new token: after a newline between two non-space
# characters (a run of whitespace can be one pre-token), and between Chinese punctuation and a CJK
# ideograph (punctuation and letters never share a pre-token)
_SAFE_CUT = re.compile("(?<=\\S\n)(?=\\S)|(?<=[。！？，；：、”」』])(?=[\u4e00-\u9fff])")


def pieces_for_encoding(text, target_chars=1 << 16):
    """Cut text into pieces of about target_chars at places where BPE never merges across, so encoding the
    pieces separately (in parallel) gives exactly the tokens of encoding the whole text."""
    pieces = []
    start = 0
    while start < len(text):
        match = _SAFE_CUT.search(text, start + target_chars) if start + target_chars < len(text) else None
        end = match.start() if match else len(text)
        pieces.append(text[start:end])
        start = end
    return pieces


def find_input_files(patterns, setting="--input", extensions=(".txt",)):
    """Files named by a list of paths, folders (every file inside, recursively, whose name ends with one of
    extensions, in any case) and glob patterns, in the order given, each once. A pattern that matches no
    file is an error naming it (and the setting it came from), as is a list that names nothing."""
    files, unmatched = [], []
    for pattern in patterns:
        if os.path.isdir(pattern):
            found = sorted(p for p in glob.glob(os.path.join(pattern, "**", "*"), recursive=True)
                           if p.lower().endswith(extensions) and os.path.isfile(p))
        elif os.path.isfile(pattern):
            found = [pattern]
        else:
            found = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        if not found:
            in_folder = f" (a folder with no {'/'.join(extensions)} file)" if os.path.isdir(pattern) else ""
            unmatched.append(pattern + in_folder)
        files += [f for f in found if f not in files]
    if unmatched:
        raise SystemExit(f"{setting}: nothing found for {', '.join(unmatched)} (from {os.getcwd()})")
    if not files:
        raise SystemExit(f"{setting}: no files named")
    return files


_LONE_SURROGATES = re.compile("[\ud800-\udfff]")  # JSON may escape them ("\\ud800"); they are no characters


def is_jsonl(path):
    return path.lower().endswith(".jsonl")


def read_documents(path, stats):
    """The documents of one input file, one decoded text at a time: a .txt file is one document (a book,
    its encoding detected); a .jsonl file holds one article per line, its "text" field a document (other
    fields, such as id, url and title, are ignored). A JSON Lines file is read line by line, so its size
    does not matter. A file that is no text is refused (decode_text). Fills stats with the file's encoding, bytes, sha256, replaced_bytes, and for JSON Lines
    skipped_records (lines without a text) and first_skipped (the first such line's number)."""
    digest = hashlib.sha256()
    stats.update(bytes=0, replaced_bytes=0)
    if not is_jsonl(path):
        with open(path, "rb") as f:
            data = f.read()
        digest.update(data)
        text, stats["encoding"], stats["replaced_bytes"] = decode_text(data, path)
        stats.update(bytes=len(data), sha256=digest.hexdigest())
        yield text
        return
    stats.update(encoding="utf-8 (JSON Lines)", skipped_records=0, first_skipped=None)
    with open(path, "rb") as f:
        for line_no, line in enumerate(f, start=1):
            digest.update(line)
            stats["bytes"] += len(line)
            if line_no == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8):]
            if not line.strip():
                continue
            decoded = _decode_escaping(line, "utf-8")
            bad_bytes = sum(len(run) for run in _ESCAPED_BYTES.findall(decoded))
            try:
                record = json.loads(_ESCAPED_BYTES.sub("\ufffd", decoded))
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{line_no}: invalid JSON: {e.msg} (column {e.colno}). Each line of a .jsonl "
                                 "file must hold one whole JSON object, such as {\"text\": \"...\"}. Fix the line "
                                 "(or delete it) and run again.")
            text = record.get("text") if isinstance(record, dict) else None
            if not isinstance(text, str):
                stats["skipped_records"] += 1
                stats["first_skipped"] = stats["first_skipped"] or line_no
                continue
            stats["replaced_bytes"] += bad_bytes + len(_LONE_SURROGATES.findall(text))
            yield _LONE_SURROGATES.sub("\ufffd", text)
    stats["sha256"] = digest.hexdigest()


def cleaned_documents(patterns, setting="--input"):
    """(source, cleaned text) of every document of the files that patterns name (as find_input_files), read
    and cleaned as prepare.py does by default: for tools that read the user's novels themselves (the
    knowledge test, the memorisation audit). source is the file name, plus #N for a JSON Lines article."""
    for path in find_input_files(patterns, setting, extensions=(".txt", ".jsonl")):
        for number, text in enumerate(read_documents(path, {})):
            yield os.path.basename(path) + (f"#{number}" if is_jsonl(path) else ""), clean_text(text)[0]
