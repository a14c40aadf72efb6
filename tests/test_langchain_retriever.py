"""LangChain's own standard test suite for retrievers, run on a real knowledge base (sample_docs/ on the
packaged MiniLM), plus the metadata and filters the product adds."""
import functools
import tempfile
from pathlib import Path

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from rag.integrations.langchain import KnowledgeBaseRetriever
from tests.conftest import SAMPLE_DOCS


@functools.cache
def sample_kb_dir() -> str:
    from rag.kb import KnowledgeBase

    path = Path(tempfile.mkdtemp(prefix="rag-lc-")) / "kb"
    KnowledgeBase.create(path).ingest([SAMPLE_DOCS])
    return str(path)


@functools.cache
def shared_kb():
    from rag.kb import KnowledgeBase

    return KnowledgeBase.open(sample_kb_dir())


class TestKnowledgeBaseRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[KnowledgeBaseRetriever]:
        return KnowledgeBaseRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"kb": shared_kb()}

    @property
    def retriever_query_example(self) -> str:
        return "How often must the QF-200 bearings be re-greased?"


def test_metadata_and_filters_pass_through():
    retriever = KnowledgeBaseRetriever(kb_dir=sample_kb_dir(), k=3)
    docs = retriever.invoke("How often must the QF-200 bearings be re-greased?")
    top = docs[0].metadata
    assert Path(top["source"]).name == "maintenance_procedures.pdf" and top["page"] == 1
    assert top["rank"] == 1 and 0 <= top["relevance"] <= 1 and top["end"] > top["start"]
    only_md = retriever.invoke("bearings", k=5, source_glob="*.md")
    assert only_md and all(d.metadata["source"].endswith(".md") for d in only_md)
    with pytest.raises(ValueError, match="unknown search argument"):
        retriever.invoke("bearings", colour="red")
    with pytest.raises(ValueError, match="give kb"):
        KnowledgeBaseRetriever()
