"""The hostile-user probes of issue 7: every one once aborted an ingest, wedged a KB or printed a traceback."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ingest.split import TokenSplitter
from ingest.types import Page
from rag.cli import main
from rag.errors import ConfigError, KnowledgeBaseError, QuestionError
from rag.kb import KnowledgeBase
from rag.retrieve import SearchFilter
from rag.store import KnowledgeBaseStore
from tests import badfiles
from tests.conftest import REPO

GOOD = {
    "pump.md": "# Pump P-9\nThe P-9 pump runs at 1450 rpm and is serviced every 500 hours.",
    "valve.txt": "Valve V-7 must be tested at 16 bar before it is fitted.",
}


def test_one_bad_file_among_good_ones_loses_nothing(make_kb, tmp_path: Path):
    docs = tmp_path / "mixed"
    badfiles.write_all(docs, {name: text.encode() for name, text in GOOD.items()})
    badfiles.write_all(docs, {
        "bad_crc.docx": badfiles.docx_bad_crc(),
        "malformed.docx": badfiles.docx_malformed_xml(),
        "method99.docx": badfiles.docx_unsupported_compression(),
        "unknown_filter.pdf": badfiles.pdf_unknown_filter(),
        "locked.pdf": badfiles.pdf_encrypted("secret"),
        "restricted.pdf": badfiles.pdf_encrypted(""),  # owner password only: readable
        "bomb.docx": badfiles.docx_empty_paragraph_bomb(),
        "huge_line.txt": b"x" * 3_000_000,  # one line, no separators, over the character limit below
    })
    (docs / "passwd.txt").symlink_to("/etc/passwd")
    os.mkfifo(docs / "pipe.md")
    kb = make_kb(max_document_chars=1_000_000)
    report = kb.ingest([docs])
    assert sorted(Path(p).name for p in report.added) == ["pump.md", "restricted.pdf", "valve.txt"]
    failed = {Path(p).name: reason for p, reason in report.failed}
    assert set(failed) == {"bad_crc.docx", "malformed.docx", "method99.docx", "unknown_filter.pdf", "locked.pdf",
                           "bomb.docx", "huge_line.txt", "pipe.md"}
    assert "password is required" in failed["locked.pdf"] and "zip bomb" in failed["bomb.docx"]
    assert "max_document_chars" in failed["huge_line.txt"] and "FIFO" in failed["pipe.md"]
    assert "outside the ingested folders" in dict((Path(p).name, r) for p, r in report.skipped)["passwd.txt"]
    assert kb.search("P-9 pump speed", 1)[0].chunk.source.endswith("pump.md")
    assert not any("root:" in h.chunk.text for h in kb.search("root bin bash nologin", 5))


def test_a_file_that_parses_too_long_is_skipped_and_the_rest_ingests(make_kb, tmp_path: Path):
    docs = tmp_path / "docs"
    badfiles.write_all(docs, {"pump.md": GOOD["pump.md"].encode(),
                              "slow.html": b"<div><p>Valve V-7 is checked weekly.</p></div>" * 150_000})
    kb = make_kb(load_timeout_s=0.3)
    report = kb.ingest([docs])
    assert [Path(p).name for p in report.added] == ["pump.md"]
    assert report.failed == [(str(docs / "slow.html"), "parsing took longer than 0.3 s (limit load_timeout_s)")]


def test_splitting_text_without_separators_is_linear(minilm):
    calls = []

    def counting(text: str) -> int:
        calls.append(len(text))
        return minilm.count_tokens(text)

    def tokenizer_work(n_chars: int) -> int:
        calls.clear()
        rng = np.random.default_rng(0)
        text = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789"), n_chars))
        chunks = TokenSplitter(counting, 200, 32, minilm.max_tokens).split([Page(text)], "d", "s")
        assert all(minilm.count_tokens(c.text) <= 200 for c in chunks[:20])
        return sum(calls)  # characters handed to the tokenizer

    small, large = tokenizer_work(100_000), tokenizer_work(400_000)
    assert large < 4.5 * small, (small, large)  # quadratic work would be 16x


# -- the commit protocol: a kill at every step leaves a KB that opens, reads one state, and takes writes --

KILLED_COMMIT = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from ingest.types import Chunk
    from rag.store import DocumentRecord, KnowledgeBaseStore
    kb_dir, step = sys.argv[1], sys.argv[2]
    def on_step(name):
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)
    store = KnowledgeBaseStore(kb_dir)
    chunk = Chunk("c" * 32, "d" * 32, "/new/doc.md", None, 0, 20, "Gasket G-5 is rated for 180 degrees.")
    vector = np.ones((1, store.manifest.dimension), dtype=np.float32) / np.sqrt(store.manifest.dimension)
    with store.writer(on_step=on_step) as writer:
        writer.add_chunks([chunk], vector, [["gasket", "g-5", "180"]])
        writer.put_document(DocumentRecord("/new/doc.md", "d" * 32, "h", 1, 0.0, "indexed", None, 1, 0.0))
        writer.compact()  # commit, then merge every segment: a kill during the merge is covered too
    sys.exit(3)  # reached only when the step was never hit
    """
)
COMMIT_STEPS = ["staged", "synced", "committed", "merged", "published"]


