"""Reports from a synthetic store: HTML (vi/en, escaping, CSP, self-contained), JSON, CSV,
Markdown, and `auditor report` / `auditor profiles`."""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.model import Status
from reports import render_all
from reports.csvout import csv_text
from reports.data import load_report
from reports.html import CSP, flatten
from reports.jsonout import scan_document
from reports.markdown import markdown_text, md_escape
from tests.support.factories import HOSTILE, V6, full_registry, make_store, raw_sql

__all__ = ["full_registry"]

# make_store's store and the ids of the scans it wrote
StoreAndIds = tuple[Any, list[int]]
S = Status
PORTAL = "portal.example.gov.vn"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
WAIVERS = [
    {
        "check": "http.hsts",
        "hosts": ["snv.*"],
        "reason": f"migrating {HOSTILE}",
        "approved_by": "CIO",
        "expires": "2099-01-01",
        "line": 5,
    },
    {
        "check": "dns.dnssec",
        "hosts": ["*"],
        "reason": "old",
        "approved_by": "CIO",
        "expires": "2020-01-01",
        "line": 9,
    },
]
SECOND = {
    (PORTAL, "ipv6.web.reach"): S.FAIL,
    ("snv.example.gov.vn", "http.hsts"): S.FAIL,
    ("snv.example.gov.vn", "dns.dnssec"): S.FAIL,
    (f"{PORTAL}@{V6}", "tls.cert.expiry"): S.WARN,
    ("snv.example.gov.vn", "http.csp"): S.NOT_TESTED,
    ("ubnd.example.gov.vn", "mail.dmarc"): S.FAIL,
}


@pytest.fixture
def store(full_registry: None, tmp_path: Path) -> Iterator[StoreAndIds]:
    store, ids = make_store(
        tmp_path / "s.db", scans=[{(PORTAL, "ipv6.web.reach"): S.FAIL}, SECOND], waivers=WAIVERS
    )
    with store:
        yield store, ids


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_html_pages_escape_every_remote_string(
    store: StoreAndIds, tmp_path: Path, lang: str
) -> None:
    st, ids = store
    out = tmp_path / lang
    pages = render_all(st, ids[-1], out, lang)
    names = sorted(str(p.relative_to(out)) for p in pages)
    assert names == [
        "agencies/empty.html",
        "agencies/so-noi-vu.html",
        "agencies/ubnd.html",
        "diff.html",
        "history.html",
        "hosts/portal.example.gov.vn.html",
        "hosts/snv.example.gov.vn.html",
        "index.html",
        "zones/snv.example.gov.vn.html",
        "zones/ubnd.example.gov.vn.html",
    ]
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "<script" not in html.lower(), page
        assert HOSTILE not in html, page
        csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', html)
        assert csp is not None and html_lib.unescape(csp.group(1)) == CSP
        assert f'<html lang="{lang}">' in html
        # self-contained: no external resources, links stay inside the report
        assert not re.search(r"\s(src|srcset|action|data)=", html), page
        for href in re.findall(r'href="([^"]*)"', html):
            assert not re.match(r"[a-z]+:", href) and not href.startswith("//"), (page, href)
            if not href.startswith("#"):
                assert (page.parent / href).resolve().is_file(), (page, href)
        assert "@import" not in html and "url(" not in html
    index = (out / "index.html").read_text(encoding="utf-8")
    assert f"UBND {ESCAPED}" in index  # agency name from the inventory
    agency = (out / "agencies/so-noi-vu.html").read_text(encoding="utf-8")
    assert ESCAPED in agency  # check messages
    assert f"migrating {ESCAPED}" in agency  # waiver reason
    host = (out / f"hosts/{PORTAL}.html").read_text(encoding="utf-8")
    assert f"CN={ESCAPED}" in host  # certificate subject
    assert f"O={ESCAPED}" in host  # certificate issuer
    assert f"<td>server</td><td>{ESCAPED}</td>" in host  # response header value
    assert f"<td>{ESCAPED}</td><td>x</td>" in host  # response header name
    zone = (out / "zones/ubnd.example.gov.vn.html").read_text(encoding="utf-8")
    assert ESCAPED in zone  # zone observation detail and messages
    assert f"<code>{ESCAPED}</code>" in zone  # a TXT record and an MX name
    assert f"<td>{ESCAPED} </td>" in zone  # an SMTP banner


