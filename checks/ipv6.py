"""IPv6 checks: web hosts, name servers and mail servers over IPv6."""

from __future__ import annotations

from typing import Any

from auditor.model import Category, Level, Probe, Scope, Status, Verdict
from auditor.obs import HostObservations
from auditor.obs.core import Outcome
from auditor.obs.zone import NsOutcome, ServerHost, ZoneObservations
from auditor.protocol.addresses import opened_reason, unusable_v6_reason, usable_v6
from auditor.protocol.names import norm_name
from auditor.registry import CheckContext, check
from checks._common import UNDECIDED, cut_answers, describe_failure


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
link-local, multicast, unspecified) do not count, nor do addresses citizens cannot reach:
unique-local (fc00::/7) and the other special-purpose ranges the scanner's address guard
refuses, unless the scan opened that range with --allow-net or --allow-private (an
intranet audit, a lab): the evidence then names the option.
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
    usable = [a for a in aaaa.records if unusable_v6_reason(a, ctx.guard) is None]
    unusable = {a: r for a in aaaa.records if (r := unusable_v6_reason(a, ctx.guard)) is not None}
    # special-purpose addresses counted only because the operator opened their range
    opened = {a: r for a in usable if (r := opened_reason(a, ctx.guard)) is not None}
    evidence: dict[str, Any] = {
        "aaaa": list(aaaa.records),
        "outcome": aaaa.outcome,
        "unusable": unusable,
    }
    if opened:
        evidence["opened"] = opened
    if usable:
        note = (
            f" ({len(opened)} in a range opened with --allow-net/--allow-private, not "
            "globally reachable)"
            if opened
            else ""
        )
        return Verdict.passed(
            f"{len(usable)} usable AAAA record(s){note}", addresses=usable, **evidence
        )
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


# ---------------------------------------------------------------------------------------
# ipv6.web.reach


@check(
    "ipv6.web.reach",
    title="Every IPv6 address of the web host accepts connections on the ports IPv4 serves",
    category=Category.IPV6_WEB,
    scope=Scope.HOST,
    needs=(Probe.DNS, Probe.TCP),
    level_hint=Level.MANDATORY,
    refs=("QD 38/QD-BTTTT (IPv6 For Gov, 2021)", "Internet.nl web_ipv6_ws_reach", "RFC 8305"),
    description="""
An AAAA record that does not answer is worse than none: browsers with Happy Eyeballs hide
it by falling back to IPv4, but IPv6-only citizens (mobile networks are moving to
IPv6-only) and many resolvers and crawlers cannot reach the portal at all. Each IPv6
address is connected to directly, on every port (80, 443) that the IPv4 addresses accept,
so a broken IPv6 path is never masked by a working IPv4 one. A silently dropped
connection (firewall without an IPv6 rule) and a refused one (server not listening on
IPv6) are reported differently because their fixes differ.
""",
    remediation={
        "nginx": "Add `listen [::]:80;` and `listen [::]:443 ssl;` to every server block that "
        "has the IPv4 listen lines; `nginx -t && systemctl reload nginx`; check with "
        "`ss -ltn | grep ':443'` that [::]:443 is listening.",
        "apache": "`Listen [::]:80` and `Listen [::]:443` (or plain `Listen 80` which binds "
        "both); virtual hosts as `<VirtualHost *:443>`.",
        "iis": "Site Bindings: add the IPv6 address (or All Unassigned) for http/80 and "
        "https/443; `netsh http show iplisten` must list :: or be empty.",
        "general": "Timeouts mean a firewall drops IPv6 (open TCP 80/443 for IPv6 in "
        "ip6tables/nftables, the cloud security group and the perimeter firewall); "
        "'refused' means nothing listens on the IPv6 address.",
    },
)
def web_reach(obs: HostObservations, ctx: CheckContext) -> Verdict:
    v6 = usable_v6(obs.v6, ctx.guard)
    if not v6:
        return Verdict.not_applicable("no usable AAAA record (see ipv6.web.aaaa)")
    # Ports IPv4 serves: what any A accepts. Unknown when no A was probed.
    v4 = set(obs.v4)
    v4_probes = [p for p in obs.tcp if p.address in v4]  # every port probed (80, 443, ...)
    v4_known = [p for p in v4_probes if p.outcome not in UNDECIDED]
    needed = sorted({p.port for p in v4_known if p.open})
    rule = "ports IPv4 accepts"
    if not needed:
        needed = [80, 443]
        rule = "80 or 443 (IPv6-only host)" if not obs.v4 else "80 or 443 (IPv4 accepts none)"
    per_address: dict[str, dict[str, str]] = {}
    ok = bad = undecided = 0
    failures: list[str] = []
    for address in v6:
        row: dict[str, str] = {}
        open_ports = []
        for port in needed:
            probe = obs.tcp_for(address, port)
            outcome = probe.outcome if probe else "not probed"
            row[str(port)] = outcome
            if probe is not None and probe.open:
                open_ports.append(port)
        per_address[address] = row
        if rule.startswith("80 or 443"):
            # either port will do
            outcomes = [row[str(p)] for p in needed]
            if open_ports:
                ok += 1
            elif all(o in UNDECIDED or o == "not probed" for o in outcomes):
                undecided += 1
            else:
                bad += 1
                worst = next(o for o in outcomes if o not in UNDECIDED and o != "not probed")
                failures.append(f"{address}: neither 80 nor 443 ({describe_failure(worst)})")
            continue
        for port in needed:
            outcome = row[str(port)]
            if outcome == Outcome.OPEN:
                ok += 1
            elif outcome in UNDECIDED or outcome == "not probed":
                undecided += 1
            else:
                bad += 1
                failures.append(f"[{address}]:{port} {describe_failure(outcome)}")
    evidence: dict[str, Any] = {"ports_required": needed, "rule": rule, "v6": per_address}
    if v4_known:
        evidence["v4"] = {f"{p.address}:{p.port}": p.outcome for p in v4_known}
    if bad:
        total = ok + bad + undecided
        return Verdict.failed(
            "IPv6 not reachable: " + "; ".join(failures),
            score=round(ok / total, 3) if total else 0.0,
            **evidence,
        )
    if undecided:
        return Verdict.not_tested(
            "some IPv6 addresses were not probed (address guard or deadline)", **evidence
        )
    cut = cut_answers(obs.dns.aaaa)
    if cut:  # "every AAAA" cannot be said of the first 100
        return Verdict.not_tested(f"the AAAA addresses kept answer, but {cut}", **evidence)
    return Verdict.passed(
        f"{len(v6)} IPv6 address(es) accept TCP on {', '.join(map(str, needed))}"
        if not rule.startswith("80 or 443")
        else f"{len(v6)} IPv6 address(es) accept TCP on 80 or 443",
        **evidence,
    )


