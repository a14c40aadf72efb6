"""The store's vector backends, incremental commits, merges, tags and migration."""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ManifestMismatchError
from rag.kb import KnowledgeBase
from rag.retrieve import SearchFilter
from rag.store import DocumentRecord, KnowledgeBaseStore, Manifest, NewChunk, Segment, VectorOptions
from rag.store.vectors import vector_store_class
from rag.store.writer import plan_merge
from tests.conftest import REPO

QUESTIONS = {
    "How long is a hot work permit valid?": "safety_handbook.md",
    "How often must the QF-200 bearings be re-greased?": "maintenance_procedures.pdf",
}


def synthetic_store(path: Path, dimension: int = 16, **options) -> KnowledgeBaseStore:
    vector_options = VectorOptions(**options)
    kind, params = vector_store_class("faiss").build_params(vector_options)
    manifest = Manifest("synthetic", "random", dimension, 200, 32, "t", vector_index=kind, vector_params=params)
    return KnowledgeBaseStore.create(path, manifest, vector_options)


def add_document(store: KnowledgeBaseStore, source: str, n: int, rng: np.random.Generator, writer=None) -> np.ndarray:
    vectors = rng.standard_normal((n, store.manifest.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    chunks = [NewChunk(f"{source}-{i}", source, source, None, 0, 1, f"chunk {i} of {source}") for i in range(n)]
    terms = [["chunk", f"n{i}", source.strip("/").replace("/", "_")] for i in range(n)]
    record = DocumentRecord(source, source, "h", 1, 0.0, "indexed", None, n, 0.0)
    if writer is None:
        with store.writer() as writer:
            writer.add_chunks(chunks, vectors, terms)
            writer.put_document(record)
    else:
        writer.add_chunks(chunks, vectors, terms)
        writer.put_document(record)
    return vectors


@pytest.mark.parametrize("store, index", [("faiss", "flat"), ("faiss", "hnsw"), ("faiss", "ivf"), ("milvus", "auto")])
def test_every_vector_store_serves_the_same_product(make_kb, sample_copy: Path, store: str, index: str):
    kb = make_kb(vector_store=store, vector_index=index, flat_max_rows=1)
    kb.ingest([sample_copy])
    assert kb.info().vectors["store"] == store
    for question, source in QUESTIONS.items():
        assert kb.search(question, 1)[0].chunk.source.endswith(source), question
    kb.remove("maintenance_procedures.pdf")
    hits = kb.search("How often must the QF-200 bearings be re-greased?", 10)
    assert hits and not [h for h in hits if h.chunk.source.endswith("maintenance_procedures.pdf")]
    reopened = KnowledgeBase.open(kb.settings.kb_dir, embedder=kb.embedder)
    assert reopened.search("How long is a hot work permit valid?", 1)[0].chunk.source.endswith("safety_handbook.md")
    assert reopened.info().chunks == kb.info().chunks


def test_opening_a_kb_with_another_vector_store_is_refused(make_kb, sample_copy: Path):
    kb = make_kb()
    kb.ingest([sample_copy])
    with pytest.raises(ManifestMismatchError, match="vector_store: the KB has 'faiss', requested 'milvus'.*rag kb migrate"):
        KnowledgeBase.open(kb.settings.kb_dir, vector_store="milvus")
    with pytest.raises(ManifestMismatchError, match="vector_index: the KB has 'auto', requested 'hnsw'"):
        KnowledgeBase.open(kb.settings.kb_dir, vector_index="hnsw")


def test_migrate_to_milvus_keeps_answers_without_re_embedding(make_kb, sample_copy: Path):
    kb = make_kb()
    kb.ingest([sample_copy])
    before = {q: [h.chunk.chunk_id for h in kb.search(q, 3)] for q in QUESTIONS}
    kb.migrate("milvus")
    assert kb.info().vectors["store"] == "milvus"
    reopened = KnowledgeBase.open(kb.settings.kb_dir, embedder=kb.embedder)
    assert reopened.info().manifest.vector_store == "milvus"
    assert {q: [h.chunk.chunk_id for h in reopened.search(q, 3)] for q in QUESTIONS} == before
    assert not list((kb.settings.kb_dir / "segments").rglob("vectors.faiss"))
    (sample_copy / "extra.md").write_text("# Extra\nFlange F-3 needs 8 bolts.", encoding="utf-8")
    reopened.ingest([sample_copy])
    assert reopened.search("How many bolts does flange F-3 need?", 1)[0].chunk.source.endswith("extra.md")


def test_tags_label_documents_and_filter_search(make_kb, sample_copy: Path, tmp_path: Path):
    kb = make_kb()
    kb.ingest([sample_copy], tags=["plant-a"])
    other = tmp_path / "other"
    other.mkdir()
    (other / "permit.md").write_text("# Permits\nA hot work permit is valid for one shift only.", encoding="utf-8")
    kb.ingest([other], tags=["plant-b"])
    question = "How long is a hot work permit valid?"
    assert kb.search(question, 1, SearchFilter(tag="plant-b"))[0].chunk.source.endswith("permit.md")
    assert {Path(h.chunk.source).parent for h in kb.search(question, 5, SearchFilter(tag="plant-a"))} == {sample_copy}
    kb.ingest([other], tags=["plant-b", "permits"])  # unchanged file: relabelled without re-reading
    assert kb.search(question, 1, SearchFilter(tag="permits"))[0].chunk.source.endswith("permit.md")
    with pytest.raises(Exception, match="tag must be non-empty and hold no comma"):
        kb.ingest([other], tags=["a,b"])


def test_a_commit_writes_only_the_change(tmp_path: Path):
    rng = np.random.default_rng(0)
    store = synthetic_store(tmp_path / "kb")
    add_document(store, "/big.txt", 20_000, rng)
    old_files = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (tmp_path / "kb" / "segments").rglob("*") if p.is_file()}
    add_document(store, "/small.txt", 50, rng)
    with store.writer() as writer:
        writer.remove_document("/big.txt")
    # The big segment's files were neither rewritten nor copied: a removal is a tombstone in the catalog.
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in old_files} == old_files
    assert [s.rows for s in store.segments()] == [20_000, 50]
    assert store.chunk_count() == 50 and store.vector_index.count() == 50
    assert store.search_keywords(["big.txt"], 5) == [] and store.search_keywords(["small.txt"], 5)
    store.writer().__enter__().compact()
    assert [s.rows for s in store.segments()] == [50] and not any(p.exists() for p in old_files)


