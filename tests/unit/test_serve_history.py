"""``auditor serve``'s history and diff (``/history``, ``/agencies/{id}/history``, ``/diff``,
``/api/v1/scans``, ``/api/v1/diff``), in process (Starlette's TestClient): what the public,
an agency and an admin each get, cross-agency attempts and guessed scan ids (404, the body of
every other 404), both languages, escaping, the OpenAPI schemas, and that the served diff is
``auditor diff``'s (one logic); plus the pair choice and the per-agency cut it rests on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from auditor.cli import main
from auditor.history import NoPair, choose_pair
from auditor.model import Status
from auditor.serve.app import create_app
from auditor.serve.auth import hash_password
from auditor.store import ScanRecord, Store
from tests.support.factories import HOSTILE, V4, V6, full_registry, inventory, make_store
from tests.unit.test_serve import PASSWORDS, log_in, resolved

__all__ = ["full_registry"]

PORTAL = "portal.example.gov.vn"  # both agencies' host
SNV_HOST = "snv.example.gov.vn"  # so-noi-vu's only
UBND_ZONE = "ubnd.example.gov.vn"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
# Scan 1: the portal fails IPv6; scan 2: it passes again, so-noi-vu's own host loses HSTS
# and ubnd's zone could not be tested for CAA. Scan 3: an evaluation of scan 2 with an
# inventory without ubnd; scan 4: a scan still running.
SCANS = [
    {(PORTAL, "ipv6.web.reach"): Status.FAIL},
    {(SNV_HOST, "http.hsts"): Status.FAIL, (UBND_ZONE, "dns.caa"): Status.NOT_TESTED},
]
PAGES = ("/history", "/diff", "/agencies/ubnd/history")
APIS = ("/api/v1/scans", "/api/v1/diff")


@pytest.fixture
def store(full_registry: None, tmp_path: Path) -> Iterator[Store]:
    st, ids = make_store(tmp_path / "s.db", scans=SCANS)
    with st:
        snv_only = inventory()
        snv_only["agencies"] = [a for a in snv_only["agencies"] if a["id"] == "so-noi-vu"]
        ev = st.begin_scan(
            profile="vn-gov",
            inventory_path="/tmp/inv.yaml",
            inventory_name="Tỉnh Thử nghiệm",
            inventory=snv_only,
            options={},
            kind="evaluation",
            source_scan=ids[1],
        )
        st.finish_scan(ev, "complete", {})
        st.begin_scan(
            profile="vn-gov",
            inventory_path="/tmp/inv.yaml",
            inventory_name="Tỉnh Thử nghiệm",
            inventory=inventory(),
            options={},
        )  # running: never compared
        st.add_user("root", "admin", None, hash_password(PASSWORDS["root"]))
        st.add_user("ubnd1", "agency", "ubnd", hash_password(PASSWORDS["ubnd1"]))
        st.add_user("snv1", "agency", "so-noi-vu", hash_password(PASSWORDS["snv1"]))
        yield st


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store, secret="test-secret")) as c:
        yield c


def not_found_body(client: TestClient) -> str:
    return str(client.get("/agencies/does-not-exist").text)


def agency_rows(html: str) -> set[str]:
    return set(re.findall(r'data-agency="([^"]+)"', html))


# ----------------------------------------------------------------------------- the public


@pytest.mark.parametrize("path", (*PAGES, "/diff?from=1&to=2", "/agencies/so-noi-vu/history"))
def test_public_gets_the_login_form_for_history_and_diff(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 401 and 'action="/login"' in page.text
    assert "Sở Nội vụ" not in page.text and "#2" not in page.text


@pytest.mark.parametrize("path", (*APIS, "/api/v1/diff?from=1&to=2"))
def test_public_gets_401_from_the_history_api(client: TestClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 401
    assert answer.json() == {"error": "authentication required"}


# ----------------------------------------------------------------------------- the admin


def test_admin_history_lists_every_scan_and_every_agencys_trend(client: TestClient) -> None:
    log_in(client, "root")
    page = client.get("/history")
    assert page.status_code == 200 and '<html lang="vi">' in page.text
    assert set(re.findall(r'<tr data-scan="(\d+)"', page.text)) == {"1", "2", "3", "4"}
    assert agency_rows(page.text) == {"ubnd", "so-noi-vu", "empty"}
    assert 'href="/diff?from=1&amp;to=2"' in page.text  # scan 2 since scan 1
    assert 'href="/diff?from=1&amp;to=3"' in page.text  # the evaluation: since its source's
    assert "Kết quả theo trạng thái" in page.text  # the whole scans' finding counts
    assert HOSTILE not in page.text and ESCAPED in page.text
    doc = client.get("/api/v1/scans").json()
    assert [s["id"] for s in doc["scans"]] == [1, 2, 3, 4]
    assert doc["scans"][0]["findings"]["fail"] == 1 and doc["scans"][3]["status"] == "running"
    assert {t["id"] for t in doc["trend"]} == {"ubnd", "so-noi-vu", "empty"}


def test_admin_diff_shows_every_agencys_changes(client: TestClient) -> None:
    log_in(client, "root")
    page = client.get("/diff")
    assert page.status_code == 200
    assert "Thay đổi từ lần quét #1 đến #2" in page.text
    assert agency_rows(page.text) == {"ubnd", "so-noi-vu"}  # "empty" has nothing to change
    assert f'href="/hosts/{SNV_HOST}"' in page.text and "http.hsts" in page.text
    assert HOSTILE not in page.text and ESCAPED in page.text  # the findings' messages
    assert page.text == client.get("/diff?from=1&to=2").text  # the default pair, by ids
    doc = client.get("/api/v1/diff").json()
    assert (doc["from"], doc["to"], doc["profile"]) == (1, 2, "vn-gov")
    assert doc["summary"]["regression"] == 2  # HSTS on both addresses of snv's host
    assert doc["summary"]["improvement"] == 1 and doc["summary"]["changed"] == 1
    assert {a["id"] for a in doc["agencies"]} == {"ubnd", "so-noi-vu"}


def test_admin_may_compare_any_two_complete_scans_but_no_other(client: TestClient) -> None:
    log_in(client, "root")
    assert client.get("/diff?to=3").status_code == 200  # the evaluation, against scan 1
    backwards = client.get("/api/v1/diff?from=2&to=1").json()
    assert backwards["summary"]["regression"] == 1  # the portal's IPv6, seen backwards
    body = not_found_body(client)
    for path in ("/diff?to=4", "/diff?from=99", "/diff?to=abc", "/diff?from=-1", "/diff?to=1e3"):
        answer = client.get(path)
        assert answer.status_code == 404 and answer.text == body, path
        assert client.get("/api/v1" + path).json() == {"error": "not found"}, path


def test_the_served_diff_is_auditor_diffs(
    client: TestClient, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    log_in(client, "root")
    served = client.get("/api/v1/diff?from=1&to=2").json()
    assert main(["diff", "--db", store.url, "--from", "1", "--to", "2", "--json"]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in served.items() if k not in ("scans", "profile")} == printed


# ----------------------------------------------------------------------------- an agency


def test_agency_history_is_its_own_trend_only(client: TestClient) -> None:
    log_in(client, "ubnd1")
    page = client.get("/history")
    assert page.status_code == 200
    assert agency_rows(page.text) == {"ubnd"}
    assert "Sở Nội vụ" not in page.text and "Department of Home Affairs" not in page.text
    # The trend's scans only (not the evaluation nor the running scan), without the whole
    # scans' finding counts.
    assert set(re.findall(r'<tr data-scan="(\d+)"', page.text)) == {"1", "2"}
    assert "Kết quả theo trạng thái" not in page.text
    assert page.text == client.get("/agencies/ubnd/history").text
    doc = client.get("/api/v1/scans").json()
    assert [s["id"] for s in doc["scans"]] == [1, 2]
    assert all("findings" not in s and "inventory" not in s for s in doc["scans"])
    assert [t["id"] for t in doc["trend"]] == ["ubnd"]
    assert "so-noi-vu" not in json.dumps(doc)


def test_agency_diff_is_its_own_row_and_its_own_targets(client: TestClient) -> None:
    log_in(client, "ubnd1")
    page = client.get("/diff?lang=en")
    assert page.status_code == 200 and '<html lang="en">' in page.text
    assert "Changes from scan #1 to #2" in page.text
    assert agency_rows(page.text) == {"ubnd"}
    for hidden in ("Sở Nội vụ", "Department of Home Affairs", SNV_HOST, "http.hsts"):
        assert hidden not in page.text, hidden
    # Its shared portal improved; its zone became untestable: a change, not a regression.
    assert f'href="/hosts/{PORTAL}"' in page.text and "dns.caa" in page.text
    doc = client.get("/api/v1/diff").json()
    assert [a["id"] for a in doc["agencies"]] == ["ubnd"]
    assert {c["target"] for c in doc["changes"]} == {PORTAL, UBND_ZONE}
    assert doc["summary"] == {
        "regression": 0, "improvement": 1, "changed": 1, "added": 0, "removed": 0
    }  # fmt: skip
    assert "so-noi-vu" not in json.dumps(doc) and SNV_HOST not in json.dumps(doc)


@pytest.mark.parametrize(
    "path",
    [
        "/agencies/so-noi-vu/history",  # another agency's
        "/agencies/nope/history",  # guessed
        "/diff?to=3",  # a scan whose inventory has no ubnd
        "/diff?from=3&to=2",
        "/diff?to=4",  # running
        "/diff?from=99",  # guessed
        "/diff?to=x",
    ],
)
def test_agency_gets_404_for_anything_not_its_own(client: TestClient, path: str) -> None:
    log_in(client, "ubnd1")
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.text == not_found_body(client)  # the same body as any other 404
    assert "Sở Nội vụ" not in answer.text
    if path.startswith("/diff"):
        denied = client.get("/api/v1" + path)
        assert denied.status_code == 404 and denied.json() == {"error": "not found"}


def test_the_other_agency_sees_its_regression(client: TestClient) -> None:
    log_in(client, "snv1")
    doc = client.get("/api/v1/diff").json()
    assert [a["id"] for a in doc["agencies"]] == ["so-noi-vu"]
    assert doc["summary"]["regression"] == 2 and UBND_ZONE not in json.dumps(doc)
    assert client.get("/diff?to=3").status_code == 200  # its agency is in the evaluation
    assert client.get("/agencies/ubnd/history").status_code == 404


def test_what_could_not_be_tested_is_served_to_its_agency_only(client: TestClient) -> None:
    log_in(client, "ubnd1")
    page = client.get("/agencies/ubnd").text
    section = page.split('id="untested"', 1)[1].split("<h2", 1)[0]
    assert f'href="/zones/{UBND_ZONE}"' in section and "s-not_tested" in section
    assert ESCAPED in section and HOSTILE not in section
    zone = client.get(f"/zones/{UBND_ZONE}").text
    assert "s-not_tested" in zone
    log_in(client, "snv1")
    assert client.get(f"/zones/{UBND_ZONE}").status_code == 404


def test_a_store_with_one_scan_says_there_is_nothing_to_compare(
    full_registry: None, tmp_path: Path
) -> None:
    st, _ids = make_store(tmp_path / "one.db")
    with st:
        st.add_user("root", "admin", None, hash_password(PASSWORDS["root"]))
        with TestClient(create_app(st, secret="s")) as client:
            log_in(client, "root")
            page = client.get("/diff?lang=en")
            assert page.status_code == 200 and "no earlier complete scan" in page.text
            assert client.get("/api/v1/diff").status_code == 404
            assert client.get("/history").status_code == 200


# ----------------------------------------------------------------------------- the contract


def test_history_answers_match_the_openapi_document(client: TestClient) -> None:
    import jsonschema

    doc = client.get("/api/v1/openapi.json").json()
    for name in ("root", "ubnd1"):
        log_in(client, name)
        for template, path in (("/scans", "/scans"), ("/diff", "/diff?from=1&to=2")):
            responses = doc["paths"][template]["get"]["responses"]
            answer = client.get("/api/v1" + path)
            assert answer.status_code == 200, (name, path)
            schema = resolved(responses["200"]["content"]["application/json"]["schema"], doc)
            jsonschema.validate(answer.json(), schema)
        denied = client.get("/api/v1/diff?from=99")
        error = resolved(
            doc["paths"]["/diff"]["get"]["responses"]["404"]["content"]["application/json"][
                "schema"
            ],
            doc,
        )
        jsonschema.validate(denied.json(), error)
    diff_schema = resolved({"$ref": "#/components/schemas/Diff"}, doc)
    with pytest.raises(jsonschema.ValidationError):  # not vacuous
        jsonschema.validate({"from": 1}, diff_schema)


def test_pages_link_the_history_and_the_diff_when_signed_in(client: TestClient) -> None:
    assert 'href="/history"' not in client.get("/").text
    log_in(client, "ubnd1")
    index = client.get("/").text
    assert 'href="/history"' in index and 'href="/diff"' in index


# ----------------------------------------------------------------------------- the logic


def _scan(i: int, kind: str = "scan", status: str = "complete", inv: str = "/a") -> ScanRecord:
    return ScanRecord(
        id=i,
        started=f"2026-01-0{i}",
        finished=None,
        status=status,
        kind=kind,
        source_scan=None,
        profile="vn-gov",
        inventory_path=inv,
        inventory_name="x",
        inventory={},
        options={},
        tool_version="0",
        stats={},
    )


def test_choose_pair_as_auditor_diff_chooses() -> None:
    scans = [_scan(1), _scan(2, inv="/b"), _scan(3), _scan(4, "gate"), _scan(5, status="running")]
    by_id = {s.id: s for s in scans}

    def fetch(i: int) -> ScanRecord:
        return by_id[i]

    assert [s.id for s in choose_pair(scans, None, None, fetch)[:2]] == [1, 3]
    assert [s.id for s in choose_pair(scans, None, 3, fetch)[:2]] == [1, 3]
    assert [s.id for s in choose_pair(scans, 2, None, fetch)[:2]] == [2, 3]
    assert [s.id for s in choose_pair(scans, 3, 1, fetch)[:2]] == [3, 1]
    with pytest.raises(NoPair) as caught:
        choose_pair(scans, None, 2, fetch)
    assert (caught.value.reason, caught.value.scan_id) == ("before", 2)
    with pytest.raises(NoPair):
        choose_pair(scans[:2], None, None, fetch)
    with pytest.raises(KeyError):
        choose_pair(scans, 9, None, fetch)


def test_for_agency_keeps_its_row_and_its_changes(store: Store) -> None:
    from reports.data import load_diff, resolve_profile

    before, after = store.scan(1), store.scan(2)
    diff = load_diff(store, before, after, resolve_profile(None, after)[0])
    mine = diff.for_agency("ubnd")
    assert mine is not None and [a.id for a in mine.agencies] == ["ubnd"]
    assert {c.target for c in mine.changes} == {PORTAL, UBND_ZONE}
    assert mine.count("regression") == 0 and diff.count("regression") == 2
    assert diff.for_agency("nope") is None
    assert {c.address for c in diff.changes if c.target == SNV_HOST} == {V4, V6}


def test_a_long_diff_lists_the_first_changes_and_counts_the_rest(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("reports.changes.MAX_CHANGES_SHOWN", 1)
    log_in(client, "root")
    page = client.get("/diff?lang=en").text
    snv = page.split('data-agency="so-noi-vu"', 1)[1].split("</section>", 1)[0]
    assert snv.count('<tr class="c-') == 1  # the first regression only
    assert "2 more changed result(s) not listed here" in snv
    assert len(client.get("/api/v1/diff").json()["changes"]) == 4  # the API has them all


def test_an_admins_history_lists_the_latest_scans_and_counts_the_older(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("auditor.serve.history_views.HISTORY_SCANS", 2)
    log_in(client, "root")
    page = client.get("/history?lang=en").text
    assert set(re.findall(r'<tr data-scan="(\d+)"', page)) == {"3", "4"}
    assert "2 older scan(s) not listed" in page
    doc = client.get("/api/v1/scans").json()
    assert [s["id"] for s in doc["scans"]] == [3, 4] and doc["older"] == 2
