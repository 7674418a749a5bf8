"""The Excel workbook (reports/xlsx.py), read back with openpyxl: its sheets and headers in
Vietnamese and English, the rows each sheet has for a scored scan, what could not be tested
split by whose limit it was, and hostile remote strings (formulas, control characters, very
long texts) kept as inert text within Excel's limits; and ``auditor report --xlsx``."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

import reports.xlsx as xlsx
from auditor.cli import main
from auditor.model import Finding, Status, TargetKind
from auditor.scoring import CheckResult
from auditor.selfcheck import FamilyFooting, Footing, FootStatus, ResolverFooting
from auditor.store import Store
from reports.data import ReportData, load_report
from reports.i18n import FIX_KEYS, Catalog
from reports.xlsx import (
    MAX_CELL_CHARS,
    SCANNER,
    TARGET,
    Scope,
    cell_text,
    scanner_reasons,
    untested_side,
    write_workbook,
    xlsx_bytes,
)
from tests.support.factories import HOSTILE, full_registry, make_store, raw_sql

__all__ = ["full_registry"]

PORTAL = "portal.example.gov.vn"  # both agencies' host
SNV_HOST = "snv.example.gov.vn"
V6_DOWN = "no IPv6 address on any interface of the scanner"
FORMULA = '=HYPERLINK("http://203.0.113.9/x","click")'


@pytest.fixture
def store(full_registry: None, tmp_path: Path) -> Iterator[Store]:
    st, _ids = make_store(
        tmp_path / "s.db",
        scans=[
            {
                (PORTAL, "ipv6.web.reach"): Status.FAIL,
                (SNV_HOST, "http.hsts"): Status.WARN,
                (SNV_HOST, "http.csp"): Status.NOT_TESTED,
            }
        ],
    )
    with st:
        yield st


def book(data: ReportData, lang: str = "vi", scope: Scope = xlsx.EVERYTHING) -> Any:
    return load_workbook(io.BytesIO(xlsx_bytes(data, lang, scope)))


def rows(ws: Worksheet) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in ws.iter_rows(values_only=True)]


def by_header(ws: Worksheet) -> list[dict[str, Any]]:
    head, *body = rows(ws)
    return [dict(zip(head, r, strict=True)) for r in body]


def h(lang: str, key: str) -> str:
    return Catalog(lang).t(key)


# ----------------------------------------------------------------------------- sheets


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_sheets_and_headers_are_in_the_language_asked(store: Store, lang: str) -> None:
    wb = book(load_report(store, 1), lang)
    names = [f"xlsx.sheet_{k}" for k in ("ranked", "matrix", "failures", "untested", "scan")]
    assert wb.sheetnames == [h(lang, k) for k in names]
    ranked = rows(wb.worksheets[0])[0]
    assert ranked[:3] == (h(lang, "rank"), h(lang, "xlsx.agency_id"), h(lang, "agency"))
    failures = rows(wb.worksheets[2])[0]
    assert [f"{h(lang, 'fix')}: {h(lang, 'fix_' + k)}" for k in FIX_KEYS] == list(failures[-5:])
    assert h(lang, "xlsx.side") == rows(wb.worksheets[3])[0][0]
    for ws in wb.worksheets:  # every sheet filterable, its header frozen
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:")


def test_vietnamese_is_the_default_and_english_differs(store: Store) -> None:
    data = load_report(store, 1)
    assert load_workbook(io.BytesIO(xlsx_bytes(data))).sheetnames[0] == "Xếp hạng"
    assert book(data, "en").sheetnames[0] == "Ranking"


def test_ranked_sheet_is_the_scoring_s_ranking(store: Store) -> None:
    data = load_report(store, 1)
    table = by_header(book(data).worksheets[0])
    ranked = data.score.ranked()
    assert [r["Mã cơ quan"] for r in table] == [a.id for a in ranked]
    first = table[0]
    a = ranked[0]
    assert first["Hạng"] == 1 and first["Điểm"] == a.score and first["Xếp loại"] == a.grade
    assert first["Tỷ lệ kiểm tra được (%)"] == a.coverage
    empty = next(r for r in table if r["Mã cơ quan"] == "empty")
    assert empty["Hạng"] == "-" and empty["Điểm"] == "-"  # nothing to score: no rank
    kpi = data.profile.kpi
    assert kpi is not None and empty[kpi.title_vi or kpi.title] == h("vi", "kpi_na")
    assert isinstance(first["Điểm"], float | int)  # a number Excel sorts, not a text


def test_matrix_has_a_row_per_agency_and_target_and_a_column_per_requirement(
    store: Store,
) -> None:
    data = load_report(store, 1)
    ws = book(data).worksheets[1]
    head, *body = rows(ws)
    reqs = data.profile.requirements
    assert len(head) == 4 + len(reqs)
    assert head[4] == f"{Catalog('vi').requirement_title(reqs[0])} ({reqs[0].id})"
    keys = [(r[0], r[2], r[3]) for r in body]
    # The shared host is a row of each owner; the agency without targets has none.
    assert ("so-noi-vu", "Máy chủ", PORTAL) in keys and ("ubnd", "Máy chủ", PORTAL) in keys
    assert not any(k[0] == "empty" for k in keys)
    expected = sum(len({(p.target_kind, p.target) for p in a.pairs}) for a in data.score.agencies)
    assert len(body) == expected
    col = 4 + next(i for i, r in enumerate(reqs) if "ipv6.web.reach" in r.checks)
    portal = next(r for r in body if r[0] == "ubnd" and r[3] == PORTAL)
    assert portal[col] == h("vi", "status_fail")


def test_failures_carry_the_catalogue_s_why_and_fix_per_platform(store: Store) -> None:
    data = load_report(store, 1)
    table = by_header(book(data, "en").worksheets[2])
    reach = [r for r in table if r["Check ID"] == "ipv6.web.reach"]
    assert {r["Agency ID"] for r in reach} == {"so-noi-vu", "ubnd"}
    cat = Catalog("en")
    fix = cat.check_fix("ipv6.web.reach")
    row = reach[0]
    assert row["Status"] == "Fail" and row["Level"] == cat.level("mandatory")
    assert row["Why it matters"] == cat.check_why("ipv6.web.reach")
    for key in FIX_KEYS:
        assert (row[f"How to fix: {cat.t('fix_' + key)}"] or "") == fix.get(key, "")
    assert any(fix.values())
    hsts = next(r for r in table if r["Check ID"] == "http.hsts")
    assert hsts["Status"] == cat.status("warn")
    # Fail before warn, as the agency page lists them; nothing that passes.
    statuses = [r["Status"] for r in table if r["Agency ID"] == "so-noi-vu"]
    assert statuses.index(cat.status("fail")) < statuses.index(cat.status("warn"))
    assert cat.status("pass") not in statuses


def test_untested_says_whose_limit_scanner_first(store: Store) -> None:
    data = load_report(store, 1)
    table = by_header(book(data, "en").worksheets[3])
    side = "Whose limit"
    scanner, target = h("en", "xlsx.side_scanner"), h("en", "xlsx.side_target")
    csp = next(r for r in table if r["Check ID"] == "http.csp" and r["Target"] == SNV_HOST)
    assert csp[side] == target  # the host's own not-tested result: not the scanner's
    assert csp["Reason"].endswith(f"http.csp not_tested {HOSTILE}")  # kept as it is
    sides = [r[side] for r in table]
    assert scanner in sides and target in sides
    assert sides == sorted(sides, key=lambda s: s != scanner)  # the scanner's apart, first
    expected = sum(len(a.incomplete()) for a in data.score.agencies)
    assert len(table) == expected


def test_scan_sheet_names_the_scan_inventory_profile_and_vantages(store: Store) -> None:
    data = load_report(store, 1)
    pairs = {r[0]: r[1] for r in rows(book(data, "en").worksheets[4]) if r[0]}
    assert pairs["Scan"] == "#1"
    assert pairs["Inventory"] == "Tỉnh Thử nghiệm"
    assert pairs["Profile"].startswith(f"{data.profile.name}: ")
    assert pairs["Vantage points"] == "local"
    assert pairs["Started (UTC)"] == data.scan.started
    assert pairs["Requirement ID"] == h("en", "requirement")  # the requirements table's head
    # In Vietnamese the day comes first, as on the Vietnamese pages.
    vi = {r[0]: r[1] for r in rows(book(data, "vi").worksheets[4]) if r[0]}
    y, m, d = data.scan.started[:10].split("-")
    assert vi[Catalog("vi").t("xlsx.started")].endswith(f"{d}/{m}/{y} (UTC)")
    assert data.profile.requirements[0].id in pairs


# ----------------------------------------------------------------------------- whose limit


def _footing(ipv6_reason: str) -> Footing:
    return Footing(
        checked="2026-01-01T00:00:00+00:00",
        ipv6=FamilyFooting("ipv6", FootStatus.DOWN, ipv6_reason),
        ipv4=FamilyFooting("ipv4", FootStatus.OK, "ok"),
        resolver=ResolverFooting(
            FootStatus.OK, "ok", broken=(("vn", "the resolver fails for vn"),)
        ),
    )


def _result(status: Status, message: str, findings: bool = True) -> CheckResult:
    f = Finding("ipv6.web.reach", TargetKind.HOST, PORTAL, None, status, message)
    return CheckResult(
        "ipv6.web.reach", PORTAL, TargetKind.HOST, status, 0.0, message, (f,) if findings else ()
    )


def test_scanner_reasons_are_the_footing_s_problems(store: Store) -> None:
    from dataclasses import replace

    data = load_report(store, 1)
    assert scanner_reasons(data) == frozenset()  # no footing recorded
    stats = {"footing": _footing(V6_DOWN).to_record()}
    with_footing = replace(data, scan=replace(data.scan, stats=stats))
    assert scanner_reasons(with_footing) == {V6_DOWN, "the resolver fails for vn"}


@pytest.mark.parametrize(
    ("status", "message", "findings", "side"),
    [
        (Status.NOT_TESTED, f"{'2001:db8::10'}: {V6_DOWN}", True, SCANNER),
        (Status.NOT_TESTED, "the resolver fails for vn", True, SCANNER),
        (Status.NOT_TESTED, "the scanner was overloaded while probing this target", True, SCANNER),
        (Status.NOT_TESTED, "refused by the scanner's address guard", True, SCANNER),
        (Status.NOT_TESTED, "no result stored for this check", False, SCANNER),
        (Status.ERROR, "check crashed: ValueError: x", True, SCANNER),
        (Status.NOT_TESTED, "host did not resolve - A: nxdomain; AAAA: nxdomain", True, TARGET),
        (Status.NOT_TESTED, "https://x/ not fetched: connection refused", True, TARGET),
    ],
)  # fmt: skip
def test_untested_side(status: Status, message: str, findings: bool, side: str) -> None:
    limits = {V6_DOWN, "the resolver fails for vn"}
    assert untested_side(_result(status, message, findings), limits) == side


# ----------------------------------------------------------------------------- hostile text


@pytest.mark.parametrize(
    "text",
    [FORMULA, "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "＝1+1", "=cmd|' /C calc'!A0"],
)
def test_formula_starts_become_text_with_an_apostrophe(text: str) -> None:
    assert cell_text(text) == "'" + text


def test_plain_text_and_a_lone_dash_are_kept() -> None:
    assert cell_text("Sở Nội vụ = tốt") == "Sở Nội vụ = tốt"
    assert cell_text("-") == "-"


def test_control_characters_are_replaced_and_long_text_capped() -> None:
    assert cell_text("a\x00b\x1bc\x0bd\ud800e\ufffe") == "a\ufffdb\ufffdc\ufffdd\ufffde\ufffd"
    assert cell_text("keep\ttab\nnewline\rcr") == "keep\ttab\nnewline\rcr"
    long = cell_text("x" * 100_000)
    assert len(long) == MAX_CELL_CHARS and long.endswith("…")
    # The apostrophe counts toward the cap too.
    assert len(cell_text("=" + "x" * 40_000)) == MAX_CELL_CHARS


def _hostile_store(store: Store) -> None:
    snapshot = store.scan(1).inventory
    snapshot["agencies"][0]["name"] = FORMULA
    snapshot["agencies"][0]["name_en"] = "@SUM(A1)\x07"
    raw_sql(store, "UPDATE scans SET inventory_json = ? WHERE id = 1", (json.dumps(snapshot),))
    long_ctrl = "-1+1 " + "\x01\x1f" + "y" * 50_000
    raw_sql(
        store,
        "UPDATE findings SET message = ? WHERE check_id = 'ipv6.web.reach' AND target = ?",
        (long_ctrl, PORTAL),
    )


def test_hostile_strings_are_inert_text_in_the_workbook(store: Store) -> None:
    _hostile_store(store)
    data = load_report(store, 1)
    wb = book(data)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)
                if isinstance(c.value, str):
                    assert len(c.value) <= MAX_CELL_CHARS
                    assert not c.value.startswith(("=", "+", "@")), (ws.title, c.value)
                    assert not any(ord(ch) < 32 and ch not in "\t\n\r" for ch in c.value)
    ranked = by_header(wb.worksheets[0])
    snv = next(r for r in ranked if r["Mã cơ quan"] == "so-noi-vu")
    assert snv["Cơ quan, đơn vị"] == "'" + FORMULA
    assert snv["Tên tiếng Anh"] == "'@SUM(A1)\ufffd"
    failures = by_header(wb.worksheets[2])
    reach = next(r for r in failures if r["Mã phép kiểm tra"] == "ipv6.web.reach")
    assert reach["Nội dung"].startswith("'-1+1 \ufffd\ufffdyyy")
    assert len(reach["Nội dung"]) == MAX_CELL_CHARS
    # Kept as it is: a workbook has no markup to escape, and nothing in it runs.
    assert f"UBND {HOSTILE}" in {r["Cơ quan, đơn vị"] for r in ranked}


def test_sheet_names_are_legal() -> None:
    assert xlsx._sheet_name("a/b:c*d?e[f]g\\h" + "x" * 40) == "a b c d e f g h" + "x" * 16
    assert xlsx._sheet_name("'\x00'") == "Sheet"


def test_a_sheet_past_excel_s_row_limit_ends_with_a_note(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx, "MAX_ROWS", 4)
    ws = book(load_report(store, 1)).worksheets[1]  # the matrix has 6 rows of targets
    body = rows(ws)
    assert len(body) == 4
    assert str(body[-1][0]).startswith("… (more than 3 rows, cut)")


# ----------------------------------------------------------------------------- scopes


def test_an_agency_scope_keeps_the_ranking_and_only_its_detail_rows(store: Store) -> None:
    data = load_report(store, 1)
    wb = book(data, "en", Scope(agencies=frozenset({"ubnd"})))
    assert len(by_header(wb.worksheets[0])) == len(data.score.agencies)  # the public ranking
    for ws in wb.worksheets[1:4]:
        ids = {r["Agency ID"] for r in by_header(ws)}
        assert ids <= {"ubnd"}, ws.title
    assert {r["Agency ID"] for r in by_header(wb.worksheets[1])} == {"ubnd"}
    scan = {r[0]: r[1] for r in rows(wb.worksheets[4]) if r[0]}
    assert scan["Agencies"] == 1
    assert "Inventory file" not in scan  # the scanning machine's path: not for one agency
    whole = {r[0]: r[1] for r in rows(book(data, "en").worksheets[4]) if r[0]}
    assert whole["Inventory file"] == data.scan.inventory_path


def test_summary_only_is_the_ranked_sheet_alone(store: Store) -> None:
    wb = book(load_report(store, 1), "en", Scope(summary_only=True))
    assert wb.sheetnames == ["Ranking"]


def test_write_workbook_to_a_path(store: Store, tmp_path: Path) -> None:
    target = tmp_path / "out.xlsx"
    write_workbook(load_report(store, 1), target, "en")
    assert load_workbook(target).sheetnames[0] == "Ranking"


# ----------------------------------------------------------------------------- the CLI


def test_report_xlsx_writes_the_workbook(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sub" / "report.xlsx"
    db = store.url
    assert main(["report", "--db", db, "--xlsx", str(out), "--lang", "en"]) == 0
    assert load_workbook(out).sheetnames == [
        "Ranking",
        "Hosts x requirements",
        "Failures and fixes",
        "Not tested",
        "Scan",
    ]
    assert not list(out.parent.glob(".*.part"))  # the temporary file renamed into place
    assert main(["report", "--db", db, "--xlsx", "-", "--csv", "-"]) == 2
    assert "only one output can go to stdout" in capsys.readouterr().err


def test_report_xlsx_to_stdout(store: Store, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["report", "--db", store.url, "--xlsx", "-"]) == 0
    data = capfdbinary.readouterr().out
    assert data.startswith(b"PK")
    assert load_workbook(io.BytesIO(data)).sheetnames[0] == "Xếp hạng"


def test_report_without_an_output_names_xlsx(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--db", store.url]) == 2
    assert "--xlsx FILE" in capsys.readouterr().err


# ----------------------------------------------------------------------------- vantages

DARK = PORTAL


@pytest.fixture
def two(full_registry: None, tmp_path: Path) -> Iterator[Store]:
    """Two vantages: "hcm" has no IPv6 (its footing says so, its IPv6 verdicts are not
    tested for that reason); from "hn" the portal fails IPv6 reachability, its HTTPS over
    IPv6 could not be tested (the host's doing), and snv's reachability is not tested for
    the scanner's reason there too."""
    from dataclasses import replace as dc_replace

    from auditor.store import open_store
    from tests.support.factories import findings_for, host_observation, inventory

    store = open_store(tmp_path / "two.db")
    scan_id = store.begin_scan(
        profile="vn-gov",
        inventory_path="/tmp/inv.yaml",
        inventory_name="Tỉnh Thử nghiệm",
        inventory=inventory(),
        options={},
    )
    hcm_down = {
        (h, c): Status.NOT_TESTED
        for h in (DARK, SNV_HOST)
        for c in ("ipv6.web.reach", "ipv6.web.https")
    }
    hn = {
        (DARK, "ipv6.web.reach"): Status.FAIL,
        (DARK, "ipv6.web.https"): Status.NOT_TESTED,
        (SNV_HOST, "ipv6.web.reach"): Status.NOT_TESTED,
    }
    for vantage, overrides, footing in (
        ("hcm", hcm_down, _footing(V6_DOWN).to_record()),
        ("hn", hn, {}),
    ):
        store.record_vantage(scan_id, vantage, footing)
        by: dict[tuple[TargetKind, str], list[Finding]] = {}
        for f in findings_for(overrides):
            if f.status == Status.NOT_TESTED:
                why = V6_DOWN
                if vantage == "hn" and (f.target, f.check) == (DARK, "ipv6.web.https"):
                    why = "no answer from the host over IPv6"
                f = dc_replace(f, message=why)
            by.setdefault((f.target_kind, f.target), []).append(f)
        for (kind, name), items in by.items():
            obs: dict[str, Any] = host_observation(name) if kind == TargetKind.HOST else {}
            store.save_target(
                scan_id, kind, name, json.dumps(obs), items, "2026-01-01T00:00:00+00:00", vantage
            )
    store.finish_scan(scan_id, "complete", {})
    yield store
    store.close()


def test_two_vantages_name_the_vantage_of_each_failure_and_untested(two: Store) -> None:
    data = load_report(two, 1)
    assert data.multi_vantage
    wb = book(data, "en")
    failures = by_header(wb.worksheets[2])
    reach = [r for r in failures if r["Check ID"] == "ipv6.web.reach" and r["Target"] == DARK]
    assert reach and {r["Vantage points"] for r in reach} == {"hn"}  # hcm could not test
    untested = {
        (r["Agency ID"], r["Target"], r["Check ID"]): r for r in by_header(wb.worksheets[3])
    }
    https = untested[("ubnd", DARK, "ipv6.web.https")]
    assert https["Vantage points"] == "hcm, hn"
    assert https["Whose limit"] == h("en", "xlsx.side_target")  # hn could have tested it
    snv = untested[("so-noi-vu", SNV_HOST, "ipv6.web.reach")]
    assert snv["Whose limit"] == h("en", "xlsx.side_scanner")  # both for the scanner's reason
    scan = [r for r in rows(wb.worksheets[4]) if r[0]]
    footing = [r[1] for r in scan if str(r[0]).startswith("Scanner (hcm)")]
    assert V6_DOWN in footing
    assert any(str(r[0]).startswith("Scanner (hn)") for r in scan)
    assert {r[0]: r[1] for r in scan}["Vantage points"] == "hcm, hn"


def test_one_vantage_has_no_vantage_column(store: Store) -> None:
    wb = book(load_report(store, 1), "en")
    for ws in wb.worksheets[2:4]:
        assert "Vantage points" not in rows(ws)[0]


def test_report_xlsx_into_a_path_that_cannot_be_made_names_it(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["report", "--db", store.url, "--xlsx", str(blocker / "x.xlsx")]) == 2
    err = capsys.readouterr().err
    assert f"auditor: error: cannot write {blocker}" in err and "Traceback" not in err


def test_report_xlsx_refuses_a_terminal(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["report", "--db", store.url, "--xlsx", "-"]) == 2
    assert "a workbook is binary" in capsys.readouterr().err


def test_report_xlsx_without_openpyxl_says_which_extra(
    store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "reports.xlsx", None)  # as if openpyxl were missing
    assert main(["report", "--db", store.url, "--xlsx", "x.xlsx"]) == 2
    assert "pip install '.[xlsx]'" in capsys.readouterr().err


def test_report_xlsx_with_tag_has_the_tagged_agencies_only(
    full_registry: None, tmp_path: Path
) -> None:
    from tests.support.factories import inventory

    snapshot = inventory()
    snapshot["agencies"][1]["tags"] = ["huyen"]
    st, _ids = make_store(tmp_path / "t.db")
    with st:
        raw_sql(st, "UPDATE scans SET inventory_json = ? WHERE id = 1", (json.dumps(snapshot),))
    out = tmp_path / "t.xlsx"
    assert (
        main(["report", "--db", str(tmp_path / "t.db"), "--xlsx", str(out), "--tag", "huyen"]) == 0
    )
    wb = load_workbook(out)
    assert agency_column(wb.worksheets[0]) == {"ubnd"}
    assert agency_column(wb.worksheets[1]) == {"ubnd"}
    scan = {r[0]: r[1] for r in rows(wb.worksheets[4]) if r[0]}
    assert "huyen" in scan["Nhãn"]


def agency_column(ws: Worksheet) -> set[str]:
    return {r[1] if ws.title == "Xếp hạng" else r[0] for r in rows(ws)[1:]}


def test_an_idn_host_shows_its_unicode_name_beside_the_a_label(store: Store) -> None:
    snapshot = store.scan(1).inventory
    snapshot["agencies"][1]["hosts"][0]["display"] = "cổng.example.gov.vn"
    raw_sql(store, "UPDATE scans SET inventory_json = ? WHERE id = 1", (json.dumps(snapshot),))
    matrix = rows(book(load_report(store, 1)).worksheets[1])
    ubnd = [r[3] for r in matrix if r[0] == "ubnd" and r[2] == "Máy chủ"]
    assert ubnd == [f"cổng.example.gov.vn ({PORTAL})"]
    snv = [r[3] for r in matrix if r[0] == "so-noi-vu" and r[3] and PORTAL in r[3]]
    assert snv == [PORTAL]  # the other owner's snapshot has no Unicode form of it
