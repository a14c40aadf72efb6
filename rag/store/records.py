"""What the store holds and hands out: documents, chunks, and the shape of a chunk given to it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SEGMENTS_DIR = "segments"  # segments/<seq>/{vectors.faiss, keyword/}
KEYWORD_DIR = "keyword"


@dataclass(frozen=True)
class DocumentRecord:
    source: str
    doc_id: str
    content_hash: str
    size: int
    mtime: float
    status: str  # "indexed" or "failed"
    error: str | None
    n_chunks: int
    ingested_at: float
    tags: str = ""  # comma-separated, set by `rag ingest --tag`


@dataclass(frozen=True)
class NewChunk:
    """A chunk as the writer takes it; the store assigns the row id. Any object with these fields will do
    (ingest hands its own Chunk)."""

    chunk_id: str
    doc_id: str
    source: str
    page: int | None
    start: int
    end: int
    text: str
    section: str = ""  # the headings the chunk stands under, outermost first ("" for none)


ChunkData = NewChunk


@dataclass(frozen=True, kw_only=True)
class ChunkRecord(NewChunk):
    """A stored chunk: its fields and the row id the store gave it."""

    row_id: int


@dataclass(frozen=True)
class Segment:
    """The chunks one commit (or one merge) added: a contiguous run of row ids, with its own keyword index
    and, for FAISS, its own vector file. Committed segments are never changed, only replaced by a merge."""

    seq: int
    first_row: int
    last_row: int
    rows: int  # rows written into the segment (tombstoned ones included until a merge drops them)
    vector_kind: str  # flat | hnsw | ivf | external (vectors held by an engine such as Milvus)

    @property
    def name(self) -> str:
        return f"{self.seq:08d}"


def segment_dir(root: Path, segment: Segment) -> Path:
    return root / SEGMENTS_DIR / segment.name
