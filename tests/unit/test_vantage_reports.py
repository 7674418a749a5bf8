"""Reports and vantages (issue #16), from synthetic stores (tests/support/factories.py).

A one-machine scan (vantage ``local``) renders without any of the vantage dimension: no
matrix, no vantage column, no vantage keys in the JSON findings. A two-vantage scan where
vantage "b" sees a host dark over IPv6 shows it: the matrix cells per vantage (with the
hostile reason escaped), the KPI per host and vantage, a vantage column in CSV, a section
in Markdown.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import replace as dc_replace
from pathlib import Path
from typing import Any

import pytest

from auditor.model import Finding, Status, TargetKind
from auditor.store import Store
from reports import render_all
from reports.csvout import COLUMNS, csv_text
from reports.data import load_report
from reports.jsonout import scan_document
from reports.markdown import markdown_text
from tests.support.factories import (
    HOSTILE,
    findings_for,
    full_registry,
    host_observation,
    inventory,
    make_store,
)

__all__ = ["full_registry"]

DARK = "portal.example.gov.vn"  # dark over IPv6 from vantage b


@pytest.fixture
def local(full_registry: None, tmp_path: Path) -> Iterator[tuple[Store, int]]:
    store, ids = make_store(tmp_path / "local.db")
    yield store, ids[-1]
    store.close()


@pytest.fixture
def two(full_registry: None, tmp_path: Path) -> Iterator[tuple[Store, int]]:
    from auditor.store import open_store

    store = open_store(tmp_path / "two.db")
    scan_id = store.begin_scan(
        profile="vn-gov",
        inventory_path="/tmp/inv.yaml",
        inventory_name="Tỉnh Thử nghiệm",
        inventory=inventory(),
        options={},
    )
    dark = {(DARK, "ipv6.web.reach"): Status.FAIL, (DARK, "ipv6.web.https"): Status.FAIL}
    for vantage, overrides in (("hn", {}), ("hcm", dark)):
        store.record_vantage(scan_id, vantage, {})
        by: dict[tuple[TargetKind, str], list[Finding]] = {}
        for f in findings_for(overrides):
            if f.status == Status.FAIL:  # the reason carries remote text
                f = dc_replace(f, message=f"connection refused by {HOSTILE}")
            by.setdefault((f.target_kind, f.target), []).append(f)
        for (kind, name), items in by.items():
            obs: dict[str, Any] = host_observation(name) if kind == TargetKind.HOST else {}
            store.save_target(
                scan_id, kind, name, json.dumps(obs), items, "2026-01-01T00:00:00+00:00", vantage
            )
    store.finish_scan(scan_id, "complete", {})
    yield store, scan_id
    store.close()


def test_a_one_machine_scan_shows_no_vantage_dimension(
    local: tuple[Store, int], tmp_path: Path
) -> None:
    store, scan_id = local
    doc = scan_document(store, scan_id)
    assert "vantages" not in doc["scan"]
    assert all("vantage" not in f for f in doc["findings"])
    assert all("kpi_hosts" not in a for a in doc["agencies"])
    assert all(
        "vantages" not in r and all("vantages" not in c for c in r["checks"])
        for a in doc["agencies"]
        for r in a["results"]
    )
    data = load_report(store, scan_id)
    assert not data.multi_vantage and data.vantages == ("local",)
    assert next(csv.reader(io.StringIO(csv_text(data)))) == list(COLUMNS)
    assert "vantage" not in markdown_text(data, "en").lower()
    for lang in ("vi", "en"):
        out = tmp_path / lang
        render_all(store, scan_id, out, lang=lang)
        for page in out.rglob("*.html"):
            text = page.read_text(encoding="utf-8")
            for marker in ("vantage", "vcell", "kpi-matrix", 'id="vantages"'):
                assert marker not in text, (page, marker)


def _row(page: str, check: str) -> dict[str, tuple[str, str]]:
    row = re.search(
        rf'<tr class="(?:differ|agree)" data-check="{re.escape(check)}">(.*?)</tr>', page, re.S
    )
    assert row is not None, check
    cells = re.findall(
        r'data-vantage="([^"]*)" data-status="([a-z_]+)" title="([^"]*)"', row.group(1)
    )
    return {v: (s, why) for v, s, why in cells}


def test_two_vantages_render_the_difference(two: tuple[Store, int], tmp_path: Path) -> None:
    store, scan_id = two
    data = load_report(store, scan_id)
    assert data.multi_vantage and data.vantages == ("hcm", "hn")
    out = tmp_path / "en"
    render_all(store, scan_id, out, lang="en")
    page = (out / "hosts" / f"{DARK}.html").read_text(encoding="utf-8")
    reach = _row(page, "ipv6.web.reach")
    assert {v: s for v, (s, _w) in reach.items()} == {"hcm": "fail", "hn": "pass", "": "fail"}
    # the reason (remote text) is escaped, in the title and in the cell
    assert "&lt;script&gt;" in reach["hcm"][1] and HOSTILE not in page
    assert 'class="differ" data-check="ipv6.web.reach"' in page
    assert 'class="agree" data-check="ipv6.web.aaaa"' in page
    other = (out / "hosts" / "snv.example.gov.vn.html").read_text(encoding="utf-8")
    assert {v: s for v, (s, _w) in _row(other, "ipv6.web.reach").items()} == {
        "hcm": "pass",
        "hn": "pass",
        "": "pass",
    }
    agency = (out / "agencies" / "so-noi-vu.html").read_text(encoding="utf-8")
    assert re.search(r'data-vantage="hcm" data-kpi="no"', agency)
    assert re.search(r'data-vantage="hn" data-kpi="yes"', agency)
    assert HOSTILE not in agency
    # the KPI: portal works from hn only: "no" under the default rule (every vantage)
    a = data.score.agency("so-noi-vu")
    assert a.kpi == "no"
    kpi = {h.host: h for h in a.host_kpis}
    assert [(v, ans) for v, ans, _w in kpi[DARK].vantages] == [("hcm", "no"), ("hn", "yes")]

    rows = list(csv.DictReader(io.StringIO(csv_text(data))))
    reach_rows = {
        r["vantage"]: r["status"]
        for r in rows
        if r["agency_id"] == "so-noi-vu"
        and r["target"] == DARK
        and r["requirement_id"] == "ipv6-web-reach"
    }
    assert reach_rows == {"*": "fail", "hcm": "fail", "hn": "pass"}
    md = markdown_text(data, "en")
    assert "### Vantage points disagree" in md
    assert re.search(rf"\| {re.escape(DARK)} \| No \(ipv6\.web\.reach: .*\) \| Yes \| No \|", md)
    assert HOSTILE not in md


def test_any_rule_counts_a_host_that_works_from_one_vantage(
    two: tuple[Store, int], tmp_path: Path
) -> None:
    store, scan_id = two
    path = tmp_path / "any.yaml"
    from auditor.profiles import PROFILE_DIR

    text = (PROFILE_DIR / "vn-gov.yaml").read_text(encoding="utf-8")
    path.write_text(text.replace("  kpi: every\n", "  kpi: any\n"), encoding="utf-8")
    data = load_report(store, scan_id, str(path))
    a = data.score.agency("so-noi-vu")
    assert {h.host: h.answer for h in a.host_kpis}[DARK] == "yes"
    # the checks still combine at their worst: the requirement fails
    reach = next(p for p in a.pairs if p.target == DARK and p.requirement.id == "ipv6-web-reach")
    assert reach.status.value == "fail"
