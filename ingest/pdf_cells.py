"""Table rows whose cells wrapped over several lines, each set on one line of a PDF page's layout text.

A browser prints an HTML table with its cells centred vertically (the default of `<td>`): a one-line cell
beside a four-line one sits on the other's second line. pypdf's layout text keeps those places, so the lines
of a row interleave with the rows around it ("Night pictures   the camera closer to the trail." /
"are blurred Batteries run   Use Video mode…"), and no reading of the text alone tells which cell a line
belongs to; even top-aligned, a cell's line going on in capitals ('shows "CARD' / 'ERROR"') reads as a row of its
own. Where the text was drawn tells: each cell's lines are drawn one line step apart at one left edge, and the
cells of one row overlap vertically. Each such row becomes one layout line, each cell's lines joined at its
column, which `clean_pdf_pages` reads as a row of one line.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from rag.text import contains_cjk

# Two runs of text at most this far apart vertically (points) are on one line.
SAME_LINE = 0.5
# Two runs starting at most this far apart horizontally (points) start at one left edge.
SAME_EDGE = 1.0
# Share of the line step by which a cell's lines may be farther apart than the page's usual step: the space a
# table puts between rows (a cell's padding, the border spacing) is larger.
STEP_TOLERANCE = 0.08
# Chinese punctuation (、。「」…) and full-width forms (，：；（）…).
_CJK_PUNCTUATION_FROM, _CJK_PUNCTUATION_TO = "\u3000", "\u303f"
_FULL_WIDTH_FROM, _FULL_WIDTH_TO = "\uff00", "\uffef"
# Spaces between two cells in a rewritten line (`pdf_text.CELL_GAP` reads three or more as a cell boundary).
CELL_SPACES = 3


@dataclass(frozen=True)
class DrawnText:
    """A run of text as the page draws it: where it starts (x) and its baseline (y, up the page), and its type
    size, in points (0 where unknown)."""
    x: float
    y: float
    text: str
    size: float = 0.0


@dataclass
class _Cell:
    x: float
    lines: list[DrawnText]

    @property
    def top(self) -> float:
        return self.lines[0].y

    @property
    def bottom(self) -> float:
        return self.lines[-1].y


def rows_on_one_line(layout: str, drawn: Sequence[DrawnText]) -> str:
    """The page's layout text with each table row whose cells wrapped over several lines set on one line.
    `drawn`: the page's runs of text in the order the page draws them. A row whose lines cannot all be found in
    the layout text, or whose lines there hold other text too, is left as it is."""
    lines = drawn_lines(drawn, layout)
    step = _line_step(lines)
    if step is None:
        return layout
    layout_lines = layout.split("\n")
    cursor = 0
    for row in _rows(_cells(lines, step), step):
        block = _block_of(row, layout_lines, cursor)
        if block is None:
            continue
        first, last, columns = block
        cursor = last + 1
        if all(len(cell.lines) == 1 for cell in row):
            continue  # a row of one line: the layout text reads it
        layout_lines[first:last + 1] = [_row_as_one_line(row, columns)]
        cursor = first + 1
    return "\n".join(layout_lines)


def drawn_lines(drawn: Sequence[DrawnText], layout: str | None = None) -> list[DrawnText]:
    """The runs as lines of text, each at its first run's start and in its size: runs drawn one after another on
    one line become one (a bold word in a sentence, a page number between dashes). Given the page's layout text,
    only where it shows them as one piece of text (fewer than CELL_SPACES spaces apart): runs a cell gap apart
    stay apart."""
    lines: list[DrawnText] = []
    for run in drawn:
        text = " ".join(run.text.split())
        if not text:
            continue
        if lines and abs(run.y - lines[-1].y) <= SAME_LINE and run.x > lines[-1].x:
            previous = lines[-1]
            if layout is None:
                together = f"{previous.text} {text}"
            else:
                together = next((previous.text + " " * n + text for n in range(CELL_SPACES)
                                 if previous.text + " " * n + text in layout), None)
            if together is not None:
                lines[-1] = DrawnText(previous.x, previous.y, together, previous.size)
                continue
        lines.append(DrawnText(run.x, run.y, text, run.size))
    return lines


def _line_step(lines: Sequence[DrawnText]) -> float | None:
    """The page's usual distance between two lines drawn one after another at one left edge; None where no two are."""
    gaps = Counter(round(a.y - b.y, 1) for a, b in zip(lines, lines[1:]) if abs(a.x - b.x) <= SAME_EDGE and a.y - b.y > SAME_LINE)
    return gaps.most_common(1)[0][0] if gaps else None


