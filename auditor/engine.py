"""The scan engine: plan -> probes (async) -> checks (pure) -> store.

Concurrency is bounded scan-wide (targets in flight) and per remote address
(:meth:`ProbeContext.address_slot`). Every network step has a timeout and every
target an overall deadline, so a scan of N targets ends in bounded time:
at most (N / concurrency + 1) x target_deadline.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import anyio

from auditor import serde
from auditor.guard import AddressGuard
from auditor.model import (
    LOCAL_VANTAGE,
    Finding,
    Probe,
    Scope,
    Status,
    TargetKind,
    Verdict,
    path_target,
)
from auditor.obs import (
    HostObservations,
    HttpObservation,
    PingObservation,
    TcpProbe,
    TlsObservation,
    ZoneObservations,
)
from auditor.obs.core import DnsAnswer, HostDns, Outcome
from auditor.probes.context import ProbeContext
from auditor.probes.session import AddressSession
from auditor.protocol.addresses import structural_v6_reason
from auditor.registry import CheckContext, CheckSpec
from auditor.selfcheck import IPV4, IPV6, Footing, FootingWatch

T_obs = TypeVar("T_obs")

# ---------------------------------------------------------------------------
# Plan


@dataclass(frozen=True)
class Plan:
    hosts: tuple[str, ...]
    zones: tuple[str, ...]
    checks: tuple[CheckSpec, ...]
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # What the scanner was allowed to reach (ScanOptions.allow_nets / allow_private): the
    # checks judge "usable address" against it (CheckContext.guard).
    guard: AddressGuard = field(default_factory=AddressGuard)
    # Department paths per host (inventory ``paths`` other than "/"; Inventory.host_paths):
    # fetched by the host's HTTP probe, judged by the Scope.PATH checks.
    paths: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def needs(self) -> frozenset[str]:
        return frozenset(n for spec in self.checks for n in spec.needs)

    def checks_for(self, kind: TargetKind) -> tuple[CheckSpec, ...]:
        zone = kind == TargetKind.ZONE
        return tuple(c for c in self.checks if (c.scope == Scope.ZONE) == zone)

    def params_for(self, spec: CheckSpec) -> dict[str, Any]:
        merged = dict(spec.params)
        merged.update(self.params.get(spec.id, {}))
        return merged


def make_plan(
    hosts: Iterable[str],
    zones: Iterable[str],
    checks: Iterable[CheckSpec],
    params: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    allow_nets: Iterable[str] = (),
    allow_private: bool = False,
    paths: Mapping[str, Iterable[str]] | None = None,
) -> Plan:
    return Plan(
        hosts=tuple(dict.fromkeys(hosts)),
        zones=tuple(dict.fromkeys(zones)),
        checks=tuple(checks),
        params=dict(params or {}),
        guard=AddressGuard.build(allow_nets, allow_private),
        paths={h: tuple(dict.fromkeys(p)) for h, p in (paths or {}).items() if p},
    )


# ---------------------------------------------------------------------------
# Probing one host


@dataclass
class _HostBuilder:
    """Mutable collector, so a deadline keeps what was already observed."""

    host: str
    dns: HostDns | None = None
    tcp: list[TcpProbe] = field(default_factory=list)
    tls: list[TlsObservation] = field(default_factory=list)
    http: list[HttpObservation] = field(default_factory=list)
    icmp: list[PingObservation] = field(default_factory=list)
    subresources: Any = None
    pinned: bool = False
    paths: tuple[str, ...] = ()

    def build(self, deadline_hit: bool) -> HostObservations:
        dns = self.dns or HostDns(
            self.host,
            DnsAnswer(self.host, "A", Outcome.TIMEOUT, detail="target deadline passed"),
            DnsAnswer(self.host, "AAAA", Outcome.TIMEOUT, detail="target deadline passed"),
        )
        key = lambda o: (o.address, getattr(o, "port", 0))  # noqa: E731 - stable storage order
        return HostObservations(
            host=self.host,
            dns=dns,
            tcp=tuple(sorted(self.tcp, key=key)),
            tls=tuple(sorted(self.tls, key=key)),
            http=tuple(sorted(self.http, key=key)),
            icmp=tuple(sorted(self.icmp, key=key)),
            subresources=self.subresources,
            deadline_hit=deadline_hit,
            pinned=self.pinned,
            paths=self.paths,
        )


def pinned_dns(host: str, addresses: Iterable[str]) -> HostDns:
    """DNS stand-in for ``gate --resolve HOST:ADDR``: the addresses were given, not looked up."""
    v4 = tuple(a for a in addresses if ":" not in a)
    v6 = tuple(a for a in addresses if ":" in a)
    detail = "pinned with --resolve; DNS not asked"
    return HostDns(
        host,
        DnsAnswer(host, "A", Outcome.OK if v4 else Outcome.NODATA, v4, detail=detail),
        DnsAnswer(host, "AAAA", Outcome.OK if v6 else Outcome.NODATA, v6, detail=detail),
    )


def skipped_dns(host: str, why: str) -> HostDns:
    """DNS stand-in when the scanner's resolver cannot resolve the name (selfcheck)."""
    return HostDns(
        host,
        DnsAnswer(host, "A", Outcome.SKIPPED, detail=why),
        DnsAnswer(host, "AAAA", Outcome.SKIPPED, detail=why),
    )


