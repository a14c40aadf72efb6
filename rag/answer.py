"""Answering: retrieve, refuse honestly when nothing relevant is found, else prompt the LLM and cite."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from rag.llm.base import ChatModel, GenerationOptions
from rag.prompt import REFUSAL_EN, REFUSAL_ZH, PriorTurn, PromptTemplate, display_source, refusal_for
from rag.answerable import AnswerabilityCheck
from rag.retrieve import Hit, check_question
from rag.sanitize import document_for_prompt
from rag.text import chinese_numbers_as_digits, code_family, english_numbers_as_digits

_CITATION = re.compile(r"\[(\d{1,3})\]")
# A small model that cannot find the answer may copy a document block, starting with its header as the
# prompt writes it: "[1] (manual.html, page 3)".
_ECHOED_HEADER = re.compile(r"\s*\[(\d{1,3})\]\s*\(([^()\n]{1,200})\)\s*(?:\n|$)")
SNIPPET_CHARS = 240
# A line longer than this is no table row or list item of its own (a code's line stands in whole).
CODE_LINE_CHARS = 300
_CJK_CHARS = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
# Share of a question's content words a passage sentence must hold to stand in for an answer whose figure
# the passages do not give (Answerer._quote_answering).
QUOTE_COVERAGE = 0.75


@dataclass(frozen=True)
class Source:
    number: int  # the [n] the answer cites
    source: str  # full path of the file
    page: int | None
    start: int
    end: int
    snippet: str
    score: float
    relevance: float
    cited: bool  # the answer text cites this number

    @property
    def label(self) -> str:
        name = display_source(self.source)
        return f"{name}:{self.page}" if self.page is not None else name


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    sources: tuple[Source, ...]
    refused: bool  # True: the knowledge base does not hold the answer (no invented one was given)
    timings: dict[str, float] = field(default_factory=dict)  # retrieve_s, generate_s, first_token_s
    # False when the answer shares no term with the passages the model read nor with the question: it
    # is then not shown as sourced (no citation), whatever numbers the model wrote.
    grounded: bool = True
    standalone_question: str | None = None  # a follow-up rewritten to stand alone (what retrieval used)

    @property
    def cited_sources(self) -> tuple[Source, ...]:
        return tuple(s for s in self.sources if s.cited)


class AnswerStream:
    """Iterate to get the answer text piece by piece; afterwards `.answer` holds the complete Answer."""

    def __init__(self, pieces: Iterator[str], finish: Callable[[str, float | None], Answer]):
        self._pieces = pieces
        self._finish = finish
        self._done: list[Callable[[Answer], None]] = []
        self.answer: Answer | None = None

    def add_done_callback(self, callback: Callable[[Answer], None]) -> None:
        """Call `callback(answer)` once the whole answer has been generated."""
        self._done.append(callback)

    def close(self) -> None:
        """Stop generating (a client went away); no answer is recorded."""
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()

    def __iter__(self) -> Iterator[str]:
        started = time.perf_counter()
        first_token_s = None
        parts = []
        for piece in self._pieces:
            if first_token_s is None:
                first_token_s = time.perf_counter() - started
            parts.append(piece)
            yield piece
        self.answer = self._finish("".join(parts), first_token_s)
        for callback in self._done:
            callback(self.answer)

    def collect(self) -> Answer:
        for _ in self:
            pass
        assert self.answer is not None
        return self.answer


_SAYS_NOT_FOUND = re.compile(
    r"\b(?:not|never) (?:mentioned|provided|specified|stated|found|available|included|given|listed|covered)\b"
    r"|\bno (?:information|mention|details|data|answer)\b|\bdoes(?:n't| not) (?:say|mention|specify|contain|provide|include|state)\b"
    r"|\b(?:cannot|can't|unable to) (?:find|answer|determine|be determined)\b|\bdon't have (?:any )?information\b"
    r"|没有(?:提到|提及|找到|相关|说明|给出|包含|明确)|未(?:提及|提到|说明|找到|给出|包含|明确)|无法(?:回答|确定|找到)|不包含|并未",
    re.IGNORECASE,
)


def _is_refusal(text: str) -> bool:
    """The model's own "not in the documents": our refusal sentence, or a short reply that says so."""
    stripped = text.strip().rstrip(".。")
    if any(r.rstrip(".。") in stripped for r in (REFUSAL_EN, REFUSAL_ZH)) and len(stripped) < 2 * len(REFUSAL_EN):
        return True
    return len(stripped) < 240 and _SAYS_NOT_FOUND.search(stripped) is not None


# A figure and the unit (or Chinese measure word) right after it, if any. The digits of a code (QF-200,
# SW-5K, E03, IP66) are names, not figures; a minus after a space is a sign (-20 ℃).
_QUANTITY = re.compile(r"(?<![A-Za-z0-9.,_])(?<![A-Za-z0-9]-)(\d+(?:[.,]\d+)*)\s*([a-zA-Z%°℃µ]+(?:[./][a-zA-Z]+)?|[\u4e00-\u9fff])?")


def _units(text: str) -> dict[str, set[str]]:
    """Each figure of `text` (number words as digits, no thousands commas) and the units written after
    it; "" where it stands bare."""
    out: dict[str, set[str]] = {}
    for number, unit in _QUANTITY.findall(english_numbers_as_digits(chinese_numbers_as_digits(text))):
        out.setdefault(number.replace(",", ""), set()).add(unit.lower())
    return out


def _is_cjk(unit: str) -> bool:
    return bool(unit) and "\u4e00" <= unit[0] <= "\u9fff"


# A Chinese unit or measure word (its first character) and the Latin units it translates, so that an
# answer in Chinese over an English passage ("8 小时" over "8 hours") keeps its support.
_UNIT_TRANSLATIONS = {
    "小": {"h", "hour", "hours", "hr", "hrs"}, "时": {"h", "hour", "hours"}, "分": {"min", "minute", "minutes", "point", "points"},
    "秒": {"s", "sec", "second", "seconds"}, "米": {"m", "metre", "metres", "meter", "meters"}, "毫": {"mm", "ml", "mg", "ms"},
    "厘": {"cm"}, "千": {"kg", "km", "kw", "kpa", "kn"}, "公": {"kg", "km", "kw"}, "克": {"g"}, "升": {"l", "litre", "litres"},
    "个": {"month", "months"}, "月": {"month", "months"}, "年": {"year", "years", "yr"}, "天": {"day", "days"}, "日": {"day", "days"},
    "周": {"week", "weeks"}, "次": {"times", "time"}, "度": {"°", "degrees", "℃", "c"}, "兆": {"mpa", "mb"}, "伏": {"v"},
    "瓦": {"w"}, "赫": {"hz"}, "元": {"yuan", "rmb", "cny"}, "立": {"m", "m3", "l"}, "平": {"m", "m2"},
}


