"""Training one adapter with peft on the model the transformers backend loads: LoRA, prefix tuning or
p-tuning, on the general base (an industry adapter) or on the base with its industry adapter merged in
(a scenario adapter). The prompt is encoded by the same function generation uses, so the model learns
exactly the answer prompt it is asked at query time."""
from __future__ import annotations

import json
import math
import os
import random
import resource
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from rag.errors import ModelError
from rag.finetune.examples import DatasetError, TrainingExample
from rag.finetune.registry import METHODS

IGNORE = -100  # label value the loss skips: the prompt is context, not something to learn to write
CHECKPOINT = "checkpoint"
DEFAULT_LR = {"lora": 2e-4, "prefix": 5e-3, "p-tuning": 5e-3}


@dataclass(frozen=True)
class TrainConfig:
    method: str = "lora"
    steps: int | None = None  # optimizer steps; None: from epochs
    epochs: float = 1.0
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: str = "all-linear"  # comma-separated module names, or all-linear
    virtual_tokens: int = 16  # prefix / p-tuning
    lr: float | None = None  # None: the method's usual rate
    batch_size: int = 2
    grad_accum: int = 1
    max_seq_len: int = 1024
    warmup_share: float = 0.1
    seed: int = 0
    checkpoint_every: int = 50  # optimizer steps

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ModelError(f"method {self.method!r}: choose one of {', '.join(METHODS)}")
        for name in ("rank", "alpha", "batch_size", "grad_accum", "max_seq_len", "virtual_tokens", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ModelError(f"{name} must be greater than 0. Currently, it is {getattr(self, name)}")
        if self.steps is not None and self.steps <= 0:
            raise ModelError(f"steps must be greater than 0. Currently, it is {self.steps}")
        if self.steps is None and self.epochs <= 0:
            raise ModelError(f"epochs must be greater than 0. Currently, it is {self.epochs}")
        if not 0 <= self.dropout < 1:
            raise ModelError(f"dropout must be in [0, 1). Currently, it is {self.dropout}")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.method]

    def hyperparameters(self) -> dict:
        values = asdict(self)
        values["lr"] = self.learning_rate
        if self.method == "lora":
            values.pop("virtual_tokens")
        else:
            for key in ("rank", "alpha", "dropout", "target_modules"):
                values.pop(key)
        return values


@dataclass
class TrainResult:
    adapter_dir: Path
    steps: int
    seconds: float
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, mean loss of the step)
    skipped_too_long: int = 0
    peak_memory_mb: float = 0.0
    resumed_from: int = 0

    @property
    def final_loss(self) -> float | None:
        tail = [loss for _, loss in self.losses[-10:]]
        return sum(tail) / len(tail) if tail else None

    @property
    def steps_per_s(self) -> float:
        return (self.steps - self.resumed_from) / self.seconds if self.seconds else 0.0


ProgressFn = Callable[[int, int, float], None]  # (step, total steps, loss)


def encode(tokenizer, example: TrainingExample, special: Sequence[str]) -> tuple[list[int], list[int]]:
    """Token ids of the whole chat and its labels: the prompt masked, the reply (with the template's end
    of turn, so the model learns to stop) learned."""
    from rag.llm.transformers_backend import chat_inputs

    prompt = list(chat_inputs(tokenizer, example.prompt, special, return_tensors=None)["input_ids"])
    full = list(chat_inputs(tokenizer, example.messages, special, add_generation_prompt=False, return_tensors=None)["input_ids"])
    if full[: len(prompt)] != prompt:
        # A template that renders the last turn differently: prompt, then the reply and end of sequence.
        reply = tokenizer(example.target, add_special_tokens=False)["input_ids"]
        full = prompt + list(reply) + ([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])
    labels = [IGNORE] * len(prompt) + full[len(prompt):]
    return full, labels


def peft_config(config: TrainConfig, hidden_size: int):
    from peft import LoraConfig, PrefixTuningConfig, PromptEncoderConfig, TaskType

    if config.method == "lora":
        targets = config.target_modules if config.target_modules == "all-linear" else [
            m.strip() for m in config.target_modules.split(",") if m.strip()]
        return LoraConfig(task_type=TaskType.CAUSAL_LM, r=config.rank, lora_alpha=config.alpha,
                          lora_dropout=config.dropout, target_modules=targets)
    if config.method == "prefix":
        return PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=config.virtual_tokens)
    return PromptEncoderConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=config.virtual_tokens,
                               encoder_hidden_size=hidden_size)


def merge_parent(model, parent_dir: Path):
    """The base model with a LoRA parent merged into its weights: training a child on it is training on
    top of the parent, and at query time the two stacked give the same sum W + ΔW_parent + ΔW_child."""
    from peft import PeftConfig, PeftModel

    if PeftConfig.from_pretrained(str(parent_dir)).is_prompt_learning:
        raise ModelError("a parent adapter must be a LoRA adapter (prefix and p-tuning adapters cannot be merged "
                         "into the base weights); retrain the industry adapter with --method lora")
    return PeftModel.from_pretrained(model, str(parent_dir)).merge_and_unload()