async def _probe_host_into(ctx: ProbeContext, b: _HostBuilder, needs: frozenset[str]) -> None:
    from auditor.probes.dns import resolve_host
    from auditor.probes.tcp import tcp_connect

    pins = ctx.options.pins.get(b.host)
    if pins:
        b.dns = pinned_dns(b.host, pins)
        b.pinned = True
    elif why := ctx.resolver_down_for(b.host):
        b.dns = skipped_dns(b.host, why)  # a dead resolver is not asked (and not waited for)
    else:
        b.dns = await ctx.once(("host-dns", b.host), lambda: resolve_host(ctx.dns, b.host))
    if not b.dns.resolved:
        return
    addresses = b.dns.addresses
    web = needs & {Probe.TCP, Probe.TLS, Probe.HTTP, Probe.SUBRESOURCES}
    tls = Probe.TLS in needs
    http = bool(needs & {Probe.HTTP, Probe.SUBRESOURCES})
    # What the probes of one address share (auditor.probes.session): the HTTP probe takes
    # over the reachability probe's connections to 80 and 443, the TLS probe the HTTP
    # probe's handshake. Closed with the host, also at the target deadline.
    sessions = {address: AddressSession(b.host, address) for address in addresses}

    async def connect(address: str, port: int) -> None:
        wire = ctx.options.wire_port(b.host, port)
        spare = http and port in (80, 443)
        session = sessions[address] if spare else None
        b.tcp.append(await tcp_connect(ctx, address, port, session=session, wire=wire))

    async def per_address(address: str) -> None:
        session = sessions[address]
        tcp = {p.port: p for p in b.tcp if p.address == address}
        tcp443 = tcp.get(443)
        # One OpenSSL handshake per address: the TLS probe takes the HTTP probe's.
        if tls and http and tcp443 is not None and tcp443.open:
            session.expect_handshake(443)
        try:
            async with anyio.create_task_group() as tg:
                if tls:
                    tg.start_soon(_tls, ctx, b, session, tcp443)
                if http:
                    tg.start_soon(_http, ctx, b, session, tcp.get(80), tcp443)
                if Probe.ICMP in needs and ":" in address and ctx.options.icmp:
                    tg.start_soon(_icmp, ctx, b, address)
        finally:
            session.forget_handshakes()  # nothing waits on them once the address is done

    try:
        if web:
            async with anyio.create_task_group() as tg:
                for address in addresses:
                    for port in ctx.options.ports:
                        tg.start_soon(connect, address, port)
        async with anyio.create_task_group() as tg:
            for address in addresses:
                tg.start_soon(per_address, address)
    finally:
        for session in sessions.values():  # the spares the HTTP probe did not take
            await session.aclose()

    if Probe.SUBRESOURCES in needs:
        from auditor.probes.subresources import probe_subresources

        b.subresources = await probe_subresources(ctx, b.build(deadline_hit=False))


