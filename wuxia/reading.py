"""Reading exercises made from the novels themselves, with no language model: questions whose answer is a
name that stands in one passage, for teaching an open-book model to take names from what it reads.

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
