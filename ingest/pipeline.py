"""The ingest run: walk paths, skip unchanged files, load, split, embed and write one new KB generation."""
from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ingest.embed import Embedder
from ingest.load import is_supported, load_document
from ingest.split import TokenSplitter
from ingest.types import Chunk, IngestReport, SourceFile
from rag.errors import DocumentLoadError, RagError
from rag.store import DocumentRecord, KnowledgeBaseStore, StoreWriter
from rag.text import KeywordTokenizer

log = logging.getLogger(__name__)

# Called after each file: (files done, files in total, the file just handled).
ProgressCallback = Callable[[int, int, str], None]


def walk(paths: Iterable[str | Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to ingest under `paths` (recursively, sorted), and (path, reason) for the ones skipped.

    Raises:
        RagError: a given path does not exist.
    """
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for given in paths:
        root = Path(given).expanduser()
        if not root.exists():
            raise RagError(f"{root}: no such file or directory")
        candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink())
        for path in candidates:
            relative = path.relative_to(root) if path != root else Path(path.name)
            if any(part.startswith(".") for part in relative.parts):
                continue  # hidden files and folders (.git, .DS_Store) are not documents
            if not is_supported(path):
                skipped.append((str(path), f"unsupported file type {path.suffix or '(none)'}"))
                continue
            files.append(path.absolute())
    return sorted(set(files)), skipped


@dataclass
class _Pending:
    record: DocumentRecord
    chunks: list[Chunk]


class Ingestor:
    """Turns files into chunks, vectors and keyword terms inside one StoreWriter transaction."""

    def __init__(
        self,
        embedder: Embedder,
        splitter: TokenSplitter,
        tokenizer: KeywordTokenizer,
        batch_size: int = 32,
    ):
        self.embedder = embedder
        self.splitter = splitter
        self.tokenizer = tokenizer
        self.batch_size = batch_size

    def run(
        self,
        store: KnowledgeBaseStore,
        paths: Sequence[str | Path],
        prune: bool = False,
        progress: ProgressCallback | None = None,
    ) -> tuple[IngestReport, KnowledgeBaseStore]:
        """Ingest `paths` into `store`; returns the report and the store reopened on the new generation.

        Bad files are reported in `report.failed` and skipped; anything else that goes wrong leaves the
        KB exactly as it was.
        """
        started = time.perf_counter()
        report = IngestReport(stage_seconds={"load": 0.0, "split": 0.0, "embed": 0.0, "index": 0.0})
        files, report.skipped = walk(paths)
        pending: list[_Pending] = []
        with store.writer() as writer:
            for done, path in enumerate(files, 1):
                self._ingest_file(writer, path, report, pending)
                if sum(len(p.chunks) for p in pending) >= self.batch_size * 8:
                    self._flush(writer, pending, report)
                if progress:
                    progress(done, len(files), str(path))
            self._flush(writer, pending, report)
            if prune:
                self._prune(writer, paths, files, report)
            t = time.perf_counter()
            new_store = writer.commit()
            report.stage_seconds["index"] += time.perf_counter() - t
        store.close()
        report.seconds = time.perf_counter() - started
        return report, new_store

    def _ingest_file(self, writer: StoreWriter, path: Path, report: IngestReport, pending: list[_Pending]) -> None:
        source = str(path)
        t = time.perf_counter()
        try:
            data = path.read_bytes()
            stat = path.stat()
        except OSError as exc:
            report.failed.append((source, f"cannot be read: {exc.strerror or exc}"))
            return
        content_hash = hashlib.sha256(data).hexdigest()
        previous = writer.document(source)
        if previous and previous.content_hash == content_hash and previous.status == "indexed":
            report.unchanged.append(source)
            return
        doc_id = content_hash[:32]
        try:
            pages = load_document(path, data)
        except DocumentLoadError as exc:
            report.stage_seconds["load"] += time.perf_counter() - t
            report.failed.append((source, exc.reason))
            log.warning("skipped %s: %s", source, exc.reason)
            if previous:
                report.chunks_removed += writer.remove_document(source)
            file = SourceFile(source, stat.st_size, stat.st_mtime, content_hash)
            writer.put_document(_record(file, doc_id, "failed", exc.reason, 0))
            return
        report.stage_seconds["load"] += time.perf_counter() - t
        t = time.perf_counter()
        chunks = self.splitter.split(pages, doc_id=doc_id, source=source)
        report.stage_seconds["split"] += time.perf_counter() - t
        if previous:
            report.chunks_removed += writer.remove_document(source)
            (report.updated if previous.status == "indexed" else report.added).append(source)
        else:
            report.added.append(source)
        file = SourceFile(source, stat.st_size, stat.st_mtime, content_hash)
        pending.append(_Pending(_record(file, doc_id, "indexed", None, len(chunks)), chunks))

    def _flush(self, writer: StoreWriter, pending: list[_Pending], report: IngestReport) -> None:
        if not pending:
            return
        chunks = [c for p in pending for c in p.chunks]
        t = time.perf_counter()
        vectors = self.embedder.embed_passages([c.text for c in chunks], batch_size=self.batch_size)
        report.stage_seconds["embed"] += time.perf_counter() - t
        t = time.perf_counter()
        terms = self.tokenizer.tokenize_many([c.text for c in chunks])
        writer.add_chunks(chunks, vectors, terms)
        for item in pending:
            writer.put_document(item.record)
        report.chunks_added += len(chunks)
        report.stage_seconds["index"] += time.perf_counter() - t
        pending.clear()

    def _prune(self, writer: StoreWriter, paths: Sequence[str | Path], files: list[Path], report: IngestReport) -> None:
        seen = {str(p) for p in files}
        roots = [str(Path(p).expanduser().absolute()) for p in paths]
        for source in writer.sources():
            under_root = any(source == r or source.startswith(r.rstrip(os.sep) + os.sep) for r in roots)
            if (under_root and source not in seen) or not os.path.exists(source):
                report.chunks_removed += writer.remove_document(source)
                report.removed.append(source)


def _record(file: SourceFile, doc_id: str, status: str, error: str | None, n_chunks: int) -> DocumentRecord:
    return DocumentRecord(
        source=file.path,
        doc_id=doc_id,
        content_hash=file.content_hash,
        size=file.size,
        mtime=file.mtime,
        status=status,
        error=error,
        n_chunks=n_chunks,
        ingested_at=time.time(),
    )
