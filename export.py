"""Export a trained run as a Hugging Face folder that `transformers` loads with its Auto classes and no
custom code: the model (config.json, model.safetensors) and the run's tokenizer (GPT-2's BPE, or the
character vocabulary as a tokenizer.json); or as one GGUF file, which llama.cpp runs (and Ollama and LM
Studio with it), tokenizer included.

    pip install transformers safetensors
    python export.py --out_dir=out/sft --output=hf/
    pip install gguf llama-cpp-python
    python export.py --out_dir=out/sft --format=gguf                  # sft-f16.gguf
    python export.py --out_dir=out/sft --format=gguf --gguf_type=q8_0  # sft-q8_0.gguf: half the size

Each architecture of model.py becomes its transformers twin: "gpt2" a GPT2LMHeadModel (learned positions,
LayerNorm, GELU MLP), "llama" a LlamaForCausalLM (rotary positions, RMSNorm, SwiGLU MLP). The model keeps
its own vocabulary size (50304 for GPT-2 BPE, rounded up for speed) and context length. A checkpoint with
tensors its architecture's twin has no place for is refused with the reason. Before it finishes, the
script loads the folder back with transformers and checks that its logits and tokenizer equal this
project's; a folder that does not is deleted, not left behind half right.

The GGUF file holds the same tensors under llama.cpp's names ("gpt2" and "llama" are llama.cpp
architectures too), the context length, norm and rotary settings, the vocabulary (wuxia/gguf_export.py says
how llama.cpp reads the character vocabulary), and for an SFT run the prompt template as its chat template.
llama.cpp itself (through llama-cpp-python) loads the written file and must give this project's token ids
and, within float16's or q8_0's rounding, its logits; only then does the file get its name.
The Hugging Face folder gets the same chat template, in tokenizer_config.json.
"""
import json
import os
import shutil
import sys

import torch

from model import GPTConfig, swiglu_hidden
from wuxia.checkpoint import CHECKPOINT_CHOICE, checkpoint_path, load_checkpoint, model_from_checkpoint
from wuxia.configurator import configure, explain_machine_errors, one_of
from wuxia.sft_format import format_prompt
from wuxia import tokenizer as wuxia_tokenizer  # as a module: its EOT and UNK strings are no settings

# -----------------------------------------------------------------------------------------------------------
out_dir = "out/sft"           # the run to export
checkpoint = "best"           # "best" (lowest val loss) or "last"
format = "hf"                 # "hf": a Hugging Face folder; "gguf": one GGUF file for llama.cpp
gguf_type = "f16"             # how the GGUF stores its matrices: "f16" (float16) or "q8_0" (8 bits, half the size)
output = ""                   # what to write (replaced if it exists); "": hf/, or <run>-<gguf_type>.gguf
check_text = "郭靖和黄蓉在桃花岛上练武。\n杨过问：“你是谁？”"  # both tokenizers encode it: the ids must agree
# -----------------------------------------------------------------------------------------------------------
sys.excepthook = explain_machine_errors
configure(globals(), sys.argv[1:], rules={"checkpoint": CHECKPOINT_CHOICE, "format": one_of("hf", "gguf"),
                                          "gguf_type": one_of("f16", "q8_0")})
output = output or ("hf/" if format == "hf" else f"{os.path.basename(os.path.normpath(out_dir))}-{gguf_type}.gguf")

if format == "gguf":
    try:
        from wuxia import gguf_export
    except ImportError:
        raise SystemExit("export.py --format=gguf needs the gguf package (llama.cpp's writer) and llama-cpp-python "
                         "(llama.cpp itself, which checks the file): pip install gguf llama-cpp-python")
else:
    try:
        from transformers import (AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel, LlamaConfig,
                                  LlamaForCausalLM, PreTrainedTokenizerFast)
    except ImportError:
        raise SystemExit("export.py needs transformers and safetensors: pip install transformers safetensors")

