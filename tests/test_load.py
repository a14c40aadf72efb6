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
    assert "400-820-7788" in text and "Qingshan Fluid Systems" in text  # the footer stays
    assert "Home | Products" not in text and not text.startswith("Home")  # the site's menu goes
    assert "do-not-index-this-script" not in text and "font-family" not in text


def test_docx_paragraphs_and_tables():
    text = load(SAMPLE_DOCS / "training_policy.docx")[0].text
    assert "16 hours of safety induction" in text
    assert "Annual refresher | 4" in text


def test_a_docx_table_stays_under_its_heading(tmp_path: Path):
    import docx

    document = docx.Document()
    document.add_paragraph("3 Retention schedule")
    table = document.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, [("Record", "Period"), ("Invoices", "7 years")]):
        for cell, text in zip(row.cells, cells):
            cell.text = text
    document.add_paragraph("4 Legal hold")
    path = tmp_path / "policy.docx"
    document.save(path)
    assert load(path)[0].text == "3 Retention schedule\n\nRecord | Period\n\nInvoices | 7 years\n\n4 Legal hold"


def test_markdown_inline_markup_is_not_text(tmp_path: Path):
    path = tmp_path / "act.md"
    path.write_text("## Part 3\n\n**Section 9. Access.** The landlord may *only* enter the [dwelling](https://x.example/d) "
                    "after `48 hours`.\n\n* a list item\n\n| **Record** | Period |\n|---|---|\n\nsnake_case and 2*3*4 stay.",
                    encoding="utf-8")
    assert load(path)[0].text == ("## Part 3\n\nSection 9. Access. The landlord may only enter the dwelling after 48 hours.\n\n"
                                  "* a list item\n\n| Record | Period |\n|---|---|\n\nsnake_case and 2*3*4 stay.")


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


# -- hostile and broken files: each becomes a DocumentLoadError with a reason, never another exception --

from ingest.load import LOADERS, LoadLimits  # noqa: E402
from tests import badfiles  # noqa: E402


@pytest.mark.parametrize(
    "name, build, reason",
    [
        ("bad_crc.docx", badfiles.docx_bad_crc, "Bad CRC-32"),
        ("malformed.docx", badfiles.docx_malformed_xml, "XMLSyntaxError"),
        ("method99.docx", badfiles.docx_unsupported_compression, "compression method is not supported"),
        ("unknown_filter.pdf", badfiles.pdf_unknown_filter, "no extractable text"),
        ("aes_user_password.pdf", lambda: badfiles.pdf_encrypted("secret"), "password is required"),
        ("paragraph_bomb.docx", badfiles.docx_empty_paragraph_bomb, "likely a zip bomb"),
    ],
)
def test_broken_and_hostile_files_fail_with_their_reason(tmp_path: Path, name, build, reason):
    path = tmp_path / name
    path.write_bytes(build())
    with pytest.raises(DocumentLoadError, match=reason):
        load(path)


def test_aes_pdf_with_only_an_owner_password_is_read(tmp_path: Path):
    path = tmp_path / "restricted.pdf"
    path.write_bytes(badfiles.pdf_encrypted(""))
    pages = load(path)
    assert [p.number for p in pages] == [1, 2, 3] and "2,000 operating hours" in pages[0].text


def test_unforeseen_parser_exception_becomes_a_load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def exploding_loader(path, data, limits):  # test double: a parser failing in a way nobody foresaw
        raise ZeroDivisionError("parser bug")

    monkeypatch.setitem(LOADERS, ".md", exploding_loader)
    path = tmp_path / "doc.md"
    path.write_text("# text", encoding="utf-8")
    with pytest.raises(DocumentLoadError, match=r"corrupt or unreadable file \(ZeroDivisionError: parser bug\)"):
        load(path)


