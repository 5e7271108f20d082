"""The Streamlit app driven by Streamlit's own AppTest, with the real models and store."""

import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from accounts.users import UserStore
from rag.settings import Settings

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def start_app() -> AppTest:
    st.cache_resource.clear()  # the pipeline is cached per process; each test has its own data dir
    app = AppTest.from_file(APP, default_timeout=300)
    app.run()
    assert not app.exception, app.exception
    return app


def app_env(monkeypatch: pytest.MonkeyPatch, data: Path, models_dir: Path, **settings: str) -> None:
    """Point the app at a data folder and the provisioned models, with RAG_<NAME> settings on top."""
    monkeypatch.setenv("RAG_DATA_DIR", str(data))
    monkeypatch.setenv("RAG_MODELS_DIR", str(models_dir))
    for name, value in settings.items():
        monkeypatch.setenv(f"RAG_{name.upper()}", value)


def test_empty_store_says_how_to_add_documents(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_env(monkeypatch, tmp_path / "data", models_dir)
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
    assert "40" in assistant.text[0].value  # answers are shown as plain text
    assert "Grounding check:" in assistant.caption[0].value and "sentences backed by the sources" in (
        assistant.caption[0].value
    )
    sources = assistant.expander[0]
    assert sources.label.startswith("Sources (")
    assert "handbook\\.pdf, page 3" in sources.markdown[0].value  # escaped: file names are not Markdown
    assert "40 euros" in sources.text[0].value

    app.chat_input[0].set_value("Where is it sold?").run()  # a follow-up: "it" is the parking permit
    assert not app.exception, app.exception
    follow_up = app.chat_message[3].expander[0]
    assert follow_up.caption[0].value == (
        "Searched for: How much does a monthly parking permit cost? Where is it sold?"
    )
    assert "handbook\\.pdf, page 3" in follow_up.markdown[0].value

    app.chat_input[0].set_value("Who won the 2018 FIFA World Cup?").run()
    assert len(app.chat_message) == 6  # earlier turns stay in the history
    assert app.chat_message[5].text[0].value == "I don't know based on the provided documents."
    assert not app.chat_message[5].expander  # nothing relevant, nothing rewritten: no sources


def test_readers_can_pick_the_documents_to_ask_about(
    reports_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_env(monkeypatch, reports_settings.data_dir, reports_settings.models_path)
    app = start_app()
    picker = app.sidebar.multiselect[0]
    assert picker.label == "Ask about" and picker.options == ["acme-2018.pdf", "acme-2019.pdf", "globex-2018.pdf"]
    question = "What were Acme's purchases of property, plant and equipment in FY2018?"
    app.chat_input[0].set_value(question).run()
    assert not app.exception, app.exception
    sources = app.chat_message[1].expander[0]
    assert sources.caption[0].value == "Searched only: ACME CORPORATION, 2018"  # named in the question
    assert all("acme\\-2018\\.pdf" in m.value for m in sources.markdown)

    app.sidebar.multiselect[0].set_value(["globex-2018.pdf"]).run()
    app.chat_input[0].set_value(question).run()
    assert not app.exception, app.exception
    chosen = app.chat_message[3].expander[0]
    assert chosen.caption[0].value == "Searched only: the documents chosen"
    assert all("globex\\-2018\\.pdf" in m.value for m in chosen.markdown)


def test_questions_too_long_for_the_prompt_get_a_message_not_a_traceback(
    handbook_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_MAX_QUESTION_CHARS", "300")
    monkeypatch.setenv("RAG_CONTEXT_TOKENS", "400")  # room for the question or a passage, not both
    monkeypatch.setenv("RAG_RELEVANCE_THRESHOLD", "-1")  # never abstain before building the prompt
    app = start_app()
    app.chat_input[0].set_value("How much does a monthly parking permit cost? " * 10).run()
    assert not app.exception, app.exception
    user, assistant = app.chat_message
    assert len(user.text[0].value) == 300  # the box takes at most RAG_MAX_QUESTION_CHARS characters
    message = assistant.error[0].value
    assert message.startswith("The question leaves no room for the documents") and "RAG_CONTEXT_TOKENS" in message
    app.chat_input[0].set_value("How much does a monthly parking permit cost?").run()
    assert len(app.chat_message) == 2  # the refused question is not kept as a turn of the chat


def sign_in(app: AppTest, name: str, password: str, where: str = "main") -> None:
    app.text_input(key=f"login-name-{where}").set_value(name)
    app.text_input(key=f"login-password-{where}").set_value(password)
    next(b for b in app.button if b.label == "Sign in").click().run()
    assert not app.exception, app.exception


def test_login_required_for_readers_when_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app_env(
        monkeypatch,
        tmp_path / "data",
        tmp_path / "no-models",  # the sign-in page loads no model
        reader_access="login",
        admin_password="admin-pass-1",
        login_attempts="2",
    )
    app = start_app()
    assert app.info[0].value == "Sign in to ask questions."
    assert not app.chat_input  # nothing to ask with before signing in

    sign_in(app, "admin", "wrong one")
    assert app.error[0].value == "Wrong user name or password."
    users = UserStore(tmp_path / "data" / "app.db")
    for _ in range(4):  # more guesses from this same client (this machine): it now waits 8 s
        users.verify("admin", "another guess", client="local")
    sign_in(app, "admin", "admin-pass-1")  # right, but from the client that keeps guessing
    assert app.error[0].value.startswith("Too many failed sign-ins from here: wait ")
    assert not app.chat_input


def test_a_signed_in_session_follows_its_user_and_ends_when_idle(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_env(monkeypatch, tmp_path / "data", models_dir, session_idle_minutes="5")
    users = UserStore(tmp_path / "data" / "app.db")
    users.add("ada", "correct horse", "admin")
    app = start_app()

    def signed_in_as() -> str | None:
        captions = [c.value for c in app.sidebar.caption if c.value.startswith("Signed in as")]
        return captions[0] if captions else None

    sign_in(app, "ada", "correct horse", where="sidebar")
    assert signed_in_as() == "Signed in as **ada** (admin)"
    users.set_role("ada", "reader")
    app.run()
    assert signed_in_as() == "Signed in as **ada** (reader)"  # demoted: the next run already knows

    users.set_password("ada", "battery staple")
    app.run()
    assert signed_in_as() is None and app.sidebar.info[0].value == "Your password was changed: sign in again."

    sign_in(app, "ada", "battery staple", where="sidebar")
    app.session_state["last_seen"] = time.time() - 6 * 60
    app.run()
    assert signed_in_as() is None
    assert app.sidebar.info[0].value == "Signed out after 5 minutes without activity: sign in again."

    sign_in(app, "ada", "battery staple", where="sidebar")
    users.remove("ada")
    app.run()
    assert signed_in_as() is None
    assert app.sidebar.info[0].value == "Your account was removed: you have been signed out."


def signed_in_as(role: str) -> None:
    """Sign this AppTest session in as a stored user with `role` (the app checks the session against the store)."""
    import streamlit as st

    from ui import resources

    users, name = resources.users(), f"some-{role}"
    st.session_state.user = users.get(name) or users.add(name, "password-1", role)  # type: ignore[arg-type]


def admin_page_as(role: str | None) -> None:
    """Renders the Admin page for a session signed in with `role` (None: anonymous)."""
    from tests.app.test_app import signed_in_as
    from ui import admin

    if role is not None:
        signed_in_as(role)
    admin.render()


@pytest.mark.parametrize("role", [None, "reader"])
def test_admin_page_never_renders_for_others(role: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app_env(monkeypatch, tmp_path / "data", tmp_path / "no-models")
    st.cache_resource.clear()
    app = AppTest.from_function(admin_page_as, args=(role,), default_timeout=300)
    app.run()
    assert app.error[0].value == "This page is for admins."
    assert not app.get("file_uploader") and not app.title


def test_admin_page_renders_for_admins(tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app_env(monkeypatch, tmp_path / "data", models_dir)
    st.cache_resource.clear()
    app = AppTest.from_function(admin_page_as, args=("admin",), default_timeout=300)
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Admin"
    assert app.get("file_uploader")
    subheaders = ["Upload", "Ingestion jobs", "Documents", "Collections and access", "Guardrails", "Last 24 hours",
                  "Audit trail", "Models"]  # fmt: skip
    assert [s.value for s in app.subheader] == subheaders
    assert "No fine-tuned adapter" in app.caption[-1].value


def reports_page_as(role: str) -> None:
    from tests.app.test_app import signed_in_as
    from ui import reports

    signed_in_as(role)
    reports.render()


def test_reports_page_shows_runs_and_trend_to_admins_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eval.report import write_report
    from records.eval_history import History

    data = tmp_path / "data"
    app_env(monkeypatch, data, tmp_path / "no-models")
    history = History(data / "app.db")
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
    from rag.types import Claim
    from ui.ask import show_grounding

    show_grounding([Claim("It costs 40 euros.", True, "supported"), Claim("It costs 55 euros.", False, "numbers")])


def test_unsupported_sentences_are_highlighted_under_the_answer() -> None:
    app = AppTest.from_function(grounding_badge, default_timeout=60)  # importing ui.ask loads torch
    app.run()
    assert app.caption[0].value.endswith("Grounding check: 1 of 2 sentences backed by the sources")
    assert [m.value for m in app.markdown] == [":red-background[It costs 55 euros\\.] · numbers"]


def test_the_app_can_serve_the_api_from_its_own_process(
    handbook_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """RAG_API_PORT: browser sessions and API calls go to the same engine, and so are batched together."""
    import httpx

    from accounts.keys import KeyStore
    from rag.backends import shared_engine
    from tests.app.test_browser import free_port

    port = free_port()
    monkeypatch.setenv("RAG_API_PORT", str(port))
    settings = Settings()
    UserStore(settings.app_db).add("api-reader", "a long password", "reader")
    key = KeyStore(settings.app_db).create("api-reader")[0]
    app = start_app()
    app.chat_input[0].set_value("How much does a monthly parking permit cost?").run()
    assert "40" in app.chat_message[1].text[0].value
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    engine = shared_engine(settings)
    assert health["generator"] == engine.name and engine.stats()["running"] == 0
    asked = httpx.post(f"http://127.0.0.1:{port}/v1/ask", json={"question": "When does the staff cafeteria close?"},
                       headers={"Authorization": f"Bearer {key}"}, timeout=300)  # fmt: skip
    assert "15:00" in asked.json()["answer"]


def test_when_the_engine_is_full_the_reader_is_told_to_retry(
    handbook_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from rag.backends import shared_engine
    from rag.engine import Job

    monkeypatch.setenv("RAG_MAX_BATCH", "1")
    monkeypatch.setenv("RAG_MAX_QUEUE", "1")
    engine = shared_engine(Settings())
    stop = threading.Event()
    busy = engine.stream([{"role": "user", "content": "Tell a long story."}], max_new_tokens=1500,
                         temperature=0.0, top_p=1.0, stop=stop)  # fmt: skip
    next(iter(busy))  # generating: the batch's one place is taken
    waiting = Job([{"role": "user", "content": "Hello"}], 4, stop=stop)
    engine.submit(waiting)  # and the queue's one place
    try:
        app = start_app()
        app.chat_input[0].set_value("How much does a monthly parking permit cost?").run()
        assert not app.exception, app.exception
        assert "busy" in app.warning[0].value and "retry in" in app.warning[0].value
        assert app.session_state["messages"] == []  # not kept as a turn of the chat: it can be asked again
    finally:
        stop.set()
