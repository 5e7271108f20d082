"""Streamlit front end: chat with the documents, answers streamed, each followed by its sources.

Run with `make run` (or `streamlit run app.py`). All retrieval and model logic lives in `rag/`.
"""

from pathlib import Path
from typing import Any

import streamlit as st

from rag.models import ModelNotFoundError, quiet_model_loading
from rag.pipeline import RagPipeline, Source
from rag.settings import Settings

EMPTY_STORE_HELP = (
    "**No documents yet.** Add files or folders (PDF, Markdown, text) from a terminal in the project folder:\n\n"
    "```\n.venv/bin/python -m ingest add path/to/your/files\n```\n\nthen reload this page."
)


@st.cache_resource(show_spinner="Loading the models (first start only)...")
def load_pipeline() -> RagPipeline:
    quiet_model_loading()
    return RagPipeline.from_settings(Settings())


def show_sources(sources: list[Source]) -> None:
    if not sources:
        return
    with st.expander(f"Sources ({len(sources)})"):
        for number, source in enumerate(sources, start=1):
            where = source.source if source.page is None else f"{source.source}, page {source.page}"
            st.markdown(f"**[{number}] {where}** · relevance {source.score:.2f}")
            st.text(source.text)


def sidebar_options(pipeline: RagPipeline) -> dict[str, Any]:
    settings = pipeline.settings
    with st.sidebar:
        st.header("Answer settings")
        options = {
            "top_k": st.slider("Passages to retrieve (top-k)", 1, 20, settings.top_k),
            "temperature": st.slider("Temperature (0 = greedy)", 0.0, 1.5, settings.temperature, 0.05),
            "max_new_tokens": st.slider("Max answer tokens", 16, 1024, settings.max_new_tokens, 16),
        }
        documents = len(pipeline.store.documents())
        model = Path(pipeline.generator.name).name
        st.caption(f"{documents} document{'s' * (documents != 1)} · model `{model}`")
        if st.button("Clear conversation"):
            st.session_state.messages = []
    return options


def show_history() -> None:
    for message in st.session_state.messages:
        with st.chat_message(message["role"]):
            st.markdown(message["content"])
            show_sources(message.get("sources", []))


def answer_turn(pipeline: RagPipeline, question: str, options: dict[str, Any]) -> None:
    st.session_state.messages.append({"role": "user", "content": question})
    with st.chat_message("user"):
        st.markdown(question)
    with st.chat_message("assistant"):
        answer = pipeline.answer(question, **options)
        st.write_stream(answer.stream())
        show_sources(answer.sources)
    st.session_state.messages.append({"role": "assistant", "content": answer.text, "sources": answer.sources})


def main() -> None:
    st.set_page_config(page_title="Ask your documents", page_icon=":material/description:")
    st.title("Ask your documents")
    try:
        pipeline = load_pipeline()
    except ModelNotFoundError as err:
        st.error(str(err))
        st.stop()
    st.session_state.setdefault("messages", [])
    options = sidebar_options(pipeline)
    empty = pipeline.store.is_empty()
    if empty:
        st.info(EMPTY_STORE_HELP)
    show_history()
    question = st.chat_input("Ask a question about your documents", disabled=empty)
    if question and question.strip():
        answer_turn(pipeline, question.strip(), options)


main()