def _units_agree(answer_units: set[str], passage_units: set[str]) -> bool:
    """Whether a number is quoted with a unit the passages give it (allowing Chinese-English pairs)."""
    if answer_units & passage_units:
        return True
    for unit in answer_units:
        if _is_cjk(unit):
            if _UNIT_TRANSLATIONS.get(unit[0], set()) & passage_units:
                return True
        elif any(_is_cjk(p) and unit in _UNIT_TRANSLATIONS.get(p[0], set()) for p in passage_units):
            return True
    return False


# A question that asks what something costs is answered by an amount of money, not by the nearest figure.
# A fine is money too ("What fine does an employee pay…"), not fine dust or a fine mesh.
_ASKS_PRICE = re.compile(r"\b(?:prices?|priced|costs?|fees?|charges?)\b|how much (?:do|does|is|are|will)\b.*\b(?:pay|charge|cost)"
                         r"|\b(?:what|which|how (?:much|large|high|big)|pay|paid|impose[sd]?|face[sd]?)\s+(?:\w+\s+)?fines?\b(?!\s*(?:dust|mesh|grain|particles?|sand|powder|print|tun))"
                         r"|价格|价钱|多少钱|售价|报价|费用|单价|收费|罚(?:款|金)?(?:是)?多少", re.IGNORECASE)
_MONEY = re.compile(r"[$€£¥￥]|\b(?:USD|EUR|RMB|CNY|GBP|JPY|dollars?|euros?|yuan|free of charge)\b|元|美元|欧元|免费",
                    re.IGNORECASE)
# A Chinese question about how long or how often is answered by a span of time (8 小时, 每季度, 一个班次),
# not by the nearest figure ("15~25 ℃", "10米" were answers to such questions).
_ASKS_DURATION_ZH = re.compile(r"多久|多长时间|多少(?:天|年|个月|小时|分钟|秒)|几(?:年|个月|天|周|小时|分钟)")
_TIME = re.compile(r"[年月周天日时分秒]|季度|星期|班|\b(?:h|hrs?|min|minutes?|hours?|days?|weeks?|months?|years?|s)\b", re.IGNORECASE)
# The English questions that can only ask for a span or a frequency ("For how long is the inverter covered?"
# is not answered by "50 cm of free space"); a plain "how long" may ask for a length.
_ASKS_DURATION_EN = re.compile(r"\bfor how (?:long|many (?:years|months|weeks|days|hours))\b|\bhow (?:often|frequently|soon|quickly)\b",
                               re.IGNORECASE)
_TIME_EN = re.compile(rf"{_TIME.pattern}|\b(?:daily|weekly|monthly|quarterly|annually|yearly|every|once|twice|immediately|at once"
                      r"|before|after|until|whenever|shift|season)\b", re.IGNORECASE)
# A question that asks for an amount of a physical quantity (its rated power, how heavy it is) is answered
# with a unit of that quantity: "10.24 kWh" (an energy) is no answer to "额定功率是多少". Only questions that
# ask for an amount: "where is the temperature sensor?" is answered by a place.
_ASKS_AMOUNT = r"(?:多少|多[大高低重沉远]|几|范围|上限|下限|最[高低大小]|\bhow (?:much|many|high|low)\b|\bwhat(?:'s| is| are)\b|\b(?:max(?:imum)?|min(?:imum)?|rated|nominal)\b)"


def _asks_for(quantity: str) -> re.Pattern[str]:
    return re.compile(rf"(?=.*{_ASKS_AMOUNT})(?=.*(?:{quantity}))", re.IGNORECASE | re.DOTALL)


_PHYSICAL_KINDS = (
    # power: W, kW, VA, hp; not kWh (energy)
    (_asks_for(r"功率|\b(?:power rating|wattage)\b|\b(?:rated|nominal|output|input|maximum|max|peak|continuous|motor) power\b"),
     re.compile(r"\d\s*(?:[kMG]?W|[kM]?VA|hp)(?![a-zA-Z])|瓦|马力", re.IGNORECASE)),
    (_asks_for(r"电压|\bvoltage\b"), re.compile(r"\d\s*[kmM]?V(?![a-zA-Z])|伏")),
    (_asks_for(r"电流|\b(?:input|output|charg(?:e|ing)|discharg(?:e|ing)|rated|max(?:imum)?|short[- ]circuit|DC|AC) current\b|\bcurrent (?:rating|draw)\b|\bhow many amps\b"),
     re.compile(r"\d\s*[kmµ]?A(?![a-zA-Z])|\b(?:amps?|amperes?)\b|安培|\d\s*安")),
    (_asks_for(r"重量|多重|多沉|\bweigh(?:s|t)?\b|\bheavy\b"),
     re.compile(r"\d\s*(?:kg|g|t|lbs?|pounds?|tonnes?|tons?)(?![a-zA-Z])|公斤|千克|克|吨|斤", re.IGNORECASE)),
    # 多少度电 asks for kWh (a 度 of electricity), not degrees
    (_asks_for(r"温度|(?:多少|几)度(?!电)|\btemperature\b|\bhow (?:hot|cold)\b"),
     re.compile(r"[℃°]|\bdegrees?\b|度|零下|\d\s*[CF]\b")),
    (_asks_for(r"压力|压强|\bpressure\b"), re.compile(r"\d\s*(?:[kKM]?Pa|m?bar|psi)(?![a-zA-Z])|帕", re.IGNORECASE)),
    # distance: "the driving range of an electric car" is not "120-550 V"
    (_asks_for(r"续航|里程|多远|\bhow far\b|\b(?:driving|cruising|travel) range\b|\bdistance\b"),
     re.compile(r"\d\s*(?:[kcm]?m|miles?|ft|feet|inch(?:es)?)(?![a-zA-Z²³])|公里|千米|厘米|毫米|米|英里", re.IGNORECASE)),
)
# A question about a colour is answered by one: "What colour is the SW-5K housing?" is not the manual's title.
_ASKS_COLOUR = re.compile(r"\bwhat colou?rs?\b|\bcolou?rs? (?:is|are|of)\b|\bwhich colou?r\b|颜色|什么色", re.IGNORECASE)
_COLOUR = re.compile(r"\b(?:red|green|blue|black|white|gr[ae]y|yellow|orange|brown|silver|beige|purple|violet|pink|gold|golden"
                     r"|ivory|cream|navy|teal|transparent|clear|RAL\s*\d{4})\b|[红绿蓝黑白灰黄橙棕银紫粉金]色?|透明", re.IGNORECASE)
