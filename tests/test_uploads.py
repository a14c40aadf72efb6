from pathlib import Path

import pytest

from app.render import as_markdown_text, passage_html
from app.uploads import UploadError, safe_name, save_upload
from tests import badfiles


@pytest.mark.parametrize(
    "given, expected",
    [
        ("../../etc/passwd.md", "passwd.md"),
        ("..\\..\\windows\\win.ini.txt", "win.ini.txt"),
        (".hidden.md", "hidden.md"),
        ("报告 (最终版).PDF", "报告 (最终版).pdf"),
        ("a\nb<script>.md", "ab_script_.md"),
        ("../", "document"),
    ],
)
def test_names_cannot_leave_the_upload_folder(given, expected):
    assert safe_name(given) == expected


def test_uploads_are_checked_by_content_and_size(tmp_path: Path):
    saved = save_upload(tmp_path, "../../evil/notes.md", b"# Notes\nPump P-9 runs at 1450 rpm.", 1 << 20)
    assert saved == (tmp_path / "uploads" / "notes.md").resolve() and saved.read_bytes().startswith(b"# Notes")
    with pytest.raises(UploadError, match="not a PDF"):
        save_upload(tmp_path, "fake.pdf", b"<html>not a pdf</html>", 1 << 20)
    with pytest.raises(UploadError, match="not a Word document"):
        save_upload(tmp_path, "fake.docx", b"PK\x03\x04garbage", 1 << 20)
    with pytest.raises(UploadError, match="binary content"):
        save_upload(tmp_path, "photo.txt", b"\xff\xd8\xff\xe0" + bytes(64), 1 << 20)
    with pytest.raises(UploadError, match="unsupported file type .exe"):
        save_upload(tmp_path, "setup.exe", b"MZ", 1 << 20)
    with pytest.raises(UploadError, match="over the upload limit of 1 MiB"):
        save_upload(tmp_path, "big.txt", b"x" * (2 << 20), 1 << 20)
    docx = save_upload(tmp_path, "policy.docx", badfiles.SAMPLE_DOCX.read_bytes(), 1 << 20)
    assert docx.name == "policy.docx"
    assert sorted(p.name for p in (tmp_path / "uploads").iterdir()) == ["notes.md", "policy.docx"]


def test_document_and_answer_text_is_shown_as_text():
    shown = passage_html("before <b>", "<script>alert(1)</script>", "![x](http://attacker.example/x.png)", [(0, 8)])
    assert "<script>" not in shown and "&lt;script&gt;" in shown and "<mark" in shown
    escaped = as_markdown_text("![x](http://attacker.example/x.png) **bold** <img src=x>")
    assert "\\!\\[x\\]\\(http" in escaped and "\\*\\*bold\\*\\*" in escaped and "<img" not in escaped
