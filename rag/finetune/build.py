"""Training data from a knowledge base, RAFT-style (Zhang et al. 2024): the LLM writes a question and
answer grounded in a sampled chunk; pairs the chunk does not support are dropped; each kept pair becomes
the product's own answer prompt (the oracle chunk among distractors retrieved for the question, numbered
as at query time) with an answer that quotes the oracle's words and cites its number. A share of pairs
also becomes a prompt of distractors only, answered with the refusal. Pairs kept out of training form a
golden set in `rag eval`'s format."""
from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from rag.answer import is_supported, quote_for
from rag.errors import ConfigError
from rag.finetune.examples import TrainingExample
from rag.llm.base import ChatMessage, ChatModel, GenerationOptions
from rag.prompt import PromptTemplate, display_source, refusal_for
from rag.retrieve import Hit
from rag.text import cjk_ratio

if TYPE_CHECKING:
    from rag.kb import KnowledgeBase
    from rag.store import ChunkRecord

MIN_CHUNK_CHARS = 120  # headings and stubs hold nothing to ask about
MAX_ANSWER_CHARS = 300
ROUNDS = 4  # times a chunk may be asked when the KB has fewer chunks than questions wanted

_ASK_EN = ("Passage:\n<<<\n{text}\n>>>\n\nWrite one question that a reader of this passage could ask and that the "
           "passage answers, then the answer copied word for word from the passage (a short phrase).\n"
           "Reply in exactly this form:\nQuestion: ...\nAnswer: ...")
_ASK_ZH = ("段落：\n<<<\n{text}\n>>>\n\n请就这段文字提出一个读者可能会问、且这段文字能回答的问题，然后从段落中原文摘录答案（一个短语）。\n"
           "严格按以下格式回答：\n问题：...\n答案：...")
_QUESTION = re.compile(r"(?:Question|问题)\s*[:：]\s*(.+)", re.IGNORECASE)
_ANSWER = re.compile(r"(?:Answer|答案)\s*[:：]\s*(.+)", re.IGNORECASE)


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str  # the LLM's short answer
    quote: str  # the oracle's own words that support it
    chunk: "ChunkRecord"


@dataclass
class BuildReport:
    chunks_sampled: int = 0
    pairs_generated: int = 0
    dropped_unparsed: int = 0
    dropped_unsupported: int = 0
    train_examples: int = 0
    refusal_examples: int = 0
    heldout_questions: int = 0
    examples: list[TrainingExample] = field(default_factory=list)
    golden: list[dict] = field(default_factory=list)


def _squash(text: str) -> str:
    return re.sub(r"[\s\"'“”‘’「」《》。，,.;；:：!?！？()（）]+", "", text).lower()


def parse_pair(reply: str) -> tuple[str, str] | None:
    question, answer = _QUESTION.search(reply), _ANSWER.search(reply)
    if not question or not answer:
        return None
    q, a = question.group(1).strip(), answer.group(1).strip().strip("\"“”'")
    if len(q) < 5 or not a or len(a) > MAX_ANSWER_CHARS:
        return None
    return q, a


def supporting_quote(question: str, answer: str, passage: str, terms: Callable[[str], list[str]]) -> str | None:
    """The passage's own words behind `answer`: the answer itself where the passage has it verbatim, else
    the passage sentence closest to question and answer together, if the passage supports the answer."""
    squashed = _squash(answer)
    if len(squashed) >= 2 and squashed in _squash(passage):
        # Find the answer as the passage writes it (spacing and punctuation may differ), then quote its
        # sentence: "16" alone loses the unit and what it counts.
        pattern = r"\W*".join(re.escape(ch) for ch in re.sub(r"\W+", "", answer))
        found = re.search(pattern, passage, re.IGNORECASE) if pattern else None
        if found is None:
            return answer
        sentence = sentence_around(passage, found.start(), found.end())
        return sentence if len(sentence) <= MAX_ANSWER_CHARS else found.group(0).strip()
    if not is_supported(answer, question, [passage], terms):
        return None
    return quote_for(f"{question} {answer}", passage, terms)


