"""The write side: one writer per KB directory, committing through the catalog.

A commit writes the new chunks' segment (vector file and keyword index) into its own folder, syncs it,
and then commits the catalog transaction that names it — the single step that makes the change visible.
Removing a document writes tombstones, not a copy of anything. Cost is proportional to what changed, not
to the KB; small segments are merged in the background of later commits (sizes grow geometrically, so
each row is rewritten O(log n) times) and `rag kb compact` merges everything.
"""
from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Sequence

import numpy as np

from rag.store.catalog import Catalog
from rag.store.durability import DirectoryLock, StepHook, fsync_dir, fsync_tree, no_step, writing
from rag.store.keyword import KeywordSegment
from rag.store.records import KEYWORD_DIR, SEGMENTS_DIR, ChunkData, DocumentRecord, Segment, segment_dir

if TYPE_CHECKING:
    from rag.store.knowledge_store import KnowledgeBaseStore

MAX_SEGMENTS = 12  # beyond this many, the newest two are merged even when sizes differ
DEFAULT_MAX_MERGE_ROWS = 200_000  # larger merges (minutes of HNSW building) wait for `rag kb compact`

__all__ = ["StepHook", "StoreWriter", "plan_merge"]


def plan_merge(segments: Sequence[Segment], max_rows: int) -> list[Segment] | None:
    """The newest two segments, when the newest is at least a quarter of the one before it (or there are
    too many segments) and the merge stays within `max_rows`; else None."""
    if len(segments) < 2:
        return None
    older, newer = segments[-2], segments[-1]
    if (newer.rows * 4 >= older.rows or len(segments) > MAX_SEGMENTS) and older.rows + newer.rows <= max_rows:
        return [older, newer]
    return None