# ---------------------------------------------------------------------------------------
# ipv6.web.icmp (informational)


@check(
    "ipv6.web.icmp",
    title="IPv6 addresses of the web host answer ICMPv6 echo",
    category=Category.IPV6_WEB,
    scope=Scope.HOST,
    needs=(Probe.DNS, Probe.ICMP),
    level_hint=Level.INFORMATIONAL,
    refs=("RFC 4443", "RFC 4890 (ICMPv6 filtering recommendations)"),
    scored=False,
    params={"status_when_silent": "warn"},
    description="""
Informational, never scored. Filtering all ICMPv6 breaks IPv6 in subtle ways (Path MTU
discovery needs Packet Too Big, RFC 4890); an address that answers echo is easy to
troubleshoot for the agency and its provider. Needs raw-socket privilege: without it the
result is 'not tested', never a failure.
""",
    remediation={
        "general": "Allow ICMPv6 echo-request/reply and, above all, packet-too-big, "
        "destination-unreachable, time-exceeded and parameter-problem in the IPv6 firewall "
        "(RFC 4890 section 4.3): e.g. nftables `meta l4proto ipv6-icmp accept`.",
        "iis": "Windows Firewall: enable the inbound rule 'File and Printer Sharing (Echo "
        "Request - ICMPv6-In)' and keep 'Core Networking - Packet Too Big (ICMPv6-In)'.",
    },
)
def web_icmp(obs: HostObservations, ctx: CheckContext) -> Verdict:
    v6 = usable_v6(obs.v6, ctx.guard)
    if not v6:
        return Verdict.not_applicable("no usable AAAA record (see ipv6.web.aaaa)")
    rows: dict[str, dict[str, Any]] = {}
    silent: list[str] = []
    skipped: list[str] = []
    for address in v6:
        ping = obs.icmp_for(address)
        if ping is None:
            skipped.append(f"{address}: not probed")
            rows[address] = {"outcome": "not probed"}
            continue
        rows[address] = {"outcome": ping.outcome, "rtt_ms": ping.rtt_ms, "detail": ping.detail}
        if ping.outcome == Outcome.OK:
            continue
        if ping.outcome in (Outcome.SKIPPED, Outcome.BLOCKED, Outcome.ERROR):
            skipped.append(f"{address}: {ping.detail or ping.outcome}")
        else:
            silent.append(f"{address}: {describe_failure(ping.outcome)}")
    if silent:
        status = Status(ctx.params.get("status_when_silent", "warn"))
        return Verdict(status, "no ICMPv6 echo reply: " + "; ".join(silent), {"v6": rows})
    if skipped:
        return Verdict.not_tested("ICMPv6 echo not sent: " + "; ".join(skipped), v6=rows)
    return Verdict.passed(f"{len(v6)} IPv6 address(es) answer ICMPv6 echo", v6=rows)


