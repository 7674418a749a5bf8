"""RPKI route origin validation (RFC 6811) of every address the scan meets: the web hosts'
addresses, the zone's name servers, its mail exchangers and the name servers of the zones
holding the mail exchangers (whoever hijacks those routes answers the MX targets' address
lookups, so the mail goes to the hijacker however valid the mail servers' own routes are).

Pure judgement over the routing facts stored with the target (auditor/probes/routing.py
looks each address up in the operator's VRP export and BGP table dump). Internet.nl's
RPKI test is criticised for judging only the first address and for judging per AS: here
every address is judged, and every (prefix, origin) route of it, with maxLength honoured.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.model import Category, Level, Probe, Scope, Verdict
from auditor.obs import HostObservations
from auditor.obs.routing import AddressRouting, RoutingObservation
from auditor.obs.zone import ZoneObservations
from auditor.protocol.rpki import (
    INVALID_AS,
    INVALID_LENGTH,
    NOT_FOUND,
    VALID,
    validate_route,
    vrp_text,
)
from auditor.registry import CheckContext, check
from checks.ipv6 import is_null_mx

# Data older than this is not judged (not_tested, never pass): relying parties refresh
# VRPs every 10-60 minutes, RIS whois dumps are made every 8 hours and CAIDA's pfx2as
# daily; two days allows one missed daily refresh. A profile may tighten it.
MAX_DATA_AGE_HOURS = 48

# Data dated after the scan by more than this is not judged either: a validator's export
# or a table dump from the future means a wrong clock (the validator's or the scanner's)
# or a forged file, and its real age is then unknown. Hosts kept by NTP agree within
# milliseconds; five minutes is the customary tolerance for unsynchronised clocks (the
# Kerberos maximum clock skew, RFC 4120 section 1.6 "typically on the order of 5
# minutes"), enough for a validator and a scanner on different hosts, far below the age
# limit, so a file dated hours ahead is never taken as fresh.
MAX_CLOCK_SKEW_SECONDS = 300

_PARAMS = {"max_data_age_hours": MAX_DATA_AGE_HOURS}

_REFS = ("RFC 6811", "RFC 6480", "RFC 6482", "RFC 9319 (maxLength)")

_FIX_VALID = {
    "general": "Ask the address holder (the agency, its hosting provider or VNNIC member) to "
    "publish a ROA for the announced prefix with the AS that really originates it and a "
    "maxLength equal to the announced length (RFC 9319: avoid maxLength longer than what is "
    "announced), in the RIR/NIR portal (APNIC MyAPNIC, VNNIC). An invalid route is dropped "
    "by networks that validate, so the service becomes unreachable from them. Check with "
    "`routinator validate -a AS64496 -p 203.0.113.0/24` or `rpki-client` output.",
}
_FIX_ROA = {
    "general": "Create a ROA in the RIR/NIR portal (APNIC MyAPNIC, VNNIC) for every prefix "
    "holding the agency's servers, with the origin AS of its announcement; a hosting "
    "provider's space needs the provider's ROA.",
}


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _data_problem(routing: RoutingObservation | None, ctx: CheckContext) -> Verdict | None:
    if routing is None:
        return Verdict.not_tested("routing data not looked up")
    data = routing.data
    if data.error:
        return Verdict.not_tested(data.error)
    max_age = timedelta(hours=float(ctx.params.get("max_data_age_hours", MAX_DATA_AGE_HOURS)))
    # the age at the scan (when the addresses were looked up in the data), not at a later
    # re-evaluation of the stored observation; observations stored before that field
    # existed are judged at the evaluation time
    now = _when(data.looked_up) or ctx.now
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    dates = _dates(routing)
    for what, text in (("VRP", data.vrps_date), ("BGP table", data.bgp_date)):
        when = _when(text)
        if when is None:
            return Verdict.not_tested(f"the {what} data's date is unknown", **dates)
        if when - now > timedelta(seconds=MAX_CLOCK_SKEW_SECONDS):
            ahead = (when - now).total_seconds()
            return Verdict.not_tested(
                f"the {what} data is dated in the future ({text}, {_span(ahead)} after the "
                f"lookup at {now.isoformat(timespec='seconds').replace('+00:00', 'Z')}): "
                "a wrong clock or a forged file; its age is unknown, not judged",
                **dates,
            )
        if now - when > max_age:
            hours = (now - when).total_seconds() / 3600
            return Verdict.not_tested(
                f"the {what} data is {hours:.0f} hours old (dated {text}); older than "
                f"{max_age.total_seconds() / 3600:.0f} hours is not judged",
                **dates,
            )
    return None


def _span(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.0f} hours"


def _dates(routing: RoutingObservation) -> dict[str, Any]:
    d = routing.data
    return {
        "vrps": {
            "file": d.vrps_file,
            "format": d.vrps_format,
            "date": d.vrps_date,
            "date_from": d.vrps_date_source,
            "vrps": d.vrps_count,
        },
        "bgp": {
            "file": d.bgp_file,
            "format": d.bgp_format,
            "date": d.bgp_date,
            "date_from": d.bgp_date_source,
            "routes": d.routes_count,
        },
        "looked_up": d.looked_up,
    }


def _members(routing: RoutingObservation, role: str) -> list[AddressRouting]:
    return [a for a in routing.addresses if a.role == role]


def _key(a: AddressRouting) -> str:
    return a.address if a.role == "web" else f"{a.name} [{a.address}]"


def judge_valid(members: Iterable[AddressRouting], routing: RoutingObservation) -> Verdict:
    """Every route of every address: invalid (either kind) = fail, not found = fail
    (partial), an address in no announced prefix, or whose routes the DNS origin service
    could not tell (SERVFAIL, timeout), = not_tested (CHECKS.md rpki.*.valid)."""
    rows: dict[str, Any] = {}
    invalid: list[str] = []
    not_found: list[str] = []
    unrouted: list[str] = []
    unknown: list[str] = []
    judged = 0
    for a in members:
        key = _key(a)
        if a.lookup_error:
            # the origin service failed for it (SERVFAIL, timeout): unknown, not unrouted
            rows[key] = {"routes_unknown": a.lookup_error}
            unknown.append(f"{key} ({a.lookup_error})")
            continue
        if not a.routes:
            rows[key] = {"routed": False}
            unrouted.append(key)
            continue
        states = [validate_route(r.prefix, r.origin, a.vrps) for r in a.routes]
        judged += 1
        rows[key] = {
            "routes": [
                {
                    "prefix": s.prefix,
                    "origin": r.origin_text or s.origin,
                    "state": s.state,
                    "reason": s.reason,
                }
                for r, s in zip(a.routes, states, strict=True)
            ],
            "vrps": [vrp_text(v) for v in a.vrps],
            **({"less_specific": list(a.less_specific)} if a.less_specific else {}),
        }
        for r, s in zip(a.routes, states, strict=True):
            label = f"{key}: {s.prefix} {r.origin_text or s.origin} {s.state}"
            if s.state in (INVALID_AS, INVALID_LENGTH):
                invalid.append(f"{label} ({s.reason})")
            elif s.state == NOT_FOUND:
                not_found.append(label)
    evidence: dict[str, Any] = {"addresses": rows, "data": _dates(routing), "rfc": "RFC 6811"}
    if not rows:
        return Verdict.not_tested("no address to judge", **evidence)
    if invalid:
        return Verdict.failed(
            "RPKI-invalid route(s): " + "; ".join(invalid[:5]), score=0.0, **evidence
        )
    if not_found:
        # RFC 6811 NotFound: nothing protects the route from a hijack (partial)
        return Verdict.failed(
            "route(s) with no covering ROA (RPKI not found): " + "; ".join(not_found[:5]),
            score=0.5,
            **evidence,
        )
    if unknown:
        return Verdict.not_tested(
            "routes not known: "
            + "; ".join(unknown[:5])
            + (f"; {judged} address(es) valid" if judged else ""),
            **evidence,
        )
    if unrouted:
        return Verdict.not_tested(
            "not routed (in no announced prefix of the BGP table): "
            + ", ".join(unrouted[:5])
            + (f"; {judged} address(es) valid" if judged else ""),
            **evidence,
        )
    return Verdict.passed(
        f"every route of {judged} address(es) is RPKI-valid ({VALID})", **evidence
    )


def judge_roa(members: Iterable[AddressRouting], routing: RoutingObservation) -> Verdict:
    rows: dict[str, Any] = {}
    uncovered: list[str] = []
    for a in members:
        rows[_key(a)] = [vrp_text(v) for v in a.vrps]
        if not a.vrps:
            uncovered.append(_key(a))
    evidence: dict[str, Any] = {"addresses": rows, "data": _dates(routing)}
    if not rows:
        return Verdict.not_tested("no address to judge", **evidence)
    if uncovered:
        covered = len(rows) - len(uncovered)
        return Verdict.failed(
            "no ROA covers " + ", ".join(uncovered[:5]),
            score=covered / len(rows),
            **evidence,
        )
    return Verdict.passed(f"a ROA covers each of {len(rows)} address(es)", **evidence)


def _host(obs: HostObservations, ctx: CheckContext, judge: Any) -> Verdict:
    problem = _data_problem(obs.routing, ctx)
    if problem:
        return problem
    assert obs.routing is not None
    if not obs.addresses:
        return Verdict.not_tested("the host has no address")
    verdict: Verdict = judge(_members(obs.routing, "web"), obs.routing)
    return verdict


_ROLE_NAMES = {
    "ns": "name server",
    "mx": "mail exchanger",
    "mx_ns": "name server of the mail exchangers' zones",
}


def _zone(obs: ZoneObservations, ctx: CheckContext, role: str, judge: Any) -> Verdict:
    if role in ("mx", "mx_ns"):
        mx = obs.mx
        if mx is not None and mx.outcome in ("nxdomain", "nodata"):
            return Verdict.not_applicable("no MX record: the domain does not receive mail")
        if mx is not None and is_null_mx(mx.records):
            return Verdict.not_applicable("null MX (RFC 7505): the domain accepts no mail")
    problem = _data_problem(obs.routing, ctx)
    if problem:
        return problem
    assert obs.routing is not None
    members = _members(obs.routing, role)
    if not members:
        return Verdict.not_tested(f"no {_ROLE_NAMES[role]} address known")
    verdict: Verdict = judge(members, obs.routing)
    return verdict


_DESC_VALID = """
Route origin validation: for each address, the announced BGP prefix that carries traffic
to it (the most specific one in the operator's BGP table dump, or as the configured DNS
origin service answers) and every origin AS that
announces it are compared with the validated ROA payloads of the operator's RPKI
validator (RFC 6811). Valid: a ROA authorises that AS for that prefix length. Invalid
(wrong AS, or a prefix more specific than the ROA's maxLength): networks that validate
drop the route, and a hijack looks exactly like this. Not found: no ROA at all, so
nothing distinguishes the real route from a hijack. Every address is judged, each of its
routes separately, so one address of the service hidden behind another cannot pass
unnoticed. The data's dates are in the evidence; data older than the profile's limit is
not judged, nor data dated more than five minutes after the scan (a wrong clock or a
forged file: its age is unknown).
"""

_DESC_ROA = """
A Route Origin Authorisation (ROA) states which autonomous system may announce the
addresses of the agency's servers; without it, a hijack of the prefix cannot be told from
the real route. Passes when a validated ROA payload covers every address.
"""


@check(
    "rpki.web.valid",
    title="Every route to the web host's addresses is RPKI-valid",
    category=Category.ROUTING,
    scope=Scope.HOST,
    needs=(Probe.DNS, Probe.ROUTING),
    level_hint=Level.RECOMMENDED,
    refs=_REFS,
    params=_PARAMS,
    description=_DESC_VALID,
    remediation=_FIX_VALID,
)
def rpki_web_valid(obs: HostObservations, ctx: CheckContext) -> Verdict:
    return _host(obs, ctx, judge_valid)


@check(
    "rpki.web.roa",
    title="A ROA covers every address of the web host",
    category=Category.ROUTING,
    scope=Scope.HOST,
    needs=(Probe.DNS, Probe.ROUTING),
    level_hint=Level.RECOMMENDED,
    refs=_REFS,
    params=_PARAMS,
    description=_DESC_ROA,
    remediation=_FIX_ROA,
)
def rpki_web_roa(obs: HostObservations, ctx: CheckContext) -> Verdict:
    return _host(obs, ctx, judge_roa)


@check(
    "rpki.ns.valid",
    title="Every route to the zone's name server addresses is RPKI-valid",
    category=Category.ROUTING,
    scope=Scope.ZONE,
    needs=(Probe.ZONE, Probe.ROUTING),
    level_hint=Level.RECOMMENDED,
    refs=_REFS,
    params=_PARAMS,
    description=_DESC_VALID,
    remediation=_FIX_VALID,
)
def rpki_ns_valid(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    return _zone(obs, ctx, "ns", judge_valid)


@check(
    "rpki.ns.roa",
    title="A ROA covers every name server address of the zone",
    category=Category.ROUTING,
    scope=Scope.ZONE,
    needs=(Probe.ZONE, Probe.ROUTING),
    level_hint=Level.RECOMMENDED,
    refs=_REFS,
    params=_PARAMS,
    description=_DESC_ROA,
    remediation=_FIX_ROA,
)
def rpki_ns_roa(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    return _zone(obs, ctx, "ns", judge_roa)


@check(
    "rpki.mx.valid",
    title="Every route to the mail exchangers' addresses is RPKI-valid",
    category=Category.ROUTING,
    scope=Scope.ZONE,
    needs=(Probe.ZONE, Probe.ROUTING),
    level_hint=Level.RECOMMENDED,
    refs=_REFS,
    params=_PARAMS,
    description=_DESC_VALID + "\nNot applicable to a domain without MX or with a null MX.",
    remediation=_FIX_VALID,
)
def rpki_mx_valid(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    return _zone(obs, ctx, "mx", judge_valid)


@check(
    "rpki.mx.roa",
    title="A ROA covers every mail exchanger address of the zone",
    category=Category.ROUTING,
    scope=Scope.ZONE,
    needs=(Probe.ZONE, Probe.ROUTING),
    level_hint=Level.RECOMMENDED,
    refs=_REFS,
    params=_PARAMS,
    description=_DESC_ROA + "\nNot applicable to a domain without MX or with a null MX.",
    remediation=_FIX_ROA,
)
def rpki_mx_roa(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    return _zone(obs, ctx, "mx", judge_roa)


_MX_NS_NOTE = """
Here the addresses are those of the name servers of every zone holding a mail exchanger
target (the SOA owner of each MX name; the domain's own zone when the MX is in it, a
provider's zone otherwise): a hijacked route to them lets the hijacker answer the MX
targets' address lookups, and the domain's mail goes where the hijacker says, even when
the mail servers' own routes are valid. Not applicable to a domain without MX or with a
null MX.
"""


@check(
    "rpki.mx_ns.valid",
    title="Every route to the name servers of the mail exchangers' zones is RPKI-valid",
    category=Category.ROUTING,
    scope=Scope.ZONE,
    needs=(Probe.ZONE, Probe.ROUTING),
    level_hint=Level.RECOMMENDED,
    refs=_REFS,
    params=_PARAMS,
    description=_DESC_VALID + _MX_NS_NOTE,
    remediation=_FIX_VALID,
)
def rpki_mx_ns_valid(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    return _zone(obs, ctx, "mx_ns", judge_valid)


@check(
    "rpki.mx_ns.roa",
    title="A ROA covers every name server address of the mail exchangers' zones",
    category=Category.ROUTING,
    scope=Scope.ZONE,
    needs=(Probe.ZONE, Probe.ROUTING),
    level_hint=Level.RECOMMENDED,
    refs=_REFS,
    params=_PARAMS,
    description=_DESC_ROA + _MX_NS_NOTE,
    remediation=_FIX_ROA,
)
def rpki_mx_ns_roa(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    return _zone(obs, ctx, "mx_ns", judge_roa)
