"""export.py --format=gguf: llama.cpp itself (through llama-cpp-python) loads the file, its tokenizer gives
this project's ids, and its greedy decoding gives the tokens this project's generate gives (sample.py's
path), for both architectures and both vocabularies, in float16 and q8_0; the chat template asks as the SFT
prompt does; what GGUF cannot hold is refused with the reason, and a file that fails its check is not left
behind.

The tiny runs are test_export's, with their random weights as initialized: test_export scales them up, which
makes the next token's logits far apart but also makes the model amplify small differences layer by layer
(llama.cpp rounds activations to float16 in its matrix products), and greedy decoding depends on how the
logits compare, not on their scale. Unscaled, llama.cpp's logits are within 0.03% (float16) and 0.7% (q8_0)
of the largest.
"""
import os

import jinja2
import pytest
import torch

from conftest import run_here
from test_export import QUESTION, make_run
from wuxia import gguf_export
from wuxia.checkpoint import BEST, save_checkpoint
from wuxia.generate import encode_input, generate
from wuxia.sft_format import format_prompt
from wuxia.tokenizer import CharTokenizer, GPT2Tokenizer

NEW_TOKENS = 30
VOCABULARY_TEXT = "问答：郭靖黄蓉杨过小龙女的师父是谁？。，\n 龘abc"


def char_tokenizer():
    return CharTokenizer.from_texts([VOCABULARY_TEXT])


def export(run_dir, output, *options, check=True):
    result = run_here("export.py", f"--out_dir={run_dir}", "--format=gguf", f"--output={output}", *options)
    assert result.returncode == 0 or not check, result.stderr
    return result


def llama_cpp_greedy(llm, prompt_ids, eot_id, max_new_tokens):
    """llama.cpp's own greedy sampler (temperature 0, no repetition penalty), up to <|endoftext|>."""
    tokens = []
    for token in llm.generate(prompt_ids, temp=0.0, repeat_penalty=1.0, reset=True):
        if token == eot_id or len(tokens) == max_new_tokens:
            break
        tokens.append(token)
    return tokens


@pytest.mark.parametrize("kind, arch, gguf_type", [("char", "llama", "f16"), ("char", "llama", "q8_0"),
                                                   ("char", "gpt2", "f16"), ("gpt2", "gpt2", "f16"),
                                                   ("gpt2", "gpt2", "q8_0"), ("gpt2", "llama", "f16")])
def test_llama_cpp_greedy_tokens_equal_this_projects(tmp_path, kind, arch, gguf_type):
    tokenizer = char_tokenizer() if kind == "char" else GPT2Tokenizer()
    model = make_run(tmp_path / "run", tokenizer, bias=kind == "char", arch=arch, scale=1)
    output = tmp_path / "model.gguf"
    result = export(tmp_path / "run", output, f"--gguf_type={gguf_type}")
    assert f"as a {arch} GGUF ({gguf_type}" in result.stdout and "with the SFT chat template" in result.stdout
    assert sorted(os.listdir(tmp_path)) == ["model.gguf", "run"]  # and no .partial left

    llm = gguf_export.load_with_llama_cpp(output, n_ctx=64)
    metadata = llm.metadata
    assert llm.n_vocab() == model.config.vocab_size
    assert metadata["general.architecture"] == arch and int(metadata[f"{arch}.context_length"]) == 64
    assert metadata["tokenizer.ggml.model"] == ("t5" if kind == "char" else "gpt2")
    prompt_ids = encode_input(tokenizer, QUESTION, sft=True)
    assert gguf_export.tokenize_with_llama_cpp(llm, format_prompt(QUESTION)) == prompt_ids
    ours, _ = generate(model, [prompt_ids], NEW_TOKENS, tokenizer.eot_id, temperature=0, repetition_penalty=1.0)
    theirs = llama_cpp_greedy(llm, prompt_ids, tokenizer.eot_id, NEW_TOKENS)
    assert len(ours[0]) >= 10 and theirs == ours[0]
    assert llm.detokenize(theirs).decode("utf-8", errors="ignore") == tokenizer.decode(ours[0])
    if arch == "llama":
        assert float(metadata["llama.rope.freq_base"]) == 500.0
    llm.close()


