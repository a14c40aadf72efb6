"""GGUF models in-process with llama.cpp (llama-cpp-python): the fast path on a CPU, with GPU offload
where the package was built with CUDA."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Iterator, Sequence

from rag.errors import MissingDependencyError, ModelError
from rag.llm.base import Capabilities, ChatMessage, ChatModel, GenerationOptions, cut_at_stop, physical_cores
from rag.sanitize import neutralise_special_tokens

log = logging.getLogger(__name__)


class LlamaCppChatModel(ChatModel):
    """A GGUF chat model. One instance serves many threads one request at a time (a lock), since a
    llama.cpp context holds one sequence's state.

    The system message is evaluated once, on its own, and every prompt that opens with it reuses that
    state and no more. llama.cpp would reuse the longest prefix shared with the previous prompt, but a
    prompt's numbers then depend on where the previous one ended (the batches split elsewhere), and
    greedy decoding of the same question gave a refusal after one question and an answer after
    another. Reusing only a fixed boundary keeps the same prompt's reply the same in any order."""

    capabilities = Capabilities(streaming=True, seed=True, adapters=False, stop=True)

    def __init__(self, gguf_path: Path, name: str, context_tokens: int, device: str = "auto", threads: int | None = None):
        try:
            from llama_cpp import Llama, llama_supports_gpu_offload
        except ImportError as exc:
            raise MissingDependencyError("llama-cpp-python", "llama", "The llama.cpp LLM backend") from exc
        self.name = name
        gpu = device != "cpu" and llama_supports_gpu_offload()
        self.threads = threads or physical_cores()
        try:
            self._llama = Llama(
                model_path=str(gguf_path),
                n_ctx=context_tokens,
                n_batch=512,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                n_gpu_layers=-1 if gpu else 0,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(f"cannot load GGUF model {gguf_path} with llama.cpp: {exc}") from exc
        self.device = "cuda" if gpu else "cpu"
        self.context_window = int(self._llama.n_ctx())
        self._lock = threading.Lock()
        self._formatter = self._chat_formatter()
        # Strings that would become control tokens if parsed: the template's own markers do that job.
        self._special_tokens = sorted(
            {self._piece(t) for t in (self._llama.token_bos(), self._llama.token_eos()) if t >= 0} - {""},
            key=len, reverse=True,
        )

    def _chat_formatter(self):
        """The GGUF's own chat template, as llama-cpp-python applies it; None where the file has none
        (llama-cpp-python then falls back to a named format, and prefixes are not reused)."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llama.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        eos, bos = self._llama.token_eos(), self._llama.token_bos()
        return Jinja2ChatFormatter(template=template, eos_token=self._piece(eos) if eos >= 0 else "",
                                   bos_token=self._piece(bos) if bos >= 0 else "", stop_token_ids=[eos])

    def _prompt_tokens(self, payload: list[dict]) -> list[int]:
        prompt = self._formatter(messages=payload)
        return self._llama.tokenize(prompt.prompt.encode("utf-8"), add_bos=not prompt.added_special, special=True)

    def _settle_prefix(self, payload: list[dict]) -> None:
        """Leave the context holding exactly the tokens the prompt shares with its system message alone,
        evaluated as one batch of their own, so the rest of the prompt is evaluated from the same point
        whatever came before."""
        if self._formatter is None or not payload or payload[0]["role"] != "system":
            self._llama.reset()
            return
        full = self._prompt_tokens(payload)
        alone = self._prompt_tokens(payload[:1])
        boundary = 0
        for a, b in zip(full, alone):
            if a != b:
                break
            boundary += 1
        boundary = min(boundary, len(full) - 1)  # the last prompt token is evaluated with the rest
        held = self._llama.n_tokens
        if held >= boundary > 0 and list(self._llama.input_ids[:boundary]) == full[:boundary]:
            self._llama.n_tokens = boundary
            return
        self._llama.reset()
        if boundary > 0:
            self._llama.eval(full[:boundary])

    def _piece(self, token: int) -> str:
        return self._llama.detokenize([token], special=True).decode("utf-8", "ignore")

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Iterator[str]:
        self.check_options(options)
        return cut_at_stop(self._generate(messages, options), options.stop)

    def _generate(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Iterator[str]:
        payload = [{"role": m.role, "content": neutralise_special_tokens(m.content, self._special_tokens)} for m in messages]
        with self._lock:
            try:
                self._settle_prefix(payload)
                chunks = self._llama.create_chat_completion(
                    payload,
                    temperature=options.temperature,
                    top_p=options.top_p if options.temperature > 0 else 1.0,
                    max_tokens=options.max_new_tokens,
                    stop=list(options.stop),
                    seed=options.seed,
                    repeat_penalty=options.repeat_penalty,
                    stream=True,
                )
                try:
                    for chunk in chunks:
                        piece = chunk["choices"][0]["delta"].get("content")
                        if piece:
                            yield piece
                finally:
                    chunks.close()  # a consumer that stops early (client gone) stops the generation
            except ValueError as exc:  # llama-cpp-python's "Requested tokens exceed context window"
                raise ModelError(f"generation failed: {exc}") from exc
