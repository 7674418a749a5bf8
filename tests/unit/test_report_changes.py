"""The static report's history and diff pages (``auditor report --out``): the same templates
and view models as the served ``/history`` and ``/diff``, every agency shown, links that
stay inside the report folder."""

from __future__ import annotations

import re
from pathlib import Path

from auditor.model import Status
from reports import render_all
from tests.support.factories import HOSTILE, full_registry, make_store

__all__ = ["full_registry"]

PORTAL = "portal.example.gov.vn"
SNV_HOST = "snv.example.gov.vn"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_static_report_writes_history_and_diff_linked_from_the_index(
    full_registry: None, tmp_path: Path
) -> None:
    st, ids = make_store(
        tmp_path / "s.db",
        scans=[{(PORTAL, "ipv6.web.reach"): Status.FAIL}, {(SNV_HOST, "http.hsts"): Status.FAIL}],
    )
    with st:
        out = tmp_path / "en"
        pages = {p.relative_to(out).as_posix() for p in render_all(st, ids[-1], out, "en")}
        assert {"history.html", "diff.html"} <= pages
        index = (out / "index.html").read_text(encoding="utf-8")
        assert 'href="history.html"' in index and 'href="diff.html"' in index
        diff = (out / "diff.html").read_text(encoding="utf-8")
        assert "Changes from scan #1 to #2" in diff
        assert set(re.findall(r'data-agency="([^"]+)"', diff)) == {"ubnd", "so-noi-vu"}
        assert f'href="hosts/{SNV_HOST}.html"' in diff and 'href="agencies/ubnd.html"' in diff
        assert HOSTILE not in diff and ESCAPED in diff
        history = (out / "history.html").read_text(encoding="utf-8")
        assert 'href="diff.html"' in history and "Findings per status" in history
        assert set(re.findall(r'<tr data-scan="(\d+)"', history)) == {"1", "2"}
        # The first scan has nothing before it: a history, no diff, no link to one.
        old = tmp_path / "old"
        first = {p.relative_to(old).as_posix() for p in render_all(st, ids[0], old, "vi")}
        assert "history.html" in first and "diff.html" not in first
        assert 'href="diff.html"' not in (old / "index.html").read_text(encoding="utf-8")
        assert 'href="diff.html"' not in (old / "history.html").read_text(encoding="utf-8")
