"""In-process generation with torch + transformers: the GPU path, and the one LoRA adapters load into."""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Iterator, Sequence

from rag.errors import ModelError
from rag.llm.base import Capabilities, ChatMessage, ChatModel, GenerationOptions, cut_at_stop
from rag.llm.builtin import BUILTIN_GGUF_SHA256, BUILTIN_QWEN, builtin_gguf
from rag.sanitize import neutralise_special_tokens

log = logging.getLogger(__name__)
CONVERTED_MARKER = "converted.ok"


def _torch_dtype(device: str):
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32  # half precision matmuls are slow or missing on most CPUs


def convert_gguf(gguf_path: Path, cache_key: str, cache_dir: Path) -> Path:
    """Dequantise a GGUF once into a safetensors checkpoint (fp16) that later starts load in about a second.

    transformers refuses save_pretrained on a GGUF-loaded model, so the weights go into a fresh model
    built from the same config without its quantization entry.
    """
    target = cache_dir / "converted" / cache_key
    if (target / CONVERTED_MARKER).is_file():
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s (first start only; this takes about a minute)", gguf_path)
    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"cannot load GGUF {gguf_path}: {exc}") from exc
    config = AutoConfig.for_model(**{k: v for k, v in loaded.config.to_dict().items() if k != "quantization_config"})
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh = fresh.to(torch.float16)
    staging = target.with_name(target.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    fresh.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    (staging / CONVERTED_MARKER).write_text(str(gguf_path), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target


def resolve_model_dir(model: str, cache_dir: Path) -> str:
    """A directory or hub name that from_pretrained can read, converting GGUF files on first use."""
    if model == BUILTIN_QWEN:
        converted = cache_dir / "converted" / BUILTIN_GGUF_SHA256[:16]
        if (converted / CONVERTED_MARKER).is_file():
            return str(converted)
        return str(convert_gguf(builtin_gguf(cache_dir), BUILTIN_GGUF_SHA256[:16], cache_dir))
    path = Path(model).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelError(f"GGUF file not found: {path}")
        stat = path.stat()
        key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
        return str(convert_gguf(path, key, cache_dir))
    return model


class TransformersChatModel(ChatModel):
    """Any causal LM with a chat template, by local path, hub name or GGUF file. On CUDA it runs in bf16
    (fp16 where bf16 is missing) with SDPA attention. One generation at a time per instance (a lock):
    the page and the server call it from many threads."""

    capabilities = Capabilities(streaming=True, seed=True, adapters=True, stop=True)

    def __init__(self, model: str, cache_dir: Path, device: str = "auto"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ingest.embed import resolve_device

        self.name = model
        self.device = resolve_device(device)
        model_dir = resolve_model_dir(model, Path(cache_dir))
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(model_dir)
            self._model = AutoModelForCausalLM.from_pretrained(
                model_dir, dtype=_torch_dtype(self.device), attn_implementation="sdpa"
            )
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load LLM {model!r} from {model_dir}: {exc}") from exc
        self._model.to(self.device).eval()
        if self._tokenizer.chat_template is None:
            raise ModelError(f"LLM {model!r} has no chat template; use an instruction-tuned model")
        self._torch = torch
        self._lock = threading.Lock()
        self.context_window = int(getattr(self._model.config, "max_position_embeddings", 4096) or 4096)
        added = getattr(self._tokenizer, "added_tokens_decoder", {}) or {}
        self._special_tokens = sorted(
            set(self._tokenizer.all_special_tokens) | {t.content for t in added.values() if getattr(t, "special", False)},
            key=len, reverse=True,
        )
        self._adapters: set[str] = set()

    @property
    def model(self):
        """The torch module, for adapters (peft) to wrap."""
        return self._model

    @property
    def tokenizer(self):
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Load a peft adapter beside the base weights; `GenerationOptions(adapter=name)` then uses it.

        Raises:
            ModelError: peft is missing or the adapter does not fit this model.
        """
        try:
            with self._lock:
                self._model.load_adapter(str(path), adapter_name=name)
                self._adapters.add(name)
        except ImportError as exc:
            raise ModelError("adapters need the package 'peft': pip install 'rag-kb[finetune]'") from exc
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load adapter {name!r} from {path}: {exc}") from exc

    def _select_adapter(self, adapter: str | None) -> None:
        if adapter is None:
            if self._adapters:
                self._model.disable_adapters()
            return
        if adapter not in self._adapters:
            raise ModelError(f"adapter {adapter!r} is not loaded into {self.name}; known: {sorted(self._adapters) or 'none'}")
        self._model.enable_adapters()
        self._model.set_adapter(adapter)

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Iterator[str]:
        self.check_options(options)
        return cut_at_stop(self._generate(messages, options), options.stop)

    def _generate(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Iterator[str]:
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        inputs = self._tokenizer.apply_chat_template(
            # Special-token strings inside a message stay text: only the template places real ones.
            [{"role": m.role, "content": neutralise_special_tokens(m.content, self._special_tokens)} for m in messages],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        ).to(self.device)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        sampling = (
            {"do_sample": True, "temperature": options.temperature, "top_p": options.top_p}
            if options.temperature > 0 else {"do_sample": False, "top_p": None}
        )
        cancelled = threading.Event()

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:
                return cancelled.is_set()

        failure: list[BaseException] = []

        def run() -> None:
            try:
                with self._torch.inference_mode():
                    self._model.generate(
                        **inputs,
                        max_new_tokens=options.max_new_tokens,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_Cancelled()]),
                        pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
                        top_k=None,
                        **sampling,
                    )
            except BaseException as exc:  # re-raised in the caller's thread below
                failure.append(exc)
                streamer.end()

        with self._lock:
            self._select_adapter(options.adapter)
            if options.seed is not None:
                self._torch.manual_seed(options.seed)
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    if piece:
                        yield piece
            finally:
                cancelled.set()  # the consumer stopped early: end generation at the next token
                worker.join()
        if failure:
            raise ModelError(f"generation failed: {failure[0]}") from failure[0]
