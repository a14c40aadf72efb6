"""The knowledge-base directory: a SQLite catalog (the commit point), vectors in a pluggable vector store
(FAISS segments, or Milvus), and a segmented BM25 keyword index.

Layout: manifest.json, catalog.sqlite (WAL), segments/<seq>/{vectors.faiss, keyword/}, .lock, rag.toml.
Nothing outside this package imports faiss or pymilvus.
"""
from rag.store.durability import StepHook
from rag.store.knowledge_store import KnowledgeBaseStore
from rag.store.manifest import Manifest
from rag.store.records import ChunkData, ChunkRecord, DocumentRecord, NewChunk, Segment
from rag.store.vectors import VECTOR_STORES, VectorOptions
from rag.store.writer import StoreWriter

__all__ = ["VECTOR_STORES", "ChunkData", "ChunkRecord", "DocumentRecord", "KnowledgeBaseStore", "Manifest", "NewChunk", "Segment",
           "StepHook", "StoreWriter", "VectorOptions"]
