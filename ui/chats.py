"""Saved chats in the sidebar of the Ask page, for signed-in users (accounts/chats.py): start a new one, reopen,
rename, delete, export as Markdown. Anonymous readers keep the session's history only."""

from dataclasses import asdict
from typing import Any

import streamlit as st

from accounts.chats import ChatError, ChatStore
from rag.types import Claim, Source, Turn
from ui import resources
from ui.auth import current_user
from ui.text import plain


def saving() -> tuple[ChatStore, str] | None:
    """The chat store and the signed-in user's name, when this session's chats are saved."""
    user = current_user()
    if user is None or not resources.settings().save_chats:
        return None
    return resources.chats(), user.name


def to_record(message: dict[str, Any], question: str) -> dict[str, Any]:
    """An answered turn as plain JSON values."""
    return {
        "question": question, "answer": message["content"], "cited": message.get("cited"),
        "sources": [asdict(s) for s in message.get("sources", [])], "citations": message.get("citations", []),
        "claims": [asdict(c) for c in message.get("claims", [])], "mode": message.get("mode"),
        "replaced": message.get("replaced", False), "refused": message.get("refused", False),
        "searched_for": message.get("searched_for"), "scope": message.get("scope", []),
        "query": message["turn"].query if message.get("turn") else question, "id": message.get("id"),
    }  # fmt: skip


def to_messages(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A saved turn as the Ask page's two chat messages."""
    answer = {
        "role": "assistant", "content": record["answer"], "cited": record.get("cited"),
        "sources": [Source(**s) for s in record.get("sources", [])], "citations": record.get("citations", []),
        "claims": [Claim(**c) for c in record.get("claims", [])], "mode": record.get("mode"),
        "replaced": record.get("replaced", False), "refused": record.get("refused", False),
        "searched_for": record.get("searched_for"), "scope": record.get("scope", []),
        "turn": Turn(record["question"], record.get("query") or record["question"], record["answer"]),
        "id": record.get("id"), "question": record["question"],
    }  # fmt: skip
    return [{"role": "user", "content": record["question"]}, answer]


def save_turn(question: str, message: dict[str, Any]) -> None:
    found = saving()
    if found is None:
        return
    chats, owner = found
    if st.session_state.get("chat_id") is None:
        st.session_state.chat_id = chats.create(owner, question).id
    try:
        chats.add_turn(owner, st.session_state.chat_id, to_record(message, question))
    except ChatError:  # deleted in another tab meanwhile: start a new one
        st.session_state.chat_id = chats.create(owner, question).id
        chats.add_turn(owner, st.session_state.chat_id, to_record(message, question))


def open_chat(chat_id: str | None) -> None:
    found = saving()
    st.session_state.chat_id = chat_id
    st.session_state.messages = []
    if found is not None and chat_id is not None:
        chats, owner = found
        st.session_state.messages = [m for record in chats.turns(owner, chat_id) for m in to_messages(record)]


def chats_sidebar() -> None:
    found = saving()
    if found is None:
        return
    chats, owner = found
    saved = chats.chats(owner)
    current = st.session_state.get("chat_id")
    if current is not None and current not in {c.id for c in saved}:
        open_chat(None)  # deleted elsewhere
        current = None
    with st.sidebar:
        st.header("Conversations")
        st.button("New chat", icon=":material/add:", on_click=open_chat, args=(None,), key="new-chat")
        for chat in saved[:30]:
            icon = ":material/chat_bubble:" if chat.id == current else ":material/chat_bubble_outline:"
            st.button(plain(chat.title), key=f"chat-{chat.id}", icon=icon, on_click=open_chat, args=(chat.id,),
                      width="stretch")  # fmt: skip
        if current is not None:
            chat_actions(chats, owner, current)


def chat_actions(chats: ChatStore, owner: str, chat_id: str) -> None:
    chat = chats.get(owner, chat_id)
    with st.expander("This conversation"):
        title = st.text_input("Title", chat.title, key=f"title-{chat_id}")
        if st.button("Rename", key="rename-chat") and title.strip():
            chats.rename(owner, chat_id, title)
            st.rerun()
        st.download_button("Export as Markdown", chats.markdown(owner, chat_id), file_name=f"{chat.title[:40]}.md",
                           mime="text/markdown", key="export-chat")  # fmt: skip
        if st.button("Delete", key="delete-chat", type="secondary"):
            chats.delete(owner, chat_id)
            open_chat(None)
            st.rerun()
