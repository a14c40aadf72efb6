"""The knowledge-base directory: manifest, SQLite documents/chunks, FAISS vectors and the BM25 index,
written as numbered generations so that the KB on disk is always the state before or after an ingest."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import sqlite3
import time
from dataclasses import MISSING as dataclasses_MISSING
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from ingest.types import Chunk
from rag.errors import KnowledgeBaseError, ManifestMismatchError
from rag.keyword_index import KeywordIndex

FORMAT_VERSION = 1
CURRENT_FILE = "CURRENT"
LOCK_FILE = ".lock"
MANIFEST_FILE = "manifest.json"
DB_FILE = "chunks.sqlite"
VECTORS_FILE = "vectors.faiss"
KEYWORD_DIR = "keyword"
log = logging.getLogger(__name__)
GENERATIONS_KEPT = 2  # the previous generation stays readable for processes that still have it open
_GENERATION = re.compile(r"^gen-(\d{8})$")
# Called with the name of each step of the commit protocol as it is reached; the crash tests kill the
# process there. Steps, in order: copied, staged, synced, renamed, pointer-written, switched, published.
StepHook = Callable[[str], None]

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    source TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    n_chunks INTEGER NOT NULL,
    ingested_at REAL NOT NULL,
    tags TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS chunks (
    row_id INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    source TEXT NOT NULL,
    page INTEGER,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    terms TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_source ON chunks(source);
"""


@dataclass(frozen=True)
class Manifest:
    """What built the index; a KB opened with another embedding model or chunking is refused."""

    embedding_backend: str
    embedding_model: str
    dimension: int
    chunk_tokens: int
    chunk_overlap_tokens: int
    keyword_tokenizer: str
    normalized: bool = True
    metric: str = "inner_product"
    format_version: int = FORMAT_VERSION
    created_at: float = field(default_factory=time.time)

    def check_compatible(self, **wanted) -> None:
        """Raise ManifestMismatchError naming each requested value that differs from the manifest."""
        differences = [
            f"{key}: the KB has {getattr(self, key)!r}, requested {value!r}"
            for key, value in wanted.items()
            if value is not None and getattr(self, key) != value
        ]
        if differences:
            raise ManifestMismatchError(
                "this knowledge base was built with other settings (" + "; ".join(differences) + "). "
                "Use the KB's settings, or ingest into a new KB directory."
            )


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
    tags: str = ""


@dataclass(frozen=True)
class ChunkRecord:
    row_id: int
    chunk_id: str
    doc_id: str
    source: str
    page: int | None
    start: int
    end: int
    text: str


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for item in path.rglob("*"):
        if item.is_file():
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())
    for item in [path, *[p for p in path.rglob("*") if p.is_dir()]]:
        _fsync_dir(item)


def _new_vector_index(dimension: int):
    import faiss

    # Exact inner product over unit vectors = cosine; IDMap2 lets documents be removed by row id.
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def _searchable(index):
    """The index to search with: a GPU copy when faiss sees GPUs, else the index itself."""
    import faiss

    if hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0 and index.ntotal > 0:
        try:
            return faiss.index_cpu_to_all_gpus(index)
        except RuntimeError as exc:  # e.g. GPU memory too small for the index: exact search on CPU still works
            log.warning("FAISS GPU search unavailable (%s); searching on the CPU", exc)
    return index


def _damaged(root: Path, file: Path, problem: str) -> KnowledgeBaseError:
    return KnowledgeBaseError(
        f"{root}: damaged knowledge base: {file} {problem}. Restore the directory from a backup, or re-ingest "
        "the documents into a new KB directory"
    )


_DISK_FULL = ("no space left", "disk is full", "disk full", "database or disk is full")


