"""Any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp's server, `rag serve`): the production GPU
serving path. Standard library only: a timeout on every request, retries with exponential backoff on
connection errors and 5xx answers (before the first token only: a reply half streamed cannot be
retried without repeating itself), and one-line errors."""
from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from typing import Iterator, Sequence

from rag.errors import ModelError
from rag.llm.base import Capabilities, ChatMessage, ChatModel, GenerationOptions, cut_at_stop

log = logging.getLogger(__name__)


class OpenAICompatibleChatModel(ChatModel):
    # An adapter is a model name on the server (vLLM: --enable-lora --lora-modules NAME=PATH).
    capabilities = Capabilities(streaming=True, seed=True, adapters=True, stop=True)

    def __init__(self, model: str, base_url: str, api_key: str = "not-needed", timeout_s: float = 120.0,
                 retries: int = 3, backoff_s: float = 0.5, context_window: int = 8192):
        self.name = model
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self.context_window = context_window

    def ensure_adapter(self, name: str, layers) -> None:
        """Nothing to load here: the server holds the adapter under that model name."""

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Iterator[str]:
        self.check_options(options)
        return cut_at_stop(self._generate(messages, options), options.stop)

    def _request(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> urllib.request.Request:
        body = {
            "model": options.adapter or self.name,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": options.max_new_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
            "stream": True,
        }
        if options.stop:
            body["stop"] = list(options.stop)
        if options.seed is not None:
            body["seed"] = options.seed
        return urllib.request.Request(
            f"{self.base_url}/chat/completions",
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self._api_key}"},
        )

    def _open(self, request: urllib.request.Request):
        """The response, retrying what a busy or restarting server may fix."""
        for attempt in range(self._retries + 1):
            try:
                return urllib.request.urlopen(request, timeout=self._timeout_s)
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:300]
                if exc.code < 500 or attempt == self._retries:
                    raise ModelError(f"LLM server {self.base_url} answered HTTP {exc.code}: {' '.join(detail.split())}") from exc
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                if attempt == self._retries:
                    raise ModelError(
                        f"cannot reach the LLM server at {self.base_url} ({getattr(exc, 'reason', exc)}); "
                        "is it running? Check llm_base_url"
                    ) from exc
                reason = str(getattr(exc, "reason", exc))
            delay = self._backoff_s * 2**attempt
            log.warning("LLM server %s: %s; retrying in %.1f s", self.base_url, reason, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _generate(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Iterator[str]:
        response = self._open(self._request(messages, options))
        try:
            with response:
                for raw in response:
                    line = raw.decode("utf-8").strip()
                    if not line.startswith("data:"):
                        continue  # SSE comments and blank keep-alive lines
                    payload = line[len("data:") :].strip()
                    if payload == "[DONE]":
                        return
                    data = json.loads(payload)
                    if "error" in data:
                        raise ModelError(f"LLM server {self.base_url} reported: {data['error']}")
                    choices = data.get("choices") or []
                    piece = (choices[0].get("delta") or {}).get("content") if choices else None
                    if piece:
                        yield piece
        except (OSError, urllib.error.URLError) as exc:
            raise ModelError(f"the LLM server at {self.base_url} broke off the reply: {exc}") from exc
        except ValueError as exc:
            raise ModelError(f"LLM server {self.base_url} sent a malformed stream: {exc}") from exc
