"""`POST /v1/chat/completions` and `GET /v1/models`: the knowledge base as an OpenAI-compatible chat model.

Model `docqa` answers the last user message from the documents, with the earlier user/assistant turns as the
chat history (for follow-up questions). The reply is an ordinary chat completion, plus a `sources` field (the
passages used, as in `rag ask --json`); streamed, the last chunk carries `sources`. When RAG_ANSWER_MODE=auto
replaces an unbacked answer with quoted evidence, a streamed reply ends with that evidence, introduced as such;
when the guardrails stop a streamed reply (rag/safety), it ends with what replaced it, introduced as such.
"""

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

import anyio
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from serving.errors import api_error
from serving.service import Service, stream_pieces

MODEL = "docqa"
REPLACED = "\n\nNot backed by the passages. Quoted from the documents instead:\n"
WITHHELD = "\n\nStopped by the guardrails (see `guard`). The answer is:\n"
STOPPED_BY = {"injection_followed", "pii_blocked"}  # the guard stopped the stream: the reply ends otherwise


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | None = Field(None, max_length=100_000)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI clients send fields this model has no use for
    model: str
    messages: list[ChatMessage] = Field(min_length=1, max_length=100)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)


def question_and_history(messages: list[ChatMessage]) -> tuple[str, list[dict[str, str]]]:
    """The last user message, and the user/assistant pairs before it."""
    turns = [m for m in messages if m.role in ("user", "assistant") and m.content]
    if not turns or turns[-1].role != "user":
        raise api_error(422, "The last message must be the user's question.", "invalid_request")
    history, question = [], None
    for message in turns[:-1]:
        if message.role == "user":
            question = message.content
        elif question is not None:
            history.append({"question": question, "answer": message.content or ""})
            question = None
    return turns[-1].content or "", history


def _completion(answer: dict[str, Any], created: int, ident: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": answer["answer"]}
    return {
        "id": ident, "object": "chat.completion", "created": created, "model": MODEL,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "sources": answer["sources"], "abstained": answer["abstained"], "mode": answer["mode"],
        "refused": answer["refused"], "guard": answer["guard"], "citations": answer.get("citations", []),
        "cached": answer.get("cached", False),
    }  # fmt: skip


def _chunk(ident: str, created: int, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
    body = {
        "id": ident, "object": "chat.completion.chunk", "created": created, "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra,
    }  # fmt: skip
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def add_chat_routes(app: FastAPI, service: Service, reader: Any) -> None:
    @app.get("/v1/models")
    def models(caller: reader) -> dict[str, Any]:  # type: ignore[valid-type]
        return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "docqa"}]}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest, caller: reader) -> Any:  # type: ignore[valid-type]
        if body.model != MODEL:
            raise api_error(404, f"Unknown model {body.model!r}: this server has {MODEL!r}.", "model_not_found")
        question, history = question_and_history(body.messages)
        tokens = body.max_completion_tokens or body.max_tokens
        if tokens is not None and tokens > service.settings.serve_max_tokens:
            raise api_error(422, f"max_tokens is over {service.settings.serve_max_tokens}.", "too_long")
        options = {"max_new_tokens": tokens, "temperature": body.temperature,
                   "collections": service.collections_for(caller)}  # fmt: skip
        answer = await anyio.to_thread.run_sync(lambda: service.answer(question, history, **options))
        created, ident = int(time.time()), f"chatcmpl-{uuid.uuid4().hex}"
        if not body.stream:
            result = await anyio.to_thread.run_sync(answer.result)
            service.served(question, result, answer, caller.user)
            return _completion(result, created, ident)

        async def chunks() -> AsyncIterator[str]:
            yield _chunk(ident, created, {"role": "assistant", "content": ""})
            streamed = ""
            async for piece in stream_pieces(answer):
                streamed += piece
                yield _chunk(ident, created, {"content": piece})
            result = await anyio.to_thread.run_sync(answer.result)
            service.served(question, result, answer, caller.user)
            if STOPPED_BY & set(result["guard"]):
                yield _chunk(ident, created, {"content": WITHHELD + result["answer"]})
            elif result["answer"] != streamed.strip() and not result["abstained"]:
                yield _chunk(ident, created, {"content": REPLACED + result["answer"]})
            yield _chunk(ident, created, {}, "stop", sources=result["sources"], abstained=result["abstained"],
                         refused=result["refused"], guard=result["guard"])  # fmt: skip
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")
