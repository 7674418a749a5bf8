"""What every renderer needs about one stored scan: the scan, its score, the previous scan's
score and the trend. Read from the store only; the inventory is the scan's own snapshot
(``scans.inventory_json``), never the file on disk, so past scans render as they were.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from auditor.history import Diff, diff_scans
from auditor.inventory import UnknownTagError, select_tagged
from auditor.model import LOCAL_VANTAGE, Finding, TargetKind, path_target
from auditor.profiles import DEFAULT_PROFILE, Profile, ProfileError, load_profile
from auditor.scoring import ScanScore, score_scan
from auditor.store import ScanRecord, Store

TREND_SCANS = 12  # scans shown in the trend (the latest ones)


@dataclass(frozen=True)
class ScoreSummary:
    """What the trend and "change since the previous scan" need of a scan: per agency, its
    score and KPI. Kept instead of whole scores so a long history stays small in memory."""

    scores: Mapping[str, float | None]
    kpis: Mapping[str, str]

    @classmethod
    def of(cls, score: ScanScore) -> ScoreSummary:
        return cls(
            scores={a.id: a.score for a in score.agencies},
            kpis={a.id: a.kpi for a in score.agencies},
        )

    def mean(self) -> float | None:
        values = [v for v in self.scores.values() if v is not None]
        return round(sum(values) / len(values), 1) if values else None

    def kpi_share(self) -> tuple[int, int]:
        decided = [k for k in self.kpis.values() if k != "n/a"]
        return sum(1 for k in decided if k == "yes"), len(decided)


@dataclass(frozen=True)
class ReportData:
    scan: ScanRecord
    profile: Profile
    profile_note: str  # why another profile than the scan's was used ("" normally)
    score: ScanScore
    findings: tuple[Finding, ...]  # every finding, evidence left out (see load_report)
    previous_scan: ScanRecord | None
    previous: ScoreSummary | None
    # (scan, summary) oldest first, the current scan last.
    history: tuple[tuple[ScanRecord, ScoreSummary], ...]
    # The scan's vantages, sorted (("local",) for a one-machine scan), and the footing
    # recorded for each (issue #16: a distributed scan records one per vantage).
    vantages: tuple[str, ...] = (LOCAL_VANTAGE,)
    footings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # ``--tag``: the tags the report is restricted to (``scan.inventory`` is then the
    # snapshot restricted to the agencies carrying them), and the (kind, name) targets of
    # those agencies, for the outputs that stream findings and observations from the store.
    # Empty / None: the whole scan.
    tags: tuple[str, ...] = ()
    targets: frozenset[tuple[str, str]] | None = None

    def keeps(self, kind: TargetKind | str, name: str) -> bool:
        """Whether a target's findings and observations belong in this report."""
        if self.targets is None:
            return True
        return (kind.value if isinstance(kind, TargetKind) else kind, name) in self.targets

    # The previous scan's findings (without evidence) and its score with this profile: its
    # trend point is made of them, and the diff since it (load_diff) reuses them.
    previous_findings: tuple[Finding, ...] = ()
    previous_score: ScanScore | None = None

    @property
    def multi_vantage(self) -> bool:
        """Several vantages: the reports show the vantage dimension (columns, a matrix).
        A one-machine scan shows none of it and looks as it always did."""
        return len(self.vantages) > 1

    @property
    def vantaged(self) -> bool:
        """Not a one-machine scan (any vantage but ``local`` alone): the JSON names each
        finding's vantage."""
        return self.vantages != (LOCAL_VANTAGE,)

    @property
    def primary_vantage(self) -> str:
        return primary_vantage(self.vantages)

    def agency_delta(self, agency_id: str) -> float | None:
        """Score change since the previous scan (None: no previous score)."""
        if self.previous is None:
            return None
        before = self.previous.scores.get(agency_id)
        now = self.score.agency(agency_id).score
        if before is None or now is None:
            return None
        return round(now - before, 1)

    def agency_trend(self, agency_id: str) -> list[tuple[ScanRecord, float | None]]:
        return [(scan, s.scores[agency_id]) for scan, s in self.history if agency_id in s.scores]


