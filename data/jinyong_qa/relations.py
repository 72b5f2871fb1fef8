"""Who is whose wife, father, master or disciple: relation facts of the three novels, each asked in the ways
people ask it ("郭靖的妻子是谁？", "郭靖娶了谁？", "郭靖的老婆是谁？", "谁是郭靖的妻子？"...), with a short answer
that restates the relation and names the person first, then one sentence of context.

    python data/jinyong_qa/relations.py     # writes relations.jsonl here and ../jinyong_probe.jsonl

Why: the fine-tuned CPU model answered "郭靖的妻子是谁？" with "郭靖的妻子是郭靖": the hand-written pairs ask most
relations in one or two phrasings, and a colloquial one (老婆, 爹, 师傅, 心上人) it had never seen made it
pick another relation. Every fact here is asked in every phrasing but one, which goes to the probe
(data/jinyong_probe.jsonl, never trained on: bench/bench_quality.py asks it): a different phrasing from
fact to fact, so each phrasing is taught with other people and the probe asks a known fact in words the
model has met only about others. A question the hand-written files already ask is left to them. Facts were
written from the 1970s (三联) text and relations.jsonl is checked like the rest of the set:
python data/jinyong_qa/check_facts.py --novels=../shared/jinyong/novels
"""
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
S, D, T = "射雕英雄传", "神雕侠侣", "天龙八部"
# (book, X, relation, Y, one sentence of context, evidence groups for check_facts.py)
FACTS = [
 (S, "郭靖", "妻子", "黄蓉", "两人在张家口相识，一同闯荡江湖，后来在襄阳共守城池。", [["郭靖", "黄蓉"]]),
 (S, "黄蓉", "丈夫", "郭靖", "黄蓉是桃花岛主黄药师的女儿，她和郭靖在张家口相识，后来结为夫妻。", [["郭靖", "黄蓉", "黄药师"]]),
 (S, "郭靖", "父亲", "郭啸天", "郭啸天在牛家村被段天德带兵所杀，郭靖是他死后才出生的。", [["郭啸天", "牛家村"], ["郭啸天", "段天德"]]),
 (S, "郭靖", "母亲", "李萍", "李萍逃到蒙古，在大漠里生下郭靖，把他抚养长大。", [["李萍", "郭靖"]]),
 (S, "黄蓉", "父亲", "黄药师", "黄药师是桃花岛主，人称“东邪”。", [["黄药师", "黄蓉", "桃花岛"]]),
 (S, "黄蓉", "师父", "洪七公", "洪七公是丐帮帮主，人称“北丐”，他教了黄蓉打狗棒法。", [["洪七公", "黄蓉", "打狗棒"]]),
 (S, "杨康", "父亲", "杨铁心", "杨康是杨铁心和包惜弱的儿子，却在金国赵王府里长大，认完颜洪烈为父。", [["杨铁心", "包惜弱"], ["杨康", "完颜洪烈"]]),
 (S, "杨康", "母亲", "包惜弱", "包惜弱被完颜洪烈带到金国，杨康因此在赵王府长大。", [["包惜弱", "完颜洪烈"]]),
 (S, "杨康", "师父", "丘处机", "丘处机是全真七子之一，在赵王府里传授杨康武功。", [["丘处机", "杨康"]]),
 (S, "杨康", "伴侣", "穆念慈", "穆念慈是杨铁心的义女，她和杨康比武招亲时相识，后来生下了杨过。", [["穆念慈", "杨康"], ["穆念慈", "比武招亲"]]),
 (S, "穆念慈", "义父", "杨铁心", "杨铁心收养了穆念慈，带着她走江湖比武招亲。", [["穆念慈", "杨铁心"]]),
 (S, "梅超风", "丈夫", "陈玄风", "两人都是黄药师的弟子，合称黑风双煞。", [["梅超风", "陈玄风"], ["黑风双煞", "陈玄风"]]),
 (S, "梅超风", "师父", "黄药师", "梅超风和陈玄风偷了《九阴真经》下卷，逃出了桃花岛。", [["梅超风", "黄药师"]]),
 (S, "周伯通", "师兄", "王重阳", "周伯通是全真教创始人王重阳的师弟，人称“老顽童”。", [["周伯通", "王重阳", "师兄"]]),
 (S, "瑛姑", "情人", "周伯通", "瑛姑原是段皇爷的刘贵妃，和周伯通相恋生下一子。", [["瑛姑", "周伯通"], ["刘贵妃", "周伯通"]]),
 (S, "一灯大师", "徒弟", "渔樵耕读四人", "一灯大师就是当年的南帝段皇爷，渔樵耕读四大弟子守在他隐居的山上。", [["一灯", "段皇爷"], ["渔", "樵", "耕", "读"]]),
 (S, "黄药师", "徒弟", "陈玄风、梅超风、曲灵风、陆乘风、武眠风和冯默风", "他因陈玄风、梅超风盗经私奔，把弟子都打断腿逐出了桃花岛。", [["曲灵风", "陆乘风"], ["陈玄风", "梅超风", "黄药师"]]),
 (S, "洪七公", "徒弟", "郭靖和黄蓉", "他传了郭靖降龙十八掌，传了黄蓉打狗棒法。", [["洪七公", "郭靖", "降龙十八掌"]]),
 (S, "王重阳", "徒弟", "全真七子", "全真七子是马钰、谭处端、刘处玄、丘处机、王处一、郝大通和孙不二。", [["马钰", "丘处机", "王处一"]]),
 (S, "欧阳克", "叔父", "欧阳锋", "欧阳锋是白驼山主，人称“西毒”。", [["欧阳克", "欧阳锋", "叔"]]),
 (S, "华筝", "未婚夫", "郭靖", "华筝是成吉思汗的女儿，成吉思汗曾把她许配给郭靖。", [["华筝", "郭靖"]]),
 (S, "陆冠英", "妻子", "程瑶迦", "陆冠英是归云庄少庄主，程瑶迦是孙不二的弟子。", [["陆冠英", "程瑶迦"]]),
 (S, "傻姑", "父亲", "曲灵风", "曲灵风是黄药师的弟子，被逐出桃花岛后死在牛家村。", [["傻姑", "曲灵风"]]),
 (S, "郭靖", "结义兄弟", "拖雷", "拖雷是成吉思汗的儿子，两人在大漠结为安答。", [["拖雷", "安答", "郭靖"]]),
 (D, "杨过", "妻子", "小龙女", "小龙女原是杨过的师父，两人在古墓相依为命，历经十六年离别后在绝情谷底重逢。", [["杨过", "小龙女"]]),
 (D, "小龙女", "丈夫", "杨过", "杨过本是她的徒弟，两人历经波折结为夫妻，最后一同归隐古墓。", [["杨过", "小龙女"]]),
 (D, "杨过", "父亲", "杨康", "杨康在嘉兴铁枪庙中毒而死，杨过是他死后才出生的。", [["杨过", "杨康"]]),
 (D, "杨过", "母亲", "穆念慈", "穆念慈独自把杨过抚养到十一二岁，后来染病去世。", [["杨过", "穆念慈"]]),
 (D, "杨过", "师父", "小龙女", "杨过逃出全真教后进了古墓，小龙女收他为徒，传他古墓派武功。", [["杨过", "小龙女", "古墓"]]),
 (D, "杨过", "义父", "欧阳锋", "欧阳锋疯疯癫癫，收杨过为义子，教了他蛤蟆功和逆练九阴真经。", [["欧阳锋", "杨过", "义"]]),
 (D, "小龙女", "师姐", "李莫愁", "李莫愁人称“赤练仙子”，早年被逐出古墓。", [["李莫愁", "小龙女", "古墓"]]),
 (D, "郭芙", "丈夫", "耶律齐", "耶律齐是周伯通的徒弟，后来做了丐帮帮主。", [["郭芙", "耶律齐"]]),
 (D, "郭芙", "父亲", "郭靖", "郭芙是郭靖和黄蓉的大女儿，郭襄和郭破虏是她的妹妹和弟弟。", [["郭芙", "郭靖", "黄蓉"]]),
 (D, "郭襄", "父亲", "郭靖", "郭襄是郭靖和黄蓉的二女儿，和郭破虏是双胞胎。", [["郭襄", "郭破虏"]]),
 (D, "郭襄", "心上人", "杨过", "郭襄在风陵渡听人说起神雕侠，从此一直记挂着杨过，可杨过心里只有小龙女。", [["郭襄", "杨过", "风陵渡"]]),
 (D, "耶律齐", "师父", "周伯通", "耶律齐是蒙古丞相耶律楚材的儿子，武功是周伯通教的。", [["耶律齐", "周伯通"]]),
 (D, "武修文", "父亲", "武三通", "武敦儒和武修文是武三通的两个儿子，后来拜郭靖为师。", [["武三通", "武修文"]]),
 (D, "武修文", "妻子", "完颜萍", "完颜萍是金国女子，后来和武修文结为夫妻。", [["武修文", "完颜萍"]]),
 (D, "武敦儒", "妻子", "耶律燕", "耶律燕是耶律齐的妹妹。", [["武敦儒", "耶律燕"]]),
 (D, "公孙绿萼", "父亲", "公孙止", "公孙止是绝情谷谷主，公孙绿萼为救杨过死在他的剑下。", [["公孙绿萼", "公孙止"]]),
 (D, "公孙止", "妻子", "裘千尺", "裘千尺是铁掌帮帮主裘千仞的妹妹，被公孙止挑断手筋脚筋推下石窟。", [["公孙止", "裘千尺"]]),
 (D, "金轮法王", "徒弟", "达尔巴和霍都", "金轮法王是蒙古国师，达尔巴是他的二弟子，霍都是三弟子。", [["金轮法王", "达尔巴"], ["金轮法王", "霍都"]]),
 (D, "陆无双", "表姐", "程英", "两人都倾心于杨过，最后结伴同行。", [["陆无双", "程英"]]),
 (D, "程英", "师父", "黄药师", "程英是桃花岛主黄药师的关门弟子。", [["程英", "黄药师"]]),
 (D, "尹志平", "师父", "丘处机", "尹志平是丘处机的弟子，后来做了全真教掌教。", [["尹志平", "丘处机"]]),
 (D, "赵志敬", "师父", "王处一", "赵志敬是全真教第三代弟子，郭靖把杨过交给他教导，他却欺侮杨过。", [["赵志敬", "王处一"]]),
 (D, "周伯通", "伴侣", "瑛姑", "周伯通早年和瑛姑相恋，最后两人和一灯大师同住百花谷。", [["周伯通", "瑛姑"]]),
 (T, "段誉", "伴侣", "王语嫣", "段誉对王语嫣一见倾心，一路追随，最后王语嫣回心转意，和他在一起。", [["段誉", "王语嫣"]]),
 (T, "王语嫣", "伴侣", "段誉", "王语嫣原先一心想着表哥慕容复，在枯井里被段誉的痴情打动，从此跟了段誉。", [["王语嫣", "段誉", "枯井"]]),
 (T, "段誉", "母亲", "刀白凤", "刀白凤是大理镇南王段正淳的王妃，出家后法名玉虚散人。", [["刀白凤", "段誉"]]),
 (T, "段誉", "亲生父亲", "段延庆", "段誉名义上是段正淳的儿子，刀白凤临终才说出他的亲生父亲是段延庆。", [["段延庆", "段誉", "刀白凤"]]),
 (T, "段正淳", "妻子", "刀白凤", "段正淳风流多情，除了王妃刀白凤，还有秦红棉、甘宝宝、阮星竹等情人。", [["段正淳", "刀白凤"]]),
 (T, "木婉清", "母亲", "秦红棉", "秦红棉人称“修罗刀”，是段正淳的旧情人。", [["木婉清", "秦红棉"]]),
 (T, "木婉清", "父亲", "段正淳", "木婉清是段正淳和秦红棉的女儿，所以是段誉同父异母的妹妹。", [["木婉清", "段正淳"]]),
 (T, "钟灵", "母亲", "甘宝宝", "钟灵名义上是万劫谷谷主钟万仇的女儿，生父其实是段正淳。", [["钟灵", "甘宝宝"], ["钟万仇", "甘宝宝"]]),
 (T, "阿朱", "父亲", "段正淳", "阿朱和阿紫是段正淳和阮星竹的女儿，自小送给了别人。", [["阿朱", "阮星竹", "段正淳"]]),
 (T, "阿紫", "母亲", "阮星竹", "阿紫是段正淳和阮星竹的小女儿，阿朱的妹妹。", [["阿紫", "阮星竹"]]),
 (T, "阿朱", "心上人", "萧峰", "阿朱和萧峰约定塞上牛羊，却在小镜湖青石桥被萧峰误杀。", [["阿朱", "萧峰"]]),
 (T, "阿紫", "心上人", "萧峰", "阿紫一心恋着姐夫萧峰，萧峰自尽后她抱着他的尸身跳下了悬崖。", [["阿紫", "萧峰"]]),
 (T, "萧峰", "父亲", "萧远山", "萧远山是契丹人，雁门关外中伏后萧峰被乔三槐夫妇收养。", [["萧远山", "萧峰"]]),
 (T, "萧峰", "师父", "玄苦大师", "萧峰原名乔峰，少林寺的玄苦大师教过他武功，丐帮帮主汪剑通也传过他武艺。", [["玄苦", "乔峰"]]),
 (T, "萧峰", "结义兄弟", "虚竹和段誉", "段誉在无锡和乔峰喝酒结拜；后来段誉和虚竹结拜时把乔峰也算在内，三人在少室山上相认。", [["萧峰", "虚竹", "段誉", "结拜"], ["乔峰", "段誉", "无锡"]]),
 (T, "虚竹", "父亲", "玄慈方丈", "虚竹是少林寺方丈玄慈和叶二娘的儿子。", [["虚竹", "玄慈"]]),
 (T, "虚竹", "母亲", "叶二娘", "叶二娘是四大恶人之一，因为丢了自己的孩子才去偷别人的孩子。", [["虚竹", "叶二娘"]]),
 (T, "虚竹", "妻子", "西夏公主", "虚竹在灵鹫宫的冰窖里和西夏公主相会，后来做了西夏驸马。", [["虚竹", "西夏", "公主"]]),
 (T, "虚竹", "师父", "无崖子", "无崖子是逍遥派掌门，把七十年功力传给了虚竹，天山童姥也教过他武功。", [["虚竹", "无崖子"]]),
 (T, "慕容复", "父亲", "慕容博", "慕容博假死隐身在少林寺，一心想恢复大燕。", [["慕容复", "慕容博"]]),
 (T, "王语嫣", "表哥", "慕容复", "王语嫣从小倾心于表哥慕容复，为了他读遍了曼陀山庄的武学典籍。", [["王语嫣", "慕容复", "表哥"]]),
 (T, "王语嫣", "母亲", "王夫人", "王夫人是曼陀山庄的主人，喜欢把大理来的男人杀了做花肥。", [["王语嫣", "王夫人"]]),
 (T, "游坦之", "心上人", "阿紫", "游坦之对阿紫一往情深，最后把自己的眼睛给了她。", [["游坦之", "阿紫"]]),
 (T, "无崖子", "徒弟", "苏星河和丁春秋", "丁春秋背叛师门，把无崖子打下悬崖。", [["无崖子", "苏星河", "丁春秋"]]),
 (T, "阿紫", "师父", "丁春秋", "丁春秋是星宿派的星宿老怪，阿紫从小在星宿派学艺。", [["阿紫", "丁春秋"]]),
 (T, "段正淳", "哥哥", "段正明", "段正明是大理国皇帝保定帝，后来出家，把皇位传给了段誉。", [["段正明", "段正淳"]]),
]

