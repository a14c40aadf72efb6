"""Milvus: the KB's vectors in a Milvus collection — Milvus Lite (a file inside the KB directory, the
engine embedded) by default, or a Milvus server or cluster at an http:// URI. Milvus segments, indexes
and compacts the collection itself; the KB's catalog stays the commit point, so rows a killed writer
inserted but never committed are deleted by the next writer and never returned meanwhile."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rag.errors import ConfigError, KnowledgeBaseError
from rag.store.manifest import Manifest
from rag.store.records import Segment
from rag.store.vectors.base import VectorIndex, VectorOptions

DEFAULT_LITE_FILE = "milvus.db"
INSERT_BATCH = 5_000
INDEX_KINDS = ("auto", "hnsw", "flat")
log = logging.getLogger(__name__)


def _is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "tcp://", "grpc://"))


def _id_list(row_ids: Sequence[int]) -> str:
    return "[" + ",".join(str(int(r)) for r in row_ids) + "]"


class MilvusVectorIndex(VectorIndex):
    name = "milvus"

    def __init__(self, root: Path, manifest: Manifest, options: VectorOptions):
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:
            raise ConfigError("vector_store = \"milvus\" needs pymilvus: pip install 'rag-kb[milvus]'") from exc
        self.root = root
        self.dimension = manifest.dimension
        self.params = dict(manifest.vector_params)
        self.kind = manifest.vector_index
        self.collection = self.params["collection"]
        self.options = options
        uri = options.milvus_uri or self.params.get("uri") or DEFAULT_LITE_FILE
        self.uri = uri if _is_remote(uri) else str((root / uri) if not Path(uri).is_absolute() else Path(uri))
        try:
            self._client = MilvusClient(uri=self.uri, token=options.milvus_token or "")
        except Exception as exc:  # pymilvus raises its own MilvusException, or grpc errors
            raise KnowledgeBaseError(f"cannot connect to Milvus at {self.uri}: {exc}") from exc
        self._dead: set[int] = set()
        self._last_row = 0
        if not self._client.has_collection(self.collection):
            self._create_collection()

    @classmethod
    def build_params(cls, options: VectorOptions) -> tuple[str, dict[str, Any]]:
        if options.index not in INDEX_KINDS:
            raise ConfigError(f"vector_index must be one of {', '.join(INDEX_KINDS)} for Milvus. Currently, it is {options.index!r}")
        uri = options.milvus_uri or DEFAULT_LITE_FILE
        # A server may hold many KBs: each gets its own collection.
        collection = "rag_" + hashlib.sha256(f"{uri}{np.random.default_rng().random()}".encode()).hexdigest()[:16]
        return options.index, {"uri": uri, "collection": collection, "hnsw_m": options.hnsw_m,
                      "hnsw_ef_construction": options.hnsw_ef_construction}

    def _create_collection(self) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("row_id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dimension)
        index_params = self._client.prepare_index_params()
        if self.kind == "flat":
            index_params.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
        else:
            index_params.add_index(field_name="vector", index_type="HNSW", metric_type="IP",
                                   params={"M": int(self.params.get("hnsw_m", 32)),
                                           "efConstruction": int(self.params.get("hnsw_ef_construction", 80))})
        self._client.create_collection(self.collection, schema=schema)
        # sync=False: waiting polls AllocTimestamp, which Milvus Lite does not serve (it logs a traceback)
        self._client.create_index(self.collection, index_params, sync=False)
        self._client.load_collection(self.collection)

    def drop(self) -> None:
        """Delete the collection (a migration that failed half-way starts again from nothing)."""
        if self._client.has_collection(self.collection):
            self._client.drop_collection(self.collection)

    # -- reading ----------------------------------------------------------------------------------------
    def sync(self, segments: Sequence[Segment], tombstones: np.ndarray) -> None:
        self._dead = set(int(t) for t in tombstones)
        self._last_row = max((s.last_row for s in segments), default=0)

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
        if query.shape[-1] != self.dimension:
            raise KnowledgeBaseError(f"query vector has dimension {query.shape[-1]}, the KB's vectors have {self.dimension}")
        if allowed is not None and not len(allowed):
            return []
        limit = min(k + len(self._dead), 16_384)
        kwargs: dict[str, Any] = {"search_params": {"metric_type": "IP", "params": {"ef": max(self.options.hnsw_ef_search, limit)}}}
        if allowed is not None:
            kwargs["filter"] = f"row_id in {_id_list(allowed)}"
        results = self._client.search(self.collection, data=[query.astype(np.float32).tolist()], limit=limit,
                                      output_fields=["row_id"], **kwargs)
        found = []
        for hit in results[0]:
            row_id = int(hit["row_id"] if "row_id" in hit else hit["id"])
            if row_id in self._dead or row_id > self._last_row:
                continue  # removed, or written by a writer that never committed
            found.append((row_id, float(hit["distance"])))
        return found[:k]

    def vectors(self, row_ids: Sequence[int]) -> np.ndarray:
        out = np.zeros((len(row_ids), self.dimension), dtype=np.float32)
        if not len(row_ids):
            return out
        rows = self._client.get(self.collection, ids=[int(r) for r in row_ids], output_fields=["vector"])
        by_id = {int(r["row_id"]): r["vector"] for r in rows}
        for i, row_id in enumerate(row_ids):
            if int(row_id) in by_id:
                out[i] = np.asarray(by_id[int(row_id)], dtype=np.float32)
        return out

    def count(self) -> int:
        stats = self._client.get_collection_stats(self.collection)
        return int(stats.get("row_count", 0))

    def describe(self) -> dict[str, Any]:
        return {"store": self.name, "uri": self.uri, "collection": self.collection,
                "index": self.kind}

    # -- writing ----------------------------------------------------------------------------------------
    def segment_kind(self, rows: int) -> str:
        return "external"

    def import_rows(self, row_ids: np.ndarray, vectors: np.ndarray) -> None:
        for start in range(0, len(row_ids), INSERT_BATCH):
            ids = row_ids[start : start + INSERT_BATCH]
            block = np.asarray(vectors[start : start + INSERT_BATCH], dtype=np.float32)
            self._client.insert(self.collection, [{"row_id": int(i), "vector": v.tolist()} for i, v in zip(ids, block)])
        self._client.flush(self.collection)

    def prepare(self, segment: Segment, row_ids: np.ndarray, vectors: np.ndarray) -> None:
        self.import_rows(np.asarray(row_ids, dtype=np.int64), vectors)

    def prepare_merge(self, merged: Segment, parts: Sequence[Segment], live_rows: np.ndarray) -> None:
        return None  # Milvus compacts its own segments

    def committed(self, removed: np.ndarray, dropped: Sequence[Segment]) -> None:
        for start in range(0, len(removed), INSERT_BATCH):
            self._client.delete(self.collection, filter=f"row_id in {_id_list(removed[start : start + INSERT_BATCH])}")

    def discard_uncommitted(self, segments: Sequence[Segment], last_row_id: int) -> None:
        self._client.delete(self.collection, filter=f"row_id > {int(last_row_id)}")

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        iterator = self._client.query_iterator(self.collection, batch_size=INSERT_BATCH, filter="row_id >= 0",
                                               output_fields=["row_id", "vector"])
        ids, vectors = [], []
        while True:
            batch = iterator.next()
            if not batch:
                break
            for row in batch:
                if int(row["row_id"]) not in self._dead and int(row["row_id"]) <= self._last_row:
                    ids.append(int(row["row_id"]))
                    vectors.append(row["vector"])
        iterator.close()
        return np.asarray(ids, dtype=np.int64), np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimension)

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:  # closing a client whose server already went away must not mask the real error
            pass
