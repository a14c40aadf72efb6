"""Answer speed on this machine with the built-in model: time to first token, prompt-processing (prefill)
and generation tokens/s, for each LLM backend through the product and through the raw library on the
same prompt; then `rag serve` under concurrent clients.

Run: .venv/bin/python bench/llm_bench.py [--backends llama-cpp transformers] [--clients 8] [--requests 24] [--json]
The question retrieves 3 chunks of sample_docs/; answers are capped at 100 new tokens.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [  # cold: the first question a fresh model sees; warm: later ones reuse the system prompt
    "Describe the QF-200 pump maintenance procedures step by step, with every interval and quantity.",
    "Explain in detail how the VX-40 diaphragm pump must be serviced, with all intervals.",
    "List every rule for hot work permits and forklifts in the workshop, with all numbers.",
]
NEW_TOKENS = 100


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def product_run(kb, question: str) -> dict:
    """One answer through KnowledgeBase.ask_stream: the product's whole path."""
    started = time.perf_counter()
    stream = kb.ask_stream(question)
    first = None
    for _ in stream:
        if first is None:
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    answer = stream.answer
    model = kb.chat_model
    generated = model.count_tokens(answer.text)
    messages, _, _ = kb.answerer().template.fit(question, [h for h in kb.search(question, 3)], (), model.count_tokens,
                                                 model.context_window)
    prompt_tokens = sum(model.count_tokens(m.content) for m in messages)
    retrieve = answer.timings["retrieve_s"]
    # An answer in the uncertain band is shown only once the checks have passed it: its first token comes
    # with its last, so it gives no prefill or generation speed (the same-prompt run below gives those).
    held_back = not kb.answerability().decide(question, kb.search(question, 3)).confident
    return {
        "ttft_s": first, "total_s": total, "new_tokens": generated, "prompt_tokens": prompt_tokens,
        "held_back_for_checks": held_back,
        "prefill_tok_s": None if held_back else prompt_tokens / max(1e-6, first - retrieve),
        "gen_tok_s": None if held_back else (generated - 1) / max(1e-6, total - first),
    }


def mean_of(values) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.mean(present) if present else None


def raw_llama_cpp(gguf: Path, messages: list[dict], n_ctx: int, threads: int) -> dict:
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=n_ctx, n_batch=512, n_threads=threads, n_threads_batch=threads, verbose=False)
    results = []
    for _ in range(2):  # second run: the prompt is cached, as in the product's warm case
        started = time.perf_counter()
        first, pieces = None, 0
        for chunk in llm.create_chat_completion(messages, temperature=0.0, top_p=1.0, max_tokens=NEW_TOKENS, stream=True):
            if chunk["choices"][0]["delta"].get("content"):
                pieces += 1
                if first is None:
                    first = time.perf_counter() - started
        total = time.perf_counter() - started
        text_tokens = pieces  # llama-cpp-python streams one token per chunk
        results.append({"ttft_s": first, "total_s": total, "new_tokens": text_tokens,
                        "gen_tok_s": (text_tokens - 1) / max(1e-6, total - first)})
    del llm
    return {"cold": results[0], "warm": results[1]}


def raw_transformers(model_dir: str, messages: list[dict]) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TextIteratorStreamer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa").eval()
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    started = time.perf_counter()
    worker = threading.Thread(target=lambda: model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False,
                                                             streamer=streamer, top_p=None, top_k=None,
                                                             pad_token_id=tokenizer.eos_token_id))
    with torch.inference_mode():
        worker.start()
        first, text = None, ""
        for piece in streamer:
            if piece and first is None:
                first = time.perf_counter() - started
            text += piece
        worker.join()
    total = time.perf_counter() - started
    generated = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return {"ttft_s": first, "total_s": total, "new_tokens": generated,
            "gen_tok_s": (generated - 1) / max(1e-6, total - first)}


