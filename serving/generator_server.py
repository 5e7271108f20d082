"""A small OpenAI-compatible HTTP server around the local generator (`python -m rag serve`), e.g. as an eval judge.

It speaks the subset of the protocol that clients such as instructor/RAGAS use: `GET /v1/models` and
`POST /v1/chat/completions` (not streamed) with plain answers, `response_format` JSON object or JSON schema,
or a forced function call (`tools` + `tool_choice`). JSON replies are generated under the schema
(rag/constrained.py), so they always parse unless cut by `max_tokens`.

One request generates at a time, and nothing from outside can hold it: bodies are capped in size and in the time
they take to arrive, `max_tokens` is capped, a request waits and generates within a deadline, only so many may
wait, generation stops when the client hangs up, and malformed requests get a 4xx that says what is wrong. With
RAG_SERVE_API_KEY set, every request needs `Authorization: Bearer <key>`; the server refuses to listen on
anything but loopback without one.
"""

import asyncio
import hmac
import ipaddress
import json
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.engine import Engine
from rag.generator import Messages
from rag.settings import Settings

DEFAULT_MAX_TOKENS = 512
BODY_TIMEOUT_S = 10.0  # a request body must arrive within this
DISCONNECT_POLL_S = 0.2


class ServeConfigError(ValueError):
    """Settings that make `rag serve` unsafe or impossible; the message says what to change."""


@dataclass(frozen=True)
class ServeLimits:
    api_key: str | None = None
    max_tokens: int = 1024
    max_body_bytes: int = 1024 * 1024
    timeout_s: float = 300.0  # waiting for the model and generating, together
    max_waiting: int = 8

    @classmethod
    def from_settings(cls, settings: Settings) -> "ServeLimits":
        key = settings.serve_api_key.get_secret_value() if settings.serve_api_key else None
        return cls(
            key, settings.serve_max_tokens, settings.serve_max_body_kb * 1024, settings.serve_timeout_s,
            settings.serve_max_waiting,
        )  # fmt: skip


def check_exposure(host: str, limits: ServeLimits) -> None:
    """Refuse to listen beyond this machine without an API key."""
    if limits.api_key is None and not is_loopback(host):
        raise ServeConfigError(
            f"rag serve would listen on {host}, which other machines can reach, without an API key: set "
            "RAG_SERVE_API_KEY (clients send it as `Authorization: Bearer <key>`), or use --host 127.0.0.1"
        )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Requests ------------------------------------------------------------------------------------------------


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str = "user"
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """The fields of a chat completion request this server reads (others are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stream: bool | None = False
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None


def _text(content: Any) -> str:
    """Message content as text (a string, or a list of parts of which the text ones are kept)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def chat_messages(raw: list[Message]) -> Messages:
    messages: Messages = []
    for message in raw:
        role = message.role if message.role in ("system", "user", "assistant") else "user"  # tool results as user
        messages.append({"role": role, "content": _text(message.content)})
    return messages


def forced_tool(request: ChatRequest) -> dict[str, Any] | None:
    """The function the client requires to be called, if any."""
    tools = [t["function"] for t in request.tools or [] if t.get("type") == "function" and "function" in t]
    choice = request.tool_choice
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return next((t for t in tools if t.get("name") == name), None)
    if choice == "required" or (choice in (None, "auto") and len(tools) == 1):
        return tools[0] if tools else None
    return None


def schema_in_prompt(messages: Messages) -> dict[str, Any] | None:
    """The JSON schema a JSON-mode client (instructor, as RAGAS uses it) writes into its system message."""
    for message in messages:
        content = message["content"]
        marker = content.find("json_schema:")
        start = content.find("{", marker) if marker >= 0 else -1
        if start >= 0:
            try:
                schema, _ = json.JSONDecoder().raw_decode(content[start:])
            except ValueError:
                continue
            if isinstance(schema, dict):
                return schema
    return None


def response_schema(request: ChatRequest, messages: Messages) -> dict[str, Any] | None:
    """The schema the reply must follow: given in `response_format`, or for JSON mode found in the prompt."""
    response_format = request.response_format or {}
    if response_format.get("type") == "json_schema":
        return dict((response_format.get("json_schema") or {}).get("schema") or {"type": "object"})
    if response_format.get("type") == "json_object":
        return schema_in_prompt(messages) or {"type": "object"}
    return None


def strict(schema: Any) -> Any:
    """The schema with `additionalProperties: false` on every object that lists its properties, so constrained
    decoding cannot invent keys (pydantic's schemas leave extra keys allowed)."""
    if isinstance(schema, dict):
        tightened = {key: strict(value) for key, value in schema.items()}
        if "properties" in tightened and "additionalProperties" not in tightened:
            tightened["additionalProperties"] = False
        return tightened
    if isinstance(schema, list):
        return [strict(value) for value in schema]
    return schema


def requested_tokens(request: ChatRequest, limits: ServeLimits) -> int:
    wanted = request.max_completion_tokens or request.max_tokens or min(DEFAULT_MAX_TOKENS, limits.max_tokens)
    if wanted > limits.max_tokens:
        raise HTTPException(
            400, f"max_tokens is {wanted}; this server allows at most {limits.max_tokens} (RAG_SERVE_MAX_TOKENS)"
        )
    return wanted


# Generation ----------------------------------------------------------------------------------------------


