"""Splits a corpus and its golden sets into one knowledge base a document, so that `rag eval` measures the
product where a KB holds a single manual, law or article (a few chunks): each folder OUT/<n>/ gets one
document in docs/ and set.jsonl with the questions whose sources name it, plus the unanswerable questions of
the document's language (Chinese or not), which no document of the corpus answers.

    .venv/bin/python scripts/split_by_document.py rag/evalsets/dev_corpus /tmp/one_doc rag/evalsets/dev_corpus_*.jsonl
    for d in /tmp/one_doc/*/; do .venv/bin/rag eval $d/set.jsonl --docs $d/docs --config hybrid --answers; done
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from rag.errors import ConfigError
from rag.evaluate import load_golden
from rag.text import contains_cjk

TEXT_SUFFIXES = {".md", ".txt", ".html", ".htm"}


def main(docs: Path, out: Path, golden: list[Path]) -> None:
    for path in (docs, *golden):
        if not path.exists():
            sys.exit(f"{path}: no such file or folder")
    if not docs.is_dir():
        sys.exit(f"{docs}: not a folder of documents")
    try:
        for path in golden:
            load_golden(path)  # a malformed line is named here, before anything is written
    except ConfigError as exc:
        sys.exit(str(exc))
    if not any(p.is_file() for p in docs.iterdir()):
        sys.exit(f"{docs}: holds no documents")
    questions = [json.loads(line) for path in golden for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for number, document in enumerate(sorted(p for p in docs.iterdir() if p.is_file())):
        folder = out / str(number)
        (folder / "docs").mkdir(parents=True, exist_ok=True)
        shutil.copy2(document, folder / "docs" / document.name)
        # A binary file's bytes (PDF, DOCX) decode to stray CJK characters: only a text file's content says.
        chinese = contains_cjk(document.name) or (document.suffix in TEXT_SUFFIXES and contains_cjk(
            document.read_bytes().decode("utf-8", "ignore")[:2000]))
        chosen = [q for q in questions if document.name in q.get("sources", ())
                  or (q.get("unanswerable") and contains_cjk(q["question"]) == chinese)]
        (folder / "set.jsonl").write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in chosen), encoding="utf-8")
        answerable = sum(not q.get("unanswerable") for q in chosen)
        print(f"{folder}: {document.name}, {answerable} answerable and {len(chosen) - answerable} unanswerable questions")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]])