# per architecture (GPTConfig.arch): the transformers class it becomes, and the GPTConfig options that class
# expresses; a checkpoint with others is exported only if it computes exactly the same (checked below)
HF_CLASS = {"gpt2": "GPT2LMHeadModel", "llama": "LlamaForCausalLM"}
SHARED_ARGS = {"block_size", "vocab_size", "n_layer", "n_head", "n_embd", "dropout", "bias", "arch"}
EXPRESSED_ARGS = {"gpt2": SHARED_ARGS, "llama": SHARED_ARGS | {"rope_theta"}}
# GPT-2's parameter names, per layer, and the nn.Linear layers among them (GPT-2 stores those transposed)
GPT2_LAYER_TENSORS = ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
                      "attn.c_proj.bias", "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
                      "mlp.c_proj.weight", "mlp.c_proj.bias"]
TRANSPOSED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
# Llama's names for this project's per-layer tensors; c_attn and c_fc are split (q, k, v and gate, up)
LLAMA_LAYER_TENSORS = {"ln_1.weight": ["input_layernorm.weight"],
                       "attn.c_attn.weight": ["self_attn.q_proj.weight", "self_attn.k_proj.weight",
                                              "self_attn.v_proj.weight"],
                       "attn.c_proj.weight": ["self_attn.o_proj.weight"],
                       "ln_2.weight": ["post_attention_layernorm.weight"],
                       "mlp.c_fc.weight": ["mlp.gate_proj.weight", "mlp.up_proj.weight"],
                       "mlp.c_proj.weight": ["mlp.down_proj.weight"]}


def refuse(reason):
    if format == "gguf":
        raise SystemExit(f"cannot export {path} as GGUF: {reason}.\nOnly the architectures llama.cpp computes "
                         f"as this project does are exported: {', '.join(HF_CLASS)}.")
    expressed = ", ".join(f"{name} as {HF_CLASS[name]} (options {', '.join(sorted(EXPRESSED_ARGS[name]))})"
                          for name in HF_CLASS)
    raise SystemExit(f"cannot export {path} as {HF_CLASS.get(arch, 'a Hugging Face model')}: {reason}.\n"
                     f"Only architectures with a transformers equivalent that loads without custom code are "
                     f"exported: {expressed}.")


def chat_template():
    """The SFT prompt as a Jinja chat template, for chat front ends (transformers' pipelines, llama.cpp's
    server, Ollama, OpenAI-compatible servers): the last user message asked in format_prompt's layout.
    Earlier turns are left out, as serve.py leaves them out: the model was trained on single questions."""
    marker = "QUESTION"
    before, after = format_prompt(marker).split(marker)
    return ("{%- set last = namespace(question='') -%}"
            "{%- for message in messages -%}"
            "{%- if message['role'] == 'user' -%}{%- set last.question = message['content'] -%}{%- endif -%}"
            "{%- endfor %}" + before + "{{ last.question | trim }}" + after)


def checked_state(state, expected, optional=()):
    """The checkpoint's tensors (float32, without torch.compile's or DDP's prefixes), once sure that they are
    exactly the expected ones: refuses tensors the target has no place for, and ones it needs that are missing
    (those in optional may be missing)."""
    state = {k.removeprefix("_orig_mod.").removeprefix("module."): v.float() for k, v in state.items()}
    unknown = sorted(set(state) - set(expected))
    if unknown:
        refuse(f"it has tensors {target} has no place for: {', '.join(unknown[:6])}"
               + (" ..." if len(unknown) > 6 else ""))
    missing = [k for k in expected if k not in state and k not in optional]
    if missing:
        refuse(f"it lacks tensors {target} needs: {', '.join(missing[:6])}" +
               (" (no learned positions: rotary embeddings?)" if "transformer.wpe.weight" in missing else ""))
    return state


def gpt2_state_dict(state, n_layer, conv1d=True):
    """This project's tensors under GPT-2's names. A model trained with bias=False gets zero biases, which
    compute the same thing. conv1d: the linear layers transposed, as Hugging Face's GPT-2 stores them (llama.cpp
    stores them as nn.Linear does)."""
    expected = ["transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight",
                "transformer.ln_f.bias", "lm_head.weight"]
    expected += [f"transformer.h.{i}.{name}" for i in range(n_layer) for name in GPT2_LAYER_TENSORS]
    state = checked_state(state, expected, optional=[k for k in expected if k.endswith(".bias")])
    exported = {}
    for key in expected:
        if key.endswith(".bias") and key not in state:
            weight = state[key.removesuffix(".bias") + ".weight"]
            exported[key] = torch.zeros(weight.size(0) if weight.dim() == 2 else weight.numel())
        elif conv1d and key.endswith(TRANSPOSED):
            exported[key] = state[key].t().contiguous()
        else:
            exported[key] = state[key]
    return exported


