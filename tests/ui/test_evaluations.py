"""The Reports page's Evaluations section (AppTest) with the evaluation service (eval/scheduler.py) on the real
pipeline: an admin sets the schedule and starts a run from the page; the service runs it; the page shows the
next run, the service and the result."""

import json
import socket
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

from accounts.audit import AuditLog
from eval.scheduler import EvaluationService
from rag.settings import Settings
from records.eval_history import History
from tests.app.test_app import reports_page_as
from tests.helpers import HANDBOOK_FACTS


def click(app: AppTest, label: str) -> None:
    next(b for b in app.button if b.label == label).click().run()
    assert not app.exception, app.exception


def test_an_admin_schedules_and_starts_an_evaluation_that_the_service_runs(
    handbook_settings: Settings, handbook_env: dict[str, str], tmp_path: Path
) -> None:
    question_set = tmp_path / "handbook-set.jsonl"
    rows = [
        {"question": q, "reference": fact, "reference_sources": ["handbook.pdf"]} for q, _, fact in HANDBOOK_FACTS[:2]
    ]
    question_set.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    st.cache_resource.clear()
    app = AppTest.from_function(reports_page_as, args=("admin",), default_timeout=300)
    app.run()
    assert not app.exception, app.exception
    assert any("No evaluation service is running" in w.value for w in app.warning)

    app.text_input(key="eval-set").set_value(str(question_set))
    app.text_input(key="eval-cron").set_value("every night")
    click(app, "Save schedule")
    assert "not a cron expression" in app.error[0].value
    app.text_input(key="eval-cron").set_value("15 2 * * *")
    click(app, "Save schedule")
    assert "Schedule saved." in [s.value for s in app.success]
    assert any(c.value.startswith("Next scheduled run:") and "02:15 UTC" in c.value for c in app.caption)
    click(app, "Run now")
    assert any(s.value.startswith("Evaluation ") and s.value.endswith(" requested.") for s in app.success)

    service = EvaluationService(Settings(), tmp_path / "runs", poll_s=0.5)
    ran = service.tick()
    assert ran is not None and ran.set_path == str(question_set)
    app.run()
    assert not app.exception, app.exception
    result = next(s.value for s in app.success if s.value.startswith("Last result"))
    assert ": done." in result and "token_f1" in result
    assert any(socket.gethostname() in c.value for c in app.caption if "Evaluation service running" in c.value)
    finished = service.schedule.request_by_id(ran.id)
    assert (Path(finished.folder) / "report.html").is_file()  # type: ignore[arg-type]
    assert finished.run_id in [run["run_id"] for run in History(handbook_settings.database).runs()]
    actions = [row["action"] for row in AuditLog(handbook_settings.database).rows(action="evaluation.")]
    assert actions == ["evaluation.run", "evaluation.schedule"]