# phrasings per relation: (question, answer opening), {x} the subject, {y} the answer
SPOUSE_M = [("{x}的妻子是谁？", "{x}的妻子是{y}。"), ("{x}娶了谁？", "{x}娶的是{y}。"), ("{x}的伴侣是谁？", "{x}的伴侣是{y}。"),
            ("{x}和谁结为夫妻？", "{x}和{y}结为夫妻。"), ("{x}的老婆是谁？", "{x}的妻子是{y}。"), ("{x}的夫人是谁？", "{x}的夫人是{y}。")]
SPOUSE_F = [("{x}的丈夫是谁？", "{x}的丈夫是{y}。"), ("{x}嫁给了谁？", "{x}嫁给了{y}。"), ("{x}的伴侣是谁？", "{x}的伴侣是{y}。"),
            ("{x}和谁结为夫妻？", "{x}和{y}结为夫妻。"), ("{x}的另一半是谁？", "{x}的另一半是{y}。"), ("{x}的老公是谁？", "{x}的丈夫是{y}。")]
LOVE = [("{x}的伴侣是谁？", "{x}的伴侣是{y}。"), ("{x}喜欢谁？", "{x}喜欢的人是{y}。"), ("{x}爱的是谁？", "{x}爱的是{y}。"),
        ("{x}的心上人是谁？", "{x}的心上人是{y}。"), ("{x}的意中人是谁？", "{x}的意中人是{y}。")]