async def _tls(
    ctx: ProbeContext, b: _HostBuilder, session: AddressSession, tcp: TcpProbe | None
) -> None:
    from auditor.probes.tls import probe_tls

    address = session.address
    if tcp is None or not tcp.open:
        reason = tcp.outcome if tcp else "not probed"
        b.tls.append(TlsObservation(address, 443, Outcome.SKIPPED, f"port 443 not open ({reason})"))
        return
    b.tls.append(await probe_tls(ctx, b.host, address, 443, session=session))


async def _http(
    ctx: ProbeContext,
    b: _HostBuilder,
    session: AddressSession,
    tcp80: TcpProbe | None,
    tcp443: TcpProbe | None,
) -> None:
    from auditor.probes.http import probe_http

    obs = await probe_http(
        ctx, b.host, session.address, tcp80, tcp443, session=session, paths=b.paths
    )
    b.http.append(obs)


async def _icmp(ctx: ProbeContext, b: _HostBuilder, address: str) -> None:
    from auditor.probes.icmp import ping

    b.icmp.append(await ping(ctx, address))


async def probe_host(
    ctx: ProbeContext, host: str, needs: frozenset[str], paths: tuple[str, ...] = ()
) -> HostObservations:
    """All observations of one host, within the per-target deadline; ``paths``: its
    department paths (fetched by the HTTP probe of each address)."""
    b = _HostBuilder(host, paths=paths if Probe.HTTP in needs else ())
    with anyio.move_on_after(ctx.options.target_deadline) as scope:
        await _probe_host_into(ctx, b, needs)
    obs = b.build(deadline_hit=scope.cancelled_caught)
    if Probe.ROUTING in needs:
        from auditor.probes.routing import routing_async

        members = [(a, "web", host) for a in obs.addresses]
        # the first call reads and indexes the files (off the event loop), once per scan
        routing = await routing_async(ctx, members)
        obs = replace(obs, routing=routing)
    return obs


async def probe_zone(
    ctx: ProbeContext, zone: str, needs: frozenset[str], hosts: tuple[str, ...] = ()
) -> ZoneObservations:
    from auditor.probes import zone as zone_probe

    if why := ctx.resolver_down_for(zone):
        return ZoneObservations(zone, outcome=Outcome.SKIPPED, detail=why)
    result: ZoneObservations | None = None
    with anyio.move_on_after(ctx.options.target_deadline):
        result = await zone_probe.probe_zone(ctx, zone, needs, hosts)
    if result is None:
        return ZoneObservations(zone, outcome=Outcome.TIMEOUT, detail="target deadline passed")
    if Probe.ROUTING in needs:
        from auditor.probes.routing import routing_async

        members = [(a, "ns", h.name) for h in result.ns_hosts for a in h.addresses]
        members += [(a, "mx", h.name) for h in result.mx_hosts for a in h.addresses]
        members += [
            (a, "mx_ns", h.name) for z in result.mx_zone_ns for h in z.ns_hosts for a in h.addresses
        ]
        routing = await routing_async(ctx, members)
        result = replace(result, routing=routing)
    return result


# ---------------------------------------------------------------------------
# Evaluation (pure)


def _run(spec: CheckSpec, obs: Any, cctx: CheckContext) -> Verdict:
    """A crashing check is an ERROR finding, never a crashed scan (nor a false verdict)."""
    try:
        verdict = spec.run(obs, cctx)
    except Exception as exc:
        return Verdict.error(f"check crashed: {type(exc).__name__}: {exc}")
    if not isinstance(verdict, Verdict):
        return Verdict.error(f"check returned {type(verdict).__name__}, not a Verdict")
    return verdict


def _finding(
    spec: CheckSpec, kind: TargetKind, target: str, address: str | None, v: Verdict
) -> Finding:
    score = v.score
    if score is not None and not math.isfinite(score):
        score = None
    return Finding(spec.id, kind, target, address, v.status, v.message, v.evidence, score)