def test_html_content_vi(store: StoreAndIds, tmp_path: Path) -> None:
    st, ids = store
    render_all(st, ids[-1], tmp_path, "vi")
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "Bảng điểm tuân thủ" in index and "Tất cả cơ quan, đơn vị" in index
    assert "<svg" in index  # the distribution chart, inline
    agency = (tmp_path / "agencies/so-noi-vu.html").read_text(encoding="utf-8")
    # what fails comes first, with why and how to fix it (translated), then the matrix
    assert agency.index('id="failing"') < agency.index('id="matrix"')
    assert "Máy chủ web truy cập được qua IPv6" in agency
    assert "Cách khắc phục" in agency and "<code>listen [::]:80;</code>" in agency
    assert "đã hết hạn" in agency  # the expired DNSSEC waiver
    assert "bị giới hạn" in agency  # grade capped by a mandatory failure
    assert 'id="untested"' in agency and "http.csp" in agency
    assert "polyline" in agency  # trend over the two scans


def test_html_content_en(store: StoreAndIds, tmp_path: Path) -> None:
    st, ids = store
    render_all(st, ids[-1], tmp_path, "en")
    agency = (tmp_path / "agencies/so-noi-vu.html").read_text(encoding="utf-8")
    assert "What fails, and how to fix it" in agency
    assert "Why it matters" in agency
    assert "IIS" in agency and "nginx" in agency


def test_past_scan_uses_its_own_inventory_snapshot(store: StoreAndIds, tmp_path: Path) -> None:
    st, ids = store
    raw_sql(
        st,
        "UPDATE scans SET inventory_json = ? WHERE id = ?",
        (
            json.dumps(
                {"agencies": [{"id": "only-old", "name": "Old", "hosts": [], "domains": []}]}
            ),
            ids[0],
        ),
    )
    render_all(st, ids[0], tmp_path, "en")
    assert (tmp_path / "agencies/only-old.html").is_file()
    assert not (tmp_path / "agencies/ubnd.html").exists()


def test_json_document(store: StoreAndIds) -> None:
    st, ids = store
    doc = scan_document(st, ids[-1])
    assert doc["schema_version"] == 1
    assert doc["scan"]["id"] == ids[-1]
    f0 = doc["findings"][0]
    assert set(f0) >= {"agency", "target", "address", "check", "status", "message", "evidence"}
    waived = [f for f in doc["findings"] if f["waived"]]
    assert {(f["agency"], f["check"]) for f in waived} == {("so-noi-vu", "http.hsts")}
    agencies = {a["id"]: a for a in doc["agencies"]}
    assert agencies["so-noi-vu"]["grade"] == "C" and agencies["so-noi-vu"]["grade_capped"]
    assert agencies["empty"]["score"] is None
    assert doc["profile"]["name"] == "vn-gov"
    assert doc["previous_scan"] == ids[0]
    assert {r["requirement"] for r in doc["requirements"]} >= {"ipv6-web-reach", "dnssec"}
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[2] / "docs/scan.schema.json").read_text())
    jsonschema.validate(json.loads(json.dumps(doc)), schema)


def test_csv_one_row_per_target_requirement(store: StoreAndIds) -> None:
    st, ids = store
    data = load_report(st, ids[-1])
    rows = list(csv.DictReader(io.StringIO(csv_text(data))))
    assert len(rows) == sum(len(a.pairs) for a in data.score.agencies)
    row = next(
        r
        for r in rows
        if r["agency_id"] == "ubnd"
        and r["target"] == PORTAL
        and r["requirement_id"] == "ipv6-web-reach"
    )
    assert row["status"] == "fail" and row["failing_checks"] == "ipv6.web.reach"
    # remote text cannot become a spreadsheet formula
    for r in rows:
        for value in r.values():
            assert not value.startswith(("=", "+", "@")) or value.startswith("'")


