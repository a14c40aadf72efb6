"""Parse files in a child process with a wall-time and memory limit, so no file can hang or exhaust the
ingest: a parser stuck in C code, a decompression bomb, or a crash in a native library costs that file only.
"""
from __future__ import annotations

import logging
import multiprocessing
import resource
import signal
from multiprocessing.connection import Connection
from pathlib import Path

from ingest.load import LoadLimits, load_document
from ingest.types import Page
from rag.errors import DocumentLoadError

log = logging.getLogger(__name__)


def _serve(conn: Connection, memory_bytes: int) -> None:
    """Child process: load each (path, bytes, limits) it is sent and send back pages or the error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ValueError, OSError) as exc:  # a hard limit below ours: keep the stricter one
        log.debug("memory limit not set: %s", exc)
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        path, data, limits = request
        try:
            reply = ("ok", load_document(Path(path), data, limits))
        except DocumentLoadError as exc:
            reply = ("error", exc.reason)
        except MemoryError:
            reply = ("error", f"parsing it needed more than {limits.memory_bytes >> 20} MiB of memory (limit load_memory_mb)")
        del data
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("error", "its text is too large to hand back (limit load_memory_mb)"))


class IsolatedLoader:
    """A reusable child process that runs `load_document`; restarted after a timeout or a crash.

    Use as a context manager, or call `close()`.
    """

    def __init__(self, limits: LoadLimits):
        self.limits = limits
        # spawn, not fork: the parent holds torch threads and model memory that a fork would copy or deadlock.
        self._context = multiprocessing.get_context("spawn")
        self._process = None
        self._conn: Connection | None = None

    def _start(self) -> None:
        parent, child = self._context.Pipe()
        self._process = self._context.Process(target=_serve, args=(child, self.limits.memory_bytes),
                                              name="rag-loader", daemon=True)
        self._process.start()
        child.close()
        self._conn = parent

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(timeout=5)
            self._process = None

    def load(self, path: Path, data: bytes) -> list[Page]:
        """Pages of the file, parsed in the child.

        Raises:
            DocumentLoadError: the file failed to parse, took longer than `timeout_s`, or crashed the parser.
        """
        if self._process is None or not self._process.is_alive():
            self._start()
        assert self._conn is not None
        try:
            self._conn.send((str(path), data, self.limits))
            if not self._conn.poll(self.limits.timeout_s):
                self._stop()
                raise DocumentLoadError(
                    str(path), f"parsing took longer than {self.limits.timeout_s:g} s (limit load_timeout_s)"
                )
            status, payload = self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError) as exc:
            code = self._process.exitcode if self._process is not None else None
            self._stop()
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}" if code is not None else type(exc).__name__
            raise DocumentLoadError(str(path), f"the parser crashed on it ({how})") from exc
        if status == "error":
            raise DocumentLoadError(str(path), payload)
        return payload

    def close(self) -> None:
        self._stop()

    def __enter__(self) -> "IsolatedLoader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
