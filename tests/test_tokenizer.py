"""wuxia/tokenizer.py: GPT-2 ids are exactly GPT-2's, both tokenizers round-trip Chinese with punctuation, and
streaming never shows half a character."""
import pytest

from wuxia.tokenizer import CharTokenizer, GPT2Tokenizer, StreamDecoder, tokenizer_from_meta

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
