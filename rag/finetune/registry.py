"""The adapter registry: one folder per adapter under `<data_dir>/adapters/`, holding the peft files and
`entry.json` (what it was trained from, on what, how, and how well it did)."""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.errors import ConfigError

LAYERS = ("industry", "scenario")
METHODS = ("lora", "prefix", "p-tuning")
ENTRY_FILE = "entry.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class AdapterError(ConfigError):
    """An adapter that is unknown, badly named, or does not fit the model or its parent."""


@dataclass(frozen=True)
class AdapterEntry:
    name: str
    layer: str  # industry | scenario
    parent: str | None  # the industry adapter a scenario adapter sits on
    method: str  # lora | prefix | p-tuning
    base_model: str  # the llm_model setting it was trained on
    base_model_sha256: str
    dataset_sha256: str
    dataset_examples: int
    dataset_bytes: int
    hyperparameters: dict
    train_loss: float | None  # mean loss over the last logged steps
    heldout_metrics: dict | None  # `rag eval --answers` on the held-out set, before and after
    created: str  # ISO 8601, UTC
    loss_curve: list = field(default_factory=list)  # [step, loss] pairs

    def to_dict(self) -> dict:
        return asdict(self)


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise AdapterError(f"adapter name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    return name


class AdapterRegistry:
    def __init__(self, data_dir: str | Path):
        self.root = Path(data_dir) / "adapters"

    def path(self, name: str) -> Path:
        return self.root / check_name(name)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / ENTRY_FILE).is_file())

    def list(self) -> list[AdapterEntry]:
        return [self.get(name) for name in self.names()]

    def get(self, name: str) -> AdapterEntry:
        """Raises: AdapterError: no such adapter, or its entry is damaged."""
        entry_file = self.path(name) / ENTRY_FILE
        if not entry_file.is_file():
            known = ", ".join(self.names()) or "none (train one with `rag finetune train`)"
            raise AdapterError(f"no adapter {name!r} in {self.root}; known: {known}")
        try:
            return AdapterEntry(**json.loads(entry_file.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
            raise AdapterError(f"{entry_file} is damaged ({exc}); remove the adapter with `rag adapters remove {name}`") from exc

    def chain(self, name: str) -> list[AdapterEntry]:
        """The adapter and its ancestors, the industry layer first: what must be active to answer with it."""
        chain = [self.get(name)]
        while chain[0].parent is not None:
            if len(chain) > len(LAYERS):
                raise AdapterError(f"adapter {name!r}: its parents form a loop")
            chain.insert(0, self.get(chain[0].parent))
        return chain

    def children(self, name: str) -> list[str]:
        return [e.name for e in self.list() if e.parent == name]

    def add(self, entry: AdapterEntry, adapter_dir: Path, replace: bool = False) -> Path:
        """Move a trained adapter folder in and write its entry; atomic (staged, then renamed).

        Raises:
            AdapterError: the name is taken and `replace` is not set.
        """
        target = self.path(entry.name)
        if target.exists() and not replace:
            raise AdapterError(f"an adapter named {entry.name!r} exists; remove it first or pass --replace")
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".{entry.name}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(adapter_dir, staging)
        (staging / ENTRY_FILE).write_text(json.dumps(entry.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
        if target.exists():
            old = self.root / f".{entry.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
        return target

    def remove(self, name: str) -> None:
        """Raises: AdapterError: unknown, or scenario adapters still sit on it."""
        self.get(name)
        children = self.children(name)
        if children:
            raise AdapterError(f"adapter {name!r} is the parent of {', '.join(children)}; remove those first")
        shutil.rmtree(self.path(name))

    def work_dir(self, name: str) -> Path:
        """Where a training run keeps its checkpoints until it finishes (so `--resume` finds them)."""
        return self.root.parent / "training" / check_name(name)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
