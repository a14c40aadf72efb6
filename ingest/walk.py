"""Find the files to ingest: regular files only, symbolic links followed only where the policy allows,
and every file or folder that cannot be read reported rather than silently passed over."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ingest.load import MiB, is_supported
from rag.errors import DocumentLoadError, RagError

# never: links are reported and skipped; inside: followed when the target lies inside a folder being
# ingested (a link to /etc/passwd is not); always: followed anywhere. Devices, FIFOs and sockets never are.
SYMLINK_POLICIES = ("never", "inside", "always")


@dataclass
class WalkResult:
    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): not a document
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): a document we cannot read


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _inside(target: str, roots: list[str]) -> bool:
    return any(target == r or target.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def walk(paths: Iterable[str | Path], follow_symlinks: str = "inside") -> WalkResult:
    """Files to ingest under `paths` (recursively, sorted), with what was skipped or unreadable and why.

    Raises:
        RagError: a given path does not exist, or the policy is unknown.
    """
    if follow_symlinks not in SYMLINK_POLICIES:
        raise RagError(f"follow_symlinks must be one of {', '.join(SYMLINK_POLICIES)}. Currently, it is {follow_symlinks!r}")
    result = WalkResult()
    given = [Path(p).expanduser().absolute() for p in paths]
    for root in given:
        if not root.exists():
            raise RagError(f"{root}: no such file or directory")
    roots = [os.path.realpath(p) for p in given]
    visited: set[str] = set()

    def consider(path: Path, mode: int) -> None:
        if stat.S_ISDIR(mode):
            descend(path)
        elif not is_supported(path):
            result.skipped.append((str(path), f"unsupported file type {path.suffix or '(none)'}"))
        elif stat.S_ISREG(mode):
            result.files.append(path)
        else:
            result.failed.append((str(path), f"{_kind(mode)}, not a regular file"))

    def descend(folder: Path) -> None:
        real = os.path.realpath(folder)
        if real in visited:  # a link loop, or a folder reached twice through links
            return
        visited.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            result.failed.append((str(folder), f"folder cannot be read: {exc.strerror or exc}"))
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files and folders (.git, .DS_Store) are not documents
            path = folder / entry.name
            try:
                if entry.is_symlink():
                    link(path)
                else:
                    consider(path, entry.stat(follow_symlinks=False).st_mode)
            except OSError as exc:
                result.failed.append((str(path), f"cannot be read: {exc.strerror or exc}"))

    def link(path: Path) -> None:
        if follow_symlinks == "never":
            result.skipped.append((str(path), "symbolic link, not followed (follow_symlinks = never)"))
            return
        target = os.path.realpath(path)
        try:
            mode = os.stat(target).st_mode
        except OSError:
            result.failed.append((str(path), "cannot be read: broken symbolic link"))
            return
        if follow_symlinks == "inside" and not _inside(target, roots):
            result.skipped.append((str(path), f"symbolic link to {target}, outside the ingested folders (follow_symlinks = inside)"))
            return
        consider(path, mode)

    for root in given:
        try:
            mode = os.stat(root).st_mode  # a path the user named is followed whatever it is a link to
        except OSError as exc:
            result.failed.append((str(root), f"cannot be read: {exc.strerror or exc}"))
            continue
        if stat.S_ISDIR(mode):
            descend(root)
        else:
            consider(root, mode)
    result.files = sorted(set(result.files))
    return result


def read_file(path: Path, max_bytes: int) -> tuple[bytes, os.stat_result]:
    """The bytes and stat of a regular file, refusing anything else or anything over `max_bytes`.

    The type is checked on the opened descriptor, so a file swapped for a FIFO after the walk cannot hang us.

    Raises:
        DocumentLoadError: not a regular file, too large, or unreadable.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DocumentLoadError(str(path), f"cannot be read: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DocumentLoadError(str(path), f"{_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise DocumentLoadError(str(path), f"file is {info.st_size / MiB:.0f} MiB, over the {max_bytes / MiB:.0f} MiB limit (max_file_mb)")
        try:
            data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise DocumentLoadError(str(path), f"cannot be read: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:  # grew while we read it
        raise DocumentLoadError(str(path), f"file is over the {max_bytes / MiB:.0f} MiB limit (max_file_mb)")
    return data, info