@pytest.mark.parametrize("step", COMMIT_STEPS)
def test_kill_at_each_commit_step_leaves_a_working_kb(make_kb, sample_copy: Path, tmp_path: Path, step: str):
    kb = make_kb()
    kb.ingest([sample_copy])  # generation 2: the next commit also prunes generation 1
    kb_dir = kb.settings.kb_dir
    before = (kb.info().version, kb.info().chunks)
    child = subprocess.run([sys.executable, "-c", KILLED_COMMIT, str(kb_dir), step], cwd=REPO, capture_output=True)
    assert child.returncode == -9, child.stderr.decode()[-2000:]

    reopened = KnowledgeBase.open(kb_dir, embedder=kb.embedder, chat_model=kb.chat_model)
    committed = COMMIT_STEPS.index(step) >= COMMIT_STEPS.index("committed")
    assert reopened.info().chunks == before[1] + (1 if committed else 0)
    assert (reopened.info().version > before[0]) == committed
    assert reopened.search("hot work permit validity", 1)[0].chunk.source.endswith("safety_handbook.md")
    gasket = reopened.search("Gasket G-5 rating", 3, SearchFilter(source_glob="/new/doc.md"))
    assert [h.chunk.source for h in gasket] == (["/new/doc.md"] if committed else [])
    # The next writer recovers by itself: no orphan blocks it, and nothing half-made is left.
    (sample_copy / "extra.md").write_text("# Extra\nFlange F-3 needs 8 bolts.", encoding="utf-8")
    report = reopened.ingest([sample_copy])
    assert report.added == [str(sample_copy / "extra.md")]
    store = KnowledgeBaseStore(kb_dir)
    assert sorted(p.name for p in (kb_dir / "segments").iterdir()) == sorted(s.name for s in store.segments())
    with_vectors = sum(1 for c in reopened.iter_chunks() if reopened.embedder.readable_text(c.text))  # not Chinese prose
    assert not list(kb_dir.glob("*.tmp")) and store.vector_index.count() == with_vectors


def _first_segment(kb_dir: Path, name: str) -> Path:
    return sorted((kb_dir / "segments").iterdir())[0] / name


# -- one-line errors --

def _runner_error(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    # In-process, transformers' weight-loading bar (off in the real CLI) shares stderr; it is not ours.
    lines = [line for line in result.output.replace("\r", "\n").splitlines() if line.strip() and not line.startswith("Loading weights")]
    assert "Traceback" not in result.output and len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda kb: (kb / "manifest.json").write_text("[1, 2, 3]"), r"manifest.json holds a JSON list"),
        (lambda kb: (kb / "manifest.json").write_text('{"format_version": 2, "dimension": "x"}'), r"manifest.json lacks"),
        (lambda kb: (kb / "catalog.sqlite").write_bytes(b"garbage" * 1000), r"catalog.sqlite is not a readable KB database"),
        (lambda kb: _first_segment(kb, "vectors.faiss").write_bytes(_first_segment(kb, "vectors.faiss").read_bytes()[:100]),
         r"vectors.faiss is missing or truncated"),
        (lambda kb: shutil.rmtree(_first_segment(kb, "keyword")), r"keyword is missing or unreadable"),
    ],
    ids=["manifest-list", "manifest-fields", "sqlite-garbage", "faiss-truncated", "keyword-missing"],
)
def test_damaged_kb_files_are_named(make_kb, sample_copy: Path, damage, message):
    kb = make_kb()
    kb.ingest([sample_copy])
    kb.close()
    damage(kb.settings.kb_dir)
    with pytest.raises(KnowledgeBaseError, match="damaged knowledge base: .*" + message):
        KnowledgeBaseStore(kb.settings.kb_dir)
    output = _runner_error(["search", "pump", "--kb", str(kb.settings.kb_dir)])
    assert "damaged knowledge base" in output and str(kb.settings.kb_dir) in output


