"""A document's outline: the headings its format marks, and the section a chunk stands under."""
from __future__ import annotations

import re
from typing import Iterable, Sequence

from ingest.types import Heading
from rag.text import CJK_CHARS

# An ATX heading line ("## 3. Lights"); a line inside a fenced code block is code, not a heading.
_MARKDOWN_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
# Formats that mark no headings (plain text, PDF) still number a law's or a book's divisions on lines of their
# own: "第三章 养犬行为规范", "Chapter 4 Deposits". An article (第五条) is no heading: it is the text itself.
_CHINESE_DIVISION = re.compile(r"^[ \t\u3000]*第[一二三四五六七八九十百零〇两\d]{1,5}([编章节])(?:[ \t\u3000]+\S.{0,40})?$")
_CHINESE_LEVEL = {"编": 1, "章": 2, "节": 3}
# A Chinese manual's or report's numbered part ("四、CK-7 智能控制柜"): short, and no sentence (a list item of
# the same form ends with "。" or "；").
_CHINESE_PART = re.compile(r"^[ \t\u3000]*[一二三四五六七八九十]{1,3}、[^。；;]{1,30}$")
_ENGLISH_DIVISION = re.compile(r"^[ \t]*(part|chapter)[ \t]+([ivxlc]+|\d{1,3})\b[.:]?(?:[ \t]+\S.{0,60})?$", re.IGNORECASE)
_ENGLISH_LEVEL = {"part": 1, "chapter": 2}
_BREAK_IN_CHINESE = re.compile(f"(?<=[{CJK_CHARS}])[ \t]*\n\\s*(?=[{CJK_CHARS}])")
# The section's headings go in front of the chunk's text when it is embedded, so they must leave the embedding
# model room for the chunk: the innermost headings are kept within this many characters.
MAX_SECTION_CHARS = 100


def _lines_with_offsets(text: str) -> Iterable[tuple[int, str]]:
    offset = 0
    for line in text.split("\n"):
        yield offset, line
        offset += len(line) + 1


def markdown_headings(text: str) -> tuple[Heading, ...]:
    headings, in_code = [], False
    for offset, line in _lines_with_offsets(text):
        if _FENCE.match(line):
            in_code = not in_code
            continue
        # A heading is a short line; on a long one of spaces and "#" the pattern would take quadratic time.
        match = None if in_code or len(line) > 300 else _MARKDOWN_HEADING.match(line)
        if match:
            headings.append(Heading(offset, len(match.group(1)), match.group(2).strip()))
    return tuple(headings)


def numbered_division_headings(text: str) -> tuple[Heading, ...]:
    """Chapter and part lines of a text whose format marks no headings."""
    headings = []
    for offset, line in _lines_with_offsets(text):
        if len(line) > 80:
            continue
        start = offset + len(line) - len(line.lstrip())  # where a chunk that begins with the heading begins
        if match := _CHINESE_DIVISION.match(line):
            headings.append(Heading(start, _CHINESE_LEVEL[match.group(1)], line.strip()))
        elif _CHINESE_PART.match(line):
            headings.append(Heading(start, 2, line.strip()))
        elif match := _ENGLISH_DIVISION.match(line):
            headings.append(Heading(start, _ENGLISH_LEVEL[match.group(1).lower()], line.strip()))
    return tuple(headings)


def located_headings(text: str, titles: Sequence[tuple[int, str]]) -> tuple[Heading, ...]:
    """Headings known by their level and title only (a PDF's bookmarks of a page), where the text shows them, in
    order; the layout may space or break a title differently, and a title the text does not show is left out."""
    headings, search_from = [], 0
    for level, title in titles:
        letters = [re.escape(c) for c in title[:MAX_SECTION_CHARS] if not c.isspace()]
        match = re.compile(r"\s*".join(letters)).search(text, search_from) if letters else None
        if match:
            # As the page writes it: a bookmark's title can lose the space where the heading wrapped; a Chinese
            # title wrapped has no space there ("…员工考勤" / "与休假管理办法").
            written = " ".join(_BREAK_IN_CHINESE.sub("", match.group(0)).split())
            headings.append(Heading(match.start(), level, written))
            search_from = match.end()
    return tuple(headings)


def join_blocks(blocks: Iterable[tuple[str, int | None]]) -> tuple[str, tuple[Heading, ...]]:
    """Blocks (text, heading level or None) as one page's text, a blank line apart, with their headings."""
    parts, headings, offset = [], [], 0
    for text, level in blocks:
        if not text:
            continue
        if parts:
            offset += 2
        if level is not None:
            headings.append(Heading(offset, level, text))
        parts.append(text)
        offset += len(text)
    return "\n\n".join(parts), tuple(headings)


class Outline:
    """The headings in effect as a document is read front to back, page after page: a heading holds until one
    of its own level or above comes."""

    def __init__(self) -> None:
        self._open: list[Heading] = []

    def read_until(self, headings: Sequence[Heading], start: int, done: int) -> int:
        """Open the headings of `headings[done:]` that begin at or before `start`; returns how many are now
        read. A heading at `start` closes the sections it ends, though the chunk shows it itself."""
        while done < len(headings) and headings[done].start <= start:
            heading = headings[done]
            while self._open and self._open[-1].level >= heading.level:
                self._open.pop()
            self._open.append(heading)
            done += 1
        return done

    def section(self, shown: Heading | None = None) -> str:
        """The open headings but `shown` (the one a chunk begins with), outermost first, as many innermost
        ones as fit in MAX_SECTION_CHARS."""
        kept: list[str] = []
        for heading in reversed(self._open):
            if heading is shown:
                continue
            text = " ".join(heading.text.split())
            if kept and len(text) + sum(len(k) + 3 for k in kept) > MAX_SECTION_CHARS:
                break
            kept.insert(0, text[:MAX_SECTION_CHARS])
        return " > ".join(kept)
