"""Under an answer: its citation markers, each opening a preview of the cited source (the PDF page with the
passage highlighted, or the passage inside its section), and the list of the passages the model was given.

Whoever reads the chat must still be able to read the document: a saved chat reopened after access was taken
away shows neither the passage, nor the name, nor a preview of it."""

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import streamlit as st

from rag.safety.pii import redact
from rag.types import Document, Source
from ui import resources
from ui.auth import current_user
from ui.preview import PreviewError, render_page, section_preview
from ui.text import plain

GONE = "(a document you can no longer read)"


def where(source: Source) -> str:
    return source.source if source.page is None else f"{source.source}, page {source.page}"


def readable_collections() -> list[str]:
    """The collections the current user (or an anonymous reader) may read now."""
    user = current_user()
    return resources.collections().readable(user.name if user else None, user.role if user else "reader")


def readable_documents() -> dict[str, Document]:
    """The documents the current user may read now, by name (read once per page run: see ui/ask.py)."""
    return {d.source: d for d in resources.pipeline().store.documents_in(readable_collections())}


def show_sources(
    sources: list[Source],
    readable: Mapping[str, Document],
    searched_for: str | None = None,
    scope: list[str] | None = None,
) -> None:
    """The passages the answer was given (of the `readable` documents; others by number only), the standalone
    query when a follow-up was rewritten, and what the search was limited to when the question named documents
    (rag/scope.py)."""
    if not sources and not searched_for and not scope:
        return
    with st.expander(f"Sources ({len(sources)})"):
        if searched_for:
            st.caption(f"Searched for: {plain(searched_for)}")  # a rewrite by the model is untrusted too
        if scope:
            st.caption(f"Searched only: {plain(', '.join(scope))}")
        for number, source in enumerate(sources, start=1):
            if source.source not in readable:
                st.markdown(f"**\\[{number}\\]** {GONE}")
                continue
            st.markdown(f"**\\[{number}\\] {plain(where(source))}** · relevance {source.score:.2f}")
            st.text(source.text)


def show_citations(message: dict[str, Any], readable: Mapping[str, Document], key: str) -> None:
    """One button per cited source, "[2] handbook.pdf, page 3", opening its preview."""
    sources: list[Source] = message.get("sources", [])
    cited = sorted({n for c in message.get("citations", []) for n in c["sources"] if 1 <= n <= len(sources)})
    if not cited:
        return
    columns = st.columns(min(len(cited), 3))
    for slot, number in enumerate(cited):
        source = sources[number - 1]
        shown = plain(where(source)) if source.source in readable else plain(GONE)
        label = f"\\[{number}\\] {shown}"  # a popover's label is Markdown: a file name must not become a link
        with columns[slot % len(columns)].popover(label, width="stretch"):
            document = readable.get(source.source)
            if document is None:
                st.caption("This passage is in a collection you may no longer read.")
            else:
                preview(source, document, f"{key}-{number}")


def preview(source: Source, document: Document, key: str) -> None:
    settings = resources.settings()
    original = resources.documents().original(document)
    if document.kind == "pdf" and source.page is not None and original is not None:
        region = settings.pii_region if settings.pii != "off" else None
        try:
            page = render_page(original, source.page, source.text, settings.previews_dir, region)
        except PreviewError as err:
            st.caption(f"No page preview: {err}. The passage as it was given:")
            st.text(source.text)
        else:
            found = "the passage highlighted" if page.boxes else "the passage's words were not in the page's text"
            st.image(str(page.image), caption=f"{plain(document.source)}, page {page.page}: {found}")
    else:
        _section(source, document)
    user = current_user()
    if original is not None and user is not None and (user.role == "admin" or settings.reader_downloads):
        label = "Download the original" + (f" (the passage is on page {source.page})" if source.page else "")
        st.download_button(
            label, original.read_bytes, file_name=document.source, key=f"download-{key}"
        )  # read on click


def _section(source: Source, document: Document) -> None:
    settings = resources.settings()

    def shown(text: str) -> str:
        return redact(text, settings.pii_region)[0] if settings.pii != "off" else text

    chunks = resources.pipeline().store.document_chunks(document)
    found = section_preview([replace(c, text=shown(c.text)) for c in chunks], source.text)
    if found is None:
        st.caption("The document has changed since this answer: the passage as it was given:")
        st.text(source.text)
        return
    st.caption(f"{plain(document.source)} \u203a {plain(found.heading or 'beginning of the document')}")
    if found.before:
        st.text(found.before)
    st.markdown(f":orange-background[{plain(' '.join(found.passage.split()))}]")
    if found.after:
        st.text(found.after)
