"""Scoring (pure): findings + profile + inventory snapshot -> results, scores, grades, KPIs.

Definitions (also in docs/JSON-SCHEMA.md, "Scoring"):

- **Check result of a target.** For a host, the findings of one check (one per address for
  ADDRESS-scope checks) are combined into their worst status; its credit is the smallest
  credit among them. A check with no stored finding for a target that should have one
  (interrupted scan, a profile evaluated against an older scan) is ``not_tested``.
- **Pairs.** A requirement is scored per *(target, requirement)* pair. Its host-scope and
  address-scope checks make a (host, requirement) pair for each host of the agency; its
  zone-scope checks make a (zone, requirement) pair for each zone (domain) of the agency.
  A requirement that mixes both kinds therefore yields both kinds of pairs, each judged only
  on its own checks. A host owned by several agencies counts for each of them.
- **Pair status** = the worst of its checks, in the compliance order
  ``fail > incomplete > warn > pass > not_applicable``: one failing check fails the pair;
  a ``not_tested``/``error`` check makes it *incomplete* (never a failure) unless another
  check already fails; ``info`` counts as pass. When every check that does not pass is
  covered by a valid waiver, the pair is *waived*.
- **Credit** of a pair: 1 for pass, the partial score (or the profile's ``warn_credit``) for
  warn, the partial score (default 0) for fail.
- **Agency score** (0-100) = 100 x sum(weight x credit) / sum(weight) over the agency's
  pairs of scored requirements (level mandatory or recommended, weight > 0) whose status is
  pass, warn or fail. Incomplete, waived and not-applicable pairs are left out of both sums
  and counted separately; informational requirements are shown, never scored. No countable
  pair: no score (shown as "-").
- **Coverage** (0-100) = 100 x sum(weight) of the tested pairs / sum(weight) of the testable
  pairs, over the same scored requirements: a pair is tested when its status is pass, warn,
  fail or waived (a waiver covers a finding that was observed), untested when it is
  incomplete (a ``not_tested``/``error`` check decides it); not-applicable pairs are in
  neither sum. It says how much of the profile the score rests on. No testable pair: None.
- **Grade** from the profile's bands; a failing mandatory pair caps the grade at the
  profile's ``mandatory_fail_cap`` when it sets one. An agency whose coverage is under the
  profile's ``min_coverage`` gets no grade but "insufficient data" (``insufficient``): a score
  over a tenth of the requirements says little about the agency, and an E earned by what
  the scanner could not test would blame the agency for the scanner's situation.
- **KPI** "works well over IPv6" = every host of the agency passes every KPI check (waivers
  do not change facts): ``yes``; any KPI check fails or warns on any host, or a host's name
  does not resolve (``dns.resolve`` fails): ``no``; otherwise,
  when some result is missing: ``incomplete``; an agency without hosts: ``n/a``.
- **Vantages** (issue #16: a scan probes every target from several networks). Each vantage's
  findings are judged on their own: a check result, a pair, a KPI answer per vantage, exactly
  as a one-vantage scan is judged. They then combine by the profile's rules
  (``vantages: {checks: every|any, kpi: every|any}``, default ``every``): a check result is
  the worst (``every``) or the best (``any``) *decided* result (pass, info, warn, fail)
  across vantages, else ``not_applicable`` when a vantage found nothing to judge; a vantage
  that could not decide (``not_tested``/``error``: the scanner's own limit there, e.g. no
  IPv6 in its footing) never lowers or raises what the others decided, and only when no
  vantage decided anything is the result ``not_tested``/``error``. The
  pair is then judged from the combined check results as above. The KPI of a host is its
  per-vantage answer combined the same way (``every``: ``no`` when any vantage says no,
  ``yes`` when the others say yes). Coverage stays honest: a tested pair counts
  weight x (vantages whose own pair was tested / vantages that had the pair to test), so
  "pass from A, not tested from B" is a pass at half coverage. One vantage: exactly the
  one-machine rules above.
- **Category sub-scores**: the same weighted share, over (target, check) results of scored
  requirements, grouped by the check's category, each with its own coverage.
- **Ranking**: graded agencies by score (best first), then the agencies with insufficient
  data (by coverage), then those without any testable pair.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any

from auditor.inventory import Waiver, same_check
from auditor.model import LOCAL_VANTAGE, Finding, Level, Scope, Status, TargetKind, path_target
from auditor.profiles import Profile, Requirement, VantageRule

__all__ = [
    "AgencyInfo",
    "AgencyScore",
    "CheckResult",
    "HostKpi",
    "PairResult",
    "ReqStatus",
    "RequirementShare",
    "ScanScore",
    "agencies_from_snapshot",
    "check_result",
    "combine_kpi",
    "combine_pairs",
    "combine_results",
    "kpi_answer",
    "pair_status",
    "score_scan",
]


class ReqStatus(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    INCOMPLETE = "incomplete"
    WAIVED = "waived"
    NOT_APPLICABLE = "not_applicable"


# Compliance order, worst last ("is it compliant?", not "could we decide?").
_ORDER = {
    ReqStatus.NOT_APPLICABLE: 0,
    ReqStatus.WAIVED: 1,
    ReqStatus.PASS: 2,
    ReqStatus.WARN: 3,
    ReqStatus.INCOMPLETE: 4,
    ReqStatus.FAIL: 5,
}

_FROM_STATUS = {
    Status.PASS: ReqStatus.PASS,
    Status.INFO: ReqStatus.PASS,
    Status.WARN: ReqStatus.WARN,
    Status.FAIL: ReqStatus.FAIL,
    Status.NOT_TESTED: ReqStatus.INCOMPLETE,
    Status.ERROR: ReqStatus.INCOMPLETE,
    Status.NOT_APPLICABLE: ReqStatus.NOT_APPLICABLE,
}

COUNTED = (ReqStatus.PASS, ReqStatus.WARN, ReqStatus.FAIL)


@dataclass(frozen=True)
class AgencyInfo:
    """An agency as stored in the scan's inventory snapshot."""

    id: str
    name: str
    name_en: str | None
    hosts: tuple[str, ...]
    zones: tuple[str, ...]
    waivers: tuple[Waiver, ...] = ()
    parent: str | None = None
    contact: str | None = None
    display: Mapping[str, str] = field(default_factory=dict)  # A-label -> Unicode
    # The department paths it lists (TargetKind.PATH targets, "host/path"; "/" is the
    # host's own): their findings count for this agency, not for the portal's other owners.
    paths: tuple[str, ...] = ()


