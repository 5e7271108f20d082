"""Collections, groups and grants in a real app.db."""

from pathlib import Path

import pytest

from accounts.collections import DEFAULT, EVERYONE, CollectionError, Collections


def test_default_is_open_to_everyone_and_a_new_collection_to_admins_only(tmp_path: Path) -> None:
    collections = Collections(tmp_path / "app.db")
    assert collections.get(DEFAULT).groups == (EVERYONE,)
    collections.create("finance", "Accounts and budgets")
    assert collections.readable(None) == [DEFAULT]
    assert collections.readable("alice") == [DEFAULT]
    assert collections.readable("root", "admin") == [DEFAULT, "finance"]


def test_a_grant_to_a_group_lets_its_members_in_and_no_one_else(tmp_path: Path) -> None:
    collections = Collections(tmp_path / "app.db")
    collections.create("finance")
    collections.create("legal")
    collections.add_group("accountants")
    collections.add_member("accountants", "alice")
    collections.grant("finance", "accountants")
    assert collections.readable("alice") == [DEFAULT, "finance"]
    assert collections.readable("bob") == [DEFAULT]
    collections.revoke("finance", "accountants")
    assert collections.readable("alice") == [DEFAULT]
    collections.grant("finance", "accountants")
    collections.forget_user("alice")  # removed: a new "alice" starts with no groups
    assert collections.readable("alice") == [DEFAULT]


def test_asking_for_a_collection_one_may_not_read_reads_as_a_missing_one(tmp_path: Path) -> None:
    collections = Collections(tmp_path / "app.db")
    collections.create("legal")
    with pytest.raises(CollectionError) as hidden:
        collections.allowed("bob", "reader", ["legal"])
    with pytest.raises(CollectionError) as missing:
        collections.allowed("bob", "reader", ["nothing-here"])
    assert str(hidden.value).replace("legal", "X") == str(missing.value).replace("nothing-here", "X")
    assert collections.allowed("bob", "reader", None) == [DEFAULT]
    assert collections.allowed("root", "admin", ["legal"]) == ["legal"]


def test_what_cannot_be_done_says_why(tmp_path: Path) -> None:
    collections = Collections(tmp_path / "app.db")
    with pytest.raises(CollectionError, match="cannot be deleted"):
        collections.delete(DEFAULT, 0)
    collections.create("legal")
    with pytest.raises(CollectionError, match="still holds 2 documents"):
        collections.delete("legal", 2)
    with pytest.raises(CollectionError, match="already exists"):
        collections.create("legal")
    with pytest.raises(CollectionError, match="not a valid collection name"):
        collections.create("../etc")
    with pytest.raises(CollectionError, match="no group named"):
        collections.grant("legal", "lawyers")
    with pytest.raises(CollectionError, match="built in"):
        collections.add_group(EVERYONE)
    collections.delete("legal", 0)
    assert [c.name for c in collections.collections()] == [DEFAULT]
