"""The API's errors, all in one JSON shape that OpenAI clients read too: {"error": {"message", "type", "code"}}."""

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.engine import EngineBusyError
from rag.observe.metrics import ERRORS

log = logging.getLogger("api")


def api_error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status, {"message": message, "type": kind}, headers=headers)


def busy_error(err: EngineBusyError) -> HTTPException:
    """The engine's queue is full: 503, and when to try again."""
    return api_error(503, str(err), "busy", headers={"Retry-After": str(err.retry_after_s)})


def _body(status: int, detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return {"error": {**detail, "code": status}}
    return {"error": {"message": str(detail), "type": "http_error", "code": status}}


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        body = _body(err.status_code, err.detail)
        ERRORS.labels(body["error"]["type"]).inc()
        return JSONResponse(body, err.status_code, headers=err.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in err.errors()]
        message = "Invalid request: " + "; ".join(problems)[:1000]
        ERRORS.labels("invalid_request").inc()
        return JSONResponse(_body(422, {"message": message, "type": "invalid_request"}), 422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        message = f"Internal error ({type(err).__name__}); the server log has the details."
        ERRORS.labels("internal_error").inc()
        log.error("internal error", exc_info=err)
        return JSONResponse(_body(500, {"message": message, "type": "internal_error"}), 500)
