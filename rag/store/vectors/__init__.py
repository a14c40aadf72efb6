"""Vector stores a KB can keep its vectors in; the CLI's and settings' choices come from this registry."""
from __future__ import annotations

from pathlib import Path

from rag.errors import ConfigError
from rag.store.manifest import Manifest
from rag.store.vectors.base import VectorIndex, VectorOptions


def _faiss() -> type[VectorIndex]:
    from rag.store.vectors.faiss_index import FaissVectorIndex

    return FaissVectorIndex


def _milvus() -> type[VectorIndex]:
    from rag.store.vectors.milvus_index import MilvusVectorIndex

    return MilvusVectorIndex


DEFAULT_VECTOR_STORE = "faiss"
# Imported on first use: pymilvus is an optional extra.
VECTOR_STORES = {"faiss": _faiss, "milvus": _milvus}


def vector_store_class(name: str) -> type[VectorIndex]:
    if name not in VECTOR_STORES:
        raise ConfigError(f"vector_store must be one of {', '.join(VECTOR_STORES)}. Currently, it is {name!r}")
    return VECTOR_STORES[name]()


def open_vector_index(root: Path, manifest: Manifest, options: VectorOptions) -> VectorIndex:
    return vector_store_class(manifest.vector_store)(root, manifest, options)


__all__ = ["DEFAULT_VECTOR_STORE", "VECTOR_STORES", "VectorIndex", "VectorOptions", "open_vector_index", "vector_store_class"]
