"""The product as an OpenAI-compatible server: each knowledge base served is a "model"; a chat completion
runs the conversation path (the messages are the history) and returns the cited sources beside the answer."""
from __future__ import annotations

import hmac
import json
import time
import uuid
from dataclasses import dataclass, replace
from typing import AsyncIterator, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from rag.answer import Answer
from rag.conversation import Conversation
from rag.conversation_store import ConversationRecord, Turn
from rag.errors import ConfigError, ModelError, QuestionError, RagError
from rag.kb import KnowledgeBase
from rag.prompt import display_source
from rag.server.schemas import (AssistantMessage, ChatCompletion, ChatCompletionRequest, Choice, ModelCard, ModelList,
                                SourceOut, Usage)


class APIError(Exception):
    """An error answered as OpenAI does: {"error": {"message", "type", "code"}} with an HTTP status."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


def _error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status_code=status)


@dataclass
class ServedKB:
    name: str
    kb: KnowledgeBase


def _sources(answer: Answer) -> list[SourceOut]:
    return [SourceOut(number=s.number, file=display_source(s.source), source=s.source, page=s.page, section=s.section,
                      start=s.start, end=s.end, snippet=s.snippet, relevance=round(s.relevance, 4), cited=s.cited) for s in answer.sources]


def _conversation(served: ServedKB, request: ChatCompletionRequest, adapter: str | None = None) -> tuple[Conversation, str]:
    """The request's messages as a conversation (not saved) and the question to answer: the last user
    message; earlier user/assistant pairs are its history. System messages are ignored: the knowledge
    base answers with its own prompt, which a client must not be able to replace."""
    dialogue = [m for m in request.messages if m.role in ("user", "assistant")]
    if not dialogue or dialogue[-1].role != "user":
        raise APIError(400, "the last message must be a user message with the question", code="no_question")
    turns, pending = [], None
    for message in dialogue[:-1]:
        if message.role == "user":
            pending = message.text()
        elif pending is not None:
            turns.append(Turn(pending, message.text(), refused=False))
            pending = None
    kb = served.kb
    options = kb.generation_options(adapter)
    overrides = {k: v for k, v in {
        "temperature": request.temperature, "top_p": request.top_p, "seed": request.seed,
        "max_new_tokens": request.max_completion_tokens or request.max_tokens,
        "stop": tuple([request.stop] if isinstance(request.stop, str) else request.stop or ()),
    }.items() if v is not None}
    try:
        options = replace(options, **overrides)
    except ValueError as exc:
        raise APIError(400, str(exc)) from exc
    answerer = kb.answerer(options=options)
    record = ConversationRecord("request", "", 0.0, 0.0, tuple(turns), len(turns))
    conversation = Conversation(answerer, lambda: kb.chat_model, kb.tokenizer.tokenize, None, record,
                                history_turns=kb.settings.history_turns, rewrite=kb.settings.rewrite_follow_ups)
    return conversation, dialogue[-1].text()


def create_app(kbs: Sequence[ServedKB], api_key: str | None = None) -> FastAPI:
    """The FastAPI application serving `kbs` (names must be unique)."""
    served = {s.name: s for s in kbs}
    started = int(time.time())
    app = FastAPI(title="rag-kb", version="1", description="Knowledge bases as OpenAI-compatible chat models. "
                  "Responses carry `sources` (the passages read, `cited` marking those the answer rests on; for a "
                  "refusal, the closest ones, none cited), `refused` and `standalone_question`.")

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.kind, exc.code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(400, f"invalid request: {where}: {first.get('msg', 'malformed body')}", "invalid_request_error")

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        if isinstance(exc, QuestionError):
            return _error(400, str(exc), "invalid_request_error", "bad_question")
        if isinstance(exc, ModelError):
            return _error(503, str(exc), "server_error", "model_unavailable")
        return _error(500, str(exc), "server_error")

    @app.middleware("http")
    async def check_key(request: Request, call_next):
        if api_key and request.url.path.startswith("/v1/"):
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                return _error(401, "invalid or missing API key (send: Authorization: Bearer KEY)",
                              "invalid_request_error", "invalid_api_key")
        return await call_next(request)

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "models": sorted(served)}

    @app.get("/v1/models", response_model=ModelList)
    def models() -> ModelList:
        return ModelList(data=[ModelCard(id=name, created=started) for name in sorted(served)])

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: ChatCompletionRequest, http: Request):
        # "KB:ADAPTER" answers from KB with a fine-tuned adapter, as vLLM names a LoRA by model name.
        kb_name, _, adapter = request.model.partition(":")
        if kb_name not in served:
            raise APIError(404, f"no knowledge base named {kb_name!r}; served: {', '.join(sorted(served))}",
                           code="model_not_found")
        kb_served = served[kb_name]
        if adapter:
            try:
                kb_served.kb.answerer(adapter=adapter)
            except ConfigError as exc:
                raise APIError(404, str(exc), code="model_not_found") from exc
        conversation, question = _conversation(kb_served, request, adapter or None)
        completion_id = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        # Rewriting a follow-up and retrieving run before the first byte, so their errors are HTTP errors.
        answer_stream = await run_in_threadpool(conversation.ask_stream, question)
        if not request.stream:
            answer = await run_in_threadpool(answer_stream.collect)
            count = kb_served.kb.chat_model.count_tokens if not answer.refused else (lambda t: len(t) // 3 + 1)
            prompt_tokens = sum(count(m.text()) for m in request.messages)
            completion_tokens = count(answer.text)
            return ChatCompletion(
                id=completion_id, created=created, model=request.model,
                choices=[Choice(message=AssistantMessage(content=answer.text))],
                usage=Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                            total_tokens=prompt_tokens + completion_tokens),
                sources=_sources(answer), refused=answer.refused, standalone_question=answer.standalone_question,
            )
        return StreamingResponse(_events(answer_stream, completion_id, created, request.model, http),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return app


_END = object()


async def _events(answer_stream, completion_id: str, created: int, model: str, http: Request) -> AsyncIterator[str]:
    """Server-sent events: one chunk per piece of the answer, then a last chunk with the finish reason, the
    citations attributed after generation, and the sources. A client that disconnects stops generation."""

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    pieces = iter(answer_stream)
    shown = ""
    try:
        yield chunk({"role": "assistant", "content": ""})
        while True:
            try:
                piece = await run_in_threadpool(next, pieces, _END)
            except RagError as exc:
                yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'server_error'}})}\n\n"
                return
            if piece is _END:
                break
            if await http.is_disconnected():
                return  # the client left: stop generating (finally closes the stream)
            shown += piece
            yield chunk({"content": piece})
        answer = answer_stream.answer
        kept = answer.text.startswith(shown.strip())
        tail = answer.text[len(shown.strip()):] if kept else ""
        # What was streamed is not the answer when a check withdrew or replaced it: the last chunk says so.
        replaced = {} if kept else {"answer": answer.text}
        yield chunk({"content": tail} if tail else {}, "stop", sources=[s.model_dump() for s in _sources(answer)],
                    refused=answer.refused, standalone_question=answer.standalone_question, **replaced)
        yield "data: [DONE]\n\n"
    finally:
        answer_stream.close()
