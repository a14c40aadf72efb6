"""Checks on a model's answer against the passages it read: whether it refuses, whether its figures and units
come from the passages, whether it is of the kind asked (money for a price, a span of time for how long), and
which passage sentences it comes from."""
from __future__ import annotations

import re
from typing import Callable, Sequence

from rag.prompt import REFUSAL_EN, REFUSAL_ZH
from rag.retrieve import Hit
from rag.sanitize import document_for_prompt
from rag.text import ENGLISH_STOPWORDS, chinese_numbers_as_digits, code_family, english_numbers_as_digits

CITATION = re.compile(r"\[(\d{1,3})\]")
# An answer, then one group of citations at its end ("6 months [1][3][4]", "… 72 hours [1][2]。").
_TRAILING_CITATIONS = re.compile(r"(.*?)\s*((?:\[\d{1,3}\]\s*)+)([.。]?)\s*", re.DOTALL)


_SAYS_NOT_FOUND = re.compile(
    r"\b(?:not|never) (?:mentioned|provided|specified|stated|found|available|included|given|listed|covered)\b"
    r"|\bno (?:information|mention|details|data|answer)\b|\bdoes(?:n't| not) (?:say|mention|specify|contain|provide|include|state)\b"
    r"|\b(?:cannot|can't|unable to) (?:find|answer|determine|be determined)\b|\bdon't have (?:any )?information\b"
    r"|没有(?:提到|提及|找到|相关|说明|给出|包含|明确)|未(?:提及|提到|说明|找到|给出|包含|明确)|无法(?:回答|确定|找到)|不包含|并未",
    re.IGNORECASE,
)


def is_refusal(text: str) -> bool:
    """The model's own "not in the documents": our refusal sentence, or a short reply that says so."""
    stripped = text.strip().rstrip(".。")
    if any(r.rstrip(".。") in stripped for r in (REFUSAL_EN, REFUSAL_ZH)) and len(stripped) < 2 * len(REFUSAL_EN):
        return True
    return len(stripped) < 240 and _SAYS_NOT_FOUND.search(stripped) is not None


# A figure and the unit (or Chinese measure word) right after it, if any. The digits of a code (QF-200,
# SW-5K, E03, IP66) are names, not figures; a minus after a space is a sign (-20 ℃).
QUANTITY = re.compile(r"(?<![A-Za-z0-9.,_])(?<![A-Za-z0-9]-)(\d+(?:[.,]\d+)*)\s*([a-zA-Z%°℃µ]+(?:[./][a-zA-Z]+)?|[\u4e00-\u9fff])?")


# Where a sentence ends. A full stop before a lower-case word ends an abbreviation, not a sentence: "from
# 10:00 a.m. to 6:00 p.m. daily between June 15 and Labour Day" is one sentence, "e.g. a filter" too.
_SENTENCE_END = re.compile(r"(?<=[!?;])\s+|(?<=\.)\s+(?![a-z])|(?<=[。！？；])|\n")
# The same, with the clauses a semicolon joins kept together: a rule and its exception ("no fire of any kind may be
# lit, including in fire pits; propane barbecues remain permitted").
_FULL_SENTENCE_END = re.compile(r"(?<=[!?])\s+|(?<=\.)\s+(?![a-z])|(?<=[。！？])|\n")


# A heading's, article's or list item's number ("7. Training and review", "## 三、化学品管理", "第六条 禁止…")
# labels it; it is no figure.
_SECTION_LABEL = re.compile(r"(?m)^\s*(?:#+\s*)?(?:\d{1,3}(?:\.\d{1,3})*\.(?=\s+[^\W\d])|[一二三四五六七八九十百]{1,4}、"
                            r"|第[一二三四五六七八九十百零〇\d]{1,6}[条章节款](?!\d))")


# A law's or contract's references label too: "Section 4", "under section 21 of the Housing Act", "Article 12",
# "§ 3", and a subsection's "(1)", "（二）". Read as bare figures, every law passage gave a 1 and a 2 that any
# answer's "1 month" could borrow.
_REFERENCE_LABEL = re.compile(r"\b(?:sections?|sec\.|articles?|art\.|chapters?|parts?|clauses?|schedules?|rules?|regulations?"
                              r"|paragraphs?|para\.)\s*\d{1,4}[a-z]?(?:\(\d{1,3}\))*(?![\d.,]*\d)|§§?\s*\d{1,4}[a-z]?"
                              r"|[(（](?:\d{1,3}|[a-z]|[ivx]{1,4}|[一二三四五六七八九十]{1,3})[)）]", re.IGNORECASE)


def as_digits(text: str) -> str:
    """Number words as digits (三年 -> 3年, "six weeks" -> 6 weeks), as figure_units reads them."""
    return english_numbers_as_digits(chinese_numbers_as_digits(text))


def figure_units(text: str) -> dict[str, set[str]]:
    """Each figure of `text` (number words as digits, no thousands commas) and the units written after
    it; "" where it stands bare."""
    out: dict[str, set[str]] = {}
    text = _REFERENCE_LABEL.sub(" ", _SECTION_LABEL.sub(" ", text))
    for number, unit in QUANTITY.findall(as_digits(text)):
        unit = unit.lower()
        # "June 15 to Labour Day", "between June 15 and …": a word joining the figure to the next is no unit.
        out.setdefault(number.replace(",", ""), set()).add("" if unit in ENGLISH_STOPWORDS else unit)
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