# What a question asks for, and what its answer must then hold.
_ANSWER_KINDS = ((_ASKS_PRICE, _MONEY), (_ASKS_DURATION_ZH, _TIME), (_ASKS_DURATION_EN, _TIME_EN), (_ASKS_COLOUR, _COLOUR),
                 *_PHYSICAL_KINDS)


def kind_answered(answer: str, question: str) -> bool:
    """Whether the answer is of the kind the question asks for: an amount of money for a price ("the list
    price of a VX-40" is not its 40 L/min), a span of time for a Chinese "how long" or "how often", a unit
    of power, voltage, weight, temperature or pressure for an amount of one."""
    return all(not asks.search(question) or gives.search(answer) for asks, gives in _ANSWER_KINDS)


# A question that asks for a count, an amount or a span of time is answered by a figure or a time word.
_ASKS_FIGURE = re.compile(r"多少|几|多[久长大高重宽远厚粗]|\bhow (?:much|many|long|often|far|high|low|big|heavy|wide|soon|quickly|tight)\b"
                          r"|\bwithin how\b|\bwhat (?:percentage|temperature|voltage|size|torque)\b", re.IGNORECASE)
_ASKS_SPAN = re.compile(rf"{_ASKS_DURATION_ZH.pattern}|隔多|\bhow (?:long|often)\b", re.IGNORECASE)
_TIME_WORD = re.compile(r"[年月周天日时分秒]|季度|星期|\b(?:daily|weekly|monthly|quarterly|annually|yearly|every|once|twice)\b",
                        re.IGNORECASE)
# Specific question terms (AnswerabilityCheck.specific_terms) a sentence must share to stand in for an answer.
MIN_SPECIFIC_SHARED = 2
# The longest sentence shown for a one-figure reply to keep the other figure it gives (Answerer._alternatives_kept):
# about two lines; a longer one buries the figure asked for.
ALTERNATIVES_SENTENCE_CHARS = 240
# How much closer in meaning (sentence_scores) another table row must be than the answer's own to replace it,
# when no row shares a word of the question. multilingual-e5 puts rows of one table within a few hundredths
# of each other; under this margin its preference is noise ("reports about workplace injuries": personnel
# files 0.847, accident reports 0.846).
ROW_MARGIN = 0.02

# A question answered by yes or no ("电瓶车能不能推进电梯里面？", "Does the inverter have a fan inside?"), and a
# reply that is only that: "不能" or "No" cannot be checked against the passages, the sentence it rests on can.
_ASKS_YES_NO = re.compile(r"能不能|能否|可不可以|可否|是不是|是否|有没有|会不会|要不要|用不用|行不行|[吗么][？?]?\s*$"
                          r"|^\s*(?:(?:and|so|but|please)\s+)?(?:can|could|may|must|should|shall|will|would|is|are|was|were|do|does|did|has|have)\b",
                          re.IGNORECASE)
_POLAR_REPLY = re.compile(r"^\s*(?:yes|no|not|never|不能|不可以|不可|不行|不得|不允许|禁止|不是|没有|不会|不需要|不用|不|否|可以|能|行|是|有|会|需要)"
                          r"(?:\s*[,，.。!！;；:：]|(?=\s*\[\d)|\s*$)", re.IGNORECASE)
# Words that say whether something is so, allowed or required: the grounds of a yes or a no.
_POLARITY = re.compile(r"\b(?:no|not|never|none|nothing|without|only|must|shall|should|may|can|cannot|prohibited|forbidden"
                       r"|allowed|permitted|required|do not|don't|avoid)\b|[不无没禁严须应可准许勿免非]", re.IGNORECASE)
# A reply that is a figure alone ("16"), with no unit to say what it counts.
_BARE_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
# Words joining two figures of one sentence as alternatives or conditions ("18 months … or 24 months …").
_ALTERNATIVE = re.compile(r"\b(?:or|and|whichever|otherwise|unless|except|but|while|whereas)\b|或|和|及|否则|但|而", re.IGNORECASE)
# The bullet of a list item quoted as an answer.
_BULLET = re.compile(r"^\s*[-*•·]\s+(?=\S)")
# A numbered or bulleted first line of a one-line reply ("1. 98 kg"): the marker is not part of the answer.
_LIST_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)、]|[*•])\s+(?=\S)")


def outermost_terms(terms: set[str]) -> set[str]:
    """The terms not inside another one: 隔膜泵 and its part 隔膜 are one shared word, not two."""
    return {t for t in terms if not any(t != other and t in other for other in terms)}


def shared_places(question: str, words: set[str], pairs: set[str] = frozenset()) -> int:
    """How many separate places of the question the shared words, then character pairs, cover. A word inside
    another is one place with it (隔膜泵, 隔膜); pairs that overlap are one place (维修, 修记, 记录 of a 维修记录 the
    segmenter cut differently), and a pair overlapping a shared word adds nothing. A word not found as
    written counts as a place of its own."""
    text = question.lower()

    def spans(terms: set[str]) -> tuple[list[tuple[int, int]], int]:
        found, unplaced = [], 0
        for term in terms:
            start = text.find(term.lower())
            if start < 0:
                unplaced += 1
            else:
                found.append((start, start + len(term)))
        return found, unplaced

    def merged(found: list[tuple[int, int]]) -> int:
        places, end = 0, -1
        for start, stop in sorted(found):
            if start >= end:
                places += 1
            end = max(end, stop)
        return places

    word_spans, unplaced = spans(words)
    pair_spans, _ = spans(pairs)
    apart = [(a, b) for a, b in pair_spans if not any(a < stop and start < b for start, stop in word_spans)]
    return merged(word_spans) + unplaced + merged(apart)


def gives_what_is_asked(sentence: str, question: str) -> bool:
    """Whether a passage sentence could answer the question: of the kind asked (`kind_answered`), and with a
    figure or a time word when the question asks how many, how much or how long."""
    if not kind_answered(sentence, question):
        return False
    if _ASKS_FIGURE.search(question):
        # A figure, not a code's digits (the ES-10 of a title); for how long or how often, a time word (每季度).
        return bool(_units(sentence)) or (_ASKS_SPAN.search(question) is not None and _TIME_WORD.search(sentence) is not None)
    return True


