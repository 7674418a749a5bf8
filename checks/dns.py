"""DNS checks: resolution, DNSSEC, name server diversity, CAA."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from auditor.model import Category, Level, Probe, Scope, Status, Verdict
from auditor.obs import HostObservations
from auditor.obs.core import DnsAnswer, Outcome
from auditor.obs.zone import Dnssec, ZoneObservations
from auditor.protocol.caa import issuer_domain, property_problem
from auditor.protocol.names import norm_name
from auditor.registry import CheckContext, check

_NEGATIVE = {
    Outcome.NXDOMAIN: "the name does not exist (NXDOMAIN)",
    Outcome.SERVFAIL: "the resolver answered SERVFAIL (broken delegation or DNSSEC failure)",
    Outcome.TIMEOUT: "no DNS answer before the timeout",
    Outcome.DNS_REFUSED: "the DNS server refused the query",
    Outcome.REFUSED: "the resolver's port is closed (nothing listens there)",
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
        # The operator bypassed DNS on purpose (a site before its DNS change): the question
        # does not apply, and saying "not tested" would make every such gate incomplete.
        return Verdict.not_applicable(
            "addresses pinned with --resolve; DNS was not asked", **evidence
        )
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
    # A timeout while the resolver answers for the name's public suffix: the name's own
    # servers do not respond (lame or unreachable delegation). That is the zone's fault.
    timeouts = [a for a in (dns.a, dns.aaaa) if a.outcome == Outcome.TIMEOUT]
    if timeouts and all(a.resolver_ok for a in timeouts):
        evidence["resolver_ok"] = True
        return Verdict.failed(
            "no DNS answer before the timeout, although the resolver answers for the parent "
            "zone: the name's authoritative servers do not respond (lame delegation?)",
            **evidence,
        )
    # Otherwise a timeout or REFUSED may be our own resolver's problem, not the host's:
    # never a false verdict, so the host is reported as not tested, with the reason.
    for ans in (dns.a, dns.aaaa):
        if ans.outcome in (Outcome.TIMEOUT, Outcome.DNS_REFUSED, Outcome.REFUSED):
            return Verdict.not_tested(_NEGATIVE[ans.outcome], **evidence)
        if ans.outcome == Outcome.SKIPPED:  # not asked: no verdict about the name
            return Verdict.not_tested(f"not looked up: {ans.detail or 'skipped'}", **evidence)
    details = "; ".join(f"{a.rdtype}: {a.outcome} {a.detail}".strip() for a in (dns.a, dns.aaaa))
    return Verdict.failed(f"resolution failed ({details})", **evidence)


# ---------------------------------------------------------------------------------------
# Zone existence


@check(
    "dns.zone.exists",
    title="The domain exists in the DNS",
    category=Category.DNS,
    scope=Scope.ZONE,
    needs=(Probe.ZONE,),
    level_hint=Level.MANDATORY,
    refs=("RFC 1034 section 4.3.2", "RFC 8020 (NXDOMAIN: there really is nothing underneath)"),
    description="""
