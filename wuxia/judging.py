"""Grading answers with an LLM judge, as the course's TAs did: the judge sees the question, the reference
answer and the answer to grade, and replies with a score on a fixed scale and a one-line reason (judge.py).

Pure functions: the prompt, the strict parsing of a reply (a reply that is not exactly what was asked for is
an error, never a guess), the cache key of a judgement, and the rank correlation that says how far the judge
agrees with Rouge-L.
"""
import hashlib
import json

from wuxia.chat_client import json_reply

MAX_SCORE = 5
SCALE = {5: "完全正确：与参考答案的要点一致，没有错误",
         4: "基本正确：要点正确，有小的遗漏或不准确",
         3: "部分正确：答对了一部分要点，也有错误或遗漏",
         2: "大部分错误：只有少量正确信息",
         1: "错误：与问题有关，但内容不对",
         0: "完全错误、答非所问、空白、乱码或不断重复"}


def build_prompt(question, reference, answer):
    """The message that asks the judge for one score and one reason, as JSON."""
    scale = "\n".join(f"{score} 分：{meaning}" for score, meaning in SCALE.items())
    return ("你是考官，要根据参考答案给学生的回答打分。只看事实是否正确，不看文笔和长短；参考答案之外的内容，"
            "只要不与原著矛盾就不扣分。\n"
            f"【问题】{question}\n【参考答案】{reference}\n【学生回答】{answer}\n"
            f"评分标准（0 到 {MAX_SCORE} 的整数）：\n{scale}\n"
            '只输出一个 JSON 对象，不要任何其他文字，格式：{"score": 整数, "reason": "一句话理由"}')


def parse_judgement(content):
    """(score, reason) from a judge's reply, or ValueError saying what is wrong with it. The reply must be
    one JSON object (a ```json fence around it is allowed) with an integer score from 0 to MAX_SCORE and a
    reason of one non-empty line. Nothing else is accepted: "给 4 分" is not read as 4."""
    data = json_reply(content)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    score, reason = data.get("score"), data.get("reason")
    if isinstance(score, bool) or not isinstance(score, int):
        raise ValueError(f"score is not an integer: {json.dumps(score, ensure_ascii=False)}")
    if not 0 <= score <= MAX_SCORE:
        raise ValueError(f"score {score} is outside 0..{MAX_SCORE}")
    if not isinstance(reason, str) or not reason.strip() or "\n" in reason.strip():
        raise ValueError("reason is not one line of text")
    return score, reason.strip()


def cache_key(model, prompt):
    """What a judgement depends on: the judge model and the whole prompt (question, reference, answer)."""
    return hashlib.sha256(json.dumps([model, prompt], ensure_ascii=False).encode("utf-8")).hexdigest()[:24]


def ranks(values):
    """1-based ranks, ties sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=values.__getitem__)
    result = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for i in order[start:end + 1]:
            result[i] = (start + end) / 2 + 1
        start = end + 1
    return result


def spearman(xs, ys):
    """Spearman's rank correlation (Pearson's on the ranks, ties averaged); None when it is undefined
    (fewer than two pairs, or one side constant)."""
    if len(xs) < 2:
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return sxy / (sxx * syy) ** 0.5 if sxx and syy else None
