"""The HTTP API (`python -m rag api`): the knowledge base for programs, beside the browser app.

    GET    /healthz                 no key: whether the models and the store are ready, and the engine's queue
    POST   /v1/ask                  {question, history?, top_k?, sources?, collections?, stream?} -> the
                                    `rag ask --json` object + "cached"; with stream: server-sent events
                                    `token` {text} ..., `usage` {generated_tokens, first_token_s}, then
                                    `answer` (the object)
    POST   /v1/chat/completions     OpenAI-compatible, model "docqa" (serving/chat.py)
    POST   /generate                admins: the bare model, {prompt, max_new_tokens?, temperature?} -> {text}
    GET    /v1/collections          the collections the caller may read
    GET    /v1/documents            the documents of those collections
    POST   /v1/documents            admins: multipart upload (file, collection?) -> {job}, with the Admin page's
                                    checks
    GET    /v1/documents/{source}/original   the file as uploaded (admins; readers with RAG_READER_DOWNLOADS)
    PATCH  /v1/documents/{source}   admins: {collection} moves the document there
    DELETE /v1/documents/{source}   admins
    GET    /v1/jobs/{id}            admins: an ingestion job's state
    POST   /v1/feedback             {id, rating: up|down, comment?, correction?}: a rating of an answer
    GET    /metrics                 no key: Prometheus metrics of this process

Answers come from the process's pipeline and its generation engine, so API calls are batched with each other
and with browser sessions in the same process. OpenAPI docs at /docs.
"""

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, Any, Literal

import anyio
from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from accounts.audit import Who
from accounts.keys import Caller
from ingest.uploads import UploadError
from rag.engine import EngineBusyError
from rag.observe.metrics import CACHE_HITS
from rag.types import Answer
from serving.access import Access, BodyLimit
from serving.chat import add_chat_routes
from serving.errors import add_error_handlers, api_error, busy_error
from serving.service import Service, stream_pieces
from serving.telemetry import RequestContext, add_metrics_route

MAX_HISTORY = 20


class HistoryTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(max_length=100_000)
    answer: str = Field(max_length=100_000)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="The question to answer from the documents.")
    history: list[HistoryTurn] = Field(default_factory=list, max_length=MAX_HISTORY)
    top_k: int | None = Field(None, ge=1, le=50, description="Passages to retrieve (default: RAG_TOP_K).")
    sources: list[str] | None = Field(None, max_length=100, description="Search only these documents.")
    collections: list[str] | None = Field(
        None, max_length=100, description="Search only these collections (default: all the caller may read)."
    )
    stream: bool = False


class MoveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    collection: str = Field(description="The collection to put the document in.")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64, description="The answer's id (`id` in /v1/ask's answer).")
    rating: Literal["up", "down"]
    comment: str = Field("", max_length=4000, description="What was wrong (or right) with it.")
    correction: str = Field("", max_length=8000, description="The answer it should have given.")


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=1, max_length=100_000)
    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)