def llama_state_dict(state, n_layer, n_embd):
    """This project's tensors under Llama's names. nn.Linear weights are stored as Llama stores them
    (out_features, in_features); c_attn's rows are [q | k | v] and c_fc's [gate | up], split into Llama's
    separate projections."""
    renamed = {"transformer.wte.weight": ["model.embed_tokens.weight"], "lm_head.weight": ["lm_head.weight"],
               "transformer.ln_f.weight": ["model.norm.weight"]}
    for i in range(n_layer):
        renamed.update({f"transformer.h.{i}.{ours}": [f"model.layers.{i}.{name}" for name in theirs]
                        for ours, theirs in LLAMA_LAYER_TENSORS.items()})
    state = checked_state(state, list(renamed))
    exported = {}
    for key, names in renamed.items():
        rows = n_embd if key.endswith("c_attn.weight") else swiglu_hidden(n_embd)
        parts = state[key].split(rows, dim=0) if len(names) > 1 else [state[key]]
        exported.update({name: part.contiguous() for name, part in zip(names, parts, strict=True)})
    return exported


def export_tokenizer(tokenizer, block_size, template, folder):
    """A tokenizer.json that transformers' AutoTokenizer loads as a fast tokenizer. GPT-2 BPE: GPT-2's own
    vocabulary and merges (the files this project encodes with), byte-level. Character vocabulary: one token
    per character, <unk> for the others. <|endoftext|> is the special end token of both. template: the chat
    template for tokenizer_config.json (None: none)."""
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
    if template:
        tokenizer_config["chat_template"] = template
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(tokenizer_config, f, ensure_ascii=False, indent=1)


# -----------------------------------------------------------------------------------------------------------
path = checkpoint_path(out_dir, checkpoint)
ckpt = load_checkpoint(path)
args = {"rope_theta": GPTConfig.rope_theta, **ckpt["model_args"]}  # checkpoints from before rope_theta
arch = args.get("arch", "gpt2")  # checkpoints from before GPTConfig.arch are gpt2
if arch not in HF_CLASS:
    refuse(f"its architecture {arch!r} is unknown to export.py")
target = HF_CLASS[arch] if format == "hf" else f"llama.cpp's {arch}"  # what refusals name
tokenizer = wuxia_tokenizer.tokenizer_from_meta(ckpt["tokenizer"])
sft = ckpt.get("data_kind") == "sft"
template = chat_template() if sft else None  # a pretrained model continues text: no chat
if arch == "gpt2":
    state = gpt2_state_dict(ckpt["model"], args["n_layer"], conv1d=format == "hf")
else:
    state = llama_state_dict(ckpt["model"], args["n_layer"], args["n_embd"])

# what the export is checked against: this project's ids and logits for the check text
ours = model_from_checkpoint(ckpt).eval()
ids = tokenizer.encode(check_text)[:args["block_size"]]
with torch.no_grad():
    x = torch.tensor([ids])
    expected_logits, _ = ours(x, targets=x)  # with targets the model returns every position's logits
n_parameters = sum(p.numel() for p in ours.parameters())


def export_gguf():
    try:
        vocab = gguf_export.vocabulary(tokenizer, args["vocab_size"])
    except ValueError as problem:
        refuse(str(problem))
    tensors = gguf_export.gguf_tensors(state, arch, args["n_layer"], args["n_head"])
    name = os.path.basename(os.path.normpath(out_dir))
    problems, difference = gguf_export.write_checked(output, args, tensors, vocab, gguf_type, template, name,
                                                     ids, expected_logits[0], check_text)
    if problems:
        refuse("the file was deleted, because " + "; ".join(problems))
    print(f"exported {path} ({n_parameters / 1e6:.2f}M parameters, {tokenizer.name} tokenizer) to {output} as a "
          f"{arch} GGUF ({gguf_type}, {os.path.getsize(output) / 1e6:.1f} MB"
          f"{', with the SFT chat template' if template else ''}); llama.cpp's token ids equal this project's, "
          f"its logits within {difference:.2%} of the largest")


