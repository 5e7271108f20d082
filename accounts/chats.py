"""Saved chats: a signed-in user's conversations, kept in app.db (list, reopen, rename, delete, export as
Markdown with sources). Every call names the owner, and a chat is only ever found for its owner: another
user's chat id reads as no chat at all. Anonymous readers keep session-only history (nothing is saved)."""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, String, Table, Text, delete, func, insert, select, update

from rag.db import METADATA, engine

CHATS = Table(
    "chats",
    METADATA,
    Column("id", String(32), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("title", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)
TURNS = Table(
    "chat_turns",
    METADATA,
    Column("chat_id", String(32), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("turn", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)
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
    return datetime.now(UTC).isoformat(timespec="microseconds")  # orders chats used within the same second


def title_for(question: str) -> str:
    line = " ".join(question.split())
    return line if len(line) <= MAX_TITLE else line[: MAX_TITLE - 1].rstrip() + "\u2026"


class ChatStore:
    def __init__(self, database: Path | str) -> None:
        self.engine = engine(database)

    def create(self, owner: str, title: str) -> Chat:
        chat = Chat(uuid.uuid4().hex, owner, title_for(title) or "New chat", _now(), _now())
        with self.engine.begin() as db:
            db.execute(insert(CHATS).values(**chat.__dict__))
        return chat

    def chats(self, owner: str) -> list[Chat]:
        """The owner's chats, most recently used first."""
        query = select(CHATS).where(CHATS.c.owner == owner).order_by(CHATS.c.updated_at.desc())
        with self.engine.connect() as db:
            return [Chat(**dict(row)) for row in db.execute(query).mappings()]

    def get(self, owner: str, chat_id: str) -> Chat:
        with self.engine.connect() as db:
            row = db.execute(select(CHATS).where(CHATS.c.id == chat_id, CHATS.c.owner == owner)).mappings().first()
        if row is None:
            raise ChatError("no such chat")
        return Chat(**dict(row))

    def rename(self, owner: str, chat_id: str, title: str) -> None:
        self.get(owner, chat_id)
        with self.engine.begin() as db:
            db.execute(update(CHATS).where(CHATS.c.id == chat_id).values(title=title_for(title) or "Untitled"))

    def delete(self, owner: str, chat_id: str) -> None:
        self.get(owner, chat_id)
        with self.engine.begin() as db:
            db.execute(delete(TURNS).where(TURNS.c.chat_id == chat_id))
            db.execute(delete(CHATS).where(CHATS.c.id == chat_id))

    def delete_all(self, owner: str) -> None:
        """Everything a removed user saved."""
        for chat in self.chats(owner):
            self.delete(owner, chat.id)

    def add_turn(self, owner: str, chat_id: str, turn: dict[str, Any]) -> None:
        """Append one exchange (question, answer, sources, citations ...: plain JSON values)."""
        self.get(owner, chat_id)
        with self.engine.begin() as db:
            position = db.execute(select(func.count()).where(TURNS.c.chat_id == chat_id)).scalar_one()
            row = {"chat_id": chat_id, "position": position, "turn": json.dumps(turn), "created_at": _now()}
            db.execute(insert(TURNS).values(**row))
            db.execute(update(CHATS).where(CHATS.c.id == chat_id).values(updated_at=_now()))

    def turns(self, owner: str, chat_id: str) -> list[dict[str, Any]]:
        self.get(owner, chat_id)
        query = select(TURNS.c.turn).where(TURNS.c.chat_id == chat_id).order_by(TURNS.c.position)
        with self.engine.connect() as db:
            return [json.loads(turn) for turn in db.execute(query).scalars()]

    def markdown(self, owner: str, chat_id: str) -> str:
        """The chat as Markdown: each question, its answer with citation markers, and the sources listed."""
        chat = self.get(owner, chat_id)
        lines = [f"# {chat.title}", "", f"Saved {chat.updated_at[:19].replace('T', ' ')} (UTC)", ""]
        for turn in self.turns(owner, chat_id):
            lines += [f"## {turn['question']}", "", turn.get("cited") or turn["answer"], ""]
            for number, source in enumerate(turn.get("sources", []), start=1):
                where = source["source"] if source.get("page") is None else f"{source['source']}, page {source['page']}"
                quoted = " ".join(source["text"].split())
                lines += [f"{number}. **{where}**: \u201c{quoted}\u201d"]
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"