# English units written out and abbreviated ("60 seconds" over a table's "60 s"): each spelling's symbol.
_UNIT_SYMBOLS = {spelling: symbol for symbol, spellings in {
    "s": "sec secs second seconds", "min": "mins minute minutes", "h": "hr hrs hour hours",
    "ms": "millisecond milliseconds", "m": "metre metres meter meters", "cm": "centimetre centimetres centimeter centimeters",
    "mm": "millimetre millimetres millimeter millimeters", "km": "kilometre kilometres kilometer kilometers",
    "g": "gram grams gramme grammes", "kg": "kgs kilo kilos kilogram kilograms", "mg": "milligram milligrams",
    "l": "litre litres liter liters", "ml": "millilitre millilitres milliliter milliliters",
    "w": "watt watts", "kw": "kilowatt kilowatts", "v": "volt volts", "a": "amp amps ampere amperes",
    "hz": "hertz", "db": "decibel decibels", "°": "degree degrees", "%": "percent pct",
    "in": "inch inches", "ft": "foot feet", "lb": "lbs pound pounds", "gb": "gigabyte gigabytes",
    "mb": "megabyte megabytes", "tb": "terabyte terabytes", "mp": "megapixel megapixels", "yr": "year years yrs",
}.items() for spelling in (symbol, *spellings.split())}


def _unit_symbols(units: set[str]) -> set[str]:
    return {_UNIT_SYMBOLS.get(unit, unit) for unit in units}


def units_agree(answer_units: set[str], passage_units: set[str]) -> bool:
    """Whether a number is quoted with a unit the passages give it (allowing Chinese-English pairs, and an
    English unit written out or abbreviated)."""
    if answer_units & passage_units or _unit_symbols(answer_units) & _unit_symbols(passage_units):
        return True
    for unit in answer_units:
        if _is_cjk(unit):
            if _UNIT_TRANSLATIONS.get(unit[0], set()) & passage_units:
                return True
        elif any(_is_cjk(p) and unit in _UNIT_TRANSLATIONS.get(p[0], set()) for p in passage_units):
            return True
    return False


# Units of a span of time: "6 weeks" and "30 days" answer the same question, so a figure read off the wrong
# sentence in weeks may give way to the right one in days.
_TIME_UNITS = frozenset("h hr hrs hour hours min mins minute minutes s sec secs second seconds day days week weeks "
                        "month months year years yr yrs".split())
_TIME_UNITS_ZH = "年月周天日时小分秒"


def _is_time_unit(unit: str) -> bool:
    return unit in _TIME_UNITS or (_is_cjk(unit) and unit[0] in _TIME_UNITS_ZH)


def same_quantity(answer_units: set[str], passage_units: set[str]) -> bool:
    """Whether figures in these units measure the same thing: units that agree (`units_agree`), or spans of
    time in any unit."""
    if units_agree(answer_units, passage_units):
        return True
    return any(map(_is_time_unit, answer_units)) and any(map(_is_time_unit, passage_units))


# A question answered by yes or no ("电瓶车能不能推进电梯里面？", "Does the inverter have a fan inside?"), and a
# reply that is only that: "不能" or "No" cannot be checked against the passages, the sentence it rests on can.
# In English, an auxiliary opening the question or its main clause: "If the sign says Extreme, can I still use my gas
# grill?", "I have four dogs. Can I take them all…?"; not a polite request for an answer ("Could you tell me by what
# time…?").
ASKS_YES_NO = re.compile(r"能不能|能否|可不可以|可否|是不是|是否|有没有|会不会|要不要|用不用|行不行|[吗么][？?]?\s*$"
                         r"|(?:^|[.,;:!?]\s+)\s*(?:(?:and|so|but|please|then)\s+)?(?:can|could|may|must|should|shall|will|would|is|are|was|were|do|does|did|has|have)\b"
                         r"(?!\s+you\s+(?:please\s+)?(?:tell|explain|describe|let|give|say|list|show)\b)",
                         re.IGNORECASE)

# A question that asks what something costs is answered by an amount of money, not by the nearest figure.
# A fine is money too ("What fine does an employee pay…"), not fine dust or a fine mesh.
# Not "in charge of" (who runs something) nor a battery's charge.
_ASKS_PRICE = re.compile(r"\b(?:prices?|priced|costs?|fees?)\b|(?<!\bin )\bcharges?\b(?!\s+(?:of|the|a|an|it|its|my|your|them|up)\b)"
                         r"|how much (?:do|does|is|are|will)\b.*\b(?:pay|charge|cost)"
                         r"|\b(?:what|which|how (?:much|large|high|big)|pay|paid|impose[sd]?|face[sd]?)\s+(?:\w+\s+)?fines?\b(?!\s*(?:dust|mesh|grain|particles?|sand|powder|print|tun))"
                         r"|价格|价钱|多少钱|售价|报价|费用|单价|收费|罚(?:款|金)?(?:是)?多少", re.IGNORECASE)
_MONEY = re.compile(r"[$€£¥￥]|\b(?:USD|EUR|RMB|CNY|GBP|JPY|dollars?|euros?|yuan|free of charge)\b|元|美元|欧元|免费",
                    re.IGNORECASE)
# A Chinese question about how long or how often is answered by a span of time (8 小时, 每季度, 一个班次),
# not by the nearest figure ("15~25 ℃", "10米" were answers to such questions).
_ASKS_DURATION_ZH = re.compile(r"多久|多长时间|多少(?:天|年|个月|小时|分钟|秒)|几(?:年|个月|天|周|小时|分钟)")
_TIME = re.compile(r"[年月周天日时分秒]|季度|星期|班|\b(?:h|hrs?|min|mins|minutes?|hours?|days?|weeks?|months?|years?|s|secs?|seconds?)\b", re.IGNORECASE)
# The English questions that can only ask for a span or a frequency ("For how long is the inverter covered?"
# is not answered by "50 cm of free space"); a plain "how long" may ask for a length ("How long is the cable?",
# "How long does the cable have to be?"), but not how long something is kept, takes or lasts, nor how long
# someone has to do something.
_ASKS_DURATION_EN = re.compile(r"\bfor how (?:long|many (?:years|months|weeks|days|hours))\b|\bhow (?:often|frequently|soon|quickly)\b"
                               r"|\bhow long (?:do|does|did|will|would|can|could|must|should|may|might|is|are|was|were)\b[^?.]*?"
                               r"\b(?:keep|kept|take|last|stay|wait|remain|retain(?:ed)?|store[sd]?|held|valid|have to (?!be\b)\w+)\b",
                               re.IGNORECASE)
