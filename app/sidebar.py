"""The sidebar: knowledge base, conversations, settings and language."""
from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from app.i18n import text
from app.state import PageState
from rag.errors import RagError
from rag.finetune.adapters import usable_adapters
from rag.kb import KnowledgeBase
from rag.llm import LLM_BACKENDS
from rag.store import KnowledgeBaseStore

MODES = ["hybrid", "dense", "keyword"]


def _kb_choices(current: Path) -> list[str]:
    """KBs beside the current one (the folder holding it), and the current one."""
    parent = current.parent
    found = {str(p) for p in parent.iterdir() if p.is_dir() and KnowledgeBaseStore.exists(p)} if parent.is_dir() else set()
    return sorted(found | {str(current)})


def render_kb_choice(page: PageState) -> None:
    lang = page.language()
    current = Path(page.kb_dir)
    choices = _kb_choices(current)
    chosen = st.selectbox(text("kb", lang), choices, index=choices.index(str(current)), format_func=lambda p: Path(p).name)
    if chosen != str(current):
        page.open_kb(chosen)
        st.rerun()
    with st.expander(text("create_kb", lang)):
        name = st.text_input(text("new_kb", lang), key="new-kb-name")
        if st.button(text("create_kb", lang), key="create-kb") and name.strip():
            folder = re.sub(r"[^\w\-]", "_", name.strip())[:60]
            target = current.parent / folder
            try:
                KnowledgeBase.open_or_create(target).close()
            except RagError as exc:
                st.error(str(exc))
            else:
                page.open_kb(str(target))
                st.rerun()


def render_conversations(page: PageState, kb: KnowledgeBase) -> None:
    lang = page.language()
    store = kb.conversations
    st.subheader(text("conversations", lang))
    if st.button("+ " + text("new_chat", lang), key="new-chat", width="stretch"):
        page.new_chat()
        st.rerun()
    if store is None:
        return
    for record in store.list(limit=30):
        label = record.title or text("untitled", lang)
        current = record.id == page.conversation_id
        if st.button(("▶ " if current else "") + label, key=f"conv-{record.id}", width="stretch",
                     type="secondary" if not current else "primary"):
            page.conversation_id, page.restored = record.id, True
            st.rerun()
    if page.conversation_id:
        record = store.get(page.conversation_id)
        with st.expander(text("rename", lang) + " / " + text("delete", lang)):
            title = st.text_input(text("rename", lang), value=record.title, key=f"title-{record.id}")
            if st.button(text("rename", lang), key=f"rename-{record.id}") and title.strip():
                store.rename(record.id, title)
                st.rerun()
            if st.button(text("delete", lang), key=f"delete-{record.id}"):
                store.delete(record.id)
                page.new_chat()
                st.rerun()
        st.download_button(text("download", lang), record.to_markdown(), file_name=f"conversation-{record.id}.md",
                           mime="text/markdown", key=f"download-{record.id}", width="stretch")


def render_settings(page: PageState, kb: KnowledgeBase) -> None:
    """Query-time settings; their defaults are the KB's settings, and changes apply to the next question."""
    lang = page.language()
    s = kb.settings
    o = page.overrides
    with st.expander(text("settings", lang)):
        o["top_k"] = st.slider(text("top_k", lang), 1, 10, o.get("top_k", s.top_k), key="set-top-k")
        mode = o.get("retrieval_mode", s.retrieval_mode)
        o["retrieval_mode"] = st.selectbox(text("mode", lang), MODES, index=MODES.index(mode), key="set-mode")
        default = kb.with_settings(retrieval_mode=o["retrieval_mode"], score_threshold=None).threshold
        o["score_threshold"] = st.slider(text("threshold", lang, default=default), 0.0, 1.0,
                                         float(o.get("score_threshold", s.score_threshold if s.score_threshold is not None else default)),
                                         0.01, key="set-threshold")
        backends = sorted(LLM_BACKENDS)
        backend = o.get("llm_backend", s.llm_backend)
        o["llm_backend"] = st.selectbox(text("backend", lang), backends, index=backends.index(backend) if backend in backends else 0,
                                        key="set-backend")
        o["llm_model"] = st.text_input(text("model", lang), o.get("llm_model", s.llm_model), key="set-model")
        o["temperature"] = st.slider(text("temperature", lang), 0.0, 1.5, float(o.get("temperature", s.temperature)), 0.05,
                                     key="set-temperature")
        entries = {e.name: e for e in usable_adapters(s.replace(llm_model=o["llm_model"]))}
        adapters = [None] + sorted(set(entries) | ({s.adapter} if s.adapter else set()))
        chosen = o.get("adapter", s.adapter)

        def label(name: str | None) -> str:
            if name is None:
                return text("no_adapter", lang)
            entry = entries.get(name)
            return name if entry is None else f"{name} ({entry.layer}{' / ' + entry.parent if entry.parent else ''})"

        o["adapter"] = st.selectbox(text("adapter", lang), adapters, format_func=label, key="set-adapter",
                                    index=adapters.index(chosen) if chosen in adapters else 0)
    languages = ["auto", "en", "zh"]
    names = {"auto": "Auto / 自动", "en": "English", "zh": "中文"}
    page.language_choice = st.selectbox(text("language", lang), languages, index=languages.index(page.language_choice),
                                        format_func=names.get, key="set-language")
