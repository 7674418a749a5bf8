"""History and diff: pure over store data; `auditor history` and `auditor diff`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.history import (
    default_pair,
    diff_scans,
    finding_changes,
    summarize,
    summarize_counts,
)
from auditor.model import Finding, Status, TargetKind
from reports.data import load_report
from tests.support.factories import V6, full_registry, make_store

__all__ = ["full_registry"]

S = Status
PORTAL = "portal.example.gov.vn"


def _f(check: str, status: Status, address: str | None = None) -> Finding:
    return Finding(check, TargetKind.HOST, "h", address, status, "m")


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        (S.PASS, S.FAIL, "regression"),
        (S.PASS, S.WARN, "regression"),
        (S.WARN, S.FAIL, "regression"),
        (S.FAIL, S.PASS, "improvement"),
        (S.WARN, S.INFO, "improvement"),
        (S.PASS, S.NOT_TESTED, "changed"),
        (S.NOT_TESTED, S.FAIL, "changed"),
        (None, S.PASS, "added"),
        (S.PASS, None, "removed"),
        (S.PASS, S.INFO, None),
        (S.FAIL, S.FAIL, None),
    ],
)
def test_classification(before: Status | None, after: Status | None, kind: str | None) -> None:
    old = [_f("c", before)] if before else []
    new = [_f("c", after)] if after else []
    changes = finding_changes(old, new)
    assert [c.kind for c in changes] == ([kind] if kind else [])


def test_per_address_changes_are_separate() -> None:
    old = [_f("tls.x", S.PASS, "192.0.2.1"), _f("tls.x", S.PASS, V6)]
    new = [_f("tls.x", S.PASS, "192.0.2.1"), _f("tls.x", S.FAIL, V6)]
    (change,) = finding_changes(old, new)
    assert (change.address, change.before, change.after) == (V6, "pass", "fail")


def test_diff_of_two_scans_shows_exactly_the_change(full_registry: None, tmp_path: Path) -> None:
    store, (first, second) = make_store(
        tmp_path / "s.db", scans=[{}, {(f"{PORTAL}@{V6}", "tls.cert.expiry"): S.FAIL}]
    )
    with store:
        before = load_report(store, first).score
        after = load_report(store, second).score
        diff = diff_scans(
            first, second, store.findings(first), store.findings(second), before, after
        )
        assert default_pair(store.scans()) == (store.scan(first), store.scan(second))
        summaries = [summarize(s, store.findings(s.id)) for s in store.scans()]
        # what `auditor history` shows, counted by SQLite, is the same summary
        counted = [summarize_counts(s, store.status_counts(s.id)) for s in store.scans()]
    assert counted == summaries
    assert [(c.kind, c.target, c.check, c.address) for c in diff.changes] == [
        ("regression", PORTAL, "tls.cert.expiry", V6)
    ]
    by_id = {a.id: a for a in diff.agencies}
    # the shared host belongs to two agencies: the change shows for both
    for agency in ("so-noi-vu", "ubnd"):
        a = by_id[agency]
        assert [c.check for c in a.changes] == ["tls.cert.expiry"]
        assert a.requirements == (("host", PORTAL, "tls-cert", "pass", "fail"),)
        assert a.score_after is not None and a.score_before is not None
        assert a.score_after < a.score_before
    assert not by_id["empty"].changed
    assert diff.to_dict()["summary"]["regression"] == 1
    assert summaries[0].counts["pass"] > 0 and summaries[1].counts["fail"] == 1


def test_cli_history_and_diff(
    full_registry: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    store, (first, second) = make_store(
        db, scans=[{("ubnd.example.gov.vn", "mail.dmarc"): S.FAIL}, {}]
    )
    store.close()
    assert main(["history", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"#{first}" in out and f"#{second}" in out
    assert main(["history", "--db", str(db), "--json"]) == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)] == [first, second]

    assert main(["diff", "--db", str(db), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["from"], doc["to"]) == (first, second)
    assert [(c["kind"], c["target"], c["check"]) for c in doc["changes"]] == [
        ("improvement", "ubnd.example.gov.vn", "mail.dmarc")
    ]
    assert [a["id"] for a in doc["agencies"]] == ["ubnd"]

    # Backwards: the improvement is a regression, and diff says so in its exit code.
    assert main(["diff", "--db", str(db), "--from", str(second), "--to", str(first)]) == 1
    text = capsys.readouterr().out
    assert "1 regression(s)" in text and "mail.dmarc: pass -> fail" in text
    # the hostile agency name and message are printed as plain, single-line text
    assert "\x1b" not in text


def test_cli_diff_needs_two_scans(
    full_registry: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    make_store(db)[0].close()
    assert main(["diff", "--db", str(db)]) == 2
    assert "need two complete scans" in capsys.readouterr().err
    assert main(["diff", "--db", str(tmp_path / "none.db")]) == 2
    assert main(["diff", "--db", str(db), "--to", "99"]) == 2


def test_diff_shows_coverage_and_insufficient_data(
    full_registry: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.factories import ALL

    untested = {}
    for cid in ALL:
        untested[(PORTAL, cid)] = S.NOT_TESTED
        untested[("ubnd.example.gov.vn", cid)] = S.NOT_TESTED
    db = tmp_path / "s.db"
    store, (first, second) = make_store(db, scans=[{}, untested])
    with store:
        diff = diff_scans(
            first,
            second,
            store.findings(first),
            store.findings(second),
            load_report(store, first).score,
            load_report(store, second).score,
        )
    ubnd = {a.id: a for a in diff.agencies}["ubnd"]
    before = ubnd.coverage_before
    assert before is not None and before > 90 and ubnd.coverage_after == 0.0
    assert (ubnd.insufficient_before, ubnd.insufficient_after) == (False, True)
    assert ubnd.to_dict()["coverage"] == {"before": before, "after": 0.0}
    assert ubnd.to_dict()["insufficient_data"] == {"before": False, "after": True}
    main(["diff", "--db", str(db)])
    out = capsys.readouterr().out
    assert f"({before:g} % tested) -> " in out and "(0 % tested)" in out
    assert f"grade {ubnd.grade_before} -> insufficient data" in out
