"""The Admin page's guardrails section: what the guardrails did (questions refused, passages dropped, personal
data redacted) and the passages flagged as prompt injections, per document."""

from collections import Counter

import streamlit as st

from rag.safety.events import GuardEvents
from ui import resources
from ui.text import plain


def _sum(totals: dict[str, int], prefix: str) -> int:
    return sum(count for kind, count in totals.items() if kind.startswith(prefix))


def guardrails_section() -> None:
    st.subheader("Guardrails")
    settings = resources.settings()
    st.caption(
        f"Question policy {'on' if settings.question_policy else 'off'} · prompt injections: {settings.injection} "
        f"· personal data: {settings.pii} · interaction log: {settings.log_interactions}"
    )
    events = GuardEvents(settings.database)
    for label, days in (("Last 24 hours", 1), ("All time", None)):
        totals = events.totals(days)
        cells = st.columns(4)
        cells[0].metric(f"Refused ({label.lower()})", _sum(totals, "refused:"))
        cells[1].metric("Injections dropped", totals.get("injection_dropped", 0))
        cells[2].metric("Injected answers stopped", totals.get("injection_followed", 0))
        cells[3].metric("Personal data redacted", _sum(totals, "pii_redacted:") + totals.get("pii_blocked", 0))
    refused = {kind.split(":", 1)[1]: n for kind, n in events.totals().items() if kind.startswith("refused:")}
    if refused:
        st.caption("Refused by category: " + ", ".join(f"{k} {v}" for k, v in sorted(refused.items())))
    flagged = resources.documents().store.flagged_chunks()
    per_document = events.per_document()
    counts = Counter(chunk.source for chunk in flagged)
    names = sorted(set(counts) | set(per_document))
    if not names:
        st.caption("No passage of any document reads as an instruction to the model.")
        return
    rows = [
        {"document": name, "flagged passages": counts.get(name, 0),
         "times dropped": per_document.get(name, {}).get("injection_dropped", 0),
         "personal data redacted in passages": _sum(per_document.get(name, {}), "pii_in_passage:")}
        for name in names
    ]  # fmt: skip
    st.table(rows)
    with st.expander(f"Flagged passages ({len(flagged)})"):
        for chunk in flagged:
            where = f"page {chunk.page}" if chunk.page is not None else f"passage {chunk.index + 1}"
            st.markdown(f"**{plain(chunk.source)}**, {where}")
            st.text(f"Reads as an instruction: {chunk.injection}")
            st.text(chunk.text)
