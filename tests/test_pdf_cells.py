"""Table rows whose cells wrapped, read from where the page draws its text (`ingest/pdf_cells.py`)."""
from pathlib import Path

from ingest.load import LoadLimits, load_document
from ingest.pdf_cells import DrawnText, rows_on_one_line
from tests.badfiles import text_pdf


def _cell(x: int, top: int, lines: list[str], step: int = 12) -> list[tuple[int, int, str]]:
    return [(x, top - i * step, line) for i, line in enumerate(lines)]


# Drawn cell by cell, as a browser prints an HTML table: each row's cells centred vertically (the default of
# <td>), 4 points of padding between rows, and a row whose cells are top-aligned but go on in capitals.
TROUBLESHOOTING_PAGE = [
    (40, 560, "8. Troubleshooting"),
    (40, 530, "Problem"), (160, 530, "What to do"),
    *_cell(40, 500, ["Many pictures", "show no animal"]),
    *_cell(160, 512, ["Set the sensitivity to Low, remove", "moving branches and grass in front",
                      "of the camera, and avoid direct", "sunlight on the lens."]),
    *_cell(40, 454, ["Night pictures", "are dark"]),
    *_cell(160, 460, ["The infrared range is 18 m; move", "the camera closer to the trail.", "Check the batteries."]),
    *_cell(40, 420, ["The screen shows", '"CARD ERROR"']),
    *_cell(160, 420, ["Format the card in the camera. If", "the message persists, try another", "card of Class 10."]),
    (40, 370, "Keep the lens clean with a soft dry cloth."),
]


def test_a_tables_rows_are_read_whole_where_the_page_centres_or_wraps_their_cells(tmp_path: Path):
    path = tmp_path / "guide.pdf"
    path.write_bytes(text_pdf([TROUBLESHOOTING_PAGE]))
    text = load_document(path, path.read_bytes(), LoadLimits())[0].text
    assert "Problem | What to do\n" in text
    assert ("Many pictures show no animal | Set the sensitivity to Low, remove moving branches and grass in front of the"
            " camera, and avoid direct sunlight on the lens.\n") in text
    assert "Night pictures are dark | The infrared range is 18 m; move the camera closer to the trail. Check the batteries.\n" in text
    assert 'The screen shows "CARD ERROR" | Format the card in the camera. If the message persists, try another card of Class 10.' in text
    assert text.endswith("Keep the lens clean with a soft dry cloth.")


def test_rows_whose_text_is_not_found_as_drawn_are_left_as_laid_out():
    layout = "Problem      What to do\nShort        Two lines\n             of text here"
    drawn = [DrawnText(40, 530, "Problem"), DrawnText(160, 530, "What to do"), DrawnText(40, 518, "Short"),
             DrawnText(160, 518, "Two lines"), DrawnText(160, 506, "of text here")]
    assert rows_on_one_line(layout, drawn) == "Problem      What to do\nShort        Two lines of text here"
    # The layout text holds other text on the row's lines (or not the drawn text at all): nothing is moved.
    crowded = layout.replace("Short        Two lines", "Short        Two lines   Note")
    assert rows_on_one_line(crowded, drawn) == crowded
    assert rows_on_one_line(layout, [DrawnText(40, 530, "Elsewhere"), DrawnText(160, 518, "Other")]) == layout
    assert rows_on_one_line(layout, []) == layout
    # Chinese cell lines join without a space, also after Chinese punctuation; a hyphen keeps its word whole.
    chinese = "噪音突然变大   将机器放在平整地面上，\n               清除进风口周围的杂物"
    assert rows_on_one_line(chinese, [DrawnText(40, 300, "噪音突然变大"), DrawnText(120, 300, "将机器放在平整地面上，"),
                                      DrawnText(120, 288, "清除进风口周围的杂物")]) == "噪音突然变大   将机器放在平整地面上，清除进风口周围的杂物"


def test_a_sentence_drawn_in_several_runs_stays_prose():
    layout = "Press OK to confirm the change, then wait\nfor the beep before you switch the unit off.\nThen close the cover."
    drawn = [DrawnText(40, 500, "Press "), DrawnText(68, 500, "OK"), DrawnText(83, 500, " to confirm the change, then wait"),
             DrawnText(40, 488, "for the beep before you switch the "), DrawnText(190, 488, "unit"), DrawnText(205, 488, " off."),
             DrawnText(40, 476, "Then close the cover.")]
    assert rows_on_one_line(layout, drawn) == layout


def test_a_pdf_without_bookmarks_has_the_headings_its_type_shows(tmp_path: Path):
    """A browser prints <h1>-<h3> larger than the body and writes no outline: larger lines are headings, the
    largest outermost, a title wrapped over two lines one heading; the body's size (most characters) and a
    smaller running header are not."""
    body = [(40, 470 - 12 * i, f"Body line {i} of the section on the batteries and the card slot.") for i in range(6)]
    first = [(60, 580, "vireo_trailcam_x8_guide", 7), (40, 550, "Vireo TrailCam X8 User", 20), (40, 526, "Guide", 20),
             (40, 500, "3. Getting started", 15), (40, 484, "3.1 Batteries", 12), *body]
    second = [(60, 580, "vireo_trailcam_x8_guide", 7), (40, 550, "3.2 Memory card", 12), *body[:3],
              (40, 480, "4. Settings", 15), *body[3:]]
    path = tmp_path / "guide.pdf"
    path.write_bytes(text_pdf([first, second]))
    pages = load_document(path, path.read_bytes(), LoadLimits())
    assert [(h.level, h.text) for h in pages[0].headings] == [(1, "Vireo TrailCam X8 User Guide"), (2, "3. Getting started"),
                                                              (3, "3.1 Batteries")]
    assert [(h.level, h.text) for h in pages[1].headings] == [(3, "3.2 Memory card"), (2, "4. Settings")]
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(text_pdf([body]))
    assert load_document(plain, plain.read_bytes(), LoadLimits())[0].headings == ()
    chinese = [(40, 550, "星河科技有限公司员工考勤", 20), (40, 526, "与休假管理办法", 20), (40, 500, "第一章 总则", 15),
               *[(40, 470 - 12 * i, f"第{i + 1}条 员工应当遵守本办法的各项规定，按时上下班。") for i in range(6)]]
    zh = tmp_path / "办法.pdf"
    zh.write_bytes(text_pdf([chinese]))
    assert [(h.level, h.text) for h in load_document(zh, zh.read_bytes(), LoadLimits())[0].headings] == [
        (1, "星河科技有限公司员工考勤与休假管理办法"), (2, "第一章 总则")]