# ---------------------------------------------------------------------------------------
# ipv6.web.only


@check(
    "ipv6.web.only",
    title="The landing page's subresources all load over IPv6 (IPv6-only readiness)",
    category=Category.IPV6_WEB,
    scope=Scope.HOST,
    needs=(Probe.DNS, Probe.TCP, Probe.HTTP, Probe.SUBRESOURCES),
    level_hint=Level.RECOMMENDED,
    refs=("VN IPv6-only programme 2026-2030", "OMB M-21-07 (IPv6-only by 2025)"),
    description="""
A portal that answers over IPv6 can still be broken for an IPv6-only citizen when its
page pulls scripts, stylesheets, images or frames from hosts that are IPv4-only (an old
CDN, a statistics counter, an embedded map). The landing page, fetched over IPv6, is read
for the hosts it loads from; each must have an AAAA and accept a connection over IPv6.
The report lists what would break.
""",
    remediation={
        "general": "Host the listed resources on the portal itself, or switch to a provider "
        "that serves them over IPv6 (most CDNs do: enable IPv6/dual-stack in the CDN "
        "settings). Remove unused third-party scripts.",
        "nginx": "Serve the assets locally (`location /static/ { root /srv/portal; }`) or "
        "proxy them: `location /vendor/ { proxy_pass https://cdn.example.vn/; }` so the "
        "browser only needs the portal's own IPv6 address.",
        "apache": "Copy the assets under DocumentRoot, or `ProxyPass /vendor/ "
        "https://cdn.example.vn/`.",
        "iis": "Copy the assets into the site, or use URL Rewrite + ARR to proxy them.",
        "dns": "If the resource host is the agency's own, add its AAAA record.",
    },
)
def web_only(obs: HostObservations, ctx: CheckContext) -> Verdict:
    sub = obs.subresources
    if not usable_v6(obs.v6, ctx.guard):
        return Verdict.not_applicable("no usable AAAA record: no page over IPv6 to read")
    if sub is None:
        return Verdict.not_tested("subresource probe did not run")
    if sub.outcome != Outcome.OK:
        return Verdict.not_tested(sub.detail or f"subresource probe: {sub.outcome}")
    evidence: dict[str, Any] = {
        "source_address": sub.source_address,
        "landing_url": sub.landing_url,
        "hosts": {},
    }
    if sub.skipped_hosts:
        evidence["not_probed_hosts"] = sub.skipped_hosts
    broken: list[str] = []
    undecided: list[str] = []
    ok = 0
    for h in sub.hosts:
        name = f"{h.host}:{h.port}"
        v6 = usable_v6(h.aaaa.records, ctx.guard)
        row: dict[str, Any] = {
            "aaaa": list(h.aaaa.records),
            "aaaa_outcome": h.aaaa.outcome,
            "tcp": {p.address: p.outcome for p in h.tcp},
            "tags": list(h.tags),
            "urls": list(h.urls),
        }
        evidence["hosts"][name] = row
        what = f"{h.host} ({', '.join(h.tags) or 'resource'})"
        if not v6:
            if h.aaaa.outcome in (Outcome.TIMEOUT, Outcome.DNS_REFUSED, Outcome.ERROR):
                undecided.append(f"{what}: AAAA lookup {h.aaaa.outcome}")
            elif h.aaaa.outcome == Outcome.SERVFAIL:
                broken.append(f"{what}: AAAA lookup SERVFAIL")
            else:
                bad = [
                    f"{a} {r}" for a in h.aaaa.records if (r := unusable_v6_reason(a, ctx.guard))
                ]
                why = f"no usable AAAA record ({'; '.join(bad)})" if bad else "no AAAA record"
                broken.append(f"{what}: {why}")
            continue
        probes = [p for p in h.tcp if p.address in v6]
        if any(p.open for p in probes):
            ok += 1
        elif probes and all(p.outcome in UNDECIDED for p in probes):
            undecided.append(f"{what}: not probed (address guard)")
        elif not probes:
            undecided.append(f"{what}: not probed")
        else:
            why = ", ".join(
                f"{p.address} {describe_failure(p.outcome)}"
                for p in probes
                if p.outcome not in UNDECIDED
            )
            broken.append(f"{what}: AAAA does not answer on port {h.port} ({why})")
    total = ok + len(broken) + len(undecided)
    if broken:
        return Verdict.failed(
            f"{len(broken)} of {total} subresource host(s) would break for IPv6-only users: "
            + "; ".join(broken),
            score=round(ok / total, 3) if total else 0.0,
            broken=broken,
            **evidence,
        )
    # The caps are observations: hosts past the probe's cap, or resources of a page the
    # scanner did not read to its end, were not looked at; "all answer" would be a guess.
    partial = [
        *([f"{sub.skipped_hosts} more subresource host(s) not probed (cap)"]
          if sub.skipped_hosts else []),
        *([sub.cut] if sub.cut else []),
    ]  # fmt: skip
    if partial and not undecided:
        evidence["partial"] = partial
        return Verdict.not_tested(
            f"the {ok} subresource host(s) looked at answer over IPv6, but " + "; ".join(partial),
            **evidence,
        )
    if undecided:
        return Verdict.not_tested("; ".join(undecided + partial), **evidence)
    if not sub.landing_url and not sub.hosts:
        return Verdict.not_tested(
            "no landing page (no 200 answer) over IPv6 to read subresources from", **evidence
        )
    if not sub.hosts:
        return Verdict.passed("the landing page loads nothing from other hosts", **evidence)
    return Verdict.passed(f"all {ok} subresource host(s) answer over IPv6", **evidence)


