"""The documents panel: what the KB holds, uploads with progress, delete and re-ingest."""
from __future__ import annotations

import os
import time
from pathlib import Path

import streamlit as st

from app.i18n import text
from app.render import as_markdown_text
from app.state import PageState
from app.uploads import save_upload
from ingest.load import MiB
from ingest.types import IngestProgress
from rag.errors import RagError
from rag.kb import KnowledgeBase
from rag.prompt import display_source

STAGE_KEYS = {"load": "stage_load", "split": "stage_split", "embed": "stage_embed", "index": "stage_index",
              "commit": "stage_commit", "done": "stage_done"}


def _size(kb_dir: Path) -> str:
    total = sum(p.stat().st_size for p in kb_dir.rglob("*") if p.is_file())
    return f"{total / MiB:.1f} MiB"


def _ingest(kb: KnowledgeBase, paths: list[Path], lang: str) -> None:
    bar = st.progress(0.0, text=text("stage_load", lang))

    def progress(p: IngestProgress) -> None:
        share = p.files_done / p.files_total if p.files_total else 1.0
        stage = text(STAGE_KEYS.get(p.stage, "stage_load"), lang)
        name = display_source(p.path) if p.path else ""
        bar.progress(min(1.0, share), text=text("ingesting", lang, stage=stage, name=name, done=p.files_done,
                                                 total=p.files_total))

    try:
        report = kb.ingest(paths, progress=progress)
    except RagError as exc:
        st.error(str(exc))
        return
    bar.progress(1.0, text=text("stage_done", lang))
    st.success(text("ingest_done", lang, added=len(report.added), updated=len(report.updated),
                    unchanged=len(report.unchanged), chunks=report.chunks_added))
    failures = report.failed + [(p, r) for p, r in report.skipped]
    if failures:
        st.warning(text("failed_files", lang) + "\n" + "\n".join(f"- {display_source(p)}: {r}" for p, r in failures))


def render_documents(page: PageState, kb: KnowledgeBase) -> None:
    lang = page.language()
    uploaded = st.file_uploader(text("upload", lang), accept_multiple_files=True,
                                type=["pdf", "md", "markdown", "txt", "text", "html", "htm", "docx"], key="uploader")
    if uploaded and st.button(text("ingest_button", lang), type="primary"):
        saved, refused = [], []
        for item in uploaded:
            try:
                saved.append(save_upload(Path(kb.settings.kb_dir), item.name, item.getvalue(),
                                         int(kb.settings.max_upload_mb * MiB)))
            except RagError as exc:
                refused.append(str(exc))
        for reason in refused:
            st.error(reason)
        if saved:
            _ingest(kb, saved, lang)

    info = kb.info()  # after any upload above, so the figures include it
    st.caption(text("summary", lang, documents=info.documents, chunks=info.chunks,
                    model=info.manifest.embedding_model, size=_size(Path(info.path))))
    documents = kb.documents()
    if not documents:
        st.info(text("no_documents", lang))
        return
    pages = kb.page_counts()
    # st.table renders Markdown in cells: names and errors are escaped to show as written.
    rows = [{
        text("col_name", lang): as_markdown_text(display_source(d.source)),
        text("col_type", lang): Path(d.source).suffix.lstrip(".").upper(),
        text("col_pages", lang): pages.get(d.source, 0),
        text("col_chunks", lang): d.n_chunks,
        text("col_added", lang): time.strftime("%Y-%m-%d %H:%M", time.localtime(d.ingested_at)),
        text("col_status", lang): text("status_indexed" if d.status == "indexed" else "status_failed", lang)
        + (f": {as_markdown_text(d.error)}" if d.error else ""),
    } for d in documents]
    st.table(rows)  # a plain HTML table: every name readable (and searchable) in the page

    left, right = st.columns([3, 1])
    with left:
        labels = {d.source: f"{display_source(d.source)} — {d.source}" for d in documents}
        choice = st.selectbox(text("delete_document", lang), list(labels), format_func=labels.get, key="doc-choice")
    with right:
        st.write("")
        if st.button(text("delete", lang), key="doc-delete"):
            try:
                removed = kb.remove(choice)
                st.success(text("deleted", lang, name=display_source(choice), chunks=removed))
                st.rerun()
            except RagError as exc:
                st.error(str(exc))
    if st.button(text("reingest", lang), key="reingest"):
        existing = [Path(d.source) for d in documents if os.path.exists(d.source)]
        _ingest(kb, existing, lang)
