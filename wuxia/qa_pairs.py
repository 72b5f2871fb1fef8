"""Question–answer pairs made from passages of a corpus by a chat model (make_qa.py), and the four kinds of
question the course asks about a novel: 人物介绍 (who someone is), 情节 (what happens), 人物关系 (how two
people are related) and 其他 (anything else: places, martial arts, objects).

Pure functions: the prompt for a passage, the parsing of a reply, and the checks a pair must pass before it
is kept (strict JSON, nothing empty, a known kind, and an answer grounded in its passage). report.py uses
question_kind() to show one sample answer of each kind.
"""
import json
import re

from wuxia.chat_client import json_reply
from wuxia.quality import normalize_for_match

KINDS = ("人物介绍", "情节", "人物关系", "其他")

# what a question of each kind usually says; checked in this order, the first match wins
_KIND_PATTERNS = [
    ("其他", re.compile("谁写的|作者|出自|下一句|上一句")),
    ("人物关系", re.compile("关系|之间|的(师父|师傅|徒弟|妻子|丈夫|父亲|母亲|儿子|女儿|兄弟|姐妹|朋友|仇人)|是谁的")),
    ("人物介绍", re.compile("介绍|是谁|是什么人|什么样的人|性格|外号|绰号|身份|出身")),
    ("情节", re.compile("发生|为什么|为何|怎么|如何|经过|结局|后来|做了什么|遇到|哪一回|情节")),
]

_CJK = re.compile("[\u4e00-\u9fff]")


def question_kind(question):
    """The kind (one of KINDS) a question most likely is, from its wording."""
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(question):
            return kind
    return "其他"


def build_prompt(passage, kinds=KINDS):
    """The chat message that asks for one pair of each kind about the passage, as JSON."""
    example = json.dumps({"pairs": [{"kind": kinds[0], "question": "……", "answer": "……", "names": ["……"]}]},
                         ensure_ascii=False)
    return (f"下面是一段小说原文：\n<<<\n{passage}\n>>>\n"
            f"请根据这段原文写 {len(kinds)} 个问答对，问题类型依次为：{'、'.join(kinds)}。要求：\n"
            "1. 答案只用原文中的信息，不要编造；\n"
            "2. 问题要能单独看懂：写出人名，不要用“他”“这段话”之类的指代；\n"
            "3. 每个答案至少提到原文中的一个人名（或地名、门派、武功名），并把答案提到的这些名字原样列在 names 里；\n"
            f"4. 只输出 JSON，不要任何其他文字，格式：{example}")


def parse_reply(content):
    """The list of pairs in a model's reply, or raise ValueError saying why there is none. The reply must be
    JSON: an object with a "pairs" list, or the list itself (a ```json fence around it is allowed)."""
    data = json_reply(content)
    pairs = data.get("pairs") if isinstance(data, dict) else data
    if not isinstance(pairs, list) or not pairs:
        raise ValueError("no pairs")
    return pairs


def _bigrams(text):
    chars = "".join(_CJK.findall(text))
    return [chars[i:i + 2] for i in range(len(chars) - 1)]


def grounding(answer, passage):
    """Share of the answer's Chinese character bigrams that occur in the passage (1.0 when it has none)."""
    bigrams = _bigrams(answer)
    return sum(b in passage for b in bigrams) / len(bigrams) if bigrams else 1.0


def check_pair(pair, passage, kinds=KINDS, min_grounding=0.3, max_chars=500):
    """(record, None) for a pair to keep, or (None, reason) for one to reject. Kept: a JSON object whose
    question and answer are non-empty text of at most max_chars, of a known kind, with a non-empty list of
    names that each appear in the passage and in the question or answer, and an answer of which at least
    min_grounding of the Chinese bigrams occur in the passage (a paraphrase passes, an invention does not)."""
    if not isinstance(pair, dict):
        return None, "not an object"
    question, answer, kind, names = (pair.get(k) for k in ("question", "answer", "kind", "names"))
    if not isinstance(question, str) or not isinstance(answer, str) or not question.strip() or not answer.strip():
        return None, "empty question or answer"
    question, answer = question.strip(), answer.strip()
    if len(question) > max_chars or len(answer) > max_chars:
        return None, "too long"
    if kind not in kinds:
        return None, "unknown kind"
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        return None, "no names"
    if any(n.strip() not in passage for n in names):
        return None, "name not in passage"
    if any(n.strip() not in question + answer for n in names):
        return None, "name not in the pair"
    if grounding(answer, passage) < min_grounding:
        return None, "answer not grounded"
    return {"question": question, "answer": answer, "kind": kind, "names": [n.strip() for n in names]}, None


def dedup_key(question):
    """Questions equal after removing whitespace and punctuation (and case) are duplicates."""
    return normalize_for_match(question)


def split_passages(text, passage_chars):
    """A cleaned document (one paragraph per line) cut into passages of about passage_chars characters at
    paragraph ends, as (offset, passage) pairs; a paragraph longer than passage_chars is a passage alone."""
    result, start, length = [], 0, 0
    for line in text.split("\n"):
        length += len(line) + 1
        if length >= passage_chars:
            result.append((start, text[start:start + length].strip()))
            start, length = start + length, 0
    if text[start:].strip():
        result.append((start, text[start:].strip()))
    return result
