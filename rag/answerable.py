"""Whether the knowledge base can answer a question: the passages over the relevance threshold, then the
question's key names checked against them.

A near-miss (the KB holds the QF-200's grease interval, the question asks about the QF-350; the KB covers
the Changzhou plant, the question asks about Shanghai) retrieves passages that look relevant. So a product
or part code the question names must occur in a kept passage or elsewhere in that passage's document, and
a proper name (a place or organisation, a 《title》) must occur somewhere in the KB; otherwise the answer
is the honest "not in the knowledge base".
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from rag.retrieve import Hit
from rag.text import GRAM_MARK, KeywordTokenizer, code_family, written_apart


@dataclass(frozen=True)
class Decision:
    kept: tuple[Hit, ...]  # the passages to answer from; empty = refuse
    reason: str  # answerable | uncertain | no relevant passage | names ... found nowhere in ...
    confident: bool = False  # over the threshold; else (uncertain) the answer must prove it is supported
    missing: tuple[str, ...] = ()  # the question's names the passages do not hold
    seconds: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def answerable(self) -> bool:
        return bool(self.kept)


UNCERTAIN_SHARE_OF_BEST = 1 / 3
# Confident: the passages over the threshold, and those under it that match at least two thirds as well as the
# best. A question in the words of one document may be answered by another: "What is the rated flow of the
# QF-200 pump?" matches the English maintenance procedures (0.52) and is answered by the Chinese spec sheet
# (0.35, "额定流量：120 m³/h"). Measured with --answers against the threshold alone: shipped sets 78 -> 79
# right, third corpus 29 -> 30, no answer lost and no unanswerable question answered.
CONFIDENT_SHARE_OF_BEST = 2 / 3
# BM25 idf of a term held by about one chunk in eight: rarer terms say what a question asks about. In a KB of
# ten chunks or fewer no term reaches it (one chunk of ten: idf 1.99), so there a term one chunk holds is specific.
SPECIFIC_IDF = 2.0


def _written_apart(name: str, hits: Sequence[Hit]) -> bool:
    """Whether a passage writes a Chinese name with a character or two inside it: jieba tags common words as
    places (石桥, "stone bridge"), and the passage's 三孔石拱桥 is the one asked about."""
    return any(written_apart(name, h.chunk.text) for h in hits)


