"""Collections with access per group, on every route: the app (AppTest), the HTTP API (in process, on the real
pipeline) and the CLI. Two collections, two groups: a reader of one asks what only the other answers."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from accounts.collections import Collections
from accounts.keys import KeyStore
from accounts.users import UserStore
from ingest.index import Indexer
from ingest.originals import keep_original
from rag.cli import app as rag_cli
from rag.settings import Settings
from serving.api import make_api
from serving.service import Service
from tests.app.test_app import app_env, sign_in, start_app
from tests.helpers import make_settings

FINANCE = "# Travel budget\n\nThe travel budget of the sales team for 2026 is 12,400 euros per quarter.\n"
LEGAL = "# Supplier contracts\n\nThe notice period of a supplier contract is 90 days, given in writing.\n"
LEGAL_QUESTION = "What is the notice period of a supplier contract?"
PASSWORD = "password-1"


@pytest.fixture(scope="module")
def two_collections(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Settings:
    """finance.md in `finance` (group accountants: alice), legal.md in `legal` (group lawyers: bob)."""
    folder = tmp_path_factory.mktemp("collections")
    settings = make_settings(folder / "data", models_dir, question_policy=False)
    collections = Collections(settings.app_db)
    users = UserStore(settings.app_db)
    for name, role in (("alice", "reader"), ("bob", "reader"), ("root", "admin")):
        users.add(name, PASSWORD, role)  # type: ignore[arg-type]
    for collection, group, member in (("finance", "accountants", "alice"), ("legal", "lawyers", "bob")):
        collections.create(collection)
        collections.add_group(group)
        collections.add_member(group, member)
        collections.grant(collection, group)
    indexer = Indexer.from_settings(settings)
    for name, text, collection in (("finance.md", FINANCE, "finance"), ("legal.md", LEGAL, "legal")):
        path = folder / name
        path.write_text(text, encoding="utf-8")
        assert indexer.ingest(path, name, collection=collection).status == "added"
        keep_original(settings.originals_dir, name, path, indexer.store.document(name))
    return settings


def leaks(text: str) -> bool:
    text = text.replace("\\", "")  # Markdown escapes: "legal\\.md"
    return any(mark in text for mark in ("legal.md", "90 days", "notice period of a supplier"))


def page_text(app: AppTest) -> str:
    """Everything the app shows, as text (element values, labels, options)."""
    return json.dumps([str(element) for element in app.main]) + json.dumps([str(e) for e in app.sidebar])


def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, object]:
    app_env(monkeypatch, settings.data_dir, settings.models_path, question_policy="false")
    result = CliRunner().invoke(rag_cli, ["ask", LEGAL_QUESTION, "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_cli_answers_as_a_user_from_what_that_user_may_read(
    two_collections: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed = cli(two_collections, monkeypatch, "--user", "bob")
    assert [s["source"] for s in allowed["sources"]] == ["legal.md"]  # the question is answerable
    denied = cli(two_collections, monkeypatch, "--user", "alice")
    assert denied["abstained"] is True and denied["sources"] == [] and not leaks(json.dumps(denied))
    result = CliRunner().invoke(rag_cli, ["ask", LEGAL_QUESTION, "--user", "alice", "--collection", "legal"])
    assert result.exit_code == 2 and "no collection named 'legal' that you may read" in result.output


@pytest.fixture(scope="module")
def api(two_collections: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    service = Service.from_settings(two_collections, worker=False)
    keys = KeyStore(two_collections.app_db)
    headers = {user: {"Authorization": f"Bearer {keys.create(user)[0]}"} for user in ("alice", "bob", "root")}
    with TestClient(make_api(service)) as client:
        yield client, headers


def test_the_api_never_gives_a_reader_another_collections_passages(api: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = api
    bob = client.post("/v1/ask", json={"question": LEGAL_QUESTION}, headers=headers["bob"]).json()
    assert [s["source"] for s in bob["sources"]] == ["legal.md"]
    alice = client.post("/v1/ask", json={"question": LEGAL_QUESTION}, headers=headers["alice"])
    assert alice.json()["abstained"] is True and not leaks(alice.text)  # not bob's cached answer either
    streamed = client.post("/v1/ask", json={"question": LEGAL_QUESTION, "stream": True}, headers=headers["alice"])
    assert not leaks(streamed.text)
    chat = {"model": "docqa", "messages": [{"role": "user", "content": LEGAL_QUESTION}]}
    assert not leaks(client.post("/v1/chat/completions", json=chat, headers=headers["alice"]).text)
    listed = client.get("/v1/documents", headers=headers["alice"]).json()["documents"]
    assert [d["source"] for d in listed] == ["finance.md"]
    assert [c["name"] for c in client.get("/v1/collections", headers=headers["alice"]).json()["collections"]] == [
        "default", "finance"
    ]  # fmt: skip
    asked = client.post(
        "/v1/ask", json={"question": LEGAL_QUESTION, "collections": ["legal"]}, headers=headers["alice"]
    )
    missing = client.post(
        "/v1/ask", json={"question": LEGAL_QUESTION, "collections": ["nope"]}, headers=headers["alice"]
    )
    assert asked.status_code == missing.status_code == 404 and not leaks(asked.text)
    hidden = client.get("/v1/documents/legal.md/original", headers=headers["alice"])
    missing = client.get("/v1/documents/nothing.md/original", headers=headers["alice"])
    assert hidden.status_code == missing.status_code == 404 and not leaks(hidden.text.replace("legal.md", ""))
    assert client.get("/v1/documents/finance.md/original", headers=headers["alice"]).status_code == 403
    assert client.get("/v1/documents/legal.md/original", headers=headers["root"]).text == LEGAL
    named = client.post("/v1/ask", json={"question": LEGAL_QUESTION, "sources": ["legal.md"]}, headers=headers["alice"])
    assert named.status_code == 422 and "No document named legal.md" in named.text  # as for a missing one


def test_an_admin_moves_a_document_and_access_follows_at_once(
    api: tuple[TestClient, dict[str, str]], two_collections: Settings
) -> None:
    client, headers = api
    assert (
        client.patch("/v1/documents/legal.md", json={"collection": "finance"}, headers=headers["alice"]).status_code
        == 403
    )
    moved = client.patch("/v1/documents/legal.md", json={"collection": "finance"}, headers=headers["root"])
    assert moved.status_code == 200
    try:
        alice = client.post("/v1/ask", json={"question": LEGAL_QUESTION}, headers=headers["alice"]).json()
        assert [s["source"] for s in alice["sources"]] == ["legal.md"]
        bob = client.post("/v1/ask", json={"question": LEGAL_QUESTION}, headers=headers["bob"]).json()
        assert bob["abstained"] is True and bob["sources"] == []
    finally:
        client.patch("/v1/documents/legal.md", json={"collection": "legal"}, headers=headers["root"])


def test_the_app_shows_a_reader_only_its_collections(
    two_collections: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_env(monkeypatch, two_collections.data_dir, two_collections.models_path, question_policy="false")
    app = start_app()
    sign_in(app, "alice", PASSWORD, where="sidebar")
    assert app.sidebar.multiselect(key="collections").options == ["default", "finance"]
    assert "legal.md" not in app.sidebar.multiselect[1].options
    app.chat_input[0].set_value(LEGAL_QUESTION).run()
    assert not app.exception, app.exception
    assistant = app.chat_message[1]
    assert assistant.text[0].value == "I don't know based on the provided documents."
    assert not leaks(page_text(app).replace(LEGAL_QUESTION, ""))


def test_a_reader_who_loses_access_no_longer_sees_the_passages_of_a_saved_chat(
    two_collections: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_env(monkeypatch, two_collections.data_dir, two_collections.models_path, question_policy="false")
    app = start_app()
    sign_in(app, "bob", PASSWORD, where="sidebar")
    app.chat_input[0].set_value(LEGAL_QUESTION).run()
    assert leaks(app.chat_message[1].expander[0].markdown[0].value)
    assert leaks(page_text(app).replace(LEGAL_QUESTION, ""))  # what the check above would have caught
    collections = Collections(two_collections.app_db)
    collections.revoke("legal", "lawyers")
    try:
        restarted = start_app()  # the chat is reopened from app.db by a new session
        sign_in(restarted, "bob", PASSWORD, where="sidebar")
        saved = [b for b in restarted.sidebar.button if b.key and b.key.startswith("chat-")]
        assert len(saved) == 1
        saved[0].click().run()
        sources = restarted.chat_message[1].expander[0]
        assert "no longer read" in sources.markdown[0].value and not sources.text
        assert not any(leaks(m.value) for m in sources.markdown)
    finally:
        collections.grant("legal", "lawyers")