_TIME_EN = re.compile(rf"{_TIME.pattern}|\b(?:hourly|daily|weekly|fortnightly|monthly|quarterly|annually|yearly|every|once|twice|immediately|at once"
                      r"|before|after|until|whenever|shift|season|permanently|indefinitely|forever|lifetime)\b", re.IGNORECASE)
# Time that measures money: "six weeks' rent" is a deposit, "三个月工资" a compensation; neither is a span of time.
_TIME_AS_MONEY = re.compile(r"\b(?:weeks?|months?|days?|years?)['’]s?\s+(?:rent|pay|wages?|salary|salaries|earnings|income)\b"
                            r"|(?:个月|天|周|年)的?(?:工资|薪水|薪酬|房租|租金|月薪)", re.IGNORECASE)
# "What is the shortest tenancy?" asks how long, in time or in length: "six weeks' rent" is no answer.
_ASKS_EXTENT_EN = re.compile(r"\bwhat(?:'s| is| are| was) the (?:shortest|longest)\b", re.IGNORECASE)
# A length: "1.5 m", "at least 1 metre"; not the m of "m³/h".
_LENGTH = r"\d\s*(?:[kcm]?m|(?:kilo|centi|milli)?met(?:re|er)s?|miles?|ft|feet|foot|yards?|inch(?:es)?)(?![a-zA-Z²³])"
_EXTENT = re.compile(rf"{_TIME_EN.pattern}|{_LENGTH}", re.IGNORECASE)
# A question that asks for an amount of a physical quantity (its rated power, how heavy it is) is answered
# with a unit of that quantity: "10.24 kWh" (an energy) is no answer to "额定功率是多少". Only questions that
# ask for an amount: "where is the temperature sensor?" is answered by a place.
_ASKS_AMOUNT = (r"(?:多少|多[大高低重沉远响吵]|几|范围|上限|下限|最[高低大小]|\bhow (?:much|many|high|low|heavy|hot|cold|loud|noisy)\b|\bwhat(?:'s| is| are)\b"
                r"|\b(?:max(?:imum)?|min(?:imum)?|rated|nominal)\b|\b(?:what|which) (?:torque|voltage|current|power|pressure"
                r"|temperature|flow|speed|noise|weight)\b)")


def _asks_for(quantity: str) -> re.Pattern[str]:
    # Anchored: both look-aheads scan the whole question from its start once, not from every position (a question of
    # 2,000 characters repeating "How many" took seconds).
    return re.compile(rf"\A(?=.*{_ASKS_AMOUNT})(?=.*(?:{quantity}))", re.IGNORECASE | re.DOTALL)


# A figure, in digits or in Chinese, before a unit written in words: "分贝" alone is the question's word echoed
# ("噪音分贝：10.24" gives no loudness), "千克" alone no weight.
_NUMBER_AHEAD = r"(?:\d|[零一二两三四五六七八九十])\s*[百千万]?\s*(?:多|余)?\s*"

