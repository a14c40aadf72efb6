"""The SQLite catalog: documents, chunk text and terms, the list of committed segments and the tombstones
of removed chunks. It is the KB's commit point: a write is in the KB once its SQLite transaction commits
(WAL journal), and readers always see the last committed state."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from rag.store.durability import damaged
from rag.store.records import ChunkData, ChunkRecord, DocumentRecord, Segment

CATALOG_FILE = "catalog.sqlite"
_CHUNK_COLUMNS = "row_id, chunk_id, doc_id, source, page, start, end, text, section"
# A catalog written before chunks had sections: the writer adds the column, a reader reads it as "".
_CHUNK_COLUMNS_WITHOUT_SECTION = _CHUNK_COLUMNS.replace("section", "'' AS section")
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
    terms TEXT NOT NULL,
    section TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS chunks_by_source ON chunks(source);
CREATE TABLE IF NOT EXISTS segments (
    seq INTEGER PRIMARY KEY,
    first_row INTEGER NOT NULL,
    last_row INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    vector_kind TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tombstones (row_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('version', '1');
"""


def _document(row: sqlite3.Row) -> DocumentRecord:
    return DocumentRecord(**{k: row[k] for k in row.keys()})


def _chunk(row: sqlite3.Row) -> ChunkRecord:
    return ChunkRecord(**{k: row[k] for k in row.keys()})


