"""Admin page, Operations: the answers of the last day (how many, how they ended, how long they took) and the
audit trail with filters and CSV export."""

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from accounts.audit import COLUMNS, to_csv
from ui import resources


def activity_section() -> None:
    st.subheader("Last 24 hours")
    answers = resources.activity().answers_since(hours=24)
    jobs = resources.job_queue().counts()
    total = len(answers)
    shares = {o: sum(a["outcome"] == o for a in answers) for o in ("answered", "abstained", "refused")}
    seconds = sorted(a["seconds"] for a in answers if not a["cached"])
    cols = st.columns(4)
    cols[0].metric("Questions", total)
    cols[1].metric("Abstained", f"{shares['abstained'] / total:.0%}" if total else "-")
    cols[2].metric("Median answer time", f"{seconds[len(seconds) // 2]:.1f} s" if seconds else "-")
    cols[3].metric("Jobs queued / failed", f"{jobs['queued'] + jobs['running']} / {jobs['failed']}")
    if not answers:
        st.caption("No questions in the last 24 hours (answers from the app and the API are counted).")
        return
    frame = pd.DataFrame(answers)
    frame["hour"] = pd.to_datetime(frame["at"]).dt.floor("h")
    hours = pd.date_range(end=pd.Timestamp.now(tz="UTC").floor("h"), periods=24, freq="h")  # every hour, empty too
    by_outcome = frame.pivot_table(index="hour", columns="outcome", values="answer_id", aggfunc="count", fill_value=0)
    by_outcome = by_outcome.reindex(hours, fill_value=0)
    by_outcome.index = by_outcome.index.strftime("%H:00")
    st.caption("Questions per hour (UTC), by outcome")
    st.bar_chart(by_outcome, sort=False)  # in time order, not by label
    fresh = frame[~frame["cached"]]
    if not fresh.empty:
        st.caption("Answer time per hour (seconds): median and 95th percentile; time to first word (median)")
        timing = fresh.groupby("hour").agg(
            median=("seconds", "median"),
            p95=("seconds", lambda s: s.quantile(0.95)),
            first_word=("first_token_s", "median"),
        )
        timing.index = timing.index.strftime("%H:00")
        st.bar_chart(timing, stack=False, sort=False)


def audit_section() -> None:
    st.subheader("Audit trail")
    audit = resources.audit_log()
    since_col, actor_col, action_col = st.columns(3)
    since = since_col.date_input("Since", datetime.now(UTC).date() - timedelta(days=7), key="audit-since")
    actor = actor_col.text_input("Who", placeholder="any user", key="audit-actor").strip() or None
    action = action_col.text_input("Action", placeholder="e.g. sign_in, document", key="audit-action").strip() or None
    rows = audit.rows(since.isoformat() if since else None, actor, action, limit=500)
    if not rows:
        st.caption("Nothing recorded for these filters.")
        return
    table = [row | {"detail": json.dumps(row["detail"], ensure_ascii=False)} for row in rows]  # shown as text
    st.dataframe(table, hide_index=True, column_order=COLUMNS)
    # made when clicked: a file made with the page would be gone once the jobs section refreshes itself
    export = lambda: to_csv(audit.rows(since.isoformat() if since else None, actor, action, limit=100_000))  # noqa: E731
    st.download_button("Export CSV", export, file_name="audit.csv", mime="text/csv", key="audit-csv", on_click="ignore")
