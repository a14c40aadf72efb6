"""Answering: retrieve, refuse honestly when nothing relevant is found, else prompt the LLM and cite."""
from __future__ import annotations

import re
import time
from typing import Callable, Iterator, Sequence

from rag.answer.checks import (CITATION, HEADING, attribute, citing_what_gives_its_figures, gives_what_is_asked, is_grounded,
                               is_refusal, is_supported, numbered_sentences, superscripts_restored)
from rag.answer.result import Answer, AnswerStream, cited_sources_of
from rag.answer.stand_ins import Relatedness, SentenceScores, StandIns
from rag.answerable import AnswerabilityCheck
from rag.llm.base import ChatModel, GenerationOptions
from rag.prompt import PriorTurn, PromptTemplate, display_source, refusal_for, with_text
from rag.retrieve import Hit, check_question
from rag.sanitize import document_for_prompt


# A title: a few words, no figure, no table cell, no sentence's end ("Service hotline and response times").
_TITLE = re.compile(r"#*\s*(?:[^\W\d_][\w'’&/,()-]*\s*[–—]?\s*){1,8}")
# Lines that answer no question: a page's copyright footer.
_BOILERPLATE = re.compile(r"©|\(c\)\s*\d{4}|\bcopyright\b|\ball rights reserved\b|版权所有", re.IGNORECASE)


# A question about the document itself, which its footer may answer ("Which edition of the manual is this?").
_ASKS_ABOUT_THE_DOCUMENT = re.compile(r"\b(?:edition|version|copyright|published|publisher|revision)\b|版本|版权|出版|发布",
                                      re.IGNORECASE)


def copies_a_footer(reply: str, asked: str, contexts: Sequence[str]) -> bool:
    """Whether the reply is copied from a passage's copyright line alone, which says what the document is, not what it
    says ("BM-300 manual, edition 03/2025" to "How many cups of espresso can the BM-300 make in an hour?"), unless
    the question asks about the document itself."""
    said = CITATION.sub("", reply).strip(" .。")
    if not said or _ASKS_ABOUT_THE_DOCUMENT.search(asked):
        return False
    lines = [line for context in contexts for line in context.split("\n") if said in line]
    return bool(lines) and all(_BOILERPLATE.search(line) for line in lines)


def names_a_document(reply: str, relevant: Sequence[Hit]) -> bool:
    """Whether the reply is only the name of a passage's document, as the prompt block's header shows it
    ("储能电池柜ES-10说明书" to a question the passages do not answer)."""
    said = CITATION.sub("", reply).strip(" .。")
    return any(said == display_source(h.chunk.source).rsplit(".", 1)[0] for h in relevant)