def unresolved_reason(dns: HostDns) -> str:
    parts = []
    for ans in (dns.a, dns.aaaa):
        parts.append(f"{ans.rdtype}: {ans.outcome}" + (f" ({ans.detail})" if ans.detail else ""))
    return "host did not resolve - " + "; ".join(parts)


# Probes that need the host to answer on the network; checks built on them cannot decide
# anything about a host that answers nothing at all.
_NETWORK_PROBES = frozenset({Probe.TCP, Probe.TLS, Probe.HTTP, Probe.SUBRESOURCES})
_ANSWERED = frozenset({Outcome.OPEN, Outcome.REFUSED, Outcome.RESET})


def unreachable_reason(obs: HostObservations) -> str | None:
    """Why nothing can be said about a host that answered nothing, or None.

    When every address times out (or is unreachable) on every port and no ICMPv6 echo came
    back, the scanner cannot tell a host that is down from a broken network path on its own
    side: reporting "fail" would be a guess. A refusal (RST) is an answer, and so is an
    echo reply: then the host is there and the failures are findings.
    """
    if not obs.tcp or any(p.outcome in _ANSWERED for p in obs.tcp):
        return None
    if any(p.outcome == Outcome.OK for p in obs.icmp):
        return None
    if all(p.outcome == Outcome.BLOCKED for p in obs.tcp):
        return "every address was refused by the scanner's address guard: " + obs.tcp[0].detail
    outcomes = ", ".join(sorted({p.outcome for p in obs.tcp}))
    return (
        f"no address of the host answered on any port ({outcomes}): unreachable from the "
        "scanner, which cannot tell a host that is down from a network problem on its own side"
    )


def _precondition(spec: CheckSpec, obs: HostObservations, unreachable: str | None) -> str | None:
    if spec.id == "dns.resolve":  # judges resolution itself
        return None
    if not obs.dns.resolved:
        return unresolved_reason(obs.dns)
    if unreachable and _NETWORK_PROBES.intersection(spec.needs):
        return unreachable
    return None


# The scanner's footing (auditor.selfcheck) in the evaluation. Verdicts on reaching IPv6
# need a scanner that reaches IPv6: without it they are not_tested, never fail.
V6_REACH_CHECKS = frozenset(
    {
        "ipv6.web.reach",
        "ipv6.web.https",
        "ipv6.web.parity",
        "ipv6.web.icmp",
        "ipv6.web.only",
        "ipv6.ns.reach",
        "ipv6.mx.reach",
    }
)
# The department path checks (Scope.PATH) are judged per address: an IPv6 address the
# scanner cannot reach is not_tested by footing.address_reason, and the path's IPv4
# verdicts stand (not host-wide, as the checks above).
# These also compare with what the host serves over IPv4 (the ports IPv4 accepts, the
# IPv4 page): without IPv4 there is nothing to compare with.
V4_COMPARED_CHECKS = frozenset({"ipv6.web.reach", "ipv6.web.parity", "http.path.same_content"})
# Outcomes of a lookup that got an answer from the DNS: the resolver worked for that name.
_RESOLVED = frozenset({Outcome.OK, Outcome.NODATA})
# Outcomes of a zone-side probe (NS query, SMTP) that came back over the network.
_SILENT = frozenset(
    {Outcome.TIMEOUT, Outcome.UNREACHABLE, Outcome.SKIPPED, Outcome.BLOCKED, Outcome.ERROR}
)


def _answered(obs: HostObservations, address: str) -> bool:
    """Did the address answer the scanner at all (so the path from the scanner worked)?"""
    return any(p.address == address and p.outcome in _ANSWERED for p in obs.tcp) or any(
        p.address == address and p.outcome == Outcome.OK for p in obs.icmp
    )


