"""The one place that knows how an SFT example is laid out. prepare_sft, training, sampling, evaluation and
the chat page all call these functions; nothing else re-derives the layout.

A row is   [prompt tokens][answer tokens][<|endoftext|>][padding ...]
           |<- prompt_len ->|
           |<------------- total_len ------------------>|
The prompt is PROMPT_TEMPLATE with the question filled in. Prompt and answer are tokenized separately and
concatenated, so the prompt's tokens are exactly those the model is given at inference time, and the answer
span is known by position (never re-found by searching the tokens for a question mark).

An open-book row (a run trained with retrieval, wuxia/retrieval.py) puts the passages retrieved for the
question before it, one per line after PASSAGES_HEADER; they are part of the prompt, so never in the loss:
    资料：<passage 1>
    <passage 2>
    问：<question>
    答：<answer><|endoftext|>
"""
import numpy as np

from wuxia.tokenizer import StreamDecoder

PROMPT_TEMPLATE = "问：{question}\n答："
# where an over-long answer may be cut so that it still ends after a whole sentence
SENTENCE_ENDS = "。！？!?…；;"
CLOSING_QUOTES = "”」』\"'）)"


PASSAGES_HEADER = "资料："


def format_prompt(question, passages=()):
    """The prompt for a question, with the passages (dicts with a "text", or strings) before it when given."""
    texts = [p["text"] if isinstance(p, dict) else p for p in passages]
    block = PASSAGES_HEADER + "\n".join(" ".join(t.split()) for t in texts) + "\n" if texts else ""
    return block + PROMPT_TEMPLATE.format(question=question.strip())


def encode_prompt(tokenizer, question, passages=()):
    return tokenizer.encode(format_prompt(question, passages))


def sentence_cut_points(answer):
    """Character offsets where the answer may end: just after a sentence end (and any closing quotes that
    follow it)."""
    points = []
    i = 0
    while i < len(answer):
        if answer[i] in SENTENCE_ENDS:
            j = i + 1
            while j < len(answer) and (answer[j] in SENTENCE_ENDS or answer[j] in CLOSING_QUOTES):
                j += 1
            points.append(j)
            i = j
        else:
            i += 1
    return points


def encode_example(tokenizer, question, answer, block_size, passages=()):
    """Tokenize one QA pair (with the passages for an open-book row) into a row of at most block_size tokens.

    Returns (ids, prompt_len, status); status is "ok", "truncated" (the answer was cut after its last
    whole sentence that fits) or "too_long" (ids is None: not even the question and one sentence fit).
    Passages that leave no room for a sentence of the answer are dropped, the last first.
    The row always ends with <|endoftext|>, so the model learns to stop."""
    passages = list(passages)
    while True:
        ids, prompt_len, status = _encode_example(tokenizer, question, answer, block_size, passages)
        if status != "too_long" or not passages:
            return ids, prompt_len, status
        passages.pop()


def _encode_example(tokenizer, question, answer, block_size, passages):
    prompt_ids = encode_prompt(tokenizer, question, passages)
    answer_ids = tokenizer.encode(answer.strip())
    if len(prompt_ids) + len(answer_ids) + 1 <= block_size:
        return prompt_ids + answer_ids + [tokenizer.eot_id], len(prompt_ids), "ok"
    room = block_size - len(prompt_ids) - 1
    if room <= 0:
        return None, len(prompt_ids), "too_long"
    # the longest whole-sentence prefix that fits; token counts grow with the prefix, so search backwards
    answer = answer.strip()
    for cut in reversed(sentence_cut_points(answer)):
        cut_ids = tokenizer.encode(answer[:cut])
        if len(cut_ids) <= room:
            return prompt_ids + cut_ids + [tokenizer.eot_id], len(prompt_ids), "truncated"
    return None, len(prompt_ids), "too_long"


def loss_mask_for_row(prompt_len, total_len, width):
    """For a row used as x = row[:-1], y = row[1:] (width = len(y)): 1 exactly where the target y[j] is an
    answer token or the final <|endoftext|>, 0 on the prompt and the padding."""
    positions = np.arange(width)
    return ((positions + 1 >= prompt_len) & (positions + 1 < total_len)).astype(np.float32)


def loss_masks(prompt_lens, total_lens, width):
    """loss_mask_for_row for a batch of rows at once (arrays of prompt and total lengths)."""
    targets = np.arange(1, width + 1)[None, :]
    prompt_lens = np.asarray(prompt_lens)[:, None]
    total_lens = np.asarray(total_lens)[:, None]
    return ((targets >= prompt_lens) & (targets < total_lens)).astype(np.float32)


def show_row(tokenizer, ids, prompt_len, total_len):
    """One line per token: position, id, whether it is supervised, and the token's text. For checking an
    answer span with one's own eyes (prepare_sft.py --show=N). GPT-2 splits most Chinese characters over
    two or three tokens: such a token shows its bytes, and the token that completes a character also shows
    the character, e.g.  <e9 9d>  then  <96> 靖."""
    mask = loss_masks([prompt_len], [total_len], total_len)[0]
    decoder = StreamDecoder(tokenizer, mark_garbled=True)
    lines = [f"{'pos':>4} {'id':>6}  {'loss':<4} token"]
    for pos in range(total_len):
        # the mask is indexed by target: token `pos` is supervised when predicting it from pos-1
        supervised = pos >= 1 and mask[pos - 1] > 0
        raw = tokenizer.decode_bytes([ids[pos]])
        completed = decoder.push(ids[pos])
        if ids[pos] == tokenizer.eot_id:
            text = "<|endoftext|>"
        elif not raw:
            text = "<unk>"
        else:
            try:
                text = repr(raw.decode("utf-8"))
            except UnicodeDecodeError:
                text = "<" + raw.hex(" ") + ">" + (f" {completed}" if completed else "")
        lines.append(f"{pos:>4} {ids[pos]:>6}  {'1' if supervised else '.':<4} {text}")
    return "\n".join(lines)
