"""Retrieval latency at scale: p50/p95 per query for dense FAISS search, BM25 scoring and the fusion
around them, over a KB of N synthetic chunks (random unit vectors, generated text).

Run: .venv/bin/python bench/search_bench.py [--chunks 100000] [--queries 200]
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import sample_sentences  # noqa: E402
from ingest.split import chunk_id  # noqa: E402
from ingest.types import Chunk  # noqa: E402
from rag.retrieve import Retriever  # noqa: E402
from rag.store import KnowledgeBaseStore, Manifest  # noqa: E402
from rag.text import KeywordTokenizer  # noqa: E402


class RandomQueryEmbedder:
    """Stands in for the embedding model so only search is timed: a random unit query vector."""

    backend, model_name, dimension = "synthetic", "random", 384

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def embed_query(self, text: str) -> np.ndarray:
        v = self.rng.standard_normal(self.dimension).astype(np.float32)
        return v / np.linalg.norm(v)


def percentiles(samples: list[float]) -> str:
    ms = np.asarray(samples) * 1000
    return f"p50 {np.percentile(ms, 50):.2f} ms, p95 {np.percentile(ms, 95):.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pyrng = random.Random(0)
    tokenizer = KeywordTokenizer()
    sentences = sample_sentences()
    sentence_terms = [tokenizer.tokenize(s) for s in sentences]
    with tempfile.TemporaryDirectory() as work:
        manifest = Manifest("synthetic", "random", 384, 200, 32, KeywordTokenizer.version)
        store = KnowledgeBaseStore.create(Path(work) / "kb", manifest)
        started = time.perf_counter()
        with store.writer() as writer:
            for start in range(0, args.chunks, 10_000):
                n = min(10_000, args.chunks - start)
                picks = [pyrng.sample(range(len(sentences)), 3) for _ in range(n)]
                chunks = [Chunk(chunk_id("d", None, start + i, str(i)), f"doc{(start + i) // 50}", f"/bench/doc{(start + i) // 50}.txt",
                                None, 0, 10, " ".join(sentences[j] for j in p)) for i, p in enumerate(picks)]
                terms = [sum((sentence_terms[j] for j in p), []) for p in picks]
                vectors = rng.standard_normal((n, 384)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                writer.add_chunks(chunks, vectors, terms)
            store = writer.commit()
        print(f"built a KB of {store.chunk_count()} chunks in {time.perf_counter() - started:.1f} s")
        embedder = RandomQueryEmbedder(rng)
        questions = [pyrng.choice(sentences)[:60] for _ in range(args.queries)]
        dense, keyword, hybrid = [], [], []
        retriever = Retriever(store, embedder, tokenizer, mode="hybrid", candidates=30)
        for q in questions:
            vector = embedder.embed_query(q)
            t = time.perf_counter()
            store.search_vectors(vector, 30)
            dense.append(time.perf_counter() - t)
            terms = tokenizer.tokenize(q)
            t = time.perf_counter()
            store.search_keywords(terms, 30)
            keyword.append(time.perf_counter() - t)
            t = time.perf_counter()
            retriever.search(q, 5)
            hybrid.append(time.perf_counter() - t)
        print(f"dense FAISS top-30 over {args.chunks} chunks: {percentiles(dense)}")
        print(f"BM25 top-30 over {args.chunks} chunks:        {percentiles(keyword)}")
        print(f"hybrid search (both + fusion + relevance, no query embedding): {percentiles(hybrid)}")


if __name__ == "__main__":
    main()
