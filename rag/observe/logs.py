"""Structured logs: one JSON object per line on stderr, from every process (app, API, workers, CLIs), with the
request id of the question or HTTP request being served, so one answer can be followed from retrieval to the
last token across threads.

No question, answer or document text is logged unless RAG_LOG_INTERACTIONS allows it (`text_fields`).
"""

import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

from rag.settings import Settings

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_NOISY = ("bm25s", "httpx", "httpcore", "urllib3", "chromadb", "sentence_transformers", "filelock", "asyncio")
FIELDS = "%(levelname)s %(name)s %(message)s"


def current_request_id() -> str | None:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


@contextmanager
def request_scope(request_id: str | None = None) -> Iterator[str]:
    """Everything logged inside (in this thread, and in threads started with its context) carries this id."""
    rid = request_id or new_request_id()
    token = _request_id.set(rid)
    try:
        yield rid
    finally:
        _request_id.reset(token)


class _AddContext(logging.Filter):
    """Puts the request id and the process role on every record (a record's own request_id wins: work done in
    another thread, such as the generation engine's, passes it explicitly)."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        record.process_role = self.process
        return True


def setup_logging(
    settings: Settings | None, process: str, default_level: str = "INFO", stream: TextIO | None = None
) -> None:
    """JSON lines on stderr at RAG_LOG_LEVEL (else `default_level`: INFO for services, WARNING for one-shot
    commands, whose output is their answer). Safe to call again: the handler is replaced, not added twice."""
    remove_logging()
    root = logging.getLogger()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._docqa = True  # type: ignore[attr-defined]
    handler.setFormatter(
        JsonFormatter(FIELDS, rename_fields={"levelname": "level", "name": "logger"}, timestamp="time")
    )
    handler.addFilter(_AddContext(process))
    root.addHandler(handler)
    level = (settings.log_level if settings else None) or default_level
    root.setLevel(level)
    handler.setLevel(level)  # also for libraries that set their own logger's level lower (bm25s)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # "no kernels package" on every CPU start


def remove_logging() -> None:
    """Take the JSON handler away again (benchmarks, tests)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_docqa", False)]:
        root.removeHandler(handler)


def setup_command_logging(command: str) -> None:
    """For `python -m rag|ingest|eval|finetune`: WARNING and above unless RAG_LOG_LEVEL says otherwise (invalid
    settings are reported by the command itself, with what to fix)."""
    try:
        settings: Settings | None = Settings()
    except ValueError:
        settings = None
    setup_logging(settings, command, "WARNING")


def text_fields(settings: Settings, **texts: str) -> dict[str, Any]:
    """The question/answer fields a log line may carry: none by default, personal data removed with
    RAG_LOG_INTERACTIONS=redacted, as they are with `full`."""
    if settings.log_interactions == "off":
        return {}
    from rag.safety.pii import as_allowed

    return {name: as_allowed(text, settings.log_interactions, settings.pii_region) for name, text in texts.items()}
