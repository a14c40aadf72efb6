"""Adapters end to end: train one into the registry (with the layer rules), the files a backend loads to
answer with one, and a merged export for serving elsewhere."""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Callable

from rag.errors import ModelError
from rag.finetune.examples import file_sha256, load_examples
from rag.finetune.registry import AdapterEntry, AdapterError, AdapterRegistry, utc_now
from rag.finetune.train import ProgressFn, TrainConfig, TrainResult, train_adapter
from rag.llm.base import AdapterLayer
from rag.settings import Settings

SHA_CACHE_FILE = "model-sha256.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")


def registry_for(settings: Settings) -> AdapterRegistry:
    return AdapterRegistry(settings.data_dir)


def base_model_sha256(llm_model: str, model_dir: str, cache_dir: Path) -> str:
    """A fingerprint of the base weights, so an adapter is never stacked on or served with another base.
    Local files are hashed once and remembered by path, size and modification time."""
    from rag.llm.builtin import BUILTIN_GGUF_SHA256, BUILTIN_QWEN, sha256_file

    if llm_model == BUILTIN_QWEN:
        return BUILTIN_GGUF_SHA256
    source = Path(llm_model).expanduser()
    files = [source] if source.is_file() else sorted(
        p for p in Path(model_dir).glob("*") if p.suffix in WEIGHT_SUFFIXES) if Path(model_dir).is_dir() else []
    if not files:
        return hashlib.sha256(f"hub:{llm_model}".encode()).hexdigest()  # a hub name with nothing local to read
    key = "|".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files)
    cache_file = Path(cache_dir) / SHA_CACHE_FILE
    try:
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        cache = {}
    if key not in cache:
        digest = hashlib.sha256()
        for path in files:
            digest.update(f"{path.name}:{sha256_file(path)}\n".encode())
        cache[key] = digest.hexdigest()
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_text(json.dumps(cache), encoding="utf-8")
        except OSError:
            pass  # a read-only cache only costs hashing again
    return cache[key]


def check_layers(registry: AdapterRegistry, name: str, layer: str, parent: str | None, base_sha: str) -> AdapterEntry | None:
    """The parent entry, after checking the layer rules.

    Raises:
        AdapterError: an industry adapter given a parent, a scenario adapter without one or on a parent
            that is not an industry adapter, or a parent trained for another base model.
    """
    if layer == "industry":
        if parent is not None:
            raise AdapterError("an industry adapter trains on the general base model; --parent is for scenario adapters")
        return None
    if layer != "scenario":
        raise AdapterError(f"layer {layer!r}: choose industry or scenario")
    if parent is None:
        raise AdapterError("a scenario adapter sits on an industry adapter: give --parent NAME")
    if parent == name:
        raise AdapterError(f"adapter {name!r} cannot be its own parent")
    entry = registry.get(parent)
    if entry.layer != "industry":
        raise AdapterError(f"the parent {parent!r} is a {entry.layer} adapter; a scenario adapter sits on an industry one")
    if entry.base_model_sha256 != base_sha:
        raise AdapterError(
            f"the parent {parent!r} was trained on base model {entry.base_model} (SHA-256 {entry.base_model_sha256[:12]}…); "
            f"this model is {base_sha[:12]}…. Train the scenario adapter with the parent's base (llm_model) or retrain the parent")
    return entry


