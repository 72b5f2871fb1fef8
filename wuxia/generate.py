"""Text generation: sampling with a KV cache, stop at <|endoftext|>, several prompts in one batch, a
streaming form, and a window that slides when the text outgrows the model's context.

sample.py, the eval scripts, the chat page and the terminal chat all generate through generate_tokens(),
so a seed and settings give the same answer everywhere; it and the server's batching engine (wuxia/engine.py)
decode through one core, the functions of the section "The decoding core" below.
"""
import sys
from contextlib import nullcontext

import torch
from torch.nn import functional as F

from wuxia.configurator import AT_LEAST_0, NON_NEGATIVE, POSITIVE, UNIT_INTERVAL
from wuxia.sft_format import encode_prompt
from wuxia.tokenizer import StreamDecoder, decode_all

# The decoding defaults of every script that generates (sample.py, the chat page, eval_rouge.py, ...): one
# definition, so that what the evaluation measures is what a user of the chat page gets. Chosen on the held-out
# questions of the Jin Yong QA set's val split: greedy decoding answers best, but alone it loops. With the
# fuller answers the model now writes (~95 characters), repetition penalty 1.1 still looped on 2.2% of them and
# 1.15 on 1.7%, 1.2 on none, at 0.014 Rouge-L F1 less than 1.1. Sampling at 0.7 scored lower. top_k and
# top_p apply when a user raises the temperature.
DECODING = {
    "temperature": 0.0,          # 0 is greedy decoding
    "top_k": 200,                # 0 switches it off
    "top_p": 0.95,               # 1.0 switches it off
    "repetition_penalty": 1.2,   # 1.0 switches it off
}
# what each decoding setting may be, checked before any work by every script that takes them
# (configure(..., rules={**DECODING_RULES, ...})). top_p 0 keeps only the most likely token: greedy.
DECODING_RULES = {
    "temperature": NON_NEGATIVE,
    "top_k": AT_LEAST_0,
    "top_p": UNIT_INTERVAL,
    "repetition_penalty": POSITIVE,
}


def decoding_problem(**settings):
    """None when every decoding setting given is allowed by DECODING_RULES, else a message naming the first
    that is not: for callers that get settings from elsewhere than the command line (the chat page's API)."""
    for name, value in settings.items():
        problem = DECODING_RULES[name].problem(value)
        if problem:
            return f"{name}={value}: {problem}"
    return None


def encode_input(tokenizer, text, sft, passages=(), block_size=None):
    """What the model is given for a user's text: an SFT model gets its training template around the
    question (and, for an open-book run, the passages retrieved for it before the question, as many as
    passages_that_fit keeps); a pretrained model simply continues the text."""
    if not sft:
        return tokenizer.encode(text)
    return encode_prompt(tokenizer, text, passages_that_fit(tokenizer, text, passages, block_size))


def passages_that_fit(tokenizer, question, passages, block_size):
    """The passages a question's prompt keeps: those that leave at least an eighth of block_size for the
    answer (an open-book row in training keeps its passages while a sentence of the answer fits), the last
    (least relevant) dropped first."""
    passages = list(passages)
    while passages and block_size and len(encode_prompt(tokenizer, question, passages)) > block_size - block_size // 8:
        passages.pop()
    return passages


def passages_for(find_passages, tokenizer, question, block_size):
    """The passages an answer reads: what find_passages (retrieval.open_book's function for an open-book run;
    None for a closed-book one, which reads none) retrieves for the question, as many as fit its prompt. Every
    script that answers shows these with the answer, and gives them to encode_input."""
    if find_passages is None:
        return []
    return passages_that_fit(tokenizer, question, find_passages(question), block_size)


def check_input(tokenizer, text, sft, block_size, max_input_chars=None):
    """None when the text can go to the model; otherwise a polite message saying what to change. A question
    for an SFT model must fit the model's context: otherwise the sliding window would cut off the start of
    the prompt template. (A text to continue may be longer: its start simply slides out.)"""
    if not text or not text.strip():
        return "请先输入一个问题。(Please type a question first.)" if sft else \
               "请先输入一段开头，模型会接着写下去。(Please type the beginning of a text to continue.)"
    if max_input_chars and len(text) > max_input_chars:
        return (f"输入太长：{len(text)} 个字符，上限是 {max_input_chars}。请缩短后再试。"
                f"(The input has {len(text)} characters; the limit is {max_input_chars}.)")
    prompt_len = len(encode_input(tokenizer, text, sft)) if sft else 0
    if prompt_len >= block_size:
        return (f"输入太长：{prompt_len} 个词元，须少于这个模型的上下文长度 {block_size}。请缩短后再试。"
                f"(The input is {prompt_len} tokens; it must be shorter than the model's context, {block_size}.)")
    return None


