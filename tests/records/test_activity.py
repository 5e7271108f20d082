from pathlib import Path

from records.activity import ActivityLog, good_share_by_day, worst_rated

EXCHANGE = {"question": "Who is on call? Mail ops@example.com", "answer": "Call +1 415 555 0100.",
            "sources": ["rota.pdf"]}  # fmt: skip


def result(answer_id: str, abstained: bool = False, refused: bool = False) -> dict:
    return {"id": answer_id, "abstained": abstained, "refused": refused, "mode": "generated",
            "sources": [{"source": "rota.pdf"}, {"source": "rota.pdf"}]}  # fmt: skip


def test_answers_keep_timings_and_outcomes_but_no_text(tmp_path: Path) -> None:
    log = ActivityLog(tmp_path / "app.db")
    log.answered(result("a1"), "app", "ada", {"seconds": 2.5, "first_token_s": 0.4, "tokens": 60})
    log.answered(result("a2", abstained=True), "api", None, {"seconds": 0.2})
    log.answered(result("a1"), "api", "bob", {"seconds": 0.0, "cached": True})
    rows = log.answers_since(hours=1)
    assert [(r["answer_id"], r["outcome"], r["cached"]) for r in rows] == [
        ("a1", "answered", False), ("a2", "abstained", False), ("a1", "answered", True)]  # fmt: skip
    assert rows[0]["sources"] == '["rota.pdf"]' and rows[0]["tokens"] == 60
    assert log.known("a2") and not log.known("zz")


def test_ratings_keep_the_exchange_as_the_setting_allows(tmp_path: Path) -> None:
    for mode, question in [("redacted", "Who is on call? Mail [email removed]"),
                           ("full", EXCHANGE["question"]), ("off", "")]:  # fmt: skip
        log = ActivityLog(tmp_path / f"{mode}.db", text=mode)  # type: ignore[arg-type]
        log.rate("a1", -1, "ada", EXCHANGE, comment="Wrong number", correction="Call ops.")
        [row] = log.ratings()
        assert row["question"] == question and row["sources"] == ["rota.pdf"] and row["rating"] == -1
    assert ActivityLog(tmp_path / "redacted.db").ratings()[0]["answer"] == "Call [phone number removed]."


def test_a_second_rating_by_the_same_reader_replaces_the_first(tmp_path: Path) -> None:
    log = ActivityLog(tmp_path / "app.db")
    log.rate("a1", 1, "ada", EXCHANGE)
    log.rate("a1", -1, "ada", EXCHANGE, comment="on second thoughts")
    log.rate("a1", 1, "bob", EXCHANGE)
    assert [(r["user"], r["rating"]) for r in log.ratings()] == [("ada", -1), ("bob", 1)]


def test_good_share_per_day_and_the_worst_rated_questions() -> None:
    ratings = [
        {"at": "2026-11-01T10:00:00", "rating": 1, "question": "q1", "answer": "a", "answer_id": "1", "comment": ""},
        {"at": "2026-11-01T11:00:00", "rating": -1, "question": "q2", "answer": "b", "answer_id": "2", "comment": "x"},
        {"at": "2026-11-02T09:00:00", "rating": -1, "question": "q2", "answer": "b", "answer_id": "3", "comment": ""},
        {"at": "2026-11-02T10:00:00", "rating": -1, "question": "q3", "answer": "c", "answer_id": "4", "comment": ""},
    ]
    assert good_share_by_day(ratings) == [{"day": "2026-11-01", "good": 0.5, "up": 1, "down": 1},
                                          {"day": "2026-11-02", "good": 0.0, "up": 0, "down": 2}]  # fmt: skip
    worst = worst_rated(ratings)
    assert [(w["question"], w["down"], w["comments"]) for w in worst] == [("q2", 2, ["x"]), ("q3", 1, [])]
