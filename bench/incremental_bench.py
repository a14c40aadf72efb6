"""Cost of changing a large KB: adding one 10-page document (50 chunks) to a KB of N chunks, and removing
it again, measured beyond its own embedding (its vectors are made up front). The KB is built from
synthetic chunks and vectors; a commit writes only the new segment and a catalog transaction, so the
figure should not grow with N.

Run: .venv/bin/python bench/incremental_bench.py [--chunks 1000000] [--json]
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

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.search_bench import DIMENSION, clustered_vectors  # noqa: E402
from rag.store import DocumentRecord, KnowledgeBaseStore, Manifest, NewChunk, VectorOptions  # noqa: E402
from rag.store.vectors import vector_store_class  # noqa: E402
from rag.text import KEYWORD_TOKENIZER_VERSION  # noqa: E402

WORDS = ("pump valve seal bearing torque pressure flange gasket permit inspection interval grease motor impeller "
         "clearance shaft coupling alignment vibration temperature").split()


def document(rng: np.random.Generator, source: str, n: int, centres: np.ndarray):
    texts = [" ".join(rng.choice(WORDS, 60)) for _ in range(n)]
    chunks = [NewChunk(f"{source}#{i}", source, source, i // 5 + 1, 0, len(t), t) for i, t in enumerate(texts)]
    terms = [t.split() for t in texts]
    return chunks, clustered_vectors(rng, n, centres), terms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--doc-chunks", type=int, default=50, help="chunks of the added document (10 pages)")
    parser.add_argument("--index", default="auto", help="vector index of the KB (auto builds HNSW for large segments)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((2000, DIMENSION)).astype(np.float32)
    with tempfile.TemporaryDirectory() as work:
        options = VectorOptions(index=args.index)
        kind, params = vector_store_class("faiss").build_params(options)
        manifest = Manifest("synthetic", "clustered", DIMENSION, 200, 32, KEYWORD_TOKENIZER_VERSION, vector_index=kind,
                            vector_params=params)
        store = KnowledgeBaseStore.create(Path(work) / "kb", manifest, options)
        started = time.perf_counter()
        with store.writer(max_merge_rows=0) as writer:
            for start in range(0, args.chunks, 50_000):
                n = min(50_000, args.chunks - start)
                chunks, vectors, terms = document(rng, f"/base/{start}.txt", n, centres)
                writer.add_chunks(chunks, vectors, terms)
                writer.put_document(DocumentRecord(f"/base/{start}.txt", str(start), "h", 1, 0.0, "indexed", None, n, 0.0))
                print(f"\rbuilding: {start + n:,} chunks, {time.perf_counter() - started:.0f} s", end="", file=sys.stderr, flush=True)
        build_s = time.perf_counter() - started
        print(file=sys.stderr)
        kb_bytes = sum(p.stat().st_size for p in (Path(work) / "kb").rglob("*") if p.is_file())
        chunks, vectors, terms = document(rng, "/new/manual.txt", args.doc_chunks, centres)
        t = time.perf_counter()
        with store.writer() as writer:
            writer.add_chunks(chunks, vectors, terms)
            writer.put_document(DocumentRecord("/new/manual.txt", "new", "h", 1, 0.0, "indexed", None, len(chunks), 0.0))
        add_s = time.perf_counter() - t
        found = store.search_vectors(vectors[0], 1)[0][0]
        t = time.perf_counter()
        with store.writer() as writer:
            writer.remove_document("/new/manual.txt")
        remove_s = time.perf_counter() - t
        gone = found not in {r for r, _ in store.search_vectors(vectors[0], 5)}
        t = time.perf_counter()
        KnowledgeBaseStore(Path(work) / "kb", options).close()
        open_s = time.perf_counter() - t
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"KB of {store.chunk_count():,} chunks ({kb_bytes / 2**20:,.0f} MiB, segments {store.describe()['segment_kinds']}) "
              f"built in {build_s:.0f} s")
        print(f"add one {args.doc_chunks}-chunk document: {add_s:.3f} s (embedding excluded); found by search: "
              f"{found > args.chunks}")
        print(f"remove it: {remove_s:.3f} s; gone from search: {gone}")
        print(f"open the KB: {open_s:.2f} s; peak RSS {peak_rss_mb:,.0f} MiB")
        if args.json:
            print(json.dumps({"chunks": args.chunks, "doc_chunks": args.doc_chunks, "add_seconds": round(add_s, 4),
                              "remove_seconds": round(remove_s, 4), "open_seconds": round(open_s, 3),
                              "build_seconds": round(build_s, 1), "kb_mib": round(kb_bytes / 2**20, 1),
                              "peak_rss_mib": round(peak_rss_mb), "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
