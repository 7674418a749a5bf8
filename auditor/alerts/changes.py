"""What changed for the worse (alerts) and for the better (improvements) between a scan and
its predecessor, per agency. Pure: works on store records, findings and scores.

The comparison is :func:`auditor.history.diff_scans` (the one ``auditor diff`` prints): like
with like per vantage, a vantage only one scan has is never compared. On top of it four
alert kinds, each chosen because it takes a service away from citizens or needs action
before a date:

- ``requirement_failing``: a (target, requirement) pair of the profile that passed (or
  warned, or was waived) and now fails;
- ``certificate_expiring``: a certificate with at most ``alerts.certificate_expiry_days``
  (profile) days left, once, when it enters that window (the same certificate still in the
  window a week later is not news; when it expires the requirement fails);
- ``ipv6_unreachable``: a host that was reachable over IPv6 (ipv6.web.reach, or had an
  AAAA at all: ipv6.web.aaaa) and now fails;
- ``dnssec_bogus``: a zone whose DNSSEC validated or was decidedly insecure and is now
  bogus (RFC 4035 sec. 5.5: validating resolvers then refuse every name in it).

The scanner's own limits are never an alert: a move to or from ``not_tested`` / ``error``
(requirement ``incomplete``) is not compared, so an unreachable resolver or a scanner
without IPv6 never reads as an agency's regression. Likewise a target new in the later scan
has no "before" to regress from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.history import ScanDiffAgency, diff_scans, previous_scan
from auditor.model import Finding, Status
from auditor.profiles import Profile
from auditor.scoring import ScanScore
from auditor.store import ScanRecord

__all__ = [
    "ALERT_KINDS",
    "AgencyAlerts",
    "Alert",
    "Improvement",
    "ScanAlerts",
    "agency_alerts",
    "predecessor",
]

ALERT_KINDS = ("requirement_failing", "certificate_expiring", "ipv6_unreachable", "dnssec_bogus")

# Requirement statuses an agency had decided (auditor.scoring.ReqStatus); "incomplete"
# (not_tested/error) and "not_applicable" are not: nothing regresses from them.
_WAS_OK = ("pass", "warn", "waived")
_RANK = {"pass": 0, "warn": 1, "fail": 2}
_DECIDED = (Status.PASS, Status.INFO, Status.WARN, Status.FAIL)
_IPV6_CHECKS = ("ipv6.web.aaaa", "ipv6.web.reach")


@dataclass(frozen=True)
class Alert:
    """One thing that got worse. ``detail`` is the later finding's message: remote text
    (hostile), escaped by whatever shows it."""

    kind: str  # one of ALERT_KINDS
    target_kind: str  # host | zone
    target: str
    detail: str
    requirement: str | None = None  # requirement_failing: the profile's requirement id
    check: str | None = None
    address: str | None = None  # addresses, ", "-joined, when the alert is per address
    before: str | None = None
    after: str | None = None
    days_left: int | None = None  # certificate_expiring
    not_after: str | None = None  # certificate_expiring (ISO 8601)
    vantage: str = "local"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target_kind": self.target_kind,
            "target": self.target,
            "requirement": self.requirement,
            "check": self.check,
            "address": self.address,
            "before": self.before,
            "after": self.after,
            "days_left": self.days_left,
            "not_after": self.not_after,
            "vantage": self.vantage,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Improvement:
    """A (target, requirement) pair that got better (fail -> warn/pass, warn -> pass)."""

    target_kind: str
    target: str
    requirement: str
    before: str
    after: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_kind": self.target_kind,
            "target": self.target,
            "requirement": self.requirement,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class AgencyAlerts:
    """What one agency is told: its alerts and its improvements, with its score change."""

    id: str
    name: str
    name_en: str | None
    contact: str | None
    language: str  # vi | en
    alerts: tuple[Alert, ...]
    improvements: tuple[Improvement, ...]
    score_before: float | None = None
    score_after: float | None = None
    grade_before: str | None = None
    grade_after: str | None = None

    @property
    def worth_sending(self) -> bool:
        """Something changed that the agency should hear of (never "nothing changed")."""
        return bool(self.alerts or self.improvements)

    def count(self, kind: str) -> int:
        return sum(1 for a in self.alerts if a.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "name_en": self.name_en,
            "contact": self.contact,
            "language": self.language,
            "score": {"before": self.score_before, "after": self.score_after},
            "grade": {"before": self.grade_before, "after": self.grade_after},
            "alerts": [a.to_dict() for a in self.alerts],
            "improvements": [i.to_dict() for i in self.improvements],
        }


@dataclass(frozen=True)
class ScanAlerts:
    """The alerts of one scan against its predecessor (``before`` None: the first scan of
    its inventory and profile, nothing to compare, nothing to send)."""

    after: ScanRecord
    before: ScanRecord | None
    profile: Profile
    agencies: tuple[AgencyAlerts, ...]  # only those worth sending, inventory order

    @property
    def empty(self) -> bool:
        return not self.agencies

    def alert_count(self) -> int:
        return sum(len(a.alerts) for a in self.agencies)

    def improvement_count(self) -> int:
        return sum(len(a.improvements) for a in self.agencies)


def predecessor(scans: Sequence[ScanRecord], after: ScanRecord) -> ScanRecord | None:
    """The complete network scan of the same inventory and the same profile before
    ``after`` (before its source scan when ``after`` is an evaluation). Another profile
    asks other questions: its answers are not "the previous state"."""
    return previous_scan(scans, after, same_profile=True)


def _snapshot_agencies(inventory: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for a in inventory.get("agencies", []) or []:
        if isinstance(a, Mapping):
            out[str(a.get("id", ""))] = a
    return out


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _is_bogus(f: Finding) -> bool:
    ev = f.evidence if isinstance(f.evidence, Mapping) else {}
    if ev.get("status") == "bogus":
        return True
    cnames = ev.get("cnames")
    return isinstance(cnames, Mapping) and any(
        isinstance(c, Mapping) and c.get("status") == "bogus" for c in cnames.values()
    )


def _key(f: Finding) -> tuple[str, str, str, str, str]:
    return (f.target_kind.value, f.target, f.check, f.address or "", f.vantage)


def _cert_alerts(
    before: Mapping[tuple[str, str, str, str, str], Finding],
    after: Iterable[Finding],
    days: int,
) -> list[Alert]:
    # One alert per (host, certificate end, vantage): the same certificate served on the
    # host's IPv4 and IPv6 addresses is one thing to renew, not two.
    grouped: dict[tuple[str, str, str], tuple[Finding, list[str], int]] = {}
    for f in after:
        ev = f.evidence if isinstance(f.evidence, Mapping) else {}
        left = _int(ev.get("days_left"))
        not_after = ev.get("not_after")
        if left is None or not isinstance(not_after, str) or not 0 <= left <= days:
            continue
        old = before.get(_key(f))
        if old is not None:
            oev = old.evidence if isinstance(old.evidence, Mapping) else {}
            old_left = _int(oev.get("days_left"))
            if old_left is not None and old_left <= days and oev.get("not_after") == not_after:
                continue  # already in the window last time: told then
        k = (f.target, not_after, f.vantage)
        if k in grouped:
            grouped[k][1].append(f.address or "")
        else:
            grouped[k] = (f, [f.address or ""], left)
    out = []
    for (target, not_after, vantage), (f, addresses, left) in grouped.items():
        out.append(
            Alert(
                kind="certificate_expiring",
                target_kind=f.target_kind.value,
                target=target,
                detail=f.message,
                check=f.check,
                address=", ".join(a for a in addresses if a) or None,
                before=None,
                after=f.status.value,
                days_left=left,
                not_after=not_after,
                vantage=vantage,
            )
        )
    return out


def agency_alerts(
    before_scan: ScanRecord,
    after_scan: ScanRecord,
    before_findings: Sequence[Finding],
    after_findings: Sequence[Finding],
    before_score: ScanScore,
    after_score: ScanScore,
) -> tuple[AgencyAlerts, ...]:
    """Every agency of the later scan with its alerts and improvements (possibly none),
    in inventory order. Both scores must come from one profile (the later scan's)."""
    profile = after_score.profile
    diff = diff_scans(
        before_scan.id,
        after_scan.id,
        before_findings,
        after_findings,
        before_score,
        after_score,
    )
    shared = set(diff.vantages)
    old = {_key(f): f for f in before_findings if f.vantage in shared}
    # Only the two checks read here, indexed by target: a province's 160,000 findings are
    # not walked once per agency.
    new: dict[tuple[str, str], list[Finding]] = {}
    for f in after_findings:
        if f.vantage in shared and f.check in ("dns.dnssec", "tls.cert.expiry"):
            new.setdefault((f.target_kind.value, f.target), []).append(f)
    snapshot = _snapshot_agencies(after_scan.inventory)
    out: list[AgencyAlerts] = []
    by_id = {a.id: a for a in after_score.agencies}
    for da in diff.agencies:
        scored = by_id.get(da.id)
        if scored is None:
            continue  # gone from the inventory: nobody to tell
        mine = {("host", h) for h in scored.agency.hosts} | {
            ("zone", z) for z in scored.agency.zones
        }
        owned = [f for t in sorted(mine) for f in new.get(t, ())]
        specific = _ipv6_alerts(da) + _dnssec_alerts(old, owned, mine)
        alerts = _explained(_requirement_alerts(da, profile), specific, profile)
        alerts += specific
        alerts += _cert_alerts(
            old, (f for f in owned if f.check == "tls.cert.expiry"), profile.alert_cert_days
        )
        info = snapshot.get(da.id, {})
        lang = info.get("language")
        contact = info.get("contact")
        out.append(
            AgencyAlerts(
                id=da.id,
                name=da.name,
                name_en=scored.agency.name_en,
                contact=contact if isinstance(contact, str) and contact.strip() else None,
                language=lang if lang in ("vi", "en") else "vi",
                alerts=tuple(alerts),
                improvements=tuple(_improvements(da)),
                score_before=da.score_before,
                score_after=da.score_after,
                grade_before=da.grade_before,
                grade_after=da.grade_after,
            )
        )
    return tuple(out)


def _requirement_alerts(da: ScanDiffAgency, profile: Profile) -> list[Alert]:
    """Pairs that now fail, each backed by a check of the requirement that regressed to
    fail on that target in a vantage both scans have (like with like: a vantage new in
    this scan that sees a failure has not seen a regression), or by a waiver that ran out
    (waived -> fail: nothing in the network changed, the agency's grace did)."""
    out = []
    for kind, target, req, before, now in da.requirements:
        if now != "fail" or before not in _WAS_OK:
            continue
        try:
            checks = set(profile.requirement(req).checks)
        except KeyError:
            checks = set()
        cause = next(
            (
                c
                for c in da.changes
                if c.target == target
                and c.target_kind == kind
                and c.check in checks
                and c.kind == "regression"
                and c.after == Status.FAIL.value
            ),
            None,
        )
        if cause is None and before != "waived":
            continue
        out.append(
            Alert(
                kind="requirement_failing",
                target_kind=kind,
                target=target,
                detail=cause.message if cause else "",
                requirement=req,
                check=cause.check if cause else None,
                before=before,
                after=now,
                vantage=cause.vantage if cause else "local",
            )
        )
    return out


def _explained(failing: list[Alert], specific: list[Alert], profile: Profile) -> list[Alert]:
    """The requirement alerts that a specific alert (IPv6, DNSSEC) does not already say: a
    portal gone dark over IPv6 is one thing to fix, not "ipv6-web-reach fails" as well."""
    out = []
    for a in failing:
        try:
            checks = set(profile.requirement(a.requirement or "").checks)
        except KeyError:
            checks = set()
        if not any(s.target == a.target and s.check in checks for s in specific):
            out.append(a)
    return out


def _ipv6_alerts(da: ScanDiffAgency) -> list[Alert]:
    return [
        Alert(
            kind="ipv6_unreachable",
            target_kind=c.target_kind,
            target=c.target,
            detail=c.message,
            check=c.check,
            address=c.address,
            before=c.before,
            after=c.after,
            vantage=c.vantage,
        )
        for c in da.changes
        if c.kind == "regression"
        and c.check in _IPV6_CHECKS
        and c.target_kind == "host"
        and c.after == Status.FAIL.value
    ]


def _dnssec_alerts(
    before: Mapping[tuple[str, str, str, str, str], Finding],
    after: Iterable[Finding],
    mine: set[tuple[str, str]],
) -> list[Alert]:
    out = []
    for f in after:
        if f.check != "dns.dnssec" or (f.target_kind.value, f.target) not in mine:
            continue
        if f.status != Status.FAIL or not _is_bogus(f):
            continue
        old = before.get(_key(f))
        # Turned bogus: the earlier scan decided (secure, insecure) and was not bogus. An
        # earlier "not tested" is the scanner's limit, not a state to turn from.
        if old is None or old.status not in _DECIDED or _is_bogus(old):
            continue
        ev = old.evidence if isinstance(old.evidence, Mapping) else {}
        was = ev.get("status")
        out.append(
            Alert(
                kind="dnssec_bogus",
                target_kind=f.target_kind.value,
                target=f.target,
                detail=f.message,
                check=f.check,
                before=str(was) if isinstance(was, str) else old.status.value,
                after="bogus",
                vantage=f.vantage,
            )
        )
    return out


def _improvements(da: ScanDiffAgency) -> list[Improvement]:
    return [
        Improvement(kind, target, req, before, now)
        for kind, target, req, before, now in da.requirements
        if before in _RANK and now in _RANK and _RANK[now] < _RANK[before]
    ]
