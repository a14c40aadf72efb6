"""A PDF's page text made into its author's text: running headers and footers gone, wrapped lines joined."""
from pathlib import Path

import pytest

from ingest.load import load_document
from ingest.pdf_text import clean_pdf_pages, is_two_column
from tests.badfiles import text_pdf

CHINESE_PAGE = (
    "储能电池柜 ES-10 说明书\n"
    "{heading}\n"
    "电池柜应落地安装在平整、能承受其重量的地面上，柜\n"
    "体背面与墙面的距离不小于30 cm，两侧各留出不小于\n"
    "50 cm的检修空间。\n"
    "4 指示灯说明\n"
    "— {n} —"
)


def test_running_header_and_page_number_footer_are_dropped():
    headings = ["3 安装", "4 维护", "5 质保"]
    pages = clean_pdf_pages([CHINESE_PAGE.format(n=n, heading=h) for n, h in enumerate(headings, 1)])
    assert all("说明书" not in page and "—" not in page for page in pages)
    assert [page.splitlines()[0] for page in pages] == headings


def test_a_line_on_fewer_than_most_pages_is_kept():
    firsts = ["Pump manual", "Contents", "Pump manual", "Warranty terms"]
    bodies = ["Why.", "What.", "How.", "When."]
    pages = clean_pdf_pages([f"{first}\n{body}\n{n}" for n, (first, body) in enumerate(zip(firsts, bodies), 1)])
    assert pages == [f"{first}\n{body}" for first, body in zip(firsts, bodies)]


def test_pages_of_one_recurring_line_keep_it():
    assert clean_pdf_pages([f"Slide {n}" for n in range(1, 6)]) == [f"Slide {n}" for n in range(1, 6)]
    assert clean_pdf_pages(["Manual\n1", "Manual\n2", "Manual\n3"]) == ["Manual\n\n1", "Manual\n\n2", "Manual\n\n3"]


def test_a_single_page_keeps_its_edges():
    page = clean_pdf_pages(["Pump manual\nText.\n1"])[0]
    assert [line for line in page.split("\n") if line] == ["Pump manual", "Text.", "1"]


def test_a_chinese_word_broken_at_the_line_end_is_joined():
    page = clean_pdf_pages([CHINESE_PAGE.format(n=1, heading="3 安装")])[0]
    assert "柜体背面" in page and "不小于50 cm的检修空间" in page
    # A heading and the paragraph's last line end where the author ended them, a paragraph apart.
    assert "3 安装\n\n电池柜" in page and "检修空间。\n\n4 指示灯说明" in page


def test_table_rows_and_items_keep_their_lines():
    rows = ("项目 参数\n电芯类型 磷酸铁锂电芯和配套的电池管理系统\n额定容量 十点二四千瓦时的可用能量存储\n通讯接口 控制器局域网络通信\n"
            "第一条 为了加强电动自行车停放、充电的消防安全管\n理，制定本办法。\n第二条 本办法适用于本市。")
    page = clean_pdf_pages([rows])[0]
    assert "电芯类型 磷酸铁锂电芯和配套的电池管理系统\n\n额定容量" in page
    assert "第一条 为了加强电动自行车停放、充电的消防安全管理，制定本办法。\n\n第二条" in page


def test_english_lines_are_joined_and_hyphenation_undone_only_for_the_documents_words():
    text = ("The bearings of the centrifugal pump must be re-\ngreased every 2,000 hours; regreased bearings last\n"
            "much longer. The document shredder must be a cross-\ncut model and the operators must be trained first.\n"
            "Customer contracts 6 years expiry of the contract\nEmployee personnel files 6 years end\n")
    page = clean_pdf_pages([text])[0]
    assert "must be regreased every 2,000 hours; regreased bearings last much longer." in page
    assert "must be a cross-cut model" in page
    assert "expiry of the contract\nEmployee" in page  # a full table row before a capitalised row


def test_load_pdf_gives_the_cleaned_text(tmp_path: Path):
    first = [(50, 500, "Keep at least 50 cm of free space above and below the"),
             (50, 485, "unit so that heat can escape."), (50, 470, "Installation")]
    second = [(50, 500, "电池柜应落地安装在平整、能承受其重量的地面上，柜"), (50, 485, "体背面与墙面的距离不小于30 cm。"),
              (50, 470, "维护")]
    path = tmp_path / "guide.pdf"
    path.write_bytes(text_pdf([[(50, 550, "SW-5K Installation Guide")] + body + [(180, 30, f"Page {n} of 2")]
                               for n, body in enumerate((first, second), 1)]))
    pages = load_document(path, path.read_bytes())
    assert [p.number for p in pages] == [1, 2]
    assert pages[0].text == "Keep at least 50 cm of free space above and below the unit so that heat can escape.\n\nInstallation"
    assert pages[1].text == "电池柜应落地安装在平整、能承受其重量的地面上，柜体背面与墙面的距离不小于30 cm。\n\n维护"