def figures_supported(answer: str, question: str, contexts: Sequence[str]) -> bool:
    """Whether every figure of the answer is one the passages give (or the question asks about), with a unit
    they give it with: "200 V" over "120–550 V" fails, as do "1260 元" over "1260 kg", "8 公里" over 八小时,
    and a bare "10" where the passages only say "10 年" and "10 ℃". A figure the passages give bare (a
    table cell) may carry any unit. "8 小时" may stand for "8 hours"."""
    given = _units(" ".join(contexts))
    asked = _units(question)
    for number, units in _units(_CITATION.sub(" ", answer)).items():
        known = given.get(number)
        if known is None:
            if number in asked:
                continue
            return False
        if "" in known:
            continue
        if units == {""}:
            # Dropped a measure word or symbol unit (10 年, 10 ℃); a Latin word after a figure may be no unit
            # at all ("USD 1,200 per unit").
            if any(_is_cjk(u) or not u.isalpha() for u in known):
                return False
        elif not _units_agree(units - {""}, known):
            return False
    return True


def is_supported(answer: str, question: str, contexts: Sequence[str], terms: Callable[[str], list[str]],
                 filler: frozenset[str] = frozenset(), codes: Callable[[str], list[str]] | None = None) -> bool:
    """Whether the passages support what the answer adds to the question (an answer that adds nothing, only
    repeating the question, is not supported). Small models answer an unanswerable question with a number
    borrowed from a passage, so:
    - at least half of the answer's new terms occur in the passages ("The CEO is Zhang Wei" fails);
    - every figure keeps to what the passages give (`figures_supported`): "16 名员工" over "16 学时" fails;
    - the answer is of the kind asked for (`kind_answered`: money for a price, time for a duration);
    - when the question names a product code, the passage sentence the answer comes from (the one sharing
      most of its terms) does not name other products only (the QF-200's bolt torque is not the VX-40's)."""
    if not kind_answered(answer, question):
        return False
    asked = set(terms(question))
    new = set(terms(_CITATION.sub(" ", answer))) - asked - filler
    if not new:
        return False  # it only repeats the question: nothing in it can be supported
    seen: set[str] = set()
    for context in contexts:
        seen.update(terms(context))
    if not any(_is_cjk(t) for t in seen):  # a Chinese answer over English passages: compare what translates not
        new = {t for t in new if not _is_cjk(t)} or new
    if len(new & seen) < 0.5 * len(new):
        return False
    if not figures_supported(answer, question, contexts):
        return False
    wanted = codes(question) if codes is not None else []
    if wanted:
        # Numbers and words, not the single letters of units (the "m" of "N.m" is in every other sentence).
        answer_terms = {t for t in (new or set(terms(answer))) if len(t) >= 2 or t.isdigit()}
        sentences = [s for c in contexts for s in re.split(r"(?<=[.!?;])\s+|(?<=[。！？；])|\n", c)]
        best = max(sentences, key=lambda s: len(answer_terms & set(terms(s))), default="")
        if answer_terms & set(terms(best)):
            # Product codes (two letters or more: QF-200, not M12) named where the answer comes from.
            named = {c for c in codes(best) if len(code_family(c)) >= 2}
            if named and not named & set(wanted):
                return False
    return True


def passage_sentences(passage: str, rows_apart: bool = True) -> list[str]:
    """The passage's sentences and paragraph-separated lines (a heading), lines wrapped inside a sentence (PDF,
    HTML) joined up; table rows ("cell | cell") each on its own, or with `rows_apart` False the table as one."""
    joins = r"(?<!\n)(?<!\|)\n(?!\n)(?![^\n]*\|)" if rows_apart else r"(?<!\n)\n(?!\n)"
    text = re.sub(joins, " ", passage)
    return [s.strip() for s in re.split(r"(?<=[.!?;])\s+|(?<=[。！？；])|\n", text) if s.strip()]


def quote_for(question: str, passage: str, terms: Callable[[str], list[str]], ignore: frozenset[str] = frozenset()) -> str | None:
    """The passage sentence sharing most content words with the question (names, codes and filler words
    aside), or None when none shares any: the answer for a model that replied with a bare citation."""
    wanted = set(terms(question)) - ignore
    best, score = None, (0, False, 0.0)
    for sentence in passage_sentences(passage):
        sentence_terms = set(terms(sentence))
        overlap = len(wanted & sentence_terms)
        # Ties go to the sentence with a figure in it (headings tie with facts), then to the denser one.
        key = (overlap, any(c.isdigit() for c in sentence), overlap / (1 + len(sentence_terms)))
        if overlap and key > score:
            best, score = sentence, key
    return best


def source_sentences(answer: str, contexts: Sequence[str], terms: Callable[[str], list[str]],
                     rows_apart: bool = True) -> list[str]:
    """The passage sentences an answer comes from: every one that gives one of its figures, else the one that
    shares most of its terms (`rows_apart`: a table row counts as a sentence, else the whole table)."""
    sentences = [s for c in contexts for s in passage_sentences(c, rows_apart)]
    figures = set(_units(_CITATION.sub(" ", answer)))
    giving = [s for s in sentences if figures & set(_units(s))] if figures else []
    if giving:
        return giving
    answer_terms = set(terms(_CITATION.sub(" ", answer)))
    best = max(sentences, key=lambda s: len(answer_terms & set(terms(s))), default=None)
    return [best] if best else []


# Relatedness: (question, sentences) -> the highest cosine between the question and one of the sentences in
# the KB's embedding model, or None where the model cannot read the question (Chinese, English-only model).
Relatedness = Callable[[str, Sequence[str]], "float | None"]
# SentenceScores: (question, sentences) -> how well each sentence answers the question, in a model that reads
# both languages (multilingual-e5), or None where no model reads the question.
SentenceScores = Callable[[str, Sequence[str]], "Sequence[float] | None"]


