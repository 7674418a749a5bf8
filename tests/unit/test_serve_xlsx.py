"""The dashboard's Excel download (auditor/serve/exports.py), in process (Starlette's
TestClient): each role gets exactly the sheets and rows it may (admin everything, an agency
its own rows, the public the ranked summary alone), another agency's id and a guessed one
answer 404 alike, the page and API paths answer denials as the pages and the API do, and
the OpenAPI document names the path."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from starlette.testclient import TestClient

from auditor.model import Status
from auditor.serve.app import create_app
from auditor.serve.auth import hash_password, new_token
from auditor.store import Store, open_store
from reports.xlsx import CONTENT_TYPE
from tests.support.factories import V4, V6, full_registry, make_store
from tests.unit.test_serve import PASSWORDS, PORTAL, SNV_HOST, log_in

__all__ = ["full_registry"]

PATHS = ("/export.xlsx", "/api/v1/export.xlsx")
EVERY_SHEET = ["Ranking", "Hosts x requirements", "Failures and fixes", "Not tested", "Scan"]


@pytest.fixture
def store(full_registry: None, tmp_path: Path) -> Iterator[Store]:
    st, _ids = make_store(
        tmp_path / "s.db",
        scans=[{(PORTAL, "ipv6.web.reach"): Status.FAIL, (SNV_HOST, "http.hsts"): Status.FAIL}],
    )
    with st:
        st.add_user("root", "admin", None, hash_password(PASSWORDS["root"]))
        st.add_user("ubnd1", "agency", "ubnd", hash_password(PASSWORDS["ubnd1"]))
        st.add_user("snv1", "agency", "so-noi-vu", hash_password(PASSWORDS["snv1"]))
        yield st


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store, secret="test-secret")) as c:
        yield c


def workbook(answer: Any) -> Any:
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["content-type"] == CONTENT_TYPE
    assert answer.headers["content-disposition"].startswith('attachment; filename="auditor-scan-')
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    return load_workbook(io.BytesIO(answer.content))


def agency_ids(ws: Any) -> set[str]:
    head, *body = list(ws.iter_rows(values_only=True))
    at = head.index("Agency ID")
    return {r[at] for r in body}


def every_text(wb: Any) -> str:
    return "\n".join(
        str(v) for ws in wb.worksheets for r in ws.iter_rows(values_only=True) for v in r if v
    )


def get(client: TestClient, path: str, query: str = "", **kw: Any) -> Any:
    return client.get(f"{path}?lang=en{query}", **kw)


# ----------------------------------------------------------------------------- the public


@pytest.mark.parametrize("path", PATHS)
def test_public_gets_the_ranked_summary_sheet_alone(client: TestClient, path: str) -> None:
    answer = get(client, path)
    wb = workbook(answer)
    assert wb.sheetnames == ["Ranking"]
    assert agency_ids(wb.worksheets[0]) == {"empty", "so-noi-vu", "ubnd"}
    text = every_text(wb)
    for hidden in (V4, V6, PORTAL, SNV_HOST, "ipv6.web.reach"):
        assert hidden not in text
    assert answer.headers["content-disposition"].endswith('-summary.xlsx"')


@pytest.mark.parametrize("path", PATHS)
def test_public_asking_for_an_agency_gets_401(client: TestClient, path: str) -> None:
    for agency in ("ubnd", "nope"):
        answer = get(client, path, f"&agency={agency}")
        assert answer.status_code == 401
        if path.startswith("/api/"):
            assert answer.json() == {"error": "authentication required"}
            assert answer.headers["www-authenticate"].startswith("Bearer")
        else:
            assert 'action="/login"' in answer.text  # the login form, as the pages do


def test_vietnamese_headers_by_default(client: TestClient) -> None:
    wb = workbook(client.get("/export.xlsx"))
    assert wb.sheetnames == ["Xếp hạng"]


# ----------------------------------------------------------------------------- an agency


@pytest.mark.parametrize("path", PATHS)
def test_agency_gets_every_sheet_with_its_own_rows_only(client: TestClient, path: str) -> None:
    log_in(client, "ubnd1")
    answer = get(client, path)
    wb = workbook(answer)
    assert wb.sheetnames == EVERY_SHEET
    # The ranking is the public one; the detail sheets are the agency's own.
    assert agency_ids(wb.worksheets[0]) == {"empty", "so-noi-vu", "ubnd"}
    for ws in wb.worksheets[1:4]:
        assert agency_ids(ws) <= {"ubnd"}, ws.title
    assert agency_ids(wb.worksheets[1]) == {"ubnd"}
    assert SNV_HOST not in every_text(wb)  # so-noi-vu's own host: not in ubnd's workbook
    assert answer.headers["content-disposition"].endswith('-ubnd.xlsx"')
    same = workbook(get(client, path, "&agency=ubnd"))
    assert agency_ids(same.worksheets[1]) == {"ubnd"}


@pytest.mark.parametrize("path", PATHS)
def test_agency_gets_404_for_another_agency_and_for_a_guess_alike(
    client: TestClient, path: str
) -> None:
    log_in(client, "ubnd1")
    other = get(client, path, "&agency=so-noi-vu")
    guess = get(client, path, "&agency=nope")
    assert other.status_code == guess.status_code == 404
    assert other.content == guess.content  # nothing tells an existing agency from a guess
    assert "Sở Nội vụ" not in other.text


def test_bearer_token_sees_what_its_user_sees(client: TestClient, store: Store) -> None:
    token, digest = new_token()
    store.add_token("snv1", digest)
    auth = {"Authorization": f"Bearer {token}"}
    wb = workbook(get(client, "/api/v1/export.xlsx", headers=auth))
    assert agency_ids(wb.worksheets[1]) == {"so-noi-vu"}
    assert get(client, "/api/v1/export.xlsx", "&agency=ubnd", headers=auth).status_code == 404
    # A token is for the API: the page path asked with it alone is the public's.
    assert workbook(get(client, "/export.xlsx", headers=auth)).sheetnames == ["Ranking"]
    store.revoke_tokens("snv1")
    assert get(client, "/api/v1/export.xlsx", headers=auth).status_code == 401


# ----------------------------------------------------------------------------- an admin


@pytest.mark.parametrize("path", PATHS)
def test_admin_gets_everything_or_one_agency(client: TestClient, path: str) -> None:
    log_in(client, "root")
    wb = workbook(get(client, path))
    assert wb.sheetnames == EVERY_SHEET
    assert agency_ids(wb.worksheets[1]) == {"so-noi-vu", "ubnd"}  # "empty" has no target
    assert SNV_HOST in every_text(wb) and PORTAL in every_text(wb)
    one = workbook(get(client, path, "&agency=so-noi-vu"))
    for ws in one.worksheets[1:4]:
        assert agency_ids(ws) <= {"so-noi-vu"}, ws.title
    assert get(client, path, "&agency=nope").status_code == 404


def test_a_store_without_a_scan_answers_404(tmp_path: Path) -> None:
    with open_store(tmp_path / "empty.db") as st:
        st.add_user("root", "admin", None, hash_password(PASSWORDS["root"]))
        with TestClient(create_app(st, secret="s")) as c:
            assert c.get("/export.xlsx").status_code == 404
            assert c.get("/api/v1/export.xlsx").json() == {"error": "not found"}
            log_in(c, "root")
            assert c.get("/export.xlsx").status_code == 404


def test_served_pages_link_the_download(client: TestClient) -> None:
    assert 'href="/export.xlsx"' in client.get("/").text
    log_in(client, "ubnd1")
    assert 'href="/export.xlsx?agency=ubnd"' in client.get("/agencies/ubnd").text


def test_openapi_document_names_the_export(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    export = doc["paths"]["/export.xlsx"]["get"]
    assert CONTENT_TYPE in export["responses"]["200"]["content"]
    assert {"401", "404"} <= set(export["responses"])
    assert {p["name"] for p in export["parameters"]} == {"agency", "lang"}


# ----------------------------------------------------------------------------- kept workbooks


def test_a_workbook_asked_again_is_not_built_again(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditor.serve import exports
    from reports.xlsx import xlsx_bytes as real

    built: list[tuple[str, Any]] = []

    def counting(data: Any, lang: str, scope: Any) -> bytes:
        built.append((lang, scope))
        return real(data, lang, scope)

    monkeypatch.setattr(exports, "xlsx_bytes", counting)
    log_in(client, "root")
    first = get(client, "/export.xlsx").content
    assert get(client, "/api/v1/export.xlsx").content == first  # the same cut: kept
    assert len(built) == 1
    get(client, "/export.xlsx", "&agency=ubnd")  # another cut
    client.get("/export.xlsx?lang=vi")  # another language
    assert len(built) == 3


def test_kept_workbooks_are_per_scoring_and_bounded(store: Store) -> None:
    from dataclasses import replace

    from auditor.serve.exports import Kept
    from reports.data import load_report
    from reports.xlsx import EVERYTHING, Scope

    data = load_report(store, 1)
    kept = Kept(size=2)
    kept.put(data, "en", EVERYTHING, b"all")
    assert kept.get(data, "en", EVERYTHING) == b"all"
    assert kept.get(replace(data), "en", EVERYTHING) is None  # a re-scoring: built again
    kept.put(data, "en", Scope(summary_only=True), b"summary")
    kept.put(data, "vi", EVERYTHING, b"vi")
    assert kept.get(data, "en", EVERYTHING) is None  # the oldest went
    assert kept.get(data, "vi", EVERYTHING) == b"vi"
    newer = replace(data)
    kept.put(newer, "vi", EVERYTHING, b"newer")  # a new scoring: the older one's go
    assert kept.get(data, "en", Scope(summary_only=True)) is None
    assert kept.get(newer, "vi", EVERYTHING) == b"newer"
    assert len(kept._books) == 1