RETENTION_TABLE = (
    "Record type                      Retention       Starts from\n"
    "                                 period\n"
    "Accounting records,              7 years         end of the\n"
    "invoices, tax returns                            financial year\n"
    "Vehicle tachograph data          2 years         recording date\n"
    "\n"
    "CCTV footage that shows an incident is kept until the investigation is closed.\n"
)


def test_layout_table_rows_get_their_cells_back():
    page = clean_pdf_pages([RETENTION_TABLE])[0]
    assert page.split("\n") == [
        "Record type | Retention period | Starts from",
        "Accounting records, invoices, tax returns | 7 years | end of the financial year",
        "Vehicle tachograph data | 2 years | recording date",
        "",
        "CCTV footage that shows an incident is kept until the investigation is closed.",
    ]


def test_a_cell_wrapped_in_lower_case_or_in_chinese_stays_in_its_row():
    specs = ("Operating              −25 °C to +60 °C (output derated\n"
             "temperature            above 45 °C)\n"
             "Cooling                Natural convection, no fan\n")
    assert clean_pdf_pages([specs])[0].split("\n") == [
        "Operating temperature | −25 °C to +60 °C (output derated above 45 °C)", "Cooling | Natural convection, no fan"]
    chinese = "额定电压       51.2 V\n最大持续充放电电   100 A\n流\n重量           98 kg\n"
    assert clean_pdf_pages([chinese])[0].split("\n") == ["额定电压 | 51.2 V", "最大持续充放电电流 | 100 A", "重量 | 98 kg"]


def test_a_table_ends_at_a_numbered_heading_and_a_row_wraps_where_a_cell_cannot_end():
    # As Chromium prints an HTML guide: no blank line between the last row and the next heading, and a row whose
    # two cells both wrapped.
    layout = ("Dimensions                 135 × 100 × 75 mm\n"
              "Weight                     380 g without batteries\n"
              "3. Getting started\n"
              "\n"
              "Problem                                  What to do\n"
              'The screen shows "CARD                   Format the card in the camera. If the message persists, try another card of\n'
              'ERROR"                                   Class 10.\n'
              "Night pictures are dark                  Move the camera closer to the trail.\n")
    assert clean_pdf_pages([layout])[0].split("\n") == [
        "Dimensions | 135 × 100 × 75 mm", "Weight | 380 g without batteries", "", "3. Getting started", "",
        "Problem | What to do",
        'The screen shows "CARD ERROR" | Format the card in the camera. If the message persists, try another card of Class 10.',
        "Night pictures are dark | Move the camera closer to the trail."]
    assert clean_pdf_pages(["第一章     总则\n\n第一条 为了规范考勤管理，制定本办法。\n"])[0].startswith("第一章 总则\n\n第一条")


def test_a_full_line_that_cannot_end_where_it_does_goes_on_in_any_case():
    text = ("10. Open fires are prohibited in parks. Charcoal barbecues may be used only in the fire pits provided by the\n"
            "County. Portable propane barbecues may be used at picnic sites.\n"
            "6. Dogs are not permitted on any beach or in any playground, whether leashed or not, from May 1 to September\n"
            "30.\n"
            "25. A picnic shelter may be reserved for a fee of $45 for a half day or $80 for a full day. Reservations open on\n"
            "March 1 of each year.\n")
    page = clean_pdf_pages([text])[0]
    assert "provided by the County. Portable" in page
    assert "from May 1 to September 30." in page
    assert "Reservations open on March 1 of each year." in page
    chinese = "铁路部门提醒，车票预售期为15天，列车开车前25分钟停止售票，开车前5\n分钟停止检票。青云城际全线实行电子客票。\n"
    assert "开车前5分钟停止检票。" in clean_pdf_pages([chinese])[0]


def test_a_full_line_ending_in_a_name_a_comma_a_preposition_or_a_day_goes_on():
    text = ("By Rhona MacLeod, Transport Correspondent of the Highland Evening News — 14\n"
            "March 2026\n\n"
            "The final cost came to £9.3 million. The Scottish Government's Zero Emission\n"
            "Ferries Fund paid £5 million of that; the rest was met by the council and others.\n"
            "The old diesel ferry, the Glen Affric, burned around a lot more fuel, about\n"
            "180,000 litres of fuel a year, while the new one burns none at all in service.\n"
            "The community council has complained about the missing car ferry. Its chair,\n"
            "Mairi Stewart, said the company would look again at a vehicle ferry service\n"
            '"once we see how the electric vessel performs through a full winter".\n\n'
            "3.3 Modes\n")
    page = clean_pdf_pages([text, "The power switch has three positions: OFF, SETUP and ON."])
    assert "Evening News — 14 March 2026" in page[0]
    assert "Zero Emission Ferries Fund paid" in page[0]
    assert "about 180,000 litres" in page[0]
    assert "Its chair, Mairi Stewart, said" in page[0]
    assert 'a vehicle ferry service "once we see' in page[0]
    # A heading at a page's foot stays apart from the page after it.
    assert page[0].endswith("3.3 Modes") and page[1].startswith("The power switch")


