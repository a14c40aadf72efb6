"""Shared fixtures: the real packaged embedding model (loaded once), test doubles, sample corpora."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pytest

from rag.llm.base import ChatMessage, ChatModel, GenerationOptions

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DOCS = REPO / "sample_docs"


class EchoChatModel(ChatModel):
    """Test double for an LLM: replies with a fixed text, a function of the messages, or the first context
    line, in small pieces, and records the messages it was given."""

    name = "echo-test-double"

    def __init__(self, reply: str | Callable[[Sequence[ChatMessage]], str] | None = None):
        self.reply = reply
        self.calls: list[Sequence[ChatMessage]] = []

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Iterator[str]:
        self.calls.append(messages)
        if callable(self.reply):
            text = self.reply(messages)
        else:
            text = self.reply if self.reply is not None else messages[-1].content.split("\n")[2]
        for start in range(0, len(text), 7):
            yield text[start : start + 7]


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # A developer's RAG_* variables must not leak into tests.
    import os

    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def minilm():
    """The real built-in embedder (all-MiniLM-L6-v2 from its PyPI package), loaded once per session."""
    from ingest.embed import create_embedder

    return create_embedder("sentence-transformers", None, "cpu")


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A private copy of sample_docs/ that a test may change."""
    target = tmp_path / "docs"
    shutil.copytree(SAMPLE_DOCS, target)
    return target


@pytest.fixture
def make_kb(tmp_path: Path, minilm):
    """Factory: a new KB in tmp_path on the real embedder, with an echo LLM unless one is given."""
    from rag.kb import KnowledgeBase

    counter = iter(range(1000))

    def factory(chat_model: ChatModel | None = None, **overrides):
        path = tmp_path / f"kb{next(counter)}"
        return KnowledgeBase.create(path, embedder=minilm, chat_model=chat_model or EchoChatModel(), **overrides)

    return factory


@pytest.fixture(scope="session")
def sample_kb(tmp_path_factory: pytest.TempPathFactory, minilm):
    """sample_docs/ ingested once (read-only use)."""
    from rag.kb import KnowledgeBase

    kb = KnowledgeBase.create(tmp_path_factory.mktemp("sample") / "kb", embedder=minilm, chat_model=EchoChatModel())
    kb.ingest([SAMPLE_DOCS])
    return kb
