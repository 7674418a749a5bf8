"""Reports of a real two-vantage scan (issue #16): JSON, HTML, CSV, Markdown, diff.

The scan is tests/support/vantages.py's (loopback DNS server, one SQLite store, vantage "b"
without IPv6 in its footing, the agency's name with markup in it). The JSON validates
against its schema and names every finding's vantage and each vantage's footing; the HTML
shows, per host and zone, the IPv6 results per vantage (b: not tested where a decided,
escaped reasons), the agency's KPI per host and vantage and each footing in the header, in
vi and en; CSV and Markdown get their vantage column and section; ``auditor diff`` between
the scan and a one-machine scan of the same inventory compares nothing across vantages.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.model import Status
from reports import render_all
from reports.csvout import csv_text
from reports.data import load_report
from reports.jsonout import scan_document
from reports.markdown import markdown_text
from tests.support.dnsserver import DnsServer
from tests.support.vantages import AGENCY_NAME, HOSTS, ZONE, VantageScan, scan_from, vantage_zone

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with DnsServer(vantage_zone()) as server:
        yield server


@pytest.fixture
def made(tmp_path: Path, dns: DnsServer) -> Iterator[VantageScan]:
    scan = scan_from(tmp_path, dns, name=AGENCY_NAME)
    yield scan
    scan.store.close()


def _cells(page: str, check: str, address: str | None = None) -> dict[str, str]:
    """vantage -> status of one row of the vantage matrix ("" is the combined column)."""
    where = f' data-address="{address}"' if address else ""
    row = re.search(
        rf'<tr class="(?:differ|agree)" data-check="{re.escape(check)}"{where}>(.*?)</tr>',
        page,
        re.S,
    )
    assert row is not None, check
    return dict(re.findall(r'data-vantage="([^"]*)" data-status="([a-z_]+)"', row.group(1)))


def test_json_names_vantages_and_validates(made: VantageScan) -> None:
    import jsonschema

    doc = scan_document(made.store, made.scan_id)
    schema = json.loads((ROOT / "docs/scan.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(json.dumps(doc)), schema)
    vantages = {v["name"]: v["footing"] for v in doc["scan"]["vantages"]}
    assert list(vantages) == ["a", "b"]
    assert vantages["b"]["ipv6"]["status"] == "down"
    assert vantages["a"]["ipv6"]["status"] != "down"
    assert {f["vantage"] for f in doc["findings"]} == {"a", "b"}
    by = {(f["vantage"], f["target"], f["check"]): f["status"] for f in doc["findings"]}
    assert by[("a", ZONE, "ipv6.ns.reach")] == "not_applicable"
    assert by[("b", ZONE, "ipv6.ns.reach")] == "not_tested"
    (agency,) = doc["agencies"]
    assert doc["profile"]["vantages"] == {"kpi": "every", "checks": "every"}
    kpis = {h["host"]: h for h in agency["kpi_hosts"]}
    assert set(kpis) == set(HOSTS)
    # no host publishes a usable AAAA (documentation addresses): "no" from both vantages
    assert {h["kpi"] for h in kpis.values()} == {"no"}
    assert kpis["lo.v.example.vn"]["vantages"]["b"]["reason"].startswith("ipv6.web.aaaa: ")
    result = next(
        r for r in agency["results"] if r["target"] == ZONE and r["requirement"] == "ipv6-ns"
    )
    check = next(c for c in result["checks"] if c["check"] == "ipv6.ns.reach")
    assert check["vantages"]["a"]["status"] == "not_applicable"
    assert check["vantages"]["b"]["status"] == "not_tested"
    # b could not test what a found not applicable: nothing judged from either, n/a
    assert check["status"] == "not_applicable"
    # ipv6.ns.aaaa fails from both: the pair fails from each vantage and combined
    assert result["status"] == "fail" and result["vantages"] == {"a": "fail", "b": "fail"}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_html_shows_the_matrix_per_vantage(made: VantageScan, tmp_path: Path, lang: str) -> None:
    out = tmp_path / f"html-{lang}"
    render_all(made.store, made.scan_id, out, lang=lang)
    zone = (out / "zones" / f"{ZONE}.html").read_text(encoding="utf-8")
    assert 'id="vantages"' in zone
    assert _cells(zone, "ipv6.ns.reach") == {
        "a": "not_applicable",
        "b": "not_tested",
        "": "not_applicable",
    }
    assert _cells(zone, "ipv6.ns.aaaa") == {"a": "fail", "b": "fail", "": "fail"}
    # the reason is in the cell, as text and on hover
    assert "the scanner has no global IPv6 address" in zone
    host = (out / "hosts" / "lo.v.example.vn.html").read_text(encoding="utf-8")
    assert _cells(host, "ipv6.web.aaaa") == {"a": "fail", "b": "fail", "": "fail"}
    assert _cells(host, "ipv6.web.reach") == {
        "a": "not_applicable",
        "b": "not_tested",
        "": "not_applicable",
    }
    # the results table has a vantage column; details are from vantage a
    assert "<td><code>b</code></td>" in host
    assert re.search(r'class="note" role="note">[^<]*\ba\b', host)
    # the header: each vantage's footing, and b's IPv6 note names its vantage
    assert 'class="meta vantage-footings"' in host
    assert "<strong>b</strong>" in host and "(" in host
    agency = (out / "agencies" / "so-v.html").read_text(encoding="utf-8")
    assert 'class="kpi-matrix"' in agency
    for h in HOSTS:
        assert f'#vantages">{h}</a>' in agency
    assert len(re.findall(r'data-vantage="[ab]" data-kpi="no"', agency)) == 2 * len(HOSTS)
    # remote and inventory text is escaped everywhere
    assert AGENCY_NAME not in agency and html.escape(AGENCY_NAME) in agency
    for page in (out / "index.html", out / "agencies" / "so-v.html"):
        assert "<b>&amp;</b>" not in page.read_text(encoding="utf-8")


def test_csv_and_markdown_have_the_vantage_dimension(made: VantageScan) -> None:
    data = load_report(made.store, made.scan_id)
    rows = list(csv.DictReader(io.StringIO(csv_text(data))))
    header = next(csv.reader(io.StringIO(csv_text(data))))
    assert header[header.index("target") + 1] == "vantage"
    pairs = sum(len(a.pairs) for a in data.score.agencies)
    assert len(rows) == 3 * pairs  # combined (*), a, b
    ns = {r["vantage"]: r for r in rows if r["target"] == ZONE and r["requirement_id"] == "ipv6-ns"}
    assert {v: r["status"] for v, r in ns.items()} == {"*": "fail", "a": "fail", "b": "fail"}
    # each vantage's own row names what did not pass there: b could not test ipv6.ns.reach
    assert ns["b"]["failing_checks"] == "ipv6.ns.aaaa ipv6.ns.reach"
    assert ns["a"]["failing_checks"] == "ipv6.ns.aaaa"
    md = markdown_text(data, "en")
    assert "## Vantage points" in md
    assert "| `b` | down |" in md
    assert AGENCY_NAME not in md


def test_diff_compares_like_with_like(
    made: VantageScan, tmp_path: Path, dns: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # the same inventory scanned from one machine (vantage local) into the same store
    local = scan_from(tmp_path, dns, ("local",), dark=(), store=made.store, name=AGENCY_NAME)
    again = scan_from(tmp_path, dns, ("a", "b"), store=made.store, name=AGENCY_NAME)
    db = made.store.url
    code = main(
        ["diff", "--db", db, "--from", str(made.scan_id), "--to", str(local.scan_id), "--json"]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["vantages"] == {"compared": [], "only_before": ["a", "b"], "only_after": ["local"]}
    assert doc["changes"] == [] and doc["summary"]["regression"] == 0
    # two scans from a and b: each vantage against itself, nothing changed
    code = main(["diff", "--db", db, "--from", str(made.scan_id), "--to", str(again.scan_id)])
    out = capsys.readouterr().out
    assert code == 0 and "0 regression(s)" in out and "vantages compared: a, b" in out
    statuses = {f.status for f in made.store.findings(again.scan_id)}
    assert Status.NOT_TESTED in statuses
