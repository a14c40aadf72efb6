"""Local-first knowledge QA: `from rag import KnowledgeBase`.

Names are imported on first use, so `import rag` (and `rag --help`) does not load torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "KnowledgeBase": "rag.kb",
    "KnowledgeBaseInfo": "rag.kb",
    "search_many": "rag.kb",
    "Settings": "rag.settings",
    "Answer": "rag.answer",
    "AnswerStream": "rag.answer",
    "Source": "rag.answer",
    "Hit": "rag.retrieve",
    "SearchFilter": "rag.retrieve",
    "IngestReport": "ingest.types",
    "RagError": "rag.errors",
}

if TYPE_CHECKING:
    from ingest.types import IngestReport
    from rag.answer import Answer, AnswerStream, Source
    from rag.errors import RagError
    from rag.kb import KnowledgeBase, KnowledgeBaseInfo, search_many
    from rag.retrieve import Hit, SearchFilter
    from rag.settings import Settings


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = sorted(_EXPORTS)
