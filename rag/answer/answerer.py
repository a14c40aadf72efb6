"""Answering: retrieve, refuse honestly when nothing relevant is found, else prompt the LLM and cite."""
from __future__ import annotations

import time
from typing import Callable, Iterator, Sequence

from rag.answer.checks import (CITATION, attribute, citing_what_gives_its_figures, is_grounded, is_refusal, is_supported,
                               superscripts_restored)
from rag.answer.result import Answer, AnswerStream, cited_sources_of
from rag.answer.stand_ins import Relatedness, SentenceScores, StandIns
from rag.answerable import AnswerabilityCheck
from rag.llm.base import ChatModel, GenerationOptions
from rag.prompt import PriorTurn, PromptTemplate, refusal_for
from rag.retrieve import Hit, check_question
from rag.sanitize import document_for_prompt


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
        self.top_k = top_k
        self.options = options
        self.max_question_chars = max_question_chars
        self._stand_ins = StandIns(terms, answerability, relatedness, min_relatedness, sentence_scores)

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
            text = self._stand_ins.quote_if_bare(text.strip(), asked, relevant) or refusal_for(question)
            contexts = [document_for_prompt(h.chunk.text) for h in relevant]
            if decision.confident:
                # Streamed as it came, but not shown as the answer when it fails a check: a near-miss ("the
                # maximum DC input current" over "Maximum DC input voltage | 600 V") draws an invented figure.
                text = self._stand_ins.corrected(text, asked, relevant, contexts, confident=True) or refusal_for(question)
            if is_refusal(text):
                return Answer(question, text, (), True, timings, standalone_question=standalone)
            text = superscripts_restored(text, contexts)
            if not is_grounded(text, asked + " " + (query or ""), contexts, self._terms):
                text = CITATION.sub("", text).strip()
                return Answer(question, text, cited_sources_of(set(), relevant), False, timings, grounded=False,
                              standalone_question=standalone)
            cited = {int(n) for n in CITATION.findall(text)} & set(range(1, len(relevant) + 1))
            if not cited:
                cited = attribute(text, [h.chunk.text for h in relevant], self._terms)
                if cited:
                    # Added after the answer was shown, so only those giving its figures need be added.
                    text = citing_what_gives_its_figures(f"{text} " + "".join(f"[{n}]" for n in sorted(cited)), asked,
                                                         contexts, self._terms, self._filler)
                    cited = {int(n) for n in CITATION.findall(text)}
            return Answer(question, text, cited_sources_of(cited, relevant), False, timings, standalone_question=standalone)

        return AnswerStream(pieces, finish)

    def _checked(self, pieces: Iterator[str], question: str, asked: str, relevant: Sequence[Hit]) -> Iterator[str]:
        text = self._stand_ins.quote_if_bare("".join(pieces).strip(), asked, relevant)
        contexts = [document_for_prompt(h.chunk.text) for h in relevant]
        text = self._stand_ins.corrected(text, asked, relevant, contexts, confident=False)
        # The model's own refusal is shown as the product's sentence: "No, you cannot put it in your bedroom. The
        # knowledge base does not contain an answer" says no and refuses at once, and its no rests on nothing.
        if not text or is_refusal(text) or not is_supported(text, asked, contexts, self._terms, self._filler, self._codes) \
                or not self._stand_ins.chinese_words_written(text, asked, contexts):
            text = refusal_for(question)
        # Nothing is shown before this point, so citations of passages that do not give the figures can go.
        yield citing_what_gives_its_figures(text, asked, contexts, self._terms, self._filler)

    def ask(self, question: str, k: int | None = None, history: Sequence[PriorTurn] = (),
            standalone: str | None = None, query: str | None = None) -> Answer:
        return self.ask_stream(question, k, history, standalone, query).collect()
