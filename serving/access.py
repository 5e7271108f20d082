"""Who may call the HTTP API, how often, and how much they may send.

- Keys: `Authorization: Bearer KEY` (accounts/keys.py); the key's user role decides reader vs admin. With
  RAG_API_ACCESS=open a request without a key is an anonymous reader (a key sent is still checked).
- Rate limit: RAG_RATE_LIMIT per key, or per client address for anonymous callers, over a moving window (the
  `limits` library); over it: 429 with Retry-After.
- Body size: a body over its cap is refused from its Content-Length (413) before it is read, and a body without
  one is cut off at the cap while it is read (uploads: RAG_MAX_UPLOAD_MB; everything else: RAG_API_MAX_BODY_KB).
"""

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from accounts.keys import Caller, KeyStore
from rag.settings import Settings
from serving.errors import api_error


class Access:
    """Checks a request's key and rate; `reader` and `admin` are FastAPI dependencies."""

    def __init__(self, settings: Settings, keys: KeyStore) -> None:
        self.keys = keys
        self.open = settings.api_access == "open"
        self.client_ip_header = settings.client_ip_header
        self.rates = parse_many(settings.rate_limit)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def client(self, request: Request) -> str:
        if self.client_ip_header and request.headers.get(self.client_ip_header):
            return request.headers[self.client_ip_header].split(",")[-1].strip()
        return request.client.host if request.client else "unknown"

    def caller(self, request: Request) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if not header and self.open:
            return Caller(None, "reader", None)
        found = self.keys.caller(key.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            message = "Send a valid API key: `Authorization: Bearer KEY` (create one with `python -m rag keys create`)."
            raise api_error(401, message, "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        return found

    def check_rate(self, caller: Caller, request: Request) -> None:
        identity = f"key:{caller.key}" if caller.key else f"client:{self.client(request)}"
        for rate in self.rates:
            if not self.limiter.hit(rate, identity):
                reset = self.limiter.get_window_stats(rate, identity).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                raise api_error(
                    429, f"Rate limit {rate} reached: retry in {wait} s.", "rate_limited",
                    headers={"Retry-After": str(wait)},
                )  # fmt: skip

    def reader(self, request: Request) -> Caller:
        caller = self.caller(request)
        self.check_rate(caller, request)
        return caller

    def admin(self, request: Request) -> Caller:
        caller = self.reader(request)
        if caller.role != "admin":
            raise api_error(403, "This needs an admin's key.", "forbidden")
        return caller


class BodyLimit:
    """ASGI middleware: refuses (413) a body over the cap of its route, whether its length is announced or not.
    The body is read here (up to the cap) and handed on whole: every route reads all of it anyway."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await _too_large(limit, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > limit:
                await _too_large(limit, send)
                return
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: wait for the client to go away
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _too_large(limit: int, send: Callable[[Message], Awaitable[None]]) -> None:
    import json

    body = json.dumps({"error": {"message": f"The body is over {limit:,} bytes.", "type": "too_large"}}).encode()
    headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