# -----------------------------------------------------------------------------------------------------------
# The decoding core. generate_tokens (below) and the serving engine (wuxia/engine.py) both decode through these
# functions, so a seed and settings give the same tokens from a script and from the server. The rows of a batch
# share one timeline of cache columns, each row right-aligned on it: `valid` marks each row's own columns, and a
# row's positions count its own tokens only, so it computes what it would compute alone. prefill encodes the
# left-padded prompts at once, decode_step feeds every row its last token, and the logits it returns go
# through the penalties to next_tokens.

def new_generator(seed, device):
    """The random generator of one decoding run (generate_tokens) or of one server row: seeded with seed, or
    with a fresh random seed when seed is None."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else torch.seed())
    return generator


def cache_dtype(model, autocast):
    """The dtype the KV cache holds: the autocast's when there is one, else the weights'."""
    if isinstance(autocast, torch.autocast):
        return autocast.fast_dtype
    return next(model.parameters()).dtype  # the activations' dtype (an int8 model keeps float32 ones)


def left_pad(prompts, eot_id, device):
    """(tokens, valid): the prompts (lists of token ids) right-aligned in one (rows, longest prompt) tensor,
    padded on the left with <|endoftext|>, and the mask of each row's own columns. An empty prompt starts from
    <|endoftext|>, the start-of-document token: the last column is every row's."""
    width = max(1, max(len(p) for p in prompts))
    tokens = torch.full((len(prompts), width), eot_id, dtype=torch.long, device=device)
    valid = torch.zeros((len(prompts), width), dtype=torch.bool, device=device)
    for row, prompt in enumerate(prompts):
        if prompt:
            tokens[row, width - len(prompt):] = torch.tensor(prompt, dtype=torch.long)
            valid[row, width - len(prompt):] = True
    valid[:, -1] = True
    return tokens, valid


def prefill(model, tokens, valid, cache):
    """Encode a window of left-padded rows at once (the prompts; in generate_tokens also a window that slid,
    or every step's whole window when it runs without a cache); returns the next-token logits of each row."""
    positions = (valid.long().cumsum(1) - 1).clamp(min=0)
    attn_mask = None
    if not bool(valid.all()):
        T = tokens.size(1)
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool, device=tokens.device))
        attn_mask = causal[None, None] & valid[:, None, None, :]
        # a padding position attends to itself, so no attention row is empty (that would give NaN)
        attn_mask = attn_mask | torch.eye(T, dtype=torch.bool, device=tokens.device)[None, None]
    logits, _ = model(tokens, positions=positions, attn_mask=attn_mask, cache=cache)
    return logits[:, -1, :]


def decode_step(model, last_ids, valid, cache):
    """Feed each row the token it chose last (last_ids, one per row) at the cache's next column; valid covers
    that column too. Returns the next-token logits of each row."""
    positions = valid.long().sum(1, keepdim=True) - 1
    attn_mask = None if bool(valid.all()) else valid[:, None, None, :]
    logits, _ = model(last_ids[:, None], positions=positions, attn_mask=attn_mask, cache=cache)
    return logits[:, -1, :]


def penalize_repeats(logits, seen, penalty):
    """CTRL's repetition penalty on the tokens a row has already generated: positive logits are divided by
    the penalty, negative ones multiplied. The prompt is not penalized: an answer must be free to name the
    people its question names. seen: a (rows, vocab) mask of the tokens each row has generated, or a (rows, n)
    tensor of their ids (generate_tokens': it touches n logits per row instead of the whole vocabulary, which
    is a tenth of a decoding step's time at batch 1). penalty: a number, or a (rows, 1) tensor with each row's."""
    if not torch.is_tensor(penalty) and penalty == 1.0:
        return logits
    def penalized(values):
        return torch.where(values > 0, values / penalty, values * penalty)

    if seen.dtype == torch.bool:
        return torch.where(seen, penalized(logits), logits)
    if seen.size(1) == 0:
        return logits
    return logits.scatter(1, seen, penalized(logits.gather(1, seen)))


