"""A PDF's page text made into its author's text: running headers and footers gone, wrapped lines joined."""
from pathlib import Path

from ingest.load import load_document
from ingest.pdf_text import clean_pdf_pages
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
