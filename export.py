"""Export a trained run as a Hugging Face folder that `transformers` loads with its Auto classes and no
custom code: the model as GPT-2 (config.json, model.safetensors) and the run's tokenizer (GPT-2's BPE, or
the character vocabulary as a tokenizer.json).

    pip install transformers safetensors
    python export.py --out_dir=out/sft --output=hf/

The model keeps its own vocabulary size (50304 for GPT-2 BPE, rounded up for speed) and context length.
Only the classic architecture maps onto GPT-2 (learned positions, LayerNorm, GELU MLP): a checkpoint built
with other options (rotary positions, RMSNorm, ...) is refused with the reason. Before it finishes, the
script loads the folder back with transformers and checks that its logits and tokenizer equal this
project's; a folder that does not is deleted, not left behind half right.
"""
import json
import os
import shutil
import sys

import torch

from wuxia.checkpoint import checkpoint_path, load_checkpoint, model_from_checkpoint
from wuxia.configurator import configure
from wuxia.sft_format import format_prompt
from wuxia import tokenizer as wuxia_tokenizer  # as a module: its EOT and UNK strings are no settings

# -----------------------------------------------------------------------------------------------------------
out_dir = "out/sft"           # the run to export
checkpoint = "best"           # "best" (lowest val loss) or "last"
output = "hf/"                # the Hugging Face folder to write (replaced if it exists)
check_text = "郭靖和黄蓉在桃花岛上练武。\n杨过问：“你是谁？”"  # both tokenizers encode it: the ids must agree
# -----------------------------------------------------------------------------------------------------------
configure(globals(), sys.argv[1:])

try:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
except ImportError:
    raise SystemExit("export.py needs transformers and safetensors: pip install transformers safetensors")

# GPT-2's parameter names, per layer, and the nn.Linear layers among them (GPT-2 stores those transposed)
LAYER_TENSORS = ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
                 "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
                 "mlp.c_proj.weight", "mlp.c_proj.bias"]
TRANSPOSED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
# the GPTConfig options of the classic architecture; a checkpoint with others is exported only if it computes
# exactly what GPT-2 computes (checked below)
CLASSIC_ARGS = {"block_size", "vocab_size", "n_layer", "n_head", "n_embd", "dropout", "bias"}


def refuse(reason):
    classic = ", ".join(sorted(CLASSIC_ARGS))
    raise SystemExit(f"cannot export {path} as GPT-2: {reason}.\nOnly the classic GPT-2 architecture (learned "
                     f"positions, LayerNorm, GELU MLP; options {classic}) has a transformers equivalent that "
                     f"loads without custom code.")


def gpt2_state_dict(state, n_layer, n_embd):
    """This project's tensors under GPT-2's names. A model trained with bias=False gets zero biases, which
    compute the same thing. Refuses tensors GPT-2 has no place for, and GPT-2 tensors the model lacks."""
    state = {k.removeprefix("_orig_mod.").removeprefix("module."): v.float() for k, v in state.items()}
    expected = ["transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight",
                "transformer.ln_f.bias", "lm_head.weight"]
    expected += [f"transformer.h.{i}.{name}" for i in range(n_layer) for name in LAYER_TENSORS]
    unknown = sorted(set(state) - set(expected))
    if unknown:
        refuse(f"it has tensors GPT-2 has no place for: {', '.join(unknown[:6])}"
               + (" ..." if len(unknown) > 6 else ""))
    missing = [k for k in expected if k not in state and not k.endswith(".bias")]
    if missing:
        refuse(f"it lacks tensors GPT-2 needs: {', '.join(missing[:6])}" +
               (" (no learned positions: rotary embeddings?)" if "transformer.wpe.weight" in missing else ""))
    exported = {}
    for key in expected:
        if key.endswith(".bias") and key not in state:
            weight = state[key.removesuffix(".bias") + ".weight"]
            exported[key] = torch.zeros(weight.size(0) if weight.dim() == 2 else weight.numel())
        elif key.endswith(TRANSPOSED):
            exported[key] = state[key].t().contiguous()
        else:
            exported[key] = state[key]
    return exported