def make_api(service: Service) -> FastAPI:
    s = service.settings
    access = Access(s, service.keys)
    app = FastAPI(title="Document Q&A API", version="1", description=__doc__)
    upload_cap, body_cap = s.max_upload_mb * 2**20 + 64 * 1024, s.api_max_body_kb * 1024
    app.add_middleware(BodyLimit, limit_for=lambda path: upload_cap if path == "/v1/documents" else body_cap)
    app.add_middleware(RequestContext)
    add_error_handlers(app)
    add_metrics_route(app)

    def who(caller: Caller, request: Request) -> Who:
        return Who(caller.user or "anonymous", access.client(request))

    Reader = Annotated[Caller, Depends(access.reader)]
    Admin = Annotated[Caller, Depends(access.admin)]

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return service.health()

    @app.post("/v1/ask")
    async def ask(body: AskRequest, caller: Reader, request: Request) -> Any:
        """With `Cache-Control: no-cache` the answer is generated anew (and then cached)."""
        collections = service.collections_for(caller, body.collections)
        options = {"top_k": body.top_k, "sources": body.sources, "collections": collections}
        history = [turn.model_dump() for turn in body.history]
        key = service.cache.key(body.question, history, options, await anyio.to_thread.run_sync(service.generation))
        fresh = "no-cache" in request.headers.get("cache-control", "")
        cached = None if fresh else service.cache.get(key)
        if cached is not None:
            CACHE_HITS.inc()
            service.served(body.question, cached, None, caller.user)
            return (
                _events(_one(cached["answer"]), _ready(cached | {"cached": True}))
                if body.stream
                else (cached | {"cached": True})
            )
        answer = await anyio.to_thread.run_sync(lambda: service.answer(body.question, history, **options))
        if not body.stream:
            result = await anyio.to_thread.run_sync(answer.result)
            service.cache.put(key, result)
            service.served(body.question, result, answer, caller.user)
            return JSONResponse(result | {"cached": False}, headers={"X-Generated-Tokens": str(answer.new_tokens)})

        async def finish() -> dict[str, Any]:
            result = await anyio.to_thread.run_sync(answer.result)
            service.cache.put(key, result)
            service.served(body.question, result, answer, caller.user)
            return result | {"cached": False}

        return _events(stream_pieces(answer), finish, lambda: _usage(answer))

    @app.post("/v1/feedback", status_code=201)
    def feedback(body: FeedbackRequest, caller: Reader) -> dict[str, Any]:
        """Rate an answer this service gave; its question and answer are kept with the rating as
        RAG_FEEDBACK_TEXT allows (default: personal data removed)."""
        exchange = service.exchanges.get(body.id)
        if exchange is None and not service.activity.known(body.id):
            raise api_error(404, f"No answer with id {body.id}.", "not_found")
        rating = 1 if body.rating == "up" else -1
        rid = service.activity.rate(body.id, rating, caller.user, exchange or {}, body.comment, body.correction, "api")
        return {"feedback": rid, "answer": body.id, "rating": body.rating}

    @app.post("/generate")
    async def generate(body: GenerateRequest, caller: Admin) -> dict[str, Any]:
        if body.max_new_tokens > s.serve_max_tokens:
            raise api_error(422, f"max_new_tokens is over {s.serve_max_tokens} (RAG_SERVE_MAX_TOKENS).", "too_long")
        messages = [{"role": "user", "content": body.prompt}]
        try:
            stream = service.pipeline.generator.stream(
                messages, max_new_tokens=body.max_new_tokens, temperature=body.temperature, top_p=1.0
            )
        except EngineBusyError as err:
            raise busy_error(err) from err
        text = await anyio.to_thread.run_sync(lambda: "".join(stream))
        return {"text": text, "new_tokens": stream.new_tokens, "model": service.pipeline.generator.name}

    @app.get("/v1/collections")
    def collections(caller: Reader) -> dict[str, Any]:
        """The collections the caller may read."""
        readable = set(service.collections_for(caller))
        found = [c for c in service.collections.collections() if c.name in readable]
        return {"collections": [{"name": c.name, "description": c.description} for c in found]}

    @app.get("/v1/documents")
    def documents(caller: Reader) -> dict[str, Any]:
        """The documents of the collections the caller may read."""
        readable = service.documents_for({"collections": service.collections_for(caller)})
        return {"documents": [asdict(document) for document in readable]}

    @app.post("/v1/documents", status_code=202)
    async def upload(
        file: Annotated[UploadFile, File()],
        caller: Admin,
        request: Request,
        collection: Annotated[str | None, Form()] = None,
    ) -> dict[str, Any]:
        if collection is not None and not service.collections.exists(collection):
            raise api_error(404, f"No collection named {collection}.", "unknown_collection")
        data = await file.read()
        try:
            job = await anyio.to_thread.run_sync(
                lambda: service.documents.upload(file.filename or "", data, caller.user, collection)
            )
        except UploadError as err:
            service.audit.record(who(caller, request), "document.upload_refused", file.filename or "", reason=str(err))
            raise api_error(422, str(err), "upload_refused") from err
        service.audit.record(who(caller, request), "document.upload", file.filename or "", job=job,
                             bytes=len(data), collection=collection)  # fmt: skip
        return {"job": job}

    @app.get("/v1/documents/{source:path}/original")
    def original(source: str, caller: Reader) -> FileResponse:
        """The file as uploaded, for admins and (with RAG_READER_DOWNLOADS) readers of its collection; a PDF opens
        inline, so a link may add `#page=N`."""
        readable = {d.source: d for d in service.documents_for({"collections": service.collections_for(caller)})}
        document = readable.get(source)
        path = service.documents.original(document) if document is not None else None
        if document is None or path is None:
            raise api_error(404, f"No original of a document named {source}.", "not_found")
        if caller.role != "admin" and not s.reader_downloads:
            raise api_error(403, "Readers may not download originals here (RAG_READER_DOWNLOADS).", "forbidden")
        kind = "application/pdf" if document.kind == "pdf" else "application/octet-stream"
        return FileResponse(path, media_type=kind, filename=path.name, content_disposition_type="inline")

    @app.patch("/v1/documents/{source:path}")
    def move(source: str, body: MoveRequest, caller: Admin, request: Request) -> dict[str, Any]:
        """Put a document in another collection: who may read it changes at once."""
        if not service.collections.exists(body.collection):
            raise api_error(404, f"No collection named {body.collection}.", "unknown_collection")
        if not service.documents.move(source, body.collection):
            raise api_error(404, f"No document named {source}.", "not_found")
        service.audit.record(who(caller, request), "document.move", source, collection=body.collection)
        return {"moved": source, "collection": body.collection}

    @app.delete("/v1/documents/{source:path}")
    def delete(source: str, caller: Admin, request: Request) -> dict[str, Any]:
        if not service.documents.delete(source):
            raise api_error(404, f"No document named {source}.", "not_found")
        service.audit.record(who(caller, request), "document.delete", source)
        return {"deleted": source}

    @app.get("/v1/jobs/{job_id}")
    def job(job_id: int, caller: Admin) -> dict[str, Any]:
        try:
            found = service.jobs.job(job_id)
        except LookupError as err:
            raise api_error(404, f"No job {job_id}.", "not_found") from err
        return asdict(found)

    add_chat_routes(app, service, Reader)
    return app


def _usage(answer: Answer) -> dict[str, Any]:
    return {"generated_tokens": answer.new_tokens, "first_token_s": answer.first_token_s}


def _events(
    pieces: AsyncIterator[str],
    final: Callable[[], Awaitable[dict[str, Any]]],
    usage: Callable[[], dict[str, Any]] | None = None,
) -> EventSourceResponse:
    """Server-sent events: one `token` event per piece of text, a `usage` event (generated tokens, first-token
    time), then one `answer` event with the whole object."""

    async def events() -> AsyncIterator[dict[str, str]]:
        async for piece in pieces:
            yield {"event": "token", "data": json.dumps({"text": piece}, ensure_ascii=False)}
        result = await final()
        if usage is not None:
            yield {"event": "usage", "data": json.dumps(usage())}
        yield {"event": "answer", "data": json.dumps(result, ensure_ascii=False)}

    return EventSourceResponse(events(), ping=15)


async def _one(text: str) -> AsyncIterator[str]:
    yield text


def _ready(result: dict[str, Any]) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def final() -> dict[str, Any]:
        return result

    return final
