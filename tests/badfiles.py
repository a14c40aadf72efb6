"""Builders of hostile and broken input files, made inside the tests (nothing binary is checked in)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

from tests.conftest import SAMPLE_DOCS

SAMPLE_DOCX = SAMPLE_DOCS / "training_policy.docx"
SAMPLE_PDF = SAMPLE_DOCS / "maintenance_procedures.pdf"


def rezip(source: bytes, replace: dict[str, bytes] | None = None, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """The zip `source` with some members' bytes replaced, written with `compression`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as old, zipfile.ZipFile(out, "w", compression) as new:
        for info in old.infolist():
            data = (replace or {}).get(info.filename, old.read(info.filename))
            new.writestr(info.filename, data)
    return out.getvalue()


def docx_bad_crc() -> bytes:
    """document.xml stored uncompressed with one byte changed: the CRC no longer matches."""
    data = bytearray(rezip(SAMPLE_DOCX.read_bytes(), compression=zipfile.ZIP_STORED))
    at = data.index(b"<w:body>") + 3
    data[at] = ord("X") if data[at] != ord("X") else ord("Y")
    return bytes(data)


def docx_malformed_xml() -> bytes:
    return rezip(SAMPLE_DOCX.read_bytes(), {"word/document.xml": b"<?xml version='1.0'?><w:document><w:body><w:p>unclosed"})


def docx_unsupported_compression() -> bytes:
    """Every member claims compression method 99 (AES), which zipfile cannot read."""
    data = bytearray(rezip(SAMPLE_DOCX.read_bytes()))
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            data[start + offset : start + offset + 2] = (99).to_bytes(2, "little")
            start += 4
    return bytes(data)


def docx_with_document_xml(xml: bytes) -> bytes:
    return rezip(SAMPLE_DOCX.read_bytes(), {"word/document.xml": xml})


def docx_empty_paragraph_bomb(paragraphs: int = 3_000_000) -> bytes:
    """A small file whose document.xml holds millions of empty paragraphs (the 61 KB → 107 s case)."""
    body = b"<w:p/>" * paragraphs
    xml = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxml'
           b'formats.org/wordprocessingml/2006/main"><w:body>' + body + b"</w:body></w:document>")
    return docx_with_document_xml(xml)


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF of these objects (numbered from 1; the first is the catalog), with its cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def pdf_unknown_filter() -> bytes:
    """A one-page PDF whose content stream uses a filter no reader implements."""
    return _pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents [4 0 R] /Resources << >> >>",
        b"<< /Length 10 /Filter /FooDecode >>\nstream\n0123456789\nendstream",
    ])


def text_pdf(pages: list[list[tuple]]) -> bytes:
    """A PDF whose pages show these (x, y, text) lines, or (x, y, text, size) ones (10 points where not given):
    ASCII in Helvetica, other text in the standard Chinese font STSong-Light (not embedded; its UCS-2 encoding
    lets a reader extract the text)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, once the pages are numbered
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H /DescendantFonts [5 0 R] >>",
        b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light"
        b" /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> >>",
    ]
    page_numbers = []
    for lines in pages:
        operations = []
        for x, y, text, *sized in lines:
            size = sized[0] if sized else 10
            if text.isascii():
                literal = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
                operations.append(f"BT /F1 {size} Tf {x} {y} Td ({literal}) Tj ET")
            else:
                operations.append(f"BT /F2 {size} Tf {x} {y} Td <{text.encode('utf-16-be').hex()}> Tj ET")
        stream = "\n".join(operations).encode("ascii")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 595] /Contents %d 0 R"
                       b" /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> >>" % len(objects))
        page_numbers.append(len(objects))
    objects[1] = (b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % n for n in page_numbers)
                  + b"] /Count %d >>" % len(page_numbers))
    return _pdf(objects)


def pdf_encrypted(user_password: str, algorithm: str = "AES-256") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(SAMPLE_PDF).pages:
        writer.add_page(page)
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def write_all(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder
