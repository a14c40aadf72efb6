"""Split pages into chunks measured in the embedding model's tokens, keeping page and character offsets."""
from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Callable, Iterable

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.outline import Outline
from ingest.types import Chunk, Page
from rag.errors import ConfigError

# Paragraphs first, then lines, then sentence ends in Chinese and English, then clauses, then words.
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", "、", ", ", " ", ""]


def chunk_id(doc_id: str, page: int | None, start: int, text: str) -> str:
    digest = hashlib.sha256(f"{doc_id}\x00{page}\x00{start}\x00{text}".encode("utf-8"))
    return digest.hexdigest()[:32]


class TokenSplitter:
    """Recursive splitter whose length function is the embedding model's own token count."""

    def __init__(
        self,
        count_tokens: Callable[[str], int],
        chunk_tokens: int,
        overlap_tokens: int,
        max_model_tokens: int,
    ):
        if chunk_tokens > max_model_tokens:
            raise ConfigError(
                f"chunk_tokens must not exceed what the embedding model reads ({max_model_tokens} tokens). "
                f"Currently, chunk_tokens is {chunk_tokens}; text past the model's limit would never be embedded"
            )
        self.chunk_tokens = chunk_tokens
        self.overlap_tokens = overlap_tokens
        cached_count = lru_cache(maxsize=1 << 16)(count_tokens)

        def length(text: str) -> int:
            # Text with no separator falls through to single characters, each measured on its own: a
            # cache makes that linear (1 MB without spaces took 79 s uncached). Sums of per-character
            # counts over-estimate, so chunks stay within the limit.
            return cached_count(text) if len(text) <= 32 else count_tokens(text)

        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_tokens,
            chunk_overlap=overlap_tokens,
            length_function=length,
            separators=SEPARATORS,
            keep_separator="end",
            strip_whitespace=True,
        )

    def split(self, pages: Iterable[Page], doc_id: str, source: str) -> list[Chunk]:
        """Split every page; each chunk's [start, end) indexes its page's text exactly, and its section names
        the headings it stands under."""
        chunks: list[Chunk] = []
        outline = Outline()
        for page in pages:
            search_from, headings_read = 0, 0
            for piece in self._splitter.split_text(page.text):
                start = page.text.find(piece, search_from)
                if start < 0:  # the splitter only strips whitespace, so this means a bug, not bad input
                    raise AssertionError(f"chunk text not found in page {page.number} of {source}")
                end = start + len(piece)
                headings_read = outline.read_until(page.headings, start, headings_read)
                last = page.headings[headings_read - 1] if headings_read else None
                chunks.append(
                    Chunk(
                        chunk_id=chunk_id(doc_id, page.number, start, piece),
                        doc_id=doc_id,
                        source=source,
                        page=page.number,
                        start=start,
                        end=end,
                        text=piece,
                        section=outline.section(shown=last if last is not None and last.start == start else None),
                    )
                )
                # The next chunk overlaps this one, so it starts after this start but maybe before its end.
                search_from = start + 1
            outline.read_until(page.headings, len(page.text), headings_read)  # they hold on the next page
        return chunks
