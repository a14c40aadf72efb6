"""The page's session state behind typed helpers: which KB and conversation are open, the interface
language, and the query-time settings the user changed."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import streamlit as st

_KEY = "rag_page_state"


@dataclass
class PageState:
    kb_dir: str
    conversation_id: str | None = None
    restored: bool = False  # the latest conversation was reopened once for this session (after a reload)
    language_choice: str = "auto"  # auto | en | zh
    first_question_language: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # query-time settings changed in the sidebar

    def language(self) -> str:
        if self.language_choice in ("en", "zh"):
            return self.language_choice
        locale = (getattr(st.context, "locale", None) or "").lower()
        if locale.startswith("zh"):
            return "zh"
        return self.first_question_language or "en"

    def open_kb(self, kb_dir: str) -> None:
        self.kb_dir, self.conversation_id, self.restored, self.overrides = kb_dir, None, False, {}

    def new_chat(self) -> None:
        self.conversation_id, self.restored = None, True


def page_state(default_kb: str) -> PageState:
    if _KEY not in st.session_state:
        st.session_state[_KEY] = PageState(kb_dir=default_kb)
    return st.session_state[_KEY]
