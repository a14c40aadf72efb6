"""Loaders: turn one file's bytes into a list of Pages, or raise DocumentLoadError saying why not.

Every failure of a parser, foreseen or not, leaves this module as a DocumentLoadError: one bad file is a
line in the ingest report, never the end of an ingest.
"""
from __future__ import annotations

import io
import logging
import math
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ingest.outline import join_blocks, located_headings, markdown_headings, numbered_division_headings
from ingest.pdf_cells import DrawnText, rows_on_one_line
from ingest.pdf_headings import headings_by_size
from ingest.pdf_text import clean_pdf_pages, has_wrapped_cells, is_two_column
from ingest.types import Page
from rag.errors import DocumentLoadError

log = logging.getLogger(__name__)

MiB = 1 << 20


@dataclass(frozen=True)
class LoadLimits:
    """Bounds on what one file may cost; a file beyond any of them is reported and skipped."""

    max_file_bytes: int = 256 * MiB  # on disk
    max_chars: int = 20_000_000  # extracted text (about 10,000 pages)
    max_unpacked_bytes: int = 512 * MiB  # sum of a DOCX's zip members once decompressed
    max_compression_ratio: float = 200.0  # DOCX unpacked / packed; zip bombs reach thousands
    timeout_s: float = 300.0  # wall time to parse one file (enforced by ingest/isolate.py)
    memory_bytes: int = 4096 * MiB  # address space of the parsing process (ingest/isolate.py)

    def __post_init__(self) -> None:
        for name in ("max_file_bytes", "max_chars", "max_unpacked_bytes", "max_compression_ratio", "timeout_s", "memory_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be greater than 0. Currently, {name} is {getattr(self, name)}")


Loader = Callable[[Path, bytes, LoadLimits], list[Page]]

# Code pages of Western European text; detectors confuse them on short samples ("système" read as cp1250
# gives "systčme"), and cp1252 is by far the most common of them in real documents.
_LATIN_SINGLE_BYTE = {"cp1250", "cp1252", "latin_1", "iso8859_1", "iso8859_2", "iso8859_15", "cp1257",
                      "mac_roman", "mac_latin2", "cp850", "cp437", "iso8859_9", "cp1254", "iso8859_10"}


