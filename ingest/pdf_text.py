"""A PDF's extracted text made into the text its author wrote: running headers, footers and page numbers
dropped, lines that the page width wrapped joined again, table rows' cells separated.

A PDF holds positioned lines, not paragraphs or tables. Left as extracted, a Chinese word broken at a line
end ("柜\\n体背面", "有限质\\n保") is two words to the keyword index and the sentence splitter; a footer
("储能电池柜 ES-10 说明书 — 3 —") sits in every page's last chunk, where it matches every question about the
product; and a table row is its cells run together ("Vehicle tachograph data 2 years recording date"), or
split over lines where a cell wrapped. The input is pypdf's layout text, which keeps the page's spacing:
a gap of CELL_GAP spaces separates cells, and a blank line separates paragraphs. The output writes a row
as "cell | cell", like the HTML and DOCX loaders, so that the answer's checks read rows the same way
whatever the format.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from typing import Sequence

from rag.text import CJK_CHARS, contains_cjk

# Lines at each end of a page searched for running headers and footers.
EDGE_LINES = 3
# Share of a document's pages on which a line must recur, at the same end, to be a running header or footer.
RUNNING_SHARE = 0.6
# A line at least this share of the page's usual full line width was wrapped by the layout, not ended by
# its author (a paragraph's last line, a heading or a table row is shorter).
FULL_LINE_SHARE = 0.8
# Lines shorter than this many display columns say nothing about the page's line width.
MIN_MEASURED_WIDTH = 8
# Spaces in a layout line that separate two table cells (words of a justified line are 1 or 2 apart).
CELL_GAP = 3
# Each half of a two-column page's line is at least this share of the page's width; table cells are mostly
# narrower.
TWO_COLUMN_MIN_SHARE = 0.3

# A line that starts a numbered or bulleted item, an article or a heading starts a new paragraph.
_ITEM_START = re.compile(
    r"^\s*(?:[•·▪●○■□◆◇►▶\-–—*]\s"
    r"|\(?\d{1,3}(?:\.\d{1,3})*[.)、]\s?"
    r"|[(（][一二三四五六七八九十\d]{1,3}[)）]"
    r"|[一二三四五六七八九十]{1,3}、"
    r"|第[一二三四五六七八九十百零〇\d]{1,5}[条章节款编部分])"
)
_CELL = re.compile(r"\S+(?: {1,%d}\S+)*" % (CELL_GAP - 1))
_CJK_SPACE_CJK = re.compile(f"[{CJK_CHARS}]\\s+[{CJK_CHARS}]")
_NUMBERED_CHINESE_HEADING = re.compile(f"^\\d{{1,3}}(?:\\.\\d{{1,3}})*\\s+[{CJK_CHARS}]")
_HYPHENATED_END = re.compile(r"([A-Za-z]+)-$")
_LEADING_WORD = re.compile(r"^([a-z]+)")
_WORD = re.compile(r"[A-Za-z]+")
_FULL_STOPS = (".", "!", "?", "。", "！", "？")
_SENTENCE_ENDS = _FULL_STOPS + ("；", ";")
# Chinese punctuation inside a sentence: a line ending in one continues on the next line.
_CJK_CONTINUING_PUNCTUATION = "，、：（《“‘【"
# A word no phrase ends on (an article, a preposition wanting its object, a conjunction, an auxiliary verb), or a
# comma: a line or a table cell ending on one was wrapped ("…fire pits provided by the" / "County.", "…try another
# card of" / "Class 10.", "…burned around" / "180,000 litres", "Its chair," / "Mairi Stewart, said").
_JOINING_WORD_END = re.compile(r"\b(?:a|an|the|of|to|for|from|with|by|at|into|onto|than|and|or|nor|between|per|via|about|around"
                               r"|within|during|including|across|through|towards?|against|among|upon|because|unless|whether"
                               r"|whose|is|are|was|were|be|been|will|shall|can|must|should|would|could|has|have|had)$|[,，、（《“]$")
# A name set over two lines ("…the Scottish Government's Zero Emission" / "Ferries Fund paid…", "…holders of the
# National" / "Entitlement Card"): a capitalised word inside the full line, and the next line starting with one.
_NAME_GOING_ON = re.compile(r"[A-Za-z]\s+[A-Z][a-z]+$")
_CAPITALISED_START = re.compile(r"^[A-Z][a-z]+\b")
_OPENING_QUOTES = "\"'“‘"
# A cell this long or longer can have been wrapped; a header's "Starts from" was not.
WRAPPED_CELL_CHARS = 24
_MONTHS = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
           r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)")
_MONTH_END = re.compile(rf"\b{_MONTHS}\.?$")
_DATE_PREPOSITION_END = re.compile(r"\b(?:on|in|since|until|before|after)$", re.IGNORECASE)
_MONTH_AND_DAY_START = re.compile(rf"^{_MONTHS}\.?\s+\d")
_DAY_END = re.compile(r"(?<![\d.,:])\b\d{1,2}$")  # "…Correspondent — 14" / "March 2026"
_MONTH_START = re.compile(rf"^{_MONTHS}\b")
# A list's bullets, as a word processor sets them: a glyph, a gap, the item.
_BULLETS = frozenset("•·▪●○■□◆◇►▶‣⁃-–—*")
# A table row's first cell that is only a heading's number ("第一章  总则", "3.2   Memory card"): a heading, not a row.
_NUMBER_LABEL = re.compile(r"^(?:第[一二三四五六七八九十百零〇\d]{1,5}[章节编部分篇]|\d{1,3}(?:\.\d{1,3})+\.?|\d{1,3}\.|[一二三四五六七八九十]{1,3}、)$")


# Typesetting that is not text: ligatures ("ﬁ" in "conﬁguration", which no tokenizer reads as "fi") and
# soft hyphens (a possible break, not a character).
_TYPESETTING = {**{code: unicodedata.normalize("NFKC", chr(code)) for code in range(0xFB00, 0xFB07)}, 0x00AD: None}


def _display_width(line: str) -> int:
    """Columns a line takes on the page: a CJK character is as wide as two Latin ones."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def _running_key(line: str) -> str:
    """A header or footer's text with its page number taken out ("— 3 —" and "— 4 —" are one footer)."""
    return re.sub(r"\s+", " ", re.sub(r"\d+", "#", line)).strip()


