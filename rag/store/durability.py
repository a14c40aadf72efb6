"""Durable writes: fsync, one writer per KB directory, and disk-full / read-only turned into one clear error."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Callable, Iterator

from rag.errors import KnowledgeBaseError

LOCK_FILE = ".lock"
# Called with the name of each step of the commit protocol as it is reached; the crash tests kill the
# process there. Steps, in order: staged, synced, committed, merged, published.
StepHook = Callable[[str], None]
_DISK_FULL = ("no space left", "disk is full", "disk full", "database or disk is full")


def no_step(step: str) -> None:
    return None


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    for item in path.rglob("*"):
        if item.is_file():
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())
    for item in [path, *[p for p in path.rglob("*") if p.is_dir()]]:
        fsync_dir(item)


def damaged(root: Path, file: Path, problem: str) -> KnowledgeBaseError:
    return KnowledgeBaseError(
        f"{root}: damaged knowledge base: {file} {problem}. Restore the directory from a backup, or re-ingest "
        "the documents into a new KB directory"
    )


@contextlib.contextmanager
def writing(root: Path) -> Iterator[None]:
    """Turn the many shapes of 'disk full' and 'read-only' (OSError, sqlite3, FAISS's RuntimeError) into one
    KnowledgeBaseError that says what happened and what to do; the uncommitted changes are discarded."""
    try:
        yield
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        code = getattr(exc, "errno", None)
        message = str(exc).lower()
        if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or any(m in message for m in _DISK_FULL):
            free = shutil.disk_usage(root).free if root.exists() else 0
            raise KnowledgeBaseError(
                f"{root}: the disk is full ({free >> 20} MiB free); nothing was changed. Free some space and run "
                "the command again"
            ) from exc
        if code in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in message or "read-only" in message:
            raise KnowledgeBaseError(
                f"{root}: the knowledge base is read-only here ({exc}); it can be searched but not changed. "
                "Copy it to a writable place, or fix its permissions"
            ) from exc
        raise


class DirectoryLock:
    """One writer per KB directory at a time, across processes (flock is released if the process dies)."""

    def __init__(self, root: Path):
        self._path = Path(root) / LOCK_FILE
        self._handle = None

    def __enter__(self) -> "DirectoryLock":
        with writing(self._path.parent):
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
