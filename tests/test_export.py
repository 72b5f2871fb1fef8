"""export.py: a run exported as a Hugging Face folder loads with transformers' Auto classes (no custom code)
and decodes greedily the same tokens as sample.py, for both architectures (gpt2 as GPT2LMHeadModel, llama as
LlamaForCausalLM); tensors the target architecture cannot express are refused.

Tiny random models, with the character tokenizer and with GPT-2's BPE, saved as real checkpoints.
Their weights are scaled up so that the next token's logits are far apart: greedy decoding then does not
hinge on rounding differences between two implementations of the same arithmetic.
"""
import os
from dataclasses import asdict

import pytest
import torch

from conftest import run
from model import GPT, GPTConfig
from wuxia.checkpoint import BEST, save_checkpoint
from wuxia.generate import encode_input, generate
from wuxia.tokenizer import CharTokenizer, GPT2Tokenizer

transformers = pytest.importorskip("transformers")

QUESTION = "郭靖的师父是谁？"
NEW_TOKENS = 30


def make_run(folder, tokenizer, bias=True, arch="gpt2", scale=8):
    config = GPTConfig(block_size=64, vocab_size=50304 if tokenizer.name == "gpt2" else tokenizer.vocab_size,
                       n_layer=2, n_head=2, n_embd=32, bias=bias, arch=arch, rope_theta=500.0)
    torch.manual_seed(0)
    model = GPT(config)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    save_checkpoint({"model": model.state_dict(), "model_args": asdict(config), "tokenizer": tokenizer.to_meta(),
                     "data_kind": "sft", "dataset": "", "iter_num": 0}, os.path.join(folder, BEST))
    model.eval()
    return model


@pytest.mark.parametrize("kind, arch, hf_class", [("char", "gpt2", "GPT2LMHeadModel"),
                                                  ("gpt2", "gpt2", "GPT2LMHeadModel"),
                                                  ("char", "llama", "LlamaForCausalLM"),
                                                  ("gpt2", "llama", "LlamaForCausalLM")])
def test_export_round_trip_greedy_tokens_equal(tmp_path, kind, arch, hf_class):
    tokenizer = (CharTokenizer.from_texts(["问答：郭靖黄蓉杨过小龙女的师父是谁？。，\n"]) if kind == "char"
                 else GPT2Tokenizer())
    model = make_run(tmp_path / "run", tokenizer, bias=kind == "char", arch=arch)
    result = run("export.py", f"--out_dir={tmp_path / 'run'}", f"--output={tmp_path / 'hf'}")
    assert f"as {hf_class}; transformers' logits equal this project's" in result.stdout
    names = set(os.listdir(tmp_path / "hf"))
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names

    hf_model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert type(hf_model).__name__ == hf_class
    prompt = f"问：{QUESTION}\n答："
    prompt_ids = encode_input(tokenizer, QUESTION, sft=True)
    assert hf_tokenizer(prompt)["input_ids"] == prompt_ids
    ours, _ = generate(model, [prompt_ids], NEW_TOKENS, tokenizer.eot_id, temperature=0, repetition_penalty=1.0)
    with torch.no_grad():
        hf_ids = hf_model.generate(torch.tensor([prompt_ids]), max_new_tokens=NEW_TOKENS, do_sample=False,
                                   eos_token_id=tokenizer.eot_id, pad_token_id=tokenizer.eot_id)
    theirs = hf_ids[0, len(prompt_ids):].tolist()
    theirs = theirs[:theirs.index(tokenizer.eot_id)] if tokenizer.eot_id in theirs else theirs
    assert len(ours[0]) >= 10 and theirs == ours[0]
    assert hf_tokenizer.decode(theirs, skip_special_tokens=True) == tokenizer.decode(ours[0])

    if kind == "char":  # and what sample.py itself prints for the question, decoded by transformers
        run("sample.py", f"--out_dir={tmp_path / 'run'}", f"--start={QUESTION}", "--num_samples=1",
            "--temperature=0", "--repetition_penalty=1.0", f"--max_new_tokens={NEW_TOKENS}", "--dtype=float32")
        sample = (tmp_path / "run" / "samples.txt").read_text(encoding="utf-8")
        assert f"{prompt}{hf_tokenizer.decode(theirs, skip_special_tokens=True)}" in sample


def test_export_refuses_an_architecture_gpt2_lacks(tmp_path):
    """A model without learned positions (as with rotary embeddings) has no GPT-2 equivalent: a clear refusal,
    and no folder left behind."""
    tokenizer = CharTokenizer.from_texts(["郭靖黄蓉"])
    make_run(tmp_path / "run", tokenizer)
    path = tmp_path / "run" / BEST
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint["model"]["transformer.wpe.weight"]
    checkpoint["model_args"]["rotary"] = True
    save_checkpoint(checkpoint, str(path))
    result = run("export.py", f"--out_dir={tmp_path / 'run'}", f"--output={tmp_path / 'hf'}", check=False)
    assert result.returncode != 0
    assert "cannot export" in result.stderr and "transformer.wpe.weight" in result.stderr
    assert not (tmp_path / "hf").exists()


def test_export_refuses_a_tensor_llama_lacks(tmp_path):
    """A llama checkpoint with a tensor LlamaForCausalLM has no place for (here learned positions) is refused."""
    tokenizer = CharTokenizer.from_texts(["郭靖黄蓉"])
    make_run(tmp_path / "run", tokenizer, arch="llama")
    path = tmp_path / "run" / BEST
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["model"]["transformer.wpe.weight"] = torch.zeros(64, 32)
    save_checkpoint(checkpoint, str(path))
    result = run("export.py", f"--out_dir={tmp_path / 'run'}", f"--output={tmp_path / 'hf'}", check=False)
    assert result.returncode != 0
    assert "LlamaForCausalLM has no place for: transformer.wpe.weight" in result.stderr
    assert not (tmp_path / "hf").exists()