# ---------------------------------------------------------------------------------------
# Name servers and mail exchangers over IPv6 (per zone)


def _ns_unknown(obs: ZoneObservations) -> str | None:
    """Why the NS set is not known, or None."""
    if obs.ns is None:
        return (
            "the zone probe ended before the NS lookup (deadline)"
            if obs.outcome != Outcome.OK
            else "NS of the zone not found"
        )
    if obs.ns.outcome != Outcome.OK or not obs.ns.records:
        return f"NS lookup failed: {obs.ns.outcome} {obs.ns.detail}".strip()
    return None


def _host_rows(hosts: tuple[ServerHost, ...]) -> dict[str, dict[str, Any]]:
    return {
        h.name: {
            "a": list(h.a.records),
            "aaaa": list(h.aaaa.records),
            "aaaa_outcome": h.aaaa.outcome,
        }
        for h in hosts
    }


_LOOKUP_FAILED = (
    Outcome.TIMEOUT,
    Outcome.DNS_REFUSED,
    Outcome.REFUSED,
    Outcome.ERROR,
    Outcome.SKIPPED,
)


def ns_not_probed(obs: ZoneObservations) -> list[str]:
    """Name servers of the NS RRset the probe did not look at (its 13-name cap, the deadline,
    or an RRset cut at the record cap): "every" and "fewer than two" cannot be said."""
    seen = {h.name for h in obs.ns_hosts}
    names = sorted({norm_name(r) for r in (obs.ns.records if obs.ns else ())})
    out = [n for n in names if n not in seen]
    if obs.ns is not None and obs.ns.truncated:
        out.append(f"the NS RRset past the record cap ({obs.ns.detail})")
    return out


def mx_not_probed(obs: ZoneObservations) -> list[str]:
    """Mail exchangers of the MX RRset the probe did not look at (its 10-name cap, the
    deadline, or an RRset cut at the record cap)."""
    seen = {h.name for h in obs.mx_hosts}
    out: list[str] = []
    for rec in obs.mx.records if obs.mx else ():
        parts = rec.split()
        name = norm_name(parts[-1]) if parts else ""
        if name and name not in seen and name not in out:
            out.append(name)
    if obs.mx is not None and obs.mx.truncated:
        out.append(f"the MX RRset past the record cap ({obs.mx.detail})")
    return out


