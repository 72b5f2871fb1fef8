"""Reading exercises made from the novels themselves, with no language model: questions whose answer is a
name that stands in one passage, for teaching an open-book model to take names from what it reads.

Renamed rows: a QA pair whose passages hold its answer's name, with that name replaced, in the passages and
in the answer, by another name of the books. The model's memory says the old name, the passages the new one:
only reading gets the row right, so the model cannot learn such a row by heart.

Novels mark who speaks: 黄蓉笑道：“靖哥哥，你……” The exercise asks who said the first words of such a
quote (“靖哥哥，你……”是谁说的？) and answers with the speaker (是黄蓉说的。). Its passages are those retrieved
for the question, as at answer time, with the passage of the quote among them. The quotes are many and each
is said once, so the answer cannot be learned by heart: only reading the passage gives it. Works on any
novel that writes speech this way (most Chinese fiction does).
"""
import random
import re

from wuxia.retrieval import best_window, retrieve

# a speaker (2-4 hanzi after a sentence break) and the first words of what they say
SPEECH = re.compile(r"(?:^|(?<=[，。！？”：；\s]))([\u4e00-\u9fff]{2,4}?)(?:笑道|说道|问道|叫道|怒道|喝道|叹道|道)："
                    r"“([^”，。！？]{4,12})")
# words that stand where a speaker's name does but are no names: 低声道, 那人道, 他笑道 ...
NOT_A_NAME_START = set("那这对向只便却又也都他她我你们于当一忽突听心")
NOT_A_NAME_END = set("声又心奇喜微急头手笑着的了也便即")
QUESTION_FORMS = ["“{quote}”是谁说的？", "谁说了“{quote}”？", "“{quote}”这句话是谁说的？"]


def speakers(passage_text):
    """(speaker, first words of the quote) for every quote in a passage whose speaker looks like a name."""
    found = []
    for match in SPEECH.finditer(passage_text):
        name, quote = match.groups()
        if name[0] in NOT_A_NAME_START or name[-1] in NOT_A_NAME_END or name in quote:
            continue
        found.append((name, quote))
    return found


def speaker_exercises(index, n, k, chars, seed=1337):
    """n reading exercises from the index's passages: dicts with question, answer and passages (k of them, each
    cut to chars around the question's words, one of them the quote's own)."""
    rng = random.Random(seed)
    order = list(range(len(index.passages)))
    rng.shuffle(order)
    exercises = []
    for i in order:
        if len(exercises) >= n:
            break
        quotes = speakers(index.passages[i]["text"])
        if not quotes:
            continue
        name, quote = rng.choice(quotes)
        question = rng.choice(QUESTION_FORMS).format(quote=quote)
        own = {**index.passages[i], "text": best_window(index.passages[i]["text"], [name, quote], chars)}
        if name not in own["text"]:
            continue
        passages = [p for p in retrieve(index, question, k, chars) if name not in p["text"]][:k - 1]
        passages.insert(rng.randrange(len(passages) + 1), own)
        exercises.append({"question": question, "answer": f"是{name}说的。", "passages": passages})
    return exercises


def speaker_names(index, min_count=3):
    """The names of the books' characters, as far as speech shows them: whoever speaks min_count times or more
    (黄蓉笑道：“……”), longest first, so that a longer name is matched before a shorter one inside it."""
    counts = {}
    for passage in index.passages:
        for name, _ in speakers(passage["text"]):
            counts[name] = counts.get(name, 0) + 1
    return sorted((n for n, c in counts.items() if c >= min_count), key=len, reverse=True)


def rename_answer(question, answer, passages, names, rng):
    """(answer, passages) with one name that the answer and the passages share, and the question does not
    hold, replaced everywhere by another name (of the same length where one exists) that none of them holds;
    None when there is no such name."""
    text = "".join(p["text"] for p in passages)
    shared = [n for n in names if n in answer and n in text and n not in question]
    if not shared:
        return None
    old = shared[0]
    unused = [n for n in names if n not in text and n not in answer and n not in question and old not in n
              and n not in old]
    same_length = [n for n in unused if len(n) == len(old)]
    if not unused:
        return None
    new = rng.choice(same_length or unused)
    return answer.replace(old, new), [{**p, "text": p["text"].replace(old, new)} for p in passages]
