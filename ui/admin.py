"""The Admin page: upload files, watch their ingestion jobs, and manage the documents in the knowledge base."""

import streamlit as st

from ingest.uploads import UploadError
from rag.adapter import AdapterError, adapter_summary
from rag.types import DEFAULT_COLLECTION
from ui import resources
from ui.auth import current_user, refresh_session, who
from ui.collections import collections_section, move_control
from ui.operations import activity_section, audit_section
from ui.safety import guardrails_section
from ui.text import plain


def is_admin() -> bool:
    user = current_user()
    return user is not None and user.role == "admin"


def upload_section() -> None:
    settings = resources.settings()
    limit = min(settings.max_upload_mb, st.get_option("server.maxUploadSize"))  # the server's cap may be lower
    st.subheader("Upload")
    with st.form("upload", clear_on_submit=True):
        files = st.file_uploader(
            f"PDF, DOCX, HTML, Markdown, text or CSV, up to {limit} MB each",
            accept_multiple_files=True,
            max_upload_size=limit,
        )
        names = [c.name for c in resources.collections().collections()]
        collection = st.selectbox("Into collection", names, index=names.index(DEFAULT_COLLECTION))
        submitted = st.form_submit_button("Ingest")
    if submitted and files:
        outcomes = [submit_one(file.name, file.getvalue(), collection) for file in files]
        st.session_state.upload_outcomes = outcomes
    for ok, message in st.session_state.get("upload_outcomes", []):  # kept until the next upload
        (st.success if ok else st.error)(plain(message))


def user_name() -> str | None:
    user = current_user()
    return user.name if user else None


def submit_one(name: str, data: bytes, collection: str | None = None) -> tuple[bool, str]:
    audit, actor = resources.audit_log(), who(resources.settings())
    try:
        job = resources.documents().upload(name, data, user_name(), collection)
    except UploadError as err:
        audit.record(actor, "document.upload_refused", name, reason=str(err))
        return False, str(err)
    audit.record(actor, "document.upload", name, job=job, bytes=len(data), collection=collection)
    return True, f"{name}: queued as job {job}"


STATE_ICONS = {"queued": ":material/schedule:", "running": ":material/sync:", "done": ":material/check_circle:",
               "failed": ":material/error:"}  # fmt: skip


@st.fragment(run_every=2)
def jobs_section() -> None:
    """Refreshes itself every 2 s while the rest of the page stays as it is."""
    refresh_session(resources.users(), resources.settings(), touch=False)  # a refresh is not activity
    if not is_admin():  # signed out, removed or demoted meanwhile: the whole page goes
        st.rerun(scope="app")
    st.subheader("Ingestion jobs")
    jobs = resources.job_queue().jobs(20)
    if not jobs:
        st.caption("No uploads yet.")
        return
    finished = sum(job.state in ("done", "failed") for job in jobs)
    if st.session_state.setdefault("finished_jobs", finished) != finished:
        st.session_state.finished_jobs = finished
        st.rerun(scope="app")  # a job ended: show the documents table as it is now
    for job in jobs:
        name, state, details = st.columns([3, 1, 4])
        name.markdown(f"**{plain(job.source)}**  \n{plain(job.submitted_by or 'command line')} · {job.updated_at}")
        state.markdown(f"{STATE_ICONS[job.state]} {job.state}")
        if job.state == "running":
            details.progress(job.fraction, text=job.message or "starting")
        elif job.state == "failed":
            details.error(plain(job.message))
        else:
            details.caption(plain(job.message))


def documents_section() -> None:
    st.subheader("Documents")
    if "flash" in st.session_state:  # the outcome of the action that triggered this rerun
        st.success(plain(st.session_state.pop("flash")))
    service = resources.documents()
    documents = service.documents()
    if not documents:
        st.caption("The knowledge base is empty.")
        return
    rows = [
        {"name": d.source, "collection": d.collection, "type": d.kind or "", "about": d.about, "pages": d.pages,
         "chunks": d.chunks,
         "size (KB)": round(d.size / 1024, 1), "sha256": d.sha256[:12], "ingested at": d.ingested_at,
         "by": d.ingested_by or "command line"}
        for d in documents
    ]  # fmt: skip
    st.table(rows)
    chosen = st.selectbox("Document", [d.source for d in documents], key="chosen-document")
    document = next(d for d in documents if d.source == chosen)
    original = service.original(document)
    delete, reingest, download = st.columns(3)
    if delete.button("Delete", key="delete-document"):
        service.delete(document.source)  # its original too
        resources.audit_log().record(who(resources.settings()), "document.delete", document.source)
        st.session_state.flash = f"Deleted {document.source}"
        st.rerun()
    if reingest.button("Re-ingest", key="reingest-document", disabled=original is None):
        job = service.reingest(document, user_name())
        resources.audit_log().record(who(resources.settings()), "document.reingest", document.source, job=job)
        st.success(plain(f"{document.source}: queued as job {job}"))
    if original is not None:
        download.download_button("Download original", original.read_bytes(), file_name=document.source)
    else:
        download.caption("Ingested from the command line: no stored original.")
    move_control(document.source, document.collection)


def render() -> None:
    if not is_admin():  # never rendered for anyone else, whatever the URL
        st.error("This page is for admins.")
        st.stop()
    st.title("Admin")
    resources.worker()  # make sure the background worker runs in this process
    upload_section()
    jobs_section()
    documents_section()
    collections_section()
    guardrails_section()
    activity_section()
    audit_section()
    models_section()


def models_section() -> None:
    """Which models answer (read-only: they are chosen with RAG_* settings when the app starts)."""
    st.subheader("Models")
    settings = resources.settings()
    st.write(f"Generator: `{settings.generator_model}` · Embedder: `{settings.embedding_model}`")
    if settings.adapter is None:
        st.caption("No fine-tuned adapter (RAG_ADAPTER is not set): answers come from the base generator.")
        return
    try:
        info = adapter_summary(settings.adapter)
    except AdapterError as err:
        st.error(str(err))
        return
    st.write(
        f"Active adapter: `{info['folder']}` (LoRA r={info['r']}, alpha={info['alpha']}, base `{info['base_model']}`)"
    )
    head = info["answerability_head"]
    if head is not None and "cv_abstention_on_unanswerable" in head:
        st.caption(
            f"Answerability head (layer {head['layer']}): abstains on {head['cv_abstention_on_unanswerable']:.0%} "
            f"of unanswerable and {head['cv_false_abstention_on_answerable']:.0%} of answerable training "
            "questions (cross-validated)."
        )
    with st.expander("Adapter details"):
        st.json(info)
