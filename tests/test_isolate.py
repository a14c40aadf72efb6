from pathlib import Path

import pytest

from ingest.isolate import IsolatedLoader
from ingest.load import LoadLimits
from rag.errors import DocumentLoadError

BIG_HTML = b"<html><body>" + b"<div><p>Valve V-7 is checked weekly.</p></div>" * 100_000 + b"</body></html>"


def test_a_slow_parse_is_cut_off_and_the_next_file_still_loads():
    with IsolatedLoader(LoadLimits(timeout_s=0.3)) as loader:
        with pytest.raises(DocumentLoadError, match=r"parsing took longer than 0.3 s \(limit load_timeout_s\)"):
            loader.load(Path("big.html"), BIG_HTML)
        assert loader.load(Path("ok.md"), b"# Pump P-9")[0].text == "# Pump P-9"


def test_a_parse_over_the_memory_limit_fails_alone():
    with IsolatedLoader(LoadLimits(memory_bytes=250 << 20)) as loader:
        with pytest.raises(DocumentLoadError, match="memory"):
            loader.load(Path("big.html"), BIG_HTML * 2)
        assert loader.load(Path("ok.md"), b"# Pump P-9")[0].text == "# Pump P-9"


def test_errors_come_back_with_their_reason():
    with IsolatedLoader(LoadLimits()) as loader:
        with pytest.raises(DocumentLoadError, match="file is empty") as info:
            loader.load(Path("/x/empty.txt"), b"")
        assert info.value.path == "/x/empty.txt"
