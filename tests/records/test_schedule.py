from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from records.schedule import EvalSchedule


def test_the_schedule_is_validated_and_says_when_it_runs_next(tmp_path: Path) -> None:
    schedule = EvalSchedule(tmp_path / "app.db")
    assert schedule.get() is None
    with pytest.raises(ValueError, match="fields"):
        schedule.set("set.jsonl", "every monday", "none", False, True, "ada")
    with pytest.raises(ValueError):
        schedule.set("set.jsonl", "0 25 * * *", "none", False, True, "ada")  # no hour 25
    made = schedule.set("set.jsonl", "30 3 * * *", "none", True, True, "ada")
    upcoming = made.next_run()
    assert upcoming is not None and (upcoming.hour, upcoming.minute) == (3, 30)
    assert timedelta(0) < upcoming - datetime.now(UTC) <= timedelta(days=1)
    assert EvalSchedule(tmp_path / "app.db").get() == made  # kept in the database, for every process
    paused = schedule.set("set.jsonl", "30 3 * * *", "none", True, False, "ada")
    assert paused.next_run() is None and schedule.fire_if_due(datetime.now(UTC) + timedelta(days=2)) is None


def test_a_due_schedule_requests_one_run_however_many_services_look(tmp_path: Path) -> None:
    schedule = EvalSchedule(tmp_path / "app.db")
    schedule.set("set.jsonl", "* * * * * *", "none", False, True, "ada")  # every second
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert schedule.fire_if_due(datetime.now(UTC) - timedelta(minutes=1)) is None  # not yet
    first = schedule.fire_if_due(later)
    assert first is not None and schedule.fire_if_due(later) is None  # the second look finds it fired
    assert schedule.get().last_fired_at is not None  # type: ignore[union-attr]
    request = schedule.request_by_id(first)
    assert (request.requested_by, request.state, request.set_path) == ("schedule", "queued", "set.jsonl")


def test_requests_are_claimed_once_and_finished_with_their_result(tmp_path: Path) -> None:
    schedule = EvalSchedule(tmp_path / "app.db")
    first = schedule.request("a.jsonl", "none", False, "ada")
    second = schedule.request("b.jsonl", "local", True, "bob")
    claimed = schedule.claim("service-1")
    assert claimed is not None and claimed.id == first and claimed.state == "running"
    assert schedule.claim("service-2").id == second  # type: ignore[union-attr]
    assert schedule.claim("service-3") is None
    schedule.finish(first, "done", "token_f1 0.5", "run-1", Path("/tmp/run-1"))
    assert [(r.id, r.state, r.run_id) for r in schedule.requests()] == [(second, "running", None),
                                                                        (first, "done", "run-1")]  # fmt: skip


def test_a_run_whose_service_went_silent_is_failed_with_the_reason(tmp_path: Path) -> None:
    schedule = EvalSchedule(tmp_path / "app.db")
    request = schedule.request("a.jsonl", "none", False, "ada")
    schedule.claim("gone")  # a service that never beats again
    schedule.beat("alive")
    found = schedule.request_by_id(request)
    assert found.state == "failed" and "stopped during the run" in found.message
    assert [s["id"] for s in schedule.services()] == ["alive"]