def bench_backend(backend: str, kb_dir: Path) -> dict:
    from rag.kb import KnowledgeBase
    from rag.llm.base import physical_cores

    kb = KnowledgeBase.open(kb_dir, llm_backend=backend, top_k=3, max_new_tokens=NEW_TOKENS)
    t = time.perf_counter()
    model = kb.chat_model
    load_s = time.perf_counter() - t
    runs = [product_run(kb, q) for q in QUESTIONS]
    cold, warm = runs[0], runs[1:]
    product = {
        "load_s": load_s,
        "cold": cold,
        "warm_ttft_s": statistics.mean(r["ttft_s"] for r in warm),
        "warm_total_s": statistics.mean(r["total_s"] for r in warm),
        "warm_new_tokens": statistics.mean(r["new_tokens"] for r in warm),
        "warm_held_back": sum(r["held_back_for_checks"] for r in warm),
        "prefill_tok_s": mean_of(r["prefill_tok_s"] for r in warm),
        "gen_tok_s": mean_of(r["gen_tok_s"] for r in warm),
    }
    # The same prompt (the first question's, as the product built it) through the product's backend and
    # through the raw library, each run twice; greedy decoding makes both produce the same tokens, so the
    # generation tokens/s compare like for like. The raw library's second run reuses the whole cached
    # prompt; the product reuses only the system message (so a reply never depends on the prompt before),
    # so its first token comes after a prefill of the rest.
    from rag.llm.base import GenerationOptions

    question = QUESTIONS[0]
    messages, _, _ = kb.answerer().template.fit(question, kb.search(question, 3), (), model.count_tokens, model.context_window)
    payload = [{"role": m.role, "content": m.content} for m in messages]
    same_prompt = []
    for _ in range(2):
        started = time.perf_counter()
        first, text = None, ""
        for piece in model.stream(messages, GenerationOptions(max_new_tokens=NEW_TOKENS)):
            if first is None:
                first = time.perf_counter() - started
            text += piece
        total = time.perf_counter() - started
        tokens = model.count_tokens(text)
        prompt_tokens = sum(model.count_tokens(m.content) for m in messages)
        same_prompt.append({"ttft_s": first, "total_s": total, "new_tokens": tokens, "prompt_tokens": prompt_tokens,
                            "gen_tok_s": (tokens - 1) / max(1e-6, total - first)})
    product["same_prompt"] = same_prompt[-1]
    if backend == "llama-cpp":
        from rag.llm import context_tokens, gguf_path

        raw = raw_llama_cpp(gguf_path(kb.settings), payload, context_tokens(kb.settings), physical_cores())["warm"]
    else:
        from rag.llm.transformers_backend import resolve_model_dir

        raw = raw_transformers(resolve_model_dir(kb.settings.llm_model, kb.settings.cache_dir), payload)
    product["raw_library"] = raw
    product["overhead_pct"] = 100.0 * (raw["gen_tok_s"] - same_prompt[-1]["gen_tok_s"]) / raw["gen_tok_s"]
    kb.close()
    return product


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bench_serve(kb_dir: Path, clients: int, requests: int) -> dict:
    """`rag serve` in a subprocess; `clients` threads share `requests` chat completions (non-streaming)."""
    import openai

    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "rag"), "serve", "--kb", str(kb_dir), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError("rag serve did not start")
                time.sleep(0.5)
        client = openai.OpenAI(base_url=base + "/v1", api_key="none", max_retries=0, timeout=600)
        questions = ["How often must the QF-200 bearings be re-greased?", "VX-40 隔膜泵的最大出口压力是多少？",
                     "What is the forklift speed limit inside buildings?", "动火作业许可证的有效期是多久？"]
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        counter = iter(range(requests))

        def worker() -> None:
            for i in counter:
                started = time.perf_counter()
                try:
                    reply = client.chat.completions.create(
                        model=kb_dir.name, max_tokens=48,
                        messages=[{"role": "user", "content": questions[i % len(questions)]}])
                    ok = bool(reply.choices[0].message.content)
                except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                    ok, detail = False, f"{type(exc).__name__}: {exc}"
                with lock:
                    if ok:
                        latencies.append(time.perf_counter() - started)
                    else:
                        errors.append(detail if not ok and "detail" in locals() else "empty answer")

        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"clients": clients, "requests": requests, "completed": len(latencies), "errors": len(errors),
            "error_examples": errors[:3], "p50_s": percentile(latencies, 0.5) if latencies else None,
            "p95_s": percentile(latencies, 0.95) if latencies else None, "wall_s": wall,
            "requests_per_s": len(latencies) / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["llama-cpp", "transformers"])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=24)
    parser.add_argument("--no-serve", action="store_true")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of all figures")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from rag.kb import KnowledgeBase

    figures: dict = {"cpu_cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="rag-llm-bench-") as scratch:
        kb_dir = Path(scratch) / "handbook"
        KnowledgeBase.create(kb_dir).ingest([ROOT / "sample_docs"])
        for backend in args.backends:
            result = bench_backend(backend, kb_dir)
            figures[backend] = result
            cold = result["cold"]
            raw, same = result["raw_library"], result["same_prompt"]
            streamed = (f"prefill {result['prefill_tok_s']:.0f} tok/s, generation {result['gen_tok_s']:.1f} tok/s"
                        if result["gen_tok_s"] is not None else "every warm answer held back for its checks")
            print(f"[{backend}] load {result['load_s']:.1f} s | cold question: first token {cold['ttft_s']:.2f} s, "
                  f"{cold['new_tokens']} tokens in {cold['total_s']:.2f} s | warm: first token {result['warm_ttft_s']:.2f} s, "
                  f"{result['warm_new_tokens']:.0f} tokens in {result['warm_total_s']:.2f} s, "
                  f"{result['warm_held_back']} of {len(QUESTIONS) - 1} held back for the uncertain band's checks; {streamed} | "
                  f"same prompt ({same['prompt_tokens']} tokens, its second run): first token {same['ttft_s']:.2f} s, "
                  f"product {same['gen_tok_s']:.1f} tok/s ({same['new_tokens']} tokens), "
                  f"raw library {raw['gen_tok_s']:.1f} tok/s ({raw['new_tokens']} tokens) "
                  f"-> product overhead {result['overhead_pct']:+.1f} %")
        if not args.no_serve:
            serve = bench_serve(kb_dir, args.clients, args.requests)
            figures["serve"] = serve
            print(f"[rag serve] {serve['clients']} clients, {serve['requests']} requests: {serve['completed']} completed, "
                  f"{serve['errors']} errors, latency p50 {serve['p50_s']:.2f} s, p95 {serve['p95_s']:.2f} s, "
                  f"{serve['requests_per_s']:.2f} requests/s")
    if args.json:
        print(json.dumps(figures, default=float))


if __name__ == "__main__":
    main()
