import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from accounts.users import SignInThrottledError, UserError, UserStore, throttle_delay

REPO = Path(__file__).resolve().parents[2]


def test_add_verify_and_roles(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "app.db")
    users.add("ada", "correct horse", "admin")
    users.add("bob", "battery staple")
    assert [(u.name, u.role) for u in users.users()] == [("ada", "admin"), ("bob", "reader")]
    assert users.verify("ada", "correct horse").role == "admin"  # type: ignore[union-attr]
    assert users.verify("ada", "wrong password") is None
    assert users.verify("nobody", "correct horse") is None
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("app.db*"))  # the WAL file too
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


class Clock:
    """Seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_guessing_client_waits_longer_each_time_and_a_fresh_client_still_signs_in(tmp_path: Path) -> None:
    clock = Clock()
    users = UserStore(tmp_path / "app.db", attempts=3, window=timedelta(minutes=15), clock=clock)
    users.add("admin", "correct horse", "admin")
    for _ in range(3):  # the free attempts
        assert users.verify("admin", "guess", client="203.0.113.9") is None
    waits = []
    for _ in range(4):
        with pytest.raises(SignInThrottledError) as throttled:
            users.verify("admin", "correct horse", client="203.0.113.9")  # the attacker's client waits, right or not
        waits.append(throttled.value.retry_after)
        clock.now += throttled.value.retry_after
        assert users.verify("admin", "guess", client="203.0.113.9") is None
    assert waits == [1, 2, 4, 8]
    with pytest.raises(SignInThrottledError):  # other names do not help the guessing client
        users.verify("bob", "guess", client="203.0.113.9")
    signed_in = users.verify("admin", "correct horse", client="198.51.100.7")  # the real admin, elsewhere
    assert signed_in is not None and signed_in.role == "admin"
    outcomes = [row["outcome"] for row in users.sign_ins()]
    assert outcomes[0] == "ok" and outcomes.count("failed") == 7 and outcomes.count("throttled") == 5


def test_failures_from_many_clients_slow_down_only_the_clients_that_failed_on_the_name(tmp_path: Path) -> None:
    clock = Clock()
    users = UserStore(tmp_path / "app.db", attempts=3, clock=clock)
    users.add("admin", "correct horse", "admin")
    for number in range(6):  # a guess each from six addresses
        assert users.verify("admin", "guess", client=f"192.0.2.{number}") is None
    with pytest.raises(SignInThrottledError):  # one of them tries again: the name's throttle applies
        users.verify("admin", "another guess", client="192.0.2.0")
    assert users.verify("admin", "correct horse", client="198.51.100.7") is not None


def test_the_wait_ends_and_a_password_reset_lifts_it(tmp_path: Path) -> None:
    clock = Clock()
    users = UserStore(tmp_path / "app.db", attempts=1, window=timedelta(minutes=15), clock=clock)
    users.add("ada", "correct horse")
    assert users.verify("ada", "guess", client="a") is None
    with pytest.raises(SignInThrottledError, match="wait 1 s"):
        users.verify("ada", "correct horse", client="a")
    clock.now += 1.0
    assert users.verify("ada", "correct horse", client="a") is not None
    assert users.verify("ada", "guess", client="a") is None
    with pytest.raises(SignInThrottledError, match="wait 2 s"):
        users.verify("ada", "guess", client="a")
    users.set_password("ada", "new password!")  # an admin reset lets everyone try again
    assert users.verify("ada", "new password!", client="a") is not None


def test_the_password_check_runs_outside_any_write_transaction(tmp_path: Path) -> None:
    """While argon2 works (tens of ms per attempt, by design), others must be able to write to app.db."""
    path = tmp_path / "app.db"
    users = UserStore(path)
    users.add("ada", "correct horse")
    writable: list[bool] = []
    real = users.hasher

    class ProbingHasher:
        def verify(self, password_hash: str, password: str) -> bool:
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # fails at once if this sign-in holds a write lock
                other.execute("ROLLBACK")
                writable.append(True)
            except sqlite3.OperationalError:
                writable.append(False)
            finally:
                other.close()
            return real.verify(password_hash, password)

    users.hasher = ProbingHasher()  # type: ignore[assignment]
    assert users.verify("ada", "wrong password") is None
    assert users.verify("nobody", "whatever") is None
    assert users.verify("ada", "correct horse") is not None
    assert writable == [True, True, True]


def test_first_admin_from_the_setting_only_when_none_exists(tmp_path: Path) -> None:
    users = UserStore(tmp_path / "app.db")
    assert users.ensure_admin("initial secret") is True
    assert users.ensure_admin("other secret") is False
    assert users.verify("admin", "initial secret") is not None


@pytest.mark.slow  # a subprocess
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
    assert cli("role", "bob", "admin").returncode == 0
    assert UserStore(tmp_path / "app.db").get("bob").role == "admin"  # type: ignore[union-attr]
    assert cli("remove", "bob").returncode == 0
    assert "bob" not in cli("list").stdout


def test_the_wait_doubles_after_the_free_attempts_up_to_the_window() -> None:
    assert [throttle_delay(n, free=3, window=900) for n in range(7)] == [0, 0, 0, 1, 2, 4, 8]
    assert throttle_delay(40, free=3, window=900) == 900