_PHYSICAL_KINDS = (
    # power: W, kW, VA, hp; not kWh (energy)
    (_asks_for(r"功率|\b(?:power rating|wattage)\b|\b(?:rated|nominal|output|input|maximum|max|most|highest|peak|continuous|motor) power\b"),
     re.compile(rf"\d\s*(?:[kMG]?W|[kM]?VA|hp)(?![a-zA-Z])|{_NUMBER_AHEAD}(?:千瓦|瓦|马力)", re.IGNORECASE)),
    (_asks_for(r"电压|\bvoltage\b"), re.compile(rf"\d\s*[kmM]?V(?![a-zA-Z])|{_NUMBER_AHEAD}(?:千伏|伏)")),
    (_asks_for(r"电流|\b(?:input|output|charg(?:e|ing)|discharg(?:e|ing)|rated|max(?:imum)?|short[- ]circuit|DC|AC) current\b|\bcurrent (?:rating|draw)\b|\bhow many amps\b"),
     re.compile(rf"\d\s*[kmµ]?A(?![a-zA-Z])|\d\s*(?:amps?|amperes?)\b|{_NUMBER_AHEAD}(?:安培|安)")),
    (_asks_for(r"重量|多重|多沉|\bweigh(?:s|t)?\b|\bheavy\b"),
     re.compile(rf"\d\s*(?:kg|g|t|lbs?|pounds?|tonnes?|tons?)(?![a-zA-Z])|{_NUMBER_AHEAD}(?:公斤|千克|克|吨|斤)", re.IGNORECASE)),
    # 多少度电 asks for kWh (a 度 of electricity), not degrees
    (_asks_for(r"温度|(?:多少|几)度(?!电)|\btemperature\b|\bhow (?:hot|cold)\b"),
     # 度 after a figure: the 度 of an echoed label ("最高介质温度：350 m³/h") is no temperature
     re.compile(r"[℃°]|\bdegrees?\b|(?:\d|[零一二两三四五六七八九十百])\s*度|零下|\d\s*[CF]\b")),
    (_asks_for(r"压力|压强|\bpressure\b"), re.compile(rf"\d\s*(?:[kKM]?Pa|m?bar|psi)(?![a-zA-Z])|{_NUMBER_AHEAD}(?:兆帕|千帕|帕)", re.IGNORECASE)),
    # loudness: "VX-40 隔膜泵运行时的噪音是多少分贝" is not answered by its flow and pressure
    (_asks_for(r"噪音|噪声|分贝|声音|多响|多吵|\bnoise\b|\bnoisy\b|\bloud\b|\bdecibels?\b|\bsound (?:power |pressure )?level\b"),
     re.compile(rf"\d\s*dB|{_NUMBER_AHEAD}分贝|\d\s*decibels?\b", re.IGNORECASE)),
    # flow: a volume per time (the QF-200's 120 m³/h, not its 32 m head)
    (_asks_for(r"流量|\bflow(?: rate)?\b"),
     re.compile(r"\d\s*(?:m³|m3|L|l|gal)\s*/\s*(?:h|min|s)\b|\d\s*(?:gpm|lpm|cfm)\b|立方米[/每]小时|升[/每]分钟?", re.IGNORECASE)),
    # speed of a machine or a vehicle; a response "speed" is a span of time, so only these
    # a link's speed is a data rate: the 5 GHz band's 1201 Mbps
    (_asks_for(r"转速|车速|时速|限速|行驶速度|速率|网速|\b(?:rated|rotational|rotation|motor|pump|fan|shaft|driving|travel|top|link|transfer) speed\b"
               r"|\bspeed limit\b|\brpm\b|\b(?:data|bit) rate\b|\bthroughput\b"),
     re.compile(r"\d\s*(?:km/h|kph|mph|m/s|m/min|r/min|rpm|转/分|[kMG]bps|[kMG]bit/s|[kMG]B/s)|公里每小时|千米每小时|转每分|米每秒|公里/小时",
                re.IGNORECASE)),
    (_asks_for(r"扭矩|力矩|\btorque\b"),
     re.compile(r"\d\s*(?:k?N\s*[·.⋅*]?\s*m\b|lbf?\s*[·.-]?\s*ft|ft\s*[·.-]?\s*lbf?)|牛[·.]?米", re.IGNORECASE)),
    # distance: "the driving range of an electric car" is not "120-550 V"
    (_asks_for(r"续航|里程|多远|\bhow far\b|\b(?:driving|cruising|travel) range\b|\bdistance\b"),
     re.compile(rf"{_LENGTH}|公里|千米|厘米|毫米|米|英里", re.IGNORECASE)),
)
# A question about a colour is answered by one: "What colour is the SW-5K housing?" is not the manual's title.
_ASKS_COLOUR = re.compile(r"\bwhat colou?rs?\b|\bcolou?rs? (?:is|are|of)\b|\bwhich colou?r\b|颜色|什么色", re.IGNORECASE)
_COLOUR = re.compile(r"\b(?:red|green|blue|black|white|gr[ae]y|yellow|orange|brown|silver|beige|purple|violet|pink|gold|golden"
                     r"|ivory|cream|navy|teal|transparent|clear|RAL\s*\d{4})\b|[红绿蓝黑白灰黄橙棕银紫粉金]色?|透明", re.IGNORECASE)
# A question asking how many times is answered by a count: "这个电池能来回充放电多少回" is not "10.24 kWh".
_ASKS_TIMES = re.compile(r"(?:多少|几)(?:回|次|遍|趟)|\bhow many (?:times|cycles)\b", re.IGNORECASE)
_TIMES = re.compile(r"\d\s*(?:次|回|遍|趟)|[一二两三四五六七八九十百千万]+(?:次|回|遍|趟)|\b(?:times?|cycles?|once|twice|thrice)\b", re.IGNORECASE)
# A question asking at what time of day is answered by a time of day: "by what time in the evening must the music
# stop?" is not "No person may use amplified sound in a manner that disturbs other park users." Not "what time of
# year" (a season, a month). "At night" or "上午" alone is no time of day.
_ASKS_CLOCK = re.compile(r"\b(?:what|which) time\b(?!\s+of\s+(?:the\s+)?(?:year|month|week)\b)|几点", re.IGNORECASE)
_CLOCK = re.compile(r"\d{1,2}\s*[:.：]\s*\d{2}|\d{1,2}\s*(?:a\.?m\b|p\.?m\b|o['’]clock|h\b)|\b(?:noon|midday|midnight|dawn|dusk|"
                    r"sunrise|sunset)\b|(?:\d|[一二三四五六七八九十两])\s*[点时]|中午|午夜|半夜",
                    re.IGNORECASE)
# What a question asks for, and what its answer must then hold.
_ANSWER_KINDS = ((_ASKS_PRICE, _MONEY), (_ASKS_DURATION_ZH, _TIME), (_ASKS_DURATION_EN, _TIME_EN), (_ASKS_EXTENT_EN, _EXTENT),
                 (_ASKS_COLOUR, _COLOUR), (_ASKS_CLOCK, _CLOCK),
                 (_ASKS_TIMES, _TIMES), *_PHYSICAL_KINDS)


# A Chinese question counting things by their measure word (多少栋, 几名, 最多能放多少人) is answered by a count of
# them: "8成" (eight tenths of the residents) does not say how many buildings were restored. Measure words
# that count the same things are one group (16 人 answers 多少名员工).
_MEASURE_GROUPS = ("人名位", "栋幢座所处", "台套部", "辆", "层", "岁", "倍", "级", "页", "家", "间", "户", "张", "条",
                   "件", "项", "棵株", "只头", "架", "艘", "颗粒", "片", "瓶", "袋", "箱", "包", "份", "篇", "本", "门")
_ASKS_COUNT_OF = re.compile(r"(?:多少|几)个?([" + "".join(_MEASURE_GROUPS) + r"])")
_NUMBER_BEFORE = r"(?:\d|[一二两三四五六七八九十百千万])\s*(?:[万千百]|余|多)?\s*"
_BARE_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w.,%°℃\u4e00-\u9fff])")


