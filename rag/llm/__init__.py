"""LLM backends, chosen by name from a registry; "auto" picks the fastest one that can run the model."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Callable

from rag.errors import ConfigError
from rag.llm.base import Capabilities, ChatMessage, ChatModel, GenerationOptions
from rag.settings import Settings

# LLM tokens per embedding-model token of a chunk: Qwen's tokenizer is a little coarser than MiniLM's on
# English and about 1.4 characters per token on Chinese, where MiniLM counts characters; 1.3 leaves room.
LLM_TOKENS_PER_CHUNK_TOKEN = 1.3
PROMPT_OVERHEAD_TOKENS = 512  # system message, template markers, block headers, the question


def context_tokens(settings: Settings, chunk_tokens: int = 200) -> int:
    """The context window a local model is given: what the answer prompt needs, not the model's maximum
    (a llama.cpp context allocates its KV cache up front, and prefill cost grows with what is filled)."""
    if settings.llm_context_tokens:
        return settings.llm_context_tokens
    needed = (PROMPT_OVERHEAD_TOKENS + settings.top_k * chunk_tokens * LLM_TOKENS_PER_CHUNK_TOKEN
              + settings.history_turns * 2 * 160 + settings.max_new_tokens)
    return int(math.ceil(needed / 256) * 256)


def gguf_path(settings: Settings) -> Path | None:
    """The GGUF file behind `llm_model` (the built-in model is one), or None for other models."""
    from rag.llm.builtin import BUILTIN_QWEN, builtin_gguf

    if settings.llm_model == BUILTIN_QWEN:
        return builtin_gguf(settings.cache_dir)
    path = Path(settings.llm_model).expanduser()
    return path if path.suffix.lower() == ".gguf" else None


def _llama_cpp(settings: Settings) -> ChatModel:
    from rag.llm.llama_cpp_backend import LlamaCppChatModel

    path = gguf_path(settings)
    if path is None:
        raise ConfigError(f"the llama-cpp backend runs GGUF files; llm_model {settings.llm_model!r} is not one")
    if not path.is_file():
        raise ConfigError(f"GGUF file not found: {path}")
    return LlamaCppChatModel(path, settings.llm_model, context_tokens(settings), settings.device, settings.llm_threads)


def _transformers(settings: Settings) -> ChatModel:
    from rag.llm.transformers_backend import TransformersChatModel

    return TransformersChatModel(settings.llm_model, settings.cache_dir, settings.device)


def _openai(settings: Settings) -> ChatModel:
    from rag.llm.openai_compat import OpenAICompatibleChatModel

    return OpenAICompatibleChatModel(settings.llm_model, settings.llm_base_url, settings.llm_api_key,
                                     timeout_s=settings.llm_timeout_s, retries=settings.llm_retries,
                                     context_window=settings.llm_context_tokens or 8192)


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def _auto(settings: Settings) -> ChatModel:
    """llama.cpp for a GGUF model when it is installed (and no adapter is asked for: llama.cpp cannot
    switch them per question), else transformers (CUDA in half precision when present, else CPU)."""
    return LLM_BACKENDS[resolve_auto(settings)](settings)


def resolve_auto(settings: Settings) -> str:
    if settings.adapter is None and llama_cpp_installed() and gguf_path_is_possible(settings):
        return "llama-cpp"
    return "transformers"


def gguf_path_is_possible(settings: Settings) -> bool:
    from rag.llm.builtin import BUILTIN_QWEN

    return settings.llm_model == BUILTIN_QWEN or Path(settings.llm_model).suffix.lower() == ".gguf"


LLM_BACKENDS: dict[str, Callable[[Settings], ChatModel]] = {
    "auto": _auto,
    "llama-cpp": _llama_cpp,
    "transformers": _transformers,
    "openai": _openai,
}


def create_chat_model(settings: Settings) -> ChatModel:
    try:
        factory = LLM_BACKENDS[settings.llm_backend]
    except KeyError:
        raise ConfigError(
            f"unknown llm_backend {settings.llm_backend!r}; choose one of: {', '.join(sorted(LLM_BACKENDS))}"
        ) from None
    return factory(settings)


__all__ = ["Capabilities", "ChatMessage", "ChatModel", "GenerationOptions", "LLM_BACKENDS", "context_tokens",
           "create_chat_model"]
