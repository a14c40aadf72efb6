"""BM25 keyword index over chunk terms (bm25s), keyed by the same row ids as the vector index."""
from __future__ import annotations

from pathlib import Path

import numpy as np

ROW_IDS_FILE = "row_ids.npy"


class KeywordIndex:
    """Built whole from every chunk's stored terms at each commit: bm25s has no delete, and rebuilding
    from stored terms costs no re-tokenisation (about a second per 100,000 chunks)."""

    def __init__(self, retriever, row_ids: np.ndarray):
        self._retriever = retriever
        self._row_ids = row_ids
        self._vocab = set(retriever.vocab_dict) if retriever is not None else set()

    @classmethod
    def build(cls, row_ids: list[int], token_lists: list[list[str]]) -> "KeywordIndex":
        import bm25s

        if not row_ids:
            return cls(None, np.zeros(0, dtype=np.int64))
        retriever = bm25s.BM25()
        retriever.index(token_lists, show_progress=False)
        return cls(retriever, np.asarray(row_ids, dtype=np.int64))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / ROW_IDS_FILE, self._row_ids)
        if self._retriever is not None:
            self._retriever.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path) -> "KeywordIndex":
        import bm25s

        row_ids = np.load(directory / ROW_IDS_FILE)
        if len(row_ids) == 0:
            return cls(None, row_ids)
        return cls(bm25s.BM25.load(str(directory), mmap=False), row_ids)

    def __contains__(self, term: str) -> bool:
        return term in self._vocab

    def __len__(self) -> int:
        return len(self._row_ids)

    def search(self, tokens: list[str], k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (row_id, bm25 score) for the query terms; terms absent from every chunk are ignored."""
        known = [t for t in tokens if t in self._vocab]
        if not known or self._retriever is None:
            return []
        scores = np.asarray(self._retriever.get_scores(known), dtype=np.float32)
        if allowed is not None:
            scores = np.where(np.isin(self._row_ids, allowed), scores, 0.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self._row_ids[i]), float(scores[i])) for i in top if scores[i] > 0]

    def idf(self, terms: list[str]) -> dict[str, float]:
        """BM25 idf of each term; a term no chunk contains gets the highest idf (df = 0)."""
        n = len(self._row_ids)
        out = {}
        for term in terms:
            df = 0
            if self._retriever is not None and term in self._vocab:
                indptr = self._retriever.scores["indptr"]  # CSC over terms: column length = document frequency
                token_id = self._retriever.vocab_dict[term]
                df = int(indptr[token_id + 1] - indptr[token_id])
            out[term] = float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))
        return out
