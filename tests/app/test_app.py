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
    assert "Grounding check:" in assistant.caption[0].value and "sentences backed by the sources" in (
        assistant.caption[0].value
    )
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


def test_login_required_for_readers_when_configured(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAG_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("RAG_READER_ACCESS", "login")
    monkeypatch.setenv("RAG_ADMIN_PASSWORD", "admin-pass-1")
    monkeypatch.setenv("RAG_LOGIN_ATTEMPTS", "2")
    app = start_app()
    assert app.info[0].value == "Sign in to ask questions."
    assert not app.chat_input  # nothing to ask with before signing in

    def sign_in(password: str) -> None:
        app.text_input(key="login-name-main").set_value("admin")
        app.text_input(key="login-password-main").set_value(password)
        app.button[0].click().run()

    sign_in("wrong one")
    assert app.error[0].value == "Wrong user name or password."
    sign_in("wrong two")
    sign_in("admin-pass-1")  # right, but locked after 2 failures
    assert "Too many failed logins for 'admin'" in app.error[0].value
    assert not app.chat_input


def admin_page_as(role: str | None) -> None:
    """Renders the Admin page for a session signed in with `role` (None: anonymous)."""
    import streamlit as st

    from rag.users import User
    from ui import admin

    if role is not None:
        st.session_state.user = User("someone", role, "now")  # type: ignore[arg-type]
    admin.render()


@pytest.mark.parametrize("role", [None, "reader"])
def test_admin_page_never_renders_for_others(
    role: str | None, tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAG_MODELS_DIR", str(models_dir))
    st.cache_resource.clear()
    app = AppTest.from_function(admin_page_as, args=(role,), default_timeout=300)
    app.run()
    assert app.error[0].value == "This page is for admins."
    assert not app.get("file_uploader") and not app.title


def test_admin_page_renders_for_admins(tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAG_MODELS_DIR", str(models_dir))
    st.cache_resource.clear()
    app = AppTest.from_function(admin_page_as, args=("admin",), default_timeout=300)
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Admin"
    assert app.get("file_uploader")
    assert [s.value for s in app.subheader] == ["Upload", "Ingestion jobs", "Documents", "Models"]
    assert "No fine-tuned adapter" in app.caption[-1].value


def reports_page_as(role: str) -> None:
    import streamlit as st

    from rag.users import User
    from ui import reports

    st.session_state.user = User("someone", role, "now")  # type: ignore[arg-type]
    reports.render()


def test_reports_page_shows_runs_and_trend_to_admins_only(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eval.report import History, write_report

    data = tmp_path / "data"
    monkeypatch.setenv("RAG_DATA_DIR", str(data))
    monkeypatch.setenv("RAG_MODELS_DIR", str(models_dir))
    history = History(data / "eval_history.db")
    for number, score in enumerate([0.5, 0.75]):
        report = {"run_id": f"run-{number}", "created_at": f"2026-11-2{number}T02:00:00+00:00", "set": "s.jsonl",
                  "settings": {}, "generator": "g", "embedder": "e", "judge": None, "llm_metrics": "not computed",
                  "summary": {"grounding_check": score, "token_f1": score / 2}, "items": []}  # fmt: skip
        write_report(report, tmp_path / f"run-{number}", history)
    st.cache_resource.clear()
    app = AppTest.from_function(reports_page_as, args=("admin",), default_timeout=300)
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Reports"
    assert [s.value for s in app.subheader] == ["Trend", "Runs", "Latest report (run-1)"]
    assert list(app.table[0].value["run"]) == ["run-1", "run-0"]

    reader = AppTest.from_function(reports_page_as, args=("reader",), default_timeout=300)
    reader.run()
    assert reader.error[0].value == "This page is for admins." and not reader.table


def grounding_badge() -> None:
    from eval.grounding import Claim
    from ui.ask import show_grounding

    show_grounding([Claim("It costs 40 euros.", True, "supported"), Claim("It costs 55 euros.", False, "numbers")])


def test_unsupported_sentences_are_highlighted_under_the_answer() -> None:
    app = AppTest.from_function(grounding_badge, default_timeout=60)  # importing ui.ask loads torch
    app.run()
    assert app.caption[0].value.endswith("Grounding check: 1 of 2 sentences backed by the sources")
    assert [m.value for m in app.markdown] == [":red-background[It costs 55 euros.] · numbers"]
