"""``auditor serve`` on every store backend (SQLite and PostgreSQL): the same access rules
from the same tables, and the same history and diff, in process (Starlette's TestClient)."""

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


def test_history_and_diff_on_every_backend(full_registry: None, store: Store) -> None:
    fill_store(
        store,
        scans=[
            {(PORTAL, "ipv6.web.reach"): Status.FAIL},
            {("snv.example.gov.vn", "http.hsts"): Status.FAIL},
        ],
    )
    store.add_user("root", "admin", None, hash_password("root password 1"))
    store.add_user("ubnd1", "agency", "ubnd", hash_password("ubnd password 1"))
    for name, password in (("root", "root password 1"), ("ubnd1", "ubnd password 1")):
        with TestClient(create_app(store)) as client:
            assert client.get("/history").status_code == 401
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
            assert csrf
            form = {"username": name, "password": password, "csrf": csrf.group(1)}
            assert client.post("/login", data=form, follow_redirects=False).status_code == 303
            assert client.get("/history").status_code == 200
            assert client.get("/diff").status_code == 200
            scans = client.get("/api/v1/scans").json()["scans"]
            diff = client.get("/api/v1/diff").json()
            assert (diff["from"], diff["to"]) == (scans[0]["id"], scans[1]["id"])
            if name == "root":
                # Counted by the backend (GROUP BY), as `auditor history` counts them.
                assert scans[0]["findings"]["fail"] == 1
                assert diff["summary"]["regression"] == 2
            else:
                assert "findings" not in scans[0]
                assert [a["id"] for a in diff["agencies"]] == ["ubnd"]
                assert diff["summary"]["regression"] == 0
            assert client.get("/api/v1/diff?from=999").status_code == 404
