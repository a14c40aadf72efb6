"""Answering: retrieve, refuse honestly when nothing relevant is found, else prompt the LLM and cite."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from rag.llm.base import ChatModel, GenerationOptions
from rag.prompt import REFUSAL_EN, REFUSAL_ZH, PriorTurn, PromptTemplate, display_source, refusal_for
from rag.retrieve import Hit, check_question
from rag.sanitize import document_for_prompt

_CITATION = re.compile(r"\[(\d{1,3})\]")
SNIPPET_CHARS = 240


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


def _is_refusal(text: str) -> bool:
    stripped = text.strip().rstrip(".。")
    return any(r.rstrip(".。") in stripped for r in (REFUSAL_EN, REFUSAL_ZH)) and len(stripped) < 2 * len(REFUSAL_EN)


class Answerer:
    """Retrieve, refuse when nothing is relevant, else prompt the LLM within its window and cite."""

    def __init__(
        self,
        search: Callable[[str, int], list[Hit]],
        chat_model: Callable[[], ChatModel],
        template: PromptTemplate,
        terms: Callable[[str], list[str]],
        threshold: float,
        top_k: int,
        options: GenerationOptions,
        max_question_chars: int = 2000,
    ):
        self._search = search
        self._chat_model = chat_model  # a factory, so a refusal never pays for loading the LLM
        self.template = template
        self._terms = terms
        self.threshold = threshold
        self.top_k = top_k
        self.options = options
        self.max_question_chars = max_question_chars

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
        relevant = [] if standalone is None and query else [h for h in self._search(asked, k) if h.relevance >= self.threshold]
        if query and not relevant:
            # A follow-up with no usable rewrite, or whose rewrite finds nothing: the joined query decides.
            relevant = [h for h in self._search(query, k) if h.relevance >= self.threshold]
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

        def finish(text: str, first_token_s: float | None) -> Answer:
            timings = {
                "retrieve_s": retrieve_s,
                "generate_s": time.perf_counter() - generate_started,
                "first_token_s": first_token_s or 0.0,
            }
            text = text.strip()
            if _is_refusal(text):
                return Answer(question, text, (), True, timings, standalone_question=standalone)
            if not is_grounded(text, asked + " " + (query or ""), [document_for_prompt(h.chunk.text) for h in relevant], self._terms):
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

    def ask(self, question: str, k: int | None = None, history: Sequence[PriorTurn] = (),
            standalone: str | None = None, query: str | None = None) -> Answer:
        return self.ask_stream(question, k, history, standalone, query).collect()


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