_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])|\n\s*\n|\n(?=\s*(?:[-*|#]|\d+\.))")


def sentence_around(passage: str, start: int, end: int) -> str:
    """The sentence (or list item, or table row) of `passage` holding the span start:end, on one line."""
    left = max((m.end() for m in _SENTENCE_END.finditer(passage, 0, start)), default=0)
    following = _SENTENCE_END.search(passage, end)
    right = following.start() if following else len(passage)
    return " ".join(passage[left:right].split())


_FIGURE = re.compile(r"\d[\d,.]*\s*(?:[%°℃]|[A-Za-z]+(?:[./][A-Za-z]+)?(?:\s+hours?|\s+months?)?|[\u4e00-\u9fff]{1,2})?")


def golden_answers(pair: QAPair) -> list[str]:
    """Strings a correct answer contains (any one counts): the model's answer where the chunk has it
    word for word and it is short; else its figures the chunk also gives ("8 hours"); else the quote."""
    passage = _squash(pair.chunk.text)
    if _squash(pair.answer) in passage and len(pair.answer) <= 60:
        return [pair.answer]
    figures = [f.strip() for f in _FIGURE.findall(pair.answer) if _squash(f) and _squash(f) in passage]
    return figures or [pair.quote]


def cited_answer(answer: str, quote: str, number: int, question: str) -> str:
    """The target reply: the short answer with the oracle's number, then the oracle's own words quoted.
    The short answer comes first because that is what a small model already does well; what it learns
    is to cite and to show where the answer stands (a model taught to quote whole sentences first
    learned to quote the passage's first sentence)."""
    chinese = cjk_ratio(question) > 0.3
    if _squash(answer) == _squash(quote):
        return f"“{quote}”[{number}]" if chinese else f"\"{quote}\" [{number}]"
    return f"{answer}[{number}]——原文：“{quote}”" if chinese else f"{answer} [{number}]. The document says: \"{quote}\""


class DatasetBuilder:
    def __init__(self, kb: "KnowledgeBase", chat_model: ChatModel, distractors: int = 3, refusal_share: float = 0.2,
                 heldout_share: float = 0.2, seed: int = 0, template: PromptTemplate | None = None):
        if distractors < 1:
            raise ConfigError("distractors must be at least 1: RAFT trains on the oracle among distractors")
        for name, share in (("refusal_share", refusal_share), ("heldout_share", heldout_share)):
            if not 0 <= share < 1:
                raise ConfigError(f"{name} must be in [0, 1). Currently, it is {share}")
        self.kb = kb
        self.chat_model = chat_model
        self.distractors = distractors
        self.refusal_share = refusal_share
        self.heldout_share = heldout_share
        self.rng = random.Random(seed)
        self.template = template or PromptTemplate.load(kb.settings.prompt_template)
        self.terms = kb.tokenizer.tokenize

    def sample_chunks(self, count: int) -> list["ChunkRecord"]:
        chunks = [c for c in self.kb.iter_chunks() if len(c.text.strip()) >= MIN_CHUNK_CHARS]
        if not chunks:
            raise ConfigError(f"the KB {self.kb.settings.kb_dir} has no chunk of {MIN_CHUNK_CHARS}+ characters to ask about")
        self.rng.shuffle(chunks)
        return chunks[:count]

    def ask_pair(self, chunk: "ChunkRecord", attempt: int = 0) -> tuple[str, str] | None:
        """A question and answer about `chunk`: greedy the first time, sampled on later attempts (a small
        corpus is asked more than once, and each attempt should find another question)."""
        ask = _ASK_ZH if cjk_ratio(chunk.text) > 0.3 else _ASK_EN
        options = GenerationOptions(max_new_tokens=160) if attempt == 0 else GenerationOptions(
            max_new_tokens=160, temperature=0.9, top_p=0.95, seed=attempt * 7919 + self.rng.randint(0, 9999))
        reply = self.chat_model.generate([ChatMessage("user", ask.replace("{text}", chunk.text))], options)
        return parse_pair(reply)

    def pairs(self, questions: int, progress: Callable[[int, int], None] | None = None,
              report: BuildReport | None = None) -> list[QAPair]:
        """Up to `questions` supported pairs, from at most three times as many chunks (asked up to ROUNDS times
        each when the KB is smaller)."""
        report = report or BuildReport()
        kept: list[QAPair] = []
        seen: set[str] = set()
        chunks = self.sample_chunks(questions * 3)
        rounds = max(1, min(ROUNDS, math.ceil(questions * 1.5 / len(chunks))))
        for attempt, chunk in ((a, c) for a in range(rounds) for c in chunks):
            if len(kept) >= questions:
                break
            report.chunks_sampled += 1
            parsed = self.ask_pair(chunk, attempt)
            if progress is not None:
                progress(len(kept), questions)
            if parsed is None:
                report.dropped_unparsed += 1
                continue
            report.pairs_generated += 1
            question, answer = parsed
            quote = supporting_quote(question, answer, chunk.text, self.terms) if self.about(question, chunk) else None
            if quote is None or _squash(question) in seen:
                report.dropped_unsupported += 1
                continue
            seen.add(_squash(question))
            kept.append(QAPair(question, answer, quote, chunk))
        return kept

    def about(self, question: str, chunk: "ChunkRecord") -> bool:
        """Whether the question names at least two of the chunk's content words: "Which of the following
        statements is false?" means nothing without the passage beside it, so it teaches nothing."""
        filler = self.kb.tokenizer.filler_terms
        asked = {t for t in self.terms(question) if t not in filler and (len(t) > 1 or not t.isascii())}
        return len(asked & set(self.terms(chunk.text))) >= 2

    def _context(self, pair: QAPair, with_oracle: bool) -> tuple[list[Hit], int | None]:
        """Distractors retrieved for the question (never a chunk holding the quote), with the oracle
        placed at a random position; returns the hits and the oracle's number."""
        found = self.kb.search(pair.question, k=self.distractors + 4)
        quote = _squash(pair.quote)
        distractors = [h for h in found if h.chunk.chunk_id != pair.chunk.chunk_id and quote not in _squash(h.chunk.text)]
        distractors = distractors[: self.distractors]
        if not with_oracle:
            return distractors, None
        oracle = next((h for h in found if h.chunk.chunk_id == pair.chunk.chunk_id), None)
        oracle = oracle or Hit(chunk=pair.chunk, score=0.0, relevance=0.0, cosine=0.0, term_coverage=0.0, rank=0)
        position = self.rng.randint(0, len(distractors))
        return distractors[:position] + [oracle] + distractors[position:], position + 1

    def example(self, pair: QAPair, refusal: bool) -> TrainingExample:
        hits, number = self._context(pair, with_oracle=not refusal)
        messages = self.template.render(pair.question, hits)
        reply = refusal_for(pair.question) if refusal else cited_answer(pair.answer, pair.quote, number, pair.question)
        meta = {"kind": "refusal" if refusal else "answer", "source": display_source(pair.chunk.source), "quote": pair.quote}
        return TrainingExample((*messages, ChatMessage("assistant", reply)), meta)

    def build(self, questions: int, progress: Callable[[int, int], None] | None = None) -> BuildReport:
        from rag.finetune.examples import split_heldout

        report = BuildReport()
        pairs = self.pairs(questions, progress, report)
        if not pairs:
            raise ConfigError(f"the LLM wrote no question that its chunk supports ({report.chunks_sampled} chunks tried); "
                              "use a larger model (llm_model, or the openai backend)")
        train, heldout = split_heldout(pairs, self.heldout_share, seed=self.rng.randint(0, 2**31))
        for pair in train:
            report.examples.append(self.example(pair, refusal=False))
            if self.rng.random() < self.refusal_share:
                report.examples.append(self.example(pair, refusal=True))
                report.refusal_examples += 1
        self.rng.shuffle(report.examples)
        report.train_examples = len(report.examples)
        for pair in heldout:
            answers = golden_answers(pair)
            report.golden.append({"question": pair.question, "answers": answers,
                                  "sources": [display_source(pair.chunk.source)], "kind": "generated"})
        report.heldout_questions = len(report.golden)
        return report


def write_golden(path: str | Path, records: Sequence[dict]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