def _printable_share(text: str) -> float:
    if not text:
        return 0.0
    ok = sum(1 for c in text if c.isprintable() or c in "\r\n\t\f")
    return ok / len(text)


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text with no byte-order mark: NULs at every other byte for Latin text, or a clean decode."""
    sample = data[: 64 * 1024]
    if len(sample) < 4 or b"\x00" not in sample:
        return None
    even_nuls = sample[0::2].count(0) / max(1, len(sample[0::2]))
    odd_nuls = sample[1::2].count(0) / max(1, len(sample[1::2]))
    # ASCII-range characters put a NUL in every other byte: odd bytes little-endian, even ones big-endian.
    # Any pair of ASCII bytes also decodes to a printable ideograph, so without that pattern it is not UTF-16.
    if odd_nuls > 0.2 and even_nuls < 0.02:
        encoding = "utf-16-le"
    elif even_nuls > 0.2 and odd_nuls < 0.02:
        encoding = "utf-16-be"
    else:
        return None
    try:
        text = data[: len(data) // 2 * 2].decode(encoding)
    except UnicodeDecodeError:
        return None
    return text if _printable_share(text) > 0.97 else None


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with a few damaged bytes: keep the good text, mark the bad bytes with U+FFFD."""
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    multibyte = sum(1 for c in text if ord(c) > 127 and c != "\ufffd")
    # A Latin-1 or GBK file read as UTF-8 gives mostly replacement characters and few valid sequences.
    if multibyte >= 4 * bad and bad <= max(3, len(text) // 1000):
        return text
    return None


def _is_cjk(c: str) -> bool:
    return "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef"


def _reads_as_chinese(text: str) -> bool:
    """GB18030 decodes almost any byte string. Chinese comes out as runs of Han characters; Latin-1 or
    cp1252 read as GB18030 gives single Han characters wedged between Latin letters ("Pr黤druck")."""
    non_ascii = [i for i, c in enumerate(text) if ord(c) > 127]
    if not non_ascii:
        return False
    cjk = [i for i in non_ascii if _is_cjk(text[i])]
    if len(cjk) / len(non_ascii) <= 0.6:
        return False
    in_runs = sum(1 for i in cjk if (i > 0 and _is_cjk(text[i - 1])) or (i + 1 < len(text) and _is_cjk(text[i + 1])))
    return in_runs / len(cjk) > 0.5


def _detect_single_byte(path: Path, data: bytes) -> str:
    from charset_normalizer import from_bytes

    # Sample the whole file (not only its first bytes): a single accented word late in a file decides.
    steps = max(5, min(2000, len(data) // 512))
    results = from_bytes(data, steps=steps, chunk_size=512)
    best = results.best()
    if best is None:
        raise DocumentLoadError(str(path), "binary content: no text encoding fits the bytes")
    encoding = best.encoding
    if encoding in _LATIN_SINGLE_BYTE:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            pass  # bytes undefined in cp1252 (0x81, 0x8d...): trust the detector
    return str(best)


def _decode_text(path: Path, data: bytes) -> str:
    """Decode a text file: BOMs, UTF-8 (also with a few bad bytes), UTF-16 without BOM, GB18030, then a
    detector over the whole file for single-byte code pages."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data:
        text = _utf16_without_bom(data)
        if text is not None:
            return text
        if data.count(0) > max(8, len(data) // 1000):
            raise DocumentLoadError(str(path), "binary content (NUL bytes), not a text file")
        data = data.replace(b"\x00", b"")  # a few stray NULs in a text file: drop them
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = _mostly_utf8(data)
    if text is not None:
        return text
    try:
        text = data.decode("gb18030")
        if _reads_as_chinese(text):
            return text
    except UnicodeDecodeError:
        pass
    text = _detect_single_byte(path, data)
    control = sum(1 for c in text if unicodedata.category(c) == "Cc" and c not in "\r\n\t\f")
    if control > max(8, len(text) // 100):
        raise DocumentLoadError(str(path), "binary content: decodes only to control characters")
    return text


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _clean(text: str) -> str:
    """Newlines normalised; NULs and other control characters (never meaningful in prose) removed."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def load_text(path: Path, data: bytes, limits: LoadLimits) -> list[Page]:
    return [Page(_decode_text(path, data))]


# Markdown's inline markup, which no reader sees: "**Section 9. Access.** The landlord may enter…" split as
# "Access.** The landlord…" and was quoted so; a link's target is no part of its sentence. Headings, lists and
# tables stay as written (a heading's "#" and a row's "|" are read further on).
# Spans are bounded (300 characters): unbounded, a line of many unmatched "**" took quadratic time.
_MARKDOWN_INLINE = [
    (re.compile(r"!\[([^\]\n]{0,300})\]\([^)\n]{0,300}\)"), r"\1"),  # image: its alt text
    (re.compile(r"\[([^\]\n]{1,300})\]\([^)\n]{0,300}\)"), r"\1"),  # link: its text
    (re.compile(r"(\*\*|__)(?=\S)([^\n]{1,300}?)(?<=\S)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])\*(?=[^\s*])([^*\n]{1,300}?)(?<=\S)\*(?![\w*])"), r"\1"),  # italics, not a list's "* "
    (re.compile(r"(?<![\w_])_(?=[^\s_])([^_\n]{1,300}?)(?<=\S)_(?![\w_])"), r"\1"),
    (re.compile(r"(?<!`)`([^`\n]{1,300})`(?!`)"), r"\1"),  # inline code
]


def load_markdown(path: Path, data: bytes, limits: LoadLimits) -> list[Page]:
    text = _clean(_decode_text(path, data))
    for pattern, replacement in _MARKDOWN_INLINE:
        text = pattern.sub(replacement, text)
    return [Page(text, headings=markdown_headings(text))]


INLINE_HTML = ["a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "i", "kbd", "mark", "q", "s", "samp",
               "small", "span", "strong", "sub", "sup", "time", "u", "var", "font"]


def load_html(path: Path, data: bytes, limits: LoadLimits) -> list[Page]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode_text(path, data), "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "head", "svg"]):
        tag.decompose()
    # A site's menu ("首页 | 服务支持 | 资料下载") is in every page and answers nothing; a footer can hold the
    # hotline, so only navigation goes.
    for tag in soup.find_all("nav") + soup.find_all(attrs={"role": "navigation"}):
        if not tag.decomposed:
            tag.decompose()
    # Inline elements are part of their sentence ("hotline is <b>400-820-7788</b>."): without this, the
    # separator below would cut the sentence into paragraphs at every bold word or link.
    for tag in soup(INLINE_HTML):
        tag.unwrap()
    soup.smooth()
    # A heading's first string carries its level to the lines below, where the outline is read.
    for heading in soup.find_all(_HTML_HEADING):
        first = heading.find(string=True)
        if first is not None:
            first.replace_with(f"{_HEADING_MARK}{heading.name[1]}{first}")
    # A table row is one line, its cells joined as in a DOCX table ("Rated AC output power | 5,000 W"): cell by
    # cell, every parameter and its value became paragraphs of their own, and a model reading the chunk
    # could no longer tell which value was whose. Innermost tables first, so a nested table stays inside its
    # cell; a whole table is replaced at once (row by row, 50,000 rows took 46 s).
    for table in reversed(soup.find_all("table")):
        lines = []
        for row in table.find_all("tr"):
            if row.find_parent(["tr", "table"]) is not table:
                continue  # a row inside a cell (malformed HTML) is read as part of that cell
            cells = [re.sub(r"\s+", " ", _HEADING_MARKS.sub("", cell.get_text(" "))).strip()
                     for cell in row.find_all(["td", "th"], recursive=False)]
            if any(cells):
                lines.append(" | ".join(cells))
        table.replace_with(soup.new_string("\u2029".join(lines)))
    # Line breaks in the HTML source mean nothing: only element boundaries (marked here) end a line.
    text = soup.get_text(separator="\u2029")
    blocks = []
    for line in text.split("\u2029"):
        line = re.sub(r"\s+", " ", _clean(line)).strip()
        level = int(line[1]) if line.startswith(_HEADING_MARK) else None
        # A heading inside a table cell or a paragraph is read as part of it, its mark dropped.
        blocks.append((_HEADING_MARKS.sub("", line).strip(), level))
    # Block elements become one line each; a blank line between them keeps paragraphs apart for the splitter.
    text, headings = join_blocks(blocks)
    return [Page(text, headings=headings)]


_HTML_HEADING = re.compile(r"^h[1-6]$")
_HEADING_MARK = "\ue000"  # a private-use character: no document's text holds it
_HEADING_MARKS = re.compile(_HEADING_MARK + r"\d")


def load_pdf(path: Path, data: bytes, limits: LoadLimits) -> list[Page]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        # Many PDFs carry only an owner password (printing/copy restrictions) and open with "".
        try:
            opened = reader.decrypt("")
        except Exception as exc:  # pypdf raises several types for unsupported encryption
            raise DocumentLoadError(str(path), f"encrypted PDF that cannot be opened ({type(exc).__name__}: {exc})") from exc
        if not opened:
            raise DocumentLoadError(str(path), "encrypted PDF: a password is required")
    bookmarks = _bookmarks_by_page(reader)
    texts, drawn, chars = [], [], 0
    for page in reader.pages:
        # Where the page draws its text (a second pass over it): for a table's rows, and for the headings its type
        # shows where the PDF has no bookmarks.
        page_drawn = None if bookmarks else _drawn_text(page)
        text = _page_text(page, page_drawn)
        chars += len(_LAYOUT_PADDING.sub(" ", text))  # the characters of the text, not the layout's spacing
        if chars > limits.max_chars:
            raise DocumentLoadError(str(path), f"more than {limits.max_chars:,} characters of text (limit max_document_chars)")
        texts.append(text)
        drawn.append(page_drawn or [])
    # The author's outline where the PDF has one; else the headings its type shows (a browser's print has none).
    titles = bookmarks or dict(enumerate(headings_by_size(drawn)))
    pages = []
    for number, text in enumerate(clean_pdf_pages(texts), 1):
        text = _clean(text)
        pages.append(Page(text, number, located_headings(text, titles.get(number - 1, []))))
    if not any(p.text.strip() for p in pages):
        raise DocumentLoadError(str(path), "PDF has no extractable text (a scanned PDF needs OCR, which is not supported)")
    return pages


_LAYOUT_PADDING = re.compile(r" {2,}")


def _bookmarks_by_page(reader) -> dict[int, list[tuple[int, str]]]:
    """The PDF's bookmarks (its outline, as Word, LaTeX or a browser export it) as (level, title) per 0-based
    page index. A PDF without them, or with an outline pypdf cannot follow, has none: the text is still read."""
    found: dict[int, list[tuple[int, str]]] = {}

    def walk(items: list, level: int) -> None:
        for item in items:
            if isinstance(item, list):  # the children of the item before it
                walk(item, level + 1)
                continue
            page = reader.get_destination_page_number(item)
            title = str(getattr(item, "title", "") or "").strip()
            if page is not None and page >= 0 and title:
                found.setdefault(page, []).append((level, title))

    try:
        walk(reader.outline, 1)
    except Exception as exc:  # a malformed outline is no reason to lose the document's text
        log.warning("PDF outline not read (%s: %s)", type(exc).__name__, exc)
        return {}
    return found


def _page_text(page, drawn: list[DrawnText] | None) -> str:
    """The page's text laid out as on the page (table cells apart, blank lines between paragraphs, a table row whose
    cells wrapped on one line), which `clean_pdf_pages` reads; the plain text where the page sets prose in two
    columns or layout fails. `drawn`: the page's runs of text where it draws them; None: read where needed."""
    try:
        layout = page.extract_text(extraction_mode="layout")
    except Exception:  # layout mode is younger than plain extraction; a page it cannot lay out is still read
        layout = ""
    if layout.strip() and not is_two_column(layout):
        return rows_on_one_line(layout, _drawn_text(page) if drawn is None else drawn) if has_wrapped_cells(layout) else layout
    return page.extract_text() or ""


def _drawn_text(page) -> list[DrawnText]:
    """The page's runs of text where it draws them and in their type size, in the order it draws them; none where
    pypdf cannot say."""
    drawn = []

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if not text.strip():
            return
        # The text matrix then the current one, as pypdf gives them (row vectors): where the run starts on the page,
        # and how much the two matrices scale its font size.
        a, b = tm[0] * cm[0] + tm[1] * cm[2], tm[0] * cm[1] + tm[1] * cm[3]
        c, d = tm[2] * cm[0] + tm[3] * cm[2], tm[2] * cm[1] + tm[3] * cm[3]
        run = DrawnText(tm[4] * cm[0] + tm[5] * cm[2] + cm[4], tm[4] * cm[1] + tm[5] * cm[3] + cm[5], text,
                        abs(size) * abs(a * d - b * c) ** 0.5)
        if math.isfinite(run.x) and math.isfinite(run.y) and math.isfinite(run.size):  # a malformed matrix places nothing
            drawn.append(run)

    try:
        page.extract_text(visitor_text=visit)
    except Exception as exc:  # the layout text is read as it is, without headings from the type
        log.debug("PDF text positions not read (%s: %s)", type(exc).__name__, exc)
        return []
    return drawn


def check_zip(path: Path, data: bytes, limits: LoadLimits) -> None:
    """Refuse a zip container whose members would unpack too large or too fast (a zip bomb)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
    unpacked = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members)
    if unpacked > limits.max_unpacked_bytes:
        raise DocumentLoadError(
            str(path), f"unpacks to {unpacked / MiB:.0f} MiB, over the {limits.max_unpacked_bytes / MiB:.0f} MiB limit (max_unpacked_mb)"
        )
    if packed and unpacked / packed > limits.max_compression_ratio:
        raise DocumentLoadError(
            str(path), f"compression ratio {unpacked / packed:.0f}:1 is over the limit of "
            f"{limits.max_compression_ratio:.0f}:1 (max_compression_ratio); likely a zip bomb"
        )


def load_docx(path: Path, data: bytes, limits: LoadLimits) -> list[Page]:
    from docx import Document

    try:
        check_zip(path, data, limits)
    except zipfile.BadZipFile as exc:
        raise DocumentLoadError(str(path), f"corrupt or unreadable DOCX (BadZipFile: {exc})") from exc
    document = Document(io.BytesIO(data))
    blocks, chars = [], 0
    for block, level in _docx_blocks(document):
        chars += len(block)
        if chars > limits.max_chars:
            raise DocumentLoadError(str(path), f"more than {limits.max_chars:,} characters of text (limit max_document_chars)")
        blocks.append((_clean(block), level))
    text, headings = join_blocks(blocks)
    return [Page(text, headings=headings)]


# Word's built-in heading styles ("Heading 2"; "Title" is above them all), in English or as Chinese Word names them.
_DOCX_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.IGNORECASE)


def _docx_heading_level(paragraph) -> int | None:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name.lower() in ("title", "标题"):
        return 0
    match = _DOCX_HEADING_STYLE.match(name.strip())
    return int(match.group(1)) if match else None


def _docx_blocks(document) -> Iterator[tuple[str, int | None]]:
    """Paragraphs (with their heading level, if any) and tables in the order the document has them (a table
    under its heading, not after the last paragraph); a table row's cells joined as the HTML loader joins them."""
    from docx.table import Table

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells = [cell.text.strip() for cell in row.cells]
                if any(cells):
                    yield " | ".join(cells), None
        elif block.text.strip():
            yield block.text, _docx_heading_level(block)


LOADERS: dict[str, Loader] = {
    ".txt": load_text,
    ".text": load_text,
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".html": load_html,
    ".htm": load_html,
    ".pdf": load_pdf,
    ".docx": load_docx,
}
# What a parser's failure says about the file, for exceptions whose own message would mean little.
_KIND = {".pdf": "PDF", ".docx": "DOCX", ".html": "HTML", ".htm": "HTML"}


def _with_outline(page: Page) -> Page:
    """The page's text cleaned; where its format marked no headings, its numbered chapters as headings. A
    loader that marks headings cleans its text itself, so that their offsets hold."""
    if page.headings:
        return page
    text = _clean(page.text)
    return Page(text, page.number, numbered_division_headings(text))


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def load_document(path: Path, data: bytes, limits: LoadLimits | None = None) -> list[Page]:
    """Turn a file's bytes into pages.

    Args:
        path: the file's path (its suffix picks the loader; it is named in errors).
        data: the file's bytes, read once by the caller, who also hashes them.
        limits: size bounds (defaults: LoadLimits()).

    Returns:
        Pages with text; at least one page has non-blank text.

    Raises:
        DocumentLoadError: unsupported type, empty, too large, binary, corrupt, encrypted or text-less file,
            or any failure inside a parser.
    """
    limits = limits or LoadLimits()
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise DocumentLoadError(str(path), f"unsupported file type {path.suffix or '(none)'}")
    if len(data) > limits.max_file_bytes:
        raise DocumentLoadError(str(path), f"file is {len(data) / MiB:.0f} MiB, over the {limits.max_file_bytes / MiB:.0f} MiB limit (max_file_mb)")
    if not data.strip():
        raise DocumentLoadError(str(path), "file is empty")
    if loader is load_text and len(data) > 4 * limits.max_chars:
        raise DocumentLoadError(str(path), f"more than {limits.max_chars:,} characters of text (limit max_document_chars)")
    try:
        pages = [_with_outline(p) for p in loader(path, data, limits)]
    except DocumentLoadError:
        raise
    except MemoryError as exc:
        raise DocumentLoadError(str(path), "parsing it ran out of memory (limit load_memory_mb)") from exc
    except RecursionError as exc:
        raise DocumentLoadError(str(path), "structure nested too deeply to parse") from exc
    except Exception as exc:  # any parser's failure on a bad file is that file's failure, not the ingest's
        kind = _KIND.get(path.suffix.lower(), "file")
        detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise DocumentLoadError(str(path), f"corrupt or unreadable {kind} ({detail})") from exc
    total = sum(len(p.text) for p in pages)
    if total > limits.max_chars:
        raise DocumentLoadError(str(path), f"more than {limits.max_chars:,} characters of text (limit max_document_chars)")
    if not any(page.text.strip() for page in pages):
        raise DocumentLoadError(str(path), "no text found in the file")
    return pages
