"""Fine-tuning, measured: a RAFT dataset built from the English documents of sample_docs/, the built-in
model trained with LoRA, prefix tuning and p-tuning on the same budget, and `rag eval --answers` before
and after on the held-out questions, on the shipped English set (in domain) and on the shipped Chinese
set (forgetting: training never saw it).

Run: .venv/bin/python bench/finetune_bench.py [--json] [--steps N] [--questions N] [--eval-questions N]
     [--methods lora,prefix,p-tuning] [--device cpu|cuda]
The defaults keep a CPU run to about half an hour on 2 cores (few steps, one distractor, short sequences);
on a GPU raise --steps, --questions and --max-seq-len.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
METRICS = ("answer_contains", "citation_precision", "false_refusal", "refusal_accuracy")


def switching_cost(model, names: list[str]) -> dict:
    """A one-token reply with the adapter changed before each call, against the same adapter each time:
    the difference is what switching costs (the base weights are never reloaded)."""
    import statistics

    from rag.llm.base import ChatMessage, GenerationOptions

    messages = [ChatMessage("user", "How often must the QF-200 bearings be re-greased?")]

    def timed(adapter: str | None) -> float:
        started = time.perf_counter()
        model.generate(messages, GenerationOptions(max_new_tokens=1, adapter=adapter))
        return time.perf_counter() - started

    cycle = names + [None]
    same = [timed(names[0]) for _ in range(6)]
    switched = [timed(cycle[i % len(cycle)]) for i in range(6 * len(cycle))]
    return {"same_adapter_ms": round(statistics.median(same) * 1000, 1),
            "switching_ms": round(statistics.median(switched) * 1000, 1),
            "switch_overhead_ms": round((statistics.median(switched) - statistics.median(same)) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    parser.add_argument("--questions", type=int, default=24, help="question-answer pairs to generate")
    parser.add_argument("--eval-questions", type=int, default=12, help="questions per shipped set scored (0: all)")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: each method's own)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--max-seq-len", type=int, default=704)
    parser.add_argument("--distractors", type=int, default=1)
    parser.add_argument("--methods", default="lora,prefix,p-tuning")
    parser.add_argument("--eval-methods", default="lora,prefix,p-tuning",
                        help="methods whose answers are scored (p-tuning generation is slow through peft on a CPU)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--keep", type=Path, default=None, help="copy the dataset and held-out set here")
    args = parser.parse_args()

    from rag.evaluate import Evaluator, load_golden
    from rag.finetune import adapters
    from rag.finetune.build import DatasetBuilder, write_golden
    from rag.finetune.examples import write_examples
    from rag.finetune.train import TrainConfig
    from rag.kb import KnowledgeBase
    from rag.llm.transformers_backend import TransformersChatModel
    from rag.settings import Settings

    evalsets = ROOT / "rag" / "evalsets"
    def subset(path: Path) -> list:
        """The first questions of a shipped set, a third of them unanswerable (so refusal is scored too)."""
        questions = load_golden(path)
        if not args.eval_questions:
            return questions
        refusals = max(2, args.eval_questions // 3)
        return ([q for q in questions if not q.unanswerable][: args.eval_questions - refusals]
                + [q for q in questions if q.unanswerable][:refusals])

    shipped = {"en (in domain)": subset(evalsets / "sample_docs_en.jsonl"),
               "zh (forgetting)": subset(evalsets / "sample_docs_zh.jsonl")}
    figures: dict = {"steps": args.steps, "questions": args.questions, "methods": {}}
    with tempfile.TemporaryDirectory(prefix="rag-finetune-") as scratch:
        scratch = Path(scratch)
        english = scratch / "docs_en"
        english.mkdir()
        for path in (ROOT / "sample_docs").iterdir():
            if path.name.isascii():  # the Chinese documents have Chinese names
                shutil.copy(path, english / path.name)
        settings = Settings.load(scratch / "kb", {"llm_backend": "transformers", "device": args.device,
                                                  "data_dir": scratch / "data"})
        base_kb = KnowledgeBase.create(settings=settings)
        base_kb.ingest([ROOT / "sample_docs"])
        model = TransformersChatModel(settings.llm_model, settings.cache_dir, device=settings.device)
        kb = base_kb.with_settings(chat_model=model)

        # The dataset: only the English documents' chunks are asked about.
        english_kb = KnowledgeBase.create(settings=Settings.load(scratch / "kb_en", {"data_dir": scratch / "data"}))
        english_kb.ingest([english])
        started = time.perf_counter()
        # Questions are written by the default backend (llama.cpp when installed: several times faster on a CPU).
        report = DatasetBuilder(english_kb, english_kb.chat_model, distractors=args.distractors,
                                heldout_share=0.25, seed=0).build(args.questions)
        figures["dataset_s"] = round(time.perf_counter() - started, 1)
        data, heldout_file = scratch / "train.jsonl", scratch / "heldout.jsonl"
        write_examples(data, report.examples)
        write_golden(heldout_file, report.golden)
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(data, args.keep / "train.jsonl")
            shutil.copy(heldout_file, args.keep / "heldout.jsonl")
        figures["dataset"] = {"train_examples": report.train_examples, "refusals": report.refusal_examples,
                              "heldout": report.heldout_questions, "dropped_unsupported": report.dropped_unsupported}
        print(f"dataset: {report.train_examples} examples ({report.refusal_examples} refusals), "
              f"{report.heldout_questions} held out, {report.dropped_unsupported} pairs dropped as unsupported "
              f"({figures['dataset_s']} s)", flush=True)
        sets = {"held-out": load_golden(heldout_file), **shipped}

        def score(adapter: str | None) -> dict:
            # Short answers are all the sets ask for; the cap bounds what a disturbed adapter babbles.
            view = kb.with_settings(adapter=adapter, chat_model=model, max_new_tokens=120)
            out = {}
            for name, questions in sets.items():
                metrics = Evaluator(view, questions, with_answers=True).run(adapter or "base").metrics
                out[name] = {k: round(metrics[k], 3) for k in METRICS if k in metrics}
            return out

        started = time.perf_counter()
        figures["base"] = score(None)
        figures["eval_s_per_config"] = round(time.perf_counter() - started, 1)
        print(f"base: {json.dumps(figures['base'])}", flush=True)
        for method in args.methods.split(","):
            config = TrainConfig(method=method, steps=args.steps, batch_size=args.batch_size,
                                 max_seq_len=args.max_seq_len, lr=args.lr, dropout=0.0)
            entry, result = adapters.train(settings, data, f"bench-{method}", "industry", config)
            row = {"steps_per_s": round(result.steps_per_s, 4), "train_s": round(result.seconds, 1),
                   "peak_memory_mb": round(result.peak_memory_mb), "first_loss": round(result.losses[0][1], 4),
                   "final_loss": round(result.final_loss, 4), "skipped_too_long": result.skipped_too_long}
            print(f"{method} trained: {json.dumps(row)}", flush=True)
            if method in args.eval_methods.split(","):
                row["after"] = score(entry.name)
            figures["methods"][method] = row
            print(f"{method}: {json.dumps(row)}", flush=True)

        figures["switch"] = switching_cost(model, [f"bench-{m}" for m in args.methods.split(",")])
        print(f"adapter switching: {json.dumps(figures['switch'])}", flush=True)

    print()
    print("| configuration | steps/s | peak MB | loss first → last | " + " | ".join(
        f"{s} {m}" for s in sets for m in ("contains", "cite prec", "refusal acc" if s != "held-out" else "false refusal")) + " |")
    print("|---|---|---|---|" + "---|" * (3 * len(sets)))
    for name, row in [("base model", {"after": figures["base"]})] + list(figures["methods"].items()):
        cells = []
        for s in sets:
            if "after" not in row:
                cells += ["not scored"] * 3
                continue
            m = row["after"][s]
            third = m.get("false_refusal") if s == "held-out" else m.get("refusal_accuracy")
            cells += [f"{m.get('answer_contains', 0):.2f}", f"{m.get('citation_precision', 0):.2f}",
                      "" if third is None else f"{third:.2f}"]
        train = (f"{row['steps_per_s']:.3f} | {row['peak_memory_mb']} | {row['first_loss']:.2f} → {row['final_loss']:.2f}"
                 if "steps_per_s" in row else " |  | ")
        print(f"| {name} | {train} | " + " | ".join(cells) + " |")
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