def _running_lines(pages: Sequence[list[str]]) -> set[tuple[str, str]]:
    """(end, key) of the lines that recur at the same end (top or bottom) of most pages."""
    if len(pages) < 2:
        return set()
    counts: Counter[tuple[str, str]] = Counter()
    for lines in pages:
        body = [line for line in lines if line.strip()]
        if len(body) < 2:
            continue  # a page of one line is its text, not a header over nothing
        counts.update({("top", _running_key(line)) for line in body[:EDGE_LINES]}
                      | {("bottom", _running_key(line)) for line in body[-EDGE_LINES:]})
    needed = max(2, math.ceil(RUNNING_SHARE * len(pages)))
    return {key for key, count in counts.items() if count >= needed and key[1]}


def _without_running_lines(lines: list[str], running: set[tuple[str, str]]) -> list[str]:
    body = [i for i, line in enumerate(lines) if line.strip()]
    drop = {i for i in body[:EDGE_LINES] if ("top", _running_key(lines[i])) in running}
    drop |= {i for i in body[-EDGE_LINES:] if ("bottom", _running_key(lines[i])) in running}
    if len(drop) == len(body):
        return lines  # a page holding only lines that recur elsewhere keeps them: they are its text
    return [line for i, line in enumerate(lines) if i not in drop]


def _full_width(lines: list[str]) -> float:
    """The page's usual width of a full line (its 90th percentile), in display columns."""
    widths = sorted(w for w in (_display_width(line.strip()) for line in lines) if w >= MIN_MEASURED_WIDTH)
    if not widths:
        return math.inf
    return widths[min(len(widths) - 1, int(0.9 * len(widths)))]


def _is_table_row(line: str) -> bool:
    """Cells of a table row are separated by spaces, never the words of a Chinese sentence ("第一条 为了" is
    an article's number and its text)."""
    return bool(_CJK_SPACE_CJK.search(_ITEM_START.sub("", line, count=1)))


def _ended_by_its_author(line: str, full_width: float) -> bool:
    line = line.strip()
    return _display_width(line) < FULL_LINE_SHARE * full_width or line.endswith(_SENTENCE_ENDS) or _is_table_row(line)


