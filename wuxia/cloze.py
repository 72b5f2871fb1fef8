"""A multiple-choice knowledge test made from any novel, with no list of names and no network: a sentence of
the book's held-out text with a character's name taken out, the right name among names of other characters
of the same book, scored by the model's likelihood of each option (eval_cloze.py).

    …，忽听得身后一人叫道：“___师父！”   options: 郭靖 / 杨康 / 欧阳克 / 梅超风

Names (find_names): a character speaks or thinks, so the 2-4 Chinese characters that stand right after a
punctuation mark and right before 道 or 心想 (笑道, 又道, 低声道, ...) are a name when that happens at least
min_speeches times and it also stands after 向 / 对 / 和 / 见 ... (a person is spoken to, looked at, fought)
in at least min_object_share of its mentions: that is what sets 郭靖 apart from 当下, 低声 or 点头, which open
such clauses too. A candidate that holds a known name ("郭靖又", "向郭靖") is dropped, and so are a few words
that name no one (那人, 众人, ...), by their first character.

Items (make_items): every sentence of the held-out text that mentions a name once gives one candidate item;
the context is the text before the name (about context_chars, starting at a sentence start), the rest is
the clause after it, up to the next punctuation mark. An item is dropped when its context gives the answer away (the name, or two
characters of it, appear in it). Distractors are the names nearest in frequency to the answer that share
no character with it (so "蓉儿" is never a wrong option for "黄蓉") and do not appear in the context. A
corpus and a seed always give the same items.

Scoring (option_scores): log P(option + the rest of its clause | context) under the model, divided by the
number of characters of option + rest. Per character, not per token, so a character model and a GPT-2 BPE
model are scored on the same footing, and a three-character name is not beaten by a two-character one for
being longer.
"""
import bisect
import random
import re
from collections import Counter

import torch

# a clause opened by a name: after a punctuation mark or a line start, before 道 / 心想 and the words that
# usually come between (又道, 笑道, 低声道, 冷冷地道 ...)
_SPEAKER = re.compile("(?:^|(?<=[，。！？：；“”「」『』]))([\u4e00-\u9fff]{2,4}?)"
                      "(?:又|也|便|却|才|忙|笑|说|叫|问|喝|怒|哭|叹|奇|惊|低声|大声|微笑|冷笑|冷冷地?|缓缓|"
                      "笑着|哈哈大笑|心下|心中)?(?:道|心想)", re.M)
# first characters of clause openers that name no one: pronouns, quantities, demonstratives, adverbs
_NOT_A_NAME_START = set("那这众两一他她它我你咱此各只又便却也都就忽才仍另旁有谁人若正大")
_OBJECT_OF = "[向对和与跟见叫问给被替把将随]"  # words that put a person after them
_CLAUSE_REST = re.compile("[^，。！？：；、“”「」『』\n]*")  # up to the next punctuation mark
_SENTENCE = re.compile("[^。！？\n]+[。！？]?[”」』]?")


def find_names(text, min_speeches=3, min_object_share=0.02):
    """The characters' names in a book, most mentioned first, as (name, mentions) pairs."""
    speeches = Counter(m.group(1) for m in _SPEAKER.finditer(text))
    candidates = sorted((n for n, count in speeches.items()
                         if count >= min_speeches and n[0] not in _NOT_A_NAME_START and n[-1] != "的"), key=len)
    names = []
    for candidate in candidates:
        if not any(name in candidate for name in names):  # "郭靖又", "向郭靖": 郭靖 again
            names.append(candidate)
    found = []
    for name in names:
        mentions = text.count(name)
        # a person is also spoken to, looked at, fought: 向 / 对 / 和 / 见 ... + name. An adverb that opens a
        # clause before 道 (当下, 低声, 点头 ...) almost never stands there.
        as_object = len(re.findall(_OBJECT_OF + re.escape(name), text))
        if as_object >= min_object_share * mentions:
            found.append((name, mentions))
    return sorted(found, key=lambda pair: (-pair[1], pair[0]))


def gives_away(name, context):
    """Whether text around the blank names the answer: the name, or any two characters of it in a row."""
    return any(name[i:i + 2] in context for i in range(len(name) - 1))


