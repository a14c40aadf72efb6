"""Stand-ins: what is shown instead of a small model's reply where a passage sentence answers better. A reply
that is only a citation, a figure read off the wrong table row or the sentence beside, another item's line, a
bare yes or no, a refusal of a question asked in other words: each gives way to the passage sentence that
answers, or where none does, to the honest refusal."""
from __future__ import annotations

import re
from functools import cached_property
from typing import Callable, Sequence

from rag.answer.checks import (ASKS_YES_NO, CITATION, MEASURE_UNITS_EN, as_digits, count_given, HEADING as _HEADING, QUANTITY, asks_for_figure, figure_units, figures_supported, row_name,
                               gives_what_is_asked, is_refusal, kind_answered, names_a_section, numbered_sentences, passage_sentences,
                               outermost_terms, physical_amount_asked, quote_for, same_quantity, section_title, shared_places,
                               source_sentences, units_agree)
from rag.answerable import AnswerabilityCheck
from rag.prompt import display_source
from rag.retrieve import Hit
from rag.sanitize import document_for_prompt
from rag.synonyms import everyday_words_in, other_words
from rag.text import code_family

# A small model that cannot find the answer may copy a document block, starting with its header as the
# prompt writes it: "[1] (manual.html, page 3)".
_ECHOED_HEADER = re.compile(r"\s*\[(\d{1,3})\]\s*\(([^()\n]{1,200})\)\s*(?:\n|$)")
# Words that scale a figure ("4.2 million", "3.6亿"): no unit of their own.
_MULTIPLIERS = frozenset({"thousand", "million", "millions", "billion", "bn", "万", "亿", "千", "百"})
# A reply this short is a figure with a word or two ("4.2 million", "20 元"), not a claim of its own.
SHORT_REPLY_CHARS = 40
# A line longer than this is no table row or list item of its own (a code's line stands in whole).
CODE_LINE_CHARS = 300
_CJK_CHARS = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
# Share of a question's content words a passage sentence must hold to stand in for an answer whose figure
# the passages do not give (StandIns._quote_answering).
QUOTE_COVERAGE = 0.75
# Specific question terms (AnswerabilityCheck.specific_terms) a sentence must share to stand in for an answer.
MIN_SPECIFIC_SHARED = 2
# The least a reply copied from a passage sentence must hold for the sentence to be known by it (10 characters:
# "公司可以依法解除劳动合同" is 12; "罚款" or "No" could come from anywhere).
MIN_COPIED_CHARS = 10
# The longest sentence shown for a one-figure reply to keep the other figure it gives (StandIns._alternatives_kept):
# about two lines; a longer one buries the figure asked for.
ALTERNATIVES_SENTENCE_CHARS = 240
# How much closer in meaning (sentence_scores) another table row must be than the answer's own to replace it,
# when no row shares a word of the question. multilingual-e5 puts rows of one table within a few hundredths
# of each other; under this margin its preference is noise ("reports about workplace injuries": personnel
# files 0.847, accident reports 0.846).
ROW_MARGIN = 0.02

_POLAR_REPLY = re.compile(r"^\s*(?:yes|no|not|never|不能|不可以|不可|不行|不得|不允许|禁止|不是|没有|不会|不需要|不用|不|否|可以|能|行|是|有|会|需要)"
                          r"(?:\s*[,，.。!！;；:：]|(?=\s*\[\d)|\s*$)", re.IGNORECASE)
# A yes or a no said inside a sentence ("星期天他们不能在家里施工", "you can't"), and the words a reply opens with
# before it echoes the question ("根据规定，…", "According to the documents, …").
_POLAR_WORD = re.compile(r"\b(?:yes|no|not|cannot|can't|never)\b|不能|不可以|不可|不得|不允许|禁止|不需要|不用|可以|允许",
                         re.IGNORECASE)
_CHINESE_WORD = re.compile(r"[\u4e00-\u9fff]+")
_CHINESE_POLAR_WORDS = frozenset("不能 不可以 不可 不行 不得 不允许 禁止 不是 没有 不会 不需要 不用 可以 能够 允许 需要 应该 应当 必须".split())
_ECHO_PREAMBLE = "根据 按照 依据 规定 文件 资料 文档 说明书 according to the documents document rules information provided based on"
# Words that say whether something is so, allowed or required: the grounds of a yes or a no.
_POLARITY = re.compile(r"\b(?:no|not|never|none|nothing|without|only|must|shall|should|may|can|cannot|prohibited|forbidden"
                       r"|allowed|permitted|required|do not|don't|avoid|closed|open|opens|shut|free|abolished|banned)\b|[不无没禁严须应可准许勿免非]", re.IGNORECASE)
# A reply that is a figure alone ("16"), with no unit to say what it counts.
_BARE_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
# Words joining two figures of one sentence as alternatives or conditions ("18 months … or 24 months …").
_ALTERNATIVE = re.compile(r"\b(?:or|and|whichever|otherwise|unless|except|but|while|whereas)\b|或|和|及|否则|但|而", re.IGNORECASE)
# Two figures joined as a range: "16–18 g", "42～72 m²", "6 至 12 个月", "8时至12时", "5万元以上10万元以下".
_RANGE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*(?:[a-zA-Z%°℃µ²³]+|[\u4e00-\u9fff]{1,2})?\s*"
                    r"(?:[-–—~～]|至|到|\bto\b|以上\s*)\s*(\d+(?:\.\d+)?)(?![\d.])")
# Words asking for, or giving, an upper or a lower bound ("最长能签几年？"; "最长不得超过五年", "at most 3 days").
_UPPER_BOUND = r"最长|最多|最高|最大|不得超过|不超过|\bmaximum\b|\bat most\b|\bup to\b|\blongest\b|\bhighest\b|\bmost\b"
_LOWER_BOUND = r"最少|最短|最低|最小|至少|不少于|不低于|\bminimum\b|\bat least\b|\bshortest\b|\blowest\b|\bleast\b"
_BOUNDS = {"upper": re.compile(_UPPER_BOUND, re.IGNORECASE), "lower": re.compile(_LOWER_BOUND, re.IGNORECASE)}
# A bound word with the figure it bounds after it, within a few characters of the same clause.
_BOUND_FIGURE_AFTER = r"[^\d。；;.]{0,8}?(\d+(?:\.\d+)?)"
# The bullet of a list item quoted as an answer.
_BULLET = re.compile(r"^\s*[-*•·]\s+(?=\S)")
# A numbered or bulleted first line of a one-line reply ("1. 98 kg"): the marker is not part of the answer.
_LIST_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)、]|[*•])\s+(?=\S)")
_SPACES = re.compile(r"\s+")
# A question counting things ("沿线一共有几个站？", "这个小区有多少栋楼？", "How many dogs…"): the things counted.
_COUNTED_ZH = re.compile(r"(?:多少|几)\s*[个座栋幢所处台套部辆层家间户张条件项棵株只头架艘颗粒片瓶袋箱包份篇本门名位]?\s*"
                         r"([\u4e00-\u9fff]{1,2}?)(?=[呢吗啊呀了？?，,。\s]|$|[可能会要需在有是才就都也还])")