def host_footing_reason(
    spec: CheckSpec, obs: HostObservations, address: str | None, footing: Footing | None
) -> str | None:
    """Why this verdict rests on the scanner's footing rather than on the host, or None.

    Each rule yields to the target's own evidence: a lookup that was answered shows the
    resolver worked for it, an address that answered shows the path worked (a fact that went
    down mid-scan does not void the targets probed before).
    """
    if footing is None:
        return None
    dns = obs.dns
    if not dns.resolved and not obs.pinned and {dns.a.outcome, dns.aaaa.outcome} - _RESOLVED:
        why = footing.resolver_blames(obs.host)
        if why:
            return why
    if address is not None:
        why = footing.address_reason(address)
        if why and not _answered(obs, address):
            return why
    if spec.id in V6_REACH_CHECKS:
        why = footing.down_reason(IPV6)
        if why and not any(_answered(obs, a) for a in obs.v6):
            return why
    if spec.id in V4_COMPARED_CHECKS and obs.v4:
        why = footing.down_reason(IPV4)
        if why and not any(_answered(obs, a) for a in obs.v4):
            return why
    return None


def zone_footing_reason(
    spec: CheckSpec, obs: ZoneObservations, footing: Footing | None
) -> str | None:
    """As :func:`host_footing_reason`, for a zone: every zone check rests on the resolver;
    the IPv6 reachability checks on the scanner's IPv6 too."""
    if footing is None:
        return None
    why = footing.resolver_blames(obs.zone)
    if why:
        answers = (obs.soa, obs.ns, obs.mx, obs.spf, obs.dmarc)
        if not any(a is not None and a.outcome in _RESOLVED for a in answers):
            return why
    if spec.id in V6_REACH_CHECKS:
        why = footing.down_reason(IPV6)
        came_back = any(":" in q.address and q.outcome not in _SILENT for q in obs.ns_queries)
        came_back = came_back or any(
            ":" in p.address and p.outcome not in _SILENT for p in obs.smtp
        )
        if why and not came_back:
            return why
    return None


def calm(obs: T_obs, reason: str) -> T_obs:
    """``obs`` with every timeout turned into "skipped" (not evidence), for a target probed
    while the scanner was overloaded: what a check decides differently on this copy rested
    on those timeouts."""
    return _calm(obs, reason)  # type: ignore[no-any-return]


def _calm(value: Any, reason: str) -> Any:
    if isinstance(value, tuple):
        return tuple(_calm(v, reason) for v in value)
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return value
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(value):
        current = getattr(value, f.name)
        if f.name == "outcome" and _timed_out(current, getattr(value, "detail", "")):
            changes["outcome"] = Outcome.SKIPPED
            if any(g.name == "detail" for g in dataclasses.fields(value)):
                changes["detail"] = reason
        elif isinstance(current, tuple) or (
            dataclasses.is_dataclass(current) and not isinstance(current, type)
        ):
            calmed = _calm(current, reason)
            if calmed is not current:
                changes[f.name] = calmed
    return replace(value, **changes) if changes else value


def _timed_out(outcome: Any, detail: Any) -> bool:
    # A TLS version probe records its timeout as an undecided "error" with that detail.
    return outcome == Outcome.TIMEOUT or (
        outcome == Outcome.ERROR and isinstance(detail, str) and "before the timeout" in detail
    )


def _judged(spec: CheckSpec, obs: Any, cctx: CheckContext, calmed: Callable[[], Any]) -> Verdict:
    """Run a check; on an overloaded target, a verdict its timeouts decided is not_tested."""
    verdict = _run(spec, obs, cctx)
    overload = getattr(obs, "overload", "")
    if not overload or verdict.status in (Status.NOT_TESTED, Status.ERROR):
        return verdict
    other = _run(spec, calmed(), cctx)
    # Touched: the verdict (its status, partial score or its words, which name what was
    # seen) is not the same once the timeouts are taken out as evidence.
    if (other.status, other.score, other.message) == (
        verdict.status,
        verdict.score,
        verdict.message,
    ):
        return verdict
    return Verdict.not_tested(
        overload, verdict_from_timeouts=verdict.status.value, verdict_message=verdict.message
    )