def test_create_on_a_file_and_with_invalid_chunking_leaves_nothing(tmp_path: Path, minilm):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(KnowledgeBaseError, match="exists and is a file"):
        KnowledgeBase.create(a_file, embedder=minilm)
    with pytest.raises(ConfigError, match="chunk_tokens must not exceed"):
        KnowledgeBase.create(tmp_path / "kb", embedder=minilm, chunk_tokens=100000)
    assert not (tmp_path / "kb").exists()
    output = _runner_error(["ingest", str(a_file), "--kb", str(tmp_path / "kb2"), "--chunk-tokens", "100000"])
    assert "chunk_tokens must not exceed" in output and not (tmp_path / "kb2").exists()


def _mount_tmpfs(target: Path, size: str, options: str = "") -> None:
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}{options}", "tmpfs", str(target)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")


def test_disk_full_is_one_line_and_keeps_the_previous_kb(make_kb, sample_copy: Path, tmp_path: Path, minilm):
    disk = tmp_path / "small_disk"
    _mount_tmpfs(disk, "6m")
    try:
        kb = KnowledgeBase.create(disk / "kb", embedder=minilm)
        kb.ingest([sample_copy])
        chunks = kb.info().chunks
        # Too little room to start: refused before anything is written, with the figures.
        big = tmp_path / "big"
        big.mkdir()
        (big / "manual.txt").write_text("Flange F-3 needs 8 bolts. " * 200_000, encoding="utf-8")
        with pytest.raises(KnowledgeBaseError, match="not enough free disk space .* MiB is free"):
            kb.ingest([big])
        # Room to start, but the disk fills up while the new generation is written.
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * (free - 300_000))
        store = KnowledgeBaseStore(disk / "kb")
        with pytest.raises(KnowledgeBaseError, match=r"the disk is full .* nothing was changed"):
            with store.writer() as writer:
                vectors = np.ones((400, minilm.dimension), dtype=np.float32)
                from ingest.types import Chunk
                chunk_list = [Chunk(f"{i:032}", "d" * 32, "/x.md", None, 0, 1, "Flange F-3 needs 8 bolts. " * 40) for i in range(400)]
                writer.add_chunks(chunk_list, vectors, [["flange"]] * 400)
        (disk / "filler").unlink()
        reopened = KnowledgeBase.open(disk / "kb", embedder=minilm)
        assert reopened.info().chunks == chunks and not list((disk / "kb").glob("*.staging"))
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_read_only_kb_can_be_searched_but_not_changed(make_kb, sample_copy: Path, tmp_path: Path):
    kb = make_kb()
    kb.ingest([sample_copy])
    view = tmp_path / "ro_view"
    view.mkdir()
    if subprocess.run(["mount", "--bind", str(kb.settings.kb_dir), str(view)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], check=True)
        ro = KnowledgeBase.open(view, embedder=kb.embedder)
        assert ro.search("hot work permit", 1)
        with pytest.raises(KnowledgeBaseError, match="read-only here .* can be searched but not changed"):
            ro.remove("training_policy.docx")
        output = _runner_error(["kb", "remove", "training_policy.docx", "--kb", str(view)])
        assert "read-only" in output
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


# -- questions and parameters --

def test_empty_long_and_bad_k_questions_are_refused(sample_kb):
    with pytest.raises(QuestionError, match="empty"):
        sample_kb.search("   ")
    with pytest.raises(QuestionError, match="empty"):
        sample_kb.ask("")
    with pytest.raises(QuestionError, match="limit is 2,000 .*max_question_chars"):
        sample_kb.ask("pump " * 100_000)
    with pytest.raises(ValueError, match="k must be an integer greater than 0. Currently, k is 0"):
        sample_kb.search("pump", k=0)
    output = _runner_error(["ask", "x" * 5000, "--kb", str(sample_kb.settings.kb_dir)])
    assert "max_question_chars" in output


def test_file_names_with_newlines_stay_on_one_line(tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "line\nbreak.md").write_text("# Tank T-1\nTank T-1 holds 40 litres.", encoding="utf-8")
    kb_dir = str(tmp_path / "kb")
    assert CliRunner().invoke(main, ["ingest", str(docs), "--kb", kb_dir]).exit_code == 0
    listing = CliRunner().invoke(main, ["kb", "list", "--kb", kb_dir]).stdout
    assert listing.count("\n") == 1 and "line\\nbreak.md" in listing


def test_ingest_reports_progress_when_not_on_a_terminal(tmp_path: Path, sample_copy: Path):
    result = CliRunner().invoke(main, ["ingest", str(sample_copy), "--kb", str(tmp_path / "kb")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("ingest: ")]
    assert lines and lines[-1].startswith("ingest: 7/7 files, ") and " chunks, " in lines[-1] and "files/s" in lines[-1]
