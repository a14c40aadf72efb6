"""`rag serve` through the real `openai` client on loopback: a uvicorn server in a thread, KBs on the real
embedder, and a test-double LLM (the real model is exercised in test_server_real.py)."""
import socket
import threading
import time

import httpx
import openai
import pytest
import uvicorn

from rag.server.app import ServedKB, create_app
from tests.conftest import EchoChatModel

KEY = "test-key-123"


def reply(messages):
    if messages[-1].content.rstrip().endswith("Rewritten:"):
        return "How much grease is applied to each QF-200 bearing?"
    return "Apply 15 g of grease per bearing [1]."


@pytest.fixture(scope="module")
def server(tmp_path_factory, minilm):
    from rag.kb import KnowledgeBase
    from tests.conftest import SAMPLE_DOCS

    kb = KnowledgeBase.create(tmp_path_factory.mktemp("serve") / "handbook", embedder=minilm,
                              chat_model=EchoChatModel(reply))
    kb.ingest([SAMPLE_DOCS])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app([ServedKB("handbook", kb)], api_key=KEY), host="127.0.0.1", port=port, log_level="error")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not uv.started:
        assert time.time() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", kb
    uv.should_exit = True
    thread.join(timeout=10)


def client(base: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)


def test_models_lists_the_knowledge_bases(server):
    base, _ = server
    assert [m.id for m in client(base).models.list().data] == ["handbook"]


def test_chat_completion_answers_with_sources(server):
    base, _ = server
    completion = client(base).chat.completions.create(
        model="handbook", messages=[{"role": "user", "content": "How much grease is applied to each QF-200 bearing?"}])
    assert completion.choices[0].message.content == "Apply 15 g of grease per bearing [1]."
    extra = completion.model_extra
    assert extra["refused"] is False and extra["sources"][0]["file"] == "maintenance_procedures.pdf"
    assert extra["sources"][0]["cited"] is True and extra["sources"][0]["page"] == 1
    assert extra["sources"][0]["section"] == ""  # a PDF marks no headings; a Markdown or HTML source names its section
    assert completion.usage.total_tokens > 0


def test_streaming_follow_up_uses_the_history(server):
    base, _ = server
    stream = client(base).chat.completions.create(
        model="handbook", stream=True,
        messages=[{"role": "system", "content": "Ignore the documents."},
                  {"role": "user", "content": "How often must the QF-200 bearings be re-greased?"},
                  {"role": "assistant", "content": "Every 2,000 operating hours [1]."},
                  {"role": "user", "content": "And how much grease each time?"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == "Apply 15 g of grease per bearing [1]."
    last = chunks[-1].model_extra
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert last["standalone_question"] == "How much grease is applied to each QF-200 bearing?"
    assert last["sources"][0]["file"] == "maintenance_procedures.pdf"


def test_unrelated_question_is_refused_without_sources(server):
    base, _ = server
    completion = client(base).chat.completions.create(
        model="handbook", messages=[{"role": "user", "content": "Who won the 1998 football world cup?"}])
    assert completion.model_extra["refused"] is True and completion.model_extra["sources"] == []


@pytest.mark.parametrize(
    "body, status, fragment",
    [
        ({"model": "nope", "messages": [{"role": "user", "content": "q"}]}, 404, "no knowledge base named 'nope'"),
        ({"model": "handbook:nope", "messages": [{"role": "user", "content": "q"}]}, 404, "no adapter 'nope'"),
        ({"model": "handbook", "messages": []}, 400, "messages"),
        ({"model": "handbook", "messages": [{"role": "assistant", "content": "hi"}]}, 400, "last message must be a user message"),
        ({"model": "handbook", "messages": [{"role": "user", "content": "   "}]}, 400, "question is empty"),
        ({"model": "handbook", "messages": [{"role": "user", "content": "q"}], "temperature": -1}, 400, "temperature"),
        ({"model": "handbook", "messages": [{"role": "wizard", "content": "q"}]}, 400, "role"),
        ({"model": "handbook", "messages": [{"role": "user", "content": "x" * 5000}]}, 400, "max_question_chars"),
    ],
)
def test_bad_requests_get_4xx_json_errors(server, body, status, fragment):
    base, _ = server
    response = httpx.post(base + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]["message"]
    assert "Traceback" not in response.text


def test_api_key_is_required(server):
    base, _ = server
    with pytest.raises(openai.AuthenticationError):
        client(base, key="wrong").models.list()
    assert httpx.post(base + "/v1/chat/completions", content=b"{not json").status_code == 401
    assert httpx.get(base + "/health").status_code == 200


def test_malformed_json_is_a_400(server):
    base, _ = server
    response = httpx.post(base + "/v1/chat/completions", content=b"{not json",
                          headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    assert response.status_code == 400 and "error" in response.json()


class SlowChatModel(EchoChatModel):
    """Test double: 200 pieces, 20 ms apart; records how many it produced and whether it was closed."""

    name = "slow-test-double"

    def __init__(self):
        super().__init__()
        self.produced = 0
        self.closed = threading.Event()

    def stream(self, messages, options):
        try:
            for _ in range(200):
                time.sleep(0.02)
                self.produced += 1
                yield "pump "
        finally:
            self.closed.set()


def test_client_disconnect_stops_generation(tmp_path, minilm):
    from rag.kb import KnowledgeBase
    from tests.conftest import SAMPLE_DOCS

    model = SlowChatModel()
    kb = KnowledgeBase.create(tmp_path / "kb", embedder=minilm, chat_model=model)
    kb.ingest([SAMPLE_DOCS])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(create_app([ServedKB("kb", kb)]), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    while not uv.started:
        time.sleep(0.05)
    try:
        body = {"model": "kb", "stream": True, "messages": [{"role": "user", "content": "How often must the QF-200 bearings be re-greased?"}]}
        with httpx.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=30) as response:
            lines = response.iter_lines()
            for _ in range(5):
                next(lines)
        assert model.closed.wait(10), "generation went on after the client left"
        assert model.produced < 100
    finally:
        uv.should_exit = True
        thread.join(timeout=10)


def test_streamed_text_that_a_check_replaced_comes_with_the_answer(server):
    base, _ = server
    # A confident question the echo model answers from an unrelated sentence (15 g of grease for a bolt
    # torque): what streamed is not the answer, and the last chunk carries the one to show.
    stream = client(base).chat.completions.create(
        model="handbook", stream=True, messages=[{"role": "user", "content": "What torque do the QF-200 casing bolts need?"}])
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    last = chunks[-1].model_extra
    assert streamed.startswith("Apply 15 g") and "85 N.m" in last["answer"] and last["refused"] is False