def evaluate_host(
    obs: HostObservations, plan: Plan, now: datetime, footing: Footing | None = None
) -> list[Finding]:
    """Findings of one host. ``footing``: the scanner's own footing during the scan (stored
    with it, so ``auditor evaluate`` gives the same verdicts); None judges as if it were
    sound (scans recorded before it was)."""
    findings: list[Finding] = []
    unreachable = unreachable_reason(obs) if obs.dns.resolved else None
    calmed = _lazy(lambda: calm(obs, obs.overload))
    # per AAAA, once: is it an address a client can connect to at all?
    no_host_address = {a: structural_v6_reason(a) for a in obs.v6}
    for spec in plan.checks_for(TargetKind.HOST):
        params = plan.params_for(spec)
        if spec.scope == Scope.PATH:
            # One target per department path (TargetKind.PATH), one verdict per address.
            for path in obs.paths:
                target = path_target(obs.host, path)
                if not obs.dns.resolved:
                    v = Verdict.not_tested(unresolved_reason(obs.dns))
                    findings.append(_finding(spec, TargetKind.PATH, target, None, v))
                    continue
                for address in obs.addresses:
                    if no_host := no_host_address.get(address):
                        v = Verdict.not_applicable(
                            f"{address} is no IPv6 host address ({no_host}): see ipv6.web.aaaa"
                        )
                    elif reason := (
                        host_footing_reason(spec, obs, address, footing)
                        or _precondition(spec, obs, unreachable)
                    ):
                        v = Verdict.not_tested(reason)
                    else:
                        cctx = CheckContext(
                            obs.host, params, now, address=address, guard=plan.guard, path=path
                        )
                        v = _judged(spec, obs, cctx, calmed)
                    findings.append(_finding(spec, TargetKind.PATH, target, address, v))
            continue
        if spec.scope == Scope.HOST or not obs.dns.resolved:
            reason = host_footing_reason(spec, obs, None, footing)
            reason = reason or _precondition(spec, obs, unreachable)
            if reason:
                v = Verdict.not_tested(
                    reason, dns_a=obs.dns.a.outcome, dns_aaaa=obs.dns.aaaa.outcome
                )
            else:
                cctx = CheckContext(obs.host, params, now, guard=plan.guard)
                v = _judged(spec, obs, cctx, calmed)
            findings.append(_finding(spec, TargetKind.HOST, obs.host, None, v))
            continue
        # Scope.ADDRESS: one verdict per A and per AAAA
        for address in obs.addresses:
            no_host = no_host_address.get(address)
            if no_host:
                # An IPv4-mapped, link-local or multicast AAAA is no address a client
                # connects to: nothing to test there (ipv6.web.aaaa reports it), and "could
                # not test" would make the host look incomplete through no one's fault.
                v = Verdict.not_applicable(
                    f"{address} is no IPv6 host address ({no_host}): see ipv6.web.aaaa"
                )
            elif reason := (
                host_footing_reason(spec, obs, address, footing)
                or _precondition(spec, obs, unreachable)
            ):
                v = Verdict.not_tested(reason)
            else:
                cctx = CheckContext(obs.host, params, now, address=address, guard=plan.guard)
                v = _judged(spec, obs, cctx, calmed)
            findings.append(_finding(spec, TargetKind.HOST, obs.host, address, v))
    return findings


# The zone check that judges existence itself; every other zone check needs the zone.
ZONE_EXISTS = "dns.zone.exists"


def absent_zone_reason(obs: ZoneObservations) -> str | None:
    """Why no zone check applies (the domain does not exist), or None.

    Like a host's dns.resolve precondition: a domain the DNS denies (NXDOMAIN, from a
    resolver that does answer for the public suffix) has no DNSSEC, CAA, mail or name
    servers to judge. Judging them anyway passes DNSSEC on the signed denial and fails SPF
    with advice to add records to a zone that does not exist. SERVFAIL or a timeout of the
    zone's SOA is not a denial: the checks then judge what they saw.
    """
    if not obs.does_not_exist:
        return None
    return f"the domain {obs.zone} does not exist (NXDOMAIN): see {ZONE_EXISTS}"


