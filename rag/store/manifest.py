"""The KB's manifest: what built its vectors, chunks and indexes. A KB opened with other values is refused."""
from __future__ import annotations

import json
import os
import time
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from rag.errors import KnowledgeBaseError, ManifestMismatchError
from rag.store.durability import damaged

FORMAT_VERSION = 2
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    embedding_backend: str
    embedding_model: str
    dimension: int
    chunk_tokens: int
    chunk_overlap_tokens: int
    keyword_tokenizer: str
    embedding_runtime: str = "float32"  # number format of the vectors' model (KBs made before it was recorded: float32)
    embed_all_text: bool = True  # False: chunks the model cannot read (Chinese, English-only model) have no vector
    normalized: bool = True
    metric: str = "inner_product"
    vector_store: str = "faiss"  # a name in rag.store.vectors.VECTOR_STORES
    vector_index: str = "auto"  # faiss: auto | flat | hnsw | ivf; milvus: the engine's index type
    vector_params: dict[str, Any] = field(default_factory=dict)  # build-time parameters of that index
    format_version: int = FORMAT_VERSION
    created_at: float = field(default_factory=time.time)

    def check_compatible(self, **wanted) -> None:
        """Raise ManifestMismatchError naming each requested value that differs from the manifest."""
        differences = [
            f"{key}: the KB has {getattr(self, key)!r}, requested {value!r}"
            for key, value in wanted.items()
            if value is not None and getattr(self, key) != value
        ]
        if differences:
            advice = ("`rag kb migrate` moves a KB's vectors to another store without re-embedding"
                      if "vector_store" in wanted and wanted["vector_store"] not in (None, self.vector_store)
                      else "Use the KB's settings, or ingest into a new KB directory.")
            raise ManifestMismatchError(
                "this knowledge base was built with other settings (" + "; ".join(differences) + "). " + advice
            )

    def replace(self, **changes: Any) -> "Manifest":
        data = asdict(self)
        data.update(changes)
        return Manifest(**data)


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise damaged(root, path, "is missing") from exc
    except (OSError, ValueError) as exc:
        raise damaged(root, path, f"is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise damaged(root, path, f"holds a JSON {type(data).__name__}, not an object")
    if data.get("format_version") != FORMAT_VERSION:
        raise KnowledgeBaseError(
            f"{root}: KB format version {data.get('format_version')} is not supported "
            f"(this program reads version {FORMAT_VERSION}); re-ingest into a new directory"
        )
    names = {f.name for f in fields(Manifest)}
    required = {f.name for f in fields(Manifest) if f.default is MISSING and f.default_factory is MISSING}
    missing = sorted(required - set(data))
    unknown = sorted(set(data) - names)
    if missing or unknown:
        raise damaged(root, path, f"lacks {missing} or has unknown keys {unknown}")
    try:
        manifest = Manifest(**data)
        int(manifest.dimension), int(manifest.chunk_tokens), int(manifest.chunk_overlap_tokens)
        dict(manifest.vector_params)
    except (TypeError, ValueError) as exc:
        raise damaged(root, path, f"has a value of the wrong type ({exc})") from exc
    return manifest


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Replace the manifest atomically (write, fsync, rename)."""
    staging = root / (MANIFEST_FILE + ".tmp")
    with open(staging, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(manifest), indent=2))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, root / MANIFEST_FILE)
