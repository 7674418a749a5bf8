"""The scorecards in a real browser: headless Chromium (Debian's ``chromium``) loads the index
and an agency page from file:// with no console error and no request beyond the page itself.

Chromium is driven over the DevTools protocol on ``--remote-debugging-pipe`` (file
descriptors 3 and 4, NUL-separated JSON): no port is opened, nothing to install. Every
network request the page makes is recorded (``Network.requestWillBeSent``), and so is every
console message, uncaught exception and browser log entry (CSP violations are logged there).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.model import Status
from reports import render_all
from tests.support.factories import V6, full_registry, make_store

__all__ = ["full_registry"]

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Cdp:
    """A minimal DevTools protocol client over --remote-debugging-pipe."""

    def __init__(self, profile_dir: Path) -> None:
        assert CHROMIUM is not None
        cmd_r, self._cmd_w = os.pipe()  # we write commands, chromium reads fd 3
        self._resp_r, resp_w = os.pipe()  # chromium writes fd 4, we read

        def child_fds() -> None:
            # Move both ends out of the way first: one of them may already be fd 3 or 4.
            a, b = os.dup(cmd_r), os.dup(resp_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--metrics-recording-only",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile_dir}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # 3 and 4 are created in the child by child_fds; keep them open through exec.
            pass_fds=(3, 4),
            preexec_fn=child_fds,
        )
        os.close(cmd_r)
        os.close(resp_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError, RuntimeError):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self._cmd_w, self._resp_r):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no DevTools message before the deadline")
            ready, _, _ = select.select([self._resp_r], [], [], left)
            if ready:
                chunk = os.read(self._resp_r, 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        deadline = time.monotonic() + timeout
        while True:
            ev = self._read_message(deadline)
            self.events.append(ev)
            if ev.get("method") == method:
                return ev

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read_message(deadline))
        except TimeoutError:
            pass


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Cdp]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed but CI is set: install Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    cdp = Cdp(tmp_path / "chromium-profile")
    try:
        yield cdp
    finally:
        cdp.close()


def load(cdp: Cdp, url: str) -> dict[str, list[Any]]:
    """Open ``url`` in a new tab; return its requests, console messages, errors and logs."""
    target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        cdp.send(f"{domain}.enable", session=session)
    cdp.events.clear()
    cdp.send("Page.navigate", {"url": url}, session=session)
    cdp.wait_for("Page.loadEventFired")
    cdp.drain(1.5)  # late requests and console messages
    mine = [e for e in cdp.events if e.get("sessionId") == session]
    out: dict[str, list[Any]] = {"requests": [], "console": [], "exceptions": [], "log": []}
    for e in mine:
        m, p = e.get("method"), e.get("params", {})
        if m == "Network.requestWillBeSent":
            out["requests"].append(p["request"]["url"])
        elif m == "Runtime.consoleAPICalled":
            out["console"].append(p)
        elif m == "Runtime.exceptionThrown":
            out["exceptions"].append(p)
        elif m == "Log.entryAdded":
            out["log"].append(p["entry"])
    title = cdp.send(
        "Runtime.evaluate", {"expression": "document.title", "returnByValue": True}, session
    )
    out["title"] = [title["result"].get("value")]
    cdp.send("Target.closeTarget", {"targetId": target})
    return out


@pytest.fixture
def report_dir(full_registry: None, tmp_path: Path) -> Path:
    store, ids = make_store(
        tmp_path / "s.db",
        scans=[
            {},
            {
                ("portal.example.gov.vn", "ipv6.web.reach"): Status.FAIL,
                (f"portal.example.gov.vn@{V6}", "tls.cert.expiry"): Status.WARN,
                ("snv.example.gov.vn", "http.csp"): Status.NOT_TESTED,
            },
        ],
    )
    out = tmp_path / "report"
    with store:
        render_all(store, ids[-1], out, "vi")
    return out


@pytest.mark.parametrize(
    "page", ["index.html", "agencies/so-noi-vu.html", "hosts/portal.example.gov.vn.html"]
)
def test_page_loads_clean_and_self_contained(chromium: Cdp, report_dir: Path, page: str) -> None:
    url = (report_dir / page).resolve().as_uri()
    got = load(chromium, url)
    assert got["title"][0], "the page has no title"
    outside = [u for u in got["requests"] if not u.startswith(("file://", "data:"))]
    assert outside == [], f"requests outside the page: {outside}"
    assert got["requests"][0] == url
    assert got["exceptions"] == []
    errors = [c for c in got["console"] if c.get("type") in ("error", "warning", "assert")]
    assert errors == []
    log_errors = [e for e in got["log"] if e.get("level") in ("error", "warning")]
    assert log_errors == [], log_errors  # CSP violations are reported here


def test_the_harness_sees_requests_and_errors(chromium: Cdp, tmp_path: Path) -> None:
    """A page that breaks both rules is caught (loopback only: port 9 refuses)."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!doctype html><title>bad</title><img src='http://127.0.0.1:9/x.png'>"
        "<script>console.error('boom')</script>",
        encoding="utf-8",
    )
    got = load(chromium, bad.resolve().as_uri())
    assert "http://127.0.0.1:9/x.png" in got["requests"]
    assert any(c.get("type") == "error" for c in got["console"])