def test_a_list_item_set_a_gap_after_its_bullet_is_prose_not_a_table_row():
    text = ("Requirements\n\n"
            "   •   Applications must be able to extend the database in any way when they are installed, to add both new\n"
            "       rules for determining type, and new information about specific types.\n"
            "   •   It must be possible to install applications in /usr and the home directory (in the\n"
            "       normal Unix way) and have the MIME information used.\n")
    page = clean_pdf_pages([text])[0]
    assert "• Applications must be able to extend the database in any way when they are installed, to add both new rules" in page
    assert "\n\n• It must be possible to install applications in /usr and the home directory (in the normal Unix way)" in page
    assert "|" not in page


def test_two_column_prose_is_told_from_a_table():
    two_columns = "\n".join(f"the left column goes on with words {n}      the right column goes on with words {n}"
                            for n in range(8))
    assert is_two_column(two_columns)
    prose = [f"本产品内部为磷酸铁锂电池，严禁拆解、挤压电池模块{n}      电池柜不得安装在卧室、厨房或浴室内，避免阳光{n}"
             for n in range(6)]
    rows = [f"额定电压{n}     51.2 V      额定电压{n}     51.2 V" for n in range(8)]
    chinese = "\n".join(["1 安全须知      1 安全须知"] + prose + ["2 技术参数      2 技术参数"] + rows)
    assert is_two_column(chinese)  # headings and table rows side by side do not count against it
    assert not is_two_column(RETENTION_TABLE)
    one_column_with_table = "\n".join([RETENTION_TABLE] + ["This policy sets out how long Harbourline keeps business"
                                                            " records and how they are destroyed."] * 3)
    assert not is_two_column(one_column_with_table)


def test_a_two_column_page_is_read_column_by_column(tmp_path: Path):
    left = ["The left column starts a sentence that", "goes on in the left column only and"]
    right = ["Meanwhile the right column tells its", "own story about something different"]
    lines = [(30, 500 - 15 * i, text) for i, text in enumerate(left * 3)]
    lines += [(220, 500 - 15 * i, text) for i, text in enumerate(right * 3)]
    path = tmp_path / "paper.pdf"
    path.write_bytes(text_pdf([lines]))
    text = load_document(path, path.read_bytes())[0].text
    assert "The left column starts a sentence that goes on in the left column only and" in text
    assert "|" not in text


def test_ligatures_and_soft_hyphens_are_text_again():
    assert clean_pdf_pages(["the con\ufb01guration of the e\ufb03cient pump\u00ad"]) == ["the configuration of the efficient pump"]


def test_a_sentence_cut_by_a_page_break_is_whole_on_the_page_where_it_ends():
    pages = clean_pdf_pages(["Disposal\n\nThe contractor provides certificates. The certificates are kept for\n",
                             "five years after the collection.\n\n6. Breaches\n",
                             "第一章 总则\n\n第一条 为了加强电动自行车停放、充电的消防安全管\n", "理，制定本办法。\n",
                             "第二条 本办法适用于本市。\n"])
    assert pages[0].endswith("The contractor provides certificates.")
    assert pages[1].startswith("The certificates are kept for five years after the collection.")
    assert pages[2] == "第一章 总则"
    assert pages[3] == "第一条 为了加强电动自行车停放、充电的消防安全管理，制定本办法。"
    assert pages[4] == "第二条 本办法适用于本市。"  # an article starts its own sentence: nothing moves


def test_the_page_image_boxes_a_table_row_read_back_from_the_layout(tmp_path: Path):
    from app.render import pdf_page_png

    path = tmp_path / "specs.pdf"
    path.write_bytes(text_pdf([[(50, 500, "Weight"), (200, 500, "16.5 kg"), (50, 485, "Cooling"), (200, 485, "Natural convection")]]))
    row = load_document(path, path.read_bytes())[0].text.split("\n")[0]
    assert row == "Weight | 16.5 kg"
    mtime = path.stat().st_mtime
    assert pdf_page_png(str(path), 1, row, mtime) != pdf_page_png(str(path), 1, "text on no page", mtime)


def test_the_text_limit_counts_text_not_the_layouts_spacing(tmp_path: Path):
    from ingest.load import LoadLimits
    from rag.errors import DocumentLoadError

    path = tmp_path / "table.pdf"
    path.write_bytes(text_pdf([[item for i in range(20) for item in ((30, 500 - 15 * i, f"Row {i}"), (380, 500 - 15 * i, "1 kg"))]]))
    text = load_document(path, path.read_bytes(), LoadLimits(max_chars=300))[0].text  # ~240 characters of text
    assert text.startswith("Row 0 | 1 kg\nRow 1 | 1 kg")
    with pytest.raises(DocumentLoadError, match="max_document_chars"):
        load_document(path, path.read_bytes(), LoadLimits(max_chars=100))