_COUNTED_EN = re.compile(r"\bhow many ([a-z]+)", re.IGNORECASE)
# Where a clause of a sentence ends: a comma (a colon joins a label to its value: "额定扬程：45 m").
_CLAUSE_END = re.compile(r"[，,]\s*")
# The tiers of a rule: clauses a semicolon joins, each opening with its condition ("休息日加班的，", "已满10年不满20年的，",
# "If the tenant …,", "For a second offence,"), an article's number before the first.
_TIER_END = re.compile(r"[；;]\s*")
# The words bounding a tier's range, before or after its figure: "已满10年不满20年", "3天以上10天以内", "more than 3 days".
_UPPER_BEFORE = re.compile(r"(?:不满|未满|不足|少于|低于|小于|不到|不超过|under|less than|below|fewer than|up to|not more than|no more than)\s*$",
                           re.IGNORECASE)
_INCLUSIVE_UPPER = re.compile(r"(?:不超过|up to|not more than|no more than)\s*$", re.IGNORECASE)
_UPPER_AFTER = re.compile(r"^\s*(?:以下|以内|及以下|或以下|or less|or fewer|or under)", re.IGNORECASE)
_LOWER_BEFORE = re.compile(r"(?:已满|满|超过|不少于|至少|高于|大于|多于|more than|over|at least|above|from)\s*$", re.IGNORECASE)
_EXCLUSIVE_LOWER = re.compile(r"(?:超过|高于|大于|多于|more than|over|above)\s*$", re.IGNORECASE)
_LOWER_AFTER = re.compile(r"^\s*(?:以上|及以上|或以上|or more|and over|and above)", re.IGNORECASE)
_CONDITION = re.compile(r"^(?:第[一二三四五六七八九十百零〇\d]{1,6}条\s*)?([^，,。；;]{1,40}?的)[，,]"
                        r"|^(?:if|where|when|for|in the case of)\b([^,;]{1,80}),", re.IGNORECASE)


# Relatedness: (question, sentences) -> the highest cosine between the question and one of the sentences in
# the KB's embedding model, or None where the model cannot read the question (Chinese, English-only model).
Relatedness = Callable[[str, Sequence[str]], "float | None"]
# SentenceScores: (question, sentences) -> how well each sentence answers the question, in a model that reads
# both languages (multilingual-e5), or None where no model reads the question.
SentenceScores = Callable[[str, Sequence[str]], "Sequence[float] | None"]



