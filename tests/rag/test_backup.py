"""`python -m rag backup DIR` / `restore DIR` with the real CLI, models and store: a restored data dir answers the
same question with the same sources, and keeps users, originals and the audit trail."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.audit import AuditLog
from accounts.users import UserStore
from rag.settings import Settings
from tests.helpers import HANDBOOK_FACTS, make_settings

REPO = Path(__file__).resolve().parents[2]


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"RAG_DATA_DIR": str(settings.data_dir), "RAG_MODELS_DIR": str(settings.models_path)}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def ask(settings: Settings, question: str) -> dict:
    done = cli(settings, "-m", "rag", "ask", question, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.timeout(900)
def test_backup_then_restore_into_an_empty_data_dir_answers_the_same(
    tmp_path: Path, models_dir: Path, handbook_pdf: Path
) -> None:
    live = make_settings(tmp_path / "live", models_dir)
    assert cli(live, "-m", "ingest", "add", str(handbook_pdf)).returncode == 0
    UserStore(live.app_db).add("ada", "password-ada", "admin")
    question = HANDBOOK_FACTS[1][0]
    before = ask(live, question)
    assert before["sources"] and not before["abstained"]

    backed_up = cli(live, "-m", "rag", "backup", str(tmp_path / "backup"))
    assert backed_up.returncode == 0, backed_up.stderr
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["documents"] == 1 and manifest["originals"] == 1 and manifest["databases"] == ["app.db"]

    restored = make_settings(tmp_path / "restored", models_dir)
    done = cli(restored, "-m", "rag", "restore", str(tmp_path / "backup"))
    assert done.returncode == 0, done.stderr
    after = ask(restored, question)
    assert [(s["source"], s["page"], s["text"]) for s in after["sources"]] == [
        (s["source"], s["page"], s["text"]) for s in before["sources"]
    ]
    assert after["answer"] == before["answer"]
    assert UserStore(restored.app_db).verify("ada", "password-ada", "test") is not None
    assert [p.name for p in restored.originals_dir.rglob("*.pdf")] == ["handbook.pdf"]
    assert [row["action"] for row in AuditLog(restored.app_db).rows()] == ["backup.restore", "document.add"]
    assert AuditLog(live.app_db).rows()[0]["action"] == "backup.create"  # after the copy: not in it

    again = cli(restored, "-m", "rag", "restore", str(tmp_path / "backup"))
    assert again.returncode == 1 and "not empty" in again.stderr  # never mixes two states
    into_used = cli(live, "-m", "rag", "backup", str(tmp_path / "backup"))
    assert into_used.returncode == 1 and "not empty" in into_used.stderr
    not_a_backup = cli(make_settings(tmp_path / "third", models_dir), "-m", "rag", "restore", str(tmp_path))
    assert not_a_backup.returncode == 1 and "not a backup" in not_a_backup.stderr