def complete(generator: Engine, request: ChatRequest, max_tokens: int, stop: threading.Event) -> dict[str, Any]:
    """One chat completion response object for a request (generation ends early when `stop` is set)."""
    messages = chat_messages(request.messages)
    tool = forced_tool(request)
    schema = tool.get("parameters", {"type": "object"}) if tool else response_schema(request, messages)
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if schema is not None:
        text = generator.complete_json(messages, strict(schema), max_new_tokens=max_tokens, stop=stop)
    else:
        temperature, top_p = request.temperature or 0.0, request.top_p or 1.0
        pieces = generator.stream(messages, max_new_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stop)
        text = "".join(pieces)
    if tool:
        call = {"id": f"call_{uuid.uuid4().hex[:12]}", "type": "function"}
        message["tool_calls"] = [call | {"function": {"name": tool["name"], "arguments": text}}]
    else:
        message["content"] = text
    prompt_tokens = generator.count_tokens(messages)
    completion_tokens = generator.count_text_tokens(text)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model or model_id(generator),
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if tool else "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def model_id(generator: Engine) -> str:
    """The model's name without the local folder it was loaded from."""
    return Path(generator.name).name


class Queue:
    """One generation at a time; at most `max_waiting` requests wait for their turn, each until its deadline."""

    def __init__(self, max_waiting: int) -> None:
        self.lock = asyncio.Lock()
        self.max_waiting = max_waiting
        self.waiting = 0

    async def run(self, work: Callable[[], Awaitable[Any]], deadline: float) -> Any:
        if self.waiting >= self.max_waiting:
            raise HTTPException(503, "the model is busy: try again shortly", headers={"Retry-After": "5"})
        self.waiting += 1
        try:
            remaining = deadline - asyncio.get_running_loop().time()
            await asyncio.wait_for(self.lock.acquire(), max(remaining, 0.0))
        except TimeoutError as err:
            raise HTTPException(503, "the model stayed busy too long: try again", {"Retry-After": "5"}) from err
        finally:
            self.waiting -= 1
        try:
            return await work()
        finally:
            self.lock.release()


async def read_body(request: Request, limits: ServeLimits) -> bytes:
    """The request body, refused when it says or turns out to be too large, or does not arrive in time."""
    too_large = HTTPException(
        413, f"the request body is over {limits.max_body_bytes // 1024} KB (RAG_SERVE_MAX_BODY_KB)"
    )
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit():
        raise HTTPException(400, "Content-Length is not a number")
    if int(declared) > limits.max_body_bytes:
        raise too_large  # before reading any of it
    body = bytearray()

    async def collect() -> None:
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > limits.max_body_bytes:
                raise too_large

    try:
        await asyncio.wait_for(collect(), BODY_TIMEOUT_S)
    except TimeoutError as err:
        raise HTTPException(408, f"the request body did not arrive within {BODY_TIMEOUT_S:.0f} s") from err
    return bytes(body)


def parse_request(body: bytes) -> ChatRequest:
    try:
        return ChatRequest.model_validate_json(body)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in err.errors()[:5])
        raise HTTPException(400, f"invalid request: {problems}") from err


async def generate_until_done_or_gone(
    request: Request, work: Callable[[threading.Event], dict[str, Any]], deadline: float
) -> dict[str, Any] | None:
    """Run `work` in a thread; stop it when the client disconnects (None) or at the deadline (504)."""
    stop = threading.Event()
    loop = asyncio.get_running_loop()
    timer = loop.call_at(deadline, stop.set)
    job = asyncio.ensure_future(anyio.to_thread.run_sync(work, stop))
    try:
        while not job.done():
            if await request.is_disconnected():
                stop.set()
                await job
                return None
            await asyncio.wait({job}, timeout=DISCONNECT_POLL_S)
        result = job.result()
    finally:
        timer.cancel()
        stop.set()
    if loop.time() >= deadline:
        raise HTTPException(504, "generation took longer than RAG_SERVE_TIMEOUT_S: ask for fewer tokens")
    return result


def make_app(generator: Engine, limits: ServeLimits) -> FastAPI:
    app = FastAPI(title="docqa generator", docs_url=None, redoc_url=None, openapi_url=None)
    queue = Queue(limits.max_waiting)

    def authorized(request: Request) -> None:
        if limits.api_key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, key = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip().encode(), limits.api_key.encode()):
            raise HTTPException(401, "missing or wrong API key", headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        kind = "invalid_request_error" if err.status_code < 500 else "server_error"
        body = {"error": {"message": str(err.detail), "type": kind, "code": err.status_code}}
        return JSONResponse(body, status_code=err.status_code, headers=getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def failed(request: Request, err: Exception) -> JSONResponse:
        return await http_error(request, StarletteHTTPException(500, f"generation failed ({type(err).__name__})"))

    @app.get("/v1/models", dependencies=[Depends(authorized)])
    @app.get("/models", dependencies=[Depends(authorized)], include_in_schema=False)
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_id(generator), "object": "model"}]}

    @app.post("/v1/chat/completions", dependencies=[Depends(authorized)])
    @app.post("/chat/completions", dependencies=[Depends(authorized)], include_in_schema=False)
    async def chat_completions(request: Request) -> JSONResponse:
        deadline = asyncio.get_running_loop().time() + limits.timeout_s
        chat = parse_request(await read_body(request, limits))
        if chat.stream:
            raise HTTPException(400, "streaming is not supported by this server: leave out `stream`")
        max_tokens = requested_tokens(chat, limits)

        async def generate() -> dict[str, Any] | None:
            work = lambda stop: complete(generator, chat, max_tokens, stop)  # noqa: E731
            return await generate_until_done_or_gone(request, work, deadline)

        result = await queue.run(generate, deadline)
        if result is None:  # the client went away: nobody to answer
            return JSONResponse({}, status_code=499)
        return JSONResponse(result)

    return app
