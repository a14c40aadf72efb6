"""What answering returns: the answer, its numbered sources, and the stream that yields it as it is generated."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

from rag.prompt import display_source
from rag.retrieve import Hit

SNIPPET_CHARS = 240
# How the CLI and a conversation's Markdown head the passages shown with a refusal.
CLOSEST_HEADING = "Closest passages (none of them answers it):"


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
    section: str = ""  # the headings the passage stands under ("Manual > 3. Lights")

    @property
    def label(self) -> str:
        """How the CLI and a conversation's Markdown name it: "handbook.md · Manual > 3. Lights", "manual.pdf:2"."""
        name = display_source(self.source)
        name = f"{name}:{self.page}" if self.page is not None else name
        return f"{name} · {self.section}" if self.section else name


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    # The passages the model read, `cited` marking those the answer rests on; for a refusal after the model read
    # passages, the closest ones, none cited (empty where nothing was relevant enough to read).
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


def cited_sources_of(cited: set[int], hits: Sequence[Hit]) -> tuple[Source, ...]:
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
            section=h.chunk.section,
        )
        for n, h in enumerate(hits, 1)
    )

