"""BM25 keyword search (bm25s) over the KB's segments, keyed by the same row ids as the vectors.

Each segment has its own bm25s index, built once from its chunks' stored terms (bm25s has neither append
nor delete). A query is scored per segment with the idf of the whole KB, so a small new segment ranks its
chunks as a single index would; removed chunks are masked until a merge drops them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

ROW_IDS_FILE = "row_ids.npy"


def bm25_idf(n: int, df: int) -> float:
    """bm25s's default (Lucene) idf."""
    return float(np.log(1.0 + (n - df + 0.5) / (df + 0.5)))


class KeywordSegment:
    def __init__(self, retriever, row_ids: np.ndarray):
        self._retriever = retriever
        self.row_ids = row_ids
        self.vocab = set(retriever.vocab_dict) if retriever is not None else set()
        self.live = np.ones(len(row_ids), dtype=bool)

    @classmethod
    def build(cls, row_ids: list[int], token_lists: list[list[str]]) -> "KeywordSegment":
        import bm25s

        if not row_ids:
            return cls(None, np.zeros(0, dtype=np.int64))
        retriever = bm25s.BM25()
        retriever.index(token_lists, show_progress=False)
        return cls(retriever, np.asarray(row_ids, dtype=np.int64))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / ROW_IDS_FILE, self.row_ids)
        if self._retriever is not None:
            self._retriever.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path) -> "KeywordSegment":
        import bm25s

        row_ids = np.load(directory / ROW_IDS_FILE)
        if len(row_ids) == 0:
            return cls(None, row_ids)
        return cls(bm25s.BM25.load(str(directory), mmap=False), row_ids)

    def mask_removed(self, tombstones: np.ndarray) -> None:
        self.live = ~np.isin(self.row_ids, tombstones) if len(tombstones) else np.ones(len(self.row_ids), dtype=bool)

    def df(self, term: str) -> int:
        if self._retriever is None or term not in self.vocab:
            return 0
        indptr = self._retriever.scores["indptr"]  # CSC over terms: column length = document frequency
        token_id = self._retriever.vocab_dict[term]
        return int(indptr[token_id + 1] - indptr[token_id])

    def scores(self, tokens: list[str], idf: dict[str, float]) -> np.ndarray:
        """BM25 of every row for the query, each term's weight rescaled from this segment's idf to `idf`."""
        total = np.zeros(len(self.row_ids), dtype=np.float32)
        n = len(self.row_ids)
        for term in tokens:
            df = self.df(term)
            if df == 0:
                continue
            own = bm25_idf(n, df)
            total += np.asarray(self._retriever.get_scores([term]), dtype=np.float32) * (idf[term] / own)
        return total


class KeywordIndex:
    """The keyword side of a KB: one KeywordSegment per committed segment."""

    def __init__(self, segments: dict[int, KeywordSegment] | None = None):
        self.segments = segments or {}

    def __contains__(self, term: str) -> bool:
        return any(term in s.vocab for s in self.segments.values())

    def __len__(self) -> int:
        return int(sum(s.live.sum() for s in self.segments.values()))

    def rows(self) -> int:
        """The chunks idf is computed over: removed chunks count until their segment is merged (a small,
        temporary overcount)."""
        return sum(len(s.row_ids) for s in self.segments.values())

    def idf(self, terms: list[str]) -> dict[str, float]:
        """BM25 idf of each term over the whole KB (`rows`); a term no chunk contains gets the highest idf (df = 0)."""
        n = self.rows()
        return {t: bm25_idf(n, sum(s.df(t) for s in self.segments.values())) for t in terms}

    def search(self, tokens: list[str], k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (row_id, bm25 score) for the query terms; terms absent from every chunk are ignored."""
        known = [t for t in tokens if t in self]
        if not known or not self.segments:
            return []
        idf = self.idf(list(dict.fromkeys(known)))
        ids, scores = [], []
        for segment in self.segments.values():
            if not len(segment.row_ids):
                continue
            seg_scores = segment.scores(known, idf)
            mask = segment.live if allowed is None else segment.live & np.isin(segment.row_ids, allowed)
            seg_scores = np.where(mask, seg_scores, 0.0)
            take = min(k, len(seg_scores))
            top = np.argpartition(-seg_scores, take - 1)[:take]
            ids.append(segment.row_ids[top])
            scores.append(seg_scores[top])
        all_ids, all_scores = np.concatenate(ids), np.concatenate(scores)
        order = np.argsort(-all_scores, kind="stable")[:k]
        return [(int(all_ids[i]), float(all_scores[i])) for i in order if all_scores[i] > 0]
