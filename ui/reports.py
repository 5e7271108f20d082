"""The Reports page (admins): readers' ratings of answers, and evaluation runs from `python -m eval run` / `schedule`
with the latest report and trends."""

from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from records.activity import good_share_by_day, worst_rated
from records.eval_history import TREND_METRICS, History
from ui import resources
from ui.auth import current_user
from ui.evaluations import evaluations_section


def render() -> None:
    user = current_user()
    if user is None or user.role != "admin":
        st.error("This page is for admins.")
        st.stop()
    st.title("Reports")
    feedback_section()
    evaluations_section()
    evaluation_section()


def feedback_section() -> None:
    """Readers' ratings: the share of good answers per day, and the answers rated down most."""
    st.header("Readers' ratings")
    ratings = resources.activity().ratings()
    if not ratings:
        st.caption("No ratings yet: readers rate answers with the thumbs under each answer on the Ask page.")
        return
    good = sum(r["rating"] > 0 for r in ratings)
    st.metric("Good answers", f"{good / len(ratings):.0%}", help=f"{good} of {len(ratings)} ratings")
    days = good_share_by_day(ratings)
    st.caption("Ratings per day: good (up) and bad (down)")
    st.bar_chart(days, x="day", y=["up", "down"], color=["#2e7d32", "#c62828"], sort=False)
    worst = worst_rated(ratings)
    if worst:
        st.subheader("Rated down most")
        st.dataframe(
            [w | {"comments": " | ".join(w["comments"])} for w in worst],
            hide_index=True,
            column_order=["down", "question", "answer", "comments", "last"],
        )
    st.caption("Turn ratings into an eval set: `python -m eval feedback-set --out feedback.jsonl`.")


def evaluation_section() -> None:
    st.header("Evaluation history")
    history = History.from_settings(resources.settings())
    runs = history.runs()
    if not runs:
        st.info("No evaluation runs yet: start one above, or run `python -m eval run --set SET.jsonl --out DIR`.")
        return
    sets = sorted({run["set"] for run in runs})
    chosen = st.selectbox("Evaluation set", sets, index=sets.index(runs[-1]["set"]))
    of_set = [run for run in runs if run["set"] == chosen]
    st.subheader("Trend")
    trend = {m: [run["summary"].get(m) for run in of_set] for m in TREND_METRICS}
    st.line_chart({"run": [run["created_at"] for run in of_set], **trend}, x="run", y=TREND_METRICS)
    st.subheader("Runs")
    rows = [
        {"run": r["run_id"], "at": r["created_at"], **{m: r["summary"].get(m) for m in TREND_METRICS}} for r in of_set
    ]
    st.table(list(reversed(rows)))
    latest = Path(of_set[-1]["folder"]) / "report.html"
    st.subheader(f"Latest report ({of_set[-1]['run_id']})")
    if latest.is_file():
        components.html(latest.read_text(encoding="utf-8"), height=900, scrolling=True)
    else:
        st.warning(f"{latest} is missing (moved or deleted).")