def _cells(lines: Sequence[DrawnText], step: float) -> list[_Cell]:
    """Lines drawn one after another at one left edge, one line step apart, as one cell (or paragraph)."""
    cells: list[_Cell] = []
    for line in lines:
        if cells:
            cell = cells[-1]
            if abs(line.x - cell.x) <= SAME_EDGE and abs(cell.bottom - line.y - step) <= STEP_TOLERANCE * step:
                cell.lines.append(line)
                continue
        cells.append(_Cell(line.x, [line]))
    return cells


def _rows(cells: Sequence[_Cell], step: float) -> list[list[_Cell]]:
    """Cells side by side whose lines overlap vertically, top row first, each row's cells left to right; only rows
    of two cells or more at different left edges."""
    rows: list[list[_Cell]] = []
    for cell in sorted(cells, key=lambda c: -c.top):
        row = rows[-1] if rows else None
        if row and cell.top > min(c.bottom for c in row) - step / 2:
            row.append(cell)
        else:
            rows.append([cell])
    side_by_side = []
    for row in rows:
        edges = sorted({round(c.x) for c in row})
        if len(row) >= 2 and len(edges) == len(row):
            side_by_side.append(sorted(row, key=lambda c: c.x))
    return side_by_side


def _block_of(row: Sequence[_Cell], layout_lines: list[str], cursor: int) -> tuple[int, int, list[int]] | None:
    """(first, last) layout line of the row and each cell's column there, where every line of every cell is found on
    consecutive layout lines from `cursor` on and those lines hold nothing else; None otherwise."""
    unclaimed = {}  # layout line index -> its text with the cells' lines found so far blanked out
    columns = []
    for cell in row:
        index = None
        for number, line in enumerate(cell.lines):
            wanted = re.compile(r"(?<!\S)" + re.escape(line.text) + r"(?!\S)")
            candidates = range(cursor, len(layout_lines)) if index is None else (index + 1,)
            place = next(((i, m) for i in candidates if i < len(layout_lines)
                          for m in [wanted.search(unclaimed.get(i, layout_lines[i]))] if m), None)
            if place is None:
                return None
            index, match = place
            text = unclaimed.get(index, layout_lines[index])
            unclaimed[index] = text[:match.start()] + " " * len(line.text) + text[match.end():]
            if number == 0:
                columns.append(match.start())
    first, last = min(unclaimed), max(unclaimed)
    if any(unclaimed.get(i, layout_lines[i]).strip() for i in range(first, last + 1)):
        return None  # other text on these lines: not only this row
    return first, last, columns


def _row_as_one_line(row: Sequence[_Cell], columns: Sequence[int]) -> str:
    """The row as one layout line: each cell's lines joined, at its column or CELL_SPACES after the cell before."""
    text = ""
    for cell, column in zip(row, columns):
        cell_text = cell.lines[0].text
        for line in cell.lines[1:]:
            cell_text += _joiner(cell_text, line.text) + line.text
        text += " " * (max(column - len(text), CELL_SPACES) if text else column) + cell_text
    return text


def _joiner(text: str, more: str) -> str:
    """What goes between a cell's line and the next: nothing inside Chinese text ("…放在平整地面上，" / "清除…") or after
    a hyphen before a word going on in lower case ("Cups not pre-" / "warmed"); else a space."""
    last = text[-1]
    if contains_cjk(more[0]) and (contains_cjk(last) or _CJK_PUNCTUATION_FROM <= last <= _CJK_PUNCTUATION_TO
                                  or _FULL_WIDTH_FROM <= last <= _FULL_WIDTH_TO):
        return ""
    return "" if last == "-" and more[0].islower() else " "