def test_csv_formula_injection() -> None:
    from reports.csvout import _cell

    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("-1+1") == "'-1+1"
    assert _cell(-1.5) == "-1.5"


def test_markdown(store: StoreAndIds) -> None:
    st, ids = store
    text = markdown_text(load_report(st, ids[-1]), "en")
    assert text.startswith("# Compliance scorecards")
    assert HOSTILE not in text and "\\<script\\>" in text
    assert "| 1 |" in text
    assert md_escape("a|b\nc") == "a\\|b c"


def test_flatten_caps() -> None:
    rows = flatten({"a": {"b": [1, 2]}, "long": "x" * 5000, "many": [{"k": i} for i in range(500)]})
    assert ("a.b", "1, 2") in rows
    assert len(rows) <= 201
    assert all(len(v) <= 601 for _, v in rows)


def test_cli_report_and_profiles(
    store: StoreAndIds,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    st, ids = store
    db = st.url  # a sqlite:/// URL: --db takes one as well as a path
    out = tmp_path / "out"
    code = main(
        [
            "report",
            "--db",
            db,
            "--scan",
            str(ids[0]),
            "--out",
            str(out),
            "--lang",
            "en",
            "--json",
            str(tmp_path / "r.json"),
            "--csv",
            str(tmp_path / "r.csv"),
            "--markdown",
            str(tmp_path / "r.md"),
        ]
    )
    assert code == 0
    assert (out / "index.html").is_file()
    assert json.loads((tmp_path / "r.json").read_text())["scan"]["id"] == ids[0]
    assert (tmp_path / "r.csv").read_bytes().startswith(b"\xef\xbb\xbfscan_id,")
    assert (tmp_path / "r.md").read_text().startswith("# ")
    assert main(["report", "--db", db]) == 2
    assert main(["report", "--db", db, "--scan", "99", "--out", str(out)]) == 2
    assert main(["report", "--db", db, "--profile", "nope", "--out", str(out)]) == 2
    capsys.readouterr()
    assert main(["profiles"]) == 0
    listed = capsys.readouterr().out
    for name in ("vn-gov", "us-bod-18-01", "us-omb-m-21-07", "ncsc-nl"):
        assert name in listed
    assert main(["profiles", "vn-gov"]) == 0
    assert "ipv6-web-aaaa" in capsys.readouterr().out
    assert main(["profiles", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) >= 4


def _keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for k, v in tree.items():
        out |= _keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"}
    return out


def test_catalogues_complete() -> None:
    import yaml

    from auditor.registry import all_checks

    root = Path(__file__).resolve().parents[2] / "reports"
    vi = yaml.safe_load((root / "locales/vi.yaml").read_text(encoding="utf-8"))
    en = yaml.safe_load((root / "locales/en.yaml").read_text(encoding="utf-8"))
    assert _keys(vi["ui"]) == _keys(en["ui"])
    used: set[str] = set()
    for template in (root / "templates").glob("*.j2"):
        used |= set(re.findall(r"\bt\('([a-z_.]+)'", template.read_text(encoding="utf-8")))
    dynamic = {k for k in used if k.endswith("_")}
    assert used - dynamic <= _keys(en["ui"]), sorted(used - dynamic - _keys(en["ui"]))
    # Every registered check (and so every CHECKS.md id) has a Vietnamese title, why and fix.
    for spec in all_checks():
        entry = vi["checks"].get(spec.id)
        assert entry and entry.get("title") and entry.get("why") and entry.get("fix"), spec.id


def test_evaluation_compares_with_the_scan_before_its_source(store: StoreAndIds) -> None:
    from tests.support.factories import inventory

    st, ids = store
    ev = st.begin_scan(
        profile="vn-gov",
        inventory_path="/tmp/inv.yaml",
        inventory_name="x",
        inventory=inventory(WAIVERS),
        options={},
        kind="evaluation",
        source_scan=ids[1],
    )
    st.replace_findings(ev, st.findings(ids[1]))
    st.finish_scan(ev, "complete", {})
    data = load_report(st, ev)
    assert data.previous_scan is not None and data.previous_scan.id == ids[0]
    assert [s.id for s, _ in data.history] == [ids[0], ev]


def test_unloadable_scan_profile_falls_back_with_a_note(store: StoreAndIds, tmp_path: Path) -> None:
    st, ids = store
    raw_sql(st, "UPDATE scans SET profile = 'gone' WHERE id = ?", (ids[1],))
    data = load_report(st, ids[1])
    assert data.profile.name == "vn-gov" and "'gone'" in data.profile_note
    render_all(st, ids[1], tmp_path, "en")
    assert "used the default" in (tmp_path / "index.html").read_text(encoding="utf-8")


@pytest.fixture
def untested_store(full_registry: None, tmp_path: Path) -> Iterator[StoreAndIds]:
    """ubnd's portal and zone could not be tested at all: coverage 0, insufficient data."""
    from tests.support.factories import ALL

    overrides = {}
    for cid in ALL:
        overrides[(PORTAL, cid)] = S.NOT_TESTED
        overrides[("ubnd.example.gov.vn", cid)] = S.NOT_TESTED
    overrides[("snv.example.gov.vn", "ipv6.web.reach")] = S.FAIL
    store, ids = make_store(tmp_path / "u.db", scans=[overrides])
    with store:
        yield store, ids


def test_insufficient_data_in_every_output(untested_store: StoreAndIds, tmp_path: Path) -> None:
    st, ids = untested_store
    data = load_report(st, ids[-1])
    ubnd = data.score.agency("ubnd")
    snv = data.score.agency("so-noi-vu")
    assert ubnd.coverage == 0.0 and ubnd.insufficient and ubnd.grade is None
    assert snv.coverage is not None and snv.coverage >= 50 and snv.grade is not None
    assert [a.id for a in data.score.ranked()] == ["so-noi-vu", "ubnd", "empty"]
    # JSON: coverage and the flag, valid against the schema.
    doc = scan_document(st, ids[-1])
    agencies = {a["id"]: a for a in doc["agencies"]}
    assert agencies["ubnd"]["insufficient_data"] is True
    assert agencies["ubnd"]["coverage"] == 0.0 and agencies["ubnd"]["grade"] is None
    assert agencies["so-noi-vu"]["coverage"] == snv.coverage
    assert doc["profile"]["min_coverage"] == 50.0
    assert doc["coverage"] == data.score.coverage
    assert set(agencies["so-noi-vu"]["category_coverage"]) == set(snv.categories)
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[2] / "docs/scan.schema.json").read_text())
    jsonschema.validate(json.loads(json.dumps(doc)), schema)
    # CSV: the grade cell says so, the coverage column carries the share.
    rows = list(csv.DictReader(io.StringIO(csv_text(data))))
    row = next(r for r in rows if r["agency_id"] == "ubnd")
    assert (row["agency_grade"], row["agency_coverage"]) == ("insufficient data", "0.0")
    # Markdown: unranked, with its coverage.
    md = markdown_text(data, "en")
    assert "| – | UBND" in md and "| 0 % | Insufficient data |" in md
    # HTML, both languages: the grade is replaced, the rank is apart.
    render_all(st, ids[-1], tmp_path / "vi", "vi")
    index = (tmp_path / "vi/index.html").read_text(encoding="utf-8")
    assert "Chưa đủ cơ sở xếp loại" in index
    assert "Chưa đủ cơ sở xếp loại: không xếp hạng" in index
    assert index.index("Sở Nội vụ") < index.index("không xếp hạng") < index.index("UBND")
    agency = (tmp_path / "vi/agencies/ubnd.html").read_text(encoding="utf-8")
    assert "Chưa đủ cơ sở xếp loại" in agency and "cần ít nhất 50 %" in agency
    render_all(st, ids[-1], tmp_path / "en", "en")
    en = (tmp_path / "en/agencies/ubnd.html").read_text(encoding="utf-8")
    assert "Insufficient data" in en and "a grade needs at least 50 %" in en
    snv_page = (tmp_path / "en/agencies/so-noi-vu.html").read_text(encoding="utf-8")
    assert "Coverage" in snv_page and f"{snv.coverage:.0f} %" in snv_page