def test_merge_policy_keeps_segments_few_and_geometric():
    def seg(seq: int, rows: int) -> Segment:
        return Segment(seq, seq * 1000, seq * 1000 + rows - 1, rows, "flat")

    assert plan_merge([seg(1, 1_000_000), seg(2, 50)], 200_000) is None  # a small add leaves the big segment alone
    assert [s.seq for s in plan_merge([seg(1, 1_000_000), seg(2, 100), seg(3, 50)], 200_000)] == [2, 3]
    assert plan_merge([seg(1, 150_000), seg(2, 100_000)], 200_000) is None  # too big for a commit: `rag kb compact`
    many = [seg(i, 10 ** (12 - i)) for i in range(1, 14)]
    assert plan_merge([seg(1, 10), *[seg(i, 1) for i in range(2, 15)]], 200_000) is not None
    assert plan_merge(many, 10 ** 12) is not None


def test_hnsw_recall_against_exact_search(tmp_path: Path):
    rng = np.random.default_rng(1)
    exact = synthetic_store(tmp_path / "flat", dimension=32, index="flat")
    approx = synthetic_store(tmp_path / "hnsw", dimension=32, index="hnsw")
    vectors = add_document(exact, "/d.txt", 20_000, np.random.default_rng(2))
    add_document(approx, "/d.txt", 20_000, np.random.default_rng(2))
    assert np.allclose(approx.vectors([5]), vectors[4:5], atol=1e-6)  # row ids start at 1
    queries = rng.standard_normal((100, 32)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    recall = np.mean([
        len({r for r, _ in exact.search_vectors(q, 10)} & {r for r, _ in approx.search_vectors(q, 10)}) / 10
        for q in queries
    ])
    assert recall >= 0.95, recall
    assert approx.describe()["segment_kinds"] == {"hnsw": 1}


def test_keyword_idf_over_segments_equals_one_index(tmp_path: Path):
    rng = np.random.default_rng(0)
    store = synthetic_store(tmp_path / "kb")
    for i in range(3):
        add_document(store, f"/doc{i}.txt", 10 * (i + 1), rng)
    store_idf = store.idf(["chunk", "n3", "doc2.txt", "absent"])
    with store.writer() as writer:
        writer.compact()
    assert len(store.segments()) == 1
    assert store.idf(["chunk", "n3", "doc2.txt", "absent"]) == pytest.approx(store_idf)


def test_a_reader_follows_another_writers_commits(tmp_path: Path):
    rng = np.random.default_rng(0)
    writer_side = synthetic_store(tmp_path / "kb")
    add_document(writer_side, "/a.txt", 10, rng)
    reader = KnowledgeBaseStore(tmp_path / "kb")
    vectors = add_document(writer_side, "/b.txt", 10, rng)
    assert reader.search_vectors(vectors[0], 1)[0][0] <= 10  # not refreshed yet: the old state, whole
    reader.refresh()
    assert reader.search_vectors(vectors[0], 1)[0] == (11, pytest.approx(1.0))
    with writer_side.writer() as writer:
        writer.remove_document("/b.txt")
    reader.refresh()
    assert 11 not in {r for r, _ in reader.search_vectors(vectors[0], 5)}


KILLED_LARGE_COMMIT = textwrap.dedent(
    """
    import os, signal, sys, time
    import numpy as np
    from rag.store import DocumentRecord, KnowledgeBaseStore
    from tests.test_store import add_document
    store = KnowledgeBaseStore(sys.argv[1])
    step = sys.argv[2]
    def on_step(name):
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)
    started = time.perf_counter()
    with store.writer(on_step=on_step) as writer:
        add_document(store, "/new.txt", 50, np.random.default_rng(5), writer)
    print(f"{time.perf_counter() - started:.3f}")
    """
)


LARGE_ROWS = 200_000


@pytest.fixture(scope="module")
def large_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("large") / "kb"
    synthetic = synthetic_store(path, dimension=32)
    add_document(synthetic, "/big.txt", LARGE_ROWS, np.random.default_rng(0))
    synthetic.close()
    return path


@pytest.mark.parametrize("step", ["staged", "synced", "committed", "published"])
def test_kill_while_adding_to_a_large_kb(large_kb: Path, tmp_path: Path, step: str):
    shutil.copytree(large_kb, tmp_path / "kb")
    child = subprocess.run([sys.executable, "-c", KILLED_LARGE_COMMIT, str(tmp_path / "kb"), step], cwd=REPO,
                           capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    reopened = KnowledgeBaseStore(tmp_path / "kb")
    committed = step in ("committed", "published")
    assert reopened.chunk_count() == LARGE_ROWS + (50 if committed else 0) == reopened.vector_index.count()
    assert ("/new.txt" in [d.source for d in reopened.documents()]) == committed
    # Search returns only rows the catalog holds.
    query = np.ones(32, dtype=np.float32) / np.sqrt(32)
    rows = [r for r, _ in reopened.search_vectors(query, 50)]
    assert len(reopened.chunks(rows)) == len(rows) == 50
    with reopened.writer() as writer:  # the next writer clears what the dead one left
        add_document(reopened, "/next.txt", 5, np.random.default_rng(6), writer)
    assert sorted(p.name for p in (tmp_path / "kb" / "segments").iterdir()) == sorted(s.name for s in reopened.segments())


def test_a_catalog_from_before_sections_is_read_and_then_written_with_them(tmp_path: Path):
    """A KB written before chunks had sections opens as it is (every section ""); its next writer adds the
    column, and the chunks it adds keep theirs."""
    import sqlite3

    store = synthetic_store(tmp_path / "kb")
    add_document(store, "/old.txt", 2, np.random.default_rng(0))
    store.close()
    db = sqlite3.connect(tmp_path / "kb" / "catalog.sqlite")
    db.execute("ALTER TABLE chunks DROP COLUMN section")
    db.commit()
    db.close()
    store = KnowledgeBaseStore(tmp_path / "kb")
    assert [c.section for c in store.iter_chunks()] == ["", ""]
    vector = np.ones((1, 16), dtype=np.float32) / 4
    with store.writer() as writer:
        writer.add_chunks([NewChunk("n", "/new.md", "/new.md", None, 0, 4, "Text", section="Manual > Lights")],
                          vector, [["text"]])
    store.close()
    store = KnowledgeBaseStore(tmp_path / "kb")
    assert sorted(c.section for c in store.iter_chunks()) == ["", "", "Manual > Lights"]
    store.close()
