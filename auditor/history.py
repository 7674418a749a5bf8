"""Scan history and scan-to-scan differences (pure: works on store records and scores).

``auditor history`` lists every stored scan; ``auditor diff`` compares two scans and says,
per agency, host (or domain) and check, what got worse (regressions), what got better
(improvements) and what changed otherwise (e.g. became not testable). Status order used:
``pass/info < warn < fail``; moves to or from ``not_tested``/``error``/``not_applicable``
are "changed", never a regression or an improvement (an unreachable resolver is not a
compliance change).

Vantages (issue #16) are compared like with like: a finding seen from vantage A is compared
with vantage A's finding of the other scan, never with another network's. A vantage in only
one of the two scans is named as such (``Diff.only_before``/``only_after``) and its findings
are not changes: a new vantage that sees a portal dark over IPv6 has not seen it regress.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from auditor.model import LOCAL_VANTAGE, Finding, Status
from auditor.scoring import ScanScore
from auditor.store import ScanRecord

__all__ = [
    "CheckChange",
    "Diff",
    "NoPair",
    "ScanDiffAgency",
    "ScanSummary",
    "choose_pair",
    "default_pair",
    "describe_scan",
    "diff_scans",
    "previous_scan",
    "summarize",
]

_RANK = {Status.PASS: 0, Status.INFO: 0, Status.WARN: 1, Status.FAIL: 2}


@dataclass(frozen=True)
class ScanSummary:
    id: int
    started: str
    finished: str | None
    status: str
    kind: str
    source_scan: int | None
    profile: str
    inventory_name: str
    inventory_path: str
    counts: dict[str, int]  # findings per status

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started": self.started,
            "finished": self.finished,
            "status": self.status,
            "kind": self.kind,
            "source_scan": self.source_scan,
            "profile": self.profile,
            "inventory_name": self.inventory_name,
            "inventory": self.inventory_path,
            "findings": self.counts,
        }


def summarize(scan: ScanRecord, findings: Iterable[Finding]) -> ScanSummary:
    return summarize_counts(scan, Counter(f.status.value for f in findings))


def summarize_counts(scan: ScanRecord, counts: Mapping[str, int]) -> ScanSummary:
    """The summary from findings per status (e.g. ``Store.status_counts``, which counts in
    SQLite: `auditor history` must not load every finding of every scan to count them)."""
    counts = {k: v for k, v in counts.items() if v}
    return ScanSummary(
        id=scan.id,
        started=scan.started,
        finished=scan.finished,
        status=scan.status,
        kind=scan.kind,
        source_scan=scan.source_scan,
        profile=scan.profile,
        inventory_name=scan.inventory_name,
        inventory_path=scan.inventory_path,
        counts=dict(sorted(counts.items())),
    )


def default_pair(scans: Sequence[ScanRecord]) -> tuple[ScanRecord, ScanRecord] | None:
    """What ``auditor diff`` compares by default: the last two complete network scans
    (kind ``scan``) of the same inventory, the latest last. Evaluations re-score an older
    scan's observations (often with another profile) and gate rows are CI runs: neither is
    "what changed on the network since last time"."""
    complete = [s for s in scans if s.status == "complete" and s.kind == "scan"]
    if not complete:
        return None
    to = complete[-1]
    before = [s for s in complete[:-1] if s.inventory_path == to.inventory_path]
    if not before:
        return None
    return before[-1], to


def previous_scan(
    scans: Sequence[ScanRecord], after: ScanRecord, *, same_profile: bool = False
) -> ScanRecord | None:
    """The complete network scan of the same inventory before ``after`` (before its source
    scan when ``after`` is an evaluation: an evaluation stands for the scan it re-scores).
    ``same_profile``: of the same profile too (the alerts' predecessor)."""
    base = after.source_scan or after.id
    earlier = [
        s
        for s in scans
        if s.id < base
        and s.status == "complete"
        and s.kind == "scan"
        and s.inventory_path == after.inventory_path
        and (not same_profile or s.profile == after.profile)
    ]
    return earlier[-1] if earlier else None


class NoPair(ValueError):
    """No pair of scans to compare. ``reason``: ``two`` (no two complete scans of one
    inventory), ``latest`` (no complete scan at all) or ``before`` (nothing complete before
    ``scan_id`` to compare it with)."""

    def __init__(self, reason: str, scan_id: int | None = None) -> None:
        super().__init__(reason, scan_id)
        self.reason = reason
        self.scan_id = scan_id


def choose_pair(
    scans: Sequence[ScanRecord],
    from_id: int | None,
    to_id: int | None,
    fetch: Callable[[int], ScanRecord],
) -> tuple[ScanRecord, ScanRecord, str]:
    """The (earlier, later) scans to compare and how they were chosen, as ``auditor diff``
    and the dashboard's ``/diff`` choose them: neither id given, :func:`default_pair`;
    ``to_id`` alone, that scan and the one before it (:func:`previous_scan`); ``from_id``
    alone, that scan and the latest complete network scan; both, as asked. ``fetch`` reads
    a scan by id (KeyError when there is none); NoPair when there is nothing to compare."""
    if from_id is None and to_id is None:
        pair = default_pair(scans)
        if pair is None:
            raise NoPair("two")
        return pair[0], pair[1], "the last two complete scans of this inventory"
    if to_id is not None:
        after = fetch(to_id)
    else:
        complete = [s for s in scans if s.status == "complete" and s.kind == "scan"]
        if not complete:
            raise NoPair("latest")
        after = complete[-1]
    if from_id is not None:
        before = fetch(from_id)
    else:
        prev = previous_scan(scans, after)
        if prev is None:
            raise NoPair("before", after.id)
        before = prev
    if from_id is not None and to_id is not None:
        chosen = "as asked"
    elif to_id is not None:
        chosen = "--to and the scan before it"
    else:
        chosen = "--from and the latest complete scan"
    return before, after, chosen


def describe_scan(scan: ScanRecord) -> str:
    """``scan #4`` / ``evaluation #5 (of scan #4)`` / ``gate #6``, with its date."""
    source = f" (of scan #{scan.source_scan})" if scan.source_scan else ""
    return f"{scan.kind} #{scan.id}{source} of {scan.started[:10]}"


@dataclass(frozen=True)
class CheckChange:
    """One (target, check, address) whose status changed between the two scans."""

    kind: str  # regression | improvement | changed | added | removed
    target_kind: str
    target: str
    check: str
    address: str | None
    before: str | None  # status, None when absent
    after: str | None
    message: str  # the message of the later scan (or of the earlier when removed)
    vantage: str = LOCAL_VANTAGE  # where both were observed from

    def to_dict(self, vantaged: bool = False) -> dict[str, Any]:
        """``vantaged``: the scans have vantages other than ``local`` alone; say which."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "target_kind": self.target_kind,
            "target": self.target,
            "check": self.check,
            "address": self.address,
            "before": self.before,
            "after": self.after,
            "message": self.message,
        }
        if vantaged:
            out["vantage"] = self.vantage
        return out


@dataclass(frozen=True)
class ScanDiffAgency:
    id: str
    name: str
    score_before: float | None
    score_after: float | None
    grade_before: str | None
    grade_after: str | None
    kpi_before: str | None
    kpi_after: str | None
    # (target_kind, target, requirement, before, after) for pairs whose status changed
    requirements: tuple[tuple[str, str, str, str | None, str | None], ...]
    changes: tuple[CheckChange, ...]
    # Share (0-100) of the scored weight each score rests on; "insufficient data" (no grade).
    coverage_before: float | None = None
    coverage_after: float | None = None
    insufficient_before: bool = False
    insufficient_after: bool = False

    @property
    def changed(self) -> bool:
        return bool(
            self.changes
            or self.requirements
            or self.score_before != self.score_after
            or self.grade_before != self.grade_after
            or self.kpi_before != self.kpi_after
            or self.coverage_before != self.coverage_after
            or self.insufficient_before != self.insufficient_after
        )

    def to_dict(self, vantaged: bool = False) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "score": {"before": self.score_before, "after": self.score_after},
            "grade": {"before": self.grade_before, "after": self.grade_after},
            "coverage": {"before": self.coverage_before, "after": self.coverage_after},
            "insufficient_data": {
                "before": self.insufficient_before,
                "after": self.insufficient_after,
            },
            "kpi": {"before": self.kpi_before, "after": self.kpi_after},
            "requirements": [
                {"target_kind": k, "target": t, "requirement": r, "before": b, "after": a}
                for k, t, r, b, a in self.requirements
            ],
            "changes": [c.to_dict(vantaged) for c in self.changes],
        }


@dataclass(frozen=True)
class Diff:
    before: int
    after: int
    agencies: tuple[ScanDiffAgency, ...]
    changes: tuple[CheckChange, ...] = field(default=())  # every target, owned or not
    # The vantages both scans have (compared), and those only one of them has (not compared).
    vantages: tuple[str, ...] = (LOCAL_VANTAGE,)
    only_before: tuple[str, ...] = ()
    only_after: tuple[str, ...] = ()

    @property
    def vantaged(self) -> bool:
        """Not two one-machine scans: the vantage dimension is shown."""
        return (self.vantages, self.only_before, self.only_after) != ((LOCAL_VANTAGE,), (), ())

    def count(self, kind: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind)

    def agency(self, agency_id: str) -> ScanDiffAgency | None:
        return next((a for a in self.agencies if a.id == agency_id), None)

    def for_agency(self, agency_id: str) -> Diff | None:
        """The diff as one agency may see it: its own row, and the changes of its own hosts
        and zones only (a host it shares with another agency included); the summary counts
        those. None when neither scan has that agency."""
        mine = self.agency(agency_id)
        if mine is None:
            return None
        return replace(self, agencies=(mine,), changes=mine.changes)

    def to_dict(self) -> dict[str, Any]:
        v = self.vantaged
        out: dict[str, Any] = {
            "from": self.before,
            "to": self.after,
            "summary": {
                k: self.count(k)
                for k in ("regression", "improvement", "changed", "added", "removed")
            },
            "agencies": [a.to_dict(v) for a in self.agencies if a.changed],
            "changes": [c.to_dict(v) for c in self.changes],
        }
        if v:
            out["vantages"] = {
                "compared": list(self.vantages),
                "only_before": list(self.only_before),
                "only_after": list(self.only_after),
            }
        return out


def _classify(before: Status | None, after: Status | None) -> str | None:
    if before == after:
        return None
    if before is None:
        return "added"
    if after is None:
        return "removed"
    if before in _RANK and after in _RANK:
        if _RANK[after] > _RANK[before]:
            return "regression"
        if _RANK[after] < _RANK[before]:
            return "improvement"
        return None  # pass <-> info
    return "changed"


def split_vantages(
    before: Iterable[Finding], after: Iterable[Finding]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(vantages in both, only in ``before``, only in ``after``), each sorted. Two scans
    without findings at all compare as one-machine scans."""
    old = {f.vantage for f in before} or {LOCAL_VANTAGE}
    new = {f.vantage for f in after} or {LOCAL_VANTAGE}
    return tuple(sorted(old & new)), tuple(sorted(old - new)), tuple(sorted(new - old))


def finding_changes(before: Iterable[Finding], after: Iterable[Finding]) -> list[CheckChange]:
    """Status changes per (vantage, target kind, target, check, address): like with like. A
    vantage in only one of the two scans is left out (split_vantages names it)."""
    before, after = list(before), list(after)
    common, _old_only, _new_only = split_vantages(before, after)
    shared = set(common)
    before = [f for f in before if f.vantage in shared]
    after = [f for f in after if f.vantage in shared]

    def key(f: Finding) -> tuple[str, str, str, str, str]:
        return (f.target_kind.value, f.target, f.check, f.address or "", f.vantage)

    old = {key(f): f for f in before}
    new = {key(f): f for f in after}
    out: list[CheckChange] = []
    for k in sorted(set(old) | set(new)):
        fo, fn = old.get(k), new.get(k)
        kind = _classify(fo.status if fo else None, fn.status if fn else None)
        if kind is None:
            continue
        ref = fn or fo
        assert ref is not None
        out.append(
            CheckChange(
                kind=kind,
                target_kind=k[0],
                target=k[1],
                check=k[2],
                address=k[3] or None,
                before=fo.status.value if fo else None,
                after=fn.status.value if fn else None,
                message=ref.message,
                vantage=k[4],
            )
        )
    order = {"regression": 0, "improvement": 1, "changed": 2, "added": 3, "removed": 4}
    out.sort(key=lambda c: (order[c.kind], c.target, c.check, c.address or "", c.vantage))
    return out


def diff_scans(
    before_id: int,
    after_id: int,
    before_findings: Sequence[Finding],
    after_findings: Sequence[Finding],
    before_score: ScanScore,
    after_score: ScanScore,
) -> Diff:
    changes = finding_changes(before_findings, after_findings)
    common, only_before, only_after = split_vantages(before_findings, after_findings)
    agencies: list[ScanDiffAgency] = []
    old_agencies = {a.id: a for a in before_score.agencies}
    for a in after_score.agencies:
        o = old_agencies.get(a.id)
        mine = {("host", h) for h in a.agency.hosts} | {("zone", z) for z in a.agency.zones}
        old_pairs = (
            {(p.target_kind.value, p.target, p.requirement.id): p.status.value for p in o.pairs}
            if o
            else {}
        )
        req_changes = []
        for p in a.pairs:
            k = (p.target_kind.value, p.target, p.requirement.id)
            if old_pairs.get(k) != p.status.value:
                req_changes.append((*k, old_pairs.get(k), p.status.value))
        agencies.append(
            ScanDiffAgency(
                id=a.id,
                name=a.agency.name,
                score_before=o.score if o else None,
                score_after=a.score,
                grade_before=o.grade if o else None,
                grade_after=a.grade,
                kpi_before=o.kpi if o else None,
                kpi_after=a.kpi,
                requirements=tuple(req_changes),
                changes=tuple(c for c in changes if (c.target_kind, c.target) in mine),
                coverage_before=o.coverage if o else None,
                coverage_after=a.coverage,
                insufficient_before=o.insufficient if o else False,
                insufficient_after=a.insufficient,
            )
        )
    for aid, o in old_agencies.items():
        if all(a.id != aid for a in after_score.agencies):
            agencies.append(
                ScanDiffAgency(
                    aid,
                    o.agency.name,
                    o.score,
                    None,
                    o.grade,
                    None,
                    o.kpi,
                    None,
                    (),
                    (),
                    coverage_before=o.coverage,
                    insufficient_before=o.insufficient,
                )
            )
    return Diff(
        before_id, after_id, tuple(agencies), tuple(changes), common, only_before, only_after
    )
