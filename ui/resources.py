"""What the app loads once per process and shares between sessions: settings, models, users, the ingest worker."""

from datetime import timedelta

import streamlit as st

from accounts.audit import AuditLog, record_settings, this_host
from accounts.chats import ChatStore
from accounts.collections import Collections
from accounts.users import UserStore
from ingest.documents import DocumentService
from ingest.jobs import JobQueue, Worker
from rag.models import quiet_model_loading
from rag.pipeline import RagPipeline
from rag.settings import Settings
from records.activity import ActivityLog


@st.cache_resource
def settings() -> Settings:
    return Settings()


@st.cache_resource
def audit_log() -> AuditLog:
    return AuditLog(settings().database)


@st.cache_resource(show_spinner=False)
def started() -> bool:
    """Once per app process: JSON logs, metrics on RAG_METRICS_PORT, and the settings it runs with audited."""
    from rag.observe.logs import setup_logging
    from rag.observe.metrics import serve_metrics

    s = settings()
    setup_logging(s, "app")
    if s.metrics_port is not None:
        serve_metrics(s.metrics_host, s.metrics_port)
    record_settings(audit_log(), this_host(), s.public_dump(), "app")
    return True


@st.cache_resource(show_spinner="Loading the models (first start only)...")
def pipeline() -> RagPipeline:
    quiet_model_loading()
    return RagPipeline.from_settings(settings())


@st.cache_resource
def users() -> UserStore:
    s = settings()
    store = UserStore(s.database, s.login_attempts, timedelta(minutes=s.lockout_minutes))
    if s.admin_password is not None:
        store.ensure_admin(s.admin_password.get_secret_value())
    return store


@st.cache_resource
def activity() -> ActivityLog:
    s = settings()
    return ActivityLog(s.database, s.activity_days, s.feedback_text, s.pii_region)


@st.cache_resource
def chats() -> ChatStore:
    return ChatStore(settings().database)


@st.cache_resource
def collections() -> Collections:
    return Collections(settings().database)


@st.cache_resource
def job_queue() -> JobQueue:
    return JobQueue.from_settings(settings())


@st.cache_resource(show_spinner="Starting the ingestion worker...")
def worker() -> Worker:
    """One background worker per app process: it survives page reloads and restarts with the app."""
    running = Worker.from_settings(settings(), job_queue())
    running.start()
    return running


@st.cache_resource(show_spinner=False)
def api_server() -> str | None:
    """With RAG_API_PORT, the HTTP API runs in this process too, on the app's pipeline and worker: browser
    sessions and API calls share one engine, so they are batched together."""
    s = settings()
    if s.api_port is None:
        return None
    import threading

    import uvicorn

    from accounts.keys import KeyStore
    from serving.api import make_api
    from serving.cache import AnswerCache
    from serving.service import Service

    keys, cache = KeyStore(s.database), AnswerCache(s.cache_ttl_s)
    service = Service(s, pipeline(), documents(), job_queue(), keys, cache, collections())
    config = uvicorn.Config(make_api(service), host=s.api_host, port=s.api_port, log_level="warning")
    threading.Thread(target=uvicorn.Server(config).run, daemon=True, name="http-api").start()
    return f"http://{s.api_host}:{s.api_port}"


def documents() -> DocumentService:
    """Uploads, deletes and re-ingests, on the worker's view of the store (which sees its own writes at once)."""
    return DocumentService.on_worker(settings(), worker())