def train(settings: Settings, data: Path, name: str, layer: str, config: TrainConfig, parent: str | None = None,
          resume: bool = False, replace_existing: bool = False, progress: ProgressFn | None = None,
          loaded: tuple | None = None) -> tuple[AdapterEntry, TrainResult]:
    """Train adapter `name` on `data` and register it.

    Args:
        loaded: an already loaded (model, tokenizer, model_dir) to train on (it is changed); else the
            settings' llm_model is loaded.

    Raises:
        AdapterError, DatasetError, ModelError: see check_layers, load_examples and train_adapter.
    """
    from ingest.embed import resolve_device
    from rag.llm.transformers_backend import load_causal_lm

    registry = registry_for(settings)
    if registry.path(name).exists() and not replace_existing and not resume:  # also checks the name
        raise AdapterError(f"an adapter named {name!r} exists; remove it (`rag adapters remove {name}`) or pass --replace")
    examples = load_examples(data)
    if loaded is None:
        loaded = load_causal_lm(settings.llm_model, Path(settings.cache_dir), resolve_device(settings.device))
    model, tokenizer, model_dir = loaded
    base_sha = base_model_sha256(settings.llm_model, str(model_dir), Path(settings.cache_dir))
    parent_entry = check_layers(registry, name, layer, parent, base_sha)
    result = train_adapter(model, tokenizer, examples, config, registry.work_dir(name),
                           parent_dir=registry.path(parent) if parent_entry else None, resume=resume, progress=progress)
    entry = AdapterEntry(
        name=name, layer=layer, parent=parent, method=config.method, base_model=settings.llm_model,
        base_model_sha256=base_sha, dataset_sha256=file_sha256(data), dataset_examples=len(examples),
        dataset_bytes=Path(data).stat().st_size, hyperparameters=config.hyperparameters(),
        train_loss=result.final_loss, heldout_metrics=None, created=utc_now(),
        loss_curve=[[s, round(loss, 5)] for s, loss in result.losses],
    )
    registry.add(entry, result.adapter_dir, replace=True)
    shutil.rmtree(registry.work_dir(name), ignore_errors=True)
    return entry, result


def record_metrics(settings: Settings, name: str, metrics: dict) -> AdapterEntry:
    """Store held-out metrics in an adapter's entry."""
    registry = registry_for(settings)
    entry = replace(registry.get(name), heldout_metrics=metrics)
    registry.add(entry, registry.path(name), replace=True)
    return entry


def layers_for(settings: Settings) -> Callable[[str], list[AdapterLayer]]:
    """What `ChatModel.ensure_adapter` loads for an adapter: it and its parents, industry first.

    Raises (from the returned function):
        AdapterError: unknown adapter, or one trained for another base model than `llm_model`.
    """
    registry = registry_for(settings)

    def layers(name: str) -> list[AdapterLayer]:
        chain = registry.chain(name)
        for entry in chain:
            if entry.base_model != settings.llm_model:
                raise AdapterError(f"adapter {entry.name!r} was trained on {entry.base_model}; this KB answers with "
                                   f"{settings.llm_model}. Set llm_model to its base, or train the adapter for this model")
        return [AdapterLayer(e.name, registry.path(e.name), tuple(p.name for p in chain[:i])) for i, e in enumerate(chain)]

    return layers


def usable_adapters(settings: Settings) -> list[AdapterEntry]:
    """The registered adapters trained for the settings' LLM (what a selector may offer)."""
    return [e for e in registry_for(settings).list() if e.base_model == settings.llm_model]


def export_merged(settings: Settings, name: str, out: Path) -> Path:
    """Full weights with the adapter and its parents merged in (safetensors and tokenizer), for serving
    with any engine that reads a Hugging Face folder.

    Raises:
        AdapterError: unknown adapter, or a prefix / p-tuning one (nothing to merge), or `out` not empty.
    """
    import torch
    from peft import PeftModel

    from rag.llm.transformers_backend import load_causal_lm

    registry = registry_for(settings)
    chain = registry.chain(name)
    if any(e.method != "lora" for e in chain):
        raise AdapterError(f"adapter {name!r} uses {chain[-1].method}: virtual tokens cannot be merged into weights; "
                           f"copy its folder ({registry.path(name)}) and load it with peft instead")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise AdapterError(f"{out} is not empty; give a new folder")
    model, tokenizer, model_dir = load_causal_lm(chain[0].base_model, Path(settings.cache_dir), "cpu")
    base_sha = base_model_sha256(chain[0].base_model, str(model_dir), Path(settings.cache_dir))
    if base_sha != chain[0].base_model_sha256:
        raise AdapterError(f"the base model {chain[0].base_model} has changed since adapter {chain[0].name!r} was trained")
    for entry in chain:
        model = PeftModel.from_pretrained(model, str(registry.path(entry.name))).merge_and_unload()
    staging = out.with_name(out.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    model.to(torch.float16).save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))
    (staging / "adapter-chain.json").write_text(json.dumps([e.to_dict() for e in chain], indent=2), encoding="utf-8")
    if out.exists():
        out.rmdir()
    staging.rename(out)
    return out


__all__ = ["AdapterError", "base_model_sha256", "check_layers", "export_merged", "layers_for", "record_metrics",
           "registry_for", "train", "usable_adapters"]