Every other check of a domain (DNSSEC, name servers, CAA, SPF, DMARC, MX, STARTTLS,
MTA-STS, IPv6 of the name servers and mail servers) only means something when the domain
exists. A domain the DNS answers NXDOMAIN for is one finding, this one; every other check
of it is not applicable and points here, instead of advising to add records to a zone that
does not exist (or passing DNSSEC because the denial is signed). The zone's SOA is asked
first; an NXDOMAIN is trusted only when the resolver answers for the public suffix (gov.vn)
too, so a resolver that denies everything is not blamed on the agency. SERVFAIL or no answer
for the zone leaves existence undecided (not tested, and the other checks judge what they
see). A name that exists but is not a zone apex (no SOA of its own, e.g. a host name listed
as a domain) passes: its name-server and DNSSEC checks judge the enclosing zone, and its
mail records are its own.
""",
    remediation={
        "general": "Check the inventory for a typo or a domain that was given up. A new domain "
        "must be registered and delegated by the registry (VNNIC for .gov.vn): "
        "`dig +trace example.gov.vn SOA` shows where the delegation stops.",
        "dns": "Once registered, publish the zone on at least two name servers and give their "
        "names (and glue) to the registry: the parent's NS records make the domain exist.",
    },
)
def dns_zone_exists(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    soa = obs.soa
    if soa is None:
        why = "deadline passed" if obs.outcome != Outcome.OK else "SOA not looked up"
        return Verdict.not_tested(f"the zone's SOA was not looked up ({why})")
    evidence: dict[str, Any] = {
        "soa": list(soa.records),
        "outcome": soa.outcome,
        "detail": soa.detail,
        "cname_chain": list(soa.cname_chain),
    }
    if soa.outcome == Outcome.NXDOMAIN:
        control = obs.suffix_soa
        if control is not None:
            evidence["control"] = {"name": control.qname, "outcome": control.outcome}
        if not obs.does_not_exist:
            assert control is not None
            return Verdict.not_tested(
                f"the resolver answered NXDOMAIN for {obs.zone}, but {control.outcome} for the "
                f"public suffix {control.qname} as well: it denies more than this domain, so "
                "its answer says nothing about the agency (check the scanner's resolver)",
                **evidence,
            )
        return Verdict.failed(
            f"the domain {obs.zone} does not exist (NXDOMAIN): no other zone check applies",
            **evidence,
        )
    if soa.outcome == Outcome.OK and soa.records:
        if soa.cname_chain:
            return Verdict.passed(
                f"{obs.zone} exists: an alias (CNAME) of {soa.cname_chain[-1]}", **evidence
            )
        return Verdict.passed(f"{obs.zone} exists (a zone apex with its own SOA)", **evidence)
    if soa.outcome in (Outcome.OK, Outcome.NODATA):
        # The name exists (NOERROR) without an SOA of its own: a name inside a zone. What
        # is judged per zone (NS, DNSSEC) is the enclosing zone's; documented above.
        where = f" zone {obs.apex}" if obs.apex and obs.apex != obs.zone else " zone"
        evidence["apex"] = obs.apex
        return Verdict.passed(
            f"{obs.zone} exists but is not a zone apex (no SOA of its own): name servers and "
            f"DNSSEC are those of the enclosing{where}",
            **evidence,
        )
    if soa.outcome == Outcome.SERVFAIL:
        bogus = obs.dnssec is not None and obs.dnssec.status == Dnssec.BOGUS
        hint = " (the zone's DNSSEC is bogus: see dns.dnssec)" if bogus else ""
        return Verdict.not_tested(
            "the resolver answered SERVFAIL for the zone's SOA: whether the domain exists "
            f"cannot be told (broken delegation or DNSSEC failure){hint}",
            **evidence,
        )
    return Verdict.not_tested(
        f"SOA lookup of {obs.zone} failed: {_NEGATIVE.get(soa.outcome, soa.outcome)}"
        + (f" ({soa.detail})" if soa.detail else ""),
        **evidence,
    )


# ---------------------------------------------------------------------------------------
# DNSSEC

_DNSSEC_REMEDIATION = {
    "dns": "Sign the zone and publish its DS at the parent. Knot: `dnssec-signing: on` with "
    "a `policy` (ECDSA P-256, algorithm 13) in the zone section, then give the DS from "
    "`keymgr example.gov.vn ds` to the registry (VNNIC for .gov.vn). BIND 9.16+: "
    "`dnssec-policy default;` in the zone. Windows DNS: DNSSEC > Sign the Zone, then "
    "send the DS to the registry. Bogus: the DS at the parent does not match the zone's "
    "key, or signatures expired (is the signer running? `dig +dnssec SOA` shows RRSIG "
    "expiry).",
    "general": "Test: `dig +dnssec example.gov.vn SOA` through a validating resolver must "
    "show the `ad` flag; https://dnsviz.net shows the chain.",
}


@check(
    "dns.dnssec",
    title="The zone is signed with DNSSEC and its chain of trust validates",
    category=Category.DNSSEC,
    scope=Scope.ZONE,
    needs=(Probe.ZONE,),
    level_hint=Level.MANDATORY,
    refs=("TT 32/2017/TT-BTTTT", "RFC 4033", "RFC 4035", "Internet.nl"),
    params={"rrsig_warn_days": 3},
    description="""
