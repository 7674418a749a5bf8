"""The workbook opens in LibreOffice: ``auditor report --xlsx`` run as a real process, then
LibreOffice Calc headless (Debian's libreoffice-calc-nogui, tests/apt-packages.txt)
converts every sheet to CSV, in a profile directory of its own. What Calc read back is
what was written: every sheet, the Vietnamese headers, the rows, and a hostile formula as
the text it was (Calc evaluated nothing), a long remote message at Excel's cell limit."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.model import Status
from reports.i18n import Catalog
from reports.xlsx import MAX_CELL_CHARS
from tests.support.factories import full_registry, make_store, raw_sql
from tests.support.servers import in_ci

__all__ = ["full_registry"]

PORTAL = "portal.example.gov.vn"
FORMULA = '=HYPERLINK("http://203.0.113.9/x","click")'
SHEETS = ("ranked", "matrix", "failures", "untested", "scan")
# Calc's CSV filter: comma, double quote, UTF-8 (76), from line 1, cells as shown, and (the
# 12th token, LibreOffice 7.2+) -1: every sheet to a file of its own, NAME-SHEET.csv.
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"


def soffice() -> str:
    found = shutil.which("soffice")
    if found:
        return found
    if in_ci():
        pytest.fail("CI=true but soffice is missing (libreoffice-calc-nogui)", pytrace=False)
    pytest.skip("soffice missing: apt-get install libreoffice-calc-nogui")


def test_libreoffice_opens_every_sheet_as_written(full_registry: None, tmp_path: Path) -> None:
    binary = soffice()
    db = tmp_path / "s.db"
    store, _ids = make_store(db, scans=[{(PORTAL, "ipv6.web.reach"): Status.FAIL}])
    with store:
        snapshot = store.scan(1).inventory
        snapshot["agencies"][0]["name"] = FORMULA
        raw_sql(store, "UPDATE scans SET inventory_json = ? WHERE id = 1", (json.dumps(snapshot),))
        raw_sql(
            store,
            "UPDATE findings SET message = ? WHERE check_id = 'ipv6.web.reach' AND target = ?",
            ("+1 " + "y" * 40_000, PORTAL),
        )
    book = tmp_path / "report.xlsx"
    done = subprocess.run(
        [sys.executable, "-m", "auditor", "report", "--db", str(db), "--xlsx", str(book)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    out = tmp_path / "csv"
    converted = subprocess.run(
        [
            binary,
            f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            CSV_FILTER,
            "--outdir",
            str(out),
            str(book),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert converted.returncode == 0, converted.stderr
    cat = Catalog("vi")
    sheets: dict[str, list[list[str]]] = {}
    for key in SHEETS:
        name = cat.t(f"xlsx.sheet_{key}")
        path = out / f"report-{name}.csv"
        assert path.is_file(), (converted.stdout, sorted(p.name for p in out.iterdir()))
        with path.open(encoding="utf-8", newline="") as f:
            sheets[key] = list(csv.reader(f))
    ranked = sheets["ranked"]
    assert ranked[0][:3] == [cat.t("rank"), cat.t("xlsx.agency_id"), cat.t("agency")]
    by_id = {r[1]: r for r in ranked[1:]}
    assert set(by_id) == {"so-noi-vu", "ubnd", "empty"}
    assert by_id["so-noi-vu"][2] == "'" + FORMULA  # text, as written: nothing evaluated
    assert "click" not in {cell for r in ranked for cell in r}
    failures = sheets["failures"]
    message = failures[0].index(cat.t("message"))
    reach = [r for r in failures[1:] if r[4] == "ipv6.web.reach"]
    assert {r[0] for r in reach} == {"so-noi-vu", "ubnd"}
    assert all(r[message].startswith("'+1 yyy") for r in reach)
    assert all(len(r[message]) == MAX_CELL_CHARS for r in reach)
    matrix = sheets["matrix"]
    assert any(r[0] == "ubnd" and r[3] == PORTAL for r in matrix[1:])
    assert sheets["untested"][0][0] == cat.t("xlsx.side")
    assert [cat.t("scan"), "#1"] == sheets["scan"][1][:2]
