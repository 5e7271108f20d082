"""The Streamlit app driven by Streamlit's own AppTest, with the real models and store."""

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def start_app() -> AppTest:
    st.cache_resource.clear()  # the pipeline is cached per process; each test has its own data dir
    app = AppTest.from_file(APP, default_timeout=300)
    app.run()
    assert not app.exception, app.exception
    return app


def test_empty_store_says_how_to_add_documents(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAG_MODELS_DIR", str(models_dir))
    app = start_app()
    assert "No documents yet" in app.info[0].value
    assert "python -m ingest add" in app.info[0].value
    assert app.chat_input[0].disabled


def test_a_chat_turn_streams_an_answer_with_its_sources(handbook_env: dict[str, str]) -> None:
    app = start_app()
    assert not app.info  # documents are there: no empty-store message
    assert [s.label for s in app.sidebar.slider] == [
        "Passages to retrieve (top-k)",
        "Temperature (0 = greedy)",
        "Max answer tokens",
    ]
    app.chat_input[0].set_value("How much does a monthly parking permit cost?").run()
    assert not app.exception, app.exception

    user, assistant = app.chat_message
    assert user.name == "user" and assistant.name == "assistant"
    assert "40" in assistant.markdown[0].value
    sources = assistant.expander[0]
    assert sources.label.startswith("Sources (")
    assert "handbook.pdf, page 3" in sources.markdown[0].value
    assert "40 euros" in sources.text[0].value

    app.chat_input[0].set_value("Where is it sold?").run()  # a follow-up: "it" is the parking permit
    assert not app.exception, app.exception
    follow_up = app.chat_message[3].expander[0]
    assert follow_up.caption[0].value == (
        "Searched for: How much does a monthly parking permit cost? Where is it sold?"
    )
    assert "handbook.pdf, page 3" in follow_up.markdown[0].value

    app.chat_input[0].set_value("Who won the 2018 FIFA World Cup?").run()
    assert len(app.chat_message) == 6  # earlier turns stay in the history
    assert app.chat_message[5].markdown[0].value == "I don't know based on the provided documents."
    assert not app.chat_message[5].expander  # nothing relevant, nothing rewritten: no sources