class Answerer:
    """Retrieve, refuse when nothing is relevant, else prompt the LLM within its window and cite."""

    def __init__(
        self,
        search: Callable[[str, int], list[Hit]],
        chat_model: Callable[[], ChatModel],
        template: PromptTemplate,
        terms: Callable[[str], list[str]],
        answerability: AnswerabilityCheck,
        top_k: int,
        options: GenerationOptions,
        max_question_chars: int = 2000,
        relatedness: Relatedness | None = None,
        min_relatedness: float = 0.0,
        sentence_scores: SentenceScores | None = None,
    ):
        self._search = search
        self._chat_model = chat_model  # a factory, so a refusal never pays for loading the LLM
        self.template = template
        self._terms = terms
        self.answerability = answerability
        self._filler = answerability.filler_terms
        self._codes = answerability.codes
        self._names = answerability.names
        self.top_k = top_k
        self.options = options
        self.max_question_chars = max_question_chars
        self._relatedness = relatedness
        self.min_relatedness = min_relatedness
        self._sentence_scores = sentence_scores

    def ask_stream(self, question: str, k: int | None = None, history: Sequence[PriorTurn] = (),
                   standalone: str | None = None, query: str | None = None) -> AnswerStream:
        """Answer `question`. In a conversation, `history` holds the earlier turns, `standalone` the
        follow-up rewritten to stand alone (asked in the prompt instead of `question`), and `query` what
        retrieval searches for when the rewrite finds nothing relevant (the previous question with the
        follow-up).

        Raises:
            QuestionError: the question is empty or too long. ValueError: k is not positive.
        """
        question = check_question(question, self.max_question_chars)
        asked = standalone or question  # what the prompt asks
        started = time.perf_counter()
        k = self.top_k if k is None else k
        decision = None if standalone is None and query else self.answerability.decide(asked, self._search(asked, k))
        if query and (decision is None or not decision.answerable):
            # A follow-up with no usable rewrite, or whose rewrite finds nothing: the joined query decides.
            decision = self.answerability.decide(query, self._search(query, k))
        relevant = list(decision.kept)
        standalone = standalone or query
        retrieve_s = time.perf_counter() - started
        if not relevant:
            text = refusal_for(question)
            answer = Answer(question, text, (), True, {"retrieve_s": retrieve_s, "generate_s": 0.0, "first_token_s": 0.0},
                            standalone_question=standalone)
            return AnswerStream(iter([text]), lambda _text, _ft: answer)
        model = self._chat_model()
        budget = model.context_window - self.options.max_new_tokens - 16
        messages, relevant, _ = self.template.fit(asked, relevant, history, model.count_tokens, budget)
        generate_started = time.perf_counter()
        pieces = model.stream(messages, self.options)
        if not decision.confident:
            # Uncertain: nothing is shown before the answer has proved that the passages support it.
            pieces = self._checked(pieces, question, asked, relevant)

        def finish(text: str, first_token_s: float | None) -> Answer:
            timings = {
                "retrieve_s": retrieve_s,
                "generate_s": time.perf_counter() - generate_started,
                "first_token_s": first_token_s or 0.0,
            }
            text = self._quote_if_bare(text.strip(), asked, relevant) or refusal_for(question)
            contexts = [document_for_prompt(h.chunk.text) for h in relevant]
            if decision.confident:
                # Streamed as it came, but not shown as the answer when it fails a check: a near-miss ("the
                # maximum DC input current" over "Maximum DC input voltage | 600 V") draws an invented figure.
                text = self._corrected(text, asked, relevant, contexts, confident=True) or refusal_for(question)
            if _is_refusal(text):
                return Answer(question, text, (), True, timings, standalone_question=standalone)
            if not is_grounded(text, asked + " " + (query or ""), contexts, self._terms):
                text = _CITATION.sub("", text).strip()
                return Answer(question, text, _sources(set(), relevant), False, timings, grounded=False,
                              standalone_question=standalone)
            cited = {int(n) for n in _CITATION.findall(text)} & set(range(1, len(relevant) + 1))
            if not cited:
                cited = attribute(text, [h.chunk.text for h in relevant], self._terms)
                if cited:
                    text = f"{text} " + "".join(f"[{n}]" for n in sorted(cited))
            return Answer(question, text, _sources(cited, relevant), False, timings, standalone_question=standalone)

        return AnswerStream(pieces, finish)

    def _quote_if_bare(self, text: str, asked: str, relevant: Sequence[Hit]) -> str:
        """A reply that is only citations ("[2]"), or that copies a document block from its header on
        ("[2] (manual.html)\n..."), becomes the cited passage's sentence closest to the question; "" when
        no sentence of it shares a word with the question, or the copied header is not one of the prompt's."""
        if "\n" not in text:
            text = _LIST_MARKER.sub("", text)
        echo = _ECHOED_HEADER.match(text)
        if echo:
            number = int(echo.group(1))
            if not 0 < number <= len(relevant) or echo.group(2).split(",")[0].strip() != display_source(relevant[number - 1].chunk.source):
                return ""  # a document the prompt never held
            cited = [number]
        else:
            cited = [int(n) for n in _CITATION.findall(text) if 0 < int(n) <= len(relevant)]
            if _CITATION.sub("", text).strip(" .。,，") or not cited:
                return text
        quote = quote_for(asked, relevant[cited[0] - 1].chunk.text, self._terms, self._not_content(asked))
        return f"{quote} [{cited[0]}]" if quote else ""

    def _checked(self, pieces: Iterator[str], question: str, asked: str, relevant: Sequence[Hit]) -> Iterator[str]:
        text = self._quote_if_bare("".join(pieces).strip(), asked, relevant)
        contexts = [document_for_prompt(h.chunk.text) for h in relevant]
        text = self._corrected(text, asked, relevant, contexts, confident=False)
        if not text or (not _is_refusal(text) and not is_supported(text, asked, contexts, self._terms, self._filler, self._codes)):
            text = refusal_for(question)
        yield text

    def _corrected(self, text: str, asked: str, relevant: Sequence[Hit], contexts: Sequence[str], confident: bool) -> str:
        """What to show for the model's reply, in both bands: for its own refusal, the line of the one code
        asked about (uncertain: else the passage sentence that answers); for an answer that holds up, the row,
        sentence or code line asked about where it read another; for one that fails a check, the passage
        sentence that answers. "" for a failed answer nothing stands in for."""
        if _bare_polar(text) and _ASKS_YES_NO.search(asked):
            grounds = self._grounds(asked, relevant)
            if grounds:
                return grounds
        if not text or _is_refusal(text):
            # Uncertain: the question is in the user's own words, which a 0.5B model often fails to match to the
            # passage ("send any power out after the first start" over "select the country grid code during first
            # start-up"); a sentence sharing two specific places of the question and giving what it asks answers.
            # Confident: the passages match the question's words, and the model's refusal is a near-miss's.
            return self._code_line(asked, relevant) or (not confident and self._closest_sentence(asked, relevant)) or text
        if self._holds_up(text, asked, contexts):
            return self._row_asked(text, asked, relevant) or self._sentence_asked(text, asked, relevant) \
                or self._unit_restored(text, relevant) \
                or self._alternatives_kept(text, relevant) or self._sibling_corrected(text, asked, relevant)
        return self._quote_answering(asked, relevant) or self._row_asked(text, asked, relevant) or self._code_line(asked, relevant)

    def _holds_up(self, text: str, asked: str, contexts: Sequence[str]) -> bool:
        """The checks an answer must pass in both bands; one that fails gives way to the passage sentence
        that answers (`_quote_answering`), or the refusal."""
        return figures_supported(text, asked, contexts) and kind_answered(text, asked) and self._adds_to(text, asked) \
            and self._related(text, asked, contexts)

    def _adds_to(self, text: str, asked: str) -> bool:
        """Whether the answer says more than the question: "在多高的位置作业属于高处作业。" repeats it."""
        return bool(set(self._terms(_CITATION.sub(" ", text))) - set(self._terms(asked)) - self._filler)

    def _related(self, text: str, asked: str, contexts: Sequence[str]) -> bool:
        """Whether the passage sentences the answer comes from are about the question. A small model answers
        an off-topic question with a figure of the nearest table ("How many years does a phone battery
        last?" -> "6 years", from a records-retention row): the sentence giving it shares no meaning with the
        question. Judged in the KB's embedding model; an answer it cannot judge passes."""
        if self._relatedness is None or self.min_relatedness <= 0:
            return True
        # A table is judged whole: a retention table is unrelated to a phone battery's life, while its
        # "6 years" row alone is close enough to "how many years" (min_relatedness was measured so).
        sentences = source_sentences(text, contexts, self._terms, rows_apart=False)
        score = self._relatedness(asked, sentences) if sentences else None
        return score is None or score >= self.min_relatedness

    def _row_asked(self, text: str, asked: str, relevant: Sequence[Hit]) -> str:
        """For a figure read off the wrong row of a table ("How long do we keep invoices?" -> "6 years", the row
        of employment contracts): when no sentence giving the answer's figures holds a specific term of the
        question, the sentence that does, with a figure in the same unit, or in any unit where it shares
        MIN_SPECIFIC_SHARED places of the question ("hydrogen sulfide limit" -> "19.5 % to 23.5 % by volume", the
        oxygen row, gives way to "Hydrogen sulfide (H2S) | below 10 ppm"); "" when there is none, or the
        answer's own sentence holds one."""
        specific = self._specific_terms(asked)
        answer_units = {u for units in _units(_CITATION.sub(" ", text)).values() for u in units} - {""}
        if not specific or not answer_units:
            return ""
        sentences = _numbered_sentences(relevant)
        if any(specific & set(self._terms(s)) for s in source_sentences(text, [s for _, s in sentences], self._terms)):
            return ""
        same_unit, other_unit = [], []
        for number, sentence in sentences:
            shared_terms = specific & set(self._terms(sentence))
            if not shared_terms or not gives_what_is_asked(sentence, asked):
                continue
            if any(_units_agree(answer_units, units - {""}) for units in _units(sentence).values()):
                same_unit.append((number, sentence, len(shared_terms)))
            elif shared_places(asked, shared_terms) >= MIN_SPECIFIC_SHARED and _units(sentence):
                other_unit.append((number, sentence, len(shared_terms)))
        if same_unit or other_unit:
            return self._closest(asked, same_unit or other_unit)
        return self._row_by_meaning(text, asked, sentences, answer_units)

    def _row_by_meaning(self, text: str, asked: str, sentences: Sequence[tuple[int, str]], answer_units: set[str]) -> str:
        """Where no table row shares a word of the question (it names the row in its own words: "driving-time
        recordings from our trucks" over "Vehicle tachograph data | 2 years"), the row in the answer's unit
        that a multilingual model finds closest to the question, when it is closer than the answer's own row
        by ROW_MARGIN; "" otherwise, or without such a model."""
        if self._sentence_scores is None:
            return ""
        rows = [(number, sentence) for number, sentence in sentences if "|" in sentence and gives_what_is_asked(sentence, asked)
                and any(_units_agree(answer_units, units - {""}) for units in _units(sentence).values())]
        own = set(source_sentences(text, [sentence for _, sentence in sentences], self._terms)) & {s for _, s in rows}
        if not own or len(rows) < 2:
            return ""
        scores = self._sentence_scores(asked, [sentence for _, sentence in rows])
        if scores is None:
            return ""
        best = max(range(len(rows)), key=lambda i: scores[i])
        own_best = max(scores[i] for i, (_, sentence) in enumerate(rows) if sentence in own)
        if rows[best][1] in own or scores[best] - own_best < ROW_MARGIN:
            return ""
        return _quoted(rows[best][1], rows[best][0])

    def _unit_restored(self, text: str, relevant: Sequence[Hit]) -> str:
        """For a bare figure ("16 [1]") that the passages give with a unit ("16 hours of safety induction"): the
        one sentence giving it, so that the answer says 16 of what; "" for any other answer, or when several
        sentences give the figure."""
        figure = _CITATION.sub("", text).strip(" .。")
        if not _BARE_FIGURE.fullmatch(figure):
            return ""
        value = figure.replace(",", "")
        giving = {(n, sentence) for n, sentence in _numbered_sentences(relevant)
                  if (units := _units(sentence).get(value)) and "" not in units}
        if len({sentence for _, sentence in giving}) != 1:
            return ""
        number_of_passage, sentence = min(giving)
        return _quoted(sentence, number_of_passage)

    def _alternatives_kept(self, text: str, relevant: Sequence[Hit]) -> str:
        """For a reply of one figure ("18 months") whose one sentence gives another in the same unit ("18 months
        from the date of installation or 24 months from the date of shipment, whichever ends first"): that
        sentence, so that the alternative or condition is not lost; "" otherwise, or for a long sentence."""
        reply = _QUANTITY.fullmatch(_CITATION.sub("", text).strip(" .。"))
        if not reply or not reply.group(2):
            return ""
        value, unit = reply.group(1).replace(",", ""), reply.group(2).lower()
        giving = {(n, sentence) for n, sentence in _numbered_sentences(relevant) if unit in _units(sentence).get(value, ())}
        if len({sentence for _, sentence in giving}) != 1:
            return ""
        number_of_passage, sentence = min(giving)
        if len(sentence) > ALTERNATIVES_SENTENCE_CHARS:
            return ""
        figures = [(m.group(1).replace(",", ""), (m.group(2) or "").lower(), m.start(), m.end()) for m in _QUANTITY.finditer(sentence)]
        # Joined as alternatives or conditions ("… or 24 months …", "8 km/h, and 15 km/h on site roads"); not
        # the fields of a spec list run together ("额定扬程：45 m 配套电机功率：55 kW … 汽蚀余量：3.8 m").
        joined = any(_ALTERNATIVE.search(between) and not re.search(r"[:：]", between)
                     for v, u, start, end in figures if v == value and u == unit
                     for v2, u2, start2, end2 in figures if v2 != value and u2 == unit
                     for between in [sentence[min(end, end2):max(start, start2)]])
        return _quoted(sentence, number_of_passage) if joined else ""

    def _names_alone(self, text: str, code: str) -> bool:
        """Whether `text` names `code` and none of its siblings (E03, not E02 beside it)."""
        found = self._codes_in(text)
        return code in found and not any(c != code and code_family(c) == code_family(code) for c in found)

    def _codes_in(self, text: str) -> list[str]:
        # Codes written against Chinese text ("跳出E03，") are codes too.
        return self._codes(_CJK_CHARS.sub(" ", text))

    def _code_line(self, asked: str, relevant: Sequence[Hit]) -> str:
        """For a question about one code (a fault code, a part number) that a single line of the passages opens
        with and explains ("F12 — insulation fault: … check the PV cables for moisture"): that line, or where the line
        lists its siblings too (E01 … E02 … E03 …), the sentence naming the code alone; "" when the code is
        named in more lines than one, or in many chunks of the KB (a product the whole manual is about)."""
        codes = self._codes_in(asked)
        if len(codes) != 1 or not self.answerability.specific_terms(codes):
            return ""  # none, several, or a code most of the KB names (the product a manual is about)
        code = codes[0]

        def explains_it(text: str) -> bool:
            # The code opens it, as in a fault list or a table ("F12 — …", "E03：…", "| E03 | …"); a title
            # that names the product ("SunWave SW-5K Grid-Tie Inverter — Guide") explains nothing.
            opening = re.sub(r"^[\s|*•·\-]+", "", text)[: len(code) + 2]
            return self._names_alone(text, code) and code in self._codes_in(opening)

        lines = [(number, line.strip()) for number, hit in enumerate(relevant, 1)
                 for line in document_for_prompt(hit.chunk.text).split("\n") if len(line.strip()) <= CODE_LINE_CHARS]
        naming = [(number, line) for number, line in lines if explains_it(line)] \
            or [(number, sentence) for number, sentence in _numbered_sentences(relevant) if explains_it(sentence)]
        if len({line for _, line in naming}) != 1:
            return ""
        number, line = naming[0]
        if line.startswith("#") or len(set(self._terms(line))) < 4 or not gives_what_is_asked(line, asked):
            return ""  # a heading, the code alone, or not what is asked (a price, a figure)
        return _quoted(line, number)

    def _sibling_corrected(self, text: str, asked: str, relevant: Sequence[Hit]) -> str:
        """An answer read off a sibling's line (E02's "请尽快对电池充电" to a question about E03) becomes the
        line of the code asked about; any other answer stays as it is."""
        codes = self._codes_in(asked)
        if len(codes) != 1:
            return text  # most questions: nothing more to look at
        contexts = [sentence for _, sentence in _numbered_sentences(relevant)]
        named = {c for s in source_sentences(text, contexts, self._terms) for c in self._codes_in(s)}
        if codes[0] in named:
            return text
        if any(code_family(c) == code_family(codes[0]) for c in named):
            return self._code_line(asked, relevant) or text
        if any(len(code_family(c)) >= 2 for c in named):
            # Another item's line (pump VX-40's repair, to a question about pump P-0207): the one sentence that
            # names the code asked about, where it is rare in the KB. Product codes only (two letters or more):
            # the "m3" of a unit (m³/h) names no item.
            return self._sentence_naming(codes[0], asked, relevant) or text
        return text

    def _sentence_naming(self, code: str, asked: str, relevant: Sequence[Hit]) -> str:
        """The single passage sentence naming `code` (and no sibling of it), when few chunks name the code and
        the sentence gives what is asked; "" otherwise."""
        if not self.answerability.specific_terms([code]):
            return ""
        naming = {(number, sentence) for number, sentence in _numbered_sentences(relevant) if self._names_alone(sentence, code)}
        if len({sentence for _, sentence in naming}) != 1:
            return ""
        number, sentence = min(naming)
        if sentence.startswith("#") or not gives_what_is_asked(sentence, asked):
            return ""
        return _quoted(sentence, number)

    def _specific_terms(self, asked: str) -> set[str]:
        return self.answerability.specific_terms(sorted(set(self._terms(asked)) - self._not_content(asked)))

    def _closest(self, asked: str, candidates: Sequence[tuple[int, str, int]]) -> str:
        """Of (passage number, sentence, specific terms shared) candidates, the sentence closest in meaning to
        the question (`sentence_scores`; else the one sharing most terms), with its number; "" for none."""
        if not candidates:
            return ""
        scores = self._sentence_scores(asked, [sentence for _, sentence, _ in candidates]) if self._sentence_scores else None
        ranking = scores if scores is not None else [shared for _, _, shared in candidates]
        number, sentence, _ = candidates[max(range(len(candidates)), key=lambda i: ranking[i])]
        return _quoted(sentence, number)

    def _not_content(self, asked: str) -> frozenset[str]:
        """Terms of the question a quote need not share: filler words, and its codes and names (the passage
        is already about them)."""
        return frozenset(self._filler | set(self._codes(asked)) | {t for name in self._names(asked) for t in self._terms(name)})

    def _quote_answering(self, asked: str, relevant: Sequence[Hit]) -> str:
        """For a model that answered with a figure the passages do not give, or of the wrong kind: the passage
        sentence that answers the question, with its number; "" when none does. A 0.5B model writes "1.1 米"
        over "安全通道宽度不得小于 1.2 米", "三年" over "维修记录保存两年": the sentence is the answer it meant.

        First the sentence holding at least QUOTE_COVERAGE of the question's content words; for a question in
        the user's own words (it shares few words with the passages), the sentence a multilingual model finds
        closest to it among those of the kind asked (`_closest_sentence`)."""
        covering = self._covering_sentence(asked, relevant)
        return f"{covering[1]} [{covering[0]}]" if covering else self._closest_sentence(asked, relevant)

    def _covering_sentence(self, asked: str, relevant: Sequence[Hit]) -> tuple[int, str] | None:
        """The passage sentence holding at least QUOTE_COVERAGE of the question's content words, with its
        passage's number; None when none does."""
        ignore = self._not_content(asked)
        wanted = set(self._terms(asked)) - ignore
        if not wanted:
            return None
        best, best_share = None, 0.0
        for number, hit in enumerate(relevant, 1):
            quote = quote_for(asked, hit.chunk.text, self._terms, ignore)
            share = len(wanted & set(self._terms(quote))) / len(wanted) if quote else 0.0
            if share > best_share:
                best, best_share = (number, quote), share
        return best if best_share >= QUOTE_COVERAGE else None

    def _sentence_asked(self, text: str, asked: str, relevant: Sequence[Hit]) -> str:
        """For an answer taken from a sentence sharing no specific term of the question ("Once a year", the
        refresher training's, to "How often do forklift drivers renew their internal forklift licence?"): the
        sentence holding QUOTE_COVERAGE of the question's content words, where it gives what is asked ("Forklift
        drivers renew their internal forklift licence every 3 years"); "" otherwise."""
        specific = self._specific_terms(asked)
        if not specific:
            return ""
        own = source_sentences(text, [sentence for _, sentence in _numbered_sentences(relevant)], self._terms)
        if any(specific & set(self._terms(sentence)) for sentence in own):
            return ""
        covering = self._covering_sentence(asked, relevant)
        if covering is None or covering[1] in own or not gives_what_is_asked(covering[1], asked):
            return ""
        return _quoted(covering[1], covering[0])

    def _grounds(self, asked: str, relevant: Sequence[Hit]) -> str:
        """For a yes or a no to a yes-no question: the passage sentence it rests on, one that shares a specific term
        of the question and says whether (禁止携带电动自行车…进入电梯轿厢, "Cooling | Natural convection (no
        fan)"), closest in meaning to the question; "" when none does."""
        specific = self._specific_terms(asked)
        candidates = []
        for number, sentence in _numbered_sentences(relevant):
            sentence_terms = set(self._terms(sentence))
            shared = len(outermost_terms(specific & sentence_terms))
            if shared and len(sentence_terms) > shared + 1 and not sentence.startswith("#") and _POLARITY.search(sentence):
                candidates.append((number, sentence, shared))
        return self._closest(asked, candidates)

    def _closest_sentence(self, asked: str, relevant: Sequence[Hit]) -> str:
        """The passage sentence closest in meaning to the question (`sentence_scores`; else the one sharing
        most of its terms), among those that give what it asks for (a figure for how many or how long, money
        for a price, a unit of the quantity asked) and share at least MIN_SPECIFIC_SHARED of its specific
        terms. The subject the KB shares (电动自行车, 小区) does not count: a near-miss ("小区里骑行的限速")
        shares only that with its passages, an answerable question in other words ("维修记录得留存几年" over
        "维修记录，保存期限不少于两年") shares what it asks about. "" when no sentence qualifies."""
        specific = self._specific_terms(asked)
        # Chinese character pairs too: where the segmenter cut the question's words differently from the
        # sentence's (批下来的那张许可能用 -> 张许 / 可能, over 动火作业许可证), a rare pair is still shared.
        pairs = self.answerability.specific_pairs(self.answerability.character_pairs(asked))
        if shared_places(asked, specific, pairs) < MIN_SPECIFIC_SHARED:
            return ""
        candidates = []
        for number, sentence in _numbered_sentences(relevant):
            sentence_terms = set(self._terms(sentence))
            shared_pairs = pairs & self.answerability.character_pairs(sentence) if pairs else set()
            shared = shared_places(asked, specific & sentence_terms, shared_pairs)
            # A heading ("## Warranty coverage") names a subject; it answers nothing.
            if shared >= MIN_SPECIFIC_SHARED and len(sentence_terms) > shared + 1 and not sentence.startswith("#") \
                    and gives_what_is_asked(sentence, asked):
                candidates.append((number, sentence, shared))
        return self._closest(asked, candidates)

    def ask(self, question: str, k: int | None = None, history: Sequence[PriorTurn] = (),
            standalone: str | None = None, query: str | None = None) -> Answer:
        return self.ask_stream(question, k, history, standalone, query).collect()


