import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rag.safety.events import GuardEvents
from rag.safety.interactions import InteractionLog


def test_events_are_counted_per_kind_day_and_document(tmp_path: Path) -> None:
    events = GuardEvents(tmp_path / "app.db")
    events.record([("refused:drugs", ""), ("injection_dropped", "a.md"), ("injection_dropped", "a.md")])
    events.record([("refused:drugs", ""), ("pii_in_passage:email", "b.md")])
    assert events.totals() == {"injection_dropped": 2, "pii_in_passage:email": 1, "refused:drugs": 2}
    assert events.totals(days=1) == events.totals()
    assert events.per_document() == {"a.md": {"injection_dropped": 2}, "b.md": {"pii_in_passage:email": 1}}


def test_interactions_are_not_kept_when_off_and_expire_after_the_retention(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    InteractionLog(path, "off", 30).record("q", "a", [], False, False, [])
    assert not path.exists()  # off: not even a table
    log = InteractionLog(path, "full", 7)
    old = (datetime.now(UTC) - timedelta(days=8)).isoformat(timespec="seconds")
    log.record("first", "answer", ["a.md"], False, False, [])
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE interactions SET at = ?", (old,))
    log.record("call me on +1 415-555-0132", "ok", [], False, True, ["refused:hate"])
    kept = log.recent()
    assert [row["question"] for row in kept] == ["call me on +1 415-555-0132"] and kept[0]["refused"] == 1
    InteractionLog(path, "redacted", 7).record("call me on +1 415-555-0132", "ok", [], False, False, [])
    assert log.recent()[0]["question"] == "call me on [phone number removed]"
