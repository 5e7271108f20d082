"""The Admin page's collections section (AppTest, real store): groups, a collection granted to a group, and a
document moved into it, all through the page's own widgets."""

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from accounts.audit import AuditLog
from accounts.collections import Collections
from ingest.index import Indexer
from rag.embedder import SentenceTransformerEmbedder
from rag.store import open_store
from tests.app.test_app import admin_page_as, app_env
from tests.helpers import make_settings


def test_an_admin_makes_a_group_a_collection_and_moves_a_document_into_it(
    tmp_path: Path, models_dir: Path, embedder: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path / "data", models_dir)
    (tmp_path / "budget.md").write_text("# Budget\n\nThe travel budget is 12,400 euros.\n", encoding="utf-8")
    Indexer(open_store(settings), embedder, settings.chunk_size, settings.chunk_overlap).ingest(
        tmp_path / "budget.md", "budget.md"
    )
    app_env(monkeypatch, tmp_path / "data", models_dir)
    st.cache_resource.clear()
    app = AppTest.from_function(admin_page_as, args=("admin",), default_timeout=300)
    app.run()
    assert not app.exception, app.exception

    app.text_input(key="group-name").set_value("accountants")
    next(b for b in app.button if b.label == "Create group").click().run()
    assert not app.exception, app.exception
    app.text_input(key="new-collection-name").set_value("finance")
    app.multiselect(key="new-collection-groups").set_value(["accountants"])
    next(b for b in app.button if b.label == "Create collection").click().run()
    assert not app.exception, app.exception
    assert Collections(settings.app_db).get("finance").groups == ("accountants",)
    assert "Created collection finance" in [s.value for s in app.success]

    app.selectbox(key="move-budget.md").set_value("finance").run()
    next(b for b in app.button if b.label == "Move").click().run()
    assert not app.exception, app.exception
    assert open_store(settings).document("budget.md").collection == "finance"  # type: ignore[union-attr]
    rows = app.table[0].value
    assert rows.loc[rows["name"] == "budget.md", "collection"].tolist() == ["finance"]
    trail = [(r["actor"], r["action"], r["target"], r["detail"]) for r in reversed(AuditLog(settings.database).rows())]
    assert trail == [("some-admin", "group.create", "accountants", {}),
                     ("some-admin", "collection.create", "finance", {"groups": ["accountants"]}),
                     ("some-admin", "document.move", "budget.md", {"collection": "finance"})]  # fmt: skip
