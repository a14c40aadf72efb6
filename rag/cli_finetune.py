"""`rag finetune` (datasets, training) and `rag adapters` (the registry)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from rag.cli_common import fail_cleanly, kb_option, settings_for

LAYER_CHOICE = click.Choice(["industry", "scenario"])
METHOD_CHOICE = click.Choice(["lora", "prefix", "p-tuning"])


@click.group()
def finetune() -> None:
    """Build training data from a knowledge base and train adapters (LoRA, prefix, p-tuning)."""


@finetune.command("dataset")
@kb_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Training JSONL to write.")
@click.option("--questions", type=click.IntRange(1), default=100, show_default=True,
              help="Question-answer pairs to generate (some chunks yield none).")
@click.option("--heldout", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Golden set of held-out pairs for `rag eval` (default: OUT with .heldout.jsonl).")
@click.option("--heldout-share", type=click.FloatRange(0, 0.9), default=0.2, show_default=True)
@click.option("--distractors", type=click.IntRange(1, 10), default=3, show_default=True,
              help="Retrieved passages beside the one holding the answer.")
@click.option("--refusal-share", type=click.FloatRange(0, 0.9), default=0.2, show_default=True,
              help="Share of pairs also given as distractors only, answered with the refusal.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--llm-backend", default=None, help="Backend of the model that writes the questions.")
@click.option("--llm-model", default=None, help="The model that writes the questions (a larger one writes better ones).")
@click.option("--llm-base-url", default=None, help="Base URL of an OpenAI-compatible server.")
@fail_cleanly
def finetune_dataset(kb_dir: Path | None, out: Path, questions: int, heldout: Path | None, heldout_share: float,
                     distractors: int, refusal_share: float, seed: int, llm_backend: str | None,
                     llm_model: str | None, llm_base_url: str | None) -> None:
    """Write RAFT-style training examples grounded in the KB's chunks, and a held-out golden set."""
    from tqdm import tqdm

    from rag.finetune.build import DatasetBuilder, write_golden
    from rag.finetune.examples import write_examples
    from rag.kb import KnowledgeBase

    kb = KnowledgeBase.open(settings=settings_for(kb_dir, llm_backend=llm_backend, llm_model=llm_model,
                                                  llm_base_url=llm_base_url))
    builder = DatasetBuilder(kb, kb.chat_model, distractors=distractors, refusal_share=refusal_share,
                             heldout_share=heldout_share, seed=seed)
    bar = tqdm(total=questions, desc="question-answer pairs", unit="pair", file=sys.stderr, disable=None)
    report = builder.build(questions, progress=lambda kept, total: bar.update(kept - bar.n))
    bar.close()
    heldout = heldout or out.with_name(out.stem + ".heldout.jsonl")
    write_examples(out, report.examples)
    write_golden(heldout, report.golden)
    click.echo(f"{report.chunks_sampled} chunks asked; {report.pairs_generated} pairs written by the model, "
               f"{report.dropped_unparsed} replies unreadable, {report.dropped_unsupported} pairs not supported by "
               f"their chunk (dropped)")
    click.echo(f"training examples: {report.train_examples} ({report.refusal_examples} refusals) -> {out}")
    click.echo(f"held-out golden questions: {report.heldout_questions} -> {heldout}")