def kin(rel, aliases):
    """Phrasings for a family relation: its own word three ways, then its everyday words (爹, 娘, ...)."""
    return [(f"{{x}}的{rel}是谁？", f"{{x}}的{rel}是{{y}}。"), (f"谁是{{x}}的{rel}？", f"{{y}}是{{x}}的{rel}。"),
            (f"{{x}}的{rel}叫什么名字？", f"{{x}}的{rel}叫{{y}}。")] + \
           [(f"{{x}}的{alias}是谁？", f"{{x}}的{rel}是{{y}}。") for alias in aliases]

PHRASINGS = {
    "妻子": SPOUSE_M, "丈夫": SPOUSE_F, "伴侣": LOVE, "情人": LOVE, "心上人": LOVE,
    "父亲": kin("父亲", ["爹", "爸爸", "生父"]), "母亲": kin("母亲", ["娘", "妈妈"]), "亲生父亲": kin("亲生父亲", ["生父", "亲爹"]),
    "师父": [("{x}的师父是谁？", "{x}的师父是{y}。"), ("{x}拜谁为师？", "{x}拜{y}为师。"), ("谁是{x}的师父？", "{y}是{x}的师父。"),
             ("{x}的武功是跟谁学的？", "{x}的武功是跟{y}学的。"), ("教{x}武功的是谁？", "{x}的师父是{y}。"),
             ("{x}的师傅是谁？", "{x}的师父是{y}。")],
    "徒弟": [("{x}的徒弟是谁？", "{x}的徒弟是{y}。"), ("{x}收过哪些徒弟？", "{x}收的徒弟是{y}。"), ("{x}有哪些弟子？", "{x}的弟子是{y}。"),
             ("{x}教过谁武功？", "{x}的徒弟是{y}。"), ("谁是{x}的徒弟？", "{y}是{x}的徒弟。")],
}


