import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from rag.users import LoginLockedError, UserError, UserStore

REPO = Path(__file__).resolve().parents[2]


def test_add_verify_and_roles(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "app.db")
    users.add("ada", "correct horse", "admin")
    users.add("bob", "battery staple")
    assert [(u.name, u.role) for u in users.users()] == [("ada", "admin"), ("bob", "reader")]
    assert users.verify("ada", "correct horse").role == "admin"  # type: ignore[union-attr]
    assert users.verify("ada", "wrong password") is None
    assert users.verify("nobody", "correct horse") is None
    stored = (tmp_path / "app.db").read_bytes()
    assert b"correct horse" not in stored and b"$argon2id$" in stored


def test_bad_input_is_refused_with_a_reason(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "app.db")
    users.add("ada", "correct horse")
    for name, password, role, reason in [
        ("ada", "another one", "reader", "already exists"),
        ("eve", "short", "reader", "at least 8"),
        ("../x", "long enough", "reader", "not a valid user name"),
        ("carl", "long enough", "root", "role must be one of"),
    ]:
        with pytest.raises(UserError, match=reason):
            users.add(name, password, role)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="no user named"):
        users.remove("ghost")


def test_too_many_failures_lock_the_name_until_reset(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "app.db", attempts=3, lockout=timedelta(minutes=15))
    users.add("ada", "correct horse")
    for _ in range(3):
        assert users.verify("ada", "guess") is None
    with pytest.raises(LoginLockedError, match="Too many failed logins"):
        users.verify("ada", "correct horse")  # even the right password, while locked
    users.set_password("ada", "new password!")  # an admin reset lifts the lock
    assert users.verify("ada", "new password!") is not None


def test_lockout_expires(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "app.db", attempts=1, lockout=timedelta(seconds=0))
    users.add("ada", "correct horse")
    assert users.verify("ada", "guess") is None
    assert users.verify("ada", "correct horse") is not None


def test_first_admin_from_the_setting_only_when_none_exists(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "app.db")
    assert users.ensure_admin("initial secret") is True
    assert users.ensure_admin("other secret") is False
    assert users.verify("admin", "initial secret") is not None


def test_users_cli(tmp_path: Path) -> None:
    env = os.environ | {"RAG_DATA_DIR": str(tmp_path)}

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "rag", "users", *args]
        return subprocess.run(command, cwd=REPO, env=env, input=stdin, capture_output=True, text=True, timeout=60)

    assert cli("add", "ada", "--role", "admin", "--password-stdin", stdin="correct horse\n").returncode == 0
    assert cli("add", "bob", "--password-stdin", stdin="battery staple\n").returncode == 0
    assert cli("list", "--json").stdout.count('"role"') == 2
    assert cli("passwd", "bob", "--password-stdin", stdin="new password\n").returncode == 0
    assert UserStore(tmp_path / "app.db").verify("bob", "new password") is not None
    failed = cli("add", "ada", "--password-stdin", stdin="whatever123\n")
    assert failed.returncode == 1 and "already exists" in failed.stderr
    assert cli("remove", "bob").returncode == 0
    assert "bob" not in cli("list").stdout
