"""The ingest run: walk paths, skip unchanged files, load, split, embed and commit them to the KB, in
checkpoints on a long run (a crash keeps every checkpoint; running the ingest again resumes after it).

A file that fails at any stage before embedding (unreadable, too large, corrupt, a parser that hangs or
crashes) is reported in `IngestReport.failed` and the rest goes in.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ingest.embed import Embedder
from ingest.isolate import IsolatedLoader
from ingest.load import MiB, LoadLimits
from ingest.split import TokenSplitter
from ingest.types import Chunk, IngestProgress, IngestReport, SourceFile
from ingest.walk import read_file, walk
from rag.errors import DocumentLoadError, KnowledgeBaseError
from rag.store import DocumentRecord, KnowledgeBaseStore, StoreWriter
from rag.text import KeywordTokenizer

log = logging.getLogger(__name__)

ProgressCallback = Callable[[IngestProgress], None]
# Bytes of KB (chunk text, terms, vectors, keyword index, the WAL until it is checkpointed) per byte of
# input, measured on sample_docs and the generated bench corpus (1.6-2.4), rounded up so the free-space
# check errs on the safe side.
KB_BYTES_PER_INPUT_BYTE = 4.0
# Chunks gathered before they are embedded together: room to sort them by length into batches that need
# little padding, while memory stays bounded by this, not by the corpus.
EMBED_TOGETHER_CHUNKS = 1024


@dataclass
class _Pending:
    record: DocumentRecord
    chunks: list[Chunk]


class Ingestor:
    """Turns files into chunks, vectors and keyword terms and commits them through a StoreWriter."""

    def __init__(
        self,
        embedder: Embedder,
        splitter: TokenSplitter,
        tokenizer: KeywordTokenizer,
        batch_size: int | None = None,
        limits: LoadLimits | None = None,
        follow_symlinks: str = "inside",
        readable_only: bool = False,
    ):
        self.embedder = embedder
        self.splitter = splitter
        self.tokenizer = tokenizer
        self.batch_size = batch_size or embedder.batch_size
        self.limits = limits or LoadLimits()
        self.follow_symlinks = follow_symlinks
        self.readable_only = readable_only  # no vector for a chunk the embedder cannot read (Embedder.reads)
        self._tags = ""

    def run(
        self,
        store: KnowledgeBaseStore,
        paths: Sequence[str | Path],
        prune: bool = False,
        progress: ProgressCallback | None = None,
        checkpoint_files: int = 200,
        checkpoint_seconds: float = 300.0,
        tags: Sequence[str] = (),
    ) -> IngestReport:
        """Ingest `paths` into `store` (refreshed to the result when it returns).

        `tags` label every document of this run (search filters on them); an unchanged file gets the
        new tags without being read again. Bad files are reported in `report.failed` and skipped. Anything else that goes wrong leaves the KB
        as of the last checkpoint: every `checkpoint_files` files or `checkpoint_seconds` seconds.

        Raises:
            KnowledgeBaseError: not enough free disk space, or the KB cannot be written.
        """
        started = time.perf_counter()
        report = IngestReport(stage_seconds={"load": 0.0, "split": 0.0, "embed": 0.0, "index": 0.0})
        self._tags = ",".join(dict.fromkeys(tags))
        found = walk(paths, self.follow_symlinks)
        files, report.skipped, report.failed = found.files, found.skipped, found.failed
        self._check_free_space(store, files)

        def tell(done: int, path: str, stage: str) -> None:
            if progress:
                progress(IngestProgress(done, len(files), report.chunks_added, path, stage, time.perf_counter() - started))

        pending: list[_Pending] = []
        since_checkpoint, last_checkpoint = 0, time.monotonic()
        with store.writer() as writer, IsolatedLoader(self.limits) as loader:
            for done, path in enumerate(files):
                tell(done, str(path), "load")
                self._ingest_file(writer, loader, path, report, pending)
                since_checkpoint += 1
                if sum(len(p.chunks) for p in pending) >= EMBED_TOGETHER_CHUNKS:
                    tell(done, str(path), "embed")
                    self._flush(writer, pending, report)
                if since_checkpoint >= checkpoint_files or time.monotonic() - last_checkpoint >= checkpoint_seconds:
                    tell(done + 1, str(path), "commit")
                    self._flush(writer, pending, report)
                    t = time.perf_counter()
                    writer.checkpoint()
                    report.stage_seconds["index"] += time.perf_counter() - t
                    since_checkpoint, last_checkpoint = 0, time.monotonic()
            tell(len(files), "", "embed")
            self._flush(writer, pending, report)
            if prune:
                self._prune(writer, paths, files, report)
            tell(len(files), "", "commit")
            t = time.perf_counter()
            writer.commit()
            report.stage_seconds["index"] += time.perf_counter() - t
        report.seconds = time.perf_counter() - started
        tell(len(files), "", "done")
        return report

    def _check_free_space(self, store: KnowledgeBaseStore, files: list[Path]) -> None:
        """Refuse to start an ingest the disk cannot hold."""
        new_bytes = 0
        for path in files:
            try:
                info = path.stat()
            except OSError:
                continue
            known = store.document(str(path))
            if known is None or known.size != info.st_size or known.mtime != info.st_mtime:
                new_bytes += min(info.st_size, self.limits.max_file_bytes)
        needed = KB_BYTES_PER_INPUT_BYTE * new_bytes
        free = shutil.disk_usage(store.root).free
        if free < needed:
            raise KnowledgeBaseError(
                f"{store.root}: not enough free disk space for this ingest: it needs about {needed / MiB:,.0f} MiB "
                f"for the new documents and "
                f"{free / MiB:,.0f} MiB is free. Free some space, or ingest fewer files at a time."
            )

    def _ingest_file(self, writer: StoreWriter, loader: IsolatedLoader, path: Path, report: IngestReport,
                     pending: list[_Pending]) -> None:
        source = str(path)
        t = time.perf_counter()
        previous = writer.document(source)
        try:
            data, stat = read_file(path, self.limits.max_file_bytes)
        except DocumentLoadError as exc:
            report.failed.append((source, exc.reason))
            log.warning("skipped %s: %s", source, exc.reason)
            return
        content_hash = hashlib.sha256(data).hexdigest()
        if previous and previous.content_hash == content_hash and previous.status == "indexed":
            report.unchanged.append(source)
            if self._tags and previous.tags != self._tags:
                writer.put_document(dataclasses.replace(previous, tags=self._tags))
            return
        doc_id = content_hash[:32]
        file = SourceFile(source, stat.st_size, stat.st_mtime, content_hash)
        try:
            pages = loader.load(path, data)
            del data
            report.stage_seconds["load"] += time.perf_counter() - t
            t = time.perf_counter()
            try:
                chunks = self.splitter.split(pages, doc_id=doc_id, source=source)
            except Exception as exc:  # the splitter's failure on one file's text is that file's failure
                raise DocumentLoadError(source, f"text could not be split ({type(exc).__name__}: {exc})") from exc
            report.stage_seconds["split"] += time.perf_counter() - t
        except DocumentLoadError as exc:
            report.stage_seconds["load"] += time.perf_counter() - t
            report.failed.append((source, exc.reason))
            log.warning("skipped %s: %s", source, exc.reason)
            if previous:
                report.chunks_removed += writer.remove_document(source)
            writer.put_document(_record(file, doc_id, "failed", exc.reason, 0, self._tags))
            return
        if previous:
            report.chunks_removed += writer.remove_document(source)
            (report.updated if previous.status == "indexed" else report.added).append(source)
        else:
            report.added.append(source)
        pending.append(_Pending(_record(file, doc_id, "indexed", None, len(chunks), self._tags), chunks))

    def _flush(self, writer: StoreWriter, pending: list[_Pending], report: IngestReport) -> None:
        if not pending:
            return
        chunks = [c for p in pending for c in p.chunks]
        t = time.perf_counter()
        vectors = self.embedder.embed_passages([self._embedded_text(c) for c in chunks], batch_size=self.batch_size,
                                               readable_only=self.readable_only)
        report.stage_seconds["embed"] += time.perf_counter() - t
        t = time.perf_counter()
        # Keyword terms are the chunk's own: a title's terms on every chunk of its document made them common,
        # and a question's generic words ("公司的董事长是谁？") were then covered by headings alone.
        terms = self.tokenizer.index_terms_many([c.text for c in chunks])
        writer.add_chunks(chunks, vectors, terms)
        for item in pending:
            writer.put_document(item.record)
        report.chunks_added += len(chunks)
        report.stage_seconds["index"] += time.perf_counter() - t
        pending.clear()

    def _embedded_text(self, chunk: Chunk) -> str:
        """The chunk under its headings; a chunk the embedder cannot read itself stays as it is (and gets no
        vector), rather than one made of its headings alone."""
        if chunk.section and self.readable_only and not self.embedder.readable_text(chunk.text):
            return chunk.text
        return chunk.text_in_context()

    def _prune(self, writer: StoreWriter, paths: Sequence[str | Path], files: list[Path], report: IngestReport) -> None:
        seen = {str(p) for p in files} | {p for p, _ in report.failed}
        roots = [str(Path(p).expanduser().absolute()) for p in paths]
        for source in writer.sources():
            under_root = any(source == r or source.startswith(r.rstrip(os.sep) + os.sep) for r in roots)
            if (under_root and source not in seen) or not os.path.lexists(source):
                report.chunks_removed += writer.remove_document(source)
                report.removed.append(source)


def _record(file: SourceFile, doc_id: str, status: str, error: str | None, n_chunks: int, tags: str) -> DocumentRecord:
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
        tags=tags,
    )
