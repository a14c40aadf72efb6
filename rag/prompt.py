"""The prompt template: numbered, delimited context blocks and the question, in the question's language."""
from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

from rag.errors import ConfigError
from rag.llm.base import ChatMessage
from rag.retrieve import Hit
from rag.sanitize import document_for_prompt, neutralise_markup
from rag.text import cjk_ratio

REFUSAL_EN = "The knowledge base does not contain an answer to this question."
REFUSAL_ZH = "知识库中没有找到这个问题的答案。"


_CITATION_MARK = re.compile(r"\[\d{1,3}\]")


@dataclass(frozen=True)
class PriorTurn:
    """An earlier question and answer of a conversation, as the prompt carries it."""

    question: str
    answer: str


def is_chinese(question: str) -> bool:
    return cjk_ratio(question) > 0.3


def refusal_for(question: str) -> str:
    return REFUSAL_ZH if is_chinese(question) else REFUSAL_EN


def display_source(source: str) -> str:
    """The file name a person recognises (the full path is kept in the KB)."""
    return Path(source).name


@dataclass(frozen=True)
class PromptTemplate:
    system: str
    user: str
    # For Chinese questions, when the template gives them (`system_zh`, `user_zh`): the built-in 0.5B model
    # reads Chinese instructions better (Chinese sets: 30 of 35 answers right against 28, 9 of 24 against 8).
    system_zh: str | None = None
    user_zh: str | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> "PromptTemplate":
        """The template at `path` (a TOML file with `system` and `user`), or the built-in one.

        Raises:
            ConfigError: the file is missing, not TOML, or lacks a key or placeholder.
        """
        try:
            if path is None:
                text = resources.files("rag.prompts").joinpath("default.toml").read_text(encoding="utf-8")
            else:
                text = Path(path).read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"prompt template {path}: {exc}") from exc
        for key in ("system", "user"):
            if not isinstance(data.get(key), str):
                raise ConfigError(f"prompt template {path or 'default'}: missing string key {key!r}")
        for key in ("system_zh", "user_zh"):
            if key in data and not isinstance(data[key], str):
                raise ConfigError(f"prompt template {path or 'default'}: {key!r} must be a string")
        if ("system_zh" in data) != ("user_zh" in data):
            raise ConfigError(f"prompt template {path or 'default'}: give both `system_zh` and `user_zh`, or neither")
        for key in ("user", "user_zh"):
            for placeholder in ("{context}", "{question}"):
                if key in data and placeholder not in data[key]:
                    raise ConfigError(f"prompt template {path or 'default'}: `{key}` lacks the placeholder {placeholder}")
        return cls(system=data["system"], user=data["user"], system_zh=data.get("system_zh"), user_zh=data.get("user_zh"))

    def render(self, question: str, hits: Sequence[Hit], history: Sequence[PriorTurn] = ()) -> list[ChatMessage]:
        """Messages for the model: the system message first (the same for every question, so a backend
        can reuse its evaluated state), earlier turns, then the numbered documents and the question."""
        blocks = []
        for number, hit in enumerate(hits, 1):
            # Not the chunk's section: "(manual.html, Router > 5. Firmware updates)" in the header was measured, and
            # the 0.5B model read the firmware passage right, but refused 4 more answerable questions over the four
            # corpora (2 fewer right, 2 fewer wrong); the innermost heading alone, 2 more refused and 2 fewer right.
            # A heading that does not echo the question reads to it as "not about this". The section still finds
            # the chunk (it is embedded under it) and is shown in the sources.
            page = f", page {hit.chunk.page}" if hit.chunk.page is not None else ""
            # A document cannot close its block, forge a chat turn, or give the model orders.
            # Blank lines inside a document (paragraphs of a PDF or Markdown page) read to a small model as
            # the end of its block: it copies the block instead of answering from it.
            body = re.sub(r"\n\s*\n", "\n", document_for_prompt(hit.chunk.text))
            blocks.append(f"<document>\n[{number}] ({display_source(hit.chunk.source)}{page})\n{body}\n</document>")
        values = {
            # Best first. The best last, nearest the question, was measured: 3 more right answers and 4 fewer wrong
            # on the third and fourth corpora, but 6 fewer right, 5 more wrong and 2 unanswerable answered on the
            # second corpus and the shipped sets: the 0.5B model's reading shifts with the order, not for the better.
            "context": "\n\n".join(blocks),
            "question": neutralise_markup(question.strip()),
            "language": "Chinese (简体中文)" if is_chinese(question) else "English",
            "refusal": refusal_for(question),
        }
        chinese = is_chinese(question) and self.system_zh is not None and self.user_zh is not None
        system, user = (self.system_zh, self.user_zh) if chinese else (self.system, self.user)
        messages = [ChatMessage("system", _fill(system, values))]
        for turn in history:
            messages.append(ChatMessage("user", neutralise_markup(turn.question)))
            messages.append(ChatMessage("assistant", neutralise_markup(_CITATION_MARK.sub("", turn.answer).strip())))
        messages.append(ChatMessage("user", _fill(user, values)))
        return messages

    def fit(self, question: str, hits: Sequence[Hit], history: Sequence[PriorTurn], count_tokens: Callable[[str], int],
            budget: int) -> tuple[list[ChatMessage], list[Hit], list[PriorTurn]]:
        """The largest prompt within `budget` tokens (the model's window less the reply): whole documents
        in score order, older turns dropped first, then the lowest-ranked documents. The first document
        always stays; if even it does not fit, its text is cut to what fits.

        Returns:
            The messages, and the hits and turns they hold.
        """
        hits, history = list(hits), list(history)

        def size(h: list[Hit], t: list[PriorTurn]) -> int:
            # Each message costs a few template tokens beyond its text.
            return sum(count_tokens(m.content) + 8 for m in self.render(question, h, t))

        while history and size(hits, history) > budget:
            history.pop(0)
        while len(hits) > 1 and size(hits, history) > budget:
            hits.pop()
        if hits and size(hits, history) > budget:
            first = hits[0]
            text = first.chunk.text
            while len(text) > 50 and size([with_text(first, text)], history) > budget:
                text = text[: int(len(text) * 0.8)]
            hits = [with_text(first, text)]
        return self.render(question, hits, history), hits, history


def with_text(hit: Hit, text: str) -> Hit:
    return dataclasses.replace(hit, chunk=dataclasses.replace(hit.chunk, text=text))


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():  # str.format would choke on braces inside documents
        template = template.replace("{" + key + "}", value)
    return template
