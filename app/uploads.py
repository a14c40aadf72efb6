"""Uploaded files: names sanitised, size limited, type checked by content as well as extension, written
only inside the KB's upload folder."""
from __future__ import annotations

import io
import os
import re
import tempfile
import unicodedata
import zipfile
from pathlib import Path

from ingest.load import LOADERS, MiB
from rag.errors import RagError

UPLOAD_DIR = "uploads"
MAX_NAME_CHARS = 120
TEXT_TYPES = {".txt", ".text", ".md", ".markdown", ".html", ".htm"}


class UploadError(RagError):
    """An uploaded file was refused; the message says why."""


def safe_name(name: str) -> str:
    """A file name that stays inside the upload folder: no directories, no control characters, no
    leading dots, letters (any script), digits and `._-() ` only."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").split("/")[-1]
    name = "".join(c for c in name if c.isprintable())
    name = re.sub(r"[^\w.\-() ]", "_", name).strip(" .")
    stem, suffix = os.path.splitext(name)
    stem = stem[: MAX_NAME_CHARS - len(suffix)] or "document"
    return stem + suffix.lower()


def check_content(name: str, data: bytes) -> None:
    """Refuse a file whose bytes are not what its extension says.

    Raises:
        UploadError: unsupported type, or content that does not match it.
    """
    suffix = Path(name).suffix.lower()
    if suffix not in LOADERS:
        raise UploadError(f"{name}: unsupported file type {suffix or '(none)'}; use PDF, Markdown, text, HTML or DOCX")
    if suffix == ".pdf" and not data[:1024].lstrip().startswith(b"%PDF-"):
        raise UploadError(f"{name}: not a PDF (the file does not start with %PDF-)")
    if suffix == ".docx":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if "word/document.xml" not in archive.namelist():
                    raise UploadError(f"{name}: not a Word document (no word/document.xml inside)")
        except zipfile.BadZipFile as exc:
            raise UploadError(f"{name}: not a Word document (not a zip container)") from exc
    if suffix in TEXT_TYPES:
        head = data[:8192]
        utf16 = head[:2] in (b"\xff\xfe", b"\xfe\xff")
        if not utf16 and (head.count(0) > 8 or head[:4] in (b"%PDF", b"PK\x03\x04") or head[:3] == b"\xff\xd8\xff"):
            raise UploadError(f"{name}: binary content, not a {suffix} text file")


def save_upload(kb_dir: Path, name: str, data: bytes, max_bytes: int) -> Path:
    """Write an uploaded file into `kb_dir/uploads/` (replacing an earlier upload of the same name).

    Raises:
        UploadError: too large, wrong content, or a name that would leave the upload folder.
    """
    if len(data) > max_bytes:
        raise UploadError(f"{name}: {len(data) / MiB:.1f} MiB is over the upload limit of {max_bytes / MiB:.0f} MiB")
    clean = safe_name(name)
    check_content(clean, data)
    folder = (Path(kb_dir) / UPLOAD_DIR).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    target = (folder / clean).resolve()
    if target.parent != folder:
        raise UploadError(f"{name}: the name leads outside the upload folder")
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(temp, target)
    return target
