"""FAISS, embedded: one index file per segment, exact (flat) for small segments and HNSW (or IVF) for
large ones; removed rows are excluded with an id selector until a merge drops them."""
from __future__ import annotations

import bisect
import logging
import math
from pathlib import Path
from typing import Any, Sequence

import faiss
import numpy as np

from rag.errors import ConfigError, KnowledgeBaseError
from rag.store.durability import damaged
from rag.store.manifest import Manifest
from rag.store.records import Segment, segment_dir
from rag.store.vectors.base import VectorIndex, VectorOptions

VECTORS_FILE = "vectors.faiss"
INDEX_KINDS = ("auto", "flat", "hnsw", "ivf")
IVF_MIN_POINTS_PER_LIST = 39  # FAISS warns below this many training points per list
log = logging.getLogger(__name__)


class _Loaded:
    def __init__(self, segment: Segment, index, dead: np.ndarray):
        self.segment = segment
        self.index = index
        self.dead = dead
        self.searcher = _on_gpu(index) if segment.vector_kind in ("flat", "ivf") else index


def _on_gpu(index):
    """A GPU copy for exact and IVF search when FAISS sees GPUs; else the index itself."""
    if hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0 and index.ntotal > 0:
        try:
            return faiss.index_cpu_to_all_gpus(index)
        except RuntimeError as exc:  # e.g. GPU memory too small: search on the CPU still works
            log.warning("FAISS GPU search unavailable (%s); searching on the CPU", exc)
    return index


def _inner(index):
    return faiss.downcast_index(index.index)