DNSSEC lets resolvers detect forged DNS answers, which would otherwise send citizens to
a fake portal. Circular 32/2017 requires portals to use DNSSEC, and .gov.vn is signed since
2018, so an agency zone can be 'secure' end to end. Insecure (no DS at the parent) is a
partial failure; bogus (signatures or DS wrong, or signatures expired) is worse than
unsigned: validating resolvers, including most ISPs', then refuse the whole domain.
""",
    remediation=_DNSSEC_REMEDIATION,
)
def dns_dnssec(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    st = obs.dnssec
    if st is None:
        why = "deadline passed" if obs.outcome != Outcome.OK else "DNSSEC status not probed"
        return Verdict.not_tested(why)
    evidence: dict[str, Any] = {
        "name": st.name,
        "status": st.status,
        "method": st.method,
        "ds_present": st.ds_present,
        "dnskey_algorithms": list(st.dnskey_algorithms),
        "rrsig_expiry": st.rrsig_expiry,
        "detail": st.detail,
    }
    # CHECKS.md: "follow CNAMEs: the target zone counts too"
    if obs.cname_dnssec:
        evidence["cnames"] = {
            c.name: {"status": c.status, "chain": list(c.cname_chain), "detail": c.detail}
            for c in obs.cname_dnssec
        }
    bad_cnames = {
        s: [c for c in obs.cname_dnssec if c.status == s] for s in (Dnssec.BOGUS, Dnssec.INSECURE)
    }

    def cname_text(items: list[Any]) -> str:
        return "; ".join(f"{c.name} -> {' -> '.join(c.cname_chain)}: {c.detail}" for c in items)

    if st.status == Dnssec.BOGUS:
        return Verdict.failed(f"{st.name} is bogus: {st.detail}", score=0.0, **evidence)
    if bad_cnames[Dnssec.BOGUS]:
        return Verdict.failed(
            "CNAME target does not validate (bogus): " + cname_text(bad_cnames[Dnssec.BOGUS]),
            score=0.0,
            **evidence,
        )
    if st.status == Dnssec.INSECURE:
        # catalogue: insecure = fail (partial)
        return Verdict.failed(f"{st.name} is insecure: {st.detail}", score=0.5, **evidence)
    if st.status != Dnssec.SECURE:
        return Verdict.not_tested(f"DNSSEC status unknown ({st.status}): {st.detail}", **evidence)
    if bad_cnames[Dnssec.INSECURE]:
        return Verdict.failed(
            f"{st.name} is secure, but a CNAME leads into an insecure zone: "
            + cname_text(bad_cnames[Dnssec.INSECURE]),
            score=0.5,
            **evidence,
        )
    undecided = [c for c in obs.cname_dnssec if c.status != Dnssec.SECURE]
    if undecided:
        return Verdict.not_tested(
            f"{st.name} is secure; CNAME status unknown: " + cname_text(undecided), **evidence
        )
    expiry = _parse_time(st.rrsig_expiry)
    days = float(ctx.params.get("rrsig_warn_days", 3))
    now = ctx.now if ctx.now.tzinfo else ctx.now.replace(tzinfo=dt.UTC)
    if expiry is not None and expiry - now < dt.timedelta(days=days):
        return Verdict.warn(
            f"secure, but a signature expires at {st.rrsig_expiry} (less than {days:g} "
            "days): is the signer still running?",
            **evidence,
        )
    return Verdict.passed(f"{st.name} is DNSSEC-secure (chain validates)", **evidence)


def _parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


@check(
    "dns.dnssec.host",
    title="The host's address records validate with DNSSEC, CNAME targets included",
    category=Category.DNSSEC,
    scope=Scope.HOST,
    needs=(Probe.DNS,),
    level_hint=Level.RECOMMENDED,
    refs=("TT 32/2017/TT-BTTTT", "RFC 4035 section 3.2.3 (AD bit)"),
    description="""
