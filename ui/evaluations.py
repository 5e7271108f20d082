"""Reports page, Evaluations section (admins): start an evaluation run now, set or change the schedule, and see
the next run, the evaluation service and the latest requests. The runs themselves happen in the evaluation
service (`python -m eval scheduler`), which the page only asks through the app's database."""

from datetime import UTC, datetime
from pathlib import Path

import streamlit as st

from records.schedule import EvalSchedule, Schedule
from ui import resources
from ui.auth import current_user, who

DEFAULT_SET = "eval/sets/docs-answers.jsonl"
JUDGES = ["none", "endpoint", "local"]
NO_SERVICE = ("No evaluation service is running: runs wait until one starts. Start it beside the app with "
              "`make evaluator` (`python -m eval scheduler`).")  # fmt: skip


def evaluations_section() -> None:
    st.header("Evaluations")
    schedule_store = EvalSchedule(resources.settings().database)
    services = schedule_store.services()
    if services:
        st.caption(f"Evaluation service running on {', '.join(sorted({s['host'] for s in services}))}.")
    else:
        st.warning(NO_SERVICE)
    current = schedule_store.get()
    _schedule_form(schedule_store, current)
    _requests(schedule_store)


def _next_run(schedule: Schedule | None) -> str:
    if schedule is None:
        return "No schedule yet."
    upcoming = schedule.next_run()
    if upcoming is None:
        return f"Schedule paused ({schedule.cron}, {schedule.set_path})."
    return f"Next scheduled run: {upcoming:%Y-%m-%d %H:%M} UTC ({schedule.cron}, {schedule.set_path})."


def _schedule_form(schedule_store: EvalSchedule, current: Schedule | None) -> None:
    if "flash_evaluations" in st.session_state:
        st.success(st.session_state.pop("flash_evaluations"))
    st.caption(_next_run(current))
    with st.form("evaluation"):
        set_path = st.text_input("Question set (a JSONL file on the server)", current.set_path if current else
                                 DEFAULT_SET, key="eval-set")  # fmt: skip
        cron = st.text_input("Schedule (cron, UTC: minute hour day month weekday)",
                             current.cron if current else "0 3 * * 1", key="eval-cron")  # fmt: skip
        judge = st.selectbox("Judge for the RAGAS metrics", JUDGES, JUDGES.index(current.judge) if current else 0,
                             key="eval-judge")  # fmt: skip
        redteam = st.checkbox("Also run the red-team set", current.redteam if current else False, key="eval-redteam")
        enabled = st.checkbox("Scheduled runs on", current.enabled if current else True, key="eval-enabled")
        save, run_now = st.columns(2)
        saving = save.form_submit_button("Save schedule")
        starting = run_now.form_submit_button("Run now")
    if not (saving or starting):
        return
    if not Path(set_path).is_file():
        st.error(f"There is no file {set_path} on the server: give the path of an eval set (JSONL).")
        return
    user = current_user()
    name = user.name if user else "admin"
    audit, actor = resources.audit_log(), who(resources.settings())
    if saving:
        try:
            schedule_store.set(set_path, cron, judge, redteam, enabled, name)  # type: ignore[arg-type]
        except ValueError as err:
            st.error(f"The schedule is not a cron expression: {err}")
            return
        audit.record(actor, "evaluation.schedule", set_path, cron=cron, judge=judge, redteam=redteam, enabled=enabled)
        st.session_state.flash_evaluations = "Schedule saved."
    else:
        request = schedule_store.request(set_path, judge, redteam, name)  # type: ignore[arg-type]
        audit.record(actor, "evaluation.run", set_path, request=request, judge=judge, redteam=redteam)
        st.session_state.flash_evaluations = f"Evaluation {request} requested."
    st.rerun()


def _requests(schedule_store: EvalSchedule) -> None:
    requests = schedule_store.requests(10)
    if not requests:
        return
    latest_done = next((r for r in requests if r.state in ("done", "failed")), None)
    if latest_done is not None:
        show = st.success if latest_done.state == "done" else st.error
        show(f"Last result ({latest_done.finished_at}, {latest_done.set_path}): {latest_done.state}. "
             f"{latest_done.message}")  # fmt: skip
    st.dataframe(
        [{"requested": r.requested_at, "by": r.requested_by, "set": r.set_path, "state": r.state,
          "run": r.run_id or "", "result": r.message} for r in requests],
        hide_index=True,
    )  # fmt: skip
    if any(r.state in ("queued", "running") for r in requests):
        st.caption(f"Refresh the page to follow the runs ({datetime.now(UTC):%H:%M:%S} UTC).")
