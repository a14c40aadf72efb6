"""In-process generation with torch + transformers: the GPU path, and the one LoRA adapters load into."""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Callable, Iterator, Sequence

from rag.errors import ModelError
from rag.llm.base import REPEAT_WINDOW, AdapterLayer, Capabilities, ChatMessage, ChatModel, GenerationOptions, cut_at_stop
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


def load_causal_lm(model: str, cache_dir: Path, device: str):
    """(model on `device` in its dtype, tokenizer, the folder or hub name it came from).

    Raises:
        ModelError: the model cannot be found or read.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = resolve_model_dir(model, cache_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        loaded = AutoModelForCausalLM.from_pretrained(model_dir, dtype=_torch_dtype(device), attn_implementation="sdpa")
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load LLM {model!r} from {model_dir}: {exc}") from exc
    return loaded.to(device), tokenizer, model_dir


def special_tokens(tokenizer) -> list[str]:
    """The tokenizer's special-token strings, longest first (what document text must not smuggle in)."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return sorted(set(tokenizer.all_special_tokens) | {t.content for t in added.values() if getattr(t, "special", False)},
                  key=len, reverse=True)


def chat_inputs(tokenizer, messages: Sequence[ChatMessage], special: Sequence[str], add_generation_prompt: bool = True,
                return_tensors: str | None = "pt"):
    """The model's input for a chat, as generation sees it and as fine-tuning trains on it (one function,
    so the two cannot drift apart). Special-token strings inside a message stay text: only the template
    places real ones."""
    return tokenizer.apply_chat_template(
        [{"role": m.role, "content": neutralise_special_tokens(m.content, special)} for m in messages],
        add_generation_prompt=add_generation_prompt,
        return_tensors=return_tensors,
        return_dict=True,
    )


class _AdapterSet:
    """peft adapters on one base model. LoRA adapters are injected into the base model's layers (one
    PeftModel holds them all, and any stack of them can be active); a prefix or p-tuning adapter is a
    small PeftModel wrapped around the same base, so none of them copies the base weights."""

    def __init__(self, base):
        self._base = base
        self._lora = None  # PeftModel holding every LoRA adapter
        self._prompt: dict[str, object] = {}  # name -> PeftModel with one prompt-learning adapter
        self._parents: dict[str, tuple[str, ...]] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._parents

    def load(self, name: str, path: Path, parents: tuple[str, ...]) -> None:
        try:
            from peft import PeftConfig, PeftModel
        except ImportError as exc:
            raise ModelError("adapters need the package 'peft': pip install 'rag-kb[finetune]'") from exc
        missing = [p for p in parents if p not in self._parents]
        if missing:
            raise ModelError(f"adapter {name!r} sits on {', '.join(missing)}, which is not loaded")
        try:
            config = PeftConfig.from_pretrained(str(path))
            if config.is_prompt_learning:
                self._prompt[name] = PeftModel.from_pretrained(self._base, str(path), adapter_name=name).eval()
            elif self._lora is None:
                self._lora = PeftModel.from_pretrained(self._base, str(path), adapter_name=name).eval()
            else:
                self._lora.load_adapter(str(path), adapter_name=name)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelError(f"cannot load adapter {name!r} from {path}: {exc}") from exc
        self._parents[name] = parents

    def select(self, adapter: str | None, model_name: str):
        """Make `adapter` (and its parents) the active ones; returns the module to generate with."""
        if adapter is not None and adapter not in self._parents:
            raise ModelError(f"adapter {adapter!r} is not loaded into {model_name}; known: {sorted(self._parents) or 'none'}")
        loras = [] if adapter is None else [a for a in (*self._parents[adapter], adapter) if a not in self._prompt]
        if self._lora is not None:
            if loras:
                self._lora.base_model.enable_adapter_layers()
                self._lora.base_model.set_adapter(loras, inference_mode=True)
            else:
                self._lora.base_model.disable_adapter_layers()
        # LoRA layers live inside the base model, so generating with the base uses whichever are active.
        return self._prompt.get(adapter, self._base) if adapter is not None else self._base

    def prompt_adapter(self, adapter: str | None):
        """The PeftModel of a prefix or p-tuning adapter, or None for LoRA and no adapter."""
        return self._prompt.get(adapter) if adapter is not None else None


