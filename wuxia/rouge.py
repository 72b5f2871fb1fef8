"""Rouge-L: how much of the reference answer a generated answer contains, in order.

    P = LCS / len(prediction)    R = LCS / len(reference)    F = (1 + beta^2) P R / (R + beta^2 P)

where LCS is the length of the longest common subsequence of the two token lists (not necessarily
contiguous: "郭靖的师父是洪七公" and "洪七公是郭靖的师父" share "郭靖的师父", LCS 5). beta > 1 weighs recall
more, beta < 1 precision; beta = 1 is the usual F1.

Tokens (tokenize()): the text is NFKC-normalised (full-width letters and digits become ASCII) and
lowercased, then
  - every CJK character (Chinese, Japanese kana, Korean hangul) is one token;
  - every other run of letters and digits is one token, a word: "Hello world 2024" -> hello, world, 2024;
  - whitespace, punctuation and symbols are not tokens; they only separate words.
So "郭靖用降龙十八掌打败了Ouyang Feng。" -> 郭 靖 用 降 龙 十 八 掌 打 败 了 ouyang feng.
"""
import unicodedata

# code point ranges whose letters are written without spaces between words, so each character is a token
CJK_RANGES = (
    (0x2E80, 0x9FFF),    # CJK radicals, Kangxi radicals, kana, bopomofo, hangul jamo, CJK ext. A, unified ideographs
    (0xAC00, 0xD7AF),    # hangul syllables
    (0xF900, 0xFAFF),    # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK ext. B and beyond
)


def is_cjk(ch):
    code = ord(ch)
    return any(low <= code <= high for low, high in CJK_RANGES)


def tokenize(text):
    """The tokens Rouge-L compares (see the module docstring for the exact rule)."""
    tokens, word = [], []
    for ch in unicodedata.normalize("NFKC", text).lower():
        if ch.isalnum() and not is_cjk(ch):
            word.append(ch)
            continue
        if word:
            tokens.append("".join(word))
            word = []
        if ch.isalnum():  # a CJK letter (punctuation such as 。 is in the CJK ranges but is not alphanumeric)
            tokens.append(ch)
    if word:
        tokens.append("".join(word))
    return tokens


def lcs_length(a, b):
    """Length of the longest common subsequence of two sequences, by dynamic programming.

    The table row for a[:i] only needs the row for a[:i-1], so we keep two rows of len(shorter) + 1
    entries: O(len(a) * len(b)) time, O(min(len(a), len(b))) memory."""
    if len(a) < len(b):
        a, b = b, a  # b is the shorter one: the rows run over it
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
            else:
                current[j] = max(previous[j], current[j - 1])
        previous = current
    return previous[-1]


def rouge_l_tokens(prediction_tokens, reference_tokens, beta=1.0):
    """Rouge-L of two token lists: {"p", "r", "f", "lcs"}. An empty side scores 0 (nothing to match)."""
    lcs = lcs_length(prediction_tokens, reference_tokens)
    if lcs == 0:
        return {"p": 0.0, "r": 0.0, "f": 0.0, "lcs": 0}
    precision = lcs / len(prediction_tokens)
    recall = lcs / len(reference_tokens)
    f = (1 + beta ** 2) * precision * recall / (recall + beta ** 2 * precision)
    return {"p": precision, "r": recall, "f": f, "lcs": lcs}


def rouge_l(prediction, reference, beta=1.0):
    """Rouge-L of two texts, tokenized by tokenize(): {"p", "r", "f", "lcs"}."""
    return rouge_l_tokens(tokenize(prediction), tokenize(reference), beta)


def typical_answer(answers, sample=60):
    """The answer with the highest mean Rouge-L F1 against the other answers, among `sample` of them spread
    evenly over the list: the best one sentence to give to every question, learned from training answers.
    A model must beat that constant (and echoing the question) before its answers mean anything."""
    step = max(1, len(answers) // sample)
    chosen = [tokenize(a) for a in answers[::step][:sample]]
    if len(chosen) < 2:
        return answers[0] if answers else ""
    scores = [sum(rouge_l_tokens(a, b)["f"] for j, b in enumerate(chosen) if j != i) for i, a in enumerate(chosen)]
    return answers[::step][scores.index(max(scores))]
