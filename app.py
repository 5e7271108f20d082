"""Streamlit front end: an Ask page for everyone, an Admin page for admins.

Run with `make run` (`python -m ui`, which sets the server options the settings imply). Retrieval and models
live in `rag/`, ingestion in `ingest/`; the pages are in `ui/`.
"""

import streamlit as st

from accounts.users import User
from ui import admin, ask, auth, reports, resources


def pages_for(user: User | None) -> list[st.Page]:
    pages = [st.Page(ask.render, title="Ask", icon=":material/chat:", url_path="ask", default=True)]
    if user is not None and user.role == "admin":
        pages.append(st.Page(admin.render, title="Admin", icon=":material/settings:", url_path="admin"))
        pages.append(st.Page(reports.render, title="Reports", icon=":material/monitoring:", url_path="reports"))
    return pages


def main() -> None:
    st.set_page_config(page_title="Ask your documents", page_icon=":material/description:")
    settings = resources.settings()
    users = resources.users()
    resources.started()  # JSON logs, metrics on RAG_METRICS_PORT, settings audited
    resources.worker()  # jobs queued before a restart are picked up as soon as the app runs
    resources.api_server()  # with RAG_API_PORT: the HTTP API from this process, on the same engine
    auth.refresh_session(users, settings)
    user = auth.current_user()
    if settings.reader_access == "login" and user is None:
        st.title("Ask your documents")
        st.info("Sign in to ask questions.")
        auth.login_form(users, settings, where="main")
        st.stop()
    auth.account_box(users, settings)
    st.navigation(pages_for(user)).run()


main()