class StandIns:
    """Args:
        terms: the KB's keyword tokenizer (text -> terms).
        answerability: the KB's answerability check (specific terms, codes, names, character pairs).
        relatedness: see Relatedness; None: every answer counts as related.
        min_relatedness: the least relatedness an answer's sentences must have to the question.
        sentence_scores: see SentenceScores; None: candidates ranked by the terms they share.
    """

    def __init__(self, terms: Callable[[str], list[str]], answerability: AnswerabilityCheck,
                 relatedness: Relatedness | None = None, min_relatedness: float = 0.0,
                 sentence_scores: SentenceScores | None = None):
        self._terms = terms
        self.answerability = answerability
        self._filler = answerability.filler_terms
        self._codes = answerability.codes
        self._names = answerability.names
        self._relatedness = relatedness
        self.min_relatedness = min_relatedness
        self._sentence_scores = sentence_scores

    def quote_if_bare(self, text: str, asked: str, relevant: Sequence[Hit]) -> str:
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
            cited = [int(n) for n in CITATION.findall(text) if 0 < int(n) <= len(relevant)]
            if CITATION.sub("", text).strip(" .。,，") or not cited:
                return text
        quote = quote_for(asked, relevant[cited[0] - 1].chunk.text, self._terms, self._not_content(asked))
        return _quoted(quote, cited[0]) if quote else ""

    def corrected(self, text: str, asked: str, relevant: Sequence[Hit], contexts: Sequence[str], confident: bool) -> str:
        """What to show for the model's reply, in both bands: for its own refusal, the line of the one code
        asked about (uncertain: else the passage sentence that answers); for an answer that holds up, the row,
        sentence or code line asked about where it read another; for one that fails a check, the passage
        sentence that answers. "" for a failed answer nothing stands in for.

        A clause standing in for a question that asks no figure comes with the clauses its sentence joins to it by
        semicolons: what to do comes with its exception ("员工请假应至少提前3个工作日…申请；因突发疾病等紧急情况不能
        事先申请的，应在当天上午10:00前电话告知直接上级…" to "早上突然生病，来不及提前请假怎么办？")."""
        shown = self._corrected(text, asked, relevant, contexts, confident)
        # Not a tier of a rule: the other tiers are other cases, not exceptions to it.
        if shown and shown != text and not asks_for_figure(asked) and not _is_a_tier(shown, relevant):
            return _with_its_other_clauses(shown, relevant)
        return shown

    def _corrected(self, text: str, asked: str, relevant: Sequence[Hit], contexts: Sequence[str], confident: bool) -> str:
        if ASKS_YES_NO.search(asked) and (_bare_polar(text) or self._polar_echo(text, asked)):
            grounds = self._grounds(asked, relevant)
            if grounds:
                return grounds
        if not text or is_refusal(text):
            # Uncertain: the question is in the user's own words, which a 0.5B model often fails to match to the
            # passage ("send any power out after the first start" over "select the country grid code during first
            # start-up"); a sentence sharing two specific places of the question and giving what it asks answers.
            # Confident: the passages match the question's words, and the model's refusal is a near-miss's.
            return self._code_line(asked, relevant) or (not confident and (self._tier_by_figure(asked, relevant)
                                                                            or self._closest_sentence(asked, relevant)
                                                                            or self._count_of_what_is_counted(asked, relevant))) or text
        if self._holds_up(text, asked, contexts):
            return self._row_asked(text, asked, relevant) or self._sentence_asked(text, asked, relevant) \
                or self._clause_asked(text, asked, relevant) or self._tier_asked(text, asked, relevant) \
                or self._unit_restored(text, asked, relevant) \
                or self._alternatives_kept(text, relevant) or self._range_kept(text, asked, relevant) \
                or self._sibling_corrected(text, asked, relevant)
        return self._figure_given_whole(text, asked, relevant, contexts) \
            or self._sentence_cut_short(text, asked, relevant) or self._under_section_named(text, asked, relevant) \
            or self._tier_by_figure(asked, relevant) or self._count_of_what_is_counted(asked, relevant) \
            or self._quote_answering(asked, relevant) \
            or self._row_asked(text, asked, relevant) or self._code_line(asked, relevant) \
            or self._only_amount_asked(text, asked, relevant)

    def _polar_echo(self, text: str, asked: str) -> bool:
        """Whether the reply is a yes or a no in the question's own words ("Yes, you can clean the portafilter in
        the dishwasher.", "根据规定，星期天他们不能在家里做有噪音的施工。"): nothing in it the passages could check,
        as with a bare yes or no."""
        polar = _POLAR_REPLY.match(text)
        if polar:
            return not self._adds_to(text[polar.end():], asked)
        said = set(self._terms(CITATION.sub(" ", text))) - set(self._terms(asked)) - self._filler
        return bool(_POLAR_WORD.search(text)) and said <= set(self._terms(_ECHO_PREAMBLE))

    def _holds_up(self, text: str, asked: str, contexts: Sequence[str]) -> bool:
        """The checks an answer must pass in both bands; one that fails gives way to the passage sentence
        that answers (`_quote_answering`), or the refusal."""
        return figures_supported(text, asked, contexts) and kind_answered(text, asked) and self._adds_to(text, asked) \
            and count_given(text, asked, contexts) \
            and not names_a_section(text, contexts) and self._related(text, asked, contexts)

    def chinese_words_written(self, text: str, asked: str, contexts: Sequence[str]) -> bool:
        """Whether each Chinese word the reply says is written in the question or a passage, words saying how (根据,
        应该, 可以, 不能) aside. A small model fills a gap with a word of its own: "灯变成黄色说明空气污染严重" over
        "黄色表示轻度污染", "清朝乾隆年间" where the passage says 乾隆年间. English replies paraphrase more freely
        ("approximately", "based on") and are not judged so. Judged on what is shown in the uncertain band, after the
        stand-ins: a reply failing it is refused, not replaced (as a failing check's would be, by a sentence sharing
        the question, which over "抱歉，我无法协助" was the manual's "感谢您购买清风空气净化器")."""
        said = CITATION.sub(" ", text)
        written, reply = None, as_digits(said)
        for term in self._terms(said):
            if len(term) < 2 or not _CHINESE_WORD.fullmatch(term) or term in self._filler or term in self._saying_how:
                continue
            if as_digits(term) != term or re.search(r"\d\s*" + re.escape(term), reply):
                continue  # a figure in words (五年 for 5年) or a unit (50公里 over 50 km): the figure checks judge those
            if term in asked or any(term in context for context in contexts):
                continue
            if written is None:  # as the tokenizer reads them (traditional characters as simplified)
                written = set(self._terms(asked)).union(*(self._terms(context) for context in contexts))
            if term not in written:
                return False
        return True

    @cached_property
    def _saying_how(self) -> frozenset[str]:
        """The words a reply frames its answer with, as this tokenizer's terms: the preamble of an echo and the
        words of a yes or a no."""
        return frozenset(self._terms(_ECHO_PREAMBLE)) | _CHINESE_POLAR_WORDS

    def _adds_to(self, text: str, asked: str) -> bool:
        """Whether the answer says more than the question: "在多高的位置作业属于高处作业。" repeats it."""
        return bool(set(self._terms(CITATION.sub(" ", text))) - set(self._terms(asked)) - self._filler)

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
        if score is None or score >= self.min_relatedness:
            return True
        # A spec table judged whole is about much besides the row asked ("Dimensions… Net weight | 8.6 kg, Power
        # cord length…" to "How heavy is the machine?": 0.23). A row's name, its first cell, says what its figure
        # measures: "Net weight" relates to the question (0.39), "Customer contracts" to a phone battery's life
        # does not (0.15).
        names = [name for row in source_sentences(text, contexts, self._terms) if (name := row_name(row))]
        name_score = self._relatedness(asked, names) if names else None
        return name_score is not None and name_score >= self.min_relatedness

    def _row_asked(self, text: str, asked: str, relevant: Sequence[Hit]) -> str:
        """For a figure read off the wrong row of a table ("How long do we keep invoices?" -> "6 years", the row
        of employment contracts): when no sentence giving the answer's figures holds a specific term of the
        question, the sentence that does, with a figure in the same unit, or in any unit where it shares
        MIN_SPECIFIC_SHARED places of the question ("hydrogen sulfide limit" -> "19.5 % to 23.5 % by volume", the
        oxygen row, gives way to "Hydrogen sulfide (H2S) | below 10 ppm"); "" when there is none, or the
        answer's own sentence holds one."""
        specific = self._specific_terms(asked)
        answer_units = {u for units in figure_units(CITATION.sub(" ", text)).values() for u in units} - {""}
        if not specific or not answer_units:
            return ""
        sentences = numbered_sentences(relevant)
        own = self._sentences_off_the_question(text, specific, sentences)
        if own is None:
            # Its sentence shares a word of the question (个人 of "对个人处五百元以下罚款"), but another in its unit
            # may share more ("私自拆了承重墙，个人会被罚多少？": the article on load-bearing structures).
            return self._row_by_meaning(asked, sentences, source_sentences(text, [s for _, s in sentences], self._terms),
                                        answer_units, rows_alike=False)
        same_unit, other_unit = [], []
        for number, sentence in sentences:
            shared_terms = specific & set(self._terms(sentence))
            if not shared_terms or not gives_what_is_asked(sentence, asked):
                continue
            unit_groups = [units - {""} for units in figure_units(sentence).values()]
            if any(units_agree(answer_units, units) for units in unit_groups) or (
                    # a span in other units ("30 days" for "6 weeks") only where the row is clearly the one asked
                    shared_places(asked, shared_terms) >= MIN_SPECIFIC_SHARED
                    and any(same_quantity(answer_units, units) for units in unit_groups)):
                same_unit.append((number, sentence, len(shared_terms)))
            elif shared_places(asked, shared_terms) >= MIN_SPECIFIC_SHARED and figure_units(sentence):
                other_unit.append((number, sentence, len(shared_terms)))
        if same_unit or other_unit:
            return self._closest(asked, same_unit or other_unit)
        return self._row_by_meaning(asked, sentences, own, answer_units)

    def _sentences_off_the_question(self, text: str, specific: set[str], sentences: Sequence[tuple[int, str]]) -> list[str] | None:
        """The passage sentences the answer comes from, when none of them holds a specific term of the question
        (it was read off another row or sentence); None when one does."""
        own = source_sentences(text, [sentence for _, sentence in sentences], self._terms)
        return None if any(specific & set(self._terms(sentence)) for sentence in own) else own

    def _row_by_meaning(self, asked: str, sentences: Sequence[tuple[int, str]], answer_sentences: Sequence[str],
                        answer_units: set[str], rows_alike: bool = True) -> str:
        """Where no table row shares a word of the question (it names the row in its own words: "driving-time
        recordings from our trucks" over "Vehicle tachograph data | 2 years"), the row in the answer's unit
        that a multilingual model finds closest to the question, when it is closer than the answer's own row
        by ROW_MARGIN; "" otherwise, or without such a model. The same for a sentence in the answer's unit that
        also shares more of the question's words than the answer's own: "养了大型烈性犬会被罚多少？" read "50元"
        off the article on dog mess, and the article on 烈性犬 gives "1000元以上5000元以下"."""
        if self._sentence_scores is None:
            return ""
        own_shared = max((self._shared_content(asked, s) for s in answer_sentences), default=0)
        in_unit = [(number, sentence) for number, sentence in sentences if gives_what_is_asked(sentence, asked)
                   and any(units_agree(answer_units, units - {""}) for units in figure_units(sentence).values())]
        # Meaning alone moves an answer between rows of one table; between sentences, it is too close a call
        # ("1,800 of them have been saved" and "the remaining 500 were too badly damaged" differ by 0.024).
        from_a_table = rows_alike and any("|" in sentence for _, sentence in in_unit if sentence in answer_sentences)
        rows = [(number, sentence) for number, sentence in in_unit if sentence in answer_sentences
                or ("|" in sentence and from_a_table) or self._shared_content(asked, sentence) > own_shared]
        own = set(answer_sentences) & {s for _, s in rows}
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

    def _clause_asked(self, text: str, asked: str, relevant: Sequence[Hit]) -> str:
        """For a one-figure reply read off the wrong clause of a sentence that gives several ("15天" to "发车前多久就不能
        进站检票了？", from "车票预售期为15天，列车开车前25分钟停止售票，开车前5分钟停止检票"): where the figure's own clause
        shares nothing of the question, the one clause of that sentence that shares most of it and gives the same
        quantity; "" otherwise."""
        reply = CITATION.sub("", text).strip(" .。")
        figure = _one_figure(reply)
        if figure is None:
            return ""
        value, answer_units = figure
        # The sentences giving that figure in the reply's quantity: "5 meters" is not the "5 s" of a settings table.
        measured = answer_units - {""}
        giving = {(number, sentence) for number, sentence in numbered_sentences(relevant)
                  if value in (units := figure_units(sentence)) and (not measured or same_quantity(measured, units[value] - {""}))}
        if len({sentence for _, sentence in giving}) != 1:
            return ""
        number, sentence = min(giving)
        clauses = [c.strip() for c in _CLAUSE_END.split(sentence) if c.strip()]
        own = [c for c in clauses if value in figure_units(c)]
        if len(own) != 1 or self._shared_content(asked, own[0]):
            return ""
        scored = [(self._shared_content(asked, c), c) for c in clauses if c is not own[0] and gives_what_is_asked(c, asked)
                  and any(same_quantity(answer_units - {""}, units - {""}) for units in figure_units(c).values())]
        most = max((shared for shared, _ in scored), default=0)
        best = [c for shared, c in scored if shared == most]
        return _quoted(best[0], number) if most and len(best) == 1 else ""

    def _tier_asked(self, text: str, asked: str, relevant: Sequence[Hit]) -> str:
        """For a figure read off one tier of a rule, a sentence of clauses that each open with their condition
        ("工作日延长工作时间的，按…150%…；休息日加班的，…按200%…；法定节假日加班的，按300%…"), where another tier's condition
        shares more of the question's specific words ("周六来公司加班怎么算钱？": 周六 is a 休息日): that tier, when one
        alone shares most and gives what is asked; "" otherwise."""
        figures = set(figure_units(CITATION.sub("", text)))
        by_figure = self._tier_by_figure(asked, relevant)
        # What the tier gives, not its condition's bounds ("已满1年不满10年的，年休假5天" gives 5, not 10).
        if figures and by_figure and not figures & set(figure_units(_CONDITION.sub("", CITATION.sub("", by_figure).strip(), count=1))):
            return by_figure
        specific = self._specific_terms(asked)
        if not figures or not specific:
            return ""
        for number, hit in enumerate(relevant, 1):
            for sentence in passage_sentences(document_for_prompt(hit.chunk.text), clauses_apart=False):
                tiers, conditions = _tiers_of(sentence)
                if not tiers:
                    continue
                own = [i for i, tier in enumerate(tiers) if figures & set(figure_units(tier))]
                if len(own) != 1:
                    continue
                shares = [len(outermost_terms(specific & set(self._terms(c.group(1) or c.group(2))))) for c in conditions]
                best = max(shares)
                asked_tier = tiers[shares.index(best)]
                if shares[own[0]] < best and shares.count(best) == 1 and gives_what_is_asked(asked_tier, asked):
                    return _quoted(asked_tier, number)
        return ""

    def _tier_by_figure(self, asked: str, relevant: Sequence[Hit]) -> str:
        """The one tier of a rule whose condition's range holds a figure the question gives ("工作了12年，一年能休几天
        年假？": "已满10年不满20年的，年休假10天", of the leave tiers), in a rule sharing a specific word of the question
        (年休假 for 年假); "" when no tier or several do, or it does not give what is asked."""
        figures = _figures_given(asked)
        specific = self._specific_terms(asked)
        if not figures or not specific:
            return ""
        found = set()
        for number, hit in enumerate(relevant, 1):
            for sentence in passage_sentences(document_for_prompt(hit.chunk.text), clauses_apart=False):
                tiers, conditions = _tiers_of(sentence)
                if tiers and outermost_terms(specific & set(self._terms(sentence))):
                    found |= {(number, tier) for tier, condition in zip(tiers, conditions)
                              if any(_in_range(value, units, condition.group(1) or condition.group(2))
                                     for value, units in figures.items())}
        return _one_sentence_answering(found, asked)

    def _count_of_what_is_counted(self, asked: str, relevant: Sequence[Hit]) -> str:
        """For a question counting things ("沿线一共有几个站？"): the one passage sentence that gives a count of
        them ("全线共设…7座车站": a figure, a measure word and at most two characters or one word before the thing
        counted); "" where none does, or several sentences do."""
        zh = _COUNTED_ZH.search(asked)
        en = None if zh else _COUNTED_EN.search(asked)
        if zh:
            counted = re.compile(rf"\d[\d.]*\s*[\u4e00-\u9fff]?[\u4e00-\u9fff]{{0,2}}?{re.escape(zh.group(1))}")
        elif en and en.group(1).lower() not in MEASURE_UNITS_EN:
            # The thing, or what documents write for it ("How many people…" is counted in "six persons").
            things = "|".join(re.escape(t.rstrip("s")) for t in (en.group(1).lower(), *other_words(en.group(1).lower())))
            # A figure, not a section's number ("7. No person may…").
            counted = re.compile(rf"\b\d+(?:[.,]\d+)*\s+(?:[a-z-]+\s+)?(?:{things})s?\b", re.IGNORECASE)
        else:
            return ""
        found = {(number, sentence) for number, sentence in numbered_sentences(relevant)
                 if counted.search(as_digits(sentence)) and not sentence.startswith("#")}
        return _one_sentence_answering(found, asked)

    def _unit_restored(self, text: str, asked: str, relevant: Sequence[Hit]) -> str:
        """For a bare figure ("16 [1]") that the passages give with a unit ("16 hours of safety induction"): the
        one sentence giving it, so that the answer says 16 of what; "" for any other answer, or when several
        sentences give the figure."""
        figure = CITATION.sub("", text).strip(" .。")
        if not _BARE_FIGURE.fullmatch(figure):
            return ""
        giving = _the_one_sentence_giving(figure.replace(",", ""), relevant, lambda units: "" not in units)
        # Of the kind asked: "10" to "How many cups…" is not "at least 10 minutes before use".
        return _quoted(giving[1], giving[0]) if giving and kind_answered(giving[1], asked) else ""

    def _figure_given_whole(self, text: str, asked: str, relevant: Sequence[Hit], contexts: Sequence[str]) -> str:
        """For a reply of one figure that fails a check only in its form ("4.2 million" to a question about a cost,
        over "The restoration cost £4.2 million"; "20" over "停车费每天20元"): the one passage sentence giving that
        figure, where the sentence gives what is asked and is about the question; "" otherwise."""
        reply = CITATION.sub("", text).strip(" .。")
        figure = _one_figure(reply)
        if figure is None:
            return ""
        value, answer_units = figure
        # A figure without a unit of its own ("20", "4.2 million"): a reply giving one ("10米" to how long, "每 3
        # 个月") gave a figure of its own choosing, not a form of the passage's.
        if answer_units - {""} - _MULTIPLIERS:
            return ""
        giving = _the_one_sentence_giving(value, relevant, lambda units: True)
        # About the question: it shares a specific place of it (the cost, 停车费), not only the figure ("15" of a
        # storage temperature, "15~25 ℃", to a question about how often the fire patrols come).
        if giving is None or not gives_what_is_asked(giving[1], asked) or not self._shares_what_is_asked(asked, giving[1]):
            return ""
        if not count_given(value, asked, [giving[1]]):
            return ""  # "14" to "How many people…" is "14 consecutive nights" whole: still no count of people
        quoted = _quoted(giving[1], giving[0])
        return quoted if self._related(quoted, asked, contexts) else ""

    def _under_section_named(self, text: str, asked: str, relevant: Sequence[Hit]) -> str:
        """For a reply that only names a section of the passages ("8. Descaling" to "how often do I need to get rid
        of the limescale?"): the sentence under that heading closest to the question, among those giving what is
        asked and sharing a word or a character pair of it; "" otherwise. The model found where the answer is."""
        reply = section_title(text)
        if not reply or not names_a_section(text, [document_for_prompt(h.chunk.text) for h in relevant]):
            return ""
        wanted = set(self._terms(asked)) - self._not_content(asked)
        pairs = self.answerability.character_pairs(asked)
        candidates = []
        for number, hit in enumerate(relevant, 1):
            under = False
            for sentence in passage_sentences(document_for_prompt(hit.chunk.text)):
                heading = _HEADING.match(sentence)
                if heading:
                    under = heading.group(1).strip(" .。:：").lower() == reply
                    continue
                shared = len(wanted & set(self._terms(sentence))) + len(pairs & self.answerability.character_pairs(sentence))
                if under and shared and gives_what_is_asked(sentence, asked):
                    candidates.append((number, sentence, shared))
        return self._closest(asked, candidates)

    def _sentence_cut_short(self, text: str, asked: str, relevant: Sequence[Hit]) -> str:
        """For a reply copied from one passage sentence with the figure asked for cut off ("公司可以依法解除劳动合同。" to
        "连着几天不来上班公司就可以把人辞退？", from "连续旷工3天或者一年内累计旷工5天的，公司可以依法解除劳动合同"): that
        sentence, where it gives what is asked; "" otherwise, or for a reply too short to show which sentence."""
        reply = _SPACES.sub(" ", CITATION.sub("", text)).strip(" .。!！")
        # Only the figure asked for is known to be what was cut off: a fragment answering who or why (the
        # sentence naming the librarian, to "Who ran the library before him?") may have left nothing out.
        if len(reply) < MIN_COPIED_CHARS or not asks_for_figure(asked) or figure_units(reply):
            return ""
        return _one_sentence_answering({(number, sentence) for number, sentence in numbered_sentences(relevant)
                                        if reply in _SPACES.sub(" ", sentence) and len(sentence.strip(" .。")) > len(reply)},
                                       asked)

    def _only_amount_asked(self, text: str, asked: str, relevant: Sequence[Hit]) -> str:
        """For a figure of another quantity than the one asked, read off the passage that gives it ("10.24 kWh",
        the capacity row, to "这个柜子整台有多重？", over the row "重量 | 98 kg"): the one passage sentence giving
        an amount of the quantity asked, where it is in a passage the answer's figures come from; "" otherwise,
        or when several sentences give one."""
        gives = physical_amount_asked(asked)
        if gives is None or gives.search(text):
            return ""
        sentences = numbered_sentences(relevant)
        giving = {(number, sentence) for number, sentence in sentences if gives.search(sentence) and not sentence.startswith("#")}
        if len({sentence for _, sentence in giving}) != 1:
            return ""
        if not figure_units(CITATION.sub(" ", text)):
            # A reply with no figure at all ("噪音较大" to "声音有多大？") was read off nothing: the one sentence of the
            # passages giving the quantity asked answers ("运行噪音 | 睡眠档 32 dB(A)，最高档 65 dB(A)").
            number, sentence = min(giving)
            return _quoted(sentence, number)
        own = set(source_sentences(text, [sentence for _, sentence in sentences], self._terms))
        read_from = {number for number, sentence in sentences if sentence in own}
        in_read = sorted((number, sentence) for number, sentence in giving if number in read_from)
        return _quoted(in_read[0][1], in_read[0][0]) if in_read else ""

    def _shares_what_is_asked(self, asked: str, sentence: str) -> bool:
        """Whether the sentence holds a specific term of the question, or in Chinese a rare character pair of it."""
        specific = self._specific_terms(asked)
        pairs = self.answerability.specific_pairs(self.answerability.character_pairs(asked))
        return shared_places(asked, specific & set(self._terms(sentence)),
                             pairs & self.answerability.character_pairs(sentence) if pairs else set()) > 0

    def _alternatives_kept(self, text: str, relevant: Sequence[Hit]) -> str:
        """For a reply of one figure ("18 months") whose one sentence gives another in the same unit ("18 months
        from the date of installation or 24 months from the date of shipment, whichever ends first"): that
        sentence, so that the alternative or condition is not lost; "" otherwise, or for a long sentence."""
        reply = QUANTITY.fullmatch(CITATION.sub("", text).strip(" .。"))
        if not reply or not reply.group(2):
            return ""
        value, unit = reply.group(1).replace(",", ""), reply.group(2).lower()
        giving = _the_one_sentence_giving(value, relevant, lambda units: unit in units)
        if giving is None:
            return ""
        number_of_passage, sentence = giving
        if len(sentence) > ALTERNATIVES_SENTENCE_CHARS:
            return ""
        figures = [(m.group(1).replace(",", ""), (m.group(2) or "").lower(), m.start(), m.end()) for m in QUANTITY.finditer(sentence)]
        # Joined as alternatives or conditions ("… or 24 months …", "8 km/h, and 15 km/h on site roads"); not
        # the fields of a spec list run together ("额定扬程：45 m 配套电机功率：55 kW … 汽蚀余量：3.8 m").
        joined = any(_ALTERNATIVE.search(between) and not re.search(r"[:：]", between)
                     for v, u, start, end in figures if v == value and u == unit
                     for v2, u2, start2, end2 in figures if v2 != value and u2 == unit
                     for between in [sentence[min(end, end2):max(start, start2)]])
        return _quoted(sentence, number_of_passage) if joined else ""

    def _range_kept(self, text: str, asked: str, relevant: Sequence[Hit]) -> str:
        """For a short reply giving one figure of a range or a bound ("16 g" over "the double basket for 16–18 g";
        "三年" over "合同期限一般为三年，最长不得超过五年" to a question asking the longest): the one passage
        sentence holding it, so that the other end is not lost; "" otherwise, or for a long sentence.

        A range's end (16–18, 八时至十二时, 5万元以上10万元以下) is cut off unless the question asks for that end
        (最多, "at most"); a bound's figure is kept where the question asks for the bound and the reply gave the
        sentence's other figure."""
        reply = as_digits(CITATION.sub("", text)).strip(" .。")
        bounds = [kind for kind, words in _BOUNDS.items() if words.search(asked)]
        figure = _one_figure(reply)
        if figure is None and len(bounds) == 1 and len(figures := figure_units(reply)) == 1:
            # Asked for a bound, a sentence giving one figure is judged as that figure ("The longest video clip it
            # can record is 10 s.").
            figure = next(iter(figures.items()))
        if figure is None:
            return ""
        value, reply_units = figure
        found = set()
        for number, sentence in numbered_sentences(relevant):
            if len(sentence) > ALTERNATIVES_SENTENCE_CHARS or sentence.startswith("#"):
                continue
            digits = as_digits(sentence)
            if not bounds:
                # A range rises: "No. 2023-14" is a bylaw's number, not a range from 2023 down to 14.
                if any(value in (m.group(1), m.group(2)) and float(m.group(1)) < float(m.group(2)) for m in _RANGE.finditer(digits)):
                    found.add((number, sentence))
            elif len(bounds) == 1 and value in (units_here := figure_units(digits)):
                # The bound in the reply's unit, where the reply's figure is not itself the bound ("最大出口压力：0.8
                # MPa" beside "最大流量：40 L/min").
                bounded = {m.group(1) for m in re.finditer(f"(?:{_BOUNDS[bounds[0]].pattern}){_BOUND_FIGURE_AFTER}",
                                                           digits, re.IGNORECASE)}
                if value not in bounded and any(units_here.get(b, set()) & reply_units for b in bounded):
                    found.add((number, sentence))
                elif self._inside_a_range(value, reply_units, units_here, digits):
                    # Not an end of the range beside it: a setting's default ("The longest video clip it can record
                    # is 10 s." off "Video length | 5 s to 60 s | 10 s").
                    found.add((number, sentence))
        return _one_sentence_answering(found, asked)

    @staticmethod
    def _inside_a_range(value: str, reply_units: set[str], units_here: dict[str, set[str]], digits: str) -> bool:
        """Whether the sentence gives a rising range in the reply's unit that holds `value` strictly inside it."""
        number = _as_number(value)  # None for a figure that is no number ("1.2.3", a version)
        for m in _RANGE.finditer(digits):
            low, high = float(m.group(1)), float(m.group(2))
            if number is not None and low < number < high and units_here.get(m.group(2), set()) & reply_units:
                return True
        return False

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
            or [(number, sentence) for number, sentence in numbered_sentences(relevant) if explains_it(sentence)]
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
        contexts = [sentence for _, sentence in numbered_sentences(relevant)]
        sources = source_sentences(text, contexts, self._terms)
        named = {c for s in sources for c in self._codes_in(s)}
        if codes[0] in named:
            return text
        if any(code_family(c) == code_family(codes[0]) for c in named):
            return self._code_line(asked, relevant) or text
        if any(len(code_family(c)) >= 2 for c in named):
            # Another item's line (pump VX-40's repair, to a question about pump P-0207): the one sentence that
            # names the code asked about, where it is rare in the KB. Product codes only (two letters or more):
            # the "m3" of a unit (m³/h) names no item. A spec line's codes name a material or an interface
            # (HT250, RS-485, IP54) of the item asked about: the sentence naming the item stands in only where it
            # shares more of the question than the answer's own line does.
            naming = self._sentence_naming(codes[0], asked, relevant)
            if naming and self._shared_content(asked, naming) > max(self._shared_content(asked, s) for s in sources):
                return naming
        return text

    def _shared_content(self, asked: str, sentence: str) -> int:
        """How many of the question's content words (codes, their parts and names aside) `sentence` holds, a
        word and its part counting once."""
        code_parts = {t for code in self._codes(asked) for t in self._terms(code)}
        wanted = (set(self._terms(asked)) | set(everyday_words_in(asked))) - self._not_content(asked) - code_parts
        # With the words the passages write for the question's (国庆节 is a regulation's 法定节假日).
        wanted |= self.answerability.words_held_for(sorted(wanted))
        words = outermost_terms(wanted & set(self._terms(sentence)))
        # In Chinese, a rare character pair counts as a place where the segmenter cut a word otherwise (承重墙 /
        # 承重结构: "私自拆了承重墙，个人会被罚多少？" shares 承重 with the article on load-bearing walls only).
        pairs = self.answerability.specific_pairs(self.answerability.character_pairs(asked))
        shared_pairs = pairs & self.answerability.character_pairs(sentence) if pairs else set()
        return shared_places(asked, words, shared_pairs)

    def _sentence_naming(self, code: str, asked: str, relevant: Sequence[Hit]) -> str:
        """The single passage sentence naming `code` (and no sibling of it), when few chunks name the code and
        the sentence gives what is asked; "" otherwise."""
        if not self.answerability.specific_terms([code]):
            return ""
        return _one_sentence_answering({(number, sentence) for number, sentence in numbered_sentences(relevant)
                                        if self._names_alone(sentence, code)}, asked)

    def _specific_terms(self, asked: str) -> set[str]:
        """The question's specific terms, and the specific words the passages write for its words no chunk holds
        (周末 is a law's 休息日: the sentence saying 休息日不得施工 shares it)."""
        content = (set(self._terms(asked)) | set(everyday_words_in(asked))) - self._not_content(asked)
        return self.answerability.specific_terms(sorted(content | self.answerability.words_held_for(sorted(content))))

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
        is already about them). A code's parts (qf and 200 of qf-200) stay: a passage copied whole is quoted from
        its sentence naming the code ("tighten the casing bolts of the QF-200 to 85 N.m", to "How tight should the
        QF-200 housing screws be done up?")."""
        return frozenset(self._filler | set(self._codes(asked)) | {t for name in self._names(asked) for t in self._terms(name)})

    def _quote_answering(self, asked: str, relevant: Sequence[Hit]) -> str:
        """For a model that answered with a figure the passages do not give, or of the wrong kind: the passage
        sentence that answers the question, with its number; "" when none does. A 0.5B model writes "1.1 米"
        over "安全通道宽度不得小于 1.2 米", "三年" over "维修记录保存两年": the sentence is the answer it meant.

        First the sentence holding at least QUOTE_COVERAGE of the question's content words; for a question in
        the user's own words (it shares few words with the passages), the sentence a multilingual model finds
        closest to it among those of the kind asked (`_closest_sentence`)."""
        covering = self._covering_sentence(asked, relevant)
        # Of the kind asked: "Maximum DC input voltage | 600 V" holds three of the four words of "What is the maximum
        # DC input current…", and gives no current.
        if covering and gives_what_is_asked(covering[1], asked):
            return _quoted(covering[1], covering[0])
        return self._closest_sentence(asked, relevant)

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
        # Only terms the KB holds: an answer's sentence cannot share "originally" where no chunk says it.
        specific = self.answerability.held_terms(sorted(self._specific_terms(asked)))
        own = self._sentences_off_the_question(text, specific, numbered_sentences(relevant)) if specific else None
        if own is None:
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
        for number, sentence in numbered_sentences(relevant):
            sentence_terms = set(self._terms(sentence))
            shared = len(outermost_terms(specific & sentence_terms))
            # A sentence saying whether (a word of polarity), or one sharing two places of the question that states
            # what holds ("A reservation cancelled at least 14 days before the booked date is refunded in full…").
            if shared and len(sentence_terms) > shared + 1 and not sentence.startswith("#") \
                    and (_POLARITY.search(sentence) or shared >= MIN_SPECIFIC_SHARED):
                candidates.append((number, sentence, shared))
        # The sentence a yes or a no rests on shares the most of the question; meaning decides among those.
        most = max((shared for _, _, shared in candidates), default=0)
        grounds = self._closest(asked, [c for c in candidates if c[2] == most])
        return _with_its_other_clauses(grounds, relevant) if grounds else ""  # also where a figure is asked

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
        for number, sentence in numbered_sentences(relevant):
            sentence_terms = set(self._terms(sentence))
            shared_pairs = pairs & self.answerability.character_pairs(sentence) if pairs else set()
            shared = shared_places(asked, specific & sentence_terms, shared_pairs)
            # A heading ("## Warranty coverage") names a subject; it answers nothing.
            if shared >= MIN_SPECIFIC_SHARED and len(sentence_terms) > shared + 1 and not sentence.startswith("#") \
                    and gives_what_is_asked(sentence, asked):
                candidates.append((number, sentence, shared))
        # As for a yes or a no's grounds, the sentences sharing most of the question first, then meaning: e5 put the
        # leave tiers ("已满10年不满20年的，年休假10天") over the carry-over rule sharing more of "今年的年假没用完，还能留到
        # 什么时候？" (当年未休完…次年3月31日前). Over the six corpora's questions it picked the sentence giving the answer
        # for 127 of 147 against 125, and lost none.
        most = max((shared for _, _, shared in candidates), default=0)
        return self._closest(asked, [c for c in candidates if c[2] == most])


def _one_figure(reply: str) -> tuple[str, set[str]] | None:
    """(figure, its units) of a short reply giving one figure ("15天", "4.2 million"); None for any other."""
    figures = figure_units(reply)
    if len(figures) != 1 or len(reply) > SHORT_REPLY_CHARS:
        return None
    return next(iter(figures.items()))


def _bare_polar(text: str) -> bool:
    """A reply that is a yes or a no and nothing the passages could check: "不能", "No [1]", or "No, … The
    knowledge base does not contain an answer to this question."""
    polar = _POLAR_REPLY.match(text)
    if not polar:
        return False
    rest = CITATION.sub("", text[polar.end():]).strip(" .。!！")
    return not rest or is_refusal(rest)


def _the_one_sentence_giving(value: str, relevant: Sequence[Hit], accepts: Callable[[set[str]], bool]) -> tuple[int, str] | None:
    """(passage number, sentence) of the one passage sentence giving the figure `value` with units `accepts`
    accepts; None when no sentence or several do."""
    giving = {(n, sentence) for n, sentence in numbered_sentences(relevant)
              if (units := figure_units(sentence).get(value)) and accepts(units)}
    return min(giving) if len({sentence for _, sentence in giving}) == 1 else None


def _one_sentence_answering(found: set[tuple[int, str]], asked: str) -> str:
    """The quoted sentence of `found` ((passage number, sentence) pairs) when they are one sentence, no heading,
    that gives what is asked; "" otherwise."""
    if len({sentence for _, sentence in found}) != 1:
        return ""
    number, sentence = min(found)
    if sentence.startswith("#") or not gives_what_is_asked(sentence, asked):
        return ""
    return _quoted(sentence, number)


def _tiers_of(sentence: str) -> tuple[list[str], list[re.Match]]:
    """The tiers of a rule (clauses a semicolon joins, each opening with its condition) and their conditions;
    ([], []) for a sentence that is no such rule."""
    tiers = [t.strip() for t in _TIER_END.split(sentence) if t.strip()]
    conditions = [_CONDITION.match(t) for t in tiers]
    return (tiers, conditions) if len(tiers) >= 2 and all(conditions) else ([], [])


def _figures_given(question: str) -> dict[str, set[str]]:
    """The figures a question gives with their units; a 1 beside other figures of its unit is a rate ("一年能休几天",
    "per year"), not a figure given."""
    given = {value: units - {""} for value, units in figure_units(question).items() if units - {""}}
    return {value: units for value, units in given.items()
            if value != "1" or not any(other != "1" and units & others for other, others in given.items())}


def _as_number(figure: str) -> float | None:
    """A figure as a number ("1,000" -> 1000.0); None for one that is no number ("1.2.3", a version or a clause)."""
    try:
        return float(figure.replace(",", ""))
    except ValueError:
        return None


def _in_range(value: str, units: set[str], condition: str) -> bool:
    """Whether a tier's condition bounds the figures of its unit so that `value` is inside ("已满10年不满20年" holds 12
    years; "3天以上10天以内" holds 5 days); False for a condition that bounds none."""
    bounded = False
    number = _as_number(value)
    condition = as_digits(condition)
    for match in QUANTITY.finditer(condition):
        bound = _as_number(match.group(1))
        if number is None or bound is None or not match.group(2) or not units_agree(units, {match.group(2).lower()}):
            continue
        before, after = condition[max(0, match.start() - 12):match.start()], condition[match.end():match.end() + 12]
        if _UPPER_BEFORE.search(before) or _UPPER_AFTER.match(after):
            # 不满 / under exclude the bound; 以内 / 以下 / 不超过 / up to include it.
            inclusive = not _UPPER_BEFORE.search(before) or _INCLUSIVE_UPPER.search(before)
            if not (number <= bound if inclusive else number < bound):
                return False
        elif _LOWER_BEFORE.search(before) or _LOWER_AFTER.match(after):
            if not (number > bound if _EXCLUSIVE_LOWER.search(before) else number >= bound):
                return False
        else:
            continue
        bounded = True
    return bounded


def _cited_sentences(quoted: str, relevant: Sequence[Hit]) -> tuple[int, str, list[str]] | None:
    """(passage number, the quoted text without its citation, the sentences of the passage it cites, semicolon clauses
    together); None for a quote citing no passage of `relevant`."""
    cited = CITATION.findall(quoted)
    if not cited or not 0 < int(cited[-1]) <= len(relevant):
        return None
    number = int(cited[-1])
    return number, CITATION.sub("", quoted).strip(), passage_sentences(document_for_prompt(relevant[number - 1].chunk.text),
                                                                        clauses_apart=False)


def _is_a_tier(quoted: str, relevant: Sequence[Hit]) -> bool:
    """Whether a quoted clause is one tier of a rule in the passage it cites."""
    cited = _cited_sentences(quoted, relevant)
    return cited is not None and any(cited[1] in _tiers_of(sentence)[0] for sentence in cited[2])


def _with_its_other_clauses(quoted: str, relevant: Sequence[Hit]) -> str:
    """A quoted clause with the clauses its sentence joins to it by semicolons, where the whole sentence is no
    longer than ALTERNATIVES_SENTENCE_CHARS: the grounds of a yes or a no keep the rule's exception ("…no fire of
    any kind may be lit, including in fire pits; propane barbecues remain permitted" to "can I still use my gas
    grill?")."""
    cited = _cited_sentences(quoted, relevant)
    if cited is None:
        return quoted
    number, clause, sentences = cited
    for sentence in sentences:
        if clause.rstrip(";；,，:：") in sentence and sentence.rstrip("。.") != clause.rstrip("。.") \
                and len(sentence) <= ALTERNATIVES_SENTENCE_CHARS and not sentence.startswith("#"):
            return _quoted(sentence, number)
    return quoted


def _quoted(sentence: str, number: int) -> str:
    """A passage sentence standing in for an answer, cited; a table row without its outer bars, a list item
    without its bullet or number."""
    return f"{_LIST_MARKER.sub('', _BULLET.sub('', sentence)).strip('| ').rstrip(';；,，:：')} [{number}]"
