"""``auditor serve`` on every store backend (SQLite and PostgreSQL): the same access rules
from the same tables, in process (Starlette's TestClient)."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from auditor.model import Status
from auditor.serve.app import create_app
from auditor.serve.auth import hash_password, new_token
from auditor.store import Store
from tests.support.factories import fill_store, full_registry

__all__ = ["full_registry"]

PORTAL = "portal.example.gov.vn"


def test_access_rules_hold_on_every_backend(full_registry: None, store: Store) -> None:
    fill_store(store, scans=[{(PORTAL, "ipv6.web.reach"): Status.FAIL}])
    store.add_user("ubnd1", "agency", "ubnd", hash_password("ubnd password 1"))
    token, digest = new_token()
    store.add_token("ubnd1", digest)
    with TestClient(create_app(store)) as client:  # the session key from the store's meta
        assert client.get("/").status_code == 200
        assert client.get("/agencies/ubnd").status_code == 401
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        assert csrf
        form = {"username": "ubnd1", "password": "ubnd password 1", "csrf": csrf.group(1)}
        assert client.post("/login", data=form, follow_redirects=False).status_code == 303
        assert client.get("/agencies/ubnd").status_code == 200
        assert client.get(f"/hosts/{PORTAL}").status_code == 200
        assert client.get("/agencies/so-noi-vu").status_code == 404
        assert client.get("/hosts/snv.example.gov.vn").status_code == 404
    with TestClient(create_app(store)) as api:
        auth = {"Authorization": f"Bearer {token}"}
        assert api.get("/api/v1/agencies/ubnd", headers=auth).status_code == 200
        assert api.get("/api/v1/zones/snv.example.gov.vn", headers=auth).status_code == 404
        store.revoke_tokens("ubnd1")
        assert api.get("/api/v1/agencies/ubnd", headers=auth).status_code == 401
    assert [r.event for r in store.audit_log()][:1] == ["login"]
