"""Sessions against the stored accounts, on a page with nothing but the account box (AppTest, no model):
tests/app/test_app.py does the same through the whole app."""

import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from accounts.users import UserStore


def account_page() -> None:
    from ui import auth, resources

    auth.refresh_session(resources.users(), resources.settings())
    auth.account_box(resources.users(), resources.settings())


@pytest.fixture
def users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> UserStore:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAG_SESSION_IDLE_MINUTES", "5")
    st.cache_resource.clear()
    store = UserStore(tmp_path / "data" / "app.db")
    store.add("ada", "correct horse", "admin")
    return store


def signed_in(users: UserStore, password: str = "correct horse") -> AppTest:
    app = AppTest.from_function(account_page, default_timeout=60)
    app.session_state["user"] = users.verify("ada", password)
    app.session_state["last_seen"] = time.time()
    app.run()
    assert not app.exception, app.exception
    return app


def caption(app: AppTest) -> str | None:
    return next((c.value for c in app.sidebar.caption if c.value.startswith("Signed in as")), None)


def test_a_change_of_role_shows_at_the_next_run_and_a_removal_signs_out(users: UserStore) -> None:
    app = signed_in(users)
    assert caption(app) == "Signed in as **ada** (admin)"
    users.set_role("ada", "reader")
    app.run()
    assert caption(app) == "Signed in as **ada** (reader)"
    users.remove("ada")
    app.run()
    assert caption(app) is None and "account was removed" in app.sidebar.info[0].value


def test_a_new_password_or_a_long_pause_signs_out(users: UserStore) -> None:
    app = signed_in(users)
    users.set_password("ada", "battery staple")
    app.run()
    assert caption(app) is None and app.sidebar.info[0].value == "Your password was changed: sign in again."
    app = signed_in(users, "battery staple")
    app.session_state["last_seen"] = time.time() - 301
    app.run()
    assert caption(app) is None and "5 minutes without activity" in app.sidebar.info[0].value