# "How many cups…" asks a count of cups: an answer giving only amounts of a measure (10 minutes, 2 litres, £5) counts
# something else. Not where the question counts a measure itself (how many hours, how many litres).
_ASKS_COUNT_EN = re.compile(r"\bhow many ([a-z]+)", re.IGNORECASE)
MEASURE_UNITS_EN = frozenset("""s sec secs second seconds min mins minute minutes h hr hrs hour hours day days night nights week weeks month
    months year years mm cm m km metre metres meter meters inch inches ft foot feet mile miles g kg t tonne tonnes ton tons lb
    lbs ml l litre litres liter liters gal gallon gallons w kw v a mah kwh % °c °f ℃ bar psi pa kpa mpa db hz gram grams
    kilogram kilograms kilo kilos pound pounds ounce ounces oz millilitre millilitres milliliter milliliters centimetre
    centimetres centimeter centimeters millimetre millimetres millimeter millimeters kilometre kilometres kilometer
    kilometers yard yards volt volts watt watts kilowatt kilowatts amp amps ampere amperes degree degrees percent
    bars pascal pascals decibel decibels hertz calorie calories kcal""".split())


# A figure and the two words after it ("14 consecutive nights").
_FIGURE_TWO_WORDS = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)*)\s+([A-Za-z]+)\s+([A-Za-z]+)")


def count_given(answer: str, question: str, contexts: Sequence[str]) -> bool:
    """For "how many cups…", whether the answer's bare figures ("10") are counts somewhere in the passages, not
    only amounts of a measure ("at least 10 minutes", "8–10 g"); True for any other question or answer."""
    counted = _ASKS_COUNT_EN.search(question)
    if not counted or counted.group(1).lower() in MEASURE_UNITS_EN:
        return True
    bare = [f for f, units in figure_units(CITATION.sub(" ", answer)).items() if units == {""}]
    if not bare:
        return True
    given: dict[str, set[str]] = {}
    for context in contexts:
        for figure, units in figure_units(context).items():
            given.setdefault(figure, set()).update(units)
        # A measure one word on ("14 consecutive nights", "2 full days") is the figure's unit too.
        for figure, first, second in _FIGURE_TWO_WORDS.findall(as_digits(context)):
            if first.lower() not in MEASURE_UNITS_EN and second.lower() in MEASURE_UNITS_EN:
                units = given.setdefault(figure.replace(",", ""), set())
                units.discard(first.lower())
                units.add(second.lower())
    return all(f not in given or not given[f] <= MEASURE_UNITS_EN for f in bare)



# A range writes its unit once, after its end: "25 to 30 seconds", "8–10 g".
# Anchored at a figure's start: tried from inside "1,1,1,…" it took quadratic time.
_RANGE = re.compile(r"(?<![\d.,])(\d+(?:[.,]\d+)*)(\s*(?:to|or|and|–|—|-)\s*\d+(?:[.,]\d+)*\s*([^\W\d_]+|°[CF]|℃|%))", re.IGNORECASE)


def _range_units_spread(text: str) -> str:
    """`text` with a range's unit written after its start too ("25 seconds to 30 seconds")."""
    return _RANGE.sub(lambda m: f"{m.group(1)} {m.group(3)}{m.group(2)}", text)


def _counts_what_is_counted(answer: str, question: str) -> bool:
    counted = _ASKS_COUNT_EN.search(question)
    if counted and counted.group(1).lower() not in MEASURE_UNITS_EN:
        # "How many cups…" is not answered by "25 to 30 seconds".
        figures = figure_units(_range_units_spread(CITATION.sub(" ", answer)))
        if figures and all(units and units <= MEASURE_UNITS_EN for units in figures.values()):
            return False
    asked = _ASKS_COUNT_OF.search(question)
    if not asked:
        return True
    group = next(g for g in _MEASURE_GROUPS if asked.group(1) in g)
    # A bare figure ("126") may be the count; a figure of something else ("8成", "3.6亿元") is not.
    return bool(re.search(_NUMBER_BEFORE + f"[{group}]", answer) or _BARE_NUMBER.search(CITATION.sub(" ", answer)))


# An English question asking who: "Who built the Glen Affric?", "…tell me who approves it".
_ASKS_WHO_EN = re.compile(r"^\W*(?:and |so |but )?(?:who|whom)\b|\b(?:tell me|know|say|ask|find out|wondering)\s+(?:who|whom)\b",
                          re.IGNORECASE)
