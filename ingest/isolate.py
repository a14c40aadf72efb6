"""Parse files in a child process with a wall-time and memory limit, so no file can hang or exhaust the
ingest: a parser stuck in C code, a decompression bomb, or a crash in a native library costs that file only.
"""
from __future__ import annotations

import logging
import os
import pickle
import resource
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

from ingest.load import LoadLimits, load_document
from ingest.types import Page
from rag.errors import DocumentLoadError

log = logging.getLogger(__name__)


def _serve(conn: Connection, memory_bytes: int) -> None:
    """Child process: load each (path, bytes, limits) it is sent and send back pages or the error."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # Made before any file is parsed: once memory has run out there may be none left to build a reply.
    out_of_memory = pickle.dumps(
        ("error", f"parsing it needed more than the {memory_bytes >> 20} MiB the parser may use (limit load_memory_mb)")
    )
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ValueError, OSError) as exc:  # a hard limit below ours: keep the stricter one
        log.debug("memory limit not set: %s", exc)
    while True:
        try:
            try:
                path, data, limits = conn.recv()
            except EOFError:
                return
            try:
                reply = ("ok", load_document(Path(path), data, limits))
            except DocumentLoadError as exc:
                reply = ("error", exc.reason)
            del data
            conn.send(reply)
        except MemoryError:
            conn.send_bytes(out_of_memory)
            os._exit(0)  # a process that ran out of memory is not trusted again; the parent starts a new one


class IsolatedLoader:
    """A reusable child process that runs `load_document`; restarted after a timeout or a crash.

    Use as a context manager, or call `close()`.
    """

    def __init__(self, limits: LoadLimits):
        self.limits = limits
        self._process: subprocess.Popen | None = None
        self._conn: Connection | None = None

    def _start(self) -> None:
        # A fresh interpreter running this module, not multiprocessing's fork (the parent holds torch
        # threads a fork would deadlock on) nor spawn (it re-imports the parent's __main__: a Streamlit
        # page would run again, and `python -c` cannot be re-imported at all).
        parent, child = socket.socketpair()
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ingest.isolate", str(child.fileno()), str(self.limits.memory_bytes)],
            pass_fds=[child.fileno()], stdin=subprocess.DEVNULL, env=env,
        )
        child.close()
        self._conn = Connection(parent.detach())

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def load(self, path: Path, data: bytes) -> list[Page]:
        """Pages of the file, parsed in the child.

        Raises:
            DocumentLoadError: the file failed to parse, took longer than `timeout_s`, or crashed the parser.
        """
        if self._process is None or self._process.poll() is not None:
            self._stop()
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
            try:
                code = self._process.wait(timeout=5) if self._process is not None else None
            except subprocess.TimeoutExpired:
                code = None
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


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])), int(sys.argv[2]))
