"""The OpenAI-compatible client backend against a real server (llama.cpp's, serving the built-in GGUF on
loopback) and against a test-double server that fails on purpose, for the retries."""
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from rag.errors import ModelError
from rag.llm.base import ChatMessage, GenerationOptions
from rag.llm.openai_compat import OpenAICompatibleChatModel
from tests.conftest import SAMPLE_DOCS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is part of the test set-up")
    from rag.llm.builtin import builtin_gguf
    from rag.settings import Settings

    gguf = builtin_gguf(Settings().cache_dir)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", "qwen",
                                "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(base + "/models", timeout=2)
            break
        except OSError:
            assert process.poll() is None, "llama_cpp.server exited"
            assert time.time() < deadline, "llama_cpp.server did not start"
            time.sleep(0.3)
    yield base
    process.terminate()
    process.wait(timeout=20)


@pytest.mark.slow
def test_streams_from_a_real_llama_cpp_server(llama_server):
    model = OpenAICompatibleChatModel("qwen", llama_server)
    pieces = list(model.stream([ChatMessage("user", "Reply with the word: ready")], GenerationOptions(max_new_tokens=8)))
    assert len(pieces) >= 1 and "".join(pieces).strip()


@pytest.mark.slow
def test_the_product_answers_through_a_real_server(llama_server, tmp_path, minilm):
    from rag.kb import KnowledgeBase

    kb = KnowledgeBase.create(tmp_path / "kb", embedder=minilm, llm_backend="openai", llm_base_url=llama_server,
                              llm_model="qwen", max_new_tokens=60)
    kb.ingest([SAMPLE_DOCS])
    answer = kb.ask("How often must the QF-200 bearings be re-greased?")
    assert "2,000" in answer.text or "2000" in answer.text
    assert "maintenance_procedures.pdf:1" in [s.label for s in answer.cited_sources]


class _FlakyServer(BaseHTTPRequestHandler):
    """Test double: answers 503 for the first `failures` requests, then streams a reply."""

    failures = 0
    seen = 0

    def do_POST(self):  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen += 1
        if type(self).seen <= type(self).failures:
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b'{"error": "overloaded"}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ["fine ", "now"]:
            self.wfile.write(f"data: {json.dumps({'choices': [{'delta': {'content': piece}}]})}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


def _serve(failures: int):
    _FlakyServer.failures, _FlakyServer.seen = failures, 0
    server = HTTPServer(("127.0.0.1", 0), _FlakyServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_5xx_is_retried_with_backoff():
    server = _serve(failures=2)
    try:
        model = OpenAICompatibleChatModel("m", f"http://127.0.0.1:{server.server_port}/v1", retries=3, backoff_s=0.01)
        assert model.generate([ChatMessage("user", "q")]) == "fine now"
        assert _FlakyServer.seen == 3
    finally:
        server.shutdown()


def test_persistent_5xx_ends_in_one_line_error():
    server = _serve(failures=99)
    try:
        model = OpenAICompatibleChatModel("m", f"http://127.0.0.1:{server.server_port}/v1", retries=2, backoff_s=0.01)
        with pytest.raises(ModelError, match="answered HTTP 503"):
            model.generate([ChatMessage("user", "q")])
        assert _FlakyServer.seen == 3
    finally:
        server.shutdown()


def test_down_server_is_retried_then_a_clear_error():
    model = OpenAICompatibleChatModel("m", f"http://127.0.0.1:{free_port()}/v1", retries=2, backoff_s=0.01)
    started = time.perf_counter()
    with pytest.raises(ModelError, match="cannot reach the LLM server .* is it running"):
        model.generate([ChatMessage("user", "q")])
    assert time.perf_counter() - started >= 0.03  # two backoffs: 0.01 + 0.02 s
