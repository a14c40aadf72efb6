"""A document's headings as the loaders read them, and the section each chunk stands under."""
from pathlib import Path

from ingest.load import load_document
from ingest.outline import MAX_SECTION_CHARS, markdown_headings, numbered_division_headings
from ingest.split import TokenSplitter
from ingest.types import Heading, Page
from rag.answer.result import cited_sources_of
from tests.conftest import REPO


def _headings(page: Page) -> list[tuple[int, str]]:
    """Each heading's level and text, after checking that its offset points at its text in the page."""
    for heading in page.headings:
        assert page.text[heading.start:].lstrip("# ").startswith(heading.text), heading
    return [(h.level, h.text) for h in page.headings]


def test_markdown_headings_but_not_a_comment_in_code():
    text = "# Pump manual\n\nIntro.\n\n## 3. Lights ##\n\n```sh\n# not a heading\n```\n\n### Blinking\nText.\n#hashtag"
    assert [(h.level, h.text) for h in markdown_headings(text)] == [(1, "Pump manual"), (2, "3. Lights"), (3, "Blinking")]


def test_numbered_divisions_of_a_text_without_markup():
    text = ("临川市养犬管理规定\n第一章 总则\n第一条 为了规范养犬行为，制定本规定。\n第二节 登记\n"
            "一、QF-200 单级离心泵\n二、禁止携带犬只进入商场。\nCHAPTER 4 Deposits\nPart II\n"
            "Chapter 4 of the act says the landlord must return the deposit within ten days of the end of the tenancy, in full.")
    assert [(h.level, h.text) for h in numbered_division_headings(text)] == [
        (2, "第一章 总则"), (3, "第二节 登记"), (2, "一、QF-200 单级离心泵"), (2, "CHAPTER 4 Deposits"), (1, "Part II")]


def test_html_headings_keep_their_level_and_leave_no_mark(tmp_path: Path):
    html = ("<html><body><h1>NetLink <b>AX1800</b></h1><p>Intro.</p><h2>\n  3. Indicator lights\n</h2>"
            "<table><tr><th><h3>LED</h3></th><td>State</td></tr></table><h3></h3><p>Green means online.</p></body></html>")
    page, = load_document(tmp_path / "m.html", html.encode())
    assert _headings(page) == [(1, "NetLink AX1800"), (2, "3. Indicator lights")]
    assert "\ue000" not in page.text and "LED | State" in page.text


def test_docx_heading_styles(tmp_path: Path):
    from docx import Document

    document = Document()
    document.add_heading("Leave policy", level=0)
    document.add_paragraph("Employees are entitled to leave.")
    document.add_heading("Sick leave", level=1)
    document.add_paragraph("A doctor's note is needed after three days.")
    path = tmp_path / "p.docx"
    document.save(path)
    page, = load_document(path, path.read_bytes())
    assert _headings(page) == [(0, "Leave policy"), (1, "Sick leave")]


def _sections(pages: list[Page], chunk_tokens: int = 11) -> list[tuple[str, str]]:
    splitter = TokenSplitter(lambda text: len(text.split()), chunk_tokens, 0, 100)
    return [(chunk.section, chunk.text.split("\n")[0]) for chunk in splitter.split(pages, "d", "s")]


def test_a_chunk_stands_under_the_headings_open_where_it_starts():
    text = ("# Router manual\n\n## Lights\n\nGreen means the router is online and working as it should.\n\n"
            "Blinking white means WPS pairing is in progress right now.\n\n## Reset\n\n"
            "Hold the button for ten seconds to restore the factory settings.")
    sections = _sections([Page(text, headings=markdown_headings(text))])
    assert sections == [
        ("", "# Router manual"),  # a chunk that begins with its heading does not repeat it
        ("Router manual > Lights", "Green means the router is online and working as it should."),
        ("Router manual > Lights", "Blinking white means WPS pairing is in progress right now."),
        ("Router manual", "## Reset"),  # the Reset heading closes Lights, and the chunk shows it
        ("Router manual > Reset", "Hold the button for ten seconds to restore the factory settings."),
    ]


