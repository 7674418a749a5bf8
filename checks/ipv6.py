"""IPv6 checks: web hosts, name servers and mail servers over IPv6."""

from __future__ import annotations

from typing import Any

from auditor.model import Category, Level, Scope, Verdict
from auditor.obs import HostObservations
from auditor.obs.core import Outcome
from auditor.registry import CheckContext, Probe, check
from checks._common import unusable_v6_reason


@check(
    "ipv6.web.aaaa",
    title="Web host publishes a usable AAAA record",
    category=Category.IPV6_WEB,
    scope=Scope.HOST,
    needs=(Probe.DNS,),
    level_hint=Level.MANDATORY,
    refs=("QD 38/QD-BTTTT (IPv6 For Gov, 2021)", "OMB M-21-07", "RFC 3596"),
    description="""
Without an AAAA record an IPv6-only citizen cannot reach the portal at all. The national
IPv6 For Gov programme (Decision 38/QD-BTTTT) requires every portal and public-service portal
to work over IPv6. Addresses that can never serve clients (IPv4-mapped, loopback,
link-local, multicast, unspecified) do not count.
""",
    remediation={
        "dns": "Add an AAAA record for the host pointing at the server's global IPv6 address "
        "(or at the load balancer / CDN's IPv6 address), e.g. "
        "`www IN AAAA 2001:db8:10::80`.",
        "nginx": "Listen on IPv6 too: `listen [::]:80;` and `listen [::]:443 ssl;` next to the "
        "IPv4 listen lines.",
        "apache": "`Listen [::]:80` and `Listen [::]:443`, and `<VirtualHost *:443>` "
        "(the * matches both families).",
        "iis": "IIS Manager > Site > Bindings: add https and http bindings for the IPv6 address "
        "(or 'All Unassigned'); make sure the server has a static global IPv6 address.",
    },
)
def web_aaaa(obs: HostObservations, ctx: CheckContext) -> Verdict:
    aaaa = obs.dns.aaaa
    usable = [a for a in aaaa.records if unusable_v6_reason(a) is None]
    unusable = {a: r for a in aaaa.records if (r := unusable_v6_reason(a)) is not None}
    evidence: dict[str, Any] = {
        "aaaa": list(aaaa.records),
        "outcome": aaaa.outcome,
        "unusable": unusable,
    }
    if usable:
        return Verdict.passed(f"{len(usable)} usable AAAA record(s)", addresses=usable, **evidence)
    if unusable:
        listed = ", ".join(f"{a} ({r})" for a, r in unusable.items())
        return Verdict.failed(f"no usable AAAA record: {listed}", **evidence)
    if aaaa.outcome in (Outcome.NODATA, Outcome.NXDOMAIN, Outcome.OK):
        return Verdict.failed("no AAAA record", **evidence)
    if obs.pinned:
        return Verdict.failed("no IPv6 address was given with --resolve", **evidence)
    # SERVFAIL / timeout on the AAAA query: we could not see whether one exists.
    return Verdict.not_tested(
        f"AAAA lookup failed: {aaaa.outcome} {aaaa.detail}".strip(), **evidence
    )
