"""The prompt template: numbered, delimited context blocks and the question, in the question's language."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Sequence

from rag.errors import ConfigError
from rag.llm.base import ChatMessage
from rag.retrieve import Hit
from rag.sanitize import document_for_prompt, neutralise_markup
from rag.text import cjk_ratio

REFUSAL_EN = "The knowledge base does not contain an answer to this question."
REFUSAL_ZH = "知识库中没有找到这个问题的答案。"


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
        for placeholder in ("{context}", "{question}"):
            if placeholder not in data["user"]:
                raise ConfigError(f"prompt template {path or 'default'}: `user` lacks the placeholder {placeholder}")
        return cls(system=data["system"], user=data["user"])

    def render(self, question: str, hits: Sequence[Hit]) -> list[ChatMessage]:
        blocks = []
        for number, hit in enumerate(hits, 1):
            page = f", page {hit.chunk.page}" if hit.chunk.page is not None else ""
            # A document cannot close its block, forge a chat turn, or give the model orders.
            body = document_for_prompt(hit.chunk.text)
            blocks.append(f"<document>\n[{number}] ({display_source(hit.chunk.source)}{page})\n{body}\n</document>")
        values = {
            "context": "\n\n".join(blocks),
            "question": neutralise_markup(question.strip()),
            "language": "Chinese (简体中文)" if is_chinese(question) else "English",
            "refusal": refusal_for(question),
        }
        return [ChatMessage("system", _fill(self.system, values)), ChatMessage("user", _fill(self.user, values))]


def _fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():  # str.format would choke on braces inside documents
        template = template.replace("{" + key + "}", value)
    return template