def _bare_polar(text: str) -> bool:
    """A reply that is a yes or a no and nothing the passages could check: "不能", "No [1]", or "No, … The
    knowledge base does not contain an answer to this question."""
    polar = _POLAR_REPLY.match(text)
    if not polar:
        return False
    rest = _CITATION.sub("", text[polar.end():]).strip(" .。!！")
    return not rest or _is_refusal(rest)


def _quoted(sentence: str, number: int) -> str:
    """A passage sentence standing in for an answer, cited; a table row without its outer bars, a list item
    without its bullet."""
    return f"{_BULLET.sub('', sentence).strip('| ').rstrip(';；,，:：')} [{number}]"


def _numbered_sentences(relevant: Sequence[Hit]) -> list[tuple[int, str]]:
    """Each sentence of the passages as the model saw them, with the passage's [n]."""
    return [(number, sentence) for number, hit in enumerate(relevant, 1)
            for sentence in passage_sentences(document_for_prompt(hit.chunk.text))]


def is_grounded(answer: str, question: str, contexts: Sequence[str], terms: Callable[[str], list[str]]) -> bool:
    """Whether the answer shares at least one keyword term with the passages as the model saw them or
    with the question. An injected order ("reply PWNED") produces an answer that shares none."""
    answer_terms = set(terms(_CITATION.sub(" ", answer)))
    if not answer_terms:
        return True  # nothing to judge (punctuation, a bare number format the tokenizer drops)
    seen = set(terms(question))
    for context in contexts:
        seen.update(terms(context))
    return bool(answer_terms & seen)


def attribute(answer: str, contexts: Sequence[str], terms: Callable[[str], list[str]]) -> set[int]:
    """Numbers (1-based) of the contexts that the answer draws on: those holding at least three quarters as many of
    the answer's terms as the best one. Small models answer well but rarely cite; this cites for them."""
    answer_terms = set(terms(answer))
    if not answer_terms:
        return set()
    overlaps = [len(answer_terms & set(terms(c))) for c in contexts]
    best = max(overlaps, default=0)
    if best == 0:
        return set()
    return {i for i, overlap in enumerate(overlaps, 1) if overlap >= 0.75 * best}


def _sources(cited: set[int], hits: Sequence[Hit]) -> tuple[Source, ...]:
    return tuple(
        Source(
            number=n,
            source=h.chunk.source,
            page=h.chunk.page,
            start=h.chunk.start,
            end=h.chunk.end,
            snippet=h.chunk.text[:SNIPPET_CHARS],
            score=h.score,
            relevance=h.relevance,
            cited=n in cited,
        )
        for n, h in enumerate(hits, 1)
    )