class StoreWriter:
    """Changes to a KB, committed by `checkpoint()` (keeps writing) or `commit()` (ends).

    Use as a context manager; leaving it with an exception (or a killed process) loses only what was not
    yet committed.
    """

    def __init__(self, store: "KnowledgeBaseStore", on_step: StepHook | None = None, max_merge_rows: int | None = None):
        self._store = store
        self.root = store.root
        self._on_step = on_step or no_step
        self._lock = DirectoryLock(self.root)
        self._catalog: Catalog | None = None
        self._max_merge_rows = DEFAULT_MAX_MERGE_ROWS if max_merge_rows is None else max_merge_rows
        self._pending_ids: list[np.ndarray] = []
        self._pending_vectors: list[np.ndarray] = []
        self._pending_terms: list[list[str]] = []
        self._removed: list[np.ndarray] = []
        self._done = False

    def __enter__(self) -> "StoreWriter":
        self._lock.__enter__()
        try:
            with writing(self.root):
                self._catalog = Catalog(self.root, writable=True)
                self._discard_uncommitted()
                self._catalog.begin()
        except BaseException:
            self._abort()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and not self._done:
                self.commit()
        finally:
            if not self._done:
                self._abort()

    def _discard_uncommitted(self) -> None:
        """What a killed writer wrote but never committed: segment folders the catalog does not name."""
        segments = self._catalog.segments()
        named = {s.name for s in segments}
        for item in (self.root / SEGMENTS_DIR).iterdir():
            if item.name not in named:
                shutil.rmtree(item, ignore_errors=True) if item.is_dir() else item.unlink(missing_ok=True)
        self._store.vector_index.discard_uncommitted(segments, self._catalog.last_row_id())

    def _abort(self) -> None:
        try:
            if self._catalog is not None:
                try:
                    self._catalog.rollback()
                    self._discard_uncommitted()
                except Exception:  # the disk may be full or read-only: the next writer cleans up instead
                    pass
                self._catalog.close()
                self._catalog = None
        finally:
            self._done = True
            self._lock.__exit__()

    # -- changes ----------------------------------------------------------------------------------------
    def document(self, source: str) -> DocumentRecord | None:
        return self._catalog.document(source)

    def sources(self) -> list[str]:
        return self._catalog.sources()

    def remove_document(self, source: str) -> int:
        """Delete a document, its chunks and their vectors; returns the number of chunks removed."""
        with writing(self.root):
            removed = self._catalog.remove_document(source)
        self._removed.append(removed)
        return len(removed)

    def add_chunks(self, chunks: Sequence[ChunkData], vectors: np.ndarray, terms: Sequence[list[str]]) -> None:
        """Stage chunks with their unit vectors and keyword terms. A row of zeros is a chunk without a vector
        (text the embedding model cannot read): it is found by its keywords only."""
        if len(chunks) != len(vectors) or len(chunks) != len(terms):
            raise ValueError(f"{len(chunks)} chunks, {len(vectors)} vectors and {len(terms)} term lists must match")
        if not chunks:
            return
        if vectors.shape[1] != self._store.manifest.dimension:
            raise ValueError(f"vectors have dimension {vectors.shape[1]}, the KB's have {self._store.manifest.dimension}")
        with writing(self.root):
            row_ids = self._catalog.add_chunks(chunks, terms)
        self._pending_ids.append(row_ids)
        self._pending_vectors.append(np.asarray(vectors, dtype=np.float32))
        self._pending_terms += [list(t) for t in terms]

    def put_document(self, record: DocumentRecord) -> None:
        with writing(self.root):
            self._catalog.put_document(record)

    # -- committing -------------------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Commit what was written so far and go on writing (a crash later keeps it)."""
        with writing(self.root):
            self._write_segment_and_commit()
            self._catalog.begin()

    def commit(self) -> "KnowledgeBaseStore":
        """Commit, merge small segments, and end; returns the store, refreshed.

        Raises:
            KnowledgeBaseError: the disk is full or read-only; the uncommitted changes are discarded.
        """
        with writing(self.root):
            self._write_segment_and_commit()
            self._merge_while_planned(self._max_merge_rows)
        self._on_step("published")
        self._release()
        self._store.refresh()
        return self._store

    def compact(self) -> "KnowledgeBaseStore":
        """Commit, then merge every segment into one (dropping removed rows), and end."""
        with writing(self.root):
            self._write_segment_and_commit()
            segments = self._catalog.segments()
            if len(segments) > 1 or len(self._catalog.tombstones()):
                self._merge(segments)
        self._on_step("published")
        self._release()
        self._store.refresh()
        return self._store

    def _release(self) -> None:
        self._catalog.close()
        self._catalog = None
        self._done = True
        self._lock.__exit__()

    def _write_segment_and_commit(self) -> None:
        vector_index = self._store.vector_index
        if self._pending_ids:
            row_ids = np.concatenate(self._pending_ids)
            vectors = np.concatenate(self._pending_vectors)
            held = np.any(vectors != 0, axis=1)  # a zero row: a chunk without a vector (see add_chunks)
            segment = Segment(self._catalog.next_segment_seq(), int(row_ids.min()), int(row_ids.max()), len(row_ids),
                              vector_index.segment_kind(int(held.sum())))
            self._write_segment(segment, row_ids, (row_ids[held], vectors[held]), self._pending_terms)
            self._catalog.add_segment(segment)
        self._catalog.commit()
        self._on_step("committed")
        removed = np.concatenate(self._removed) if self._removed else np.zeros(0, np.int64)
        vector_index.committed(removed, [])
        self._pending_ids, self._pending_vectors, self._pending_terms, self._removed = [], [], [], []

    def _write_segment(self, segment: Segment, row_ids: np.ndarray, vectors: tuple[np.ndarray, np.ndarray] | None,
                       terms: list[list[str]], parts: Sequence[Segment] = ()) -> None:
        """`vectors`: (row ids, vectors) of the new rows that have one; None: a merge of `parts`."""
        directory = segment_dir(self.root, segment)
        directory.mkdir(parents=True)
        if vectors is None:
            self._store.vector_index.prepare_merge(segment, parts, row_ids)
        else:
            self._store.vector_index.prepare(segment, *vectors)
        KeywordSegment.build([int(r) for r in row_ids], terms).save(directory / KEYWORD_DIR)
        self._on_step("staged")
        fsync_tree(directory)
        fsync_dir(directory.parent)
        self._on_step("synced")

    def _merge_while_planned(self, max_rows: int) -> None:
        while (parts := plan_merge(self._catalog.segments(), max_rows)) is not None:
            self._merge(parts)

    def _merge(self, parts: Sequence[Segment]) -> None:
        first, last = parts[0].first_row, parts[-1].last_row
        live_ids, terms = self._catalog.terms_in_range(first, last)
        self._catalog.begin()
        merged = None
        if live_ids:
            merged = Segment(self._catalog.next_segment_seq(), first, last, len(live_ids),
                             self._store.vector_index.segment_kind(len(live_ids)))
            self._write_segment(merged, np.asarray(live_ids, dtype=np.int64), None, terms, parts)
        self._catalog.replace_segments(parts, merged)
        self._catalog.commit()
        self._on_step("merged")
        self._store.vector_index.committed(np.zeros(0, np.int64), parts)
        for part in parts:  # readers that loaded them keep their copies; new readers read the catalog first
            shutil.rmtree(segment_dir(self.root, part), ignore_errors=True)