# Someone an answer may name: a person, a role, a body ("the landlord", "an adjudicator", "the council").
_SOMEONE_EN = re.compile(
    r"\b(?:[a-z]{2,}(?:er|or|ist|ant|ent|ian|ee|ary|ive)s?|council|committee|board|department|team|authorit(?:y|ies)|company"
    r"|companies|government|police|court|agency|office|staff|crew|people|person|persons|anyone|anybody|everyone|everybody"
    r"|nobody|no one|someone|you|we|they|he|she|himself|herself|themselves|family|families|scheme|service|ministry|bureau"
    r"|firm|group|union|association|club|trust|panel|tribunal|commission|school|university|hospital|bank|landlords?|chair"
    r"|chairman|chairwoman|chairperson|head|clerk|judge|nurse|architects?|warden|guard|pilot|captain|mayor|king|queen"
    r"|friend|neighbou?rs?|public|whoever)\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"\b[A-Z][\w'’&-]*")


def _names_someone(answer: str, question: str) -> bool:
    """For an English "who" question, whether the answer names someone: a person, role or body, or a capitalised
    name the question does not write ("The old diesel ferry, the Glen Affric, burned 180,000 litres of fuel a year"
    names no one who built it). True for any other question."""
    if not _ASKS_WHO_EN.search(question) or not re.search(r"[A-Za-z]", answer):
        return True
    said = CITATION.sub(" ", answer).strip()
    asked = set(re.findall(r"[\w'’&-]+", question.lower()))
    # Someone the question itself names is not who it asks for: "Who chairs the community council…?" is not "The
    # community council has complained…".
    return any(word.lower() not in asked for word in _SOMEONE_EN.findall(said)) \
        or any(name.lower() not in asked and name.lower() not in ENGLISH_STOPWORDS for name in _CAPITALISED.findall(said))


def kind_answered(answer: str, question: str) -> bool:
    """Whether the answer is of the kind the question asks for: an amount of money for a price ("the list
    price of a VX-40" is not its 40 L/min), a span of time for a Chinese "how long" or "how often", a unit
    of power, voltage, weight, temperature or pressure for an amount of one, a count of what a Chinese
    question counts by its measure word, a time of day for "what time", someone for an English "who"."""
    # Whether there is a discount or a fee is answered by yes or no, or by how it is paid ("减半收取", "free"),
    # unless it also asks how much.
    whether_only = ASKS_YES_NO.search(question) is not None and _ASKS_FIGURE.search(question) is None
    spans = _TIME_AS_MONEY.sub(" ", answer)
    return all(not asks.search(question) or gives.search(spans if gives in (_TIME, _TIME_EN, _EXTENT) else answer)
               for asks, gives in _ANSWER_KINDS if not (whether_only and asks is _ASKS_PRICE)) \
        and _counts_what_is_counted(answer, question) and _names_someone(answer, question)


def physical_amount_asked(question: str) -> re.Pattern[str] | None:
    """What an answer to a question asking an amount of one physical quantity (how heavy, what voltage) must
    hold (a figure in its units); None for any other question, or one asking about several quantities."""
    asked = [gives for asks, gives in _PHYSICAL_KINDS if asks.search(question)]
    return asked[0] if len(asked) == 1 else None


# A question that asks for a count, an amount or a span of time is answered by a figure or a time word.
_ASKS_FIGURE = re.compile(r"多少|几|多[久长大高重宽远厚粗]|\bhow (?:much|many|long|often|far|high|low|big|heavy|wide|soon|quickly|tight)\b"
                          r"|\bwithin how\b|\bwhat (?:percentage|temperature|voltage|size|torque)\b", re.IGNORECASE)
_ASKS_SPAN = re.compile(rf"{_ASKS_DURATION_ZH.pattern}|隔多|\bhow (?:long|often)\b", re.IGNORECASE)
_TIME_WORD = re.compile(r"[年月周天日时分秒]|季度|星期|\b(?:hourly|daily|weekly|fortnightly|monthly|quarterly|annually|yearly|every|once|twice)\b",
                        re.IGNORECASE)


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


def asks_for_figure(question: str) -> bool:
    """Whether the question asks how many, how much, how long (多少, 几, 多久, "how often")."""
    return _ASKS_FIGURE.search(question) is not None


def gives_what_is_asked(sentence: str, question: str) -> bool:
    """Whether a passage sentence could answer the question: of the kind asked (`kind_answered`), and with a
    figure or a time word when the question asks how many, how much or how long."""
    if not kind_answered(sentence, question):
        return False
    if _ASKS_FIGURE.search(question):
        # A figure, not a code's digits (the ES-10 of a title); for how long or how often, a time word (每季度).
        return bool(figure_units(sentence)) or (_ASKS_SPAN.search(question) is not None and _TIME_WORD.search(sentence) is not None)
    return True


_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november",
           "december")
# Capitalised: "you may 5 times" and "march 3 km" are no dates.
_MONTH_NAME = r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
_DATES = (
    # 2025年1月1日, 3月31日, 3月31号: (year, month, day)
    (re.compile(r"(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]"), (1, 2, 3)),
    # 1 July 2024, 12 April: (day, month, year)
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_NAME}\b\.?(?:,?\s+(\d{{4}}))?"), (3, 2, 1)),
    # July 1, 2024; April 12
    (re.compile(rf"\b{_MONTH_NAME}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?"), (3, 1, 2)),
)


def _dates(text: str) -> set[tuple[str | None, int, int]]:
    """The calendar dates `text` writes, as (year or None, month, day)."""
    found = set()
    for pattern, (year, month, day) in _DATES:
        for match in pattern.finditer(text):
            name = match.group(month)
            number = int(name) if name.isdigit() else next(i for i, m in enumerate(_MONTHS, 1) if m.startswith(name.lower()[:3]))
            found.add((match.group(year), number, int(match.group(day))))
    return found


def dates_supported(answer: str, question: str, contexts: Sequence[str]) -> bool:
    """Whether each date of the answer is a date the passages (or the question) write: a small model joins the
    year of one date to the month and day of another ("2025年1月31日" from "自2025年1月1日起施行" and
    "次年3月31日前"), and each figure alone is given. A year the passages leave out may be added."""
    wanted = _dates(CITATION.sub(" ", answer))
    if not wanted:
        return True
    given = _dates(" ".join(contexts)) | _dates(question)
    return all(any((month, day) == (m, d) and (year is None or y is None or year == y) for y, m, d in given)
               for year, month, day in wanted)


# A time of day: "10:00 p.m.", "7 am", "22:10".
_CLOCK_TIME = re.compile(r"(?<![\d.:])(\d{1,2})(?::(\d{2}))?\s*([ap])\.?\s?m\b|(?<![\d.:])(\d{1,2}):(\d{2})(?![\d.:])", re.IGNORECASE)


