"""Mutated PDFs, DOCX, HTML and text fed to the loaders: the only exception that may come out is the
product's own DocumentLoadError (a bounded number of examples, so CI time stays fixed)."""
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.load import LoadLimits, load_document
from ingest.types import Page
from rag.errors import DocumentLoadError
from tests.conftest import SAMPLE_DOCS

SEEDS = {
    ".pdf": (SAMPLE_DOCS / "maintenance_procedures.pdf").read_bytes(),
    ".docx": (SAMPLE_DOCS / "training_policy.docx").read_bytes(),
    ".html": (SAMPLE_DOCS / "warranty_and_service.html").read_bytes(),
    ".md": (SAMPLE_DOCS / "安全规程.md").read_bytes(),
    ".txt": (SAMPLE_DOCS / "维修记录_gbk.txt").read_bytes(),
}
LIMITS = LoadLimits(max_chars=2_000_000, max_unpacked_bytes=64 << 20)


@st.composite
def mutated(draw, suffix: str) -> bytes:
    data = bytearray(SEEDS[suffix])
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "duplicate", "zero"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 512))]
        elif kind == "zero":
            data[at : at + 16] = bytes(len(data[at : at + 16]))
    return bytes(data)


@pytest.mark.parametrize("suffix", sorted(SEEDS))
def test_mutated_files_give_pages_or_a_load_error(suffix: str):
    @settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(mutated(suffix))
    def check(data: bytes) -> None:
        try:
            pages = load_document(Path("fuzzed" + suffix), data, LIMITS)
        except DocumentLoadError as exc:
            assert exc.reason and exc.path == "fuzzed" + suffix
            return
        assert pages and all(isinstance(p, Page) for p in pages)
        assert any(p.text.strip() for p in pages)

    check()