def generic(rel):
    """Three phrasings for any other relation (表哥, 师兄, 叔父, ...): too few to hold one out for the probe."""
    return [(f"{{x}}的{rel}是谁？", f"{{x}}的{rel}是{{y}}。"), (f"谁是{{x}}的{rel}？", f"{{y}}是{{x}}的{rel}。"),
            (f"{{x}}的{rel}叫什么？", f"{{x}}的{rel}叫{{y}}。")]


# other right answers to a probe question (a second master, a wife's other name)
ALSO = {("萧峰", "师父"): ["汪剑通"], ("虚竹", "师父"): ["天山童姥", "童姥"], ("杨过", "师父"): ["欧阳锋", "洪七公"],
        ("郭靖", "师父"): ["七怪", "洪七公"], ("杨康", "师父"): ["梅超风"], ("虚竹", "妻子"): ["梦姑"]}


def held_out_names(y, subject, relation):
    """The names a probe answer must contain one of: the answer's own (split at 、 and 和, titles dropped)
    and other right answers (ALSO)."""
    names = [name.removesuffix("四人").removesuffix("大师").removesuffix("方丈") for name in re.split("[、和]", y)]
    return names + ALSO.get((subject, relation), [])


def questions_asked_by_hand():
    """The questions of the hand-written files (one per book): relations.py leaves those to them."""
    asked = set()
    for name in ("shediao", "shendiao", "tianlong"):
        with open(os.path.join(HERE, f"{name}.jsonl"), encoding="utf-8") as f:
            asked |= {json.loads(line)["question"] for line in f}
    return asked


