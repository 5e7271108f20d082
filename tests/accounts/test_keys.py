from pathlib import Path

import pytest

from accounts.keys import ApiKeyError, KeyStore
from accounts.users import UserStore


@pytest.fixture
def stores(tmp_path: Path) -> tuple[UserStore, KeyStore]:
    users = UserStore(tmp_path / "app.db")
    users.add("ann", "password-ann", "admin")
    users.add("rob", "password-rob", "reader")
    return users, KeyStore(tmp_path / "app.db")


def test_a_key_acts_as_its_user_with_the_users_current_role(stores: tuple[UserStore, KeyStore]) -> None:
    users, keys = stores
    key, record = keys.create("rob")
    caller = keys.caller(key)
    assert caller is not None and (caller.user, caller.role, caller.key) == ("rob", "reader", record.id)
    users.set_role("rob", "admin")
    assert keys.caller(key).role == "admin"  # type: ignore[union-attr]
    users.remove("rob")
    assert keys.caller(key) is None


def test_only_the_hash_is_stored_and_wrong_or_revoked_keys_fail(
    stores: tuple[UserStore, KeyStore], tmp_path: Path
) -> None:
    _, keys = stores
    key, record = keys.create("ann")
    secret = key.split("_", 2)[2]
    assert secret.encode() not in (tmp_path / "app.db").read_bytes()
    assert keys.caller(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert keys.caller("dq_nothing_here") is None and keys.caller("") is None
    keys.revoke(record.id)
    assert keys.caller(key) is None
    assert keys.keys()[0].revoked_at is not None
    with pytest.raises(ApiKeyError, match="keys list"):
        keys.revoke(record.id)


def test_keys_are_for_existing_users_only(stores: tuple[UserStore, KeyStore]) -> None:
    with pytest.raises(ApiKeyError, match="rag users add"):
        stores[1].create("nobody")