def _partial(what: str, missing: list[str]) -> str:
    return (
        f"{what} not looked at: "
        + ", ".join(missing[:5])
        + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    )


@check(
    "ipv6.ns.aaaa",
    title="At least two authoritative name servers have an IPv6 address",
    category=Category.IPV6_DNS,
    scope=Scope.ZONE,
    needs=(Probe.ZONE,),
    level_hint=Level.MANDATORY,
    refs=("QD 38/QD-BTTTT (IPv6 For Gov, 2021)", "OMB M-21-07", "RFC 3901", "Internet.nl"),
    params={"min_ns": 2},
    description="""
An IPv6-only resolver can only resolve the agency's names if its name servers are
reachable over IPv6. Two are needed for redundancy (RFC 2182); with a single IPv6 name
server, one outage makes the whole domain disappear for IPv6-only users.
""",
    remediation={
        "dns": "Give at least two of the NS hosts an AAAA record (and glue AAAA at the parent "
        "for in-zone NS names): ask the registry/VNNIC or the DNS hosting provider. "
        "Knot: `listen: [0.0.0.0@53, ::@53]`; BIND: `listen-on-v6 { any; };`; Windows DNS "
        "Server: DNS Manager > server Properties > Interfaces: listen on the IPv6 address too.",
        "general": "Check with `dig NS example.gov.vn` then `dig AAAA <ns-name>` for each.",
    },
)
def ns_aaaa(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    why = _ns_unknown(obs)
    if why:
        return Verdict.not_tested(why)
    hosts = obs.ns_hosts
    with_v6 = [h.name for h in hosts if usable_v6(h.aaaa.records, ctx.guard)]
    unknown = [
        h.name
        for h in hosts
        if not usable_v6(h.aaaa.records, ctx.guard) and h.aaaa.outcome in _LOOKUP_FAILED
    ]
    evidence: dict[str, Any] = {"ns": _host_rows(hosts), "with_ipv6": with_v6}
    # RFC 2182 section 5: at least two name servers (here: reachable over IPv6).
    minimum = int(ctx.params.get("min_ns", 2))
    if len(with_v6) >= minimum:
        return Verdict.passed(f"{len(with_v6)} name servers have an AAAA", **evidence)
    if len(with_v6) + len(unknown) >= minimum:
        return Verdict.not_tested("AAAA lookup failed for " + ", ".join(unknown), **evidence)
    missing = ns_not_probed(obs)
    if missing:  # an NS not looked at may be the second one with an AAAA
        return Verdict.not_tested(_partial("name servers", missing), **evidence)
    without = [h.name for h in hosts if h.name not in with_v6]
    if with_v6:
        rest = f"; no AAAA: {', '.join(without)}" if without else " (the only name server)"
        return Verdict.failed(
            f"only {len(with_v6)} name server with an AAAA ({', '.join(with_v6)}){rest}",
            score=len(with_v6) / minimum,
            **evidence,
        )
    return Verdict.failed(
        "no name server has an AAAA record: " + ", ".join(without), score=0.0, **evidence
    )


@check(
    "ipv6.ns.reach",
    title="Every IPv6 address of the name servers answers for the zone over UDP and TCP",
    category=Category.IPV6_DNS,
    scope=Scope.ZONE,
    needs=(Probe.ZONE, Probe.NS_REACH),
    level_hint=Level.MANDATORY,
    refs=("RFC 3901", "RFC 7766 (DNS over TCP is mandatory)", "RFC 1035 section 4.2"),
    description="""
Publishing an AAAA for a name server is not enough: each IPv6 address is asked directly,
without recursion, for the zone's SOA over UDP and over TCP. The answer must come with the
authoritative (AA) bit. TCP is required (RFC 7766) for large DNSSEC answers; firewalls
that only open UDP 53 for IPv6 break signed zones for IPv6 resolvers.
""",
    remediation={
        "dns": "Make the server listen on its IPv6 address (Knot `listen: ::@53`, BIND "
        "`listen-on-v6 { any; };`, NSD `ip-address: ::`, Windows DNS Server: Interfaces tab, "
        "'All IP addresses' or the IPv6 one), and allow UDP and TCP 53 over IPv6 "
        "in every firewall. Test: `dig @<ipv6> example.gov.vn SOA +norec` and the same with "
        "`+tcp`; the flags must include `aa`.",
        "general": "'timeout' means the packets are dropped (firewall); 'refused' means "
        "nothing listens on TCP 53; 'REFUSED' or no AA means the server does not serve the "
        "zone (lame delegation).",
    },
)
def ns_reach(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    why = _ns_unknown(obs)
    if why:
        return Verdict.not_tested(why)
    targets = [(h.name, a) for h in obs.ns_hosts for a in usable_v6(h.aaaa.records, ctx.guard)]
    if not targets:
        return Verdict.not_applicable("no name server has an IPv6 address (see ipv6.ns.aaaa)")
    rows: dict[str, dict[str, Any]] = {}
    ok = 0
    failures: list[str] = []
    undecided: list[str] = []
    for name, address in targets:
        for transport in ("udp", "tcp"):
            q = next(
                (x for x in obs.ns_queries if x.address == address and x.transport == transport),
                None,
            )
            key = f"{name} [{address}] {transport}"
            if q is None:
                undecided.append(f"{key}: not probed")
                rows[key] = {"outcome": "not probed"}
                continue
            rows[key] = {"outcome": q.outcome, "rcode": q.rcode, "aa": q.aa, "rtt_ms": q.rtt_ms}
            if q.outcome == NsOutcome.ANSWERED:
                ok += 1
            elif q.outcome in UNDECIDED:
                undecided.append(f"{key}: {q.detail or q.outcome}")
            else:
                failures.append(f"{key}: {describe_failure(q.outcome)}")
    if failures:
        total = ok + len(failures) + len(undecided)
        return Verdict.failed(
            "name server not answering over IPv6: " + "; ".join(failures),
            score=round(ok / total, 3),
            queries=rows,
        )
    if undecided:
        return Verdict.not_tested("; ".join(undecided), queries=rows)
    missing = ns_not_probed(obs)
    cut = cut_answers(*(h.aaaa for h in obs.ns_hosts))
    if missing or cut:
        why = _partial("name servers", missing) if missing else f"addresses: {cut}"
        return Verdict.not_tested(
            f"{len(targets)} name server IPv6 address(es) answer, but {why}", queries=rows
        )
    return Verdict.passed(
        f"{len(targets)} name server IPv6 address(es) answer authoritatively over UDP and TCP",
        queries=rows,
    )


def _mx_unknown(obs: ZoneObservations) -> Verdict | None:
    """n/a (no MX, null MX) or not_tested (lookup failed), or None when MX hosts exist."""
    mx = obs.mx
    if mx is None:
        return Verdict.not_tested(
            "MX not looked up" + (" (deadline)" if obs.outcome != Outcome.OK else "")
        )
    if mx.outcome in (Outcome.NXDOMAIN, Outcome.NODATA):
        return Verdict.not_applicable("no MX record: the domain does not receive mail")
    if mx.outcome != Outcome.OK:
        return Verdict.not_tested(f"MX lookup failed: {mx.outcome} {mx.detail}".strip())
    if is_null_mx(mx.records):
        return Verdict.not_applicable("null MX (RFC 7505): the domain accepts no mail")
    if not obs.mx_hosts:
        return Verdict.not_tested("MX host names could not be read")
    return None


def is_null_mx(records: tuple[str, ...]) -> bool:
    """RFC 7505 section 3: a single MX with preference 0 and target "."."""
    return len(records) == 1 and records[0].split()[-1:] == ["."]


@check(
    "ipv6.mx.aaaa",
    title="Every mail exchanger has an IPv6 address",
    category=Category.IPV6_MAIL,
    scope=Scope.ZONE,
    needs=(Probe.ZONE,),
    level_hint=Level.MANDATORY,
    refs=("OMB M-21-07", "QD 38/QD-BTTTT", "RFC 3974", "RFC 7505"),
    description="""
Mail from IPv6-only senders can only reach the agency when its mail exchangers have AAAA
records. Domains that publish no MX or a null MX (RFC 7505, 'accepts no mail') are not
concerned.
""",
    remediation={
        "dns": "Add an AAAA record for each MX host (`mx1 IN AAAA 2001:db8::25`) and make sure "
        "the mail server listens on it. Also publish a PTR for the IPv6 address: many "
        "receivers reject mail from IPv6 addresses without reverse DNS.",
        "general": "Postfix: `inet_protocols = all`; Exchange: bind the receive connector to "
        "the IPv6 address (or All available IPv6).",
    },
)
def mx_aaaa(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    early = _mx_unknown(obs)
    if early:
        return early
    rows = _host_rows(obs.mx_hosts)
    with_v6 = [h.name for h in obs.mx_hosts if usable_v6(h.aaaa.records, ctx.guard)]
    unknown = [
        h.name
        for h in obs.mx_hosts
        if not usable_v6(h.aaaa.records, ctx.guard) and h.aaaa.outcome in _LOOKUP_FAILED
    ]
    without = [h.name for h in obs.mx_hosts if h.name not in with_v6 and h.name not in unknown]
    if without:
        return Verdict.failed(
            "MX without a usable AAAA: " + ", ".join(without),
            score=round(len(with_v6) / len(obs.mx_hosts), 3),
            mx=rows,
        )
    if unknown:
        return Verdict.not_tested("AAAA lookup failed for " + ", ".join(unknown), mx=rows)
    missing = mx_not_probed(obs)
    if missing:
        return Verdict.not_tested(_partial("mail exchangers", missing), mx=rows)
    return Verdict.passed(f"all {len(with_v6)} MX host(s) have an AAAA", mx=rows)


@check(
    "ipv6.mx.reach",
    title="Every IPv6 address of the mail exchangers greets with SMTP 220 on port 25",
    category=Category.IPV6_MAIL,
    scope=Scope.ZONE,
    needs=(Probe.ZONE, Probe.SMTP),
    level_hint=Level.MANDATORY,
    refs=("RFC 5321 section 4.2", "OMB M-21-07"),
    description="""
An AAAA on a mail exchanger that does not answer delays or loses mail from IPv6 senders.
Each IPv6 address of each MX is connected to on port 25, one connection at a time per MX
(anti-spam gateways punish bursts), and must greet with 220.
""",
    remediation={
        "general": "Postfix: `inet_protocols = all` and `inet_interfaces = all`; Exchange: the "
        "default frontend receive connector must bind [::]:25; open TCP 25 for IPv6 in the "
        "firewall. Test: `telnet -6 <ipv6> 25` or `swaks --server [<ipv6>] --quit-after "
        "CONNECT`.",
        "dns": "If the MX cannot receive over IPv6, remove its AAAA rather than leave a dead one.",
    },
)
def mx_reach(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    early = _mx_unknown(obs)
    if early:
        return early
    targets = [(h.name, a) for h in obs.mx_hosts for a in usable_v6(h.aaaa.records, ctx.guard)]
    if not targets:
        return Verdict.not_applicable("no MX has an IPv6 address (see ipv6.mx.aaaa)")
    rows: dict[str, dict[str, Any]] = {}
    ok = 0
    failures: list[str] = []
    undecided: list[str] = []
    for name, address in targets:
        probe = next((p for p in obs.smtp if p.address == address), None)
        key = f"{name} [{address}]"
        if probe is None:
            rows[key] = {"outcome": "not probed"}
            undecided.append(f"{key}: not probed")
            continue
        rows[key] = {
            "outcome": probe.outcome,
            "greeting": probe.greeting_code,
            "banner": probe.banner,
            "rtt_ms": probe.rtt_ms,
        }
        if probe.greeting_code == 220:
            ok += 1
        elif probe.outcome in UNDECIDED:
            undecided.append(f"{key}: {probe.detail or probe.outcome}")
        elif probe.greeting_code is not None:
            failures.append(f"{key}: greeted {probe.greeting_code}, not 220")
        else:
            failures.append(f"{key}: {describe_failure(probe.outcome, probe.detail)}")
    if failures:
        total = ok + len(failures) + len(undecided)
        return Verdict.failed(
            "MX not reachable over IPv6: " + "; ".join(failures),
            score=round(ok / total, 3),
            smtp=rows,
        )
    if undecided:
        return Verdict.not_tested("; ".join(undecided), smtp=rows)
    missing = mx_not_probed(obs)
    cut = cut_answers(*(h.aaaa for h in obs.mx_hosts))
    if missing or cut:
        why = _partial("mail exchangers", missing) if missing else f"addresses: {cut}"
        return Verdict.not_tested(f"{ok} MX IPv6 address(es) greet with 220, but {why}", smtp=rows)
    return Verdict.passed(f"{ok} MX IPv6 address(es) greet with 220", smtp=rows)