def test_size_limits_name_the_setting(tmp_path: Path):
    path = tmp_path / "long.txt"
    path.write_bytes(b"x" * 5000)
    with pytest.raises(DocumentLoadError, match="max_file_mb"):
        load_document(path, path.read_bytes(), LoadLimits(max_file_bytes=1000))
    with pytest.raises(DocumentLoadError, match="max_document_chars"):
        load_document(path, path.read_bytes(), LoadLimits(max_chars=1000))
    docx = tmp_path / "big.docx"
    docx.write_bytes(badfiles.docx_with_document_xml(b"<w:document>" + b"a" * 3_000_000 + b"</w:document>"))
    with pytest.raises(DocumentLoadError, match="max_unpacked_mb"):
        load_document(docx, docx.read_bytes(), LoadLimits(max_unpacked_bytes=2_000_000, max_compression_ratio=1e9))


@pytest.mark.parametrize(
    "data, expected",
    [
        ("Le système de sécurité du café est conçu pour 5 bar. ".encode("cp1252") * 3, "Le système de sécurité du café"),
        ("Der Prüfdruck beträgt 5 bar; Größe M12. ".encode("latin-1"), "Der Prüfdruck beträgt 5 bar; Größe M12."),
        (("Le café coûte 3 €. 青山流体。" * 30).encode()[:150] + b"\xe9\xff" + ("Ça marche très bien. " * 30).encode(),
         "Ça marche très bien."),
        ("Pump P-9 runs at 1450 rpm. 泵的转速。\n".encode("utf-16-le") * 20, "Pump P-9 runs at 1450 rpm. 泵的转速。"),
        ("Pump P-9 runs at 1450 rpm.\n".encode("utf-16-be") * 20, "Pump P-9 runs at 1450 rpm."),
    ],
    ids=["cp1252", "latin-1", "mostly-utf8", "utf16le-no-bom", "utf16be-no-bom"],
)
def test_text_encodings_decode_without_mojibake(tmp_path: Path, data: bytes, expected: str):
    path = tmp_path / "doc.txt"
    path.write_bytes(data)
    text = load(path)[0].text
    assert expected in text
    assert "Ã" not in text and "č" not in text


def test_nul_bytes_late_in_a_text_file_are_dropped(tmp_path: Path):
    path = tmp_path / "nul.txt"
    path.write_bytes(b"Valve V-7 is checked weekly. " * 400 + b"\x00Torque\x00 is 40 Nm.\x01")
    text = load(path)[0].text
    assert "\x00" not in text and "\x01" not in text and text.endswith("Torque is 40 Nm.")


def test_html_inline_elements_stay_in_their_sentence(tmp_path: Path):
    path = tmp_path / "page.html"
    path.write_text("<p>The hotline is <b>400-820-7788</b>, open <a href='x'>24 hours</a> a day.</p><p>Next.</p>",
                    encoding="utf-8")
    assert load(path)[0].text == "The hotline is 400-820-7788, open 24 hours a day.\n\nNext."


def test_html_source_line_breaks_do_not_split_paragraphs(tmp_path: Path):
    path = tmp_path / "page.html"
    path.write_text("<p>Customers in the city of\n   Changzhou get an engineer\nwithin 24 hours.</p><ul><li>One</li><li>Two</li></ul>",
                    encoding="utf-8")
    assert load(path)[0].text == "Customers in the city of Changzhou get an engineer within 24 hours.\n\nOne\n\nTwo"


def test_html_table_rows_stay_whole(tmp_path: Path):
    path = tmp_path / "spec.html"
    path.write_text("<h2>Data</h2><table><tr><th>Parameter</th><th>Value</th></tr><tr><td>Rated <b>power</b></td><td>5,000 W</td></tr>"
                    "<tr><td></td><td></td></tr><tr><td>Sizes</td><td><table><tr><td>S</td><td>M</td></tr></table></td></tr></table><p>After.</p>",
                    encoding="utf-8")
    assert load(path)[0].text == "Data\n\nParameter | Value\n\nRated power | 5,000 W\n\nSizes | S | M\n\nAfter."


def test_html_row_inside_a_cell_is_read_once(tmp_path: Path):
    path = tmp_path / "broken.html"
    path.write_text("<table><tr><td>a<td>b<tr><th>c</table></td>", encoding="utf-8")  # rows nested in cells
    assert load(path)[0].text == "a b c"