def evaluate_zone(
    obs: ZoneObservations, plan: Plan, now: datetime, footing: Footing | None = None
) -> list[Finding]:
    findings: list[Finding] = []
    absent = absent_zone_reason(obs)
    calmed = _lazy(lambda: calm(obs, obs.overload))
    for spec in plan.checks_for(TargetKind.ZONE):
        # the scanner's own footing first: a denial from a dead resolver is no denial
        reason = zone_footing_reason(spec, obs, footing)
        if reason:
            v = Verdict.not_tested(reason)
        elif absent and spec.id != ZONE_EXISTS:
            v = Verdict.not_applicable(absent, precondition=ZONE_EXISTS)
        else:
            cctx = CheckContext(obs.zone, plan.params_for(spec), now, guard=plan.guard)
            v = _judged(spec, obs, cctx, calmed)
        findings.append(_finding(spec, TargetKind.ZONE, obs.zone, None, v))
    return findings


def _lazy(make: Callable[[], Any]) -> Callable[[], Any]:
    cache: list[Any] = []

    def get() -> Any:
        if not cache:
            cache.append(make())
        return cache[0]

    return get


def evaluate_stored(
    kind: TargetKind,
    text: str,
    plan: Plan,
    now: datetime,
    footing: Footing | None = None,
    vantage: str = LOCAL_VANTAGE,
) -> list[Finding]:
    """Re-run the pure checks over a stored observation (``auditor evaluate``), with the
    footing stored with its scan (at that vantage)."""
    if kind == TargetKind.HOST:
        found = evaluate_host(serde.loads(text, HostObservations), plan, now, footing)
    else:
        found = evaluate_zone(serde.loads(text, ZoneObservations), plan, now, footing)
    return at_vantage(found, vantage)


# ---------------------------------------------------------------------------
# The scan loop


@dataclass(frozen=True)
class TargetDone:
    kind: TargetKind
    name: str
    findings: tuple[Finding, ...]


