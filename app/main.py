"""The page people meet: `rag ui [--kb DIR]` runs `streamlit run app/main.py -- --kb DIR`."""
from __future__ import annotations

import argparse
import os
import sys

import streamlit as st

from app import resources, sidebar
from app.chat import current_conversation, render_chat
from app.documents import render_documents
from app.i18n import text
from app.state import page_state
from rag.errors import RagError
from rag.settings import DEFAULT_KB_DIR


def default_kb_dir() -> str:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--kb", default=None)
    known, _ = parser.parse_known_args(sys.argv[1:])
    return os.path.abspath(known.kb or os.environ.get("RAG_KB_DIR") or DEFAULT_KB_DIR)


st.set_page_config(page_title="Knowledge QA", page_icon="📚", layout="wide")
page = page_state(default_kb_dir())

with st.sidebar:
    sidebar.render_kb_choice(page)
try:
    kb = resources.knowledge_base(page.kb_dir)
except RagError as exc:
    st.error(str(exc))
    st.stop()
current_conversation(page, kb)  # reopen the latest one after a reload, before the sidebar marks it
with st.sidebar:
    sidebar.render_conversations(page, kb)
    sidebar.render_settings(page, kb)

st.title(text("title", page.language()))
chat_tab, documents_tab = st.tabs([text("chat_tab", page.language()), text("documents_tab", page.language())])
with documents_tab:
    render_documents(page, kb)
with chat_tab:
    try:
        view = resources.query_view(kb, page.overrides)
    except RagError as exc:
        st.error(str(exc))
    else:
        render_chat(page, kb, view)
