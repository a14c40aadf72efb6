"""Prints the second corpus (rag/evalsets/dev_corpus), or another of rag/evalsets (third_corpus), to PDF as a
browser does — wrapped lines, a running header and a page-number footer on A5 pages — and writes its golden
sets naming the PDFs, so that `rag eval` measures the same questions over the same documents as PDF:

    .venv/bin/python scripts/print_dev_corpus_pdf.py /tmp/dev_pdf [third_corpus] [--bookmarks]
    .venv/bin/rag eval /tmp/dev_pdf/dev_corpus_en.jsonl /tmp/dev_pdf/dev_corpus_zh.jsonl \
        --docs /tmp/dev_pdf/docs --config hybrid --answers

`--bookmarks` gives each PDF an outline of its headings, as Word, LaTeX and browsers can export it.
Needs the test extra (Playwright), Debian's chromium and a Chinese font (fonts-wqy-zenhei).
"""
from __future__ import annotations

import html
import json
import sys
from pathlib import Path

from markdown_it import MarkdownIt
from playwright.sync_api import sync_playwright

from ingest.load import load_document

EVALSETS = Path(__file__).resolve().parent.parent / "rag" / "evalsets"
STYLE = ("<style>body{font-family:'WenQuanYi Zen Hei',sans-serif;font-size:13pt;line-height:1.5}"
         "nav,footer{display:none} table{border-collapse:collapse} td,th{border:1px solid #888;padding:2px 6px}</style>")
BAND = "<div style='font-size:8pt;width:100%;text-align:center'>{}</div>"


def as_html(path: Path) -> str:
    if path.suffix not in (".md", ".html", ".htm"):
        # A DOCX as its text: a paragraph a block, a table's rows as a table.
        blocks = []
        for block in load_document(path, path.read_bytes())[0].text.split("\n\n"):
            if " | " in block:
                rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line.split(" | ")) + "</tr>"
                               for line in block.split("\n"))
                blocks.append(f"<table>{rows}</table>")
            else:
                blocks.append(f"<p>{html.escape(block)}</p>")
        return f"<html><head><meta charset='utf-8'></head><body>{''.join(blocks)}</body></html>".replace("<head>", "<head>" + STYLE, 1)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        text = f"<html><head><meta charset='utf-8'></head><body>{MarkdownIt('commonmark').enable('table').render(text)}</body></html>"
    return text.replace("<head>", "<head>" + STYLE, 1)


def main(out: Path, corpus: str = "dev_corpus", bookmarks: bool = False) -> None:
    docs = out / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    renamed = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page()
        for source in sorted((EVALSETS / corpus).iterdir()):
            page.set_content(as_html(source))
            target = docs / f"{source.stem}.pdf"
            page.pdf(path=str(target), format="A5", display_header_footer=True,
                     header_template=BAND.format(html.escape(source.stem)),
                     footer_template=BAND.format("— <span class='pageNumber'></span> —"),
                     margin={"top": "20mm", "bottom": "20mm", "left": "15mm", "right": "15mm"},
                     outline=bookmarks, tagged=bookmarks)
            renamed[source.name] = target.name
        browser.close()
    for language in ("en", "zh"):
        name = f"{corpus}_{language}.jsonl"
        with (EVALSETS / name).open(encoding="utf-8") as golden, (out / name).open("w", encoding="utf-8") as copy:
            for line in golden:
                record = json.loads(line)
                if record.get("sources"):
                    record["sources"] = [renamed[s] for s in record["sources"]]
                copy.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(renamed)} PDFs to {docs} and the golden sets to {out}")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--bookmarks"]
    if len(arguments) not in (1, 2) or (len(arguments) == 2 and not (EVALSETS / arguments[1]).is_dir()):
        sys.exit("usage: print_dev_corpus_pdf.py OUT_DIR [CORPUS: a folder of rag/evalsets, default dev_corpus] [--bookmarks]")
    main(Path(arguments[0]), *arguments[1:], bookmarks="--bookmarks" in sys.argv)
