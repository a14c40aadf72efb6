"""Typed records that the ingest stages hand to each other and to the store."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Heading:
    """A heading of a document's outline, where it stands in its page's text."""

    start: int  # character offset of the heading line in the page's text
    level: int  # 1 = the document's title or a top-level chapter; deeper sections count up
    text: str


@dataclass(frozen=True)
class Page:
    """Text of one page of a document (PDF), or of the whole document (other formats)."""

    text: str
    number: int | None = None  # 1-based PDF page number; None when the format has no pages
    headings: tuple[Heading, ...] = ()  # in text order; empty where the format marks no headings


@dataclass(frozen=True)
class Chunk:
    """A piece of one page's text, small enough for the embedding model to read whole."""

    chunk_id: str  # content hash: same document, page, offsets and text give the same id
    doc_id: str
    source: str
    page: int | None
    start: int  # character offset of the chunk in its page's text
    end: int
    text: str
    section: str = ""  # the headings the chunk stands under ("Manual > 3. Lights"), outermost first

    def text_in_context(self) -> str:
        """The text as embedded: under its section's headings, so that a passage that does not repeat its
        subject ("Connect the blue WAN port…" under "Getting started") is still found by it."""
        return f"{self.section}\n\n{self.text}" if self.section else self.text


@dataclass(frozen=True)
class SourceFile:
    """A file found by the walk, with what is needed to decide whether it changed."""

    path: str  # absolute, resolved
    size: int
    mtime: float
    content_hash: str  # sha256 of the bytes


@dataclass(frozen=True)
class IngestProgress:
    """Where a running ingest is, for progress bars and log lines."""

    files_done: int
    files_total: int
    chunks_added: int
    path: str  # the file being handled
    stage: str  # load | split | embed | index | commit
    elapsed_s: float

    @property
    def files_per_s(self) -> float:
        return self.files_done / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class IngestReport:
    """What one ingest run did; the CLI prints it and the API returns it."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): unsupported type
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): could not be read
    chunks_added: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)  # load / split / embed / index

    def summary(self) -> str:
        return (
            f"added {len(self.added)}, updated {len(self.updated)}, unchanged {len(self.unchanged)}, "
            f"removed {len(self.removed)}, skipped {len(self.skipped)}, failed {len(self.failed)} files; "
            f"chunks +{self.chunks_added} -{self.chunks_removed}; {self.seconds:.1f} s"
        )
