"""The Reports page (admins): evaluation runs from `python -m eval run` / `schedule`, the latest report, trends."""

from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from records.eval_history import TREND_METRICS, History
from ui import resources
from ui.auth import current_user


def render() -> None:
    user = current_user()
    if user is None or user.role != "admin":
        st.error("This page is for admins.")
        st.stop()
    st.title("Reports")
    history = History(resources.settings().data_dir / "eval_history.db")
    runs = history.runs()
    if not runs:
        st.info(
            "No evaluation runs yet. Run `python -m eval run --set SET.jsonl --out DIR` or `python -m eval schedule`."
        )
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