def _joined(line: str, following: str, full_width: float, words: set[str]) -> str | None:
    """The two lines as one, when the page's width (or a table cell's) wrapped the first into the second;
    else None."""
    left, right = line.rstrip(), following.lstrip()
    if not left or not right or _ITEM_START.match(right) and not _date_cut(left, right):  # "…to September" / "30."
        return None
    last, first = left[-1], right[0]
    if first in _OPENING_QUOTES and right[1:2].islower():
        first = right[1]  # a quotation going on in lower case ("…at a vehicle ferry" / '"once we see how…"') goes on too
    if first.islower() and not left.endswith(_FULL_STOPS) and not contains_cjk(last):
        # An English line goes on in lower case only where it was wrapped, in a paragraph or in a table cell
        # ("Rated AC output" / "power 5,000 W"), whatever its width.
        hyphenated, leading = _HYPHENATED_END.search(left), _LEADING_WORD.match(right)
        if hyphenated and leading:
            # "re-" + "greased" is "regreased" where the document writes that word elsewhere; otherwise the
            # hyphen is the word's own ("cross-" + "cut").
            whole = (hyphenated.group(1) + leading.group(1)).lower()
            return left[:-1] + right if whole in words else left + right
        return left + " " + right
    if _display_width(left) < FULL_LINE_SHARE * full_width:
        return None  # the author ended this line (a paragraph's end, a heading, a short table row)
    cjk_figure_cut = last.isdigit() and contains_cjk(left.rstrip("0123456789.")[-1:]) and contains_cjk(first)  # 开车前5 / 分钟
    if contains_cjk(last) or last in _CJK_CONTINUING_PUNCTUATION or cjk_figure_cut:
        if not (contains_cjk(first) or first.isdigit()) or _NUMBERED_CHINESE_HEADING.match(right):
            return None
        if _is_table_row(left) or _is_table_row(right):
            return None
        return left + right
    # At a page break (no width) a name cannot be told from a heading in title case at the page's foot.
    name_going_on = full_width > 0 and _NAME_GOING_ON.search(left) and _CAPITALISED_START.match(right)
    if not left.endswith(_SENTENCE_ENDS + (":",)) and (_JOINING_WORD_END.search(left) or _date_cut(left, right) or name_going_on):
        # A full English line that cannot end there goes on, whatever case the next line starts in; a table row set
        # in plain text ("…expiry of the contract" / "Employee personnel files…") is full too, and ends on a word.
        return left + " " + right
    return None


def _date_cut(left: str, right: str) -> bool:
    """Whether a line break falls inside a date: "…from May 1 to September" / "30.", "Reservations open on" / "March 1",
    "…Transport Correspondent — 14" / "March 2026"."""
    return bool(_MONTH_END.search(left) and right[0].isdigit() or _DATE_PREPOSITION_END.search(left) and _MONTH_AND_DAY_START.match(right)
                or _DAY_END.search(left) and _MONTH_START.match(right))


def _cells(line: str) -> list[tuple[int, str]]:
    """(column, text) of each run of text in a layout line; a gap of CELL_GAP spaces or more separates two."""
    return [(m.start(), m.group()) for m in _CELL.finditer(line)]


def has_wrapped_cells(layout_text: str) -> bool:
    """Whether a page's layout text has a table row that may go on over lines: a line of two cells or more beside
    a line with a cell starting where one of its later cells does (a cell's next line, or a centred cell's line)."""
    lines = [[column for column, _ in _cells(line)] for line in layout_text.splitlines()]
    for above, below in zip(lines, lines[1:]):
        for row, other in ((above, below), (below, above)):
            if len(row) >= 2 and any(abs(column - start) <= 1 for column in row[1:] for start in other):
                return True
    return False


def is_two_column(layout_text: str) -> bool:
    """Whether a page's layout text sets prose in two columns side by side (a line holding a sentence's part
    on the left and another's on the right): such a page is read column by column from the plain text
    instead. Each line of two wide halves, the right one past the middle, counts for it; each line of prose
    across the middle counts against it (a one-column page with a table has many)."""
    lines = [line.rstrip() for line in layout_text.splitlines() if line.strip()]
    page_width = max((_display_width(line) for line in lines), default=0)
    if len(lines) < 5 or not page_width:
        return False
    side_by_side = across = 0
    for line in lines:
        cells = _cells(line)
        if len(cells) == 2:
            (_, left), (start, right) = cells
            if _display_width(left) >= TWO_COLUMN_MIN_SHARE * page_width and \
                    _display_width(line[:start]) >= 0.4 * page_width and _display_width(right) >= TWO_COLUMN_MIN_SHARE * page_width:
                side_by_side += 1
        elif len(cells) == 1 and _display_width(line.strip()) > 0.6 * page_width:
            across += 1
    return side_by_side >= 5 and side_by_side >= 3 * across


def _rows_and_lines(lines: list[str]) -> list[tuple[str, bool]]:
    """(text, is a table row) per line, blank lines kept as (""): a layout line with cells becomes one row
    ("Weight | 16.5 kg"), and the lines a wrapped cell runs on to ("Rated AC output | 5,000 W" over "power")
    are put back in their cells; other lines lose the layout's spacing."""
    out: list[tuple[str, bool]] = []
    row: list[tuple[int, str]] = []  # the table row being read: (column, cell text)
    for line in lines:
        cells = _cells(line)
        if len(cells) == 2 and (_NUMBER_LABEL.match(cells[0][1]) or cells[0][1] in _BULLETS):
            # A heading set with a wide gap after its number, a list item after its bullet: no table row.
            cells = [(cells[0][0], f"{cells[0][1]} {cells[1][1]}")]
        if cells and row and _continues_row(cells, row):
            for column, text in cells:  # into the nearest column's cell
                nearest = min(range(len(row)), key=lambda i: abs(row[i][0] - column))
                row[nearest] = (row[nearest][0], _joined_cell(row[nearest][1], text))
            continue
        if row:
            out.append((" | ".join(text for _, text in row), True))
        row = cells if len(cells) >= 2 else []
        if len(cells) < 2:
            out.append((re.sub(r"\s+", " ", line).strip(), False))  # "" for a blank line
    if row:
        out.append((" | ".join(text for _, text in row), True))
    return out