def penalize_frequency(logits, counts, frequency_penalty, presence_penalty):
    """OpenAI's additive penalties: subtract frequency_penalty once per earlier occurrence of a token in the
    generated text, and presence_penalty once if it occurred at all. counts: (rows, vocab); the penalties
    are (rows, 1) tensors, each row's own."""
    return logits - frequency_penalty * counts - presence_penalty * (counts > 0).to(logits.dtype)


def filter_logits(logits, temperature=1.0, top_p=1.0):
    """Scale by temperature, then keep the smallest set of tokens whose probability reaches top_p (1.0
    switches it off; 0 keeps only the most likely token). Returns logits with the rest at -inf. Both settings
    are numbers, or (rows, 1) tensors that give each row its own (the server's batches)."""
    per_row = torch.is_tensor(top_p)
    logits = logits / (temperature.clamp(min=1e-8) if torch.is_tensor(temperature) else max(temperature, 1e-8))
    if per_row or top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # drop a token when the tokens before it already reach top_p (the most likely one always stays)
        drop_sorted = (cumulative - sorted_logits.softmax(dim=-1)) >= top_p
        if per_row:
            drop_sorted &= top_p < 1.0  # a row with top_p 1.0 keeps every token, rounding or not
        drop_sorted[..., 0] = False  # so top_p 0 is greedy, not an empty choice
        drop = drop_sorted.scatter(1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(logits, temperature, top_k, top_p, generator):
    """One token per row: among the top_k most likely (0 switches it off), then filter_logits. Only the k
    candidates are filtered, normalised and drawn from: the same distribution as masking the whole
    vocabulary, at a tenth of the work (softmax and torch.multinomial over 50304 logits cost more than the
    model itself at batch 10). generator: one for the batch, or a list with one per row, so that each row
    draws as it would alone (the server's rows each have their own seed)."""
    candidates = None
    if top_k and top_k < logits.size(-1):
        logits, candidates = torch.topk(logits, top_k, dim=-1)
    probs = F.softmax(filter_logits(logits, temperature, top_p), dim=-1)
    if isinstance(generator, torch.Generator):
        choice = torch.multinomial(probs, 1, generator=generator)
    else:
        choice = torch.cat([torch.multinomial(row[None], 1, generator=g) for row, g in zip(probs, generator)])
    return (choice if candidates is None else candidates.gather(1, choice)).squeeze(1)


def next_tokens(logits, temperature, top_k, top_p, generator):
    """Each row's next token from its logits (penalized already): the most likely at temperature 0, else one
    drawn by sample_next. The settings are numbers for the whole batch with one generator (generate_tokens'),
    or lists with each row's own setting and generator (the server's rows), so that each row draws as it would
    alone; rows that share a top_k are drawn together."""
    if not isinstance(temperature, list):
        if temperature == 0:
            return logits.argmax(dim=-1)
        return sample_next(logits, temperature, top_k, top_p, generator)
    next_ids = logits.argmax(dim=-1)  # the rows at temperature 0 keep theirs
    rows_of_top_k = {}
    for row, (row_temperature, row_top_k) in enumerate(zip(temperature, top_k)):
        if row_temperature > 0:
            rows_of_top_k.setdefault(row_top_k, []).append(row)
    for shared_top_k, rows in rows_of_top_k.items():
        index = torch.tensor(rows, device=logits.device)
        rows_temperature = torch.tensor([[temperature[row]] for row in rows], device=logits.device)
        rows_top_p = torch.tensor([[top_p[row]] for row in rows], device=logits.device)
        next_ids[index] = sample_next(logits[index], rows_temperature, shared_top_k, rows_top_p,
                                      [generator[row] for row in rows])
    return next_ids


# -----------------------------------------------------------------------------------------------------------
# Generation for the scripts and the chat page: a batch of prompts decoded together until every row stops.

@torch.inference_mode()
def generate_tokens(model, prompts, max_new_tokens, eot_id, temperature=1.0, top_k=0, top_p=1.0,
                    repetition_penalty=1.0, seed=None, use_cache=True, autocast=None):
    """Generate from a batch of prompts (lists of token ids, any lengths). Yields one list per step with
    each row's new token, or None for a row that has already stopped at <|endoftext|> (the <|endoftext|>
    itself is not yielded). temperature 0 is greedy decoding.

    The window slides: when prompt + generation fill the model's context, generation continues from the
    last half of the context (re-encoded at fresh positions, since positions are learned)."""
    model.eval()
    device = next(model.parameters()).device
    block_size = model.config.block_size
    generator = new_generator(seed, device)
    autocast = autocast or nullcontext()
    batch = len(prompts)
    tokens, valid = left_pad(prompts, eot_id, device)
    generated = torch.empty((batch, 0), dtype=torch.long, device=device)  # the ids the repetition penalty sees
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    cache = None
    for _ in range(max_new_tokens):
        with autocast:
            if cache is not None and cache[0].length < block_size:
                logits = decode_step(model, tokens[:, -1], valid, cache)
            else:
                # first step, no cache, or a full context: (re)encode the window
                keep = block_size if cache is None else block_size // 2
                tokens, valid = tokens[:, -keep:], valid[:, -keep:]
                if use_cache:
                    cache = model.new_cache(batch, block_size, device, cache_dtype(model, autocast))
                logits = prefill(model, tokens, valid, cache)
        logits = penalize_repeats(logits.float(), generated, repetition_penalty)
        next_ids = next_tokens(logits, temperature, top_k, top_p, generator)
        next_ids = torch.where(finished, torch.full_like(next_ids, eot_id), next_ids)
        yield [None if done or int(t) == eot_id else int(t) for t, done in zip(next_ids.tolist(), finished.tolist())]
        finished |= next_ids == eot_id
        if bool(finished.all()):
            return
        generated = torch.cat([generated, next_ids[:, None]], dim=1)
        tokens = torch.cat([tokens, next_ids[:, None]], dim=1)
        valid = torch.cat([valid, torch.ones((batch, 1), dtype=torch.bool, device=device)], dim=1)


def generate(model, prompts, max_new_tokens, eot_id, **options):
    """All of generate_tokens at once. Returns (new_ids per row, stopped per row): stopped is True when the
    row ended at <|endoftext|>, False when max_new_tokens cut it."""
    new_ids = [[] for _ in prompts]
    stopped = [False] * len(prompts)
    for step in generate_tokens(model, prompts, max_new_tokens, eot_id, **options):
        for row, token in enumerate(step):
            if token is None:
                stopped[row] = True
            else:
                new_ids[row].append(token)
    return new_ids, stopped


def answer_questions(model, tokenizer, questions, max_new_tokens, batch_size, seed, progress=False, passages=None,
                     **options):
    """(answers, stopped flags) for the questions, in their order, each asked in the SFT template (also of a
    pretrained-only model, so a baseline is asked exactly what the fine-tuned model is asked); passages: for an
    open-book run, the retrieved passages of each question (a list per question). Questions of
    similar length are generated together so that little is spent on left padding. The batch that starts at
    position i of that order is seeded with seed + i, so no two batches draw the same random numbers.
    options: temperature, top_k, top_p, repetition_penalty, autocast (as generate_tokens).
    progress: print "n/total answers" to stderr as batches finish."""
    passages = passages or [()] * len(questions)
    prompts = [encode_input(tokenizer, q, True, p, model.config.block_size) for q, p in zip(questions, passages)]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    answers, stopped = [None] * len(prompts), [None] * len(prompts)
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        ids, batch_stopped = generate(model, [prompts[i] for i in batch], max_new_tokens, tokenizer.eot_id,
                                      seed=seed + start, **options)
        for i, answer_ids, done in zip(batch, ids, batch_stopped):
            # U+FFFD where the model produced no character (undecodable bytes, <unk>), so the quality report sees
            # it; an answer cut by max_new_tokens mid-character loses that half character: it was cut, not garbled
            answers[i], stopped[i] = decode_all(tokenizer, answer_ids, complete=done), done
        if progress:
            print(f"\r{min(start + batch_size, len(order))}/{len(order)} answers", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return answers, stopped


CUT_MARK = " …"  # ends a text that max_new_tokens cut before the model's <|endoftext|>


def stream_text(model, tokenizer, prompt_ids, max_new_tokens, **options):
    """One prompt, yielding text as it is generated (never a half character), for terminals and web pages.
    A text cut by max_new_tokens ends with CUT_MARK, so a reader can tell it from a finished answer."""
    decoder = StreamDecoder(tokenizer)
    for step in generate_tokens(model, [prompt_ids], max_new_tokens, tokenizer.eot_id, **options):
        if step[0] is None:
            return
        piece = decoder.push(step[0])
        if piece:
            yield piece
    yield CUT_MARK


def trim_to_sentence(text, ends="。！？!?…”」』\n"):
    """Cut an unfinished continuation back to its last complete sentence (unchanged if it has none)."""
    cut = max(text.rfind(c) for c in ends)
    return text[:cut + 1].rstrip("\n") if cut >= 0 else text
