"""The dashboard's accounts in the store (revision 0004) on every backend: users, API
tokens (digests, revocation) and the audit log, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest

from auditor.store import Store, StoreError

HOSTILE_NAME = "Nguyễn <b>\x00\uffff"  # NUL and U+FFFF round-trip (schema.StoreText)


def test_users_round_trip(store: Store) -> None:
    uid = store.add_user("root", "admin", None, "$argon2id$x")
    store.add_user(HOSTILE_NAME, "agency", "ubnd", "$argon2id$y")
    with pytest.raises(StoreError, match="exists already"):
        store.add_user("root", "admin", None, "$argon2id$z")
    root = store.user("root")
    assert root is not None and root.id == uid and root.role == "admin" and not root.disabled
    other = store.user(HOSTILE_NAME)
    assert other is not None and other.agency == "ubnd" and other.name == HOSTILE_NAME
    assert store.user_by_id(uid) == root
    assert store.user("nobody") is None and store.user_by_id(999) is None
    assert [u.name for u in store.users()] == sorted(["root", HOSTILE_NAME])
    assert store.update_user("root", disabled=True, password_hash="$argon2id$new")
    changed = store.user("root")
    assert changed is not None and changed.disabled and changed.password_hash == "$argon2id$new"
    assert not store.update_user("nobody", disabled=True)


def test_tokens_are_found_by_digest_until_revoked(store: Store) -> None:
    store.add_user("u", "agency", "ubnd", "h")
    first = store.add_token("u", "digest-1")
    store.add_token("u", "digest-2")
    found = store.token_user("digest-1")
    assert found is not None and found.name == "u" and found.tokens == 2
    assert store.revoke_tokens("u", first) == 1
    assert store.token_user("digest-1") is None
    assert store.token_user("digest-2") is not None
    assert store.revoke_tokens("u") == 1
    assert store.token_user("digest-2") is None and store.revoke_tokens("u") == 0
    with pytest.raises(StoreError):
        store.add_token("nobody", "d")


def test_audit_log_newest_first_and_settings_kept(store: Store) -> None:
    for i in range(3):
        store.audit("login_failed", f"user{i}", "192.0.2.1", "wrong password")
    store.audit("login", "user2", "192.0.2.1", "admin")
    log = store.audit_log(limit=2)
    assert [(r.event, r.username) for r in log] == [("login", "user2"), ("login_failed", "user2")]
    assert store.setting("serve.key", "first") == "first"
    assert store.setting("serve.key", "second") == "first"  # the first writer wins
