import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ingest.walk import read_file, walk
from rag.errors import DocumentLoadError
from tests.conftest import REPO


def _tree(root: Path) -> Path:
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.md").write_text("# A", encoding="utf-8")
    (docs / "sub" / "b.txt").write_text("B", encoding="utf-8")
    return docs


def test_links_outside_the_folders_are_not_followed(tmp_path: Path):
    docs = _tree(tmp_path)
    (docs / "passwd.txt").symlink_to("/etc/passwd")
    (docs / "zero.txt").symlink_to("/dev/zero")
    (docs / "inside.md").symlink_to(docs / "a.md")
    (docs / "loop").symlink_to(docs)  # a folder link back to the root must not recurse forever
    found = walk([docs])
    assert [p.name for p in found.files] == ["a.md", "inside.md", "b.txt"]
    skipped = {Path(p).name: reason for p, reason in found.skipped}
    assert "outside the ingested folders" in skipped["passwd.txt"] and "/etc/passwd" in skipped["passwd.txt"]
    assert "outside the ingested folders" in skipped["zero.txt"]
    assert walk([docs], follow_symlinks="never").files == [docs / "a.md", docs / "sub" / "b.txt"]


def test_devices_and_fifos_are_never_read(tmp_path: Path):
    docs = _tree(tmp_path)
    os.mkfifo(docs / "pipe.txt")
    (docs / "zero.txt").symlink_to("/dev/zero")
    found = walk([docs], follow_symlinks="always")  # even when links may go anywhere
    failed = {Path(p).name: reason for p, reason in found.failed}
    assert failed == {"pipe.txt": "a FIFO, not a regular file", "zero.txt": "a device, not a regular file"}
    with pytest.raises(DocumentLoadError, match="a FIFO, not a regular file"):
        read_file(docs / "pipe.txt", 1 << 20)  # returns at once: opened non-blocking, checked on the descriptor
    with pytest.raises(DocumentLoadError, match="a device"):
        read_file(Path("/dev/zero"), 1 << 20)


def test_file_over_the_size_limit_is_not_read(tmp_path: Path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 4096)
    with pytest.raises(DocumentLoadError, match="over the 0 MiB limit"):
        read_file(path, 1000)


WALK_AS_NOBODY = "import sys; from ingest.walk import walk; print(repr(walk([sys.argv[1]]).failed))"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the walk as another user")
def test_unreadable_folders_are_reported():
    # As root every folder is readable, so the walk runs as `nobody`, in a world-readable temp dir.
    root = Path(tempfile.mkdtemp(prefix="rag-walk-"))
    try:
        root.chmod(0o755)
        docs = _tree(root)
        docs.chmod(0o755)
        (docs / "sub").chmod(0o755)
        locked = docs / "locked"
        locked.mkdir()
        (locked / "c.md").write_text("C", encoding="utf-8")
        locked.chmod(0)
        result = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", sys.executable,
                                 "-c", WALK_AS_NOBODY, str(docs)], capture_output=True, text=True, cwd=REPO,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == repr([(str(locked), "folder cannot be read: Permission denied")])
    finally:
        subprocess.run(["chmod", "-R", "u+rwx", str(root)], check=True)
        subprocess.run(["rm", "-rf", str(root)], check=True)