@finetune.command("train")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="Training JSONL: instruction/input/output, or chat messages.")
@click.option("--name", required=True, help="Name of the adapter in the registry.")
@click.option("--layer", type=LAYER_CHOICE, default="industry", show_default=True)
@click.option("--parent", default=None, help="The industry adapter a scenario adapter sits on.")
@click.option("--method", type=METHOD_CHOICE, default="lora", show_default=True)
@click.option("--steps", type=click.IntRange(1), default=None, help="Optimizer steps (default: from --epochs).")
@click.option("--epochs", type=click.FloatRange(0, min_open=True), default=1.0, show_default=True)
@click.option("--rank", type=click.IntRange(1), default=8, show_default=True, help="LoRA rank r.")
@click.option("--alpha", type=click.IntRange(1), default=16, show_default=True, help="LoRA alpha.")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.05, show_default=True)
@click.option("--target-modules", default="all-linear", show_default=True, help="LoRA: comma-separated module names.")
@click.option("--virtual-tokens", type=click.IntRange(1), default=16, show_default=True, help="Prefix / p-tuning.")
@click.option("--lr", type=float, default=None, help="Learning rate (default: 2e-4 LoRA, 5e-3 prefix and p-tuning).")
@click.option("--batch-size", type=click.IntRange(1), default=2, show_default=True)
@click.option("--grad-accum", type=click.IntRange(1), default=1, show_default=True)
@click.option("--max-seq-len", type=click.IntRange(16), default=1024, show_default=True)
@click.option("--checkpoint-every", type=click.IntRange(1), default=50, show_default=True, help="Steps between checkpoints.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue an interrupted run of this name from its last checkpoint.")
@click.option("--replace", "replace_existing", is_flag=True, help="Replace an adapter of the same name.")
@click.option("--heldout", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Golden set to score before and after training (needs --kb); stored in the registry.")
@kb_option
@click.option("--llm-model", default=None, help="Base model (default: the llm_model setting, the built-in model).")
@fail_cleanly
def finetune_train(data: Path, name: str, layer: str, parent: str | None, method: str, steps: int | None,
                   epochs: float, rank: int, alpha: int, dropout: float, target_modules: str, virtual_tokens: int,
                   lr: float | None, batch_size: int, grad_accum: int, max_seq_len: int, checkpoint_every: int,
                   seed: int, resume: bool, replace_existing: bool, heldout: Path | None, kb_dir: Path | None,
                   llm_model: str | None) -> None:
    """Train an adapter on the transformers backend's model (bf16 on CUDA, float32 on CPU) and register it."""
    from tqdm import tqdm

    from rag.finetune import adapters
    from rag.finetune.train import TrainConfig

    settings = settings_for(kb_dir, llm_model=llm_model, llm_backend="transformers")
    config = TrainConfig(method=method, steps=steps, epochs=epochs, rank=rank, alpha=alpha, dropout=dropout,
                         target_modules=target_modules, virtual_tokens=virtual_tokens, lr=lr, batch_size=batch_size,
                         grad_accum=grad_accum, max_seq_len=max_seq_len, seed=seed, checkpoint_every=checkpoint_every)
    adapters.registry_for(settings).path(name)  # a bad name fails before the model loads
    before = _score(settings, heldout, None) if heldout else None
    bar = tqdm(total=0, desc=f"train {name}", unit="step", file=sys.stderr, disable=None)

    def progress(step: int, total: int, loss: float) -> None:
        bar.total = total
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{loss:.3f}")
        if bar.disable and (step == total or step % 10 == 0):
            click.echo(f"step {step}/{total} loss {loss:.4f}", err=True)

    entry, result = adapters.train(settings, data, name, layer, config, parent=parent, resume=resume,
                                   replace_existing=replace_existing, progress=progress)
    bar.close()
    click.echo(f"adapter {entry.name} ({entry.layer}, {entry.method}{', on ' + entry.parent if entry.parent else ''}): "
               f"{result.steps} steps in {result.seconds:.1f} s ({result.steps_per_s:.2f} steps/s), final loss "
               f"{result.final_loss:.4f}, peak memory {result.peak_memory_mb:.0f} MB")
    if result.skipped_too_long:
        click.echo(f"{result.skipped_too_long} examples longer than --max-seq-len {max_seq_len} were left out", err=True)
    if heldout:
        after = _score(settings, heldout, name)
        adapters.record_metrics(settings, name, {"golden": str(heldout), "before": before, "after": after})
        for key in after:
            click.echo(f"held-out {key}: {before.get(key, 0):.3f} -> {after[key]:.3f}")


HELD_OUT_METRICS = ("answer_contains", "citation_precision", "false_refusal", "refusal_accuracy", "hit@5")


def _score(settings, golden: Path, adapter: str | None) -> dict[str, float]:
    """`rag eval --answers` figures of the KB answering with `adapter`."""
    from rag.evaluate import Evaluator, load_golden
    from rag.kb import KnowledgeBase

    kb = KnowledgeBase.open(settings=settings.replace(adapter=adapter))
    metrics = Evaluator(kb, load_golden(golden), with_answers=True).run(adapter or "base").metrics
    return {k: round(metrics[k], 4) for k in HELD_OUT_METRICS if k in metrics}


@click.group()
def adapters() -> None:
    """The registry of fine-tuned adapters ($RAG_DATA_DIR/adapters)."""


def _registry():
    from rag.finetune.adapters import registry_for

    return registry_for(settings_for(None))


@adapters.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of the entries.")
@fail_cleanly
def adapters_list(as_json: bool) -> None:
    """The registered adapters, a line each."""
    entries = _registry().list()
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in entries], ensure_ascii=False))
        return
    if not entries:
        click.echo(f"no adapters in {_registry().root}; train one with `rag finetune train`")
    for e in entries:
        loss = "" if e.train_loss is None else f", loss {e.train_loss:.3f}"
        on = f" on {e.parent}" if e.parent else ""
        click.echo(f"{e.name}  {e.layer}{on}  {e.method}  base {e.base_model}  {e.dataset_examples} examples{loss}  {e.created}")


@adapters.command("show")
@click.argument("name")
@fail_cleanly
def adapters_show(name: str) -> None:
    """Everything recorded about one adapter, as JSON."""
    registry = _registry()
    record: dict[str, Any] = registry.get(name).to_dict()
    record["path"] = str(registry.path(name))
    record["loss_curve"] = record["loss_curve"][-20:]  # the tail; the whole curve is in entry.json
    click.echo(json.dumps(record, ensure_ascii=False, indent=2))


@adapters.command("remove")
@click.argument("name")
@fail_cleanly
def adapters_remove(name: str) -> None:
    """Delete an adapter (refused while scenario adapters sit on it)."""
    _registry().remove(name)
    click.echo(f"removed adapter {name}")


@adapters.command("export")
@click.argument("name")
@click.option("--merged", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for full weights with the adapter (and its parent) merged in, as safetensors.")
@fail_cleanly
def adapters_export(name: str, out: Path) -> None:
    """Export full merged weights, for serving with vLLM, llama.cpp (after conversion) or transformers."""
    from rag.finetune.adapters import export_merged

    path = export_merged(settings_for(None), name, out)
    click.echo(f"merged weights of {name} written to {path}")