def export_hf():
    shared = dict(vocab_size=args["vocab_size"], bos_token_id=tokenizer.eot_id, eos_token_id=tokenizer.eot_id,
                  pad_token_id=tokenizer.eot_id)
    if arch == "gpt2":
        config = GPT2Config(n_positions=args["block_size"], n_embd=args["n_embd"], n_layer=args["n_layer"],
                            n_head=args["n_head"],
                            activation_function="gelu",  # the exact GELU, as nn.GELU (gelu_new is the tanh approximation)
                            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, layer_norm_epsilon=1e-5,
                            tie_word_embeddings=torch.equal(state["transformer.wte.weight"], state["lm_head.weight"]),
                            **shared)
        hf_model = GPT2LMHeadModel(config)
    else:
        config = LlamaConfig(hidden_size=args["n_embd"], intermediate_size=swiglu_hidden(args["n_embd"]),
                             num_hidden_layers=args["n_layer"], num_attention_heads=args["n_head"],
                             num_key_value_heads=args["n_head"], head_dim=args["n_embd"] // args["n_head"],
                             max_position_embeddings=args["block_size"], hidden_act="silu",
                             rms_norm_eps=torch.finfo(torch.float32).eps,  # nn.RMSNorm's default for float32
                             rope_theta=args["rope_theta"], attention_bias=False, mlp_bias=False,
                             attention_dropout=0.0, tie_word_embeddings=True,  # model.py always ties them
                             **shared)
        config.rope_theta = args["rope_theta"]  # also at the top of config.json, where transformers 4 and converters read it
        hf_model = LlamaForCausalLM(config)
    hf_model.load_state_dict(state, strict=False)  # not strict: releases differ in buffers; the logits are checked below
    hf_model.eval()

    if os.path.exists(output):
        shutil.rmtree(output)
    hf_model.save_pretrained(output)
    export_tokenizer(tokenizer, args["block_size"], template, output)
    with open(os.path.join(output, "wuxia.json"), "w", encoding="utf-8") as f:
        json.dump({"exported_from": path, "data_kind": ckpt.get("data_kind"), "iter_num": ckpt.get("iter_num"),
                   "tokenizer": tokenizer.name, "prompt_template": format_prompt("{question}") if sft else None},
                  f, ensure_ascii=False, indent=1)

    # the check: what transformers loads from the folder computes what this project's model computes
    loaded = AutoModelForCausalLM.from_pretrained(output).eval()
    loaded_tokenizer = AutoTokenizer.from_pretrained(output)
    with torch.no_grad():
        got_logits = loaded(torch.tensor([ids])).logits
    problems = []
    # rounding differs between the two implementations (Llama's rotary angles, for one, are rounded otherwise)
    # and grows with the size of the activations; a wrong tensor mapping is off by the size of the logits themselves
    difference = (got_logits - expected_logits).abs().max()
    if difference > 1e-4 * max(1.0, expected_logits.abs().max()):
        other = sorted(set(args) - EXPRESSED_ARGS[arch])
        problems.append(f"its logits differ from this project's by up to {difference:.2e}"
                        + (f" (the model was built with options {HF_CLASS[arch]} does not have: {', '.join(other)})"
                           if other else ""))
    if loaded_tokenizer(check_text)["input_ids"] != tokenizer.encode(check_text):
        problems.append("its tokenizer encodes the check text differently")
    if template:
        question = check_text.splitlines()[0]
        asked = loaded_tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                                     add_generation_prompt=True)
        if asked != format_prompt(question):
            problems.append(f"its chat template asks {asked!r}, this project {format_prompt(question)!r}")
    if problems:
        shutil.rmtree(output)
        refuse("the exported folder was deleted, because " + "; ".join(problems))
    print(f"exported {path} ({n_parameters / 1e6:.2f}M parameters, {tokenizer.name} tokenizer) to {output} as "
          f"{HF_CLASS[arch]}; transformers' logits equal this project's (max difference {difference:.1e})")


if format == "gguf":
    export_gguf()
else:
    export_hf()
