"""The page's logic through Streamlit's AppTest: a chat turn (test-double LLM, registered in the backend
registry like any backend), a refusal, a settings change, a document delete, and a conversation restored
in a new session."""
import dataclasses
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rag.llm import LLM_BACKENDS
from tests.conftest import REPO, SAMPLE_DOCS, EchoChatModel

APP = str(REPO / "app" / "main.py")
ANSWER = "Apply 15 g of grease per bearing [1]."


@pytest.fixture
def page_kb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minilm):
    """A KB with sample_docs/, opened by the page with the test-double LLM."""
    from rag.kb import KnowledgeBase

    model = EchoChatModel(lambda messages: "How much grease per QF-200 bearing?"
                          if messages[-1].content.rstrip().endswith("Rewritten:") else ANSWER)
    monkeypatch.setitem(LLM_BACKENDS, "echo-test", lambda settings: model)
    kb_dir = tmp_path / "handbook"
    KnowledgeBase.create(kb_dir, embedder=minilm).ingest([SAMPLE_DOCS])
    monkeypatch.setenv("RAG_KB_DIR", str(kb_dir))
    monkeypatch.setenv("RAG_LLM_BACKEND", "echo-test")
    return kb_dir, model


def run_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [w.value for w in at.warning]
                     + [i.value for i in at.info])


def test_chat_turn_with_sources_and_a_refusal(page_kb):
    at = run_page()
    assert "Ask a question" in texts(at)
    ask(at, "How much grease is applied to each QF-200 bearing?")  # what the test double answers
    shown = texts(at)
    assert "Apply 15 g of grease per bearing \\[1\\]" in shown  # shown as text: Markdown characters escaped
    labels = [e.label for e in at.expander]
    assert any(label.startswith("[1] maintenance_procedures.pdf · page 1") and "cited" in label for label in labels)
    assert "first token" in shown
    ask(at, "Who won the 1998 football world cup?")
    assert any("Not in the knowledge base" in w.value for w in at.warning)
    assert "Closest passages" not in texts(at)  # nothing was relevant enough to read


def test_a_refusal_after_reading_passages_shows_the_closest(tmp_path, monkeypatch, minilm):
    from rag.kb import KnowledgeBase
    from rag.prompt import REFUSAL_EN

    monkeypatch.setitem(LLM_BACKENDS, "refusing-test", lambda settings: EchoChatModel(REFUSAL_EN))
    kb_dir = tmp_path / "handbook"
    KnowledgeBase.create(kb_dir, embedder=minilm).ingest([SAMPLE_DOCS])
    monkeypatch.setenv("RAG_KB_DIR", str(kb_dir))
    monkeypatch.setenv("RAG_LLM_BACKEND", "refusing-test")
    at = ask(run_page(), "How often must the QF-200 bearings be re-greased?")
    assert any("the closest are below" in w.value for w in at.warning)
    assert "Closest passages (none of them answers the question)" in texts(at)
    assert at.expander and not any("cited" in e.label for e in at.expander)


def test_settings_change_applies_to_the_next_question(page_kb):
    _, model = page_kb
    at = run_page()
    at.slider(key="set-top-k").set_value(1).run()
    ask(at, "How often must the QF-200 bearings be re-greased?")
    assert model.calls[-1][-1].content.count("<document>") == 1
    at.slider(key="set-top-k").set_value(3).run()
    at.slider(key="set-threshold").set_value(0.0).run()  # every retrieved passage counts as relevant
    ask(at, "What is the forklift speed limit inside buildings?")
    assert model.calls[-1][-1].content.count("<document>") == 3


def test_document_delete(page_kb):
    from rag.store import KnowledgeBaseStore

    kb_dir, _ = page_kb
    at = run_page()
    target = next(o for o in at.selectbox(key="doc-choice").options if "training_policy.docx" in o)
    at.selectbox(key="doc-choice").set_value(
        next(d.source for d in KnowledgeBaseStore(kb_dir).documents() if d.source.endswith("training_policy.docx"))).run()
    at.button(key="doc-delete").click().run()
    assert not at.exception, at.exception
    assert "training_policy.docx" not in {Path(d.source).name for d in KnowledgeBaseStore(kb_dir).documents()}
    assert target


def test_conversation_is_restored_in_a_new_session(page_kb):
    at = run_page()
    ask(at, "How often must the QF-200 bearings be re-greased?")
    ask(at, "And how much grease each time?")
    reloaded = run_page()  # a new session, as after a browser reload
    shown = texts(reloaded)
    assert "How often must the QF\\-200 bearings be re\\-greased?" in shown
    assert "And how much grease each time?" in shown
    listed = [b for b in reloaded.button if "How often must the QF-200" in b.label]  # in the sidebar, marked open
    assert listed and listed[0].label.startswith("▶ ")


def test_a_source_label_names_the_section_it_stands_under():
    from app.chat import source_label
    from rag.answer.result import Source

    source = Source(number=2, source="/kb/uploads/r7.html", page=None, start=0, end=9, snippet="Blinking", score=0.5,
                    relevance=0.61, cited=True, section="Acme R7 Router > 3. Lights")
    assert source_label(source, "en") == "[2] r7.html · Acme R7 Router > 3. Lights · relevance 0.61 · ✓ cited"
    assert "·  ·" not in source_label(dataclasses.replace(source, section=""), "en")
