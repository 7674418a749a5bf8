"""The served dashboard and department paths (issue #18 part 2): a path target
("host/path") is its agency's detail: the agency listing the path opens its page and API
answer, the agency sharing the portal host does not (404, as for a guessed name), the public
gets 401. In process (Starlette's TestClient), a store on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from auditor.model import Finding, Status, TargetKind
from auditor.serve.app import create_app
from auditor.serve.auth import hash_password
from auditor.store import Store, open_store
from tests.support.factories import V4, V6, findings_for, full_registry, inventory
from tests.unit.test_serve import PASSWORDS, log_in

__all__ = ["full_registry"]

PORTAL = "portal.example.gov.vn"  # listed by ubnd ("/") and by so-noi-vu ("/snv/")
TARGET = f"{PORTAL}/snv/"


@pytest.fixture
def store(full_registry: None, tmp_path: Path) -> Iterator[Store]:
    inv = inventory()
    for a in inv["agencies"]:
        for h in a["hosts"]:
            if h["host"] == PORTAL and a["id"] == "so-noi-vu":
                h["paths"] = ["/snv/"]
    st = open_store(tmp_path / "s.db")
    scan_id = st.begin_scan(
        profile="vn-gov",
        inventory_path="/tmp/inv.yaml",
        inventory_name="T",
        inventory=inv,
        options={},
    )
    by_target: dict[tuple[TargetKind, str], list[Finding]] = {}
    for f in findings_for():
        by_target.setdefault((f.target_kind, f.target), []).append(f)
    by_target[(TargetKind.HOST, PORTAL)] += [
        Finding("http.path.reachable", TargetKind.PATH, TARGET, a, Status.FAIL, "/snv/ 404")
        for a in (V4, V6)
    ]
    for (kind, name), items in by_target.items():
        st.save_target(scan_id, kind, name, json.dumps({"host": name}), items, "2026-12-03T00:00Z")
    st.finish_scan(scan_id, "complete", {})
    with st:
        st.add_user("root", "admin", None, hash_password(PASSWORDS["root"]))
        st.add_user("ubnd1", "agency", "ubnd", hash_password(PASSWORDS["ubnd1"]))
        st.add_user("snv1", "agency", "so-noi-vu", hash_password(PASSWORDS["snv1"]))
        yield st


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store, secret="test-secret")) as c:
        yield c


def test_the_path_is_its_agencys_detail(client: TestClient) -> None:
    assert client.get(f"/paths/{TARGET}").status_code == 401
    assert client.get(f"/api/v1/paths/{TARGET}").status_code == 401
    assert log_in(client, "snv1").status_code == 303
    page = client.get(f"/paths/{TARGET}")
    assert page.status_code == 200
    assert "/snv/ 404" in page.text
    doc = client.get(f"/api/v1/paths/{TARGET}").json()
    assert doc["path"]["name"] == TARGET
    assert doc["path"]["agencies"] == ["so-noi-vu"]
    assert {f["address"] for f in doc["path"]["findings"]} == {V4, V6}
    # its agency page links the path's page (the matrix column)
    assert f'href="/paths/{PORTAL}%2Fsnv%2F"' in client.get("/agencies/so-noi-vu").text
    assert client.get(f"/paths/{PORTAL}%2Fsnv%2F").status_code == 200


def test_the_portals_other_owner_gets_404(client: TestClient) -> None:
    assert log_in(client, "ubnd1").status_code == 303
    assert client.get(f"/hosts/{PORTAL}").status_code == 200  # the host it lists
    denied = client.get(f"/paths/{TARGET}")
    guessed = client.get(f"/paths/{PORTAL}/nope/")
    assert denied.status_code == guessed.status_code == 404
    assert denied.text == guessed.text.replace("/nope/", "/snv/")
    assert client.get(f"/api/v1/paths/{TARGET}").status_code == 404
    assert "/snv/" not in client.get("/agencies/ubnd").text


def test_a_token_opens_its_own_path_only(client: TestClient, store: Store) -> None:
    from auditor.serve.auth import new_token

    token, digest = new_token()
    store.add_token("ubnd1", digest)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/v1/hosts/{PORTAL}", headers=auth).status_code == 200
    assert client.get(f"/api/v1/paths/{TARGET}", headers=auth).status_code == 404
    mine, digest = new_token()
    store.add_token("snv1", digest)
    answer = client.get(f"/api/v1/paths/{TARGET}", headers={"Authorization": f"Bearer {mine}"})
    assert answer.status_code == 200 and answer.json()["path"]["agencies"] == ["so-noi-vu"]
    bad = client.get(f"/api/v1/paths/{TARGET}", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_admin_opens_the_path(client: TestClient) -> None:
    assert log_in(client, "root").status_code == 303
    assert client.get(f"/paths/{TARGET}").status_code == 200
    assert client.get(f"/api/v1/paths/{TARGET}").json()["path"]["agencies"] == ["so-noi-vu"]
