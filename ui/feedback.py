"""Ratings under each answer of the Ask page: thumbs up or down at once, then an optional comment and the answer
it should have given (records/activity.py keeps them, with the exchange as RAG_FEEDBACK_TEXT allows)."""

import logging
from typing import Any

import streamlit as st

from rag.types import Answer
from ui import resources
from ui.auth import current_user

log = logging.getLogger(__name__)
THANKS = "Thanks: your rating is kept with this question and answer (personal data removed) for the team to review."


def answered(answer: Answer) -> None:
    """Record an answer the page gave, for the Admin page's figures (timings and outcome only)."""
    result = {"id": answer.request_id, "abstained": answer.abstained, "refused": answer.refused,
              "mode": answer.mode, "sources": [{"source": s.source} for s in answer.sources]}  # fmt: skip
    timing = {"seconds": answer.elapsed_s(), "first_token_s": answer.first_token_s, "tokens": answer.new_tokens}
    user = current_user()
    try:
        resources.activity().answered(result, "app", user.name if user else None, timing)
    except Exception:  # the figures miss one answer; the reader still has it
        log.warning("could not record an answer's timings", exc_info=True)


def _exchange(message: dict[str, Any]) -> dict[str, Any]:
    return {"question": message["question"], "answer": message["content"],
            "sources": sorted({s.source for s in message.get("sources", [])})}  # fmt: skip


def _save(message: dict[str, Any], rating: int, comment: str = "", correction: str = "") -> None:
    user = current_user()
    resources.activity().rate(message["id"], 1 if rating else -1, user.name if user else None, _exchange(message),
                              comment, correction)  # fmt: skip


def _rated(message: dict[str, Any], key: str) -> None:
    choice = st.session_state.get(key)
    if choice is not None:
        _save(message, choice)
        st.toast(THANKS if resources.settings().feedback_text == "redacted" else "Thanks for your rating.")


def rating_widget(message: dict[str, Any]) -> None:
    """Thumbs under an answer (not under one cut short); once rated, a form for a comment and a correction."""
    answer_id = message.get("id")
    if not answer_id or message.get("stopped") or "question" not in message:
        return
    key = f"rating-{answer_id}"
    choice = st.feedback("thumbs", key=key, on_change=_rated, args=(message, key))
    if choice is None:
        return
    title = "Tell us more" if choice else "What was wrong?"
    with st.expander(title), st.form(f"comment-{answer_id}", clear_on_submit=True, border=False):
        comment = st.text_area("Comment", max_chars=4000, key=f"comment-text-{answer_id}")
        correction = st.text_area(
            "The answer it should have given (optional)", max_chars=8000, key=f"correction-{answer_id}"
        )
        if st.form_submit_button("Send"):
            _save(message, choice, comment, correction)
            st.toast("Thanks: your comment was sent.")
