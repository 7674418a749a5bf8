"""``auditor serve``'s access rules, in process (Starlette's TestClient): the public, an
agency and an admin, cross-agency pages and API calls and guessed names (404, the same as a
name that does not exist), 401 without a login, CSRF, the login rate limit, revoked tokens,
disabled users, the audit log; and ``auditor users``."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from auditor.cli import main
from auditor.model import Status
from auditor.serve.app import SESSION_COOKIE, create_app
from auditor.serve.auth import LoginLimiter, hash_password, new_token
from auditor.store import Store
from reports import render_all
from reports.data import load_report
from reports.html import HtmlRenderer
from tests.support.factories import HOSTILE, V4, V6, full_registry, make_store

__all__ = ["full_registry"]

PORTAL = "portal.example.gov.vn"  # both agencies' host
SNV_HOST = "snv.example.gov.vn"  # so-noi-vu's only
SNV_ZONE = "snv.example.gov.vn"
UBND_ZONE = "ubnd.example.gov.vn"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
PASSWORDS = {"root": "correct horse battery", "ubnd1": "ubnd password 1", "snv1": "snv password 1"}

# Every detail path of each agency: what ubnd1 may open, and what it may not.
UBND_PATHS = (
    "/agencies/ubnd",
    f"/hosts/{PORTAL}",
    f"/zones/{UBND_ZONE}",
)
SNV_PATHS = ("/agencies/so-noi-vu", f"/hosts/{SNV_HOST}", f"/zones/{SNV_ZONE}")
GUESSED = ("/agencies/nope", "/hosts/nope.example.gov.vn", "/zones/nope.example.gov.vn")


def api(path: str) -> str:
    return "/api/v1" + path


@pytest.fixture
def store(full_registry: None, tmp_path: Path) -> Iterator[Store]:
    st, _ids = make_store(
        tmp_path / "s.db",
        scans=[{(PORTAL, "ipv6.web.reach"): Status.FAIL}, {(SNV_HOST, "http.hsts"): Status.FAIL}],
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


def csrf_of(client: TestClient) -> str:
    page = client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def log_in(client: TestClient, name: str, password: str | None = None) -> Any:
    return client.post(
        "/login",
        data={"username": name, "password": password or PASSWORDS[name], "csrf": csrf_of(client)},
        follow_redirects=False,
    )


def agency_links(html: str) -> set[str]:
    return set(re.findall(r'href="/agencies/([^"]+)"', html))


# ----------------------------------------------------------------------------- the public


def test_public_sees_the_ranked_summary_only(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert '<html lang="vi">' in page.text
    assert "Sở Nội vụ" in page.text and ESCAPED in page.text  # every agency, escaped
    assert HOSTILE not in page.text
    assert agency_links(page.text) == set()  # nothing it could open
    for hidden in (V6, V4, "evidence", 'href="/hosts/', 'href="/zones/'):
        assert hidden not in page.text
    assert 'action="/logout"' not in page.text and 'href="/login"' in page.text


@pytest.mark.parametrize("path", UBND_PATHS + SNV_PATHS + GUESSED)
def test_public_gets_401_on_every_detail_page_and_api_path(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 401
    assert 'action="/login"' in page.text  # the login form, not the page with data blanked
    assert "Sở Nội vụ" not in page.text and PORTAL not in page.text.replace(path, "")
    answer = client.get(api(path))
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json() == {"error": "authentication required"}


def test_a_hostile_path_is_escaped_in_the_401_page(client: TestClient) -> None:
    page = client.get("/hosts/%3Cscript%3Ealert(1).example?x=%22%3E%3Cscript%3E")
    assert page.status_code == 401
    assert "<script>" not in page.text and 'value="/hosts/&lt;script&gt;alert(1)' in page.text


def test_public_api_is_the_summary_without_detail(client: TestClient) -> None:
    doc = client.get(api("/agencies")).json()
    ids = [a["id"] for a in doc["agencies"]]
    assert sorted(ids) == ["empty", "so-noi-vu", "ubnd"]
    for a in doc["agencies"]:
        assert set(a) == {
            "id", "name", "name_en", "rank", "score", "grade", "coverage",
            "insufficient_data", "kpi", "change", "detail",
        }  # fmt: skip
        assert a["detail"] is False
    assert V6 not in json.dumps(doc)


# ----------------------------------------------------------------------------- an agency


@pytest.mark.parametrize("path", UBND_PATHS)
def test_agency_opens_its_own_pages(client: TestClient, path: str) -> None:
    assert log_in(client, "ubnd1").status_code == 303
    assert client.get(path).status_code == 200
    assert client.get(api(path)).status_code == 200


@pytest.mark.parametrize("path", SNV_PATHS + GUESSED)
def test_agency_gets_404_for_another_agency_and_for_guesses_alike(
    client: TestClient, path: str
) -> None:
    log_in(client, "ubnd1")
    page = client.get(path)
    assert page.status_code == 404
    # Another agency's page and a name that does not exist answer the same body.
    assert page.text == client.get("/agencies/does-not-exist").text
    assert "Sở Nội vụ" not in page.text
    answer = client.get(api(path))
    assert answer.status_code == 404 and answer.json() == {"error": "not found"}


def test_agency_index_links_its_own_agency_only(client: TestClient) -> None:
    log_in(client, "ubnd1")
    page = client.get("/").text
    assert agency_links(page) == {"ubnd"}
    assert "ubnd1" in page and 'action="/logout"' in page
    summary = client.get(api("/agencies")).json()["agencies"]
    assert {a["id"]: a["detail"] for a in summary} == {
        "ubnd": True,
        "so-noi-vu": False,
        "empty": False,
    }


def test_shared_host_names_only_the_viewers_agency_in_the_api(client: TestClient) -> None:
    log_in(client, "ubnd1")
    doc = client.get(api(f"/hosts/{PORTAL}")).json()["host"]
    assert doc["agencies"] == ["ubnd"]
    assert doc["findings"] and all("evidence" in f for f in doc["findings"])


def test_agency_page_escapes_hostile_strings(client: TestClient) -> None:
    log_in(client, "ubnd1")
    for path in ("/agencies/ubnd", f"/hosts/{PORTAL}", f"/zones/{UBND_ZONE}"):
        html = client.get(path).text
        assert HOSTILE not in html
    assert ESCAPED in client.get(f"/zones/{UBND_ZONE}").text


# ----------------------------------------------------------------------------- the admin


def test_admin_opens_everything(client: TestClient) -> None:
    log_in(client, "root")
    for path in UBND_PATHS + SNV_PATHS:
        assert client.get(path).status_code == 200, path
        assert client.get(api(path)).status_code == 200, path
    for path in GUESSED:
        assert client.get(path).status_code == 404
        assert client.get(api(path)).status_code == 404
    assert agency_links(client.get("/").text) == {"ubnd", "so-noi-vu", "empty"}
    # The served pages link to served paths, not to the static report's files.
    host = client.get(f"/hosts/{PORTAL}").text
    assert 'href="/agencies/ubnd"' in host and 'href="/agencies/so-noi-vu"' in host
    assert 'href="/"' in host and ".html" not in host
    agency = client.get("/agencies/so-noi-vu").text
    assert f'href="/hosts/{SNV_HOST}"' in agency and f'href="/zones/{SNV_ZONE}"' in agency


# ----------------------------------------------------------------------------- sessions


def test_session_cookie_is_signed_httponly_and_samesite(client: TestClient) -> None:
    answer = log_in(client, "root")
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(SESSION_COOKIE + "=")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    # A cookie changed by the client is not accepted: back to the public view.
    value = client.cookies[SESSION_COOKIE]
    client.cookies.set(SESSION_COOKIE, value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
    assert client.get("/agencies/ubnd").status_code == 401


def test_login_without_or_with_a_wrong_csrf_token_is_403(client: TestClient) -> None:
    form = {"username": "root", "password": PASSWORDS["root"]}
    assert client.post("/login", data=form).status_code == 403
    csrf_of(client)  # the session has a token now; a wrong one is refused too
    assert client.post("/login", data={**form, "csrf": "forged"}).status_code == 403
    assert client.get("/agencies/ubnd").status_code == 401


def test_logout_needs_the_csrf_token(client: TestClient) -> None:
    log_in(client, "root")
    assert client.post("/logout", data={}).status_code == 403
    assert client.get("/agencies/ubnd").status_code == 200  # still logged in
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)
    assert token
    assert client.post("/logout", data={"csrf": token.group(1)}).status_code == 200
    assert client.get("/agencies/ubnd").status_code == 401


def test_login_back_to_the_page_asked_for_and_never_off_site(client: TestClient) -> None:
    csrf = csrf_of(client)
    form = {"username": "ubnd1", "password": PASSWORDS["ubnd1"], "csrf": csrf}
    answer = client.post("/login", data={**form, "next": "//evil.example/"}, follow_redirects=False)
    assert answer.headers["location"] == "/"
    csrf = csrf_of(client)
    answer = client.post(
        "/login", data={**form, "csrf": csrf, "next": "/agencies/ubnd"}, follow_redirects=False
    )
    assert answer.headers["location"] == "/agencies/ubnd"


def test_failed_logins_are_rate_limited_per_user_and_client(store: Store) -> None:
    with TestClient(create_app(store, secret="s", limiter=LoginLimiter(failures=5))) as client:
        for _ in range(5):
            assert log_in(client, "ubnd1", "wrong password").status_code == 401
        # The sixth try is refused even with the right password...
        assert log_in(client, "ubnd1").status_code == 429
        assert client.get("/agencies/ubnd").status_code == 401
        # ...for that user name only.
        assert log_in(client, "snv1").status_code == 303
    events = [(r.event, r.username) for r in store.audit_log()]
    assert events.count(("login_failed", "ubnd1")) == 5
    assert ("login_limited", "ubnd1") in events and ("login", "snv1") in events


def test_every_login_and_failed_login_is_in_the_audit_log(client: TestClient, store: Store) -> None:
    log_in(client, "root", "not it")
    log_in(client, "nobody", "whatever")
    log_in(client, "root")
    log = store.audit_log()
    assert [(r.event, r.username, r.detail) for r in log[:3]] == [
        ("login", "root", "admin"),
        ("login_failed", "nobody", "no such user"),
        ("login_failed", "root", "wrong password"),
    ]
    assert all(r.client == "testclient" for r in log[:3])
    assert all(PASSWORDS["root"] not in r.detail for r in log)


def test_a_disabled_user_is_logged_out_and_cannot_log_in(client: TestClient, store: Store) -> None:
    log_in(client, "ubnd1")
    assert client.get("/agencies/ubnd").status_code == 200
    store.update_user("ubnd1", disabled=True)
    assert client.get("/agencies/ubnd").status_code == 401
    assert log_in(client, "ubnd1").status_code == 401
    assert store.audit_log()[0].detail == "disabled"


def test_a_new_password_ends_the_sessions_of_the_old_one(client: TestClient, store: Store) -> None:
    log_in(client, "ubnd1")
    store.update_user("ubnd1", password_hash=hash_password("another password"))
    assert client.get("/agencies/ubnd").status_code == 401
    assert log_in(client, "ubnd1", "another password").status_code == 303


# ----------------------------------------------------------------------------- API tokens


def test_bearer_token_sees_what_its_user_sees(client: TestClient, store: Store) -> None:
    token, digest = new_token()
    store.add_token("ubnd1", digest)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get(api("/agencies/ubnd"), headers=auth).status_code == 200
    assert client.get(api("/agencies/so-noi-vu"), headers=auth).status_code == 404
    assert client.get(api(f"/hosts/{SNV_HOST}"), headers=auth).status_code == 404
    # A token is for the API: a page asked with it alone is the public's.
    assert client.get("/agencies/ubnd", headers=auth).status_code == 401


def test_revoked_unknown_and_disabled_tokens_are_401(client: TestClient, store: Store) -> None:
    token, digest = new_token()
    store.add_token("ubnd1", digest)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get(api("/agencies/ubnd"), headers=auth).status_code == 200
    assert store.revoke_tokens("ubnd1") == 1
    assert client.get(api("/agencies/ubnd"), headers=auth).status_code == 401
    bad = {"Authorization": "Bearer aud_not-a-token"}
    assert client.get(api("/agencies"), headers=bad).status_code == 401
    assert (
        client.get(api("/agencies"), headers={"Authorization": "Basic cm9vdDp4"}).status_code == 401
    )
    other, digest = new_token()
    store.add_token("snv1", digest)
    store.update_user("snv1", disabled=True)
    answer = client.get(api("/agencies/so-noi-vu"), headers={"Authorization": f"Bearer {other}"})
    assert answer.status_code == 401


def test_openapi_document_names_the_paths(client: TestClient) -> None:
    doc = client.get(api("/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    assert {"/agencies", "/agencies/{id}", "/hosts/{name}", "/zones/{name}"} <= set(doc["paths"])


# ----------------------------------------------------------------------------- languages


def test_language_by_accept_language_and_by_switch(client: TestClient) -> None:
    assert '<html lang="vi">' in client.get("/").text
    english = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9,vi;q=0.5"})
    assert '<html lang="en">' in english.text
    mixed = client.get("/", headers={"Accept-Language": "fr, vi;q=0.8, en;q=0.3"})
    assert '<html lang="vi">' in mixed.text
    assert '<html lang="en">' in client.get("/?lang=en").text
    assert '<html lang="en">' in client.get("/").text  # the switch is kept in the session
    assert '<html lang="vi">' in client.get("/?lang=vi").text


def test_served_pages_carry_the_security_headers(client: TestClient) -> None:
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # no script at all
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"


# ----------------------------------------------------------------------------- one rendering path


def test_static_files_are_the_renderers_strings(store: Store, tmp_path: Path) -> None:
    scan = store.latest_scan(kind="scan")
    assert scan is not None
    render_all(store, scan.id, tmp_path, "en")
    renderer = HtmlRenderer(load_report(store, scan.id), "en")
    assert (tmp_path / "index.html").read_text() == renderer.index_html()
    assert (tmp_path / "agencies/ubnd.html").read_text() == renderer.agency_html("ubnd")
    findings = store.target_findings(scan.id, "host", PORTAL)
    obs = json.loads(store.target_observation(scan.id, "host", PORTAL) or "{}")
    page = renderer.target_html("host", PORTAL, findings, obs)
    assert (tmp_path / f"hosts/{PORTAL}.html").read_text() == page


# ----------------------------------------------------------------------------- auditor users


def test_users_add_warns_of_an_agency_the_latest_scan_does_not_have(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["users", "add", "--db", store.url, "--password-stdin"]
    assert run_cli(monkeypatch, [*base[:2], "typo", "--agency", "ubdn", *base[2:]], "x" * 9) == 0
    assert "the latest scan has no agency 'ubdn'" in capsys.readouterr().err
    assert run_cli(monkeypatch, [*base[:2], "ok", "--agency", "ubnd", *base[2:]], "x" * 9) == 0
    assert "warning" not in capsys.readouterr().err


def run_cli(monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(argv)


def test_users_cli(
    full_registry: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = str(tmp_path / "u.db")
    add = ["users", "add", "root", "--admin", "--db", db, "--password-stdin"]
    assert run_cli(monkeypatch, add, "short\n") == 2  # NIST SP 800-63B: 8 characters at least
    assert run_cli(monkeypatch, add, "") == 2
    assert run_cli(monkeypatch, add, "a long password\n") == 0
    assert run_cli(monkeypatch, add, "a long password\n") == 2  # the name is taken
    agency = ["users", "add", "u1", "--agency", "ubnd", "--db", db, "--password-stdin"]
    assert run_cli(monkeypatch, agency, "another password\n") == 0
    assert "warning" not in capsys.readouterr().err  # no scan yet: nothing to check against
    capsys.readouterr()
    assert run_cli(monkeypatch, ["users", "token", "u1", "--db", db]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("aud_") and len(token) > 40
    assert run_cli(monkeypatch, ["users", "list", "--db", db]) == 0
    listing = capsys.readouterr().out
    assert "root" in listing and "agency ubnd" in listing and "tokens=1" in listing
    assert token not in listing and "argon2" not in listing
    assert run_cli(monkeypatch, ["users", "revoke", "u1", "--db", db]) == 0
    assert "revoked 1 token(s)" in capsys.readouterr().out
    assert run_cli(monkeypatch, ["users", "disable", "u1", "--db", db]) == 0
    reset = ["users", "reset", "u1", "--db", db, "--password-stdin"]
    assert run_cli(monkeypatch, reset, "a third password\n") == 0
    assert run_cli(monkeypatch, ["users", "disable", "ghost", "--db", db]) == 2
    from auditor.store import open_store

    with open_store(db, create=False) as st:
        u1 = st.user("u1")
        assert u1 is not None and u1.disabled and u1.tokens == 0
        assert u1.password_hash.startswith("$argon2id$")
        assert "a third password" not in u1.password_hash
        events = [r.event for r in st.audit_log()]
        assert {"user_added", "token_added", "token_revoked", "user_disabled"} <= set(events)


def test_a_store_without_a_scan_still_lets_the_admin_log_in(tmp_path: Path) -> None:
    from auditor.store import open_store

    with open_store(tmp_path / "empty.db") as st:
        st.add_user("root", "admin", None, hash_password(PASSWORDS["root"]))
        with TestClient(create_app(st, secret="s")) as client:
            assert client.get("/").status_code == 404  # nothing to show yet
            assert client.get("/agencies/ubnd").status_code == 401
            assert client.get(api("/agencies")).status_code == 404
            assert log_in(client, "root").status_code == 303
            assert client.get("/agencies/ubnd").status_code == 404


def resolved(node: Any, doc: dict[str, Any]) -> Any:
    """An OpenAPI schema with its ``#/components/schemas/...`` references put in place."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            return resolved(doc["components"]["schemas"][ref.rsplit("/", 1)[1]], doc)
        return {k: resolved(v, doc) for k, v in node.items()}
    if isinstance(node, list):
        return [resolved(v, doc) for v in node]
    return node


def test_api_answers_match_the_openapi_document(client: TestClient) -> None:
    import jsonschema

    doc = client.get(api("/openapi.json")).json()
    log_in(client, "root")
    asked = {
        "/agencies": "/agencies",
        "/agencies/{id}": "/agencies/ubnd",
        "/hosts/{name}": f"/hosts/{PORTAL}",
        "/zones/{name}": f"/zones/{UBND_ZONE}",
    }
    for template, path in asked.items():
        responses = doc["paths"][template]["get"]["responses"]
        answer = client.get(api(path))
        assert answer.status_code == 200
        schema = resolved(responses["200"]["content"]["application/json"]["schema"], doc)
        jsonschema.validate(answer.json(), schema)
        if template != "/agencies":
            denied = client.get(api(path.rsplit("/", 1)[0] + "/nope"))
            assert denied.status_code == 404
            error = resolved(responses["404"]["content"]["application/json"]["schema"], doc)
            jsonschema.validate(denied.json(), error)
    # A schema that does not hold is seen: the check is not vacuous.
    summary = resolved({"$ref": "#/components/schemas/AgencySummary"}, doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "x"}, summary)