def _clock_times(text: str, as_written: bool) -> set[int]:
    """The times of day `text` writes, as minutes after midnight: with a.m. or p.m., or on a 24-hour clock;
    `as_written` False also reads "7:00" as 19:00, the way a passage may leave the half of the day to its reader."""
    found = set()
    for hour, minute, half, hour24, minute24 in _CLOCK_TIME.findall(text):
        hour, minute = int(hour or hour24), int(minute or minute24 or 0)
        if hour > 23 or minute > 59 or (half and not 1 <= hour <= 12):
            continue
        if half:
            found.add((hour % 12 + (12 if half.lower() == "p" else 0)) * 60 + minute)
        else:
            found.add(hour * 60 + minute)
            if not as_written and hour < 12:
                found.add((hour + 12) * 60 + minute)
    return found


def clock_times_supported(answer: str, question: str, contexts: Sequence[str]) -> bool:
    """Whether each time of day the answer gives with a.m. or p.m. is one the passages (or the question) give: "7:00
    p.m." where they say "7:00 a.m." and "10:00 p.m." is a time no passage gives, though its figures are all there."""
    wanted = _clock_times(CITATION.sub(" ", answer), as_written=True)
    if not wanted or not re.search(r"\d\s*[ap]\.?\s?m\b", answer, re.IGNORECASE):
        return True
    return wanted <= _clock_times(" ".join(contexts) + " " + question, as_written=False)


# Money written with its currency before the figure ("$75", "£50,000", "USD 1,200", "¥200") or after it ("200元",
# "75 dollars"): figure_units reads only units after a figure, and "$5" would be a bare 5.
_CURRENCY_BEFORE = re.compile(r"(?:[$£€¥￥]|\b(?:USD|EUR|GBP|RMB|CNY|HKD)\s?)\s*(\d+(?:,\d{3})*(?:\.\d+)?)", re.IGNORECASE)
_CURRENCY_AFTER = frozenset({"元", "万元", "亿元", "块", "块钱", "dollars", "dollar", "pounds", "pound", "euros", "euro", "yuan",
                             "rmb", "cny", "usd", "gbp", "eur", "pence", "cents"})


def _money(text: str, figures: dict[str, set[str]]) -> set[str]:
    """The figures `text` gives as money (no thousands commas); `figures` is its figure_units."""
    before = {m.group(1).replace(",", "") for m in _CURRENCY_BEFORE.finditer(text)}
    return before | {n for n, units in figures.items() if units & _CURRENCY_AFTER}


def figures_supported(answer: str, question: str, contexts: Sequence[str]) -> bool:
    """Whether every figure of the answer is one the passages give (or the question asks about), with a unit
    they give it with: "200 V" over "120–550 V" fails, as do "1260 元" over "1260 kg", "8 公里" over 八小时,
    and a bare "10" where the passages only say "10 年" and "10 ℃", and money ("$5") where they give the figure
    as no money. A figure the passages give bare (a table cell) may carry any unit. "8 小时" may stand for "8 hours"."""
    passages, reply = " ".join(contexts), CITATION.sub(" ", answer)
    given, said = figure_units(passages), figure_units(reply)
    asked = figure_units(question)
    # An amount of money the passages give only as something else: "$5" over "filtered to 5 micrometres" (a bare
    # table cell may be money its column's header names).
    if any("" not in given.get(n, {""}) for n in _money(reply, said) - _money(passages, given) - set(asked)):
        return False
    for number, units in said.items():
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
        elif not units_agree(units - {""}, known):
            return False
    return dates_supported(answer, question, contexts) and clock_times_supported(answer, question, contexts)


def citing_what_gives_its_figures(answer: str, question: str, contexts: Sequence[str], terms: Callable[[str], list[str]],
                                  filler: frozenset[str] = frozenset()) -> str:
    """The answer without its citations of passages that do not give its figures in a sentence about the question
    ("6 months [1][3][4]", where [1] says to clean the fins every six months and [3] and [4] only hold a "6" and a
    "months" elsewhere: "6 months [1]"). As it is when it has no figure, when its citations are not one group at
    its end (each may then back its own part), or when no cited passage gives its figures so."""
    trailing = _TRAILING_CITATIONS.fullmatch(answer)
    if not trailing or CITATION.search(trailing.group(1)):
        return answer
    body = trailing.group(1)
    cited = list(dict.fromkeys(int(n) for n in CITATION.findall(trailing.group(2))))
    if len(cited) < 2 or not figure_units(body) or not all(0 < n <= len(contexts) for n in cited):
        return answer
    wanted = set(terms(question)) - filler

    def gives(context: str) -> bool:
        return any(figures_supported(body, "", [s]) and wanted & set(terms(s)) for s in passage_sentences(context))

    giving = [n for n in cited if gives(contexts[n - 1])]
    if not giving or len(giving) == len(cited):
        return answer
    return f"{body} " + "".join(f"[{n}]" for n in giving) + trailing.group(3)


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
    new = set(terms(CITATION.sub(" ", answer))) - asked - filler
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
        sentences = [s for c in contexts for s in _SENTENCE_END.split(c)]
        best = max(sentences, key=lambda s: len(answer_terms & set(terms(s))), default="")
        if answer_terms & set(terms(best)):
            # Product codes (two letters or more: QF-200, not M12) named where the answer comes from.
            named = {c for c in codes(best) if len(code_family(c)) >= 2}
            if named and not named & set(wanted):
                return False
    return True


# A piece of a passage that is only a heading's number ("7." of "7. Training and review").
_SECTION_NUMBER = re.compile(r"(?:#+\s*)?(?:(?:Section|Article|Art\.|Chapter|Part|Clause|Rule|§)\s*)?\d{1,3}(?:\.\d{1,3})*\.")
# A figure and a Latin unit written without a power (²/³) after it.
_UNIT_WITHOUT_POWER = re.compile(r"(?<![\d.,])(\d+(?:[.,]\d+)*)\s*([a-zA-Z]{1,3})(?![a-zA-Z²³])")


