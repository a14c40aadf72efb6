import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_search_bench_runs_and_reports_its_json_line():
    """The bench's stand-in embedder must keep up with the Retriever's interface (it once lacked english_only)."""
    done = subprocess.run([sys.executable, "bench/search_bench.py", "--chunks", "1500", "--json"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["chunks"] == 1500 and figures["recall_at_10"] >= 0.95 and figures["hybrid_p50_ms"] > 0
