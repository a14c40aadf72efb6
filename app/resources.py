"""Heavy objects, loaded once per server process and shared by every session (`st.cache_resource`):
knowledge bases and chat models."""
from __future__ import annotations

import streamlit as st

from rag.kb import KnowledgeBase
from rag.llm import ChatModel, create_chat_model
from rag.settings import Settings


@st.cache_resource(show_spinner=False)
def knowledge_base(kb_dir: str) -> KnowledgeBase:
    """The KB at `kb_dir`, created empty if the directory holds none yet."""
    return KnowledgeBase.open_or_create(settings=Settings.load(kb_dir))


@st.cache_resource(show_spinner=False, max_entries=3)
def chat_model(backend: str, model: str, base_url: str, kb_dir: str) -> ChatModel:
    """One model per (backend, model, server), whatever KB or session asks; the KB's settings supply the
    rest (context size, threads, timeouts)."""
    settings = Settings.load(kb_dir, {"llm_backend": backend, "llm_model": model, "llm_base_url": base_url})
    return create_chat_model(settings)


def query_view(kb: KnowledgeBase, overrides: dict) -> KnowledgeBase:
    """The KB with the sidebar's settings, answering with the shared model for those settings."""
    s = kb.settings.replace(**overrides)
    return kb.with_settings(chat_model(s.llm_backend, s.llm_model, s.llm_base_url, str(kb.settings.kb_dir)), **overrides)
