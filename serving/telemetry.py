"""The API's request log and metrics: every request gets an id (a sane `X-Request-ID` from the client, else a new
one) that its log lines carry and its response returns; one JSON line per request with its route, status and
time; `GET /metrics` in Prometheus' text format."""

import logging
import re
import time

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.observe.logs import request_scope

log = logging.getLogger("api")
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContext:
    """ASGI middleware around the whole request, streamed bodies included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        with request_scope(given if _SANE_ID.match(given) else None) as rid:
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                route = scope.get("route")
                path = getattr(route, "path", None) or "unmatched"  # the template, not document names
                seconds = round(time.perf_counter() - started, 4)
                level = logging.ERROR if status >= 500 else logging.INFO
                log.log(level, "request", extra={"method": scope["method"], "route": path, "status": status,
                                                 "seconds": seconds})  # fmt: skip


def add_metrics_route(app: FastAPI) -> None:
    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus' text format, without a key (no question or document text in it)."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