ProgressFn = Callable[[TargetDone], None]


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def hosts_by_zone(zones: Iterable[str], hosts: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Each zone's inventory hosts (the host itself or a name below it), in one pass over the
    hosts' parent names rather than zones x hosts comparisons (national scale: 10^4 x 10^4)."""
    wanted = set(zones)
    out: dict[str, list[str]] = {z: [] for z in wanted}
    for host in hosts:
        labels = host.split(".")
        for i in range(len(labels)):
            parent = ".".join(labels[i:])
            if parent in wanted:
                out[parent].append(host)
    return {z: tuple(v) for z, v in out.items()}


def at_vantage(findings: list[Finding], vantage: str) -> list[Finding]:
    """The findings as judged from ``vantage`` (checks judge without knowing where the
    scanner stood: the default vantage is the local one)."""
    if vantage == LOCAL_VANTAGE:
        return findings
    return [replace(f, vantage=vantage) for f in findings]


async def run_scan(
    ctx: ProbeContext,
    plan: Plan,
    store: Any,
    scan_id: int,
    *,
    skip: set[tuple[str, str]] | None = None,
    on_done: ProgressFn | None = None,
    watch: FootingWatch | None = None,
    zone_hosts: Mapping[str, tuple[str, ...]] | None = None,
    vantage: str = LOCAL_VANTAGE,
) -> None:
    """Probe and evaluate every target; store each as soon as it is finished.

    ``concurrency`` workers take targets one by one from a shared queue, so memory does not
    grow with the number of targets waiting (no task per target up front).

    ``watch``: the scanner's footing (auditor.selfcheck), checked before the scan. The
    probes skip what the scanner cannot reach, a monitor measures the event loop's lag
    (targets probed while it was saturated carry that fact), findings are judged with the
    footing, and it is checked again when failures pile up.

    ``zone_hosts``: each zone's inventory hosts (their CNAME chains count for dns.dnssec;
    the zone probe asks for them itself). A shard (auditor.shards) holds some of a zone's
    hosts or none, so it brings the whole plan's list; by default it is found in ``plan``.

    ``vantage``: where this scanner stands (its network, auditor.model.LOCAL_VANTAGE on one
    machine); the findings and the stored rows carry it.
    """
    skip = skip or set()
    needs = plan.needs
    zone_needs = needs & {
        Probe.ZONE,
        Probe.NS_REACH,
        Probe.SMTP,
        Probe.MAIL_TLS,
        Probe.MTA_STS,
        Probe.ROUTING,
    }
    jobs: list[tuple[TargetKind, str]] = []
    if zone_needs and plan.checks_for(TargetKind.ZONE):
        jobs += [(TargetKind.ZONE, z) for z in plan.zones if (TargetKind.ZONE.value, z) not in skip]
    if plan.checks_for(TargetKind.HOST):
        jobs += [(TargetKind.HOST, h) for h in plan.hosts if (TargetKind.HOST.value, h) not in skip]
    if zone_hosts is None:
        zone_hosts = hosts_by_zone(plan.zones, plan.hosts)
    if watch is not None:
        watch.attach(ctx)

    def footing() -> Footing | None:
        return watch.record if watch is not None else None

    def done(failed: bool) -> None:
        if watch is not None and watch.target_done(failed):
            side.start_soon(watch.recheck, ctx)

    async def host_job(host: str) -> None:
        started = _stamp()
        t0 = time.monotonic()
        obs = await probe_host(ctx, host, needs, plan.paths.get(host, ()))
        if watch is not None and (overload := watch.overload(t0)):
            obs = replace(obs, overload=overload)
        findings = at_vantage(evaluate_host(obs, plan, datetime.now(UTC), footing()), vantage)
        store.save_target(
            scan_id, TargetKind.HOST, host, serde.dumps(obs), findings, started, vantage
        )
        resolved = obs.dns.resolved or obs.pinned
        done(not resolved or unreachable_reason(obs) is not None)
        if on_done:
            on_done(TargetDone(TargetKind.HOST, host, tuple(findings)))

    async def zone_job(zone: str) -> None:
        started = _stamp()
        t0 = time.monotonic()
        # The zone's inventory hosts: their CNAME chains count for dns.dnssec.
        obs = await probe_zone(ctx, zone, zone_needs, zone_hosts.get(zone, ()))
        if watch is not None and (overload := watch.overload(t0)):
            obs = replace(obs, overload=overload)
        findings = at_vantage(evaluate_zone(obs, plan, datetime.now(UTC), footing()), vantage)
        store.save_target(
            scan_id, TargetKind.ZONE, zone, serde.dumps(obs), findings, started, vantage
        )
        done(obs.soa is None or obs.soa.outcome not in _RESOLVED)
        if on_done:
            on_done(TargetDone(TargetKind.ZONE, zone, tuple(findings)))

    queue = iter(jobs)

    async def worker() -> None:
        # One event loop thread: next() on the shared iterator hands each job out once.
        for kind, name in queue:
            await (zone_job(name) if kind == TargetKind.ZONE else host_job(name))

    # ``side``: the load monitor and footing re-checks, ended when the targets are done.
    async with anyio.create_task_group() as side:
        if watch is not None:

            def counters() -> tuple[int, int]:
                st = ctx.stats  # steps started (connects, DNS queries), and timed out
                return (
                    st["connections"] + st["dns_queries"],
                    st["tcp_timeouts"] + st["dns_timeouts"],
                )

            side.start_soon(watch.start_monitor(ctx.options.timeout, counters).run)
        async with anyio.create_task_group() as tg:
            for _ in range(min(max(1, ctx.options.concurrency), len(jobs))):
                tg.start_soon(worker)
        side.cancel_scope.cancel()


def status_counts(findings: Iterable[Finding]) -> dict[str, int]:
    counts: dict[str, int] = {s.value: 0 for s in Status}
    for f in findings:
        counts[f.status.value] += 1
    return counts


__all__ = [
    "Plan",
    "TargetDone",
    "evaluate_host",
    "evaluate_stored",
    "evaluate_zone",
    "make_plan",
    "pinned_dns",
    "probe_host",
    "probe_zone",
    "replace",
    "run_scan",
]