@pytest.mark.parametrize(
    ("lang", "meaning"),
    [
        ("vi", "Máy quét không có kết nối IPv6"),
        ("en", "The scanner had no IPv6 connectivity"),
    ],
)
def test_footing_in_the_html_header_and_the_json(
    store: StoreAndIds, tmp_path: Path, lang: str, meaning: str
) -> None:
    from auditor.selfcheck import FOOTING_KEY, FamilyFooting, Footing, FootStatus, ResolverFooting

    st, ids = store
    reason = f"the scanner has no IPv6 connectivity (no global IPv6 address) {HOSTILE}"
    footing = Footing(
        "2026-01-01T00:00:00+00:00",
        FamilyFooting("ipv6", FootStatus.DOWN, reason),
        FamilyFooting("ipv4", FootStatus.OK, "IPv4: address 192.0.2.2; default route"),
        ResolverFooting(FootStatus.OK, "resolver: 192.0.2.53:53 answers"),
    )
    st.finish_scan(ids[-1], "complete", {"dns_queries": 7, FOOTING_KEY: footing.to_record()})
    render_all(st, ids[-1], tmp_path, lang)
    for page in ("index.html", "agencies/ubnd.html", f"hosts/{PORTAL}.html"):
        html = (tmp_path / page).read_text(encoding="utf-8")
        header = html[html.index('<header class="top">') : html.index("</header>")]
        assert 'IPv6 <span class="foot-down">' in header and "IPv4 <span" in header, page
        assert meaning in html and HOSTILE not in html and ESCAPED in html, page
    doc = scan_document(st, ids[-1])
    assert doc["scan"]["footing"]["ipv6"]["status"] == "down"
    assert doc["scan"]["stats"] == {"dns_queries": 7}
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[2] / "docs/scan.schema.json").read_text())
    jsonschema.validate(json.loads(json.dumps(doc)), schema)
    # a scan recorded before the footing existed renders as before, without it
    st.finish_scan(ids[-1], "complete", {})
    render_all(st, ids[-1], tmp_path / "old", lang)
    assert '<span class="foot-' not in (tmp_path / "old" / "index.html").read_text(encoding="utf-8")
    assert scan_document(st, ids[-1])["scan"]["footing"] is None


def test_zone_view_lists_the_mx_zones_name_servers() -> None:
    from auditor import serde
    from auditor.obs.zone import MxZoneNs
    from reports.views import zone_view
    from tests.support.factories import ans, good_zone, server

    ns = server("ns.<b>provider</b>.vn", ("192.0.2.54",), ("2001:db8::54",))
    z = good_zone(
        mx_zone_ns=(MxZoneNs("provider.vn", ("mx1.provider.vn",), ans("provider.vn", "NS"), (ns,)),)
    )
    rows = [r for r in zone_view(serde.to_jsonable(z)).servers if r.role.startswith("MX zone NS")]
    assert [(r.role, r.name, r.a, r.aaaa) for r in rows] == [
        ("MX zone NS (provider.vn)", "ns.<b>provider</b>.vn", ("192.0.2.54",), ("2001:db8::54",))
    ]
    # a scan stored before the field: no such row
    old = serde.to_jsonable(good_zone())
    old.pop("mx_zone_ns", None)
    assert not [r for r in zone_view(old).servers if r.role.startswith("MX zone NS")]
