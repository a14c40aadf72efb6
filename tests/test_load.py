from pathlib import Path

import pytest

from ingest.load import load_document
from ingest.walk import walk
from rag.errors import DocumentLoadError
from tests.conftest import SAMPLE_DOCS


def load(path: Path):
    return load_document(path, path.read_bytes())


def test_markdown_and_utf8_text_load_whole():
    pages = load(SAMPLE_DOCS / "safety_handbook.md")
    assert len(pages) == 1 and pages[0].number is None
    assert "Assembly Point C" in pages[0].text


def test_gbk_text_is_decoded():
    text = load(SAMPLE_DOCS / "维修记录_gbk.txt")[0].text
    assert "机械密封" in text and "李建国" in text


def test_pdf_keeps_page_numbers():
    pages = load(SAMPLE_DOCS / "maintenance_procedures.pdf")
    assert [p.number for p in pages] == [1, 2, 3]
    assert "2,000 operating hours" in pages[0].text
    assert "7.1 mm/s" in pages[1].text


def test_html_keeps_visible_text_only():
    text = load(SAMPLE_DOCS / "warranty_and_service.html")[0].text
    assert "400-820-7788" in text
    assert "do-not-index-this-script" not in text and "font-family" not in text


def test_docx_paragraphs_and_tables():
    text = load(SAMPLE_DOCS / "training_policy.docx")[0].text
    assert "16 hours of safety induction" in text
    assert "Annual refresher | 4" in text


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.txt", b"", "file is empty"),
        ("blank.md", b"  \n\n ", "file is empty"),
        ("binary.txt", bytes(range(256)) * 8, "binary content"),
        ("broken.pdf", b"%PDF-1.4\n this is not really a pdf", "corrupt or unreadable PDF"),
        ("broken.docx", b"PK\x03\x04 not a zip", "corrupt or unreadable DOCX"),
    ],
)
def test_bad_files_raise_a_specific_reason(tmp_path: Path, name: str, data: bytes, reason: str):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DocumentLoadError, match=reason) as info:
        load(path)
    assert info.value.path == str(path)


def test_encrypted_pdf_is_refused_with_reason(tmp_path: Path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(SAMPLE_DOCS / "maintenance_procedures.pdf").pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner")
    path = tmp_path / "locked.pdf"
    with open(path, "wb") as handle:
        writer.write(handle)
    with pytest.raises(DocumentLoadError, match="password is required"):
        load(path)


def test_walk_lists_unsupported_files_as_skipped_and_ignores_hidden(tmp_path: Path):
    (tmp_path / "a.md").write_text("# A", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "b.md").write_text("secret", encoding="utf-8")
    found = walk([tmp_path])
    assert [f.name for f in found.files] == ["a.md"]
    assert found.skipped == [(str(tmp_path / "image.png"), "unsupported file type .png")]
    assert found.failed == []