def observation_docs(
    rows: Iterable[tuple[TargetKind, str, str]],
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Stored observations, parsed one at a time (a province's scan does not fit in memory
    all at once): (kind, name, JSON object)."""
    for kind, name, text in rows:
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        if isinstance(doc, dict):
            yield kind.value, name, doc


def primary_vantage(vantages: Iterable[str]) -> str:
    """The vantage whose observations the target pages show in detail: ``local`` when the
    scan has it, else the first by name."""
    names = sorted(vantages)
    if not names or LOCAL_VANTAGE in names:
        return LOCAL_VANTAGE
    return names[0]


def scan_vantages(store: Store, scan_id: int, findings: Iterable[Finding] = ()) -> tuple[str, ...]:
    """The vantages of a scan: those the store recorded and those its findings name."""
    names = set(store.vantages(scan_id)) | {f.vantage for f in findings}
    return tuple(sorted(names)) or (LOCAL_VANTAGE,)


def snapshot_targets(inventory: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    """The (kind, name) targets an inventory snapshot's agencies list."""
    out: set[tuple[str, str]] = set()
    for agency in inventory.get("agencies", []) or []:
        for host in agency.get("hosts", []) or []:
            out.add(("host", str(host["host"] if isinstance(host, Mapping) else host)))
        for zone in agency.get("domains", []) or []:
            out.add(("zone", str(zone)))
        for host in agency.get("hosts", []) or []:
            if isinstance(host, Mapping):
                for path in host.get("paths") or []:
                    if path != "/":
                        out.add(("path", path_target(str(host["host"]), str(path))))
    return frozenset(out)


def tagged_scan(scan: ScanRecord, tags: Sequence[str], *, strict: bool = True) -> ScanRecord:
    """The scan with its snapshot restricted to the agencies carrying any of ``tags``.
    ``strict``: no such agency raises :class:`UnknownTagError`; else (an earlier scan of the
    trend, before the tag was given) the scan keeps no agency."""
    if not tags:
        return scan
    try:
        inventory = select_tagged(scan.inventory, tags)
    except UnknownTagError:
        if strict:
            raise
        inventory = {**scan.inventory, "agencies": []}
    return dataclasses.replace(scan, inventory=inventory)


def scan_day(scan: ScanRecord) -> date:
    """The day a scan ran: waivers are judged against it, so re-renders do not change."""
    try:
        return date.fromisoformat(scan.started[:10])
    except ValueError:
        return date.today()


def resolve_profile(name: str | None, scan: ScanRecord) -> tuple[Profile, str]:
    """The profile to score with: the one asked for, else the scan's, else the default."""
    wanted = name or scan.profile or DEFAULT_PROFILE
    try:
        return load_profile(wanted), ""
    except ProfileError as exc:
        if name:
            raise
        note = f"profile {wanted!r} of scan {scan.id} could not be loaded ({exc}); used the default"
        return load_profile(DEFAULT_PROFILE), note


def score_of(store: Store, scan: ScanRecord, profile: Profile) -> ScanScore:
    return score_scan(profile, scan.inventory, store.findings(scan.id), scan_day(scan))


def summary_of(store: Store, scan: ScanRecord, profile: Profile) -> ScoreSummary:
    return ScoreSummary.of(
        score_scan(profile, scan.inventory, store.light_findings(scan.id), scan_day(scan))
    )


def load_report(
    store: Store,
    scan_id: int,
    profile_name: str | None = None,
    score: ScanScore | None = None,
    tags: Sequence[str] = (),
) -> ReportData:
    """What the renderers need of one scan, scored once (``score``: a scoring already made
    of it, e.g. the gate's, reused with its profile). ``tags``: only the agencies carrying
    any of them, in the scan and in its trend (:class:`UnknownTagError` if none does)."""
    tags = tuple(dict.fromkeys(tags))
    scan = tagged_scan(store.scan(scan_id), tags)
    targets = snapshot_targets(scan.inventory) if tags else None
    if score is not None:
        profile, note = score.profile, ""
    else:
        profile, note = resolve_profile(profile_name, scan)
    # Scored once per render and shared by every output of the run (HTML, JSON, CSV,
    # Markdown): without evidence, which no score reads; the outputs that show evidence
    # (the JSON findings, the target pages) stream it from the store target by target.
    findings = tuple(
        f
        for f in store.iter_findings(scan_id, evidence=False)
        if targets is None or (f.target_kind.value, f.target) in targets
    )
    if score is None:
        score = score_scan(profile, scan.inventory, findings, scan_day(scan))
    # Earlier network scans of the same inventory. An evaluation re-scores the observations
    # of its source scan, so "before" means before that source scan.
    base = scan.source_scan or scan.id
    earlier = [
        s
        for s in store.scans()
        if s.id < base
        and s.inventory_path == scan.inventory_path
        and s.status == "complete"
        and s.kind == "scan"
    ][-(TREND_SCANS - 1) :]
    history = [
        (s, summary_of(store, tagged_scan(s, tags, strict=False), profile)) for s in earlier[:-1]
    ]
    previous_findings: tuple[Finding, ...] = ()
    previous_score = None
    if earlier:
        # The scan before: scored from its findings with their messages (not the light
        # ones of the older trend points), kept for the diff since it; with --tag, its
        # snapshot restricted as this scan's is.
        before = tagged_scan(earlier[-1], tags, strict=False)
        previous_findings = tuple(store.iter_findings(before.id, evidence=False))
        previous_score = score_scan(profile, before.inventory, previous_findings, scan_day(before))
        history.append((before, ScoreSummary.of(previous_score)))
    previous_scan, previous = history[-1] if history else (None, None)
    history.append((scan, ScoreSummary.of(score)))
    vantages = scan_vantages(store, scan_id, findings)
    return ReportData(
        scan=scan,
        profile=profile,
        profile_note=note,
        score=score,
        findings=findings,
        previous_scan=previous_scan,
        previous=previous,
        history=tuple(history),
        vantages=vantages,
        footings=store.vantage_footings(scan_id) if len(vantages) > 1 else {},
        tags=tags,
        targets=targets,
        previous_findings=previous_findings,
        previous_score=previous_score,
    )


def load_diff(
    store: Store,
    before: ScanRecord,
    after: ScanRecord,
    profile: Profile,
    after_findings: Sequence[Finding] | None = None,
    after_score: ScanScore | None = None,
    before_findings: Sequence[Finding] | None = None,
    before_score: ScanScore | None = None,
) -> Diff:
    """The changes from ``before`` to ``after``, both scored with ``profile`` (one profile:
    scoring each with its own would report a profile change as regressions): what
    ``auditor diff`` prints and the dashboard's ``/diff`` shows. Findings are read without
    evidence (no change reads it). ``after_*``/``before_*``: a scan's findings (without
    evidence) and score with ``profile`` already made (a report's scan and the one before
    it: :func:`load_report`), reused."""
    old = (
        tuple(before_findings)
        if before_findings is not None
        else tuple(store.iter_findings(before.id, evidence=False))
    )
    new = (
        tuple(after_findings)
        if after_findings is not None
        else tuple(store.iter_findings(after.id, evidence=False))
    )
    return diff_scans(
        before.id,
        after.id,
        old,
        new,
        before_score or score_scan(profile, before.inventory, old, scan_day(before)),
        after_score or score_scan(profile, after.inventory, new, scan_day(after)),
    )
