"""The chat-model interface: one abstract method, `stream`, which yields text pieces as they are made."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterator, Sequence


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str


class ChatModel(ABC):
    name: str = ""

    @abstractmethod
    def stream(self, messages: Sequence[ChatMessage], max_new_tokens: int, temperature: float) -> Iterator[str]:
        """Yield the reply in pieces; raise ModelError if generation fails."""

    def generate(self, messages: Sequence[ChatMessage], max_new_tokens: int, temperature: float) -> str:
        return "".join(self.stream(messages, max_new_tokens, temperature))
