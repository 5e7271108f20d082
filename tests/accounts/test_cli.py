"""`python -m rag collections ...` and `python -m rag users group ...` on a real app.db and store."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accounts.collections import Collections
from rag.cli import app


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_groups_and_collections_from_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path))
    assert run("users", "add", "alice", "--password-stdin")[0] == 1  # no password given: refused
    CliRunner().invoke(app, ["users", "add", "alice", "--password-stdin"], input="password-1\n")
    assert run("users", "group", "add", "accountants") == (0, "Created group 'accountants'\n")
    assert run("users", "group", "join", "accountants", "alice")[0] == 0
    code, output = run("users", "group", "join", "accountants", "nobody")
    assert code == 1 and "no user named 'nobody'" in output
    assert run("collections", "create", "finance", "--grant", "accountants")[0] == 0
    code, output = run("collections", "list", "--json")
    assert code == 0 and json.loads(output) == [
        {"name": "default", "description": "", "groups": ["everyone"], "documents": 0},
        {"name": "finance", "description": "", "groups": ["accountants"], "documents": 0},
    ]
    assert Collections(tmp_path / "app.db").readable("alice") == ["default", "finance"]
    assert run("users", "remove", "alice")[0] == 0
    assert Collections(tmp_path / "app.db").groups_of("alice") == []  # a new alice starts without them
    code, output = run("collections", "grant", "finance", "lawyers")
    assert code == 1 and "no group named 'lawyers'" in output
    assert run("collections", "delete", "finance") == (0, "Deleted collection 'finance'\n")