class FaissVectorIndex(VectorIndex):
    name = "faiss"

    def __init__(self, root: Path, manifest: Manifest, options: VectorOptions):
        self.root = root
        self.dimension = manifest.dimension
        self.kind = manifest.vector_index
        self.params = dict(manifest.vector_params)
        self.options = options
        self._loaded: dict[int, _Loaded] = {}
        self._order: list[_Loaded] = []  # by first row, for lookups by row id

    @classmethod
    def build_params(cls, options: VectorOptions) -> tuple[str, dict[str, Any]]:
        if options.index not in INDEX_KINDS:
            raise ConfigError(f"vector_index must be one of {', '.join(INDEX_KINDS)} for FAISS. Currently, it is {options.index!r}")
        return options.index, {"flat_max_rows": options.flat_max_rows, "hnsw_m": options.hnsw_m,
                                "hnsw_ef_construction": options.hnsw_ef_construction}

    # -- reading ----------------------------------------------------------------------------------------
    def sync(self, segments: Sequence[Segment], tombstones: np.ndarray) -> None:
        loaded = {}
        for segment in segments:
            known = self._loaded.get(segment.seq)
            index = known.index if known else self._read(segment)
            dead = tombstones[(tombstones >= segment.first_row) & (tombstones <= segment.last_row)]
            loaded[segment.seq] = _Loaded(segment, index, dead) if known is None or len(dead) != len(known.dead) else known
        self._loaded = loaded
        self._order = sorted(loaded.values(), key=lambda s: s.segment.first_row)

    def _read(self, segment: Segment):
        path = segment_dir(self.root, segment) / VECTORS_FILE
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            if not path.exists():
                raise FileNotFoundError(path) from exc  # a merge may have replaced it: the store re-reads the catalog
            raise damaged(self.root, path, "is missing or truncated") from exc
        if index.d != self.dimension:
            raise damaged(self.root, path, f"holds {index.d}-d vectors, the manifest says {self.dimension}")
        return index

    def _search_params(self, kind: str, selector, k: int):
        if kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=selector, efSearch=max(self.options.hnsw_ef_search, k))
        if kind == "ivf":
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.options.ivf_nprobe)
        return faiss.SearchParameters(sel=selector)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        if query.shape[-1] != self.dimension:
            raise KnowledgeBaseError(f"query vector has dimension {query.shape[-1]}, the KB's vectors have {self.dimension}")
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        found: list[tuple[int, float]] = []
        for part in self._order:
            seg, index = part.segment, part.index
            if index.ntotal == 0:
                continue
            if allowed is not None:
                inside = allowed[(allowed >= seg.first_row) & (allowed <= seg.last_row)]
                if not len(inside):
                    continue
                selector = faiss.IDSelectorBatch(inside)
            else:
                selector = faiss.IDSelectorNot(faiss.IDSelectorBatch(part.dead)) if len(part.dead) else None
            take = min(k, index.ntotal)
            if selector is None:
                searcher = part.searcher
                if seg.vector_kind == "hnsw":
                    scores, ids = searcher.search(query, take, params=self._search_params("hnsw", None, take))
                elif seg.vector_kind == "ivf" and searcher is index:
                    scores, ids = searcher.search(query, take, params=self._search_params("ivf", None, take))
                else:
                    scores, ids = searcher.search(query, take)
            else:
                scores, ids = index.search(query, take, params=self._search_params(seg.vector_kind, selector, take))
            found += [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        found.sort(key=lambda pair: -pair[1])
        return found[:k]

    def vectors(self, row_ids: Sequence[int]) -> np.ndarray:
        out = np.zeros((len(row_ids), self.dimension), dtype=np.float32)
        starts = [p.segment.first_row for p in self._order]
        for i, row_id in enumerate(row_ids):
            at = bisect.bisect_right(starts, int(row_id)) - 1
            if at >= 0 and int(row_id) <= self._order[at].segment.last_row:
                try:
                    out[i] = self._order[at].index.reconstruct(int(row_id))
                except RuntimeError:  # not in this segment (removed before a merge)
                    pass
        return out

    def count(self) -> int:
        return int(sum(p.index.ntotal - len(p.dead) for p in self._order))

    def describe(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for part in self._order:
            kinds[part.segment.vector_kind] = kinds.get(part.segment.vector_kind, 0) + 1
        return {"store": self.name, "index": self.kind, "segments": len(self._order), "segment_kinds": kinds,
                "removed_pending_merge": int(sum(len(p.dead) for p in self._order))}

    # -- writing ----------------------------------------------------------------------------------------
    def segment_kind(self, rows: int) -> str:
        kind = self.kind
        if kind == "auto":
            kind = "flat" if rows <= int(self.params.get("flat_max_rows", 20_000)) else "hnsw"
        if kind == "ivf" and rows < 4 * IVF_MIN_POINTS_PER_LIST * 4:
            kind = "flat"  # too few points to train the coarse quantizer
        return kind

    def _build(self, kind: str, row_ids: np.ndarray, vectors: np.ndarray):
        d = self.dimension
        if kind == "hnsw":
            inner = faiss.IndexHNSWFlat(d, int(self.params.get("hnsw_m", 32)), faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = int(self.params.get("hnsw_ef_construction", 200))
        elif kind == "ivf":
            nlist = max(4, min(int(4 * math.sqrt(len(row_ids))), len(row_ids) // IVF_MIN_POINTS_PER_LIST))
            inner = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            inner.train(vectors)
        else:
            inner = faiss.IndexFlatIP(d)
        index = faiss.IndexIDMap2(inner)  # the wrapper keeps `inner` alive
        if len(row_ids):
            index.add_with_ids(vectors, row_ids)
        if kind == "ivf":
            inner.make_direct_map()
        return index

    def prepare(self, segment: Segment, row_ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = self._build(segment.vector_kind, np.asarray(row_ids, dtype=np.int64), vectors)
        directory = segment_dir(self.root, segment)
        directory.mkdir(parents=True, exist_ok=True)
        faiss.write_index(index, str(directory / VECTORS_FILE))

    def _segment_rows(self, segment: Segment) -> tuple[np.ndarray, np.ndarray]:
        index = self._loaded[segment.seq].index if segment.seq in self._loaded else self._read(segment)
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        inner = _inner(index)
        if isinstance(inner, faiss.IndexIVF) and not inner.direct_map.type:
            inner.make_direct_map()
        vectors = inner.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, self.dimension), np.float32)
        return ids, vectors

    def prepare_merge(self, merged: Segment, parts: Sequence[Segment], live_rows: np.ndarray) -> None:
        ids, vectors = zip(*(self._segment_rows(p) for p in parts)) if parts else ((), ())
        all_ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        all_vectors = np.concatenate(vectors) if vectors else np.zeros((0, self.dimension), np.float32)
        keep = np.isin(all_ids, live_rows)
        order = np.argsort(all_ids[keep], kind="stable")
        self.prepare(merged, all_ids[keep][order], all_vectors[keep][order])

    def committed(self, removed: np.ndarray, dropped: Sequence[Segment]) -> None:
        return None  # removed rows are tombstones in the catalog; dropped segment files go with their folder

    def discard_uncommitted(self, segments: Sequence[Segment], last_row_id: int) -> None:
        return None  # uncommitted segment folders are removed by the writer

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        ids, vectors = [], []
        for part in self._order:
            part_ids, part_vectors = self._segment_rows(part.segment)
            keep = ~np.isin(part_ids, part.dead)
            ids.append(part_ids[keep])
            vectors.append(part_vectors[keep])
        if not ids:
            return np.zeros(0, np.int64), np.zeros((0, self.dimension), np.float32)
        return np.concatenate(ids), np.concatenate(vectors)
