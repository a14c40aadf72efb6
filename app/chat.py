"""The chat panel: the conversation's turns with their sources, a streamed answer to each new question,
feedback, and questions sent to the golden set."""
from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from app import render
from app.i18n import text
from app.state import PageState
from rag.answer import Source
from rag.conversation_store import ConversationRecord, Turn
from rag.errors import KnowledgeBaseError, RagError
from rag.evaluate import append_golden
from rag.kb import KnowledgeBase
from rag.prompt import display_source, is_chinese

GOLDEN_FILE = "golden.jsonl"  # in the KB directory; `rag eval KB_DIR/golden.jsonl --kb KB_DIR` reads it


def current_conversation(page: PageState, kb: KnowledgeBase) -> ConversationRecord | None:
    """The open conversation; on a fresh session (a reload), the latest one is reopened."""
    store = kb.conversations
    if store is None:
        return None
    if page.conversation_id is None and not page.restored:
        page.restored = True
        latest = store.latest()
        page.conversation_id = latest.id if latest else None
    if page.conversation_id is None:
        return None
    try:
        return store.get(page.conversation_id)
    except KnowledgeBaseError:  # deleted in another session: start a new one
        page.conversation_id = None
        return None


def source_label(source: Source, lang: str) -> str:
    page = f" · {text('page', lang)} {source.page}{text('page_suffix', lang)}" if source.page is not None else ""
    section = f" · {source.section}" if source.section else ""
    mark = f" · ✓ {text('cited', lang)}" if source.cited else ""
    return (f"[{source.number}] {display_source(source.source)}{page}{section} · {text('relevance', lang)} "
            f"{source.relevance:.2f}{mark}")


def _show_sources(kb: KnowledgeBase, turn: Turn, lang: str) -> None:
    if not turn.sources:
        return
    st.caption(text("closest" if turn.refused else "sources", lang))
    answer_terms = set(kb.tokenizer.tokenize(turn.answer)) if not turn.refused else set()
    for source in sorted(turn.sources, key=lambda s: (not s.cited, s.number)):
        with st.expander(source_label(source, lang), expanded=False):
            before, passage, after = kb.passage_in_context(source.source, source.page, source.start, source.end)
            passage = passage or source.snippet
            marked = render.cited_spans(passage, answer_terms, kb.tokenizer.tokenize) if source.cited else []
            st.html(render.passage_html(before, passage, after, marked))
            if source.page is not None and source.source.lower().endswith(".pdf") and os.path.isfile(source.source):
                boxed = passage[marked[0][0] : marked[-1][1]] if marked else passage
                png = render.pdf_page_png(source.source, source.page, boxed, Path(source.source).stat().st_mtime)
                if png:
                    st.image(png, caption=text("pdf_page", lang, page=source.page, name=display_source(source.source)))


def _show_answer(turn: Turn, lang: str) -> None:
    if turn.refused:
        help_key = "not_in_kb_read" if turn.sources else "not_in_kb_help"
        st.warning(f"**{text('not_in_kb', lang)}** — {text(help_key, lang)}", icon=":material/search_off:")
        return
    st.markdown(render.as_markdown_text(turn.answer))
    if not turn.grounded:
        st.caption("⚠️ " + text("ungrounded", lang))


def _show_turn(kb: KnowledgeBase, record: ConversationRecord, position: int, turn: Turn, lang: str,
               rating: int | None) -> None:
    with st.chat_message("user"):
        st.markdown(render.as_markdown_text(turn.question))
    with st.chat_message("assistant"):
        _show_answer(turn, lang)
        if turn.standalone_question:
            st.caption(text("rewritten", lang, q=turn.standalone_question))
        _show_sources(kb, turn, lang)
        timings = turn.timings or {}
        if timings:
            st.caption(text("timings", lang, retrieve=timings.get("retrieve_s", 0), first=timings.get("first_token_s", 0),
                            total=timings.get("retrieve_s", 0) + timings.get("generate_s", 0)))
        left, right = st.columns([1, 3])
        with left:
            chosen = st.feedback("thumbs", key=f"fb-{record.id}-{position}")
            if chosen is not None and kb.conversations is not None:
                value = 1 if chosen == 1 else -1
                if rating != value:
                    kb.conversations.set_feedback(record.id, position, value)
                    st.toast(text("feedback_saved", lang))
        with right:
            with st.popover(text("add_golden", lang)):
                answer = st.text_area(text("golden_answer", lang), value="" if turn.refused else turn.answer,
                                      key=f"golden-{record.id}-{position}")
                if st.button(text("add_golden", lang), key=f"golden-add-{record.id}-{position}"):
                    path = Path(kb.settings.kb_dir) / GOLDEN_FILE
                    sources = [display_source(s.source) for s in turn.sources if s.cited]
                    append_golden(path, turn.question, [answer], sources, unanswerable=turn.refused and not answer.strip())
                    st.success(text("golden_saved", lang, path=path))


def render_chat(page: PageState, kb: KnowledgeBase, view: KnowledgeBase) -> None:
    """`kb` is the shared knowledge base; `view` the same with this session's settings."""
    record = current_conversation(page, kb)
    lang = page.language()
    ratings = kb.conversations.feedback(record.id) if record and kb.conversations else {}
    if record is None or not record.turns:
        st.info(text("empty_chat", lang))
    else:
        for position, turn in enumerate(record.turns):
            _show_turn(kb, record, position, turn, lang, ratings.get(position))
    question = st.chat_input(text("ask", lang))
    if not question:
        return
    if page.first_question_language is None:
        page.first_question_language = "zh" if is_chinese(question) else "en"
        lang = page.language()
    with st.chat_message("user"):
        st.markdown(render.as_markdown_text(question))
    with st.chat_message("assistant"):
        try:
            conversation = view.chat(page.conversation_id)
            page.conversation_id = conversation.id or None
            with st.spinner(text("thinking", lang)):
                stream = conversation.ask_stream(question)
            st.write_stream(render.as_markdown_text(piece) for piece in stream)
        except RagError as exc:
            st.error(str(exc))
            return
    st.rerun()  # redraw the whole conversation from the store: sources, feedback and timings included
