"""The dashboard's schedules (``/schedules``, ``/api/v1/schedules``), in process: an admin sees
every schedule with its next and last runs, an agency's account 404, nobody 401; hostile
text of a run is escaped; the answer matches the OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from auditor.schedules import ScheduleSpec, utc
from auditor.serve.app import create_app
from auditor.serve.auth import new_token
from auditor.store import Store
from tests.unit.test_serve import full_registry, log_in, resolved, store

__all__ = ["full_registry", "store"]

INVENTORY = str(Path(__file__).resolve().parents[2] / "inventories" / "example.yaml")
WEEKLY = ScheduleSpec(name="weekly", inventory=INVENTORY, cron="0 2 * * 1")
HOSTILE_DETAIL = "<script>alert(1)</script>"


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    due = datetime(2026, 11, 30, 2, 0, tzinfo=WEEKLY.zone)
    run = store.begin_schedule_run("weekly", utc(due))
    store.end_schedule_run(run, "failed", 1, HOSTILE_DETAIL)
    store.begin_schedule_run("weekly", utc(due + timedelta(days=7)), "skipped", "still going")
    app = create_app(store, secret="test-secret", schedules=(WEEKLY,), schedules_run_here=True)
    with TestClient(app) as c:
        yield c


def test_an_admin_sees_next_and_last_runs(client: TestClient) -> None:
    log_in(client, "root")
    assert 'href="/schedules"' in client.get("/").text  # the session bar links the page
    doc = client.get("/api/v1/schedules").json()
    assert doc["runner"] == "embedded"
    [s] = doc["schedules"]
    assert s["name"] == "weekly" and s["timezone"] == "Asia/Ho_Chi_Minh"
    # a skipped run is listed, but the last run is the latest that started
    assert [r["status"] for r in s["recent_runs"]] == ["skipped", "failed"]
    assert s["last_run"]["status"] == "failed" and s["last_run"]["scan"] == 1
    assert s["last_run"]["due"] == "2026-11-30T02:00:00+07:00"
    nxt = datetime.fromisoformat(s["next_run"])
    assert nxt > datetime.now(UTC) and nxt.weekday() == 0 and (nxt.hour, nxt.minute) == (2, 0)
    offset = nxt.utcoffset()
    assert offset is not None and offset.total_seconds() == 7 * 3600
    page = client.get("/schedules")
    assert page.status_code == 200 and "weekly" in page.text and "0 2 * * 1" in page.text
    # the page's times in the schedule's zone, to the minute, day first in Vietnamese
    assert "02:00 30/11/2026" in page.text and "Asia/Ho_Chi_Minh (UTC+07:00)" in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text and HOSTILE_DETAIL not in page.text
    english = client.get("/schedules?lang=en").text
    assert "Next run" in english and "failed" in english
    assert "2026-11-30 02:00" in english


def test_agencies_get_404_and_nobody_401(client: TestClient, store: Store) -> None:
    assert client.get("/schedules").status_code == 401
    assert client.get("/api/v1/schedules").status_code == 401
    log_in(client, "ubnd1")
    assert 'href="/schedules"' not in client.get("/").text  # no link to what is not its own
    assert client.get("/schedules").status_code == 404
    assert client.get("/api/v1/schedules").status_code == 404
    token, digest = new_token()
    store.add_token("snv1", digest)
    fresh = TestClient(client.app)
    answer = fresh.get("/api/v1/schedules", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 404
    bad = fresh.get("/api/v1/schedules", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_an_admin_token_reads_the_api_and_it_matches_the_openapi_document(
    client: TestClient, store: Store
) -> None:
    import jsonschema

    token, digest = new_token()
    store.add_token("root", digest)
    answer = client.get("/api/v1/schedules", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    doc = client.get("/api/v1/openapi.json").json()
    response = doc["paths"]["/schedules"]["get"]["responses"]["200"]
    schema = resolved(response["content"]["application/json"]["schema"], doc)
    jsonschema.validate(answer.json(), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"runner": "embedded", "schedules": [{"name": "x"}]}, schema)


def test_without_a_schedule_file_the_page_says_so(store: Store) -> None:
    with TestClient(create_app(store, secret="test-secret")) as c:
        log_in(c, "root")
        doc = c.get("/api/v1/schedules").json()
        assert doc == {"runner": "external", "schedules": []}
        assert 'href="/schedules"' not in c.get("/").text  # no schedule file: no link
        assert "auditor serve --schedules FILE" in c.get("/schedules?lang=en").text
