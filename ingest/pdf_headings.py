"""A PDF's headings read from its type, where it has no bookmarks: lines set larger than its body text.

A browser prints a web page's `<h1>`–`<h6>` as larger type and writes no outline; so do many word processors'
exports. Without headings a chunk is embedded without the section it stands under, which is what finds the
placement sentence under "2. Getting started" for "How far off the ground should the router sit?". The body's
size is the one most of the document's characters are set in; each larger size a few short lines use is a
heading level, the largest the outermost.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from ingest.pdf_cells import DrawnText, drawn_lines

# A heading's type is at least this much larger than the body's (a browser's h4 is the body's size, bold).
HEADING_SCALE = 1.1
# A line this long or longer is prose, whatever its size.
MAX_HEADING_CHARS = 100
# Sizes used for more than this share of the document's characters are body text (a large-print document).
MAX_HEADING_SHARE = 0.2
# Levels of headings read; smaller sizes beyond them are not headings.
MAX_LEVELS = 6
# Two lines of one heading are at most this many times its size apart (a title wrapped over two lines).
WRAPPED_TITLE_STEP = 1.6


def headings_by_size(pages: Sequence[Sequence[DrawnText]]) -> list[list[tuple[int, str]]]:
    """Per page, its headings as (level, title), in the order drawn; a document whose text is all of one size, or
    whose runs carry no size, has none."""
    lines = [drawn_lines(drawn) for drawn in pages]
    characters = Counter()
    for page in lines:
        for line in page:
            characters[_size_of(line)] += len(line.text)
    if not characters:
        return [[] for _ in pages]
    body = characters.most_common(1)[0][0]
    total = sum(characters.values())
    sizes = sorted((size for size, count in characters.items()
                    if size >= body * HEADING_SCALE and count <= MAX_HEADING_SHARE * total), reverse=True)
    level_of = {size: level for level, size in enumerate(sizes[:MAX_LEVELS], 1)}
    out = []
    for page in lines:
        titles: list[tuple[int, str, DrawnText]] = []
        for line in page:
            level = level_of.get(_size_of(line))
            if level is None or len(line.text) >= MAX_HEADING_CHARS or sum(c.isalpha() for c in line.text) < 2:
                continue
            if titles and titles[-1][0] == level and 0 < titles[-1][2].y - line.y <= WRAPPED_TITLE_STEP * line.size:
                # The title's next line ("Vireo TrailCam X8 User" / "Guide").
                titles[-1] = (level, f"{titles[-1][1]} {line.text}", line)
                continue
            titles.append((level, line.text, line))
        out.append([(level, title) for level, title, _ in titles])
    return out


def _size_of(line: DrawnText) -> float:
    """The line's type size, to half a point: sizes a renderer computes differ in their last digits."""
    return round(line.size * 2) / 2
