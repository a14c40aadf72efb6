"""Loaders: turn one file into a list of Pages, or raise DocumentLoadError saying why not."""
from __future__ import annotations

import io
import re
import unicodedata
from pathlib import Path
from typing import Callable

from ingest.types import Page
from rag.errors import DocumentLoadError

Loader = Callable[[Path, bytes], list[Page]]


def _decode_text(path: Path, data: bytes) -> str:
    """Decode bytes of a text file: UTF-8 first, then GB18030 (GBK's superset), then a detector."""
    if b"\x00" in data[:8192]:
        # UTF-16 files are full of NULs too; only their BOM tells them apart from binary data.
        if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return data.decode("utf-16")
        raise DocumentLoadError(str(path), "binary content (NUL bytes), not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
        non_ascii = [c for c in text if ord(c) > 127]
        cjk = sum(1 for c in non_ascii if "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f")
        # GB18030 decodes almost any byte string; accept it only when what comes out reads as Chinese.
        if non_ascii and cjk / len(non_ascii) > 0.6:
            return text
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise DocumentLoadError(str(path), "binary content: no text encoding fits the bytes")
    text = str(best)
    control = sum(1 for c in text if unicodedata.category(c) == "Cc" and c not in "\r\n\t\f")
    if control > max(8, len(text) // 100):
        raise DocumentLoadError(str(path), "binary content: decodes only to control characters")
    return text


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def load_text(path: Path, data: bytes) -> list[Page]:
    return [Page(_normalise_newlines(_decode_text(path, data)))]


def load_html(path: Path, data: bytes) -> list[Page]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode_text(path, data), "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "head", "svg"]):
        tag.decompose()
    text = soup.get_text(separator="\n")
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.splitlines()]
    # Block elements become one line each; a blank line between them keeps paragraphs apart for the splitter.
    return [Page("\n\n".join(line for line in lines if line))]


def load_pdf(path: Path, data: bytes) -> list[Page]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Many PDFs carry only an owner password (printing/copy restrictions) and open with "".
            try:
                opened = reader.decrypt("")
            except Exception as exc:  # pypdf raises several types for unsupported encryption
                raise DocumentLoadError(str(path), f"encrypted PDF that cannot be opened ({exc})") from exc
            if not opened:
                raise DocumentLoadError(str(path), "encrypted PDF: a password is required")
        pages = [Page(_normalise_newlines(page.extract_text() or ""), number=i) for i, page in enumerate(reader.pages, 1)]
    except DocumentLoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise DocumentLoadError(str(path), f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from exc
    if not any(p.text.strip() for p in pages):
        raise DocumentLoadError(str(path), "PDF has no extractable text (a scanned PDF needs OCR, which is not supported)")
    return pages


def load_docx(path: Path, data: bytes) -> list[Page]:
    from zipfile import BadZipFile

    from docx import Document
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = Document(io.BytesIO(data))
    except (BadZipFile, PackageNotFoundError, KeyError, ValueError) as exc:
        raise DocumentLoadError(str(path), f"corrupt or unreadable DOCX ({type(exc).__name__}: {exc})") from exc
    blocks = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            cells = [cell.text.strip() for cell in row.cells]
            if any(cells):
                blocks.append(" | ".join(cells))
    return [Page("\n\n".join(blocks))]


LOADERS: dict[str, Loader] = {
    ".txt": load_text,
    ".text": load_text,
    ".md": load_text,
    ".markdown": load_text,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
}


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def load_document(path: Path, data: bytes) -> list[Page]:
    """Turn a file's bytes into pages.

    Args:
        path: the file's path (its suffix picks the loader; it is named in errors).
        data: the file's bytes, read once by the caller, who also hashes them.

    Returns:
        Pages with text; at least one page has non-blank text.

    Raises:
        DocumentLoadError: unsupported type, empty, binary, corrupt, encrypted or text-less file.
    """
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise DocumentLoadError(str(path), f"unsupported file type {path.suffix or '(none)'}")
    if not data.strip():
        raise DocumentLoadError(str(path), "file is empty")
    pages = loader(path, data)
    if not any(page.text.strip() for page in pages):
        raise DocumentLoadError(str(path), "no text found in the file")
    return pages
