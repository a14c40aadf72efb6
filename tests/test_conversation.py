from pathlib import Path

import pytest

from rag.conversation import needs_rewrite
from rag.conversation_store import ConversationStore, Turn
from rag.errors import KnowledgeBaseError
from rag.kb import KnowledgeBase
from rag.text import KeywordTokenizer
from tests.conftest import EchoChatModel

FIRST = "How often must the QF-200 bearings be re-greased?"
FOLLOW_UP = "And how much grease each time?"


def scripted(rewrite: str):
    """Replies to a rewrite request with `rewrite`, and to an answer request with the first context line."""

    def reply(messages):
        if messages[-1].content.rstrip().endswith("Rewritten:"):
            return rewrite
        return "Apply 15 g of grease per bearing [1]."

    return reply


def test_follow_up_is_rewritten_and_answered_from_the_same_passage(make_kb, sample_copy):
    model = EchoChatModel(scripted("How much grease is applied to each QF-200 bearing?"))
    kb = make_kb(chat_model=model)
    kb.ingest([sample_copy])
    conv = kb.chat()
    first = conv.ask(FIRST)
    second = conv.ask(FOLLOW_UP)
    assert not second.refused and second.standalone_question == "How much grease is applied to each QF-200 bearing?"
    assert second.cited_sources[0].label == "maintenance_procedures.pdf:1" == first.sources[0].label
    answer_prompt = model.calls[-1]
    roles = [m.role for m in answer_prompt]
    assert roles == ["system", "user", "assistant", "user"]  # the earlier turn rides along
    assert answer_prompt[1].content == FIRST and "How much grease is applied" in answer_prompt[-1].content
    assert [t.question for t in conv.history] == [FIRST, FOLLOW_UP]


def test_a_rewrite_that_repeats_the_previous_question_is_not_used(make_kb, sample_copy):
    model = EchoChatModel(scripted(FIRST))  # a small model copying the previous question
    kb = make_kb(chat_model=model)
    kb.ingest([sample_copy])
    conv = kb.chat()
    conv.ask(FIRST)
    second = conv.ask(FOLLOW_UP)
    assert second.standalone_question == f"{FIRST} {FOLLOW_UP}"  # retrieval used the joined form
    assert not second.refused and second.sources[0].label == "maintenance_procedures.pdf:1"
    assert "Question: " + FOLLOW_UP in model.calls[-1][-1].content


def test_first_and_stand_alone_questions_are_not_rewritten():
    terms = KeywordTokenizer().tokenize
    history = [Turn(FIRST, "Every 2,000 hours.", False)]
    assert not needs_rewrite(FIRST, [], terms)
    assert not needs_rewrite("What is the rated flow of the QF-200 centrifugal pump in cubic metres?", history, terms)
    assert needs_rewrite(FOLLOW_UP, history, terms)
    assert needs_rewrite("那每次加多少?", history, terms)
    assert needs_rewrite("由谁签发？", history, terms)


def test_conversations_are_saved_listed_restored_renamed_and_deleted(make_kb, sample_copy):
    kb = make_kb(chat_model=EchoChatModel(scripted("How much grease is applied to each QF-200 bearing?")))
    kb.ingest([sample_copy])
    conv = kb.chat()
    conv.ask(FIRST)
    conv.ask(FOLLOW_UP)
    reopened = KnowledgeBase.open(kb.settings.kb_dir, embedder=kb.embedder, chat_model=kb.chat_model)
    listed = reopened.conversations.list()
    assert [(c.id, c.title, c.turn_count) for c in listed] == [(conv.id, FIRST, 2)]
    restored = reopened.chat(conv.id)
    assert [t.question for t in restored.history] == [FIRST, FOLLOW_UP]
    assert restored.history[0].sources[0].label == "maintenance_procedures.pdf:1"
    assert restored.history[1].standalone_question == "How much grease is applied to each QF-200 bearing?"
    reopened.conversations.rename(conv.id, "Bearing grease")
    assert reopened.conversations.get(conv.id).title == "Bearing grease"
    restored.reset()
    assert restored.history == () and reopened.conversations.get(conv.id).turns == ()
    reopened.conversations.delete(conv.id)
    with pytest.raises(KnowledgeBaseError, match="no conversation"):
        reopened.chat(conv.id)


def test_feedback_is_stored_per_turn(tmp_path: Path):
    store = ConversationStore(tmp_path)
    record = store.create()
    store.add_turn(record.id, Turn("q", "a", False))
    store.set_feedback(record.id, 0, -1)
    assert store.feedback(record.id) == {0: -1}
    with pytest.raises(ValueError, match="rating must be 1 or -1"):
        store.set_feedback(record.id, 0, 5)


@pytest.mark.slow
@pytest.mark.parametrize("follow_up", [FOLLOW_UP, "那每次加多少?"])
def test_real_model_answers_the_follow_up_from_the_same_passage(tmp_path, minilm, follow_up):
    from tests.conftest import SAMPLE_DOCS

    kb = KnowledgeBase.create(tmp_path / "kb", embedder=minilm, max_new_tokens=60)
    kb.ingest([SAMPLE_DOCS])
    conv = kb.chat()
    conv.ask(FIRST)
    second = conv.ask(follow_up)
    assert not second.refused and "15" in second.text
    assert "maintenance_procedures.pdf:1" in [s.label for s in second.sources]