def test_llama_cpp_tokenizes_rare_and_unknown_characters_as_this_project(tmp_path):
    """Characters the vocabulary lacks (a rare CJK one, one beyond the BMP, an emoji, Latin) are <unk>, one
    per character; rare ones it has, spaces, newlines and ASCII are their own ids. The one difference, stated
    in wuxia/gguf_export.py: llama.cpp reads a run of unknown characters as one <unk>."""
    tokenizer = char_tokenizer()
    make_run(tmp_path / "run", tokenizer, arch="llama", scale=1)
    export(tmp_path / "run", tmp_path / "model.gguf")
    llm = gguf_export.load_with_llama_cpp(tmp_path / "model.gguf", n_ctx=64)
    sample = "郭靖问：龘是谁？\n杨过 答：𠀀是a。靐是 b也，😀。c"
    ids = tokenizer.encode(sample)
    assert ids.count(tokenizer.unk_id) == 4  # 𠀀, 靐, 也 and 😀
    assert gguf_export.tokenize_with_llama_cpp(llm, sample) == ids
    assert llm.detokenize(ids).decode("utf-8") == tokenizer.decode(ids)
    run_of_unknowns = "郭𠀀𠀁靖"
    assert tokenizer.encode(run_of_unknowns) == [tokenizer.encode("郭")[0], 1, 1, tokenizer.encode("靖")[0]]
    assert gguf_export.tokenize_with_llama_cpp(llm, run_of_unknowns) == [tokenizer.encode("郭")[0], 1,
                                                                         tokenizer.encode("靖")[0]]
    llm.close()


def test_chat_template_asks_as_the_sft_prompt(tmp_path):
    """The file's chat template, rendered by Jinja as chat front ends render it, gives format_prompt's text
    for the last question; llama-cpp-python's chat completion answers with the greedy tokens."""
    tokenizer = char_tokenizer()
    model = make_run(tmp_path / "run", tokenizer, arch="llama", scale=1)
    export(tmp_path / "run", tmp_path / "model.gguf")
    llm = gguf_export.load_with_llama_cpp(tmp_path / "model.gguf", n_ctx=64)
    template = jinja2.Environment().from_string(llm.metadata["tokenizer.chat_template"])
    messages = [{"role": "system", "content": "你是金庸小说专家。"}, {"role": "user", "content": "乔峰是谁？"},
                {"role": "assistant", "content": "丐帮帮主。"}, {"role": "user", "content": f"  {QUESTION} "}]
    assert template.render(messages=messages, add_generation_prompt=True) == format_prompt(QUESTION)
    prompt_ids = encode_input(tokenizer, QUESTION, sft=True)
    ours, _ = generate(model, [prompt_ids], NEW_TOKENS, tokenizer.eot_id, temperature=0, repetition_penalty=1.0)
    reply = llm.create_chat_completion(messages=messages, temperature=0.0, repeat_penalty=1.0, max_tokens=NEW_TOKENS)
    assert reply["choices"][0]["message"]["content"] == tokenizer.decode(ours[0])
    llm.close()


def test_a_pretrained_run_has_no_chat_template(tmp_path):
    tokenizer = char_tokenizer()
    make_run(tmp_path / "run", tokenizer, arch="llama", scale=1)
    path = tmp_path / "run" / BEST
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["data_kind"] = "pretrain"
    save_checkpoint(checkpoint, str(path))
    result = export(tmp_path / "run", tmp_path / "model.gguf")
    assert "chat template" not in result.stdout
    llm = gguf_export.load_with_llama_cpp(tmp_path / "model.gguf", n_ctx=64)
    assert "tokenizer.chat_template" not in llm.metadata
    llm.close()


def test_refuses_a_tensor_llama_cpp_has_no_place_for(tmp_path):
    make_run(tmp_path / "run", char_tokenizer(), arch="llama")
    path = tmp_path / "run" / BEST
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["model"]["transformer.wpe.weight"] = torch.zeros(64, 32)
    save_checkpoint(checkpoint, str(path))
    result = export(tmp_path / "run", tmp_path / "model.gguf", check=False)
    assert result.returncode != 0
    assert "cannot export" in result.stderr and "llama.cpp's llama has no place for: transformer.wpe.weight" in result.stderr
    assert os.listdir(tmp_path) == ["run"]


def test_refuses_a_vocabulary_llama_cpp_cannot_read(tmp_path):
    """llama.cpp turns spaces into U+2581 before it tokenizes: a vocabulary holding both cannot be told apart."""
    make_run(tmp_path / "run", CharTokenizer.from_texts(["郭靖 黄蓉\u2581"]), arch="llama")
    result = export(tmp_path / "run", tmp_path / "model.gguf", check=False)
    assert result.returncode != 0 and "U+2581" in result.stderr and "space" in result.stderr
    assert os.listdir(tmp_path) == ["run"]


def test_a_file_that_fails_the_check_is_deleted(tmp_path, monkeypatch):
    """Query and key rows left in Hugging Face's order (rotary pairs (i, i + d/2) instead of llama.cpp's
    (2i, 2i + 1)): llama.cpp's logits differ, the file is deleted, and an older file of that name stays."""
    make_run(tmp_path / "run", char_tokenizer(), arch="llama")
    output = tmp_path / "model.gguf"
    output.write_bytes(b"an older export")
    monkeypatch.setattr(gguf_export, "permute_for_rope", lambda weight, n_head: weight)
    result = export(tmp_path / "run", output, check=False)
    assert result.returncode != 0
    assert "the file was deleted, because llama.cpp's logits differ from this project's" in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["model.gguf", "run"] and output.read_bytes() == b"an older export"
