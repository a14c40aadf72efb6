"""The chat-model interface: one abstract method, `stream`, which yields text pieces as they are made,
with the per-call generation options as one typed object."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from rag.errors import ModelError


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant
    content: str


REPEAT_WINDOW = 64  # tokens the repeat penalty looks back over (llama.cpp's default last_n)


@dataclass(frozen=True)
class GenerationOptions:
    """How to generate one reply."""

    max_new_tokens: int = 320
    temperature: float = 0.0  # 0 = greedy: answers from documents should not vary run to run
    top_p: float = 1.0  # nucleus sampling; used only when temperature > 0
    stop: tuple[str, ...] = ()  # the reply ends before the first of these strings
    seed: int | None = None  # makes sampling repeatable where the backend supports it
    # Tokens among the last REPEAT_WINDOW have their logits divided by this (llama.cpp's repeat penalty):
    # greedy decoding of a small model otherwise loops ("第十三条第十三条…", "1000000…"). 1.0: off.
    repeat_penalty: float = 1.1
    adapter: str | None = None  # a fine-tuned adapter to answer with (backends that support adapters)

    def __post_init__(self) -> None:
        if self.max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be greater than 0. Currently, it is {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be at least 0. Currently, it is {self.temperature}")
        if not 0 < self.repeat_penalty < float("inf"):
            raise ValueError(f"repeat_penalty must be a finite number greater than 0. Currently, it is {self.repeat_penalty}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1]. Currently, it is {self.top_p}")


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, so callers can check before they ask."""

    streaming: bool = True
    seed: bool = False
    adapters: bool = False
    stop: bool = True
    notes: tuple[str, ...] = field(default=())


class ChatModel(ABC):
    name: str = ""
    capabilities: Capabilities = Capabilities()
    context_window: int = 4096  # tokens the model reads, prompt and reply together

    @abstractmethod
    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Iterator[str]:
        """Yield the reply in pieces; raise ModelError if generation fails. Closing the iterator early
        stops generation."""

    def generate(self, messages: Sequence[ChatMessage], options: GenerationOptions | None = None) -> str:
        return "".join(self.stream(messages, options or GenerationOptions()))

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` in the model's own tokenizer. The default over-estimates (one token per three
        bytes), which keeps prompts inside the window for a backend that cannot count."""
        return len(text.encode("utf-8")) // 3 + 1

    def check_options(self, options: GenerationOptions) -> None:
        """Raise ModelError when the options ask for something this backend cannot do."""
        if options.adapter is not None and not self.capabilities.adapters:
            raise ModelError(
                f"the {type(self).__name__} backend cannot apply adapter {options.adapter!r}; answer with the "
                "transformers backend (llm_backend = \"transformers\"), or serve the adapter with vLLM and use the openai backend"
            )


    def ensure_adapter(self, name: str, layers: Callable[[str], Sequence[AdapterLayer]]) -> None:
        """Make adapter `name` usable in `GenerationOptions(adapter=name)`. `layers(name)` gives the files
        of it and of the adapters it sits on, industry layer first; a backend that loads adapters itself
        loads those it has not yet. The default (a backend that cannot apply adapters) refuses.

        Raises:
            ModelError: this backend cannot apply adapters, or the files do not fit the model.
        """
        self.check_options(GenerationOptions(adapter=name))


@dataclass(frozen=True)
class AdapterLayer:
    """One adapter's files and the LoRA adapters that must be active beneath it."""

    name: str
    path: Path
    parents: tuple[str, ...] = ()


def cut_at_stop(pieces: Iterator[str], stop: Sequence[str]) -> Iterator[str]:
    """Pass `pieces` through until one of the `stop` strings appears (which is not passed); holds back
    only as much text as could be the start of a stop string. Closes `pieces` when it stops, so the
    backend stops generating."""
    if not stop:
        yield from pieces
        return
    hold = max(len(s) for s in stop) - 1
    buffer = ""
    try:
        for piece in pieces:
            buffer += piece
            found = [i for i in (buffer.find(s) for s in stop) if i >= 0]
            if found:
                if min(found):
                    yield buffer[: min(found)]
                return
            if len(buffer) > hold:
                yield buffer[: len(buffer) - hold]
                buffer = buffer[len(buffer) - hold :]
        if buffer:
            yield buffer
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


def physical_cores() -> int:
    """CPU cores this process may use, counting hyper-threads once: matrix kernels gain nothing from
    a core's second thread and lose to the contention."""
    import os

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        cores, physical, core = set(), None, None
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "physical id":
                    physical = value.strip()
                elif key.strip() == "core id":
                    core = value.strip()
                elif not line.strip() and core is not None:
                    cores.add((physical, core))
                    physical, core = None, None
        if core is not None:
            cores.add((physical, core))
        counted = len(cores) or usable
    except OSError:
        counted = usable
    return max(1, min(usable, counted))
