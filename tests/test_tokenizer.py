"""wuxia/tokenizer.py: GPT-2 ids are exactly GPT-2's, both tokenizers round-trip Chinese with punctuation, and
streaming never shows half a character."""
import pytest

from wuxia.tokenizer import CharTokenizer, GPT2Tokenizer, StreamDecoder, decode_all, tokenizer_from_meta

CHINESE = "郭靖道：“蓉儿，你说什么？”黄蓉笑道：「靖哥哥……」——《射雕英雄传》第1回！Hello, 世界。\n新的一行；完。"


@pytest.fixture(scope="module")
def gpt2():
    return GPT2Tokenizer()


def test_gpt2_ids_are_gpt2s(gpt2):
    # values of OpenAI's GPT-2 vocabulary (as tiktoken's "gpt2" encoding gives them)
    assert gpt2.encode("hello world") == [31373, 995]
    assert gpt2.encode("Hello, world!") == [15496, 11, 995, 0]
    assert gpt2.encode("\n") == [198]
    assert gpt2.eot_id == 50256 and gpt2.vocab_size == 50257
    assert gpt2.encode("<|endoftext|>") != [50256]  # text that looks like the marker is not the marker


def test_gpt2_round_trips_chinese(gpt2):
    ids = gpt2.encode(CHINESE)
    assert gpt2.decode(ids) == CHINESE
    assert len(ids) > len(CHINESE)  # most Chinese characters take 2-3 byte-level tokens
    assert gpt2.decode(ids + [gpt2.eot_id]) == CHINESE  # <|endoftext|> is a marker, not text
    assert gpt2.encode_lines([CHINESE, "第二行"]) == [ids, gpt2.encode("第二行")]


def test_char_round_trips_chinese():
    tokenizer = CharTokenizer.from_texts([CHINESE, "靖靖"])
    assert tokenizer.itos[:3] == ["<|endoftext|>", "<unk>", "靖"]  # 靖 is the most frequent character
    ids = tokenizer.encode(CHINESE)
    assert len(ids) == len(CHINESE) and tokenizer.decode(ids) == CHINESE
    assert tokenizer.encode("靖龘") == [2, tokenizer.unk_id] and tokenizer.count_unknown("靖龘龘") == 2
    rebuilt = tokenizer_from_meta(tokenizer.to_meta())
    assert rebuilt.encode(CHINESE) == ids and rebuilt.vocab_size == tokenizer.vocab_size


def test_char_min_count():
    tokenizer = CharTokenizer.from_texts(["甲甲乙"], min_count=2)
    assert tokenizer.chars == ["甲"] and tokenizer.encode("甲乙") == [2, 1]


@pytest.mark.parametrize("name", ["gpt2", "char"])
def test_stream_decoder_never_shows_half_a_character(gpt2, name):
    text = CHINESE + "😀𠀀"  # 4-byte characters too
    tokenizer = gpt2 if name == "gpt2" else CharTokenizer.from_texts([text])
    stream = StreamDecoder(tokenizer)
    pieces = [stream.push(i) for i in tokenizer.encode(text)]
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)
    if name == "gpt2":
        assert "" in pieces  # some tokens really were partial characters, held back


def test_one_stream_decoder_for_chat_evaluation_and_show(gpt2):
    """Half a character is held back; what is no character is dropped for a reader and marked (U+FFFD) for
    the quality report; a text cut in the middle of a character just loses that half."""
    ids = gpt2.encode("郭靖蓉")
    assert len(gpt2.decode_bytes(ids[-1:])) < 3  # 蓉 is split over two tokens
    stream = StreamDecoder(gpt2)
    pieces = [stream.push(i) for i in ids]
    assert "".join(pieces) == "郭靖蓉" and "\ufffd" not in "".join(pieces)
    lone_lead_byte = next(i for i in range(256) if gpt2.decode_bytes([i]) == b"\xe9")
    space = gpt2.encode(" ")
    assert decode_all(gpt2, ids + [lone_lead_byte] + space) == "郭靖蓉\ufffd "
    assert decode_all(gpt2, ids + [lone_lead_byte] + space, mark_garbled=False) == "郭靖蓉 "
    assert decode_all(gpt2, ids[:-1], complete=False) == "郭靖"
    assert decode_all(gpt2, ids[:-1], complete=True) == "郭靖\ufffd"
    char = CharTokenizer("郭靖")
    assert decode_all(char, [2, char.unk_id, 3]) == "郭\ufffd靖"
    assert decode_all(char, [2, char.unk_id, 3], mark_garbled=False) == "郭靖"
