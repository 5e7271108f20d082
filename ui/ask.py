"""The Ask page: chat with the documents, answers streamed, each followed by its sources."""

from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import streamlit as st

from rag.adapter import AdapterError
from rag.cite import with_markers
from rag.engine import EngineBusyError
from rag.models import ModelNotFoundError
from rag.observe.logs import request_scope
from rag.observe.metrics import ERRORS
from rag.pipeline import QuestionError, RagPipeline
from rag.store import StoreMismatchError
from rag.types import Claim
from ui import resources
from ui.auth import current_user
from ui.chats import chats_sidebar, save_turn
from ui.feedback import answered, rating_widget
from ui.sources import readable_collections, readable_documents, show_citations, show_sources
from ui.text import plain

EMPTY_STORE_HELP = (
    "**No documents yet.** An admin can upload files on the Admin page, or add files or folders from a "
    "terminal in the project folder:\n\n```\n.venv/bin/python -m ingest add path/to/your/files\n```"
)


def sidebar_options(pipeline: RagPipeline) -> dict[str, Any]:
    settings = pipeline.settings
    readable = readable_collections()
    with st.sidebar:
        st.header("Answer settings")
        options = {
            "top_k": st.slider("Passages to retrieve (top-k)", 1, 20, settings.top_k),
            "temperature": st.slider("Temperature (0 = greedy)", 0.0, 1.5, settings.temperature, 0.05),
            "max_new_tokens": st.slider("Max answer tokens", 16, 1024, settings.max_new_tokens, 16),
        }
        collections = readable
        if len(readable) > 1:
            picked = st.multiselect("Collections", readable, placeholder="All you may read", key="collections")
            collections = picked or readable
        options["collections"] = collections
        catalog = pipeline.store.documents_in(collections)
        chosen = st.multiselect(
            "Ask about",
            [d.source for d in catalog],
            placeholder="All documents",
            help="Only these documents are searched. Left empty, a question that names an organisation (and a "
            "year) searches that organisation's documents, others all documents.",
        )
        options["sources"] = chosen or None
        documents = len(catalog)
        model = Path(pipeline.generator.name).name
        mode = settings.retrieval_mode
        st.caption(f"{documents} document{'s' * (documents != 1)} · model `{model}` · {mode} retrieval")
        if current_user() is None and st.button("Clear conversation"):
            st.session_state.messages = []
    return options


def show_grounding(claims: list[Claim]) -> None:
    """A badge with how many answer sentences the passages back, and the ones they do not, highlighted."""
    if not claims:
        return
    supported = sum(claim.supported for claim in claims)
    icon = ":material/verified:" if supported == len(claims) else ":material/warning:"
    st.caption(f"{icon} Grounding check: {supported} of {len(claims)} sentences backed by the sources")
    for claim in claims:
        if not claim.supported:
            st.markdown(f":red-background[{plain(claim.text)}] · {plain(claim.reason)}")


NOTHING_READABLE = "**No documents you may read yet.** An admin decides which collections each group reads."
STOPPED = "(stopped: another question was asked before this answer was finished)"
QUOTED = "Quoted from the documents."
REFUSED = "Refused: the question falls under the guardrails' policy (see README, Safety)."
REPLACED = "Quoted from the documents: the model's own answer was not backed by them."


def stream_text(pieces: Iterable[str], entry: dict[str, Any]) -> Any:
    """Show text as it arrives, as plain text: an answer may repeat what a document says, and a document must
    not be able to put an image (fetched by every reader's browser), a link or a heading on the page. What has
    arrived is kept in the chat's `entry` at once, so an answer cut short by a new question is not lost."""
    box = st.empty()
    for piece in pieces:
        entry["content"] += piece
        box.text(entry["content"])
    return box


def how_made(message: dict[str, Any]) -> None:
    if message.get("refused"):
        st.caption(REFUSED)
    elif message.get("stopped"):
        st.caption(STOPPED)
    elif message.get("mode") == "quoted":
        st.caption(REPLACED if message.get("replaced") else QUOTED)


def show_history() -> None:
    messages = st.session_state.messages
    readable = readable_documents() if any(m.get("sources") for m in messages) else {}  # once per run
    for position, message in enumerate(messages):
        with st.chat_message(message["role"]):
            st.text(message.get("cited") or message["content"])
            how_made(message)
            show_grounding(message.get("claims", []))
            show_citations(message, readable, f"turn-{position}")
            show_sources(message.get("sources", []), readable, message.get("searched_for"), message.get("scope"))
            if message["role"] == "assistant":
                rating_widget(message)


def answer_turn(pipeline: RagPipeline, question: str, options: dict[str, Any]) -> None:
    st.session_state.messages.append({"role": "user", "content": question})
    with st.chat_message("user"):
        st.text(question)
    history = [m["turn"] for m in st.session_state.messages if m.get("turn")]
    with st.chat_message("assistant"):
        try:
            with request_scope():  # the answer's log lines carry its id
                answer = pipeline.answer(question, history=history, **options)
        except (QuestionError, EngineBusyError) as err:  # too long, or too many people asking right now
            ERRORS.labels("busy" if isinstance(err, EngineBusyError) else "invalid_question").inc()
            (st.warning if isinstance(err, EngineBusyError) else st.error)(str(err))
            st.session_state.messages.pop()  # not a turn of the conversation
            return
        searched_for = answer.query if answer.query != question else None
        entry: dict[str, Any] = {"role": "assistant", "content": "", "sources": answer.sources, "id": answer.request_id,
                                 "question": question, "searched_for": searched_for, "scope": answer.scope,
                                 "stopped": True}  # fmt: skip
        st.session_state.messages.append(entry)  # in the chat from the first piece on, whatever happens next
        box = stream_text(answer.stream(), entry)
        _, claims = answer.grounding
        citations = answer.citations
        cited = with_markers(answer.text, citations) if any(c.sources for c in citations) else None
        entry |= {"content": answer.text, "stopped": False, "claims": claims, "turn": answer.turn(),
                  "mode": answer.mode, "replaced": answer.generated_text is not None, "refused": answer.refused,
                  "citations": [asdict(c) for c in citations], "cited": cited}  # fmt: skip
        box.text(cited or answer.text)  # the final text, markers after the sentences their sources back
        how_made(entry)
        show_grounding(claims)
        readable = readable_documents() if answer.sources else {}
        show_citations(entry, readable, f"turn-{len(st.session_state.messages) - 1}")
        show_sources(answer.sources, readable, searched_for, answer.scope)
        answered(answer)
        rating_widget(entry)
        save_turn(question, entry)


def render() -> None:
    st.title("Ask your documents")
    try:
        pipeline = resources.pipeline()
    except (ModelNotFoundError, AdapterError, StoreMismatchError) as err:
        st.error(str(err))
        st.stop()
    st.session_state.setdefault("messages", [])
    chats_sidebar()
    options = sidebar_options(pipeline)
    empty = not pipeline.store.documents_in(options["collections"])
    if pipeline.store.is_empty():
        st.info(EMPTY_STORE_HELP)
    elif empty:
        st.info(NOTHING_READABLE)
    show_history()
    limit = pipeline.settings.max_question_chars
    question = st.chat_input("Ask a question about your documents", disabled=empty, max_chars=limit)
    if question and question.strip():
        answer_turn(pipeline, question.strip(), options)