class TransformersChatModel(ChatModel):
    """Any causal LM with a chat template, by local path, hub name or GGUF file. On CUDA it runs in bf16
    (fp16 where bf16 is missing) with SDPA attention. One generation at a time per instance (a lock):
    the page and the server call it from many threads."""

    capabilities = Capabilities(streaming=True, seed=True, adapters=True, stop=True)

    def __init__(self, model: str, cache_dir: Path, device: str = "auto"):
        import torch

        from ingest.embed import resolve_device

        self.name = model
        self.device = resolve_device(device)
        self._model, self._tokenizer, self.model_dir = load_causal_lm(model, Path(cache_dir), self.device)
        self._model.eval()
        if self._tokenizer.chat_template is None:
            raise ModelError(f"LLM {model!r} has no chat template; use an instruction-tuned model")
        self._torch = torch
        self._lock = threading.Lock()
        self.context_window = int(getattr(self._model.config, "max_position_embeddings", 4096) or 4096)
        self._special_tokens = special_tokens(self._tokenizer)
        self._adapters = _AdapterSet(self._model)

    @property
    def model(self):
        """The torch module, for adapters (peft) to wrap."""
        return self._model

    @property
    def tokenizer(self):
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def load_adapter(self, name: str, path: str | Path, parents: Sequence[str] = ()) -> None:
        """Load a peft adapter (LoRA, prefix or p-tuning) beside the base weights, once; afterwards
        `GenerationOptions(adapter=name)` answers with it, and with the LoRA adapters in `parents` (already
        loaded) active beneath it: a scenario adapter on its industry adapter. Switching costs milliseconds.

        Raises:
            ModelError: peft is missing or the adapter does not fit this model.
        """
        with self._lock:
            self._adapters.load(name, Path(path), tuple(parents))

    def has_adapter(self, name: str) -> bool:
        return name in self._adapters

    def ensure_adapter(self, name: str, layers: Callable[[str], Sequence[AdapterLayer]]) -> None:
        for layer in layers(name):
            if layer.name not in self._adapters:
                self.load_adapter(layer.name, layer.path, layer.parents)

    def reply_logprob(self, messages: Sequence[ChatMessage], reply: str, adapter: str | None = None) -> float:
        """The log-probability the model (with `adapter`) gives `reply` as its answer to `messages`: how
        much more likely an adapter makes the answers it was trained on."""
        from rag.finetune.examples import TrainingExample
        from rag.finetune.train import IGNORE, encode

        ids, labels = encode(self._tokenizer, TrainingExample((*messages, ChatMessage("assistant", reply))), self._special_tokens)
        torch = self._torch
        with self._lock, torch.inference_mode():
            model = self._adapters.select(adapter, self.name)
            # p-tuning puts its virtual tokens' outputs first: the chat's own are the last len(ids).
            logits = model(input_ids=torch.tensor([ids], device=self.device)).logits[0, -len(ids):-1].float()
            targets = torch.tensor(labels[1:], device=self.device)
            keep = targets != IGNORE
            picked = torch.log_softmax(logits[keep], dim=-1).gather(1, targets[keep].unsqueeze(1))
        return float(picked.sum())

    def stream(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Iterator[str]:
        self.check_options(options)
        return cut_at_stop(self._generate(messages, options), options.stop)

    def _decode_with_virtual_tokens(self, prompt_model, inputs, options: GenerationOptions) -> Iterator[str]:
        """Generation under a prefix or p-tuning adapter, decoded here: peft 0.21's `generate` passes its
        virtual tokens as `past_key_values`, which transformers 5 ignores once it sets up its own cache
        (the adapter had no effect) or re-reads every step (p-tuning took minutes per answer). The virtual
        tokens go in exactly as in training: prefix keys and values as the cache before the prompt, p-tuning
        embeddings before the prompt's embeddings."""
        torch = self._torch
        config = prompt_model.peft_config[prompt_model.active_adapter]
        ids = inputs["input_ids"]
        virtual = config.num_virtual_tokens
        mask = torch.ones((1, virtual + ids.shape[1]), dtype=torch.long, device=self.device)
        base = self._model
        with torch.inference_mode():
            prompt = prompt_model.get_prompt(batch_size=1)
            if config.peft_type == "PREFIX_TUNING":
                if isinstance(prompt, (tuple, list)):
                    from transformers import DynamicCache

                    prompt = DynamicCache.from_legacy_cache(prompt)
                out = base(input_ids=ids, past_key_values=prompt, attention_mask=mask, use_cache=True)
            else:
                embeds = base.get_input_embeddings()(ids)
                out = base(inputs_embeds=torch.cat([prompt.to(embeds.dtype), embeds], dim=1), attention_mask=mask,
                           use_cache=True)
            stop_ids = self._model.generation_config.eos_token_id
            stop_ids = set(stop_ids if isinstance(stop_ids, list) else [stop_ids]) | {self._tokenizer.eos_token_id}
            generated: list[int] = []
            shown = ""
            context = ids[0].tolist()
            for _ in range(options.max_new_tokens):
                logits = penalise_recent(out.logits[0, -1].float(), context + generated, options.repeat_penalty)
                if options.temperature > 0:
                    probs = torch.softmax(logits / options.temperature, dim=-1)
                    ordered, order = torch.sort(probs, descending=True)
                    keep = torch.cumsum(ordered, dim=-1) - ordered < options.top_p  # nucleus
                    token = int(order[keep][torch.multinomial(ordered[keep] / ordered[keep].sum(), 1)])
                else:
                    token = int(torch.argmax(logits))
                if token in stop_ids:
                    break
                generated.append(token)
                text = self._tokenizer.decode(generated, skip_special_tokens=True)
                if not text.endswith("\ufffd"):  # hold back half a multi-byte character
                    yield text[len(shown):]
                    shown = text
                mask = torch.cat([mask, mask.new_ones((1, 1))], dim=1)
                out = base(input_ids=torch.tensor([[token]], device=self.device), past_key_values=out.past_key_values,
                           attention_mask=mask, use_cache=True)

    def _generate(self, messages: Sequence[ChatMessage], options: GenerationOptions) -> Iterator[str]:
        from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        inputs = chat_inputs(self._tokenizer, messages, self._special_tokens).to(self.device)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        sampling = (
            {"do_sample": True, "temperature": options.temperature, "top_p": options.top_p}
            if options.temperature > 0 else {"do_sample": False, "top_p": None}
        )
        cancelled = threading.Event()

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:
                return cancelled.is_set()

        class _RepeatPenalty(LogitsProcessor):  # llama.cpp's: the last REPEAT_WINDOW tokens, not the whole prompt
            def __call__(self, input_ids, scores):
                for row in range(scores.shape[0]):
                    scores[row] = penalise_recent(scores[row], input_ids[row].tolist(), options.repeat_penalty)
                return scores

        failure: list[BaseException] = []

        def run() -> None:
            try:
                with self._torch.inference_mode():
                    model.generate(
                        **inputs,
                        max_new_tokens=options.max_new_tokens,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([_Cancelled()]),
                        logits_processor=LogitsProcessorList([_RepeatPenalty()] if options.repeat_penalty != 1.0 else []),
                        pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
                        top_k=None,
                        **sampling,
                    )
            except BaseException as exc:  # re-raised in the caller's thread below
                failure.append(exc)
                streamer.end()

        with self._lock:
            model = self._adapters.select(options.adapter, self.name)
            if options.seed is not None:
                self._torch.manual_seed(options.seed)
            prompt_model = self._adapters.prompt_adapter(options.adapter)
            if prompt_model is not None:
                yield from self._decode_with_virtual_tokens(prompt_model, inputs, options)
                return
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


def penalise_recent(logits: "torch.Tensor", tokens: Sequence[int], penalty: float) -> "torch.Tensor":
    """llama.cpp's repeat penalty: each distinct token among the last REPEAT_WINDOW of `tokens` has a positive
    score divided by `penalty`, a negative one multiplied by it."""
    if penalty == 1.0 or not tokens:
        return logits
    recent = sorted(set(tokens[-REPEAT_WINDOW:]))
    chosen = logits[recent]
    logits = logits.clone()
    logits[recent] = chosen.where(chosen < 0, chosen / penalty).where(chosen >= 0, chosen * penalty)
    return logits
