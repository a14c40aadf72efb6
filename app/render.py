"""Showing model output and document text safely: as text, never as HTML or Markdown that could run
script or load remote content (an answer steered into `![x](http://attacker/…)` must stay text)."""
from __future__ import annotations

import html
import logging
import re
from pathlib import Path

import streamlit as st

log = logging.getLogger(__name__)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def as_markdown_text(text: str) -> str:
    """Text that Markdown shows literally: every Markdown character escaped, HTML tags made inert."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("<", "&lt;")
    return escaped.replace("\n", "  \n")  # keep the answer's line breaks


def cited_spans(passage: str, answer_terms: set[str], tokenize) -> list[tuple[int, int]]:
    """The sentences of the passage that the answer draws on: those sharing the most keyword terms with it."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"[^。！？!?\n]*?(?:[。！？!?]|\.(?=\s)|\n|$)", passage) if m.end() > m.start()]
    scored = [(len(answer_terms & set(tokenize(passage[a:b]))), (a, b)) for a, b in spans]
    best = max((score for score, _ in scored), default=0)
    return [span for score, span in scored if best and score >= max(1, best * 0.6)]


def passage_html(before: str, passage: str, after: str, marked: list[tuple[int, int]] = ()) -> str:
    """The passage (shaded) in its surrounding text, with the sentences the answer cites marked; everything
    escaped, so only our tags are tags."""

    def esc(part: str) -> str:
        return html.escape(part).replace("\n", "<br>")

    inner, position = [], 0
    for start, end in sorted(marked):
        inner.append(esc(passage[position:start]))
        inner.append(f'<mark style="background:#ffd84d;color:#111;padding:0 2px;border-radius:2px">{esc(passage[start:end])}</mark>')
        position = end
    inner.append(esc(passage[position:]))
    return (
        '<div style="font-size:0.9rem;line-height:1.55;color:#666">'
        f'{"…" if before else ""}{esc(before)}'
        f'<span style="background:#fff8d6;color:#222">{"".join(inner)}</span>'
        f'{esc(after)}{"…" if after else ""}</div>'
    )


@st.cache_data(show_spinner=False, max_entries=64)
def pdf_page_png(path: str, page: int, passage: str, mtime: float) -> bytes | None:
    # `passage` is what gets boxed: the cited sentences when known, else the whole passage.
    """The PDF page rendered as PNG with the passage's lines boxed; None when the file is gone or unreadable.
    `mtime` is part of the cache key, so a changed file is rendered again."""
    try:
        import pypdfium2 as pdfium
        from PIL import ImageDraw
    except ImportError:
        return None
    if not Path(path).is_file():
        return None
    try:
        document = pdfium.PdfDocument(path)
        pdf_page = document[page - 1]
        scale = 1.5
        image = pdf_page.render(scale=scale).to_pil().convert("RGB")
        height = pdf_page.get_height()
        text_page = pdf_page.get_textpage()
        draw = ImageDraw.Draw(image, "RGBA")
        # Find the passage by its first words (extraction spacing differs between libraries; the cell bars
        # of a PDF table row read back from its layout are not on the page).
        probe = " ".join([word for word in passage.split() if word != "|"][:8])
        searcher = text_page.search(probe, match_case=False, match_whole_word=False) if probe else None
        found = searcher.get_next() if searcher else None
        if found:
            first, _ = found
            count = min(len(passage.replace(" | ", " ")), text_page.count_chars() - first)
            for rect_index in range(text_page.count_rects(first, count)):
                left, bottom, right, top = text_page.get_rect(rect_index)
                box = (left * scale, (height - top) * scale, right * scale, (height - bottom) * scale)
                draw.rectangle(box, fill=(255, 230, 0, 70), outline=(230, 160, 0, 255), width=2)
        import io

        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()
    except Exception as exc:  # noqa: BLE001 - pdfium's errors vary; the passage text is still shown
        log.warning("cannot render page %s of %s: %s", page, path, exc)
        return None