def superscripts_restored(answer: str, contexts: Sequence[str]) -> str:
    """The answer with a unit's power the passages give it ("35 mm" -> "35 mm²" over "截面积不小于35 mm²"):
    a small model drops the superscript, and an area is not a length. Only where every passage writing that
    figure and unit writes the same power."""
    def restored(match: re.Match) -> str:
        number, unit = re.escape(match.group(1)), re.escape(match.group(2))
        powers = {m.group(1) for c in contexts for m in re.finditer(rf"(?<![\d.,]){number}\s*{unit}([²³]?)(?![a-zA-Z])", c)}
        return match.group(0) + powers.pop() if len(powers) == 1 and "" not in powers else match.group(0)
    return _UNIT_WITHOUT_POWER.sub(restored, answer)


def passage_sentences(passage: str, rows_apart: bool = True, clauses_apart: bool = True) -> list[str]:
    """The passage's sentences and paragraph-separated lines (a heading), lines wrapped inside a sentence (PDF,
    HTML) joined up; table rows ("cell | cell") each on its own, or with `rows_apart` False the table as one; the
    clauses of a sentence that a semicolon joins each on its own, or with `clauses_apart` False together."""
    joins = r"(?<!\n)(?<!\|)\n(?!\n)(?![^\n]*\|)" if rows_apart else r"(?<!\n)\n(?!\n)"
    text = re.sub(joins, " ", passage)
    sentences: list[str] = []
    for piece in (_SENTENCE_END if clauses_apart else _FULL_SENTENCE_END).split(text):
        piece = piece.strip()
        if piece and sentences and _SECTION_NUMBER.fullmatch(sentences[-1]):
            # "7. Training and review" is a heading, not the sentence "7." (which would give the figure 7).
            sentences[-1] += " " + piece
        elif piece:
            sentences.append(piece)
    return sentences


# A section's heading: its label ("第四条", "Section 9.", "7.", "三、", "##") and a short title ("病假", "Access").
HEADING = re.compile(r"^\s*(?:#+\s*)?(?:第[一二三四五六七八九十百零〇\d]{1,6}[条章节]|(?:Section|Article|Chapter|Part)\s*\d+\.?"
                      r"|\d{1,3}(?:\.\d{1,3})*\.?|[一二三四五六七八九十]{1,3}、|#+)\s*(.{1,24}?)\s*[。.:：]?\s*$", re.IGNORECASE)


def names_a_section(text: str, contexts: Sequence[str]) -> bool:
    """Whether the reply is only the title of a section of the passages ("病假。" of "第四条 病假。"): it names where
    the answer is, not what it says."""
    reply = section_title(text)
    if not reply:
        return False
    titles = {m.group(1).strip(" .。:：").lower() for c in contexts for sentence in passage_sentences(c)
              if (m := HEADING.match(sentence))}
    return reply in titles


def section_title(text: str) -> str:
    """A reply as the title it may name, lower case, its number left out as the heading's ("8. Descaling" ->
    "descaling", "第四条 病假。" -> "病假")."""
    reply = CITATION.sub("", text).strip(" .。:：")
    numbered = HEADING.match(reply)
    return (numbered.group(1) if numbered else reply).strip(" .。:：").lower()


def quote_for(question: str, passage: str, terms: Callable[[str], list[str]], ignore: frozenset[str] = frozenset()) -> str | None:
    """The passage sentence sharing most content words with the question (names, codes and filler words
    aside), or None when none shares any: the answer for a model that replied with a bare citation."""
    wanted = set(terms(question)) - ignore
    best, score = None, (0, False, 0.0)
    for sentence in passage_sentences(passage):
        sentence_terms = set(terms(sentence))
        overlap = len(wanted & sentence_terms)
        # Ties go to the sentence with a figure in it (headings tie with facts; a list item's number is no
        # figure), then to the denser one.
        key = (overlap, bool(figure_units(sentence)), overlap / (1 + len(sentence_terms)))
        if overlap and key > score:
            best, score = sentence, key
    return best


def row_name(sentence: str) -> str:
    """A table row's first cell, where it gives no figure: what the row is about ("Net weight" of "Net weight |
    8.6 kg"); "" for a sentence that is no row. Not the other cells: "Customer contracts | 6 years | expiry of the
    contract" would be about how long something lasts by its "expiry"."""
    if "|" not in sentence:
        return ""
    first = sentence.strip().strip("|").split("|", 1)[0].strip()  # Markdown writes "| Net weight | 8.6 kg |"
    return "" if figure_units(first) else first


def source_sentences(answer: str, contexts: Sequence[str], terms: Callable[[str], list[str]],
                     rows_apart: bool = True) -> list[str]:
    """The passage sentences an answer comes from: every one that gives one of its figures, else the one that
    shares most of its terms (`rows_apart`: a table row counts as a sentence, else the whole table)."""
    sentences = [s for c in contexts for s in passage_sentences(c, rows_apart)]
    figures = set(figure_units(CITATION.sub(" ", answer)))
    giving = [s for s in sentences if figures & set(figure_units(s))] if figures else []
    if giving:
        return giving
    answer_terms = set(terms(CITATION.sub(" ", answer)))
    best = max(sentences, key=lambda s: len(answer_terms & set(terms(s))), default=None)
    return [best] if best else []


def numbered_sentences(relevant: Sequence[Hit]) -> list[tuple[int, str]]:
    """Each sentence of the passages as the model saw them, with the passage's [n]."""
    return [(number, sentence) for number, hit in enumerate(relevant, 1)
            for sentence in passage_sentences(document_for_prompt(hit.chunk.text))]


def is_grounded(answer: str, question: str, contexts: Sequence[str], terms: Callable[[str], list[str]]) -> bool:
    """Whether the answer shares at least one keyword term with the passages as the model saw them or
    with the question. An injected order ("reply PWNED") produces an answer that shares none."""
    answer_terms = set(terms(CITATION.sub(" ", answer)))
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