A zone can be signed while its portal is not protected: when www is a CNAME into a
provider's unsigned zone (a CDN, a hosting company), the answer citizens receive is only
as secure as the last zone in the chain. This checks the host's own A/AAAA answers as the
validating resolver returned them, following every CNAME (companion of dns.dnssec, which
judges the zone apex). Needs a validating resolver.
""",
    remediation={
        **_DNSSEC_REMEDIATION,
        "general": "If the host is a CNAME to a provider, ask the provider to sign its zone, "
        "or serve the portal from addresses in the agency's own signed zone.",
    },
)
def dns_dnssec_host(obs: HostObservations, ctx: CheckContext) -> Verdict:
    if obs.pinned:
        return Verdict.not_applicable("addresses pinned with --resolve; DNS was not asked")
    answers = [a for a in (obs.dns.a, obs.dns.aaaa) if a.outcome in (Outcome.OK, Outcome.NODATA)]
    chain = list(obs.dns.a.cname_chain or obs.dns.aaaa.cname_chain)
    evidence: dict[str, Any] = {
        "cname_chain": chain,
        "ad": {a.rdtype: a.authenticated for a in (obs.dns.a, obs.dns.aaaa)},
    }
    if not answers:
        return Verdict.not_tested("no usable DNS answer for the host", **evidence)
    if any(a.authenticated is None for a in answers):
        return Verdict.not_tested("the resolver's AD bit was not recorded", **evidence)
    if all(a.authenticated for a in answers):
        via = f" (through {' -> '.join(chain)})" if chain else ""
        return Verdict.passed(f"the host's answers validate{via}", **evidence)
    where = f"the CNAME chain ({' -> '.join(chain)})" if chain else "the host's zone"
    return Verdict.failed(
        f"the host's answers are not DNSSEC-validated: {where} is not signed, or the "
        "resolver does not validate",
        score=0.5,
        **evidence,
    )


# ---------------------------------------------------------------------------------------
# Name server count and diversity


@check(
    "dns.ns.count",
    title="At least two name servers, not all in the same network",
    category=Category.DNS,
    scope=Scope.ZONE,
    needs=(Probe.ZONE,),
    level_hint=Level.RECOMMENDED,
    refs=("RFC 2182 section 3.1", "RFC 1034 section 4.1"),
    params={"min_ns": 2, "v4_prefix": 24, "v6_prefix": 48},
    description="""
