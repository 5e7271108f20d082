"""Readers' ratings from the Ask page (AppTest, real models and store) into `eval feedback-set`, and the Admin
page's last-day figures and audit trail."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from accounts.audit import AuditLog, Who
from rag.settings import Settings
from records.activity import ActivityLog
from tests.app.test_app import admin_page_as, app_env, start_app
from tests.helpers import HANDBOOK_FACTS

REPO = Path(__file__).resolve().parents[2]


def test_a_reader_rates_an_answer_down_with_a_correction_that_becomes_an_eval_item(
    handbook_settings: Settings, handbook_env: dict[str, str], tmp_path: Path
) -> None:
    question = HANDBOOK_FACTS[4][0]
    app = start_app()
    app.chat_input[0].set_value(question).run()
    assert not app.exception, app.exception
    answer_id = app.session_state.messages[-1]["id"]
    served = [row for row in ActivityLog(handbook_settings.app_db).answers_since(1) if row["answer_id"] == answer_id]
    assert [(row["channel"], row["outcome"]) for row in served] == [("app", "answered")]
    assert served[0]["seconds"] > 0 and served[0]["sources"] == '["handbook.pdf"]'

    assert [f.value for f in app.feedback] == [None]  # one rating widget, under the answer
    app.feedback[0].set_value(0).run()  # thumbs down
    assert not app.exception, app.exception
    [rating] = [r for r in ActivityLog(handbook_settings.app_db).ratings() if r["answer_id"] == answer_id]
    assert rating["rating"] == -1 and rating["question"] == question and rating["user"] is None

    app.text_area(key=f"comment-text-{answer_id}").set_value("It should say the deadline.")
    app.text_area(key=f"correction-{answer_id}").set_value("Claim travel expenses within 30 days.")
    next(b for b in app.button if b.label == "Send").click().run()
    assert not app.exception, app.exception
    [rating] = [r for r in ActivityLog(handbook_settings.app_db).ratings() if r["answer_id"] == answer_id]
    assert rating["comment"] == "It should say the deadline." and rating["rating"] == -1

    env = os.environ | handbook_env
    out = tmp_path / "feedback.jsonl"
    command = [sys.executable, "-m", "eval", "feedback-set", "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    items = {item["question"]: item for item in map(json.loads, out.read_text().splitlines())}
    assert items[question]["reference"] == "Claim travel expenses within 30 days."
    assert items[question]["made_by"] == "feedback:corrected"


def audit_table(app: AppTest) -> Any:
    return next(frame.value for frame in app.dataframe if "actor" in frame.value.columns)


def test_the_admin_page_shows_the_last_day_and_the_audit_trail_with_csv(
    tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_env(monkeypatch, tmp_path / "data", models_dir)
    settings = Settings()
    result = {"id": "r1", "abstained": False, "refused": False, "mode": "generated", "sources": []}
    ActivityLog(settings.app_db).answered(result, "api", "rob", {"seconds": 3.0, "first_token_s": 0.5, "tokens": 9})
    AuditLog(settings.app_db).record(Who("ada", "10.1.2.3"), "document.delete", "old.pdf")
    st.cache_resource.clear()
    app = AppTest.from_function(admin_page_as, args=("admin",), default_timeout=300)
    app.run()
    assert not app.exception, app.exception
    figures = {m.label: m.value for m in app.metric}
    assert figures["Questions"] == "1" and figures["Median answer time"] == "3.0 s"
    table = audit_table(app)
    assert ("ada", "document.delete", "old.pdf", "10.1.2.3") in set(
        zip(table["actor"], table["action"], table["target"], table["origin"], strict=True)
    )
    app.text_input(key="audit-action").set_value("document").run()
    assert list(audit_table(app)["action"]) == ["document.delete"]
