"""A generated bilingual corpus for benchmarks: pages built from the sample handbook's sentences,
shuffled, with numbers changed, so text statistics are realistic and the size is arbitrary."""
from __future__ import annotations

import random
import re
from pathlib import Path

from ingest.load import load_document

SAMPLE_DOCS = Path(__file__).resolve().parent.parent / "sample_docs"


def _is_chinese(sentence: str) -> bool:
    return sum("\u4e00" <= c <= "\u9fff" for c in sentence) > 0.3 * len(sentence)


def sample_sentences(language: str = "both") -> list[str]:
    """The sample docs' sentences: "en", "zh" or "both"."""
    sentences: list[str] = []
    for path in sorted(SAMPLE_DOCS.iterdir()):
        for page in load_document(path, path.read_bytes()):
            sentences += [s.strip() for s in re.split(r"(?<=[。！？；.!?])\s*", page.text) if len(s.strip()) > 15]
    if language == "both":
        return sentences
    return [s for s in sentences if _is_chinese(s) == (language == "zh")]


def write_corpus(target: Path, pages: int, pages_per_file: int = 10, chars_per_page: int = 1800, seed: int = 7,
                 language: str = "both") -> list[Path]:
    """Write `pages` pages of text into files of `pages_per_file` pages each (pages split by form feeds)."""
    rng = random.Random(seed)
    sentences = sample_sentences(language)
    target.mkdir(parents=True, exist_ok=True)
    files = []
    for file_number in range(0, pages, pages_per_file):
        parts = []
        for _ in range(min(pages_per_file, pages - file_number)):
            page, size = [], 0
            while size < chars_per_page:
                sentence = re.sub(r"\d+", lambda m: str(rng.randint(1, 9999)), rng.choice(sentences))
                page.append(sentence)
                size += len(sentence)
            parts.append(" ".join(page))
        path = target / f"report_{file_number // pages_per_file:04d}.txt"
        path.write_text("\n\n".join(parts), encoding="utf-8")
        files.append(path)
    return files
