"""A PDF's extracted text made into the text its author wrote: running headers, footers and page numbers
dropped, lines that the page width wrapped joined again.

A PDF holds positioned lines, not paragraphs. Left as extracted, a Chinese word broken at a line end
("柜\\n体背面", "有限质\\n保") is two words to the keyword index and the sentence splitter, and a footer
("储能电池柜 ES-10 说明书 — 3 —") sits in every page's last chunk, where it matches every question about the
product. Only what the page layout added is undone: a table row (its cells separated by spaces) and a
line that ends a sentence keep their line break.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from typing import Sequence

# Lines at each end of a page searched for running headers and footers.
EDGE_LINES = 3
# Share of a document's pages on which a line must recur, at the same end, to be a running header or footer.
RUNNING_SHARE = 0.6
# A line at least this share of the page's usual full line width was wrapped by the layout, not ended by
# its author (a paragraph's last line, a heading or a table row is shorter).
FULL_LINE_SHARE = 0.8
# Lines shorter than this many display columns say nothing about the page's line width.
MIN_MEASURED_WIDTH = 8

# A line that starts a numbered or bulleted item, an article or a heading starts a new paragraph.
_ITEM_START = re.compile(
    r"^\s*(?:[•·▪●○■□◆◇►▶\-–—*]\s"
    r"|\(?\d{1,3}(?:\.\d{1,3})*[.)、]\s?"
    r"|[(（][一二三四五六七八九十\d]{1,3}[)）]"
    r"|[一二三四五六七八九十]{1,3}、"
    r"|第[一二三四五六七八九十百零〇\d]{1,5}[条章节款编部分])"
)
_CJK_SPACE_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]\s+[\u3400-\u9fff\uf900-\ufaff]")
_NUMBERED_CHINESE_HEADING = re.compile(r"^\d{1,3}(?:\.\d{1,3})*\s+[\u3400-\u9fff]")
_HYPHENATED_END = re.compile(r"([A-Za-z]+)-$")
_LEADING_WORD = re.compile(r"^([a-z]+)")
_WORD = re.compile(r"[A-Za-z]+")
_SENTENCE_ENDS = (".", "!", "?", "。", "！", "？", "；", ";")
# Chinese punctuation inside a sentence: a line ending in one continues on the next line.
_CJK_CONTINUING_PUNCTUATION = "，、：（《“‘【"


def _is_cjk_ideograph(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


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
        counts.update({("top", _running_key(line)) for line in body[:EDGE_LINES]}
                      | {("bottom", _running_key(line)) for line in body[-EDGE_LINES:]})
    needed = max(2, math.ceil(RUNNING_SHARE * len(pages)))
    return {key for key, count in counts.items() if count >= needed and key[1]}


def _without_running_lines(lines: list[str], running: set[tuple[str, str]]) -> list[str]:
    body = [i for i, line in enumerate(lines) if line.strip()]
    drop = {i for i in body[:EDGE_LINES] if ("top", _running_key(lines[i])) in running}
    drop |= {i for i in body[-EDGE_LINES:] if ("bottom", _running_key(lines[i])) in running}
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
    if not left or not right or _ITEM_START.match(right):
        return None
    last, first = left[-1], right[0]
    if first.islower() and not left.endswith((".", "!", "?", "。", "！", "？")) and not _is_cjk_ideograph(last):
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
    if _is_cjk_ideograph(last) or last in _CJK_CONTINUING_PUNCTUATION:
        if not (_is_cjk_ideograph(first) or first.isdigit()) or _NUMBERED_CHINESE_HEADING.match(right):
            return None
        if _is_table_row(left) or _is_table_row(right):
            return None
        return left + right
    return None


def _reflowed(lines: list[str], words: set[str]) -> str:
    """The page's lines with the wrapped ones joined; a line its author ended (short, or ending a sentence)
    is a paragraph of its own (a blank line after it), so that a heading is not read as part of the sentence
    below it. A full line that could not be joined keeps a single line break."""
    full_width = _full_width(lines)
    out: list[str] = []
    for line in lines:
        if out:
            joined = _joined(out[-1], line, full_width, words)
            if joined is not None:
                out[-1] = joined
                continue
        out.append(line.rstrip())
    out = [line for line in out if line.strip()]
    text = ""
    for line, following in zip(out, out[1:] + [""]):
        text += line + ("" if not following else "\n\n" if _ended_by_its_author(line, full_width) else "\n")
    return text


def clean_pdf_pages(texts: Sequence[str]) -> list[str]:
    """Each page's text without the running headers and footers, its wrapped lines joined."""
    pages = [text.replace("\r\n", "\n").replace("\r", "\n").split("\n") for text in texts]
    running = _running_lines(pages)
    words = {w.lower() for text in texts for w in _WORD.findall(text)}
    return [_reflowed(_without_running_lines(lines, running), words) for lines in pages]