@contextlib.contextmanager
def _writing(root: Path) -> Iterator[None]:
    """Turn the many shapes of 'disk full' and 'read-only' (OSError, sqlite3, FAISS's RuntimeError) into one
    KnowledgeBaseError that says what happened and what to do; the staged generation is discarded."""
    try:
        yield
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        code = getattr(exc, "errno", None)
        message = str(exc).lower()
        if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or any(m in message for m in _DISK_FULL):
            free = shutil.disk_usage(root).free if root.exists() else 0
            raise KnowledgeBaseError(
                f"{root}: the disk is full ({free >> 20} MiB free); nothing was changed. Free some space and run "
                "the command again (an ingest needs room for a copy of the KB plus the new documents)"
            ) from exc
        if code in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in message or "read-only" in message:
            raise KnowledgeBaseError(
                f"{root}: the knowledge base is read-only here ({exc}); it can be searched but not changed. "
                "Copy it to a writable place, or fix its permissions"
            ) from exc
        raise


def _row_to_document(row: sqlite3.Row) -> DocumentRecord:
    return DocumentRecord(**{k: row[k] for k in row.keys()})


class KnowledgeBaseStore:
    """Read side of a KB directory at one generation; `writer()` makes the next generation."""

    def __init__(self, root: Path):
        self.root = Path(root)
        current = self.root / CURRENT_FILE
        if self.root.exists() and not self.root.is_dir():
            raise KnowledgeBaseError(f"{self.root} is a file, not a knowledge-base directory")
        if not current.is_file():
            raise KnowledgeBaseError(f"{self.root} is not a knowledge base (no {CURRENT_FILE} file); run `rag ingest` first")
        try:
            self.generation = current.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise _damaged(self.root, current, f"cannot be read ({exc})") from exc
        if not _GENERATION.match(self.generation):
            raise _damaged(self.root, current, f"names {self.generation[:40]!r}, not a generation like gen-00000001")
        self.path = self.root / self.generation
        self.manifest = self._read_manifest()
        self._db = self._open_db()
        import faiss

        vectors_file = self.path / VECTORS_FILE
        try:
            self._vectors = faiss.read_index(str(vectors_file))
        except RuntimeError as exc:
            raise _damaged(self.root, vectors_file, "is missing or truncated") from exc
        if self._vectors.d != self.manifest.dimension:
            raise _damaged(self.root, vectors_file, f"holds {self._vectors.d}-d vectors, the manifest says {self.manifest.dimension}")
        self._vector_search = _searchable(self._vectors)
        try:
            self._keywords = KeywordIndex.load(self.path / KEYWORD_DIR)
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise _damaged(self.root, self.path / KEYWORD_DIR, f"is missing or unreadable ({type(exc).__name__})") from exc

    def _read_manifest(self) -> Manifest:
        path = self.path / MANIFEST_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise _damaged(self.root, path, "is missing") from exc
        except (OSError, ValueError) as exc:
            raise _damaged(self.root, path, f"is not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise _damaged(self.root, path, f"holds a JSON {type(data).__name__}, not an object")
        if data.get("format_version") != FORMAT_VERSION:
            raise KnowledgeBaseError(
                f"{self.root}: KB format version {data.get('format_version')} is not supported "
                f"(this program reads version {FORMAT_VERSION}); re-ingest into a new directory"
            )
        names = {f.name for f in fields(Manifest)}
        required = {f.name for f in fields(Manifest)
                    if f.default is dataclasses_MISSING and f.default_factory is dataclasses_MISSING}
        missing = sorted(required - set(data))
        unknown = sorted(set(data) - names)
        if missing or unknown:
            raise _damaged(self.root, path, f"lacks {missing} or has unknown keys {unknown}")
        try:
            manifest = Manifest(**data)
            int(manifest.dimension), int(manifest.chunk_tokens), int(manifest.chunk_overlap_tokens)
        except (TypeError, ValueError) as exc:
            raise _damaged(self.root, path, f"has a value of the wrong type ({exc})") from exc
        return manifest

    def _open_db(self) -> sqlite3.Connection:
        path = self.path / DB_FILE
        if not path.is_file():
            raise _damaged(self.root, path, "is missing")
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("SELECT source, doc_id, content_hash, status FROM documents LIMIT 1").fetchall()
            db.execute("SELECT row_id, text, terms FROM chunks LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise _damaged(self.root, path, f"is not a readable KB database ({exc})") from exc
        return db

    # -- creation ---------------------------------------------------------------------------------------
    @staticmethod
    def exists(root: Path) -> bool:
        return (Path(root) / CURRENT_FILE).is_file()

    @classmethod
    def create(cls, root: Path, manifest: Manifest) -> "KnowledgeBaseStore":
        """Write an empty generation 1 with the manifest; refuses a directory that is already a KB.

        Raises:
            KnowledgeBaseError: `root` is a KB already, is a file, or cannot be written.
        """
        root = Path(root)
        if cls.exists(root):
            raise KnowledgeBaseError(f"{root} already holds a knowledge base")
        if root.exists() and not root.is_dir():
            raise KnowledgeBaseError(f"{root} exists and is a file; choose a directory for the knowledge base")
        with _writing(root):
            root.mkdir(parents=True, exist_ok=True)
        with _DirectoryLock(root), _writing(root):
            _recover(root, current=None)
            staging = root / "gen-00000001.staging"
            staging.mkdir()
            db = sqlite3.connect(staging / DB_FILE)
            db.executescript(SCHEMA)
            db.commit()
            db.close()
            import faiss

            faiss.write_index(_new_vector_index(manifest.dimension), str(staging / VECTORS_FILE))
            KeywordIndex.build([], []).save(staging / KEYWORD_DIR)
            (staging / MANIFEST_FILE).write_text(json.dumps(asdict(manifest), indent=2), encoding="utf-8")
            _publish(root, staging, "gen-00000001")
        return cls(root)

    def disk_bytes(self) -> int:
        """Size of the current generation on disk (what the next commit copies)."""
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    # -- reading ----------------------------------------------------------------------------------------
    def close(self) -> None:
        self._db.close()

    def documents(self) -> list[DocumentRecord]:
        rows = self._db.execute("SELECT * FROM documents ORDER BY source").fetchall()
        return [_row_to_document(r) for r in rows]

    def document(self, source: str) -> DocumentRecord | None:
        row = self._db.execute("SELECT * FROM documents WHERE source = ?", (source,)).fetchone()
        return _row_to_document(row) if row else None

    def page_counts(self) -> dict[str, int]:
        """Pages with text per document (1 for formats without pages)."""
        rows = self._db.execute("SELECT source, COUNT(DISTINCT COALESCE(page, 0)) FROM chunks GROUP BY source")
        return {r[0]: int(r[1]) for r in rows}

    def page_chunks(self, source: str, page: int | None) -> list[ChunkRecord]:
        """The chunks of one page of one document, in text order (they overlap)."""
        rows = self._db.execute(
            "SELECT row_id, chunk_id, doc_id, source, page, start, end, text FROM chunks WHERE source = ? AND "
            "page IS ? ORDER BY start", (source, page)).fetchall()
        return [ChunkRecord(**{k: r[k] for k in r.keys()}) for r in rows]

    def chunk_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def _rows_by_id(self, columns: str, row_ids: Sequence[int]) -> list[sqlite3.Row]:
        ids = list(row_ids)
        rows: list[sqlite3.Row] = []
        for start in range(0, len(ids), 500):  # SQLite caps bound parameters per statement
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows += self._db.execute(f"SELECT {columns} FROM chunks WHERE row_id IN ({marks})", part).fetchall()
        return rows

    def chunks(self, row_ids: Sequence[int]) -> dict[int, ChunkRecord]:
        rows = self._rows_by_id("row_id, chunk_id, doc_id, source, page, start, end, text", row_ids)
        return {row["row_id"]: ChunkRecord(**{k: row[k] for k in row.keys()}) for row in rows}

    def terms(self, row_ids: Sequence[int]) -> dict[int, set[str]]:
        """Each chunk's keyword terms (as stored at ingest)."""
        return {row["row_id"]: set(row["terms"].split()) for row in self._rows_by_id("row_id, terms", row_ids)}

    def row_ids_where(self, sources_glob: str | None = None, tag: str | None = None,
                      modified_after: float | None = None, modified_before: float | None = None) -> np.ndarray:
        """Row ids of chunks whose document passes every given filter (None filters are ignored)."""
        clauses, params = ["d.status = 'indexed'"], []
        if sources_glob:
            clauses.append("d.source GLOB ?")
            params.append(sources_glob if sources_glob.startswith(("/", "*")) else "*" + sources_glob)
        if tag:
            clauses.append("(',' || d.tags || ',') LIKE ?")
            params.append(f"%,{tag},%")
        if modified_after is not None:
            clauses.append("d.mtime >= ?")
            params.append(modified_after)
        if modified_before is not None:
            clauses.append("d.mtime <= ?")
            params.append(modified_before)
        sql = "SELECT c.row_id FROM chunks c JOIN documents d ON d.source = c.source WHERE " + " AND ".join(clauses)
        return np.asarray([r[0] for r in self._db.execute(sql, params)], dtype=np.int64)

    def search_vectors(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (row_id, cosine) for one unit-length query vector, optionally only among `allowed` rows."""
        if self._vectors.ntotal == 0 or (allowed is not None and len(allowed) == 0):
            return []
        if query.shape[-1] != self.manifest.dimension:
            raise KnowledgeBaseError(
                f"query vector has dimension {query.shape[-1]}, the KB's vectors have {self.manifest.dimension}"
            )
        import faiss

        k = min(k, self._vectors.ntotal)
        query = query.reshape(1, -1).astype(np.float32)
        if allowed is None:
            scores, ids = self._vector_search.search(query, k)
        else:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
            scores, ids = self._vectors.search(query, k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def search_keywords(self, terms: list[str], k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        return self._keywords.search(terms, k, allowed)

    def idf(self, terms: list[str]) -> dict[str, float]:
        return self._keywords.idf(terms)

    def has_term(self, term: str) -> bool:
        """Whether any chunk holds this keyword term."""
        return term in self._keywords

    def document_mentions(self, source: str, text: str) -> bool:
        """Whether any chunk of the document contains `text` (ASCII case ignored; for a code, also written
        without its hyphen or with a space)."""
        variants = {text.lower(), text.lower().replace("-", ""), text.lower().replace("-", " ")}
        clause = " OR ".join("instr(lower(text), ?) > 0" for _ in variants)
        row = self._db.execute(f"SELECT 1 FROM chunks WHERE source = ? AND ({clause}) LIMIT 1", (source, *variants)).fetchone()
        return row is not None

    def iter_chunks(self) -> Iterator[ChunkRecord]:
        """Every chunk, in row order (for evaluation and export)."""
        for row in self._db.execute("SELECT row_id, chunk_id, doc_id, source, page, start, end, text FROM chunks ORDER BY row_id"):
            yield ChunkRecord(*row)

    def vectors(self, row_ids: Sequence[int]) -> np.ndarray:
        """Stored vectors for the given rows (MMR needs them)."""
        out = np.zeros((len(row_ids), self.manifest.dimension), dtype=np.float32)
        for i, row_id in enumerate(row_ids):
            out[i] = self._vectors.reconstruct(int(row_id))
        return out

    def writer(self, on_step: StepHook | None = None) -> "StoreWriter":
        return StoreWriter(self, on_step)


class _DirectoryLock:
    """One writer per KB directory at a time, across processes (flock is released if the process dies)."""

    def __init__(self, root: Path):
        self._path = Path(root) / LOCK_FILE
        self._handle = None

    def __enter__(self) -> "_DirectoryLock":
        with _writing(self._path.parent):
            self._handle = open(self._path, "a+")
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._handle.close()
            raise KnowledgeBaseError(f"another process is writing to {self._path.parent}; try again when it is done") from None
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _recover(root: Path, current: str | None) -> None:
    """Clear what a writer killed mid-commit left behind; the caller holds the lock.

    Staging directories and a half-written pointer are always debris. A generation newer than CURRENT was
    renamed into place but never switched to: readers never saw it, so it goes too (left there, it would
    block the next writer, who wants that name).
    """
    for item in root.glob("*.staging"):
        shutil.rmtree(item, ignore_errors=True)
    (root / (CURRENT_FILE + ".tmp")).unlink(missing_ok=True)
    number = int(_GENERATION.match(current).group(1)) if current else 0
    for item in root.glob("gen-*"):
        match = _GENERATION.match(item.name)
        if match and int(match.group(1)) > number:
            log.warning("removing %s: a generation that a killed writer never published", item)
            shutil.rmtree(item, ignore_errors=True)


def _no_step(step: str) -> None:
    return None


def _publish(root: Path, staging: Path, generation: str, on_step: StepHook = _no_step) -> None:
    """Make a fully written staging directory the current generation, atomically."""
    on_step("staged")
    _fsync_tree(staging)
    on_step("synced")
    final = root / generation
    os.replace(staging, final)
    on_step("renamed")
    pointer = root / (CURRENT_FILE + ".tmp")
    pointer.write_text(generation + "\n", encoding="utf-8")
    with open(pointer, "rb") as handle:
        os.fsync(handle.fileno())
    on_step("pointer-written")
    os.replace(pointer, root / CURRENT_FILE)  # the single atomic step that switches readers over
    on_step("switched")
    _fsync_dir(root)
    on_step("published")


class StoreWriter:
    """Stages the next generation: a copy of the current one, changed, then published in one rename.

    Use as a context manager; leaving it with an exception (or a killed process) publishes nothing.
    """

    def __init__(self, store: KnowledgeBaseStore, on_step: StepHook | None = None):
        self._store = store
        self.root = store.root
        self._on_step = on_step or _no_step
        self._db: sqlite3.Connection | None = None
        self._lock = _DirectoryLock(self.root)
        number = int(store.generation.split("-")[1]) + 1
        self.generation = f"gen-{number:08d}"
        self._staging = self.root / f"{self.generation}.staging"
        self._committed = False

    def __enter__(self) -> "StoreWriter":
        self._lock.__enter__()
        try:
            current = (self.root / CURRENT_FILE).read_text(encoding="utf-8").strip()
            if current != self._store.generation:
                raise KnowledgeBaseError(f"{self.root} changed since it was opened; open it again and retry")
            with _writing(self.root):
                _recover(self.root, current)  # we hold the lock: anything half-made is a dead writer's
                self._staging.mkdir()
                source_db = sqlite3.connect(f"file:{self._store.path / DB_FILE}?mode=ro", uri=True)
                self._db = sqlite3.connect(self._staging / DB_FILE)
                source_db.backup(self._db)
                source_db.close()
            self._db.row_factory = sqlite3.Row
            import faiss

            self._vectors = faiss.clone_index(self._store._vectors)
            self._keywords_dirty = False
            self._on_step("copied")
        except BaseException:
            self._abort()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and not self._committed:
                self.commit()
        finally:  # a commit that failed (disk full) must not leave its staging directory behind
            if not self._committed:
                self._abort()
            else:
                self._lock.__exit__()

    def _abort(self) -> None:
        try:
            if getattr(self, "_db", None) is not None:
                self._db.close()
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._lock.__exit__()

    # -- changes ----------------------------------------------------------------------------------------
    def document(self, source: str) -> DocumentRecord | None:
        row = self._db.execute("SELECT * FROM documents WHERE source = ?", (source,)).fetchone()
        return _row_to_document(row) if row else None

    def sources(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT source FROM documents")]

    def remove_document(self, source: str) -> int:
        """Delete a document, its chunks and their vectors; returns the number of chunks removed."""
        with _writing(self.root):
            return self._remove_document(source)

    def _remove_document(self, source: str) -> int:
        row_ids = [r[0] for r in self._db.execute("SELECT row_id FROM chunks WHERE source = ?", (source,))]
        if row_ids:
            self._vectors.remove_ids(np.asarray(row_ids, dtype=np.int64))
            self._keywords_dirty = True
        self._db.execute("DELETE FROM chunks WHERE source = ?", (source,))
        self._db.execute("DELETE FROM documents WHERE source = ?", (source,))
        return len(row_ids)

    def add_chunks(self, chunks: Sequence[Chunk], vectors: np.ndarray, terms: Sequence[list[str]]) -> None:
        if len(chunks) != len(vectors) or len(chunks) != len(terms):
            raise ValueError(f"{len(chunks)} chunks, {len(vectors)} vectors and {len(terms)} term lists must match")
        if not chunks:
            return
        with _writing(self.root):
            self._add_chunks(chunks, vectors, terms)

    def _add_chunks(self, chunks: Sequence[Chunk], vectors: np.ndarray, terms: Sequence[list[str]]) -> None:
        row_ids = []
        for chunk, chunk_terms in zip(chunks, terms):
            cursor = self._db.execute(
                "INSERT INTO chunks (chunk_id, doc_id, source, page, start, end, text, terms) VALUES (?,?,?,?,?,?,?,?)",
                (chunk.chunk_id, chunk.doc_id, chunk.source, chunk.page, chunk.start, chunk.end, chunk.text, " ".join(chunk_terms)),
            )
            row_ids.append(cursor.lastrowid)
        self._vectors.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(row_ids, dtype=np.int64))
        self._keywords_dirty = True

    def put_document(self, record: DocumentRecord) -> None:
        with _writing(self.root):
            self._put_document(record)

    def _put_document(self, record: DocumentRecord) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO documents (source, doc_id, content_hash, size, mtime, status, error, n_chunks, ingested_at, tags)"
            " VALUES (?,?,?,?,?,?,?,?,?,?)",
            (record.source, record.doc_id, record.content_hash, record.size, record.mtime, record.status,
             record.error, record.n_chunks, record.ingested_at, record.tags),
        )

    # -- publishing -------------------------------------------------------------------------------------
    def commit(self) -> KnowledgeBaseStore:
        """Write the staged generation and switch CURRENT to it; returns the store reopened on it.

        Raises:
            KnowledgeBaseError: the disk is full or read-only; the KB stays as it was.
        """
        with _writing(self.root):
            self._write_and_publish()
        self._committed = True
        self._prune_generations()
        return KnowledgeBaseStore(self.root)

    def _write_and_publish(self) -> None:
        import faiss

        self._db.commit()
        rows = self._db.execute("SELECT row_id, terms FROM chunks ORDER BY row_id").fetchall()
        self._db.close()
        self._db = None
        if self._keywords_dirty:
            keywords = KeywordIndex.build([r[0] for r in rows], [r[1].split() for r in rows])
            keywords.save(self._staging / KEYWORD_DIR)
        else:
            shutil.copytree(self._store.path / KEYWORD_DIR, self._staging / KEYWORD_DIR)
        faiss.write_index(self._vectors, str(self._staging / VECTORS_FILE))
        shutil.copy2(self._store.path / MANIFEST_FILE, self._staging / MANIFEST_FILE)
        if self._vectors.ntotal != len(rows):
            raise KnowledgeBaseError(f"internal error: {self._vectors.ntotal} vectors for {len(rows)} chunks; nothing was published")
        _publish(self.root, self._staging, self.generation, self._on_step)

    def _prune_generations(self) -> None:
        generations = sorted(p for p in self.root.glob("gen-*") if p.is_dir() and not p.name.endswith(".staging"))
        for old in generations[:-GENERATIONS_KEPT]:
            shutil.rmtree(old, ignore_errors=True)  # a kill mid-way leaves the oldest half gone: next prune ends it
            self._on_step("pruned")