class Catalog:
    """One connection to the catalog: read-only for readers, or the single writer's (see StoreWriter)."""

    def __init__(self, root: Path, writable: bool = False):
        self.root = root
        self.path = root / CATALOG_FILE
        if not self.path.is_file():
            raise damaged(root, self.path, "is missing")
        try:
            self._db = self._connect(writable)
            self._db.execute("SELECT source, doc_id, content_hash, status FROM documents LIMIT 1").fetchall()
            self._db.execute("SELECT row_id, text, terms FROM chunks LIMIT 1").fetchall()
            self._db.execute("SELECT seq FROM segments LIMIT 1").fetchall()
            self._chunk_columns = self._section_column(writable)
        except sqlite3.Error as exc:
            raise damaged(root, self.path, f"is not a readable KB database ({exc})") from exc

    def _section_column(self, writable: bool) -> str:
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(chunks)")}
        if "section" in columns:
            return _CHUNK_COLUMNS
        if not writable:
            return _CHUNK_COLUMNS_WITHOUT_SECTION
        self._db.execute("ALTER TABLE chunks ADD COLUMN section TEXT NOT NULL DEFAULT ''")
        return _CHUNK_COLUMNS

    def _connect(self, writable: bool) -> sqlite3.Connection:
        if writable:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA synchronous=FULL")
        else:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
            try:
                db.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
            except sqlite3.OperationalError:
                # A WAL database on read-only media with no -shm file cannot be opened normally; nothing can
                # write it there either, so reading it as immutable is exact.
                db.close()
                db = sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True, check_same_thread=False,
                                     isolation_level=None)
        db.row_factory = sqlite3.Row
        return db

    @staticmethod
    def create(root: Path) -> None:
        db = sqlite3.connect(root / CATALOG_FILE)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        db.commit()
        db.close()

    def close(self) -> None:
        self._db.close()

    # -- transactions (writer) ----------------------------------------------------------------------------
    def begin(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")
        self._db.execute("COMMIT")

    def rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    # -- state ------------------------------------------------------------------------------------------
    def version(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])

    def snapshot(self) -> tuple[list[Segment], np.ndarray, int]:
        """Segments, tombstones and version of one committed state (read in one transaction)."""
        self._db.execute("BEGIN")
        try:
            return self.segments(), self.tombstones(), self.version()
        finally:
            self._db.execute("COMMIT")

    def segments(self) -> list[Segment]:
        rows = self._db.execute("SELECT seq, first_row, last_row, rows, vector_kind FROM segments ORDER BY first_row")
        return [Segment(*r) for r in rows]

    def tombstones(self) -> np.ndarray:
        return np.asarray([r[0] for r in self._db.execute("SELECT row_id FROM tombstones")], dtype=np.int64)

    def last_row_id(self) -> int:
        """The highest row id ever committed (AUTOINCREMENT never reuses a committed one)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'chunks'").fetchone()
        return int(row[0]) if row else 0

    # -- documents --------------------------------------------------------------------------------------
    def documents(self) -> list[DocumentRecord]:
        return [_document(r) for r in self._db.execute("SELECT * FROM documents ORDER BY source")]

    def document(self, source: str) -> DocumentRecord | None:
        row = self._db.execute("SELECT * FROM documents WHERE source = ?", (source,)).fetchone()
        return _document(row) if row else None

    def sources(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT source FROM documents")]

    def put_document(self, record: DocumentRecord) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO documents (source, doc_id, content_hash, size, mtime, status, error, n_chunks, "
            "ingested_at, tags) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (record.source, record.doc_id, record.content_hash, record.size, record.mtime, record.status,
             record.error, record.n_chunks, record.ingested_at, record.tags),
        )

    def remove_document(self, source: str) -> np.ndarray:
        """Delete a document and its chunks, tombstoning their rows; returns the row ids removed."""
        row_ids = np.asarray([r[0] for r in self._db.execute("SELECT row_id FROM chunks WHERE source = ?", (source,))],
                             dtype=np.int64)
        self._db.executemany("INSERT OR IGNORE INTO tombstones (row_id) VALUES (?)", ((int(r),) for r in row_ids))
        self._db.execute("DELETE FROM chunks WHERE source = ?", (source,))
        self._db.execute("DELETE FROM documents WHERE source = ?", (source,))
        return row_ids

    # -- chunks -----------------------------------------------------------------------------------------
    def add_chunks(self, chunks: Sequence[ChunkData], terms: Sequence[list[str]]) -> np.ndarray:
        row_ids = []
        for chunk, chunk_terms in zip(chunks, terms):
            cursor = self._db.execute(
                "INSERT INTO chunks (chunk_id, doc_id, source, page, start, end, text, terms, section) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                (chunk.chunk_id, chunk.doc_id, chunk.source, chunk.page, chunk.start, chunk.end, chunk.text,
                 " ".join(chunk_terms), chunk.section),
            )
            row_ids.append(cursor.lastrowid)
        return np.asarray(row_ids, dtype=np.int64)

    def chunk_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def page_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT source, COUNT(DISTINCT COALESCE(page, 0)) FROM chunks GROUP BY source")
        return {r[0]: int(r[1]) for r in rows}

    def page_chunks(self, source: str, page: int | None) -> list[ChunkRecord]:
        rows = self._db.execute(f"SELECT {self._chunk_columns} FROM chunks WHERE source = ? AND page IS ? ORDER BY start",
                                (source, page))
        return [_chunk(r) for r in rows]

    def _rows_by_id(self, columns: str, row_ids: Iterable[int]) -> list[sqlite3.Row]:
        ids = [int(i) for i in row_ids]
        rows: list[sqlite3.Row] = []
        for start in range(0, len(ids), 500):  # SQLite caps bound parameters per statement
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows += self._db.execute(f"SELECT {columns} FROM chunks WHERE row_id IN ({marks})", part).fetchall()
        return rows

    def chunks(self, row_ids: Iterable[int]) -> dict[int, ChunkRecord]:
        return {row["row_id"]: _chunk(row) for row in self._rows_by_id(self._chunk_columns, row_ids)}

    def terms(self, row_ids: Iterable[int]) -> dict[int, set[str]]:
        return {row["row_id"]: set(row["terms"].split()) for row in self._rows_by_id("row_id, terms", row_ids)}

    def terms_in_range(self, first_row: int, last_row: int) -> tuple[list[int], list[list[str]]]:
        """Live rows and their terms in a row-id range, in order (a merge rebuilds its keyword index from them)."""
        rows = self._db.execute("SELECT row_id, terms FROM chunks WHERE row_id BETWEEN ? AND ? ORDER BY row_id",
                                (first_row, last_row)).fetchall()
        return [r[0] for r in rows], [r[1].split() for r in rows]

    def iter_chunks(self) -> Iterator[ChunkRecord]:
        for row in self._db.execute(f"SELECT {self._chunk_columns} FROM chunks ORDER BY row_id"):
            yield _chunk(row)

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

    def document_mentions(self, source: str, text: str) -> bool:
        variants = {text.lower(), text.lower().replace("-", ""), text.lower().replace("-", " ")}
        clause = " OR ".join("instr(lower(text), ?) > 0" for _ in variants)
        row = self._db.execute(f"SELECT 1 FROM chunks WHERE source = ? AND ({clause}) LIMIT 1", (source, *variants)).fetchone()
        return row is not None

    # -- segments (writer) -------------------------------------------------------------------------------
    def add_segment(self, segment: Segment) -> None:
        self._db.execute("INSERT INTO segments (seq, first_row, last_row, rows, vector_kind) VALUES (?,?,?,?,?)",
                         (segment.seq, segment.first_row, segment.last_row, segment.rows, segment.vector_kind))

    def replace_segments(self, old: Sequence[Segment], new: Segment | None) -> None:
        """A merge: the old segments go, their tombstones are forgotten (the merged one never held them);
        `new` is None when no row of them is left."""
        self._db.executemany("DELETE FROM segments WHERE seq = ?", [(s.seq,) for s in old])
        first, last = min(s.first_row for s in old), max(s.last_row for s in old)
        self._db.execute("DELETE FROM tombstones WHERE row_id BETWEEN ? AND ?", (first, last))
        if new is not None:
            self.add_segment(new)

    def next_segment_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM segments").fetchone()
        return int(row[0] or 0) + 1