def export_tokenizer(tokenizer, block_size, folder):
    """A tokenizer.json that transformers' AutoTokenizer loads as a fast tokenizer. GPT-2 BPE: GPT-2's own
    vocabulary and merges (the files this project encodes with), byte-level. Character vocabulary: one token
    per character, <unk> for the others. <|endoftext|> is the special end token of both."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    if tokenizer.name == "gpt2":
        vocab_bpe, encoder_json = wuxia_tokenizer.gpt2_bpe_files()
        backend = Tokenizer(models.BPE.from_file(encoder_json, vocab_bpe))
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        unk = wuxia_tokenizer.EOT  # byte-level BPE has no unknown text; GPT-2's files name <|endoftext|>
    else:
        vocab = {token: i for i, token in enumerate(tokenizer.itos)}
        backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=wuxia_tokenizer.UNK))
        # every character on its own; (?m) makes Oniguruma's . match a newline too
        backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"(?m)."), behavior="isolated")
        backend.decoder = decoders.Fuse()
        unk = wuxia_tokenizer.UNK
    specials = dict.fromkeys([wuxia_tokenizer.EOT, unk])  # once each: for GPT-2 they are the same token
    backend.add_special_tokens([AddedToken(token, special=True) for token in specials])
    hf = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=wuxia_tokenizer.EOT,
                                 bos_token=wuxia_tokenizer.EOT, unk_token=unk, model_max_length=block_size)
    hf.save_pretrained(folder)
    # the generic class, which every transformers release since 4.x loads from tokenizer.json
    config_path = os.path.join(folder, "tokenizer_config.json")
    with open(config_path, encoding="utf-8") as f:
        tokenizer_config = json.load(f)
    tokenizer_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(tokenizer_config, f, ensure_ascii=False, indent=1)


# -----------------------------------------------------------------------------------------------------------
path = checkpoint_path(out_dir, checkpoint)
ckpt = load_checkpoint(path)
args = ckpt["model_args"]
state = gpt2_state_dict(ckpt["model"], args["n_layer"], args["n_embd"])
tied = torch.equal(state["transformer.wte.weight"], state["lm_head.weight"])
tokenizer = wuxia_tokenizer.tokenizer_from_meta(ckpt["tokenizer"])

config = GPT2Config(vocab_size=args["vocab_size"], n_positions=args["block_size"], n_embd=args["n_embd"],
                    n_layer=args["n_layer"], n_head=args["n_head"],
                    activation_function="gelu",  # the exact GELU, as nn.GELU (gelu_new is the tanh approximation)
                    resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
                    bos_token_id=tokenizer.eot_id, eos_token_id=tokenizer.eot_id, pad_token_id=tokenizer.eot_id,
                    tie_word_embeddings=tied)
hf_model = GPT2LMHeadModel(config)
hf_model.load_state_dict(state, strict=False)  # not strict: releases differ in buffers; the logits are checked below
hf_model.eval()

if os.path.exists(output):
    shutil.rmtree(output)
hf_model.save_pretrained(output)
export_tokenizer(tokenizer, args["block_size"], output)
with open(os.path.join(output, "wuxia.json"), "w", encoding="utf-8") as f:
    sft = ckpt.get("data_kind") == "sft"
    json.dump({"exported_from": path, "data_kind": ckpt.get("data_kind"), "iter_num": ckpt.get("iter_num"),
               "tokenizer": tokenizer.name, "prompt_template": format_prompt("{question}") if sft else None},
              f, ensure_ascii=False, indent=1)

# the check: what transformers loads from the folder computes what this project's model computes
ours = model_from_checkpoint(ckpt).eval()
loaded = AutoModelForCausalLM.from_pretrained(output).eval()
loaded_tokenizer = AutoTokenizer.from_pretrained(output)
ids = tokenizer.encode(check_text)[:args["block_size"]]
with torch.no_grad():
    x = torch.tensor([ids])
    expected_logits, _ = ours(x, targets=x)  # with targets the model returns every position's logits
    got_logits = loaded(x).logits
problems = []
if not torch.allclose(got_logits, expected_logits, atol=1e-4, rtol=1e-4):
    other = sorted(set(args) - CLASSIC_ARGS)
    difference = (got_logits - expected_logits).abs().max()
    problems.append(f"its logits differ from this project's by up to {difference:.2e}"
                    + (f" (the model was built with options GPT-2 does not have: {', '.join(other)})" if other else ""))
if loaded_tokenizer(check_text)["input_ids"] != tokenizer.encode(check_text):
    problems.append("its tokenizer encodes the check text differently")
if problems:
    shutil.rmtree(output)
    refuse("the exported folder was deleted, because " + "; ".join(problems))
print(f"exported {path} ({sum(p.numel() for p in hf_model.parameters()) / 1e6:.2f}M parameters, {tokenizer.name} "
      f"tokenizer) to {output} as GPT2LMHeadModel; transformers' logits equal this project's "
      f"(max difference {(got_logits - expected_logits).abs().max():.1e})")
