"""A run as one GGUF file, the format llama.cpp loads (and with it Ollama, LM Studio and llama-cpp-python),
written with the `gguf` package (llama.cpp's own writer), and checked by llama.cpp itself.

Tensors: export.py maps this project's tensors to Hugging Face's names once, for both of its formats; here
they get llama.cpp's names from the gguf package's table, as llama.cpp's converter gives them. Two changes
of layout: GPT-2's linear layers are stored as nn.Linear stores them (out_features, in_features), and Llama's
query and key rows are reordered, because Hugging Face rotates the channel pairs (i, i + head_dim/2) and
llama.cpp's "llama" architecture the pairs (2i, 2i + 1); attention scores are the same either way.

Vocabularies (llama.cpp's src/llama-vocab.cpp decides how text becomes ids):
  - GPT-2's BPE: GPT-2's tokens and merges with GPT-2's pre-tokenizer (tokenizer model "gpt2"); the ids
    the model adds past GPT-2's 50,257 (50304 rounds it up) are unused tokens.
  - the character vocabulary: llama.cpp's unigram SentencePiece tokenizer (tokenizer model "t5"). Its
    other SentencePiece tokenizer ("llama") splits a character it does not know into byte pieces <0xE9>...,
    and aborts when the vocabulary has none; the unigram one reads the character as <unk>, as this
    project's tokenizer does, and a vocabulary of single characters gives one token per character. One
    difference remains: it reads a run of unknown characters as one <unk>, where this project gives one per
    character. llama.cpp turns spaces into U+2581 before it tokenizes, so the space's token is U+2581.
Both add no begin or end token to the text: the model was trained on text as it is.
"""
import json
import os

import gguf
import numpy as np
import torch
from gguf import GGMLQuantizationType, LlamaFileType, TokenType
from llama_cpp import Llama

from wuxia import tokenizer as wuxia_tokenizer  # as a module: its EOT and UNK strings

SPACE_PIECE = "\u2581"  # what llama.cpp's SentencePiece tokenizers turn a space into
# per file type ("f16" or "q8_0": how the matrices are stored), how far llama.cpp's logits may be from this project's, relative to the largest logit: float16 rounding
# and 8-bit blocks move them by a little; a tensor in the wrong place or layout moves them by their size
LOGIT_TOLERANCE = {"f16": 0.01, "q8_0": 0.05}