def _date(text: Any) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


def agencies_from_snapshot(inventory: Mapping[str, Any]) -> tuple[AgencyInfo, ...]:
    """Agencies of ``Inventory.to_dict()`` (as stored in ``scans.inventory_json``)."""
    out: list[AgencyInfo] = []
    for a in inventory.get("agencies", []) or []:
        hosts: list[str] = []
        paths: list[str] = []
        display: dict[str, str] = {}
        for h in a.get("hosts", []) or []:
            name = str(h["host"]) if isinstance(h, Mapping) else str(h)
            if name not in hosts:
                hosts.append(name)
            if isinstance(h, Mapping) and h.get("display"):
                display[name] = str(h["display"])
            for path in (h.get("paths") or []) if isinstance(h, Mapping) else []:
                target = path_target(name, str(path))
                if str(path) != "/" and target not in paths:
                    paths.append(target)
        waivers = tuple(
            Waiver(
                check=str(w.get("check", "")),
                hosts=tuple(str(x) for x in w.get("hosts", []) or []),
                reason=str(w.get("reason", "")),
                approved_by=str(w.get("approved_by", "")),
                expires=_date(w.get("expires")),
                line=int(w.get("line", 0) or 0),
            )
            for w in a.get("waivers", []) or []
            if isinstance(w, Mapping)
        )
        out.append(
            AgencyInfo(
                id=str(a.get("id", "")),
                name=str(a.get("name", a.get("id", ""))),
                name_en=a.get("name_en"),
                hosts=tuple(hosts),
                zones=tuple(dict.fromkeys(str(z) for z in a.get("domains", []) or [])),
                waivers=waivers,
                parent=a.get("parent"),
                contact=a.get("contact"),
                display=display,
                paths=tuple(paths),
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)  # one per target x check: a province has ~160,000
class CheckResult:
    """One check on one target (host or zone): its findings combined."""

    check: str
    target: str
    target_kind: TargetKind
    status: Status
    credit: float
    message: str
    findings: tuple[Finding, ...]
    waiver: Waiver | None = None  # valid waiver covering a non-passing result
    expired_waiver: Waiver | None = None  # a matching waiver whose expiry has passed
    scored: bool = True  # False for checks registered as never scored (ipv6.web.icmp)
    # Several vantages: each one's own result, in vantage order (empty for one vantage).
    vantages: tuple[tuple[str, CheckResult], ...] = ()
    # Share of the vantages (that had something to judge) that decided this result.
    tested_share: float = 1.0

    @property
    def waived(self) -> bool:
        return self.waiver is not None

    @property
    def req_status(self) -> ReqStatus:
        if self.waiver is not None:
            return ReqStatus.WAIVED
        return _FROM_STATUS[self.status]


@dataclass(frozen=True, slots=True)  # one per target x check: a province has ~160,000
class PairResult:
    """One (target, requirement) pair of one agency."""

    target: str
    target_kind: TargetKind
    requirement: Requirement
    status: ReqStatus
    credit: float
    checks: tuple[CheckResult, ...]
    # Several vantages: each one's own pair (empty for one vantage), and the share of them
    # (that had the pair to test) that tested it: what the pair adds to the coverage.
    vantages: tuple[tuple[str, PairResult], ...] = ()
    tested_share: float = 1.0

    @property
    def counted(self) -> bool:
        return (
            self.requirement.scored
            and self.status in COUNTED
            and any(c.scored for c in self.checks)
        )


@dataclass(frozen=True)
class HostKpi:
    """The KPI answer for one host of an agency, from each vantage and combined."""

    host: str
    answer: str  # yes | no | incomplete (combined by the profile's rule)
    # (vantage, answer, reason): the reason is the message of the KPI check that decided
    # a "no" or left it incomplete ("" for yes).
    vantages: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class AgencyScore:
    agency: AgencyInfo
    score: float | None  # 0-100, None when nothing could be counted
    grade: str | None
    kpi: str  # yes | no | incomplete | n/a
    pairs: tuple[PairResult, ...]
    categories: Mapping[str, float | None]
    counts: Mapping[str, int]  # pair statuses of scored requirements
    capped: bool = False  # the grade was capped by a failing mandatory requirement
    # Share (0-100) of the scored weight actually tested; None: nothing testable.
    coverage: float | None = None
    # Coverage under the profile's min_coverage: no grade, "insufficient data".
    insufficient: bool = False
    category_coverage: Mapping[str, float | None] = field(default_factory=dict)
    # The sums behind ``coverage`` (scan-wide coverage adds them up).
    tested_weight: float = 0.0
    testable_weight: float = 0.0
    # Several vantages: the KPI per host and vantage (empty for a one-vantage scan).
    host_kpis: tuple[HostKpi, ...] = ()

    @property
    def id(self) -> str:
        return self.agency.id

    def pairs_for(self, target: str) -> tuple[PairResult, ...]:
        return tuple(p for p in self.pairs if p.target == target)

    def failing(self) -> list[CheckResult]:
        """Non-passing check results of scored requirements (fail first, then warn)."""
        seen: set[tuple[str, str]] = set()
        out: list[CheckResult] = []
        for p in self.pairs:
            if not p.requirement.scored:
                continue
            for c in p.checks:
                if c.scored and c.waiver is None and c.status in (Status.FAIL, Status.WARN):
                    key = (c.target, c.check)
                    if key not in seen:
                        seen.add(key)
                        out.append(c)
        out.sort(key=lambda c: (c.status != Status.FAIL, c.check, c.target))
        return out

    def incomplete(self) -> list[CheckResult]:
        seen: set[tuple[str, str]] = set()
        out: list[CheckResult] = []
        for p in self.pairs:
            for c in p.checks:
                if (
                    c.status in (Status.NOT_TESTED, Status.ERROR)
                    and (c.target, c.check) not in seen
                ):
                    seen.add((c.target, c.check))
                    out.append(c)
        return out

    def waived(self) -> list[CheckResult]:
        seen: set[tuple[str, str]] = set()
        out: list[CheckResult] = []
        for p in self.pairs:
            for c in p.checks:
                if (c.waiver or c.expired_waiver) and (c.target, c.check) not in seen:
                    seen.add((c.target, c.check))
                    out.append(c)
        return out


@dataclass(frozen=True)
class RequirementShare:
    """Province-wide: how many agencies and targets pass one requirement."""

    requirement: Requirement
    agencies_pass: int
    agencies_total: int
    targets_pass: int
    targets_total: int

    @property
    def agency_share(self) -> float | None:
        return self.agencies_pass / self.agencies_total if self.agencies_total else None

    @property
    def target_share(self) -> float | None:
        return self.targets_pass / self.targets_total if self.targets_total else None


@dataclass(frozen=True)
class ScanScore:
    profile: Profile
    today: date
    agencies: tuple[AgencyScore, ...]
    shares: tuple[RequirementShare, ...]
    # The vantages the findings came from, sorted (("local",) for a one-machine scan).
    vantages: tuple[str, ...] = (LOCAL_VANTAGE,)

    @property
    def multi_vantage(self) -> bool:
        """More than one vantage: the reports show the vantage dimension."""
        return len(self.vantages) > 1

    @functools.cached_property
    def _by_id(self) -> dict[str, AgencyScore]:
        return {a.id: a for a in self.agencies}

    def agency(self, agency_id: str) -> AgencyScore:
        try:
            return self._by_id[agency_id]
        except KeyError:
            raise KeyError(agency_id) from None

    def ranked(self) -> list[AgencyScore]:
        """Graded agencies best first; then those with insufficient data (most covered
        first: their scores are not comparable with the graded ones); then those without
        any testable pair."""

        def key(a: AgencyScore) -> tuple[int, float, str]:
            if a.insufficient:
                return (1, -(a.coverage or 0.0), a.agency.name.lower())
            if a.score is None:
                return (2, 0.0, a.agency.name.lower())
            return (0, -a.score, a.agency.name.lower())

        return sorted(self.agencies, key=key)

    @property
    def coverage(self) -> float | None:
        """Scan-wide coverage: tested weight / testable weight over every agency's pairs."""
        testable = sum(a.testable_weight for a in self.agencies)
        tested = sum(a.tested_weight for a in self.agencies)
        return round(100.0 * tested / testable, 1) if testable > 0 else None

    def insufficient_count(self) -> int:
        return sum(1 for a in self.agencies if a.insufficient)

    def kpi_share(self) -> tuple[int, int]:
        """(agencies with KPI yes, agencies with a KPI answer other than n/a)."""
        decided = [a for a in self.agencies if a.kpi != "n/a"]
        return sum(1 for a in decided if a.kpi == "yes"), len(decided)


# --------------------------------------------------------------------------- computing


ScopeOf = Callable[[str], Scope | None]


def _registry_scope(check_id: str) -> Scope | None:
    from auditor.registry import get_check, is_known

    return get_check(check_id).scope if is_known(check_id) else None


def _registry_scored(check_id: str) -> bool:
    from auditor.registry import get_check, is_known

    return get_check(check_id).scored if is_known(check_id) else True


def _registry_category(check_id: str) -> str:
    from auditor.registry import get_check, is_known

    if is_known(check_id):
        return get_check(check_id).category.value
    return check_id.split(".", 1)[0]


def check_result(
    check: str,
    kind: TargetKind,
    target: str,
    findings: Sequence[Finding],
    *,
    waivers: Iterable[Waiver] = (),
    today: date,
) -> CheckResult:
    """Combine the findings of one check on one target; apply waivers."""
    if not findings:
        return CheckResult(
            check, target, kind, Status.NOT_TESTED, 0.0, "no result stored for this check", ()
        )
    worst = max(findings, key=lambda f: (_ORDER[_FROM_STATUS[f.status]], -f.credit))
    status = worst.status
    # Credit of the judged findings only (a not-applicable address earns nothing, loses nothing).
    judged = [
        f for f in findings if f.status in (Status.PASS, Status.INFO, Status.WARN, Status.FAIL)
    ]
    credit = min((f.credit for f in judged), default=0.0)
    if status == Status.WARN and all(f.score is None for f in findings if f.status == Status.WARN):
        credit = -1.0  # marker: the profile's warn_credit applies (set in _pair)
    message = worst.message
    if len(findings) > 1 and worst.address:
        message = f"{worst.address}: {worst.message}"
    waiver = expired = None
    if status in (Status.FAIL, Status.WARN):
        for w in waivers:
            if not same_check(w.check, check):  # an old id (alias) names the same check
                continue
            if w.matches(check, target, today):
                waiver = w
                break
            if w.expired(today) and _matches_ignoring_expiry(w, check, target):
                expired = w
    return CheckResult(
        check, target, kind, status, credit, message, tuple(findings), waiver, expired
    )


def _matches_ignoring_expiry(w: Waiver, check: str, target: str) -> bool:
    return w.matches(check, target, w.expires or date.min)


def pair_status(results: Sequence[CheckResult]) -> ReqStatus:
    """Worst status of a pair's checks in the compliance order (see the module docstring)."""
    if not results:
        return ReqStatus.NOT_APPLICABLE
    statuses = [r.req_status for r in results]
    worst = max(statuses, key=lambda s: _ORDER[s])
    if worst == ReqStatus.WAIVED:
        return ReqStatus.WAIVED
    if worst == ReqStatus.PASS and ReqStatus.WAIVED in statuses:
        # Every non-passing check is waived, the rest pass: the pair is waived.
        return ReqStatus.WAIVED
    return worst


def _credit(status: ReqStatus, results: Sequence[CheckResult], warn_credit: float) -> float:
    if status == ReqStatus.PASS:
        return 1.0
    if status not in (ReqStatus.WARN, ReqStatus.FAIL):
        return 0.0
    # The pair earns the smallest credit among its non-passing, non-waived checks.
    credits = []
    for r in results:
        if r.waiver is not None or r.status not in (Status.WARN, Status.FAIL):
            continue
        credits.append(warn_credit if r.credit < 0 else r.credit)
    return max(0.0, min(1.0, min(credits))) if credits else 0.0


def _pair(
    profile: Profile,
    req: Requirement,
    kind: TargetKind,
    target: str,
    checks: Sequence[str],
    findings: Mapping[tuple[str, str, str], list[Finding]],
    agency: AgencyInfo,
    today: date,
    cache: dict[tuple[str, str, str, str], CheckResult],
    scored_of: Callable[[str], bool] = _registry_scored,
) -> PairResult:
    results = []
    waivers = agency.waivers
    for c in checks:
        key = (kind.value, target, c)
        # Waivers belong to an agency: a shared host may be waived for one owner only.
        ckey = (kind.value, target, c, agency.id)
        if ckey not in cache:
            cache[ckey] = check_result(
                c, kind, target, findings.get(key, []), waivers=waivers, today=today
            )
        results.append(cache[ckey])
    # Checks registered as never scored (ipv6.web.icmp) are shown, never decide a pair.
    results = [r if scored_of(r.check) else replace(r, scored=False) for r in results]
    # (A requirement of never-scored checks only still shows their worst status.)
    deciding = [r for r in results if r.scored] or results
    status = pair_status(deciding)
    credit = _credit(status, deciding, profile.warn_credit)
    fixed = tuple(r if r.credit >= 0 else _with_credit(r, profile.warn_credit) for r in results)
    return PairResult(target, kind, req, status, credit, fixed)


def _with_credit(r: CheckResult, credit: float) -> CheckResult:
    return replace(r, credit=credit)


def _split(
    req: Requirement, scope_of: ScopeOf, seen_kinds: Mapping[str, set[str]]
) -> tuple[list[str], list[str], list[str]]:
    """A requirement's checks by the target kind they judge: host, zone, department path."""
    host_checks: list[str] = []
    zone_checks: list[str] = []
    path_checks: list[str] = []
    for c in req.checks:
        scope = scope_of(c)
        if scope is None:
            # Not in the registry (an old id): trust what the stored findings say.
            kinds = seen_kinds.get(c, set())
            scope = {"zone": Scope.ZONE, "path": Scope.PATH}.get(
                next(iter(kinds)) if len(kinds) == 1 else "", Scope.HOST
            )
        if scope == Scope.ZONE:
            zone_checks.append(c)
        elif scope == Scope.PATH:
            path_checks.append(c)
        else:
            host_checks.append(c)
    return host_checks, zone_checks, path_checks


def _weighted(pairs: Iterable[tuple[float, float]]) -> float | None:
    total = 0.0
    got = 0.0
    for weight, credit in pairs:
        total += weight
        got += weight * credit
    return round(100.0 * got / total, 1) if total > 0 else None


def score_scan(
    profile: Profile,
    inventory: Mapping[str, Any],
    findings: Iterable[Finding],
    today: date,
    *,
    scope_of: ScopeOf = _registry_scope,
    category_of: Callable[[str], str] = _registry_category,
    scored_of: Callable[[str], bool] = _registry_scored,
) -> ScanScore:
    """Score every agency of the inventory snapshot. Pure (the registry is only read).

    Findings from several vantages are judged per vantage, then combined by the profile's
    rules (module docstring, "Vantages")."""
    by_vantage: dict[str, dict[tuple[str, str, str], list[Finding]]] = {}
    seen_kinds: dict[str, set[str]] = {}
    for f in findings:
        by_key = by_vantage.setdefault(f.vantage, {})
        by_key.setdefault((f.target_kind.value, f.target, f.check), []).append(f)
        seen_kinds.setdefault(f.check, set()).add(f.target_kind.value)
    vantages = tuple(sorted(by_vantage)) or (LOCAL_VANTAGE,)
    views = [(v, by_vantage.get(v, {})) for v in vantages]
    agencies = agencies_from_snapshot(inventory)
    split = {r.id: _split(r, scope_of, seen_kinds) for r in profile.requirements}
    caches: dict[str, dict[tuple[str, str, str, str], CheckResult]] = {v: {} for v in vantages}
    scores: list[AgencyScore] = []
    for agency in agencies:
        pairs: list[PairResult] = []
        for req in profile.requirements:
            host_checks, zone_checks, path_checks = split[req.id]
            targets = [(TargetKind.HOST, h, host_checks) for h in agency.hosts if host_checks]
            targets += [(TargetKind.ZONE, z, zone_checks) for z in agency.zones if zone_checks]
            targets += [(TargetKind.PATH, p, path_checks) for p in agency.paths if path_checks]
            for kind, target, checks in targets:
                each = [
                    (
                        v,
                        _pair(
                            profile,
                            req,
                            kind,
                            target,
                            checks,
                            by_key,
                            agency,
                            today,
                            caches[v],
                            scored_of,
                        ),
                    )
                    for v, by_key in views
                ]
                pairs.append(combine_pairs(each, profile.vantage_checks, profile.warn_credit))
        scores.append(_agency_score(profile, agency, pairs, views, today, category_of))
    shares = _shares(profile, scores)
    return ScanScore(profile, today, tuple(scores), shares, vantages)


# --------------------------------------------------------------------------- vantages

_DECIDED = (Status.PASS, Status.INFO, Status.WARN, Status.FAIL)
_UNDECIDED = (Status.NOT_TESTED, Status.ERROR)


def _pick(results: Sequence[tuple[str, CheckResult]], rule: VantageRule) -> tuple[str, CheckResult]:
    """The vantage whose result stands for all (see combine_results)."""
    decided = [(v, r) for v, r in results if r.status in _DECIDED]
    if decided:
        # Compliance order, then credit: the worst is the most severe with the least credit.
        def key(item: tuple[str, CheckResult]) -> tuple[int, float]:
            r = item[1]
            return (_ORDER[_FROM_STATUS[r.status]], -r.credit)

        return max(decided, key=key) if rule == VantageRule.EVERY else min(decided, key=key)
    # Not applicable is a verdict too ("nothing to test here": no AAAA, no MX), which a
    # vantage that could not test does not undo.
    na = [(v, r) for v, r in results if r.status == Status.NOT_APPLICABLE]
    if na:
        return na[0]
    # Nobody could decide: the result says so (an error before a not_tested: it is a fault
    # to look into).
    errors = [(v, r) for v, r in results if r.status == Status.ERROR]
    return (errors or list(results))[0]


def combine_results(
    results: Sequence[tuple[str, CheckResult]], rule: VantageRule = VantageRule.EVERY
) -> CheckResult:
    """One check on one target, seen from several vantages -> one result (pure).

    ``every``: the worst decided result (pass/info < warn < fail); ``any``: the best. A
    vantage that could not decide (not_tested, error) is left out: the scanner's limit at
    one vantage (no IPv6 route there) is never the agency's failure, and does not undo what
    another vantage observed. ``tested_share`` says how many of the vantages that had
    something to judge decided. One vantage: its result, unchanged."""
    if len(results) == 1:
        return results[0][1]
    if not results:
        raise ValueError("combine_results needs at least one vantage's result")
    vantage, chosen = _pick(results, rule)
    judged = [r for _v, r in results if r.status != Status.NOT_APPLICABLE]
    decided = [r for r in judged if r.status in _DECIDED]
    share = len(decided) / len(judged) if judged else 1.0
    findings = tuple(f for _v, r in results for f in r.findings)
    return replace(
        chosen,
        message=f"[{vantage}] {chosen.message}",
        findings=findings,
        vantages=tuple(results),
        tested_share=share,
    )


def combine_pairs(
    pairs: Sequence[tuple[str, PairResult]],
    rule: VantageRule = VantageRule.EVERY,
    warn_credit: float = 0.5,
) -> PairResult:
    """One (target, requirement) pair seen from several vantages -> one pair (pure): each
    check combined (combine_results), the pair judged from the combined checks as for one
    vantage. Its ``tested_share`` (what it adds to the coverage): the share of the vantages
    that had the pair to test whose own pair was tested. One vantage: its pair, unchanged."""
    if len(pairs) == 1:
        return pairs[0][1]
    if not pairs:
        raise ValueError("combine_pairs needs at least one vantage's pair")
    first = pairs[0][1]
    checks = tuple(
        combine_results([(v, p.checks[i]) for v, p in pairs], rule)
        for i in range(len(first.checks))
    )
    deciding = [r for r in checks if r.scored] or list(checks)
    status = pair_status(deciding)
    credit = _credit(status, deciding, warn_credit)
    share = 0.0
    if status in _TESTED:
        testable = [p for _v, p in pairs if p.status != ReqStatus.NOT_APPLICABLE]
        tested = [p for p in testable if p.status in _TESTED]
        share = len(tested) / len(testable) if testable else 1.0
    return PairResult(
        first.target,
        first.target_kind,
        first.requirement,
        status,
        credit,
        checks,
        vantages=tuple(pairs),
        tested_share=share,
    )


def kpi_answer(statuses: Iterable[Status]) -> str:
    """One host from one vantage: ``no`` when a KPI check fails or warns, ``yes`` when every
    one passes, else ``incomplete``."""
    seen = list(statuses)
    if any(s in (Status.FAIL, Status.WARN) for s in seen):
        return "no"
    if all(s in (Status.PASS, Status.INFO) for s in seen):
        return "yes"
    return "incomplete"


def combine_kpi(answers: Sequence[str], rule: VantageRule = VantageRule.EVERY) -> str:
    """One host's KPI answers from several vantages -> one (pure). ``every``: ``no`` when any
    vantage says no, else ``yes`` when one says yes; ``any``: ``yes`` when any vantage says
    yes, else ``no`` when one says no. A vantage that could not tell (``incomplete``) does
    not decide either way; nobody could tell: ``incomplete``."""
    decided = [a for a in answers if a in ("yes", "no")]
    if not decided:
        return "incomplete"
    if rule == VantageRule.EVERY:
        return "no" if "no" in decided else "yes"
    return "yes" if "yes" in decided else "no"


def _host_kpi(
    profile: Profile,
    host: str,
    views: Sequence[tuple[str, Mapping[tuple[str, str, str], list[Finding]]]],
    today: date,
) -> HostKpi:
    assert profile.kpi is not None
    per: list[tuple[str, str, str]] = []
    for vantage, by_key in views:
        results = [
            check_result(kc, TargetKind.HOST, host, by_key.get(("host", host, kc), []), today=today)
            for kc in profile.kpi.checks
        ]
        statuses = [r.status for r in results]
        reason = ""
        # A host whose name does not resolve (NXDOMAIN, SERVFAIL: a dns.resolve failure)
        # does not work over IPv6 either, although its IPv6 checks are "not tested".
        resolve = [
            f for f in by_key.get(("host", host, "dns.resolve"), []) if f.status == Status.FAIL
        ]
        if resolve:
            statuses.append(Status.FAIL)
            reason = f"dns.resolve: {resolve[0].message}"
        answer = kpi_answer(statuses)
        if answer != "yes" and not reason:
            wanted = (Status.FAIL, Status.WARN) if answer == "no" else _UNDECIDED
            bad = next((r for r in results if r.status in wanted), None)
            if bad is None and answer == "incomplete":
                bad = next((r for r in results if r.status not in _DECIDED), None)
            reason = f"{bad.check}: {bad.message}" if bad is not None else ""
        per.append((vantage, answer, reason))
    combined = combine_kpi([a for _v, a, _r in per], profile.vantage_kpi)
    return HostKpi(host, combined, tuple(per))


def _agency_score(
    profile: Profile,
    agency: AgencyInfo,
    pairs: list[PairResult],
    views: Sequence[tuple[str, Mapping[tuple[str, str, str], list[Finding]]]],
    today: date,
    category_of: Callable[[str], str],
) -> AgencyScore:
    counted = [p for p in pairs if p.counted]
    score = _weighted((p.requirement.weight, p.credit) for p in counted)
    tested_w, testable_w = _coverage_weights(pairs)
    coverage = _share(tested_w, testable_w)
    insufficient = coverage is not None and coverage < profile.min_coverage
    grade = profile.grade_for(score) if score is not None and not insufficient else None
    capped = False
    cap = profile.mandatory_fail_cap
    if (
        grade is not None
        and cap is not None
        and any(
            p.status == ReqStatus.FAIL and p.requirement.level == Level.MANDATORY for p in counted
        )
        and profile.grade_rank(grade) < profile.grade_rank(cap)
    ):
        grade = cap
        capped = True
    counts: dict[str, int] = {s.value: 0 for s in ReqStatus}
    for p in pairs:
        if p.requirement.scored:
            counts[p.status.value] += 1
    # KPI: facts about every host, waivers do not apply; per host and vantage, combined by
    # the profile's rule (one vantage: the host's own answer).
    kpi = "n/a"
    host_kpis: list[HostKpi] = []
    if profile.kpi is not None and agency.hosts:
        host_kpis = [_host_kpi(profile, host, views, today) for host in agency.hosts]
        answers = [h.answer for h in host_kpis]
        if "no" in answers:
            kpi = "no"
        elif all(a == "yes" for a in answers):
            kpi = "yes"
        else:
            kpi = "incomplete"
    # Category sub-scores over (target, check) results of scored requirements.
    cats: dict[str, list[tuple[float, float]]] = {}
    cat_cover: dict[str, list[float]] = {}  # category -> [tested weight, testable weight]
    seen: set[tuple[str, str]] = set()
    for p in pairs:
        if not p.requirement.scored:
            continue
        for c in p.checks:
            if (c.target, c.check) in seen or not c.scored:
                continue
            seen.add((c.target, c.check))
            cat = category_of(c.check)
            bucket = cats.setdefault(cat, [])
            rs = c.req_status
            if rs in COUNTED:
                bucket.append((p.requirement.weight, c.credit if rs != ReqStatus.PASS else 1.0))
            cover = cat_cover.setdefault(cat, [0.0, 0.0])
            if rs in _TESTED:
                cover[0] += p.requirement.weight * c.tested_share
                cover[1] += p.requirement.weight
            elif rs == ReqStatus.INCOMPLETE:
                cover[1] += p.requirement.weight
    categories = {cat: _weighted(v) for cat, v in sorted(cats.items())}
    category_coverage = {cat: _share(*cat_cover.get(cat, [0.0, 0.0])) for cat in categories}
    return AgencyScore(
        agency,
        score,
        grade,
        kpi,
        tuple(pairs),
        categories,
        counts,
        capped,
        coverage=coverage,
        insufficient=insufficient,
        category_coverage=category_coverage,
        tested_weight=tested_w,
        testable_weight=testable_w,
        host_kpis=tuple(host_kpis) if len(views) > 1 else (),
    )


# A tested pair: a verdict was reached (a waiver covers an observed finding).
_TESTED = (*COUNTED, ReqStatus.WAIVED)


def _coverage_weights(pairs: Iterable[PairResult]) -> tuple[float, float]:
    """(tested weight, testable weight) over pairs of scored requirements (see the module
    docstring: incomplete pairs are untested, not-applicable ones are not testable)."""
    tested = testable = 0.0
    for p in pairs:
        if not p.requirement.scored or not any(c.scored for c in p.checks):
            continue
        if p.status in _TESTED:
            # Several vantages: only the share of them that tested it (combine_pairs).
            tested += p.requirement.weight * p.tested_share
            testable += p.requirement.weight
        elif p.status == ReqStatus.INCOMPLETE:
            testable += p.requirement.weight
    return tested, testable


def _share(tested: float, testable: float) -> float | None:
    return round(100.0 * tested / testable, 1) if testable > 0 else None


def _shares(profile: Profile, scores: Sequence[AgencyScore]) -> tuple[RequirementShare, ...]:
    out = []
    for req in profile.requirements:
        agencies_pass = agencies_total = 0
        targets: dict[tuple[str, str], ReqStatus] = {}
        for a in scores:
            mine = [p for p in a.pairs if p.requirement.id == req.id and p.status in COUNTED]
            if mine:
                agencies_total += 1
                if all(p.status == ReqStatus.PASS for p in mine):
                    agencies_pass += 1
            for p in mine:
                targets[(p.target_kind.value, p.target)] = p.status
        targets_pass = sum(1 for s in targets.values() if s == ReqStatus.PASS)
        out.append(RequirementShare(req, agencies_pass, agencies_total, targets_pass, len(targets)))
    return tuple(out)
