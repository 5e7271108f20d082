import csv
import io
import json
from pathlib import Path

from accounts.audit import AuditLog, Who, record_settings, to_csv

ADA = Who("ada", "10.0.0.7")


def test_rows_come_back_newest_first_and_filter_by_time_actor_and_action_prefix(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "app.db")
    audit.record(ADA, "sign_in.ok", "ada")
    audit.record(Who("anonymous", "10.0.0.9"), "sign_in.failed", "bob")
    audit.record(ADA, "document.delete", "old.pdf", reason="outdated")
    rows = audit.rows()
    assert [r["action"] for r in rows] == ["document.delete", "sign_in.failed", "sign_in.ok"]
    assert rows[0] == rows[0] | {
        "actor": "ada",
        "target": "old.pdf",
        "origin": "10.0.0.7",
        "detail": {"reason": "outdated"},
    }
    assert [r["action"] for r in audit.rows(action="sign_in")] == ["sign_in.failed", "sign_in.ok"]
    assert [r["target"] for r in audit.rows(actor="ada")] == ["old.pdf", "ada"]
    assert audit.rows(action="sign%in") == []  # a prefix, not a LIKE pattern
    assert audit.rows(since="2999-01-01") == [] and len(audit.rows(since="2000-01-01")) == 3


def test_a_second_instance_sees_the_same_rows(tmp_path: Path) -> None:
    AuditLog(tmp_path / "app.db").record(ADA, "user.add", "bob", role="reader")
    assert AuditLog(tmp_path / "app.db").rows()[0]["detail"] == {"role": "reader"}


def test_csv_export_quotes_and_defuses_formulas(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "app.db")
    audit.record(ADA, "document.upload", '=HYPERLINK("http://evil")', job=3)
    parsed = list(csv.DictReader(io.StringIO(to_csv(audit.rows()))))
    assert parsed[0]["target"] == '\'=HYPERLINK("http://evil")' and json.loads(parsed[0]["detail"]) == {"job": 3}
    assert list(parsed[0]) == ["at", "actor", "action", "target", "origin", "detail"]


def test_settings_are_recorded_at_start_only_when_they_changed(tmp_path: Path) -> None:
    audit, system = AuditLog(tmp_path / "app.db"), Who("system", "host")
    record_settings(audit, system, {"top_k": 5, "pii": "redact"}, "app")
    record_settings(audit, system, {"top_k": 5, "pii": "redact"}, "api")
    record_settings(audit, system, {"top_k": 8, "pii": "redact"}, "app")
    rows = audit.rows(action="settings.")
    assert [r["detail"]["changed"] for r in rows] == [["top_k"], ["pii", "top_k"]]
    assert rows[0]["detail"]["settings"] == {"top_k": 8, "pii": "redact"} and rows[0]["target"] == "app"
