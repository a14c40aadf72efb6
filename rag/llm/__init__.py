"""LLM backends, chosen by name from a registry."""
from __future__ import annotations

from typing import Callable

from rag.errors import ConfigError
from rag.llm.base import ChatMessage, ChatModel
from rag.settings import Settings


def _transformers(settings: Settings) -> ChatModel:
    from rag.llm.transformers_backend import TransformersChatModel

    return TransformersChatModel(settings.llm_model, settings.cache_dir, settings.device)


def _openai(settings: Settings) -> ChatModel:
    from rag.llm.openai_compat import OpenAICompatibleChatModel

    return OpenAICompatibleChatModel(settings.llm_model, settings.llm_base_url, settings.llm_api_key)


LLM_BACKENDS: dict[str, Callable[[Settings], ChatModel]] = {
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


__all__ = ["ChatMessage", "ChatModel", "LLM_BACKENDS", "create_chat_model"]