def vocabulary(tokenizer, vocab_size):
    """The GGUF tokenizer fields of a run: tokens, their types and scores, merges, and which tokenizer of
    llama.cpp reads them. Ids past the tokenizer's (the model's padding up to a multiple of 64) are tokens
    the text never maps to. A ValueError says why a vocabulary cannot be written."""
    if tokenizer.name == "gpt2":
        vocab_bpe, encoder_json = wuxia_tokenizer.gpt2_bpe_files()
        with open(encoder_json, encoding="utf-8") as f:
            ids = json.load(f)
        tokens = sorted(ids, key=ids.get)
        with open(vocab_bpe, encoding="utf-8") as f:
            merges = [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#version")]
        types = [TokenType.CONTROL if token == wuxia_tokenizer.EOT else TokenType.NORMAL for token in tokens]
        fields = dict(model="gpt2", pre="gpt-2", merges=merges, unk_id=None)
    else:
        if SPACE_PIECE in tokenizer.chars:
            raise ValueError(f"its vocabulary holds U+2581 ({SPACE_PIECE}), which llama.cpp cannot tell from a "
                             "space (it turns spaces into U+2581 before it tokenizes)")
        tokens = [wuxia_tokenizer.EOT, wuxia_tokenizer.UNK] + [SPACE_PIECE if c == " " else c for c in tokenizer.chars]
        types = [TokenType.CONTROL, TokenType.UNKNOWN] + [TokenType.NORMAL] * len(tokenizer.chars)
        fields = dict(model="t5", pre=None, merges=None, unk_id=tokenizer.unk_id)
    if len(tokens) > vocab_size:
        raise ValueError(f"its tokenizer has {len(tokens)} tokens, its model only {vocab_size} embeddings")
    padding = range(len(tokens), vocab_size)
    tokens += [f"<unused_{i}>" for i in padding]
    # control, not unused, for the unigram tokenizer: it would match an unused token's text in a prompt
    types += [TokenType.UNUSED if tokenizer.name == "gpt2" else TokenType.CONTROL] * len(padding)
    return dict(tokens=tokens, types=types, scores=[0.0] * len(tokens), eot_id=tokenizer.eot_id, **fields)


def permute_for_rope(weight, n_head):
    """Rows of a query or key projection, per head, from the order (0, 1, ..., d/2-1, d/2, ..., d-1) to
    (0, d/2, 1, d/2+1, ...): Hugging Face's rotary pairs (i, i + d/2) become llama.cpp's pairs (2i, 2i+1)."""
    rows, columns = weight.shape
    return weight.reshape(n_head, 2, rows // n_head // 2, columns).swapaxes(1, 2).reshape(rows, columns)


def gguf_tensors(hf_state, arch, n_layer, n_head):
    """Hugging Face's tensors (torch, float32) under llama.cpp's names, as numpy float32 arrays. The output
    projection is left out when it is the embedding itself: llama.cpp then uses the embedding."""
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GPT2 if arch == "gpt2" else gguf.MODEL_ARCH.LLAMA, n_layer)
    embedding = hf_state["transformer.wte.weight" if arch == "gpt2" else "model.embed_tokens.weight"]
    tensors = {}
    for hf_name, tensor in hf_state.items():
        if hf_name == "lm_head.weight" and torch.equal(tensor, embedding):
            continue
        array = tensor.float().numpy()
        if hf_name.endswith(("self_attn.q_proj.weight", "self_attn.k_proj.weight")):
            array = permute_for_rope(array, n_head)
        tensors[names.get_name(hf_name, try_suffixes=(".weight", ".bias"))] = array
    return tensors


def write(file, args, tensors, vocab, file_type, chat_template, name):
    """The GGUF file: the architecture's settings from the checkpoint's model_args, the vocabulary, the chat
    template (None: none), and the tensors (matrices in file_type, vectors in float32; a matrix whose rows
    do not split into q8_0's blocks of 32 stays float16)."""
    arch = args.get("arch", "gpt2")
    writer = gguf.GGUFWriter(file, arch)
    writer.add_name(name)
    writer.add_file_type(LlamaFileType.MOSTLY_F16 if file_type == "f16" else LlamaFileType.MOSTLY_Q8_0)
    n_embd, n_head = args["n_embd"], args["n_head"]
    writer.add_context_length(args["block_size"])
    writer.add_embedding_length(n_embd)
    writer.add_block_count(args["n_layer"])
    writer.add_head_count(n_head)
    writer.add_vocab_size(args["vocab_size"])
    if arch == "gpt2":
        writer.add_feed_forward_length(4 * n_embd)
        writer.add_layer_norm_eps(1e-5)  # nn.LayerNorm's default
    else:
        writer.add_feed_forward_length(tensors["blk.0.ffn_gate.weight"].shape[0])
        writer.add_head_count_kv(n_head)
        writer.add_layer_norm_rms_eps(float(np.finfo(np.float32).eps))  # nn.RMSNorm's default for float32
        writer.add_rope_freq_base(float(args["rope_theta"]))
        writer.add_rope_dimension_count(n_embd // n_head)

    writer.add_tokenizer_model(vocab["model"])
    if vocab["pre"]:
        writer.add_tokenizer_pre(vocab["pre"])
    writer.add_token_list(vocab["tokens"])
    writer.add_token_types(vocab["types"])
    writer.add_token_scores(vocab["scores"])
    if vocab["merges"]:
        writer.add_token_merges(vocab["merges"])
    writer.add_eos_token_id(vocab["eot_id"])
    writer.add_eot_token_id(vocab["eot_id"])
    writer.add_bos_token_id(vocab["eot_id"])  # never added (below); front ends that ask for one get this
    writer.add_pad_token_id(vocab["eot_id"])
    if vocab["unk_id"] is not None:
        writer.add_unk_token_id(vocab["unk_id"])
    writer.add_add_bos_token(False)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)
    writer.add_remove_extra_whitespaces(False)
    if chat_template:
        writer.add_chat_template(chat_template)

    for tensor_name, array in tensors.items():
        if array.ndim == 1:
            writer.add_tensor(tensor_name, array.astype(np.float32))
        elif file_type == "q8_0" and array.shape[-1] % 32 == 0:
            writer.add_tensor(tensor_name, gguf.quantize(array, GGMLQuantizationType.Q8_0),
                              raw_dtype=GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(tensor_name, array.astype(np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def load_with_llama_cpp(file, n_ctx, **options):
    """llama.cpp's model from the file (through llama-cpp-python), quiet, one thread."""
    return Llama(model_path=str(file), n_ctx=n_ctx, n_batch=n_ctx, n_threads=1, verbose=False, **options)


def tokenize_with_llama_cpp(llm, text):
    """llama.cpp's ids for a text, with what llama.cpp's CLI and server add to a prompt (here: nothing)."""
    return llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)


def unknown_runs_joined(ids, unk_id):
    """This project's ids as llama.cpp's unigram tokenizer gives them: a run of <unk> as one <unk>."""
    return [i for n, i in enumerate(ids) if not (i == unk_id and n > 0 and ids[n - 1] == unk_id)]


def check(file, file_type, n_ctx, ids, expected_logits, check_text, unk_id):
    """What llama.cpp makes of the file: its tokenizer's ids for check_text must be `ids` (this project's;
    with a unigram tokenizer, unk_id not None, runs of <unk> joined) and its logits after `ids`
    expected_logits (n, vocab), within LOGIT_TOLERANCE. Returns (problems, the largest difference relative
    to the largest logit)."""
    llm = load_with_llama_cpp(file, n_ctx, logits_all=True)
    problems = []
    if llm.n_vocab() != expected_logits.shape[-1]:
        problems.append(f"llama.cpp reads {llm.n_vocab()} tokens, the model has {expected_logits.shape[-1]}")
    if tokenize_with_llama_cpp(llm, check_text) != (ids if unk_id is None else unknown_runs_joined(ids, unk_id)):
        problems.append("llama.cpp's tokenizer encodes the check text differently")
    llm.eval(ids)
    got = np.asarray(llm.scores[:len(ids)], dtype=np.float32)
    expected = expected_logits.numpy()
    difference = float(np.abs(got - expected).max() / max(1.0, np.abs(expected).max()))
    if difference > LOGIT_TOLERANCE[file_type]:
        problems.append(f"llama.cpp's logits differ from this project's by up to {difference:.1%} of the largest "
                        f"(at most {LOGIT_TOLERANCE[file_type]:.0%} expected for {file_type})")
    llm.close()
    return problems, difference


def write_checked(output, args, tensors, vocab, file_type, chat_template, name, ids, expected_logits, check_text):
    """Writes the file beside `output` under a temporary name, has llama.cpp check it (see check) and only
    then gives it its name: a file that fails the check, or whose writing stops half way, is deleted.
    Returns (problems, difference) as check does."""
    partial = output + ".partial"
    try:
        write(partial, args, tensors, vocab, file_type, chat_template, name)
        problems, difference = check(partial, file_type, args["block_size"], ids, expected_logits, check_text,
                                     vocab["unk_id"])
        if not problems:
            os.replace(partial, output)
        return problems, difference
    finally:
        if os.path.exists(partial):
            os.remove(partial)