def relation_pairs(asked_by_hand):
    """(pairs for relations.jsonl, probe questions for ../jinyong_probe.jsonl)."""
    pairs, probe = [], []
    for n, (book, x, relation, y, context, evidence) in enumerate(FACTS):
        phrasings = PHRASINGS.get(relation) or generic(relation)
        questions = [q.format(x=x, y=y) for q, _ in phrasings]
        held_out = None
        if len(phrasings) >= 4:  # a fact with few phrasings is only taught
            held_out = next(k % len(phrasings) for k in range(n, n + len(phrasings))
                            if questions[k % len(phrasings)] not in asked_by_hand)
        for i, (question, (_, opening)) in enumerate(zip(questions, phrasings)):
            if question in asked_by_hand:
                continue
            answer = opening.format(x=x, y=y) + context
            if i == held_out:
                probe.append({"question": question, "answer": answer, "book": book,
                              "names": held_out_names(y, x, relation)})
            else:
                pairs.append({"question": question, "answer": answer, "book": book, "kind": "人物关系",
                              "evidence": evidence})
    return pairs, probe


PAIRS_PATH = os.path.join(HERE, "relations.jsonl")
PROBE_PATH = os.path.join(HERE, "..", "jinyong_probe.jsonl")

if __name__ == "__main__":
    pairs, probe = relation_pairs(questions_asked_by_hand())
    for path, records in ((PAIRS_PATH, pairs), (PROBE_PATH, probe)):
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    print(f"{len(FACTS)} facts: {len(pairs)} pairs in data/jinyong_qa/relations.jsonl, "
          f"{len(probe)} probe questions in data/jinyong_probe.jsonl")
