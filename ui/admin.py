"""The Admin page: upload files, watch their ingestion jobs, and manage the documents in the knowledge base."""

import shutil
from pathlib import Path

import streamlit as st

from ingest.uploads import UploadError, submit_upload
from rag.store import Document
from ui import resources
from ui.auth import current_user


def original_path(document: Document) -> Path:
    return resources.settings().originals_dir / document.sha256[:32] / document.source


def upload_section() -> None:
    settings = resources.settings()
    st.subheader("Upload")
    with st.form("upload", clear_on_submit=True):
        files = st.file_uploader(
            f"PDF, DOCX, HTML, Markdown, text or CSV, up to {settings.max_upload_mb} MB each",
            accept_multiple_files=True,
        )
        submitted = st.form_submit_button("Ingest")
    if not submitted or not files:
        return
    user = current_user()
    worker = resources.worker()
    for file in files:
        try:
            job = submit_upload(
                file.name,
                file.getvalue(),
                store=worker.indexer.store,
                queue=resources.job_queue(),
                originals=settings.originals_dir,
                max_bytes=settings.max_upload_mb * 2**20,
                user=user.name if user else None,
            )
        except UploadError as err:
            st.error(str(err))
        else:
            st.success(f"{file.name}: queued as job {job}")


@st.fragment(run_every=2)
def jobs_section() -> None:
    """Refreshes itself every 2 s while the rest of the page stays as it is."""
    st.subheader("Ingestion jobs")
    jobs = resources.job_queue().jobs(50)
    if not jobs:
        st.caption("No uploads yet.")
        return
    rows = [
        {"job": j.id, "file": j.source, "state": j.state, "progress": 1.0 if j.state == "done" else j.fraction,
         "details": j.message, "by": j.submitted_by or "", "updated": j.updated_at}
        for j in jobs
    ]  # fmt: skip
    progress = st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0)
    st.dataframe(rows, hide_index=True, column_config={"progress": progress}, key="jobs-table")


def documents_section() -> None:
    st.subheader("Documents")
    worker = resources.worker()
    documents = worker.indexer.store.documents()
    if not documents:
        st.caption("The knowledge base is empty.")
        return
    rows = [
        {"name": d.source, "type": d.kind or "", "pages": d.pages, "chunks": d.chunks,
         "size (KB)": round(d.size / 1024, 1), "sha256": d.sha256[:12], "ingested at": d.ingested_at,
         "by": d.ingested_by or "command line"}
        for d in documents
    ]  # fmt: skip
    st.dataframe(rows, hide_index=True, key="documents-table")
    chosen = st.selectbox("Document", [d.source for d in documents], key="chosen-document")
    document = next(d for d in documents if d.source == chosen)
    original = original_path(document)
    delete, reingest, download = st.columns(3)
    if delete.button("Delete", key="delete-document"):
        worker.indexer.delete(document.source)
        shutil.rmtree(original.parent, ignore_errors=True)
        st.success(f"Deleted {document.source}")
        st.rerun()
    if reingest.button("Re-ingest", key="reingest-document", disabled=not original.is_file()):
        user = current_user()
        job = resources.job_queue().submit(
            document.source, original, document.kind, user.name if user else None, force=True
        )
        st.success(f"{document.source}: queued as job {job}")
    if original.is_file():
        download.download_button("Download original", original.read_bytes(), file_name=document.source)
    else:
        download.caption("Ingested from the command line: no stored original.")


def render() -> None:
    user = current_user()
    if user is None or user.role != "admin":  # never rendered for anyone else, whatever the URL
        st.error("This page is for admins.")
        st.stop()
    st.title("Admin")
    resources.worker()  # make sure the background worker runs in this process
    upload_section()
    jobs_section()
    documents_section()
