"""Admin page, Collections section: collections and who may read them, groups and their members."""

from collections.abc import Callable
from typing import Any

import streamlit as st

from accounts.collections import EVERYONE, CollectionError
from ui import resources
from ui.auth import who
from ui.text import plain


def collections_section() -> None:
    st.subheader("Collections and access")
    if "flash_collections" in st.session_state:
        st.success(plain(st.session_state.pop("flash_collections")))
    collections = resources.collections()
    counts: dict[str, int] = {}
    for document in resources.documents().documents():
        counts[document.collection] = counts.get(document.collection, 0) + 1
    found = collections.collections()
    st.table([{"collection": c.name, "documents": counts.get(c.name, 0), "read by": ", ".join(c.groups) or
               "admins only", "description": c.description} for c in found])  # fmt: skip
    groups = collections.groups()
    with st.form("new-collection", clear_on_submit=True):
        name = st.text_input("New collection", placeholder="e.g. finance", key="new-collection-name")
        description = st.text_input("Description", placeholder="What it holds", key="new-collection-description")
        readers = st.multiselect("Readable by", [EVERYONE, *groups], key="new-collection-groups")
        if st.form_submit_button("Create collection") and name.strip():
            _act(lambda: _create(name.strip(), description, readers), f"Created collection {name.strip()}",
                 ("collection.create", name.strip(), {"groups": readers}))  # fmt: skip
    grants, members = st.columns(2)
    with grants:
        _grants_form([c.name for c in found], [EVERYONE, *groups])
    with members:
        _members_form(groups)


def _create(name: str, description: str, readers: list[str]) -> None:
    collections = resources.collections()
    collections.create(name, description)
    for group in readers:
        collections.grant(name, group)


def _grants_form(collection_names: list[str], group_names: list[str]) -> None:
    with st.form("grants"):
        collection = st.selectbox("Collection", collection_names, key="grant-collection")
        group = st.selectbox("Group", group_names, key="grant-group")
        grant, revoke = st.columns(2)
        if grant.form_submit_button("Grant"):
            _act(lambda: resources.collections().grant(str(collection), str(group)), f"{group} may read {collection}",
                 ("collection.grant", str(collection), {"group": group}))  # fmt: skip
        if revoke.form_submit_button("Revoke"):
            done = f"{group} no longer reads {collection}"
            _act(lambda: resources.collections().revoke(str(collection), str(group)), done,
                 ("collection.revoke", str(collection), {"group": group}))  # fmt: skip


def _members_form(groups: dict[str, list[str]]) -> None:
    for group, people in groups.items():
        st.caption(f"**{plain(group)}**: {plain(', '.join(people)) or 'no members'}")
    with st.form("groups", clear_on_submit=True):
        group = st.text_input("Group", placeholder="e.g. finance-team", key="group-name")
        user = st.selectbox("User", [u.name for u in resources.users().users()], index=None, key="member-user")
        create, join, leave = st.columns(3)
        if create.form_submit_button("Create group") and group.strip():
            _act(lambda: resources.collections().add_group(group.strip()), f"Created group {group.strip()}",
                 ("group.create", group.strip(), {}))  # fmt: skip
        if join.form_submit_button("Add member") and user:
            _act(lambda: resources.collections().add_member(group.strip(), user), f"{user} is in {group.strip()}",
                 ("group.join", group.strip(), {"user": user}))  # fmt: skip
        if leave.form_submit_button("Remove member") and user:
            _act(lambda: resources.collections().remove_member(group.strip(), user), f"{user} left {group.strip()}",
                 ("group.leave", group.strip(), {"user": user}))  # fmt: skip


def _act(action: Callable[[], object], done: str, audited: tuple[str, str, dict[str, Any]]) -> None:
    """Do `action`; once it succeeded, record `audited` (action, target, detail) in the audit trail."""
    try:
        action()
    except CollectionError as err:
        st.error(str(err))
        return
    name, target, detail = audited
    resources.audit_log().record(who(resources.settings()), name, target, **detail)
    st.session_state.flash_collections = done
    st.rerun()


def move_control(source: str, current: str) -> None:
    """Move the chosen document to another collection (the Documents section)."""
    names = [c.name for c in resources.collections().collections()]
    target = st.selectbox("Collection", names, index=names.index(current) if current in names else 0,
                          key=f"move-{source}")  # fmt: skip
    if st.button("Move", key="move-document", disabled=target == current):
        resources.documents().move(source, str(target))
        resources.audit_log().record(who(resources.settings()), "document.move", source, collection=target)
        st.session_state.flash = f"Moved {source} to {target}"
        st.rerun()
