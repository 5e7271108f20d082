"""Saved chats in a real app.db: kept across restarts, visible to their owner only, exported as Markdown."""

from pathlib import Path

import pytest

from accounts.chats import ChatError, ChatStore

TURN = {
    "question": "How much does a parking permit cost?",
    "answer": "It costs 40 euros.",
    "cited": "It costs 40 euros. [1]",
    "sources": [{"source": "handbook.pdf", "page": 3, "score": 0.71, "text": "A permit costs 40 euros."}],
    "citations": [{"sentence": "It costs 40 euros.", "sources": [1]}],
}


def test_a_chat_survives_a_restart_and_only_its_owner_sees_it(tmp_path: Path) -> None:
    chat = ChatStore(tmp_path / "app.db").create("alice", "How much does a parking permit cost?")
    ChatStore(tmp_path / "app.db").add_turn("alice", chat.id, TURN)
    reopened = ChatStore(tmp_path / "app.db")  # a new process
    assert [c.title for c in reopened.chats("alice")] == ["How much does a parking permit cost?"]
    assert reopened.turns("alice", chat.id) == [TURN]
    assert reopened.chats("bob") == []
    for action in (
        lambda: reopened.turns("bob", chat.id),
        lambda: reopened.rename("bob", chat.id, "mine now"),
        lambda: reopened.delete("bob", chat.id),
        lambda: reopened.add_turn("bob", chat.id, TURN),
        lambda: reopened.markdown("bob", chat.id),
    ):
        with pytest.raises(ChatError):
            action()
    assert reopened.turns("alice", chat.id) == [TURN]  # untouched by bob's tries


def test_rename_delete_and_export(tmp_path: Path) -> None:
    chats = ChatStore(tmp_path / "app.db")
    chat = chats.create("alice", "x" * 200)
    assert len(chats.get("alice", chat.id).title) == 80  # long first questions are cut for the title
    chats.rename("alice", chat.id, "Parking")
    chats.add_turn("alice", chat.id, TURN)
    exported = chats.markdown("alice", chat.id)
    assert exported.startswith("# Parking\n")
    assert "## How much does a parking permit cost?\n\nIt costs 40 euros. [1]\n" in exported
    assert "1. **handbook.pdf, page 3**: \u201cA permit costs 40 euros.\u201d" in exported
    chats.delete("alice", chat.id)
    assert chats.chats("alice") == []
