"""Retrieval latency and recall at scale, per vector index: build time, p50/p95 per query for dense search,
recall@10 against exact search, and hybrid search (dense + BM25 + fusion + relevance) on the automatic
choice, over a KB of N synthetic chunks.

Vectors are clustered like real embeddings (unit vectors scattered around 2,000 random topic centres;
uniformly random vectors are the worst case for graph indexes and unlike any text). Queries are stored
vectors with noise added. Text is built from the sample handbook's sentences.

Run: .venv/bin/python bench/search_bench.py [--chunks 100000] [--queries 200] [--indexes auto,flat,hnsw,ivf,milvus] [--json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import sample_sentences  # noqa: E402
from rag.retrieve import Retriever  # noqa: E402
from rag.store import KnowledgeBaseStore, Manifest, NewChunk, VectorOptions  # noqa: E402
from rag.store.vectors import vector_store_class  # noqa: E402
from rag.text import KEYWORD_TOKENIZER_VERSION, KeywordTokenizer  # noqa: E402

DIMENSION = 384


def clustered_vectors(rng: np.random.Generator, n: int, centres: np.ndarray, spread: float = 0.6) -> np.ndarray:
    picks = rng.integers(0, len(centres), n)
    vectors = centres[picks] + spread * rng.standard_normal((n, centres.shape[1])).astype(np.float32) / np.sqrt(centres.shape[1])
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


class QueryVectors:
    """Stands in for the embedding model so only search is timed: the next prepared query vector."""

    backend, model_name, dimension = "synthetic", "clustered", DIMENSION
    english_only = False  # the synthetic vectors stand for a model that reads every question

    def __init__(self, queries: np.ndarray):
        self.queries, self.at = queries, 0

    def embed_query(self, text: str) -> np.ndarray:
        self.at = (self.at + 1) % len(self.queries)
        return self.queries[self.at]


def build_store(path: Path, store_name: str, index: str, chunks: int, seed: int,
                ef_construction: int = VectorOptions.hnsw_ef_construction) -> tuple[KnowledgeBaseStore, float]:
    options = VectorOptions(index=index, hnsw_ef_construction=ef_construction)
    kind, params = vector_store_class(store_name).build_params(options)
    manifest = Manifest("synthetic", "clustered", DIMENSION, 200, 32, KEYWORD_TOKENIZER_VERSION, vector_store=store_name,
                        vector_index=kind, vector_params=params)
    store = KnowledgeBaseStore.create(path, manifest, options)
    rng, pyrng = np.random.default_rng(seed), random.Random(seed)
    centres = np.random.default_rng(12345).standard_normal((2000, DIMENSION)).astype(np.float32)
    tokenizer = KeywordTokenizer()
    sentences = sample_sentences()
    sentence_terms = tokenizer.index_terms_many(sentences)
    started = time.perf_counter()
    with store.writer(max_merge_rows=0) as writer:  # one segment of the chosen kind
        for start in range(0, chunks, 10_000):
            n = min(10_000, chunks - start)
            picks = [pyrng.sample(range(len(sentences)), 3) for _ in range(n)]
            batch = [NewChunk(f"c{start + i}", f"doc{(start + i) // 50}", f"/bench/doc{(start + i) // 50}.txt", None, 0, 10,
                                " ".join(sentences[j] for j in p)) for i, p in enumerate(picks)]
            terms = [sum((sentence_terms[j] for j in p), []) for p in picks]
            writer.add_chunks(batch, clustered_vectors(rng, n, centres), terms)
    return store, time.perf_counter() - started


def timed(fn, items) -> tuple[list, list[float]]:
    results, seconds = [], []
    for item in items:
        t = time.perf_counter()
        results.append(fn(item))
        seconds.append(time.perf_counter() - t)
    return results, seconds


def ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--indexes", default="auto,flat,hnsw,ivf,milvus",
                        help="comma-separated: FAISS index kinds, and milvus (Milvus Lite, HNSW)")
    parser.add_argument("--ef-search", default="128,256,512",
                        help="comma-separated HNSW search breadths to measure (the first is the setting's default)")
    parser.add_argument("--ef-construction", type=int, default=VectorOptions.hnsw_ef_construction,
                        help="HNSW build breadth")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.indexes.split(",") if k.strip()]
    ef_values = [int(v) for v in args.ef_search.split(",") if v.strip()]
    if "flat" not in kinds:
        kinds.append("flat")  # the exact reference for recall
    kinds.sort(key=lambda k: k != "flat")
    rng = np.random.default_rng(99)
    rows: dict[str, dict] = {}
    exact: list[set[int]] = []
    with tempfile.TemporaryDirectory() as work:
        for kind in kinds:
            store_name, index = ("milvus", "auto") if kind == "milvus" else ("faiss", kind)
            store, build_s = build_store(Path(work) / kind, store_name, index, args.chunks, seed=0,
                                          ef_construction=args.ef_construction)
            if not exact:
                sample = np.asarray(rng.choice(np.arange(1, args.chunks + 1), args.queries, replace=False))
                base = store.vectors(sample.tolist())
                queries = base + 0.3 * rng.standard_normal(base.shape).astype(np.float32) / np.sqrt(DIMENSION)
                queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
            store.search_vectors(queries[0], 10)  # warm-up (Milvus loads the collection)
            segment_kinds = store.describe().get("segment_kinds", {"milvus": 1})
            curve = []
            for ef in (ef_values if "hnsw" in segment_kinds else ef_values[:1]):
                store.vector_index.options = dataclasses.replace(store.vector_index.options, hnsw_ef_search=ef)
                results, seconds = timed(lambda q: [r for r, _ in store.search_vectors(q, 30)], queries)
                top10 = [set(r[:10]) for r in results]
                if kind == "flat":
                    exact = top10
                recall = float(np.mean([len(a & e) / 10 for a, e in zip(top10, exact)]))
                curve.append({"ef_search": ef, "p50_ms": round(ms(seconds, 50), 3), "p95_ms": round(ms(seconds, 95), 3),
                              "recall_at_10": round(recall, 4)})
                if "hnsw" in segment_kinds:
                    print(f"  {kind} ef_search {ef}: p50 {curve[-1]['p50_ms']:.2f} ms, recall@10 {recall:.3f}", flush=True)
            # The reported point: the smallest ef reaching recall 0.95, else the largest measured.
            best = next((c for c in curve if c["recall_at_10"] >= 0.95), curve[-1])
            store.vector_index.options = dataclasses.replace(store.vector_index.options, hnsw_ef_search=best["ef_search"])
            recall = best["recall_at_10"]
            row = {"index": kind, "segment_kinds": segment_kinds, "build_s": round(build_s, 1), **best}
            if "hnsw" in segment_kinds:
                row["ef_curve"] = curve
            else:
                row.pop("ef_search")
            if kind == "auto":
                tokenizer = KeywordTokenizer()
                retriever = Retriever(store, QueryVectors(queries), tokenizer, mode="hybrid", candidates=30)
                questions = [random.Random(i).choice(sample_sentences())[:60] for i in range(args.queries)]
                _, hybrid = timed(lambda q: retriever.search(q, 5), questions)
                row.update(hybrid_p50_ms=round(ms(hybrid, 50), 3), hybrid_p95_ms=round(ms(hybrid, 95), 3))
            rows[kind] = row
            store.close()
            extra = f", hybrid p50 {row['hybrid_p50_ms']:.2f} ms p95 {row['hybrid_p95_ms']:.2f} ms" if "hybrid_p50_ms" in row else ""
            print(f"{kind:7} ({row['segment_kinds']}) over {args.chunks} chunks: built in {build_s:.1f} s; dense top-30 p50 "
                  f"{row['p50_ms']:.2f} ms, p95 {row['p95_ms']:.2f} ms; recall@10 vs exact {recall:.3f}{extra}", flush=True)
    if args.json:
        auto = rows.get("auto") or rows["flat"]
        print(json.dumps({"chunks": args.chunks, "queries": args.queries, "index": auto["index"],
                          "segment_kinds": auto["segment_kinds"], "p50_ms": auto["p50_ms"], "p95_ms": auto["p95_ms"],
                          "recall_at_10": auto["recall_at_10"], "ef_search": auto.get("ef_search"), "hybrid_p50_ms": auto.get("hybrid_p50_ms"),
                          "by_index": rows}))


if __name__ == "__main__":
    main()
