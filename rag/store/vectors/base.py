"""The interface every vector store of a KB implements, and the options it is built with."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from rag.store.records import Segment


@dataclass(frozen=True)
class VectorOptions:
    """How to build and search a KB's vectors. Build-time values are recorded in the manifest; query-time
    values (ef_search, nprobe, the Milvus address and token) may change from run to run."""

    index: str = "auto"  # faiss: auto | flat | hnsw | ivf
    flat_max_rows: int = 20_000  # auto: exact search (2.6 ms at 20,000 on 2 cores) up to this size, HNSW above
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200  # 80 gave recall@10 0.935 at 1 M even with ef_search 1024; 200 gives 0.979 at 512
    hnsw_ef_search: int = 512
    ivf_nprobe: int = 16
    milvus_uri: str | None = None  # None: a Milvus Lite file inside the KB directory
    milvus_token: str | None = None


class VectorIndex(ABC):
    """Vectors of one KB, keyed by catalog row id, unit length, scored by inner product.

    The catalog is the commit point. A writer calls `prepare` with the new segment's vectors before the
    catalog commit names the segment, so a committed segment's vectors are always there; what a killed
    writer prepared but never committed is cleared by `discard_uncommitted`. Readers call `sync` with the
    catalog's committed segments and tombstones and never see anything else.
    """

    name: str  # the registry key, recorded in the manifest

    @classmethod
    @abstractmethod
    def build_params(cls, options: VectorOptions) -> tuple[str, dict[str, Any]]:
        """The index kind and build-time parameters a new KB records in its manifest."""

    @abstractmethod
    def sync(self, segments: Sequence[Segment], tombstones: np.ndarray) -> None:
        """Follow the catalog's committed state."""

    @abstractmethod
    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (row_id, cosine) for one unit query, optionally only among `allowed` row ids."""

    @abstractmethod
    def vectors(self, row_ids: Sequence[int]) -> np.ndarray:
        """Stored vectors of the given rows, in that order (zeros for a row not held)."""

    @abstractmethod
    def count(self) -> int:
        """Vectors searchable now (removed ones excluded)."""

    # -- writer side ------------------------------------------------------------------------------------
    @abstractmethod
    def segment_kind(self, rows: int) -> str:
        """The kind of index a segment of this many rows gets."""

    @abstractmethod
    def prepare(self, segment: Segment, row_ids: np.ndarray, vectors: np.ndarray) -> None:
        """Make a new segment's vectors durable before the catalog commits it."""

    @abstractmethod
    def prepare_merge(self, merged: Segment, parts: Sequence[Segment], live_rows: np.ndarray) -> None:
        """Write `merged`, holding the live rows of `parts`, before the catalog swaps it in."""

    @abstractmethod
    def committed(self, removed: np.ndarray, dropped: Sequence[Segment]) -> None:
        """After a catalog commit: let go of removed rows and of segments a merge replaced."""

    @abstractmethod
    def discard_uncommitted(self, segments: Sequence[Segment], last_row_id: int) -> None:
        """Clear what a killed writer prepared but never committed."""

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        """(row_ids, vectors) of every live row, for migration to another store."""
        raise NotImplementedError(f"{self.name} cannot export its vectors")

    def import_rows(self, row_ids: np.ndarray, vectors: np.ndarray) -> None:
        """Bulk load for migration into an empty store."""
        raise NotImplementedError(f"{self.name} cannot import vectors")

    def describe(self) -> dict[str, Any]:
        return {"store": self.name}

    def close(self) -> None:
        return None
