"""A LangChain retriever over a KnowledgeBase: drop the product's hybrid retrieval into any chain.

    from rag.integrations.langchain import KnowledgeBaseRetriever
    retriever = KnowledgeBaseRetriever(kb_dir="my_kb", k=4, source_glob="*.pdf")
    docs = retriever.invoke("How often must the bearings be re-greased?", k=2)
"""
from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field, model_validator

from rag.retrieve import Hit, SearchFilter


def hit_to_document(hit: Hit) -> Document:
    chunk = hit.chunk
    return Document(
        page_content=chunk.text,
        id=chunk.chunk_id,
        metadata={
            "source": chunk.source,
            "page": chunk.page,
            "section": chunk.section,
            "start": chunk.start,
            "end": chunk.end,
            "doc_id": chunk.doc_id,
            "chunk_id": chunk.chunk_id,
            "rank": hit.rank,
            "score": hit.score,
            "relevance": hit.relevance,
            "knowledge_base": hit.kb,
        },
    )


class KnowledgeBaseRetriever(BaseRetriever):
    """Documents carry source, page, character offsets and scores in their metadata. `k` and the filters
    can be set on construction and overridden per call (`invoke(query, k=2, source_glob="*.pdf")`)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kb: Any = Field(default=None, description="An open rag.KnowledgeBase")
    kb_dir: str | None = Field(default=None, description="Or the path of a knowledge base to open")
    k: int = Field(default=4, gt=0, description="Number of documents to return")
    source_glob: str | None = None
    tag: str | None = None
    modified_after: float | None = None
    modified_before: float | None = None

    @model_validator(mode="after")
    def _open(self) -> "KnowledgeBaseRetriever":
        if self.kb is None:
            if self.kb_dir is None:
                raise ValueError("give kb (an open KnowledgeBase) or kb_dir (its path)")
            from rag.kb import KnowledgeBase

            self.kb = KnowledgeBase.open(self.kb_dir)
        return self

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None,
                                **filters: Any) -> list[Document]:
        unknown = set(filters) - {"source_glob", "tag", "modified_after", "modified_before"}
        if unknown:
            raise ValueError(f"unknown search argument(s): {', '.join(sorted(unknown))}")
        search_filter = SearchFilter(
            source_glob=filters.get("source_glob", self.source_glob),
            tag=filters.get("tag", self.tag),
            modified_after=filters.get("modified_after", self.modified_after),
            modified_before=filters.get("modified_before", self.modified_before),
        )
        hits = self.kb.search(query, k=k or self.k, filters=search_filter)
        return [hit_to_document(h) for h in hits]