def _continues_row(cells: list[tuple[int, str]], row: list[tuple[int, str]]) -> bool:
    """Whether a layout line's cells are the table row's cells wrapped: the line has fewer cells than the row, or
    as many going on in lower case in each, or as many after a row with a cell that cannot end where it does
    ("…try another card of" / "Class 10."). A numbered heading or item at the table's left edge ("3. Getting
    started" right below the last row) starts what follows the table."""
    if len(cells) == 1 and cells[0][0] <= row[0][0] and _ITEM_START.match(cells[0][1]):
        return False
    if len(cells) < len(row):
        return True
    return len(cells) == len(row) and (all(text[0].islower() for _, text in cells)
                                       or any(_JOINING_WORD_END.search(text) and _display_width(text) >= WRAPPED_CELL_CHARS
                                              for _, text in row))


def _joined_cell(text: str, more: str) -> str:
    both_cjk = text and contains_cjk(text[-1]) and contains_cjk(more[0])
    return text + ("" if both_cjk else " ") + more


def _reflowed(lines: list[str], words: set[str]) -> str:
    """The page's lines with the wrapped ones joined and table rows' cells separated by " | ". A line its
    author ended (short, ending a sentence, before a blank line) ends a paragraph (a blank line after it),
    so that a heading is not read as part of the sentence below it; rows of one table are a line apart. A
    full line that could not be joined keeps a single line break."""
    entries = _rows_and_lines(lines)
    full_width = _full_width([text for text, is_row in entries if not is_row])
    out: list[tuple[str, bool, bool]] = []  # (text, is a row, a blank line before it)
    blank = False
    for text, is_row in entries:
        if not text:
            blank = True
            continue
        if out and not blank and not is_row and not out[-1][1]:
            joined = _joined(out[-1][0], text, full_width, words)
            if joined is not None:
                out[-1] = (joined, False, out[-1][2])
                continue
        out.append((text, is_row, blank))
        blank = False
    page = ""
    for i, (text, is_row, blank_before) in enumerate(out):
        if i:
            previous, previous_is_row = out[i - 1][0], out[i - 1][1]
            if blank_before or is_row != previous_is_row:
                page += "\n\n"
            elif is_row:
                page += "\n"
            else:
                page += "\n\n" if _ended_by_its_author(previous, full_width) else "\n"
        page += text
    return page


def _sentences_joined_over_page_breaks(pages: list[str], words: set[str]) -> list[str]:
    """Pages where a sentence that a page break cut ("…the certificates are kept for" / "5 years.") is whole on
    the page where it ends: its start moves there, so that the chunk holding the sentence holds all of it.
    The break is read as a wrapped line (`_joined`), whatever the line's width."""
    pages = list(pages)
    for i in range(len(pages) - 1):
        ending, following = pages[i], pages[i + 1]
        tail = re.split(r"(?<=[.!?;])\s+|(?<=[。！？；])", ending.rsplit("\n\n", 1)[-1])[-1]
        first_line = following.split("\n", 1)[0]
        if not tail.strip() or len(tail) == len(ending) or " | " in tail or " | " in first_line:
            continue
        joined = _joined(tail, first_line, 0, words)
        if joined is not None:
            pages[i] = ending[: len(ending) - len(tail)].rstrip()
            pages[i + 1] = joined + following[len(first_line):]
    return pages


def clean_pdf_pages(texts: Sequence[str]) -> list[str]:
    """Each page's text without the running headers and footers, its wrapped lines joined and its table rows'
    cells separated. `texts`: each page's text as pypdf's layout mode extracts it (or its plain mode, which
    gives no cells)."""
    texts = [text.translate(_TYPESETTING) for text in texts]
    pages = [text.replace("\r\n", "\n").replace("\r", "\n").split("\n") for text in texts]
    running = _running_lines(pages)
    words = {w.lower() for text in texts for w in _WORD.findall(text)}
    return _sentences_joined_over_page_breaks([_reflowed(_without_running_lines(lines, running), words) for lines in pages],
                                              words)