If the only name server, or every name server in one network, goes down, every service of
the agency (portal, mail, public services) disappears at once. RFC 2182 asks for at least
two name servers in topologically separate networks.
""",
    remediation={
        "dns": "Add a secondary name server in another network (another provider, another "
        "data centre), list it in the zone's NS RRset and at the parent (VNNIC): e.g. a "
        "secondary at the provincial data centre and one at VNNIC or a second ISP.",
    },
)
def dns_ns_count(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    ns = obs.ns
    if ns is None:
        return Verdict.not_tested("NS of the zone not looked up")
    if ns.outcome == Outcome.NXDOMAIN:
        # an authoritative "no such domain": the inventory lists a domain that is not delegated
        return Verdict.failed(f"{ns.qname} does not exist (NXDOMAIN): no delegation", ns=[])
    if ns.outcome != Outcome.OK:
        return Verdict.not_tested(f"NS lookup failed: {ns.outcome} {ns.detail}".strip())
    names = sorted({norm_name(r) for r in ns.records})
    minimum = int(ctx.params.get("min_ns", 2))  # RFC 2182 section 5: at least two
    prefixes = {
        "v4": int(ctx.params.get("v4_prefix", 24)),  # RFC 2182 section 3.1 diversity, as /24
        "v6": int(ctx.params.get("v6_prefix", 48)),  # and /48 (a site's IPv6 allocation)
    }
    hosts = {h.name: h for h in obs.ns_hosts}
    # The networks each name server is in, per family, exactly as the evidence lists them.
    nets: dict[str, dict[str, set[str]]] = {"v4": {}, "v6": {}}
    unknown: dict[str, str] = {}  # NS whose addresses are (partly) unknown, and why
    addressless: list[str] = []  # NS whose A and AAAA lookups answered: no address at all
    if ns.truncated:  # past the record cap: servers the evidence does not even name
        unknown["(more)"] = f"NS RRset cut at the record cap ({ns.detail})"
    for name in names:
        h = hosts.get(name)
        if h is None:  # the deadline, or past the probe's MAX_NS
            unknown[name] = "addresses not looked up"
            continue
        for fam, answer in (("v4", h.a), ("v6", h.aaaa)):
            for a in answer.records:
                with contextlib.suppress(ValueError):
                    net = ipaddress.ip_network(f"{a}/{prefixes[fam]}", strict=False)
                    nets[fam].setdefault(name, set()).add(str(net))
            if answer.outcome not in (Outcome.OK, Outcome.NODATA, Outcome.NXDOMAIN):
                unknown[name] = f"{answer.rdtype} lookup {answer.outcome}"
        if name not in unknown and not h.addresses:
            addressless.append(name)
    v4_nets = sorted({n for s in nets["v4"].values() for n in s})
    v6_nets = sorted({n for s in nets["v6"].values() for n in s})
    evidence: dict[str, Any] = {
        "ns": names,
        "v4_networks": v4_nets,
        "v6_networks": v6_nets,
        "per_ns": {n: sorted(nets["v4"].get(n, set()) | nets["v6"].get(n, set())) for n in names},
    }
    if unknown:
        evidence["unknown"] = unknown
    if addressless:
        evidence["no_address"] = addressless
    if len(names) < minimum:
        return Verdict.failed(
            f"{len(names)} name server(s); at least {minimum} are needed (RFC 2182)",
            **evidence,
        )
    if not unknown and len(names) - len(addressless) < minimum:
        return Verdict.failed(
            f"{len(names)} name servers listed, but {', '.join(addressless)} "
            f"{'has' if len(addressless) == 1 else 'have'} no address at all: fewer than "
            f"{minimum} can answer (RFC 2182)",
            score=0.5,
            **evidence,
        )
    # Diversity per family (RFC 2182 section 3.1): all the name servers with an address in
    # a family in one /24 (v4) or /48 (v6) is the warning. Two servers sharing one address
    # are in one network too. A single server in a family is ipv6.ns.aaaa's finding, not a
    # diversity problem. Only what the evidence shows is claimed: with a server's addresses
    # unknown, "all in one network" and "different networks" are both unproven.
    same: list[str] = []
    undecided: list[str] = []
    for fam, label in (("v4", "IPv4"), ("v6", "IPv6")):
        union = {n for s in nets[fam].values() for n in s}
        if len(union) >= 2:
            continue  # spread: proven not all in one network
        if unknown:
            undecided.append(label)
        elif len(nets[fam]) >= 2:
            same.append(f"all {label} addresses in {next(iter(union))}")
    if same:
        return Verdict.warn(
            f"{len(names)} name servers but " + " and ".join(same) + " (RFC 2182 diversity)",
            score=0.5,
            **evidence,
        )
    if undecided:
        why = "; ".join(f"{n}: {w}" for n, w in unknown.items())
        return Verdict.not_tested(
            f"{len(names)} name servers; their network diversity cannot be judged ({why})",
            **evidence,
        )
    shown = "; ".join(
        f"{label} {', '.join(found)}"
        for label, found in (("IPv4", v4_nets), ("IPv6", v6_nets))
        if found
    )
    return Verdict.passed(f"{len(names)} name servers in different networks ({shown})", **evidence)


# ---------------------------------------------------------------------------------------
# CAA


def parse_caa(record: str) -> tuple[int, str, str] | str:
    """(flags, tag, value) of one CAA record, or the reason it does not parse."""
    try:
        rd = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.CAA, record)
    except (dns.exception.DNSException, ValueError, UnicodeError) as exc:
        return f"unparsable CAA record {record[:80]!r}: {exc}"
    tag = bytes(getattr(rd, "tag", b"")).decode("ascii", errors="replace")
    value = bytes(getattr(rd, "value", b"")).decode("utf-8", errors="replace")
    return int(getattr(rd, "flags", 0)), tag, value


KNOWN_CAA_TAGS = frozenset({"issue", "issuewild", "iodef", "issuemail", "issuevmc"})


@check(
    "dns.caa",
    title="A CAA record set with at least one issue property, valid per RFC 8659, "
    "for the zone and its hosts",
    category=Category.DNS,
    scope=Scope.ZONE,
    needs=(Probe.ZONE,),
    level_hint=Level.RECOMMENDED,
    refs=("RFC 8659 sec. 3, 4", "CA/Browser Forum Baseline Requirements 3.2.2.8"),
    description="""
