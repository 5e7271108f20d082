"""Saved chats: a signed-in user's conversations, kept in app.db (list, reopen, rename, delete, export as
Markdown with sources). Every call names the owner, and a chat is only ever found for its owner: another
user's chat id reads as no chat at all. Anonymous readers keep session-only history (nothing is saved)."""

import json
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.db import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, title TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chats_by_owner ON chats (owner, updated_at);
CREATE TABLE IF NOT EXISTS chat_turns (
    chat_id TEXT NOT NULL, position INTEGER NOT NULL, turn TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (chat_id, position));
"""
MAX_TITLE = 80


class ChatError(LookupError):
    """No such chat for this user."""


@dataclass(frozen=True)
class Chat:
    id: str
    owner: str
    title: str
    created_at: str
    updated_at: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def title_for(question: str) -> str:
    line = " ".join(question.split())
    return line if len(line) <= MAX_TITLE else line[: MAX_TITLE - 1].rstrip() + "\u2026"


class ChatStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connect() as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path)

    def create(self, owner: str, title: str) -> Chat:
        chat = Chat(uuid.uuid4().hex, owner, title_for(title) or "New chat", _now(), _now())
        with self._connect() as db:
            db.execute("INSERT INTO chats VALUES (?, ?, ?, ?, ?)", (chat.id, owner, chat.title, chat.created_at,
                                                                   chat.updated_at))  # fmt: skip
        return chat

    def chats(self, owner: str) -> list[Chat]:
        """The owner's chats, most recently used first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM chats WHERE owner = ? ORDER BY updated_at DESC, rowid DESC", (owner,))
            return [Chat(**dict(row)) for row in rows]

    def get(self, owner: str, chat_id: str) -> Chat:
        with self._connect() as db:
            row = db.execute("SELECT * FROM chats WHERE id = ? AND owner = ?", (chat_id, owner)).fetchone()
        if row is None:
            raise ChatError("no such chat")
        return Chat(**dict(row))

    def rename(self, owner: str, chat_id: str, title: str) -> None:
        self.get(owner, chat_id)
        with self._connect() as db:
            db.execute("UPDATE chats SET title = ? WHERE id = ?", (title_for(title) or "Untitled", chat_id))

    def delete(self, owner: str, chat_id: str) -> None:
        self.get(owner, chat_id)
        with self._connect() as db:
            db.execute("DELETE FROM chat_turns WHERE chat_id = ?", (chat_id,))
            db.execute("DELETE FROM chats WHERE id = ?", (chat_id,))

    def delete_all(self, owner: str) -> None:
        """Everything a removed user saved."""
        for chat in self.chats(owner):
            self.delete(owner, chat.id)

    def add_turn(self, owner: str, chat_id: str, turn: dict[str, Any]) -> None:
        """Append one exchange (question, answer, sources, citations ...: plain JSON values)."""
        self.get(owner, chat_id)
        with self._connect() as db:
            position = db.execute("SELECT COUNT(*) FROM chat_turns WHERE chat_id = ?", (chat_id,)).fetchone()[0]
            db.execute("INSERT INTO chat_turns VALUES (?, ?, ?, ?)", (chat_id, position, json.dumps(turn), _now()))
            db.execute("UPDATE chats SET updated_at = ? WHERE id = ?", (_now(), chat_id))

    def turns(self, owner: str, chat_id: str) -> list[dict[str, Any]]:
        self.get(owner, chat_id)
        with self._connect() as db:
            rows = db.execute("SELECT turn FROM chat_turns WHERE chat_id = ? ORDER BY position", (chat_id,))
            return [json.loads(row["turn"]) for row in rows]

    def markdown(self, owner: str, chat_id: str) -> str:
        """The chat as Markdown: each question, its answer with citation markers, and the sources listed."""
        chat = self.get(owner, chat_id)
        lines = [f"# {chat.title}", "", f"Saved {chat.updated_at} (UTC)", ""]
        for turn in self.turns(owner, chat_id):
            lines += [f"## {turn['question']}", "", turn.get("cited") or turn["answer"], ""]
            for number, source in enumerate(turn.get("sources", []), start=1):
                where = source["source"] if source.get("page") is None else f"{source['source']}, page {source['page']}"
                quoted = " ".join(source["text"].split())
                lines += [f"{number}. **{where}**: \u201c{quoted}\u201d"]
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"