def _batches(encoded: list[tuple[list[int], list[int]]], batch_size: int, seed: int):
    """Endless, reproducible batches: each epoch a new shuffle (so a resumed run sees the same order)."""
    epoch = 0
    while True:
        order = list(range(len(encoded)))
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
        for start in range(0, len(order), batch_size):
            yield [encoded[i] for i in order[start : start + batch_size]]
        epoch += 1


def _collate(batch, pad_id: int, torch, device: str):
    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, (ids, labs) in enumerate(batch):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(labs)] = torch.tensor(labs)
        mask[row, : len(ids)] = 1
    return {"input_ids": input_ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}


def train_adapter(model, tokenizer, examples: Sequence[TrainingExample], config: TrainConfig, work_dir: Path,
                  parent_dir: Path | None = None, resume: bool = False, progress: ProgressFn | None = None) -> TrainResult:
    """Train one adapter on `model` (a transformers causal LM, which this changes: pass a fresh one).

    Checkpoints go to `work_dir/checkpoint` every `config.checkpoint_every` steps; with `resume`, training
    continues from there. The finished adapter is saved to `work_dir/adapter`.

    Raises:
        DatasetError: no example fits in max_seq_len.
        ModelError: peft is missing, the parent cannot be merged, or the checkpoint does not fit.
    """
    try:
        import torch
        from peft import PeftModel, get_peft_model
    except ImportError as exc:
        raise ModelError("fine-tuning needs the package 'peft': pip install 'rag-kb[finetune]'") from exc
    from transformers import get_linear_schedule_with_warmup

    from rag.llm.transformers_backend import special_tokens

    special = special_tokens(tokenizer)
    encoded, skipped = [], 0
    for example in examples:
        ids, labels = encode(tokenizer, example, special)
        if len(ids) > config.max_seq_len:
            skipped += 1
        elif any(label != IGNORE for label in labels):
            encoded.append((ids, labels))
    if not encoded:
        raise DatasetError(f"none of the {len(examples)} examples fits in --max-seq-len {config.max_seq_len} tokens; raise it")

    device = str(next(model.parameters()).device)
    if parent_dir is not None:
        model = merge_parent(model, parent_dir)
    torch.manual_seed(config.seed)
    hidden = int(getattr(model.config, "hidden_size", 0) or 0)
    checkpoint = work_dir / CHECKPOINT
    state_file = checkpoint / "trainer.pt"
    start_step = 0
    if resume and state_file.is_file():
        model = PeftModel.from_pretrained(model, str(checkpoint), is_trainable=True)
    else:
        if resume:
            raise ModelError(f"nothing to resume: no checkpoint in {work_dir}")
        model = get_peft_model(model, peft_config(config, hidden))
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0)
    total = config.steps or max(1, math.ceil(config.epochs * len(encoded) / (config.batch_size * config.grad_accum)))
    scheduler = get_linear_schedule_with_warmup(optimizer, int(total * config.warmup_share), total)
    losses: list[tuple[int, float]] = []
    if resume and state_file.is_file():
        state = torch.load(state_file, weights_only=False)
        if state["config"] != asdict(config):
            raise ModelError("the checkpoint was made with other hyper-parameters; resume with the same ones, "
                             f"or start again without --resume (checkpoint: {state['config']})")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_step, losses = state["step"], [tuple(x) for x in state["losses"]]
        torch.set_rng_state(state["torch_rng"])
    batches = _batches(encoded, config.batch_size, config.seed)
    for _ in range(start_step * config.grad_accum):  # the batches the checkpointed steps consumed
        next(batches)

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for step in range(start_step + 1, total + 1):
        step_loss = 0.0
        for _ in range(config.grad_accum):
            batch = _collate(next(batches), pad_id, torch, device)
            loss = model(**batch).loss / config.grad_accum
            loss.backward()
            step_loss += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append((step, step_loss))
        if progress is not None:
            progress(step, total, step_loss)
        if step % config.checkpoint_every == 0 and step < total:
            _save_checkpoint(model, checkpoint, {
                "config": asdict(config), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "step": step, "losses": losses, "torch_rng": torch.get_rng_state()}, torch)
    seconds = time.perf_counter() - started
    adapter_dir = work_dir / "adapter"
    shutil.rmtree(adapter_dir, ignore_errors=True)
    model.save_pretrained(str(adapter_dir))
    (adapter_dir / "losses.json").write_text(json.dumps(losses), encoding="utf-8")
    if device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return TrainResult(adapter_dir, total, seconds, losses, skipped, peak, start_step)


def _save_checkpoint(model, checkpoint: Path, state: dict, torch) -> None:
    """Adapter weights and trainer state, written beside and then renamed over the last checkpoint."""
    staging = checkpoint.with_name(checkpoint.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(str(staging))
    torch.save(state, staging / "trainer.pt")
    old = checkpoint.with_name(checkpoint.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if checkpoint.exists():
        os.replace(checkpoint, old)
    os.replace(staging, checkpoint)
    shutil.rmtree(old, ignore_errors=True)