def test_a_section_holds_across_pages_and_keeps_its_innermost_headings():
    first = "第二章 养犬登记\n第六条 办理养犬登记的每只犬收取登记费。"
    second = "第七条 登记证每年年检一次。"
    pages = [Page(first, 1, numbered_division_headings(first)), Page(second, 2, numbered_division_headings(second))]
    assert _sections(pages, chunk_tokens=2) == [("", "第二章 养犬登记"), ("第二章 养犬登记", "第六条 办理养犬登记的每只犬收取登记费。"),
                                               ("第二章 养犬登记", "第七条 登记证每年年检一次。")]
    long = [Heading(0, 1, "A" * 60), Heading(70, 2, "B" * 60), Heading(140, 3, "Chapter 3")]
    text = "\n".join(f"w{i}" for i in range(200))
    section = _sections([Page(text, headings=tuple(long))], chunk_tokens=100)[-1][0]
    assert section == "B" * 60 + " > Chapter 3" and len(section) <= MAX_SECTION_CHARS


def test_a_chunk_is_embedded_under_its_section_and_found_by_it(make_kb, tmp_path: Path, minilm):
    """"Connect the blue port…" says nothing of getting started; under its heading the dense search finds it.
    Its keyword terms stay its own, and a Chinese chunk the English-only model cannot read gets no vector."""
    steps = ("Connect the blue port on the back of the unit to your modem with the supplied cable. Plug in the "
             "adapter and wait until the front lamp stops flashing. Open a browser on a computer nearby.")
    html = (f"<h1>Acme R7 Router</h1><h2>Safety</h2><p>Keep the unit dry and away from heat sources at all times.</p>"
            f"<h2>Getting started with the router</h2><p>Read the safety notes first; they apply to every model.</p>"
            f"<p>{steps}</p><h2>Lights</h2><p>A red lamp means that the unit has no connection.</p>"
            f"<h2>中文说明</h2><p>{'将路由器放在通风良好的地方，远离热源。' * 3}</p>")
    kb = make_kb(chunk_tokens=60, chunk_overlap_tokens=0)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "r7.html").write_text(html, encoding="utf-8")
    kb.ingest([tmp_path / "docs"])
    question = "How do I get started with the Acme R7?"
    hit, = [h for h in kb.search(question, 10) if h.chunk.text.startswith(steps)]
    query = minilm.embed_query(question)
    in_context, alone = minilm.embed_passages([f"Acme R7 Router > Getting started with the router\n\n{hit.chunk.text}",
                                               hit.chunk.text])
    assert abs(hit.cosine - float(query @ in_context)) < 1e-4
    assert hit.cosine > float(query @ alone) + 0.1
    assert hit.term_coverage == 0.0  # "started" and "Acme" are in its headings, not in its own terms
    # The store keeps the section, and an answer's sources show it.
    source, = cited_sources_of({1}, [hit])
    assert source.section == hit.chunk.section == "Acme R7 Router > Getting started with the router"
    assert source.label == "r7.html · Acme R7 Router > Getting started with the router"
    chinese = kb.search("将路由器放在通风良好的地方", 5)
    assert any(h.chunk.text.startswith("将路由器") and h.cosine == 0.0 for h in chinese)


def test_a_pdfs_bookmarks_are_its_headings_where_its_pages_show_them(tmp_path: Path):
    """Bookmarks as Word or a browser export them: a title the page shows is a heading there (with its own
    spacing); a title it does not show, and a bookmark to no page, are left out, and the text is read as ever."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(REPO / "sample_docs" / "maintenance_procedures.pdf").pages:
        writer.add_page(page)
    manual = writer.add_outline_item(title="QF-200 Centrifugal Pump - Maintenance Procedures", page_number=0)
    writer.add_outline_item(title="Reassembly, Alignment and   Vibration Limits", page_number=1, parent=manual)
    writer.add_outline_item(title="A chapter this page does not print", page_number=2, parent=manual)
    path = tmp_path / "bookmarked.pdf"
    writer.write(path)
    pages = load_document(path, path.read_bytes())
    assert [_headings(p) for p in pages] == [
        [(1, "QF-200 Centrifugal Pump - Maintenance Procedures")], [(2, "Reassembly, Alignment and Vibration Limits")], []]
    splitter = TokenSplitter(lambda text: len(text.split()), 40, 0, 100)
    sections = {c.section for c in splitter.split(pages, "d", "s") if c.page == 3}
    assert sections == {"QF-200 Centrifugal Pump - Maintenance Procedures > Reassembly, Alignment and Vibration Limits"}