CAA tells certificate authorities which of them may issue certificates for the agency's
names; others must refuse. It limits the damage of a mis-issued certificate for a portal.
The record set that applies is found by climbing from the name to its parents (RFC 8659
section 3), stopping before the public suffix: for the zone, and for every inventory host
below it (a host may publish a set of its own, which then replaces the zone's for it).
Each set must parse by the RFC 8659 grammar (issue, issuewild, iodef) and hold at least one
`issue` property: a set with only `iodef` or `issuewild` restricts nothing for ordinary
names (Internet.nl asks the same).
""",
    remediation={
        "dns": 'Publish e.g. `example.gov.vn. IN CAA 0 issue "letsencrypt.org"` (one issue '
        "line per CA you use, the CA's documented domain) and `IN CAA 0 iodef "
        '"mailto:security@example.gov.vn"`. Windows DNS Server 2016+: add it as an '
        "'Unknown record' type 257 or with PowerShell Add-DnsServerResourceRecord.",
    },
)
def dns_caa(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    if not obs.caa:
        return Verdict.not_tested("CAA not looked up")
    relevant = next((a for a in obs.caa if a.records), None)
    trail = {a.qname: a.outcome for a in obs.caa}
    if relevant is None:
        last = obs.caa[-1]
        if last.outcome in (Outcome.NODATA, Outcome.NXDOMAIN):
            return Verdict.failed(
                "no CAA record at " + ", ".join(a.qname for a in obs.caa), searched=trail
            )
        return Verdict.not_tested(
            f"CAA lookup of {last.qname} failed: {last.outcome}", searched=trail
        )
    zone_set = _judge_caa_set(relevant)
    evidence: dict[str, Any] = {
        "name": relevant.qname,
        "records": list(zone_set.records),
        "searched": trail,
    }
    hosts = _host_caa_sets(obs)
    judged = [(obs.zone, zone_set)] + [(h, _judge_caa_set(a)) for h, a in hosts.items()]
    if hosts:
        evidence["hosts"] = {
            h: {"name": hosts[h].qname, "records": list(j.records)} for h, j in judged[1:]
        }
    for status in (Status.FAIL, Status.NOT_TESTED, Status.WARN):
        found = [f"{who}: {j.problem}" for who, j in judged if j.status == status]
        if found:
            return Verdict(status, "CAA " + "; ".join(found[:5]), evidence)
    where = "" if relevant.qname == obs.zone else f" (inherited from {relevant.qname})"
    own = f"; {len(hosts)} host(s) with a set of their own" if hosts else ""
    issuers = ", ".join(i or "none (;)" for i in zone_set.issuers)
    return Verdict.passed(f"CAA present{where}: issue {issuers}{own}", **evidence)


@dataclass(frozen=True)
class _CaaJudgement:
    status: Status
    problem: str = ""
    records: tuple[dict[str, Any], ...] = ()
    issuers: tuple[str, ...] = ()


def _judge_caa_set(answer: DnsAnswer) -> _CaaJudgement:
    """One relevant CAA RRset: RFC 8659 grammar, at least one issue, no critical unknown."""
    parsed: list[dict[str, Any]] = []
    errors: list[str] = []
    unknown_critical: list[str] = []
    for rec in answer.records:
        p = parse_caa(rec)
        if isinstance(p, str):
            errors.append(p)
            continue
        flags, tag, value = p
        parsed.append({"flags": flags, "tag": tag, "value": value})
        why = property_problem(tag, value)
        if why:
            errors.append(why)
        # RFC 8659 section 4.1: an unknown tag with the critical bit (128) forbids issuance
        if flags & 128 and tag.lower() not in KNOWN_CAA_TAGS:
            unknown_critical.append(tag)
    records = tuple(parsed)
    issuers = tuple(issuer_domain(r["value"]) for r in parsed if r["tag"].lower() == "issue")
    at = f"at {answer.qname}"
    if errors:
        return _CaaJudgement(Status.FAIL, f"{at} does not parse: " + "; ".join(errors), records)
    if answer.truncated:  # a critical unknown tag may be past the record cap
        return _CaaJudgement(
            Status.NOT_TESTED,
            f"{at} has more records than the scanner keeps ({answer.detail}): not judged on a part",
            records,
        )
    if not issuers:
        # RFC 8659 sec. 4.2-4.3: without issue, any CA may issue for the name itself
        # (issuewild governs only wildcards); Internet.nl requires an issue property
        return _CaaJudgement(Status.FAIL, f"{at} has no issue property", records)
    if unknown_critical:
        return _CaaJudgement(
            Status.WARN,
            f"{at} has critical unknown tags ({', '.join(unknown_critical)}): every CA must "
            "refuse to issue",
            records,
            issuers,
        )
    return _CaaJudgement(Status.PASS, "", records, issuers)


def _host_caa_sets(obs: ZoneObservations) -> dict[str, DnsAnswer]:
    """Inventory hosts that publish a CAA set of their own (at the host or at a name
    between it and the zone): host -> its relevant answer. Others inherit the zone's.
    The deepest names asked are the hosts (the probe climbs from each host upwards)."""
    by_name = {a.qname: a for a in obs.caa_hosts}
    leaves = sorted(n for n in by_name if not any(o.endswith("." + n) for o in by_name))
    out: dict[str, DnsAnswer] = {}
    for host in leaves:
        labels = host.split(".")
        for i in range(len(labels)):
            name = ".".join(labels[i:])
            answer = by_name.get(name)
            if name == obs.zone or answer is None:
                break
            if answer.records:
                out[host] = answer
                break
    return out
