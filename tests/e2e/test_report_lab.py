"""Reports against the namespace lab (marker ``lab``): two real scans, one scenario changed in
between; ``auditor diff`` shows exactly that change, and hostile remote text (HTML/JS in
response headers and certificate fields) is escaped in every page.

Uses its own lab instance (tag ``r<pid>``), started and stopped here.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.lab import REPO_ROOT, Lab, missing_prerequisites
from tests.support.servers import run_auditor

pytestmark = pytest.mark.lab

GOOD = "www.good.gov.vn"
HOSTILE_HOST = "www.hostile.gov.vn"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    why = missing_prerequisites()
    if why:
        reason = "lab unavailable: " + "; ".join(why)
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    lab = Lab(f"r{os.getpid()}"[:11])
    lab.up()
    try:
        yield lab
    finally:
        lab.down(keep_dir=os.environ.get("AUDITOR_LAB_KEEP") == "1")


def _scan(lab: Lab, out: Path) -> None:
    args = lab.scan_args(out, "--only", "lab-good", "--only", "lab-hostile", "--quiet")
    r = lab.run_in_client(args, timeout=600, cwd=REPO_ROOT, env=lab.auditor_env())
    assert r.returncode == 0, r.stderr[-3000:]


def _auditor(*args: str) -> subprocess.CompletedProcess[str]:
    return run_auditor(*args, timeout=300)


def test_diff_shows_exactly_the_changed_scenario_and_pages_escape(lab: Lab, tmp_path: Path) -> None:
    _scan(lab, tmp_path)
    first_html = tmp_path / "first-html"
    (tmp_path / "html").rename(first_html)
    lab.reconfigure_web(GOOD, hsts=None)  # the only change: no HSTS header any more
    _scan(lab, tmp_path)
    db = str(tmp_path / "lab.db")

    r = _auditor("diff", "--db", db, "--json")
    assert r.returncode == 1, r.stderr  # a regression: diff says so in its exit code
    diff = json.loads(r.stdout)
    addresses = set(lab.addresses(GOOD).values())
    assert sorted((c["kind"], c["target"], c["check"], c["address"]) for c in diff["changes"]) == (
        sorted(("regression", GOOD, "http.hsts", a) for a in addresses)
    ), diff["changes"]
    (agency,) = diff["agencies"]
    assert agency["id"] == "lab-good"
    assert agency["score"]["after"] < agency["score"]["before"]
    assert {(x["target"], x["requirement"]) for x in agency["requirements"]} == {
        (GOOD, "https-enforced")
    }

    r = _auditor("diff", "--db", db)
    assert r.returncode == 1, r.stderr
    assert "2 regression(s), 0 improvement(s), 0 other change(s)" in r.stdout
    assert _auditor("diff", "--db", db, "--exit-zero").returncode == 0

    # Every page of both scans (and a re-render in English) escapes the hostile host's text.
    en = tmp_path / "en"
    assert _auditor("report", "--db", db, "--out", str(en), "--lang", "en").returncode == 0
    for root in (first_html, tmp_path / "html", en):
        pages = list(root.rglob("*.html"))
        assert len(pages) >= 5
        for page in pages:
            text = page.read_text(encoding="utf-8")
            assert "<script" not in text.lower(), page
            assert "<img" not in text.lower(), page
            assert "<b>x</b>" not in text, page
        host = (root / "hosts" / f"{HOSTILE_HOST}.html").read_text(encoding="utf-8")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in host  # X-Hostile header value
        assert "&lt;img src=x onerror=alert(1)&gt;" in host  # X-Powered-By header value
        assert "&lt;b&gt;x&lt;/b&gt;" in host  # certificate subject CN / O
