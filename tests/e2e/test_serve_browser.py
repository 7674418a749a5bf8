"""``auditor serve`` in a real browser: the server as a real process on 127.0.0.1, with a
store made here, and Debian's chromium driven by Playwright for Python (its executable path:
no browser is downloaded). Anonymous, an agency and an admin: what each sees and cannot see
(pages, guessed names, API calls across agencies), and a hostile string that never runs
(no dialog, no console message); the history and diff pages as an admin and as an agency.
Screenshots of the views go to /tmp/serve-shots/.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from auditor.model import Status
from auditor.serve.auth import hash_password
from tests.support.factories import HOSTILE, V6, make_store

pytestmark = pytest.mark.browser

HAVE_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None  # the test extra's

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path("/tmp/serve-shots")
ROOT = Path(__file__).resolve().parents[2]
PORTAL = "portal.example.gov.vn"
SNV_HOST = "snv.example.gov.vn"
UBND_NAME = f"UBND {HOSTILE}"
PASSWORDS = {"root": "correct horse battery", "ubnd1": "ubnd password 1"}
DENIED_LOAD = re.compile(
    r"Failed to load resource: the server responded with a status of "
    r"40[14] \((Unauthorized|Not Found)\)"
)
START_DEADLINE_S = 60.0  # how long the server may take to listen (not an assertion on speed)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    missing = (
        "playwright is not installed (pip install '.[test]')"
        if not HAVE_PLAYWRIGHT
        else None
        if Path(CHROMIUM).exists()
        else f"no chromium at {CHROMIUM} (Debian's chromium, tests/apt-packages.txt)"
    )
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} but CI is set")
        pytest.skip(missing)
    db = tmp_path_factory.mktemp("serve") / "s.db"
    store, _ids = make_store(
        db,
        scans=[{(PORTAL, "ipv6.web.reach"): Status.FAIL}, {(SNV_HOST, "http.hsts"): Status.FAIL}],
    )
    with store:
        store.add_user("root", "admin", None, hash_password(PASSWORDS["root"]))
        store.add_user("ubnd1", "agency", "ubnd", hash_password(PASSWORDS["ubnd1"]))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (db.parent / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", "serve", "--db", str(db), "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            assert proc.poll() is None, (db.parent / "serve.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        "auditor serve did not listen: " + (db.parent / "serve.log").read_text()
                    )
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@dataclass
class Watch:
    """Everything a page did that a hostile string could have caused."""

    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        def on_dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", on_dialog)
        page.on("console", self.on_console)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def on_console(self, message: Any) -> None:
        # The denials the test asks for are logged by Chromium as failed loads; anything
        # else (a script's output, a CSP violation) is kept.
        if not DENIED_LOAD.fullmatch(message.text):
            self.console.append(f"{message.type}: {message.text}")

    def clean(self) -> bool:
        return not (self.dialogs or self.console or self.errors)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # An empty browsers folder: Playwright never finds (nor fetches) a browser of its own.
    os.environ["PLAYWRIGHT_BROWSERS_PATH"] = str(tmp_path_factory.mktemp("no-browsers"))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def agency_hrefs(page: Any) -> set[str]:
    return set(
        page.eval_on_selector_all(
            "a[href^='/agencies/']", "els => els.map(e => e.getAttribute('href'))"
        )
    )


def log_in(page: Any, base: str, name: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_anonymous_sees_the_ranked_summary_only(server: str, browser: Any) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="vi-VN")  # Accept-Language: vi-VN
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    answer = page.goto(f"{server}/")
    assert answer.status == 200
    assert page.locator("html").get_attribute("lang") == "vi"
    # The hostile agency name is shown as text, in the ranking.
    assert page.get_by_role("rowheader", name=UBND_NAME).count() == 1
    assert agency_hrefs(page) == set()
    body = page.inner_text("body")
    assert V6 not in body and "Sở Nội vụ" in body
    page.screenshot(path=str(SHOTS / "public.png"), full_page=True)
    for path in ("/agencies/ubnd", f"/hosts/{PORTAL}", "/agencies/guessed"):
        denied = page.goto(f"{server}{path}")
        assert denied.status == 401
        assert page.locator("form[action='/login']").count() == 1
        assert UBND_NAME not in page.inner_text("body")
    assert context.request.get(f"{server}/api/v1/agencies/ubnd").status == 401
    assert context.request.get(f"{server}/api/v1/agencies").status == 200
    assert watch.clean(), watch
    # The watch itself sees a dialog and a console line when a script does run.
    probe = context.new_page()
    seen = Watch()
    seen.attach(probe)
    probe.evaluate("() => { console.log('probe'); alert('probe'); }")
    assert seen.dialogs == ["probe"] and seen.console == ["log: probe"]
    context.close()


def test_agency_sees_its_own_and_nothing_of_another(server: str, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    log_in(page, server, "ubnd1")
    # Chromium's own Accept-Language (en-US): the dashboard answers in English.
    assert page.locator("html").get_attribute("lang") == "en"
    assert agency_hrefs(page) == {"/agencies/ubnd"}
    page.click("a[href='/agencies/ubnd']")
    assert page.locator("h1").inner_text() == UBND_NAME  # escaped, shown as text
    page.screenshot(path=str(SHOTS / "agency.png"), full_page=True)
    assert page.goto(f"{server}/hosts/{PORTAL}").status == 200
    for path in ("/agencies/so-noi-vu", f"/hosts/{SNV_HOST}", f"/zones/{SNV_HOST}", "/agencies/x"):
        assert page.goto(f"{server}{path}").status == 404, path
        assert "Sở Nội vụ" not in page.inner_text("body")
        assert context.request.get(f"{server}/api/v1{path}").status == 404, path
    assert context.request.get(f"{server}/api/v1/agencies/ubnd").status == 200
    # Signing out (the form with its CSRF token) ends the session.
    page.goto(f"{server}/")
    page.click("form[action='/logout'] button")
    assert page.goto(f"{server}/agencies/ubnd").status == 401
    assert watch.clean(), watch
    context.close()


def test_admin_sees_every_agency_and_english_by_switch(server: str, browser: Any) -> None:
    context = browser.new_context(locale="vi-VN")
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    log_in(page, server, "root")
    assert agency_hrefs(page) == {"/agencies/ubnd", "/agencies/so-noi-vu", "/agencies/empty"}
    page.click("a[hreflang='en']")
    assert page.locator("html").get_attribute("lang") == "en"
    page.screenshot(path=str(SHOTS / "admin.png"), full_page=True)
    for path in ("/agencies/so-noi-vu", f"/hosts/{SNV_HOST}", f"/zones/{SNV_HOST}"):
        assert page.goto(f"{server}{path}").status == 200, path
        assert context.request.get(f"{server}/api/v1{path}").status == 200, path
    # The host page shows remote strings (a hostile banner and header) as text.
    page.goto(f"{server}/hosts/{PORTAL}")
    assert page.locator("script").count() == 0
    assert watch.clean(), watch
    context.close()


def section_ids(page: Any, selector: str) -> set[str]:
    return set(
        page.eval_on_selector_all(selector, "els => els.map(e => e.getAttribute('data-agency'))")
    )


def test_admin_sees_every_agencys_history_and_changes(server: str, browser: Any) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="vi-VN")
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    log_in(page, server, "root")
    page.click("a[href='/history']")
    assert page.locator("h1").inner_text() == "Lịch sử các lần quét"
    assert page.locator("tr[data-scan]").count() == 2
    assert section_ids(page, "table.trend tr[data-agency]") == {"ubnd", "so-noi-vu", "empty"}
    page.screenshot(path=str(SHOTS / "history-admin.png"), full_page=True)
    page.click("a[href='/diff?from=1&to=2']")
    assert page.locator("h1").inner_text() == "Thay đổi từ lần quét #1 đến #2"
    assert section_ids(page, "section[data-agency]") == {"ubnd", "so-noi-vu"}
    body = page.inner_text("body")
    assert SNV_HOST in body and "http.hsts" in body and HOSTILE in body  # shown as text
    assert page.locator("script").count() == 0
    page.screenshot(path=str(SHOTS / "diff-admin.png"), full_page=True)
    doc = context.request.get(f"{server}/api/v1/diff").json()
    assert {a["id"] for a in doc["agencies"]} == {"ubnd", "so-noi-vu"}
    assert watch.clean(), watch
    context.close()


def test_agency_sees_its_own_history_and_changes_only(server: str, browser: Any) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context()  # Chromium's en-US: English pages
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    log_in(page, server, "ubnd1")
    page.click("a[href='/history']")
    assert page.locator("h1").inner_text() == f"History: {UBND_NAME}"
    assert section_ids(page, "table.trend tr[data-agency]") == {"ubnd"}
    body = page.inner_text("body")
    assert "Sở Nội vụ" not in body and "Department of Home Affairs" not in body
    assert "Findings per status" not in body  # the whole scans' counts are not its own
    page.screenshot(path=str(SHOTS / "history-agency.png"), full_page=True)
    page.click("a[href='/diff']")
    assert page.locator("h1").inner_text() == "Changes from scan #1 to #2"
    assert section_ids(page, "section[data-agency]") == {"ubnd"}
    body = page.inner_text("body")
    assert PORTAL in body  # its shared host improved
    for hidden in ("Sở Nội vụ", "Department of Home Affairs", SNV_HOST, "http.hsts"):
        assert hidden not in body, hidden
    page.screenshot(path=str(SHOTS / "diff-agency.png"), full_page=True)
    for path in ("/agencies/so-noi-vu/history", "/agencies/guessed/history", "/diff?from=99"):
        assert page.goto(f"{server}{path}").status == 404, path
        assert "Sở Nội vụ" not in page.inner_text("body")
    doc = context.request.get(f"{server}/api/v1/diff").json()
    assert [a["id"] for a in doc["agencies"]] == ["ubnd"]
    assert SNV_HOST not in str(doc)
    assert context.request.get(f"{server}/api/v1/diff?from=99").status == 404
    scans = context.request.get(f"{server}/api/v1/scans").json()
    assert [t["id"] for t in scans["trend"]] == ["ubnd"]
    assert watch.clean(), watch
    context.close()


def test_anonymous_gets_the_login_form_for_history_and_diff(server: str, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    for path in ("/history", "/diff", "/agencies/ubnd/history"):
        assert page.goto(f"{server}{path}").status == 401, path
        assert page.locator("form[action='/login']").count() == 1
    assert context.request.get(f"{server}/api/v1/scans").status == 401
    assert context.request.get(f"{server}/api/v1/diff").status == 401
    context.close()
