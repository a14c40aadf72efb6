"""The read side of a KB directory: catalog, vectors and keywords, following the catalog's commits."""
from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from rag.errors import KnowledgeBaseError
from rag.store.catalog import CATALOG_FILE, Catalog
from rag.store.durability import DirectoryLock, damaged, fsync_dir, writing
from rag.store.keyword import KeywordIndex, KeywordSegment, bm25_idf
from rag.store.manifest import MANIFEST_FILE, Manifest, read_manifest, write_manifest
from rag.store.records import KEYWORD_DIR, SEGMENTS_DIR, ChunkRecord, DocumentRecord, Segment, segment_dir
from rag.store.vectors import VectorIndex, VectorOptions, open_vector_index, vector_store_class

if TYPE_CHECKING:
    from rag.store.writer import StepHook, StoreWriter

log = logging.getLogger(__name__)


class KnowledgeBaseStore:
    """A KB directory, read at its latest commit. `refresh()` follows later commits (another process's
    ingest); `writer()` makes changes."""

    def __init__(self, root: Path, options: VectorOptions | None = None):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise KnowledgeBaseError(f"{self.root} is a file, not a knowledge-base directory")
        if not self.exists(self.root):
            if (self.root / "CURRENT").is_file():
                raise KnowledgeBaseError(
                    f"{self.root}: KB format version 1 is not supported (this program reads version 2); "
                    "re-ingest the documents into a new directory")
            raise KnowledgeBaseError(f"{self.root} is not a knowledge base (no {MANIFEST_FILE} file); run `rag ingest` first")
        self.options = options or VectorOptions()
        self.manifest = read_manifest(self.root)
        self._catalog = Catalog(self.root)
        self.vector_index: VectorIndex = open_vector_index(self.root, self.manifest, self.options)
        self._keywords = KeywordIndex()
        self.version = 0
        self._refreshing = threading.Lock()
        self.refresh()

    # -- creation ---------------------------------------------------------------------------------------
    @staticmethod
    def exists(root: Path) -> bool:
        return (Path(root) / MANIFEST_FILE).is_file() and (Path(root) / CATALOG_FILE).is_file()

    @classmethod
    def create(cls, root: Path, manifest: Manifest, options: VectorOptions | None = None) -> "KnowledgeBaseStore":
        """Write an empty KB; the manifest goes last, so a KB without one was never created.

        Raises:
            KnowledgeBaseError: `root` is a KB already, is a file, or cannot be written.
        """
        root = Path(root)
        if cls.exists(root):
            raise KnowledgeBaseError(f"{root} already holds a knowledge base")
        if root.exists() and not root.is_dir():
            raise KnowledgeBaseError(f"{root} exists and is a file; choose a directory for the knowledge base")
        with writing(root):
            root.mkdir(parents=True, exist_ok=True)
        with DirectoryLock(root), writing(root):
            (root / CATALOG_FILE).unlink(missing_ok=True)  # debris of a create that died before its manifest
            (root / SEGMENTS_DIR).mkdir(exist_ok=True)
            Catalog.create(root)
            vector_store_class(manifest.vector_store)(root, manifest, options or VectorOptions()).close()
            write_manifest(root, manifest)
            fsync_dir(root)
        return cls(root, options)

    # -- following commits ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Load what commits since the last refresh changed (a few new segments, new tombstones)."""
        with self._refreshing:
            version = self._catalog.version()
            if version == self.version:
                return
            for attempt in range(3):
                segments, tombstones, version = self._catalog.snapshot()
                try:
                    self._follow(segments, tombstones)
                    self.version = version
                    return
                except FileNotFoundError as exc:
                    missing = exc
                    if self._catalog.version() == version:
                        break  # nothing moved: the file is really gone
            raise damaged(self.root, Path(str(missing.filename or missing)), "is missing or unreadable (FileNotFoundError)")

    def _follow(self, segments: Sequence[Segment], tombstones: np.ndarray) -> None:
        keyword_segments = {}
        for segment in segments:
            part = self._keywords.segments.get(segment.seq)
            if part is None:
                directory = segment_dir(self.root, segment) / KEYWORD_DIR
                try:
                    part = KeywordSegment.load(directory)
                except FileNotFoundError:
                    raise FileNotFoundError(directory) from None
                except (OSError, ValueError, KeyError, EOFError) as exc:
                    raise damaged(self.root, directory, f"is missing or unreadable ({type(exc).__name__})") from exc
            part.mask_removed(tombstones[(tombstones >= segment.first_row) & (tombstones <= segment.last_row)])
            keyword_segments[segment.seq] = part
        self.vector_index.sync(segments, tombstones)
        self._keywords = KeywordIndex(keyword_segments)

    def segments(self) -> list[Segment]:
        """The committed segments, in row order."""
        return self._catalog.segments()

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())

    def describe(self) -> dict[str, Any]:
        """Vector store, index and segments, for `rag kb info`."""
        return {**self.vector_index.describe(), "vectors": self.vector_index.count(), "version": self.version,
                "keyword_segments": len(self._keywords.segments)}

    def close(self) -> None:
        self._catalog.close()
        self.vector_index.close()

    # -- reading ----------------------------------------------------------------------------------------
    def documents(self) -> list[DocumentRecord]:
        return self._catalog.documents()

    def document(self, source: str) -> DocumentRecord | None:
        return self._catalog.document(source)

    def page_counts(self) -> dict[str, int]:
        """Pages with text per document (1 for formats without pages)."""
        return self._catalog.page_counts()

    def page_chunks(self, source: str, page: int | None) -> list[ChunkRecord]:
        """The chunks of one page of one document, in text order (they overlap)."""
        return self._catalog.page_chunks(source, page)

    def chunk_count(self) -> int:
        return self._catalog.chunk_count()

    def chunks(self, row_ids: Sequence[int]) -> dict[int, ChunkRecord]:
        """The chunks the catalog holds among `row_ids` (a row removed since the search is left out)."""
        return self._catalog.chunks(row_ids)

    def terms(self, row_ids: Sequence[int]) -> dict[int, set[str]]:
        """Each chunk's keyword terms (as stored at ingest)."""
        return self._catalog.terms(row_ids)

    def row_ids_where(self, sources_glob: str | None = None, tag: str | None = None,
                      modified_after: float | None = None, modified_before: float | None = None) -> np.ndarray:
        """Row ids of chunks whose document passes every given filter (None filters are ignored)."""
        return self._catalog.row_ids_where(sources_glob, tag, modified_after, modified_before)

    def search_vectors(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (row_id, cosine) for one unit-length query vector, optionally only among `allowed` rows."""
        return self.vector_index.search(query, k, allowed)

    def search_keywords(self, terms: list[str], k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        return self._keywords.search(terms, k, allowed)

    def idf(self, terms: list[str]) -> dict[str, float]:
        return self._keywords.idf(terms)

    def idf_of_one_chunk(self) -> float:
        """The idf of a term exactly one chunk holds: the highest a term found in the KB can have."""
        return bm25_idf(self._keywords.rows(), 1)

    def has_term(self, term: str) -> bool:
        """Whether any chunk holds this keyword term."""
        return term in self._keywords

    def document_mentions(self, source: str, text: str) -> bool:
        """Whether any chunk of the document contains `text` (ASCII case ignored; for a code, also written
        without its hyphen or with a space)."""
        return self._catalog.document_mentions(source, text)

    def iter_chunks(self) -> Iterator[ChunkRecord]:
        """Every chunk, in row order (for evaluation and export)."""
        return self._catalog.iter_chunks()

    def vectors(self, row_ids: Sequence[int]) -> np.ndarray:
        """Stored vectors for the given rows (MMR and the relevance score need them)."""
        return self.vector_index.vectors(row_ids)

    # -- changing ---------------------------------------------------------------------------------------
    def writer(self, on_step: "StepHook | None" = None, max_merge_rows: int | None = None) -> "StoreWriter":
        from rag.store.writer import StoreWriter

        return StoreWriter(self, on_step, max_merge_rows)

    def migrate(self, vector_store: str, options: VectorOptions) -> None:
        """Copy the vectors into another vector store and switch the KB to it, without re-embedding.

        A crash part-way leaves the KB on its old store (the manifest is switched last).
        """
        if vector_store == self.manifest.vector_store:
            raise KnowledgeBaseError(f"{self.root} already keeps its vectors in {vector_store}")
        if self.manifest.vector_store != "faiss":
            raise KnowledgeBaseError(f"migration from {self.manifest.vector_store} is not supported; re-ingest into a new KB")
        target_class = vector_store_class(vector_store)
        kind, params = target_class.build_params(options)
        new_manifest = self.manifest.replace(vector_store=vector_store, vector_index=kind, vector_params=params)
        with DirectoryLock(self.root), writing(self.root):
            self.refresh()
            row_ids, vectors = self.vector_index.export()
            target = target_class(self.root, new_manifest, options)
            target.import_rows(row_ids, vectors)
            segments, tombstones, _ = self._catalog.snapshot()
            target.sync(segments, tombstones)
            if target.count() < len(row_ids):
                raise KnowledgeBaseError(f"migration copied {target.count()} of {len(row_ids)} vectors; the KB is unchanged")
            write_manifest(self.root, new_manifest)
            fsync_dir(self.root)
            old = self.vector_index
            self.manifest, self.vector_index, self.options = new_manifest, target, options
            old.close()
            for segment in segments:  # the old store's per-segment files are no longer read
                for item in segment_dir(self.root, segment).iterdir():
                    if item.name != KEYWORD_DIR:
                        item.unlink() if item.is_file() else shutil.rmtree(item)
            self.version = 0
        self.refresh()
