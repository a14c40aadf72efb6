"""The real path: built-in GGUF assembled from its PyPI parts, verified, converted, and answering."""
import pytest

from rag.kb import KnowledgeBase
from tests.conftest import SAMPLE_DOCS


@pytest.mark.slow
def test_real_llm_answers_with_citation(tmp_path, minilm):
    kb = KnowledgeBase.create(tmp_path / "kb", embedder=minilm, max_new_tokens=80)
    kb.ingest([SAMPLE_DOCS])
    answer = kb.ask("How often must the QF-200 bearings be re-greased?")
    assert not answer.refused
    assert "2,000" in answer.text or "2000" in answer.text
    assert "maintenance_procedures.pdf:1" in [s.label for s in answer.cited_sources]
    chinese = kb.ask("VX-40 隔膜泵的最大出口压力是多少？")
    assert "0.8" in chinese.text and not chinese.refused
    refusal = kb.ask("What is the boiling point of mercury?")
    assert refusal.refused
