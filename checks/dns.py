"""DNS checks: resolution, DNSSEC, name server diversity, CAA."""

from __future__ import annotations

from typing import Any

from auditor.model import Category, Level, Scope, Verdict
from auditor.obs import HostObservations
from auditor.obs.core import Outcome
from auditor.registry import CheckContext, Probe, check

_NEGATIVE = {
    Outcome.NXDOMAIN: "the name does not exist (NXDOMAIN)",
    Outcome.SERVFAIL: "the resolver answered SERVFAIL (broken delegation or DNSSEC failure)",
    Outcome.TIMEOUT: "no DNS answer before the timeout",
    Outcome.DNS_REFUSED: "the DNS server refused the query",
}


@check(
    "dns.resolve",
    title="Host name resolves to at least one address",
    category=Category.DNS,
    scope=Scope.HOST,
    needs=(Probe.DNS,),
    level_hint=Level.MANDATORY,
    refs=("RFC 1034", "RFC 1035"),
    description="""
Citizens reach a portal by its name. If the name does not resolve, nothing else about the
site can be tested or used: every other check of the host is reported as not tested.
NXDOMAIN, SERVFAIL and timeouts are told apart because their fixes differ.
""",
    remediation={
        "dns": "Publish A and AAAA records for the host in its zone and check the delegation "
        "(NS records at the parent, DS records if the zone is signed): "
        "`dig +trace www.example.gov.vn AAAA`.",
        "general": "SERVFAIL usually means a broken delegation or an invalid DNSSEC signature; "
        "NXDOMAIN means the record is missing or the inventory has a typo.",
    },
)
def dns_resolve(obs: HostObservations, ctx: CheckContext) -> Verdict:
    dns = obs.dns
    evidence: dict[str, Any] = {
        "a": list(dns.a.records),
        "aaaa": list(dns.aaaa.records),
        "a_outcome": dns.a.outcome,
        "aaaa_outcome": dns.aaaa.outcome,
        "cname_chain": list(dns.a.cname_chain or dns.aaaa.cname_chain),
    }
    if obs.pinned:
        return Verdict.not_tested("addresses pinned with --resolve; DNS was not asked", **evidence)
    if dns.resolved:
        n = len(dns.addresses)
        return Verdict.passed(f"resolves to {n} address(es)", **evidence)
    outcomes = {dns.a.outcome, dns.aaaa.outcome}
    if outcomes <= {Outcome.NXDOMAIN, Outcome.NODATA}:
        if Outcome.NXDOMAIN in outcomes:
            return Verdict.failed(_NEGATIVE[Outcome.NXDOMAIN], **evidence)
        return Verdict.failed("the name exists but has no A or AAAA record", **evidence)
    # SERVFAIL is the zone's fault (broken delegation, bad signatures): a failure.
    for ans in (dns.a, dns.aaaa):
        if ans.outcome == Outcome.SERVFAIL:
            return Verdict.failed(_NEGATIVE[Outcome.SERVFAIL], **evidence)
    # A timeout or REFUSED may be our own resolver's problem, not the host's: never
    # a false verdict, so the host is reported as not tested, with the reason.
    for ans in (dns.a, dns.aaaa):
        if ans.outcome in (Outcome.TIMEOUT, Outcome.DNS_REFUSED):
            return Verdict.not_tested(_NEGATIVE[ans.outcome], **evidence)
    details = "; ".join(f"{a.rdtype}: {a.outcome} {a.detail}".strip() for a in (dns.a, dns.aaaa))
    return Verdict.failed(f"resolution failed ({details})", **evidence)
