"""Any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp server): the production GPU serving path."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Iterator, Sequence

from rag.errors import ModelError
from rag.llm.base import ChatMessage, ChatModel


class OpenAICompatibleChatModel(ChatModel):
    def __init__(self, model: str, base_url: str, api_key: str = "not-needed", timeout_s: float = 600.0):
        self.name = model
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout_s = timeout_s

    def stream(self, messages: Sequence[ChatMessage], max_new_tokens: int, temperature: float) -> Iterator[str]:
        body = json.dumps(
            {
                "model": self.name,
                "messages": [{"role": m.role, "content": m.content} for m in messages],
                "max_tokens": max_new_tokens,
                "temperature": temperature,
                "stream": True,
            }
        ).encode("utf-8")
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._api_key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                for raw in response:
                    line = raw.decode("utf-8").strip()
                    if not line.startswith("data:"):
                        continue  # SSE comments and blank keep-alive lines
                    payload = line[len("data:") :].strip()
                    if payload == "[DONE]":
                        return
                    choices = json.loads(payload).get("choices") or []
                    piece = (choices[0].get("delta") or {}).get("content") if choices else None
                    if piece:
                        yield piece
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise ModelError(f"LLM server {self.base_url} answered HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ModelError(f"cannot reach the LLM server at {self.base_url}: {exc}") from exc
        except ValueError as exc:
            raise ModelError(f"LLM server {self.base_url} sent a malformed stream: {exc}") from exc