def _squash(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


class AnswerabilityCheck:
    """Args:
        threshold: minimum `Hit.relevance` of a passage worth answering from.
        tokenizer: the KB's keyword tokenizer (normalisation, codes, names).
        document_mentions: (source, text) -> whether that document mentions `text` anywhere.
        known_term: term -> whether any chunk of the KB holds it.
        idf: terms -> each one's inverse document frequency over the KB's chunks (BM25's).
        idf_of_one_chunk: the idf of a term one chunk holds (the most specific a term can be); None: not known.
        synonyms: terms -> for each one no chunk holds, the words chunks hold for it (the retriever's
            `synonyms_held`: 周末 -> 休息日); None: none.
    """

    def __init__(self, threshold: float, tokenizer: KeywordTokenizer,
                 document_mentions: Callable[[str, str], bool], known_term: Callable[[str], bool], floor: float | None = None,
                 idf: Callable[[list[str]], dict[str, float]] | None = None,
                 idf_of_one_chunk: Callable[[], float] | None = None,
                 synonyms: Callable[[Sequence[str]], dict[str, tuple[str, ...]]] | None = None):
        self.threshold = threshold
        # Between floor and threshold a question is uncertain: asked in words the documents do not use
        # (paraphrase), or not answerable at all. The model may answer, and its answer is kept only when
        # the passages support it (rag/answer/). Below the floor: refused without the model.
        self.floor = threshold if floor is None else min(floor, threshold)
        self._tokenizer = tokenizer
        self._document_mentions = document_mentions
        self._known_term = known_term
        self._idf = idf
        self._idf_of_one_chunk = idf_of_one_chunk
        self._synonyms = synonyms

    @property
    def filler_terms(self) -> frozenset[str]:
        """Question and politeness words, which say nothing about what the answer must contain."""
        return self._tokenizer.filler_terms

    def specific_terms(self, terms: Sequence[str]) -> set[str]:
        """Those of `terms` that few chunks hold (idf at least SPECIFIC_IDF, or held by one chunk alone in a
        small KB): what a question asks about, not the subject the whole KB shares (电动自行车 in a regulation
        about them). None specific without idf."""
        if self._idf is None or not terms:
            return set()
        cut = SPECIFIC_IDF if self._idf_of_one_chunk is None else min(SPECIFIC_IDF, self._idf_of_one_chunk())
        return {t for t, weight in self._idf(list(terms)).items() if weight >= cut}

    def words_held_for(self, terms: Sequence[str]) -> set[str]:
        """The words chunks hold for those of `terms` no chunk holds (their synonyms, the attribute an ask word
        asks for), as the retriever searched for them; whole words only, not a character held inside others."""
        if self._synonyms is None:
            return set()
        return {w for held in self._synonyms(terms).values() for w in held if not w.startswith(GRAM_MARK)}

    def held_terms(self, terms: Sequence[str]) -> set[str]:
        """Those of `terms` some chunk of the KB holds: a term no chunk holds is rare too, but no sentence can
        share it."""
        return {t for t in terms if self._known_term(t)}

    def character_pairs(self, text: str) -> set[str]:
        """The Chinese character pairs of `text`, the question's filler left out, as plain strings: what a
        Chinese question shares with a sentence where the word segmenter cut differently (那张许可能用 is cut
        张许 / 可能, 动火作业许可证 holds 许可). Empty for text without Chinese, or a KB without pairs."""
        return {g[len(GRAM_MARK):] for g in self._tokenizer.grams(text, self.filler_terms) if self._tokenizer.is_pair(g)}

    def specific_pairs(self, pairs: set[str]) -> set[str]:
        """Those of `pairs` that few chunks hold (`specific_terms`, over the keyword index's pair terms)."""
        return {p[len(GRAM_MARK):] for p in self.specific_terms([GRAM_MARK + p for p in pairs])}

    def codes(self, text: str) -> list[str]:
        return self._tokenizer.codes(text)

    def names(self, text: str) -> list[str]:
        return self._tokenizer.names(text)

    def _holds(self, hit: Hit, code: str) -> bool:
        """Whether the passage is about `code`: it names it, or its document does and the passage names no
        sibling (a QF-200 passage is not about the QF-350, even in a spec sheet listing both)."""
        passage_codes = self._tokenizer.codes(hit.chunk.text)
        if any(_squash(c) == _squash(code) for c in passage_codes):
            return True
        if any(code_family(c) == code_family(code) for c in passage_codes):
            return False
        return self._document_mentions(hit.chunk.source, code)

    def decide(self, question: str, hits: Sequence[Hit]) -> Decision:
        started = time.perf_counter()
        top = max((h.relevance for h in hits), default=0.0)
        confident = top >= self.threshold
        # Uncertain: only passages that match at least a third as well as the best go to the model; weaker
        # ones (sharing a pair of characters, a common word) distract a small model from the one that answers.
        # Measured with --answers on the shipped sets (answerable refused of 81 / unanswerable refused of 17):
        # no cut 3 / 16 (before numerals became digits), a half 2 / 17, a third 1 / 17 with the best accuracy.
        least = min(self.threshold, max(self.floor, CONFIDENT_SHARE_OF_BEST * top)) if confident \
            else max(self.floor, UNCERTAIN_SHARE_OF_BEST * top)
        relevant = tuple(h for h in hits if h.relevance >= least)
        if not relevant:
            return Decision((), "no relevant passage", False, (), time.perf_counter() - started, {"top_relevance": top})
        # Per code of the question, the passages about it; each is asked once (it may look the document up).
        about = {code: [self._holds(h, code) for h in relevant] for code in self._tokenizer.codes(question)}
        # A confident question's codes must be held by a passage over the threshold: one let in under it answers
        # with them but does not vouch for them ("QF-350 的最高介质温度是多少？" matches the QF-200's temperature
        # line; the QF-350's own section, under the threshold, gives no temperature).
        vouching = [not confident or h.relevance >= self.threshold for h in relevant]
        missing = [code for code, holding in about.items() if not any(held and v for held, v in zip(holding, vouching))]
        for name in self._tokenizer.names(question):
            terms = self._tokenizer.tokenize(name)
            if terms and not any(self._known_term(t) for t in terms) and not _written_apart(name, hits):
                missing.append(name)
        if about and not missing:
            # A passage about a sibling only (the QF-200's spec lines, to a question about the QF-350) answers
            # nothing asked: a small model reads the sibling's figure off it.
            relevant = tuple(h for i, h in enumerate(relevant) if any(holding[i] for holding in about.values()))
        seconds = time.perf_counter() - started
        if missing:
            return Decision((), f"names {', '.join(missing)} found nowhere in the passages' documents", False,
                            tuple(missing), seconds, {"top_relevance": top})
        return Decision(relevant, "answerable" if confident else "uncertain", confident, (), seconds, {"top_relevance": top})
