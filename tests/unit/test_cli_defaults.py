"""Defaults that do not mislead, and the small things a user trips over (issue 13).

- ``evaluate``/``report``/``diff`` without ids pick network scans (kind ``scan``), never a
  newer evaluation or gate row, and say on stderr which rows and which profile they use;
- ``checks --profile P`` shows the level the profile gives, ``checks`` the level hint;
- ``diff`` exits 1 on a regression (``--exit-zero``: 0);
- a closed stdout pipe ends quietly (a real process: tests/integration/test_cli_defaults.py);
- ``--json -`` and ``--csv -`` write to stdout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.model import Status
from auditor.store import open_store
from tests.support.factories import full_registry, make_store

__all__ = ["full_registry"]

ROOT = Path(__file__).resolve().parents[2]
PORTAL = "portal.example.gov.vn"


@pytest.fixture
def db(full_registry: None, tmp_path: Path) -> Path:
    """Scans #1 and #2 (vn-gov; #2 regresses), then evaluation #3 of #2 with ncsc-nl."""
    path = tmp_path / "s.db"
    store, ids = make_store(path, scans=[{}, {(PORTAL, "ipv6.web.reach"): Status.FAIL}])
    store.close()
    assert ids == [1, 2]
    assert main(["evaluate", "--db", str(path), "--profile", "ncsc-nl"]) == 0
    return path


def _rows(path: Path) -> list[tuple[int, str, int | None, str]]:
    with open_store(path) as store:
        return [(s.id, s.kind, s.source_scan, s.profile) for s in store.scans()]


def test_evaluate_defaults_to_the_latest_scan_not_an_evaluation(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["evaluate", "--db", str(db)]) == 0
    err = capsys.readouterr().err
    # Today's main evaluated evaluation #3 (the latest row) and so inherited ncsc-nl.
    assert "evaluating scan #2 of " in err and "(the latest complete scan" in err
    assert "with profile vn-gov (the profile of scan #2)" in err
    assert _rows(db)[-1] == (4, "evaluation", 2, "vn-gov")


def test_evaluating_an_evaluation_stands_for_its_source_scan(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--db", str(db), "--scan", "3"]) == 0
    assert "evaluating evaluation #3 (of scan #2)" in capsys.readouterr().err
    # profile of #3 (ncsc-nl); the new row's source is the network scan #2
    assert _rows(db)[-1] == (4, "evaluation", 2, "ncsc-nl")


def test_report_defaults_to_the_latest_scan_and_names_newer_rows(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    out = tmp_path / "r.json"
    assert main(["report", "--db", str(db), "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "report of scan #2 of " in err and "profile vn-gov (the profile of #2)" in err
    assert "newer: evaluation #3 (--scan ID to report one of them)" in err
    doc = json.loads(out.read_text(encoding="utf-8"))
    # Today's main reported evaluation #3, silently scored with ncsc-nl.
    assert (doc["scan"]["id"], doc["scan"]["kind"], doc["profile"]["name"]) == (
        2,
        "scan",
        "vn-gov",
    )
    assert main(["report", "--db", str(db), "--scan", "3", "--json", str(out)]) == 0
    assert "report of evaluation #3 (of scan #2)" in capsys.readouterr().err
    assert json.loads(out.read_text(encoding="utf-8"))["profile"]["name"] == "ncsc-nl"


def test_diff_defaults_to_the_last_two_scans_and_says_so(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["diff", "--db", str(db), "--json", "--exit-zero"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    # Today's main compared scan #2 with its own evaluation #3 (same observations).
    assert (doc["from"], doc["to"]) == (1, 2)
    assert "diff scan #1 of " in captured.err and "-> scan #2 of " in captured.err
    assert "both scored with profile vn-gov (the profile of #2)" in captured.err
    # --to an evaluation: compared with the scan before its source, with its profile.
    assert main(["diff", "--db", str(db), "--to", "3", "--json", "--exit-zero"]) == 0
    captured = capsys.readouterr()
    assert (json.loads(captured.out)["from"], json.loads(captured.out)["to"]) == (1, 3)
    assert "both scored with profile ncsc-nl (the profile of #3)" in captured.err
    assert "note: #1 was made with profile vn-gov" in captured.err


def test_diff_exits_1_on_a_regression(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "--db", str(db)]) == 1
    assert "1 regression(s)" in capsys.readouterr().out
    assert main(["diff", "--db", str(db), "--json"]) == 1
    assert main(["diff", "--db", str(db), "--exit-zero"]) == 0
    # No regression: 0 (#2 -> #1 is an improvement only).
    assert main(["diff", "--db", str(db), "--from", "2", "--to", "1"]) == 0


def test_diff_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["diff", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "1 at least one regression (--exit-zero: 0)" in text
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "--exit-zero" in readme


def test_checks_with_a_profile_shows_the_profiles_levels(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def line_of(text: str, check: str) -> list[str]:
        return next(ln.split() for ln in text.splitlines() if ln.startswith(check + " "))

    assert main(["checks"]) == 0
    plain = capsys.readouterr().out
    assert "level hint" in plain.splitlines()[0]
    assert line_of(plain, "ipv6.web.only")[2] == "recommended"  # its hint
    assert line_of(plain, "http.hsts")[2] == "mandatory"

    assert main(["checks", "--profile", "vn-gov"]) == 0
    text = capsys.readouterr().out
    only = line_of(text, "ipv6.web.only")
    assert only[2:4] == ["mandatory", "ipv6-web-only"] and "(hint: recommended)" in " ".join(only)
    assert line_of(text, "http.hsts")[2:4] == ["recommended", "https-enforced"]
    assert "[KPI]" in " ".join(line_of(text, "ipv6.web.aaaa"))

    assert main(["checks", "--profile", "us-bod-18-01"]) == 0
    text = capsys.readouterr().out
    assert "not used by us-bod-18-01" in text
    unused = text.split("not used by us-bod-18-01", 1)[1]
    assert "ipv6.web.only" in unused and "http.hsts" not in unused

    assert main(["checks", "--profile", "vn-gov", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    levels = {c["id"]: c["level"] for c in doc["checks"]}
    assert levels["ipv6.web.only"] == "mandatory" and levels["http.hsts"] == "recommended"
    assert main(["checks", "--profile", "nope"]) == 2


def test_json_and_csv_dash_write_to_stdout(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["report", "--db", str(db), "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["scan"]["id"] == 2
    assert not (Path.cwd() / "-").exists()
    assert main(["report", "--db", str(db), "--csv", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("scan_id,scan_date,profile,agency_id")  # no BOM on a terminal
    assert main(["evaluate", "--db", str(db), "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["scan"]["kind"] == "evaluation"
    # Two outputs cannot share stdout.
    assert main(["report", "--db", str(db), "--json", "-", "--csv", "-"]) == 2
    assert "only one output can go to stdout" in capsys.readouterr().err


def test_gate_outputs_on_stdout_one_at_a_time(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["gate", "www.example.gov.vn", "--json", "-", "--junit", "-"])
    assert code == 3  # usage error, before any network step
    assert "only one output can go to stdout ('-'), got --junit -, --json -" in (
        capsys.readouterr().err
    )