def candidate_items(held_out, names, context_chars=100, rest_chars=12, min_context_chars=20):
    """(context, name, rest) for the first name mentioned once in each sentence of the held-out text,
    unless the context or the rest gives it away. The rest runs to the next punctuation mark, at most
    rest_chars characters: "道", "笑道", "大吃一惊" tell whether the name fits, and a short rest keeps the
    score about the name."""
    by_length = sorted((name for name, _ in names), key=len, reverse=True)
    pattern = re.compile("|".join(map(re.escape, by_length)))
    starts = [m.start() for m in _SENTENCE.finditer(held_out)]
    items = []
    for sentence in _SENTENCE.finditer(held_out):
        found = pattern.findall(sentence.group())
        for match in pattern.finditer(sentence.group()):
            name = match.group()
            if found.count(name) != 1:
                continue
            blank = sentence.start() + match.start()
            start = min(starts[bisect.bisect_left(starts, blank - context_chars)], sentence.start())
            context = held_out[start:blank]
            rest = _CLAUSE_REST.match(held_out, blank + len(name), blank + len(name) + rest_chars).group()
            if len(context) >= min_context_chars and not gives_away(name, context + rest):
                items.append((context, name, rest))
            break
    return items


def make_items(book_text, held_out, source, n_options=4, context_chars=100, min_speeches=3, seed=1337):
    """The test items of one book: dicts with source, context, rest, options (names), answer (the right
    option's index) and mentions (each option's count in the book, for the most-mentioned baseline)."""
    names = find_names(book_text, min_speeches)
    if len(names) < n_options:
        return []
    mentions = dict(names)
    rank = {name: i for i, (name, _) in enumerate(names)}
    rng = random.Random(f"{seed}:{source}")
    items = []
    for context, name, rest in candidate_items(held_out, names, context_chars):
        others = [n for n, _ in names if not set(n) & set(name) and n not in context + rest]
        if len(others) < n_options - 1:
            continue
        nearest = sorted(others, key=lambda n: (abs(rank[n] - rank[name]), rank[n]))[:2 * (n_options - 1)]
        options = [name] + rng.sample(nearest, n_options - 1)
        rng.shuffle(options)
        items.append({"source": source, "context": context, "rest": rest, "options": options,
                      "answer": options.index(name), "mentions": [mentions[o] for o in options]})
    return items


def spread(items, count):
    """At most count items, spread evenly over the list (the held-out text of every book is sampled)."""
    if count <= 0 or len(items) <= count:
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def encode_option(tokenizer, context, continuation, block_size):
    """(token ids, index of the first continuation token): the context encoded on its own, then the
    continuation, the context cut from the left so that the whole fits the model's context."""
    context_ids, continuation_ids = tokenizer.encode(context), tokenizer.encode(continuation)[:block_size]
    keep = max(1, block_size + 1 - len(continuation_ids))
    context_ids = context_ids[-keep:]
    return context_ids + continuation_ids, len(context_ids)


@torch.no_grad()
def option_scores(model, tokenizer, items, batch_size, device):
    """For each item, each option's mean log-likelihood per character of option + rest (natural log)."""
    model.eval()
    rows = [(i, option, *encode_option(tokenizer, item["context"], option + item["rest"], model.config.block_size))
            for i, item in enumerate(items) for option in item["options"]]
    scores = [[] for _ in items]
    for b in range(0, len(rows), batch_size):
        batch = rows[b:b + batch_size]
        width = max(len(ids) for _, _, ids, _ in batch) - 1
        inputs = torch.full((len(batch), width), tokenizer.eot_id, dtype=torch.long)
        targets = torch.full((len(batch), width), tokenizer.eot_id, dtype=torch.long)
        for row, (_, _, ids, _) in enumerate(batch):
            inputs[row, :len(ids) - 1] = torch.tensor(ids[:-1])
            targets[row, :len(ids) - 1] = torch.tensor(ids[1:])
        logits, _ = model(inputs.to(device), targets.to(device))
        log_probs = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.to(device).unsqueeze(-1)).squeeze(-1)
        for row, (i, option, ids, first) in enumerate(batch):
            # the target at position p is token p + 1: the continuation's tokens are targets first-1 .. len-2
            total = log_probs[row, first - 1:len(ids) - 1].sum().item()
            scores[i].append(total / len(option + items[i]["rest"]))
    return scores


def chosen_right(items, scores):
    """For each item, whether the best-scored option is the right one."""
    return [max(range(len(s)), key=s.__getitem__) == item["answer"] for item, s in zip(items, scores)]


def accuracy(items, scores):
    """Accuracy, chance level, and the most-mentioned baseline (always the option the book names most)."""
    n = len(items)
    right = sum(chosen_right(items, scores))
    most_mentioned = sum(max(range(len(item["mentions"])), key=item["mentions"].__getitem__) == item["answer"]
                         for item in items)
    return {"items": n, "accuracy": right / n, "chance": sum(1 / len(item["options"]) for item in items) / n,
            "most_mentioned": most_mentioned / n, "stderr": (right / n * (1 - right / n) / n) ** 0.5}