def sentences_to_focus_on(relevant: Sequence[Hit]) -> list[tuple[int, str]]:
    """(passage number, sentence) of the passages' sentences that could answer a question: each once (chunks
    overlap); no heading or title, which a model copies as its answer ("Part 5 – Camping"), and no copyright line
    ("© 2026 Qingshan Fluid Systems Co., Ltd." to "Who is the chief executive of Qingshan Fluid Systems?")."""
    sentences, seen = [], set()
    for number, sentence in numbered_sentences(relevant):
        if sentence not in seen and not HEADING.match(sentence) and not _TITLE.fullmatch(sentence) \
                and not _BOILERPLATE.search(sentence):
            seen.add(sentence)
            sentences.append((number, sentence))
    return sentences


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
        focused_sentences: int = 0,
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
        self._sentence_scores = sentence_scores
        self._relatedness = relatedness
        self._min_relatedness = min_relatedness
        self.focused_sentences = focused_sentences

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
        messages, relevant, kept_turns = self.template.fit(asked, relevant, history, model.count_tokens, budget)
        generate_started = time.perf_counter()
        pieces = model.stream(messages, self.options)

        def ask_again(hits: list[Hit]) -> Iterator[str]:
            # Within the window too: each sentence's block header costs tokens (the closest sentences stay).
            again, _, _ = self.template.fit(asked, hits, kept_turns, model.count_tokens, budget)
            return model.stream(again, self.options)

        if not decision.confident:
            # Uncertain: nothing is shown before the answer has proved that the passages support it.
            pieces = self._checked(pieces, question, asked, relevant, ask_again)

        def finish(text: str, first_token_s: float | None) -> Answer:
            timings = {
                "retrieve_s": retrieve_s,
                "generate_s": time.perf_counter() - generate_started,
                "first_token_s": first_token_s or 0.0,
            }
            reply = text.strip()
            text = self._stand_ins.quote_if_bare(reply, asked, relevant) or refusal_for(question)
            contexts = [document_for_prompt(h.chunk.text) for h in relevant]
            if decision.confident:
                # Streamed as it came, but not shown as the answer when it fails a check: a near-miss ("the
                # maximum DC input current" over "Maximum DC input voltage | 600 V") draws an invented figure.
                text = self._stand_ins.corrected(text, asked, relevant, contexts, confident=True) or refusal_for(question)
                if copies_a_footer(text, asked, contexts):
                    text = refusal_for(question)
                if is_refusal(text) and reply and not is_refusal(reply):
                    # An answer the checks refused is asked for again over the closest sentences, as in the uncertain
                    # band: the model misread a passage that answers ("How hot should the milk get when I froth
                    # it?" -> the frothing time, then "60–65 °C"). The model's own refusal stands: where the
                    # passages match the question's words, a refusal is a near-miss's ("What torque do the impeller
                    # bolts need?" over the casing bolts').
                    text = self._shown(self._asked_again(asked, relevant, contexts, ask_again), question, asked, contexts)
            if is_refusal(text):
                # The passages the model read come with the refusal, none cited: where the answer is there in other
                # words than the question's, the reader finds it (a 0.5B model refuses many such questions).
                return Answer(question, text, cited_sources_of(set(), relevant), True, timings,
                              standalone_question=standalone)
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

    def _checked(self, pieces: Iterator[str], question: str, asked: str, relevant: Sequence[Hit],
                 ask_again: Callable[[list[Hit]], Iterator[str]]) -> Iterator[str]:
        contexts = [document_for_prompt(h.chunk.text) for h in relevant]
        text = self._supported("".join(pieces), asked, relevant, contexts) or self._asked_again(asked, relevant, contexts,
                                                                                                  ask_again)
        yield self._shown(text, question, asked, contexts)

    def _shown(self, text: str, question: str, asked: str, contexts: Sequence[str]) -> str:
        """A checked answer as shown, or the refusal where there is none. Nothing was shown before it, so citations
        of passages that do not give its figures can go."""
        return citing_what_gives_its_figures(text or refusal_for(question), asked, contexts, self._terms, self._filler)

    def _asked_again(self, asked: str, relevant: Sequence[Hit], contexts: Sequence[str],
                     ask_again: Callable[[list[Hit]], Iterator[str]]) -> str:
        """The model's answer over the sentences closest to the question (`_focused`), where the passages support
        it and it gives what is asked; "" otherwise, or where no sentences are picked."""
        focused = self._focused(asked, relevant)
        if not focused:
            return ""
        hits, numbers = focused
        said = "".join(ask_again(hits)).strip()
        # A bare "[2]" points at the second sentence itself, and is cited as its passage. Other citations go: a 0.5B
        # model cites the first sentence for a figure another gives ("[1] 256 GB"), and the passages that give the
        # answer are cited for it afterwards (`attribute`).
        reply = self._stand_ins.quote_if_bare(said, asked, hits)
        if reply == said:
            reply = CITATION.sub("", reply).strip()
        reply = CITATION.sub(lambda m: f"[{numbers[int(m.group(1)) - 1]}]" if 0 < int(m.group(1)) <= len(numbers) else "",
                             reply)
        if names_a_document(reply, relevant):  # copied from a block's header
            return ""
        text = self._supported(reply, asked, relevant, contexts)
        # Six sentences pull a reply out of a 0.5B model whether or not one answers: what it gives must be what is
        # asked ("How many parking spaces does the Changzhou plant have?" drew the sentence naming the plant, no figure).
        return text if text and gives_what_is_asked(CITATION.sub(" ", text), asked) else ""

    def _supported(self, reply: str, asked: str, relevant: Sequence[Hit], contexts: Sequence[str]) -> str:
        """What to show for a reply in the uncertain band, once the stand-ins have done their work; "" where the
        reply is a refusal or the passages do not support it."""
        text = self._stand_ins.quote_if_bare(reply.strip(), asked, relevant)
        text = self._stand_ins.corrected(text, asked, relevant, contexts, confident=False)
        # The model's own refusal is shown as the product's sentence: "No, you cannot put it in your bedroom. The
        # knowledge base does not contain an answer" says no and refuses at once, and its no rests on nothing.
        if not text or is_refusal(text) or not is_supported(text, asked, contexts, self._terms, self._filler, self._codes) \
                or not self._stand_ins.chinese_words_written(text, asked, contexts) or copies_a_footer(text, asked, contexts):
            return ""
        return text

    def _focused(self, asked: str, relevant: Sequence[Hit]) -> tuple[list[Hit], list[int]] | None:
        """The `focused_sentences` passage sentences closest to the question (answer_sentence_model), closest
        first, each a document of its own, and each one's passage number among `relevant`; None where no model
        scores sentences for this question. In five passages of a few hundred tokens a 0.5B model loses the sentence
        that answers a question asked in other words ("How big a memory card will the camera take?" -> "up to 20 m");
        among six sentences, the closest first, it finds it ("256 GB"). In the passages' order it read the first
        passage's sentence ("What time do the parks close at night?" -> quiet hours' "10:00 p.m.", not 11:00 p.m.)."""
        sentences = sentences_to_focus_on(relevant)
        if self.focused_sentences <= 0 or self._sentence_scores is None or not sentences:
            return None
        # Asked again only where the KB's embedding model reads the question, and a sentence is related to it: the
        # answer asked again must pass the check of relatedness (StandIns._related). Over Chinese questions, with the
        # English-only built-in embedder, asking again answered 1 more question right, 2 more wrong and 3
        # unanswerable ones ("青溪桥最早是谁设计建造的？" -> "…同济大学历史建筑保护团队设计的").
        related = self._relatedness(asked, [sentence for _, sentence in sentences]) if self._relatedness else None
        if related is None or related < self._min_relatedness:
            return None
        scores = self._sentence_scores(asked, [sentence for _, sentence in sentences])
        if scores is None:
            return None
        closest = sorted(range(len(sentences)), key=lambda i: -scores[i])[:self.focused_sentences]
        numbers = [sentences[i][0] for i in closest]
        return [with_text(relevant[sentences[i][0] - 1], sentences[i][1]) for i in closest], numbers

    def ask(self, question: str, k: int | None = None, history: Sequence[PriorTurn] = (),
            standalone: str | None = None, query: str | None = None) -> Answer:
        return self.ask_stream(question, k, history, standalone, query).collect()
