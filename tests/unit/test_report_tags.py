"""``--tag`` (every report and the gate restricted to tagged agencies) and the agency tree
of the inventory's ``parent`` links (issue #18, part 2): pure code and stores on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from auditor.gate import EXIT_USAGE as EXIT_GATE_USAGE
from auditor.inventory import UnknownTagError, load_inventory, select_tagged
from auditor.model import Status, TargetKind
from auditor.store import open_store
from reports import render_report
from reports.csvout import csv_text
from reports.data import load_report
from reports.jsonout import scan_chunks
from reports.markdown import markdown_text
from reports.views import agency_tree
from tests.support.factories import findings_for, full_registry, inventory

__all__ = ["full_registry"]
pytestmark = pytest.mark.usefixtures("full_registry")


def tree_inventory() -> dict[str, Any]:
    """The factories' province with a tree: ubnd (province) above so-noi-vu (department)
    above "empty" (a unit of it), and tags on each."""
    inv = inventory()
    by_id = {a["id"]: a for a in inv["agencies"]}
    by_id["ubnd"]["tags"] = ["province"]
    by_id["so-noi-vu"]["tags"] = ["department"]
    by_id["so-noi-vu"]["parent"] = "ubnd"
    by_id["empty"]["tags"] = ["department", "unit"]
    by_id["empty"]["parent"] = "so-noi-vu"
    return inv


def tree_store(path: Path, scans: int = 1) -> tuple[Any, list[int]]:
    store = open_store(path)
    ids = []
    for n in range(scans):
        scan_id = store.begin_scan(
            profile="vn-gov",
            inventory_path="/tmp/inv.yaml",
            inventory_name="Tỉnh Thử nghiệm",
            inventory=tree_inventory(),
            options={},
        )
        # The second scan fails the zone of ubnd: a change only the untagged agency has.
        over = {("ubnd.example.gov.vn", "dns.dnssec.signed"): Status.FAIL} if n else {}
        by_target: dict[tuple[TargetKind, str], list[Any]] = {}
        for f in findings_for(over):
            by_target.setdefault((f.target_kind, f.target), []).append(f)
        for (kind, name), items in by_target.items():
            obs = {"host": name} if kind == TargetKind.HOST else {"zone": name}
            store.save_target(scan_id, kind, name, json.dumps(obs), items, "2026-01-01T00:00:00Z")
        store.finish_scan(scan_id, "complete", {})
        ids.append(scan_id)
    return store, ids


# --------------------------------------------------------------------------- selection


def test_select_tagged_keeps_the_agencies_with_any_of_the_tags() -> None:
    snap = tree_inventory()
    assert [a["id"] for a in select_tagged(snap, ["department"])["agencies"]] == [
        "so-noi-vu",
        "empty",
    ]
    assert [a["id"] for a in select_tagged(snap, ["unit", "province"])["agencies"]] == [
        "ubnd",
        "empty",
    ]
    # The snapshot given is left as it was (a stored scan's record is shared).
    assert len(snap["agencies"]) == 3


def test_an_unknown_tag_is_an_error_naming_the_tags_there_are() -> None:
    with pytest.raises(UnknownTagError) as err:
        select_tagged(tree_inventory(), ["departmnt"])
    text = str(err.value)
    assert "'departmnt'" in text
    assert "did you mean department" in text
    assert "its tags: department, province, unit" in text
    assert "/tmp/inv.yaml" in text


def test_inventory_tagged(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(
        "version: 1\nname: T\nagencies:\n"
        "  - {id: a, name: A, tags: [province], hosts: [a.example.gov.vn]}\n"
        "  - {id: b, name: B, parent: a, tags: [department], hosts: [b.example.gov.vn]}\n"
        "  - {id: c, name: C, parent: a, tags: [department, pilot], hosts: [c.example.gov.vn]}\n",
        encoding="utf-8",
    )
    inv = load_inventory(path)
    assert [a.id for a in inv.tagged(["department"])] == ["b", "c"]
    assert [a.id for a in inv.tagged(["pilot", "province"])] == ["a", "c"]
    # Kept agencies keep their parent (the reports' tree shows them as roots then).
    assert inv.tagged(["pilot"]).agency("c").parent == "a"
    with pytest.raises(UnknownTagError, match=r"did you mean pilot"):
        inv.tagged(["pliot"])


# --------------------------------------------------------------------------- reports


def test_every_output_of_a_tagged_report_holds_the_tagged_agencies_only(tmp_path: Path) -> None:
    store, (_first, second) = tree_store(tmp_path / "s.db", scans=2)
    with store:
        data = load_report(store, second, tags=["department"])
        assert [a.id for a in data.score.agencies] == ["so-noi-vu", "empty"]
        assert data.tags == ("department",)
        assert ("zone", "ubnd.example.gov.vn") not in (data.targets or set())
        assert all(f.target != "ubnd.example.gov.vn" for f in data.findings)
        # The trend is restricted too: the earlier scan's summary knows no ubnd either.
        assert all("ubnd" not in s.scores for _scan, s in data.history)

        doc = json.loads("".join(scan_chunks(store, second, report=data)))
        assert doc["scan"]["tags"] == ["department"]
        assert {a["id"] for a in doc["agencies"]} == {"so-noi-vu", "empty"}
        assert doc["findings"]
        assert {f["agency"] for f in doc["findings"]} == {"so-noi-vu"}
        assert all(f["target"] != "ubnd.example.gov.vn" for f in doc["findings"])
        # portal.example.gov.vn is shared with ubnd: listed for so-noi-vu only here.
        assert any(f["target"] == "portal.example.gov.vn" for f in doc["findings"])

        assert "ubnd" not in csv_text(data)
        md = markdown_text(data, "en")
        assert "Only the agencies tagged department" in md
        assert "UBND" not in md

        out = tmp_path / "html"
        pages = render_report(store, data, out, "vi")
        names = {p.name for p in pages}
        index = (out / "index.html").read_text(encoding="utf-8")
        assert "Chỉ gồm các cơ quan, đơn vị có nhãn department" in index
        assert "Sở Nội vụ" in index
        assert "UBND" not in index
        assert not any("ubnd" in n for n in names), names

        # Without --tag every agency is there and the JSON says nothing of tags.
        whole = load_report(store, second)
        assert len(whole.score.agencies) == 3
        assert "tags" not in json.loads("".join(scan_chunks(store, second, report=whole)))["scan"]


def test_report_cli_tag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, _ids = tree_store(tmp_path / "s.db")
    store.close()
    db = str(tmp_path / "s.db")
    assert main(["report", "--db", db, "--tag", "province", "--csv", "-"]) == 0
    out = capsys.readouterr().out
    assert "ubnd" in out
    assert "so-noi-vu" not in out
    assert main(["report", "--db", db, "--tag", "nope", "--csv", "-"]) != 0
    err = capsys.readouterr().err
    assert "no agency" in err
    assert "'nope'" in err


def test_gate_tag_needs_an_inventory(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate", "www.example.gov.vn", "--tag", "x"]) != 0
    assert "--tag go with --inventory" in capsys.readouterr().err


# --------------------------------------------------------------------------- the tree


class _A:
    def __init__(self, agency_id: str, parent: str | None) -> None:
        self.agency = type("Info", (), {"id": agency_id, "parent": parent})()


def test_agency_tree_depth_first_in_inventory_order() -> None:
    agencies = [
        _A("dept-b", "prov"),
        _A("prov", None),
        _A("unit", "dept-a"),
        _A("dept-a", "prov"),
        _A("orphan", "not-in-report"),
    ]
    rows = agency_tree(agencies, lambda _i: None)
    assert [(r.agency.agency.id, r.depth, r.children) for r in rows] == [
        ("prov", 0, 2),
        ("dept-b", 1, 0),
        ("dept-a", 1, 1),
        ("unit", 2, 0),
        ("orphan", 0, 0),
    ]
    below = agency_tree(agencies, lambda i: 1.5 if i == "unit" else None, root="dept-a")
    assert [(r.agency.agency.id, r.depth, r.delta) for r in below] == [("unit", 0, 1.5)]


def test_agency_tree_survives_a_cycle() -> None:
    agencies = [_A("a", "b"), _A("b", "a"), _A("c", None)]
    rows = agency_tree(agencies, lambda _i: None)
    assert sorted(r.agency.agency.id for r in rows) == ["a", "b", "c"]
    assert len(rows) == 3


def test_pages_show_the_tree(tmp_path: Path) -> None:
    store, (scan_id,) = tree_store(tmp_path / "s.db")
    with store:
        data = load_report(store, scan_id)
        out = tmp_path / "html"
        render_report(store, data, out, "en")
    index = (out / "index.html").read_text(encoding="utf-8")
    tree = index.split('id="tree"', 1)[1].split("</table>", 1)[0]
    depths = [int(x.split('"', 1)[0]) for x in tree.split('data-depth="')[1:]]
    assert depths == [0, 1, 2]
    order = [tree.index(n) for n in ("UBND", "Department of Home Affairs", "Không có máy chủ")]
    assert order == sorted(order)
    # The hostile agency name is shown as text.
    assert "<script>alert(1)</script>" not in tree
    text = (out / "agencies" / "ubnd.html").read_text(encoding="utf-8")
    assert 'id="subordinates"' in text
    sub = text.split('id="subordinates"', 1)[1].split("</table>", 1)[0]
    assert "Department of Home Affairs" in sub
    assert "Không có máy chủ" in sub
    child = (out / "agencies" / "so-noi-vu.html").read_text(encoding="utf-8")
    assert "Reports to" in child
    assert 'href="ubnd.html"' in child or 'href="../agencies/ubnd.html"' in child


def test_scan_and_gate_refuse_an_unknown_tag_before_any_probe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(
        "version: 1\nname: T\nagencies:\n"
        "  - {id: a, name: A, tags: [province], hosts: [a.example.gov.vn]}\n",
        encoding="utf-8",
    )
    db = str(tmp_path / "s.db")
    assert main(["scan", str(path), "--db", db, "--tag", "provnce", "-q"]) == 2
    err = capsys.readouterr().err
    assert "--tag" in err
    assert "did you mean province" in err
    assert not (tmp_path / "s.db").exists()  # nothing was scanned or stored
    # The gate's own usage exit code (auditor.gate.EXIT_USAGE).
    assert main(["gate", "--inventory", str(path), "--tag", "provnce"]) == EXIT_GATE_USAGE
    err = capsys.readouterr().err
    assert "--tag: no agency in" in err
    assert "did you mean province" in err


# --------------------------------------------------------------------------- dates


def test_dates_read_day_month_year_in_vietnamese() -> None:
    from datetime import date

    from reports.html import fmt_date

    assert fmt_date("2026-12-03T08:05:00+00:00", "vi") == "03/12/2026"
    assert fmt_date("2026-12-03T08:05:00+07:00", "vi", with_time=True) == "01:05 03/12/2026 (UTC)"
    assert fmt_date("2026-12-03T08:05:00Z", "en", with_time=True) == "2026-12-03 08:05 UTC"
    assert fmt_date(date(2027, 1, 9), "vi", with_time=True) == "09/01/2027"
    assert fmt_date("2027-01-09", "en") == "2027-01-09"
    assert fmt_date("not a date <b>", "vi") == "not a date <b>"
    assert fmt_date(None, "vi") == "-"


def test_vietnamese_pages_date_the_scan_day_month_year(tmp_path: Path) -> None:
    store, (scan_id,) = tree_store(tmp_path / "s.db")
    with store:
        started = store.scan(scan_id).started
        render_report(store, load_report(store, scan_id), tmp_path / "vi", "vi")
        render_report(store, load_report(store, scan_id), tmp_path / "en", "en")
    y, m, d = started[:10].split("-")
    vi = (tmp_path / "vi" / "agencies" / "ubnd.html").read_text(encoding="utf-8")
    assert f"{d}/{m}/{y}" in vi
    assert started[:10] not in vi
    en = (tmp_path / "en" / "agencies" / "ubnd.html").read_text(encoding="utf-8")
    assert started[:10] in en
