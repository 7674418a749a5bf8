"""The scanner's own footing: what it can reach before it judges anyone.

A verdict is only worth something when it is not a consequence of the scanner's own
situation. Before the first target (and again when failures pile up) the scan checks:

- **IPv6 and IPv4 connectivity** of the machine it runs on: a usable address of the family
  and a route (a default route, or one toward some prefix), read from the kernel's tables
  (``/proc/net/if_inet6``, ``/proc/net/ipv6_route``, ``/proc/net/fib_trie``,
  ``/proc/net/route``: exact and cheap, no packet sent), and, with ``--reference HOST``,
  whether those reference targets answer a TCP connect (443, else 80) over the family;
- **the resolver**: asked for the SOA of the root ``.`` and of the public suffixes the
  inventory lives under (``gov.vn``, ``vn``; from the Public Suffix List). A resolver that
  answers NXDOMAIN or SERVFAIL for the root itself, refuses, has its port closed or does not
  answer at all cannot resolve anything: that is said within seconds, and what it failed is
  attributed to it, not to the zones;
- **its own load**: a cheap monitor task measures how late the event loop runs a timer
  (:class:`LoopMonitor`). A loop starved by far too many targets at once turns answers into
  timeouts; a target probed while the loop was saturated carries that fact
  (``HostObservations.overload``) and the findings its timeouts touched are not_tested.

The result is a :class:`Footing` (frozen, JSON through :mod:`auditor.serde`) stored in the
scan row (``stats["footing"]``), shown in the JSON output and the HTML header, and passed
explicitly to the pure evaluation (:func:`auditor.engine.evaluate_host`): ``auditor
evaluate`` reproduces every verdict from the stored observations and the stored footing.

Attribution rules (pure, in :mod:`auditor.engine`): a family the scanner cannot reach makes
every IPv6 reachability verdict (or every check of an address of that family) not_tested,
unless the target's own probes show the path worked after all; a dead resolver makes every
DNS-derived verdict of a target whose own lookups failed not_tested.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

# The kernel's own routing table, asked by the TCP probe too: it lives with the socket
# helpers, below every probe (re-exported here, where the footing is decided).
from auditor.probes.sockets import no_local_route
from auditor.protocol.addresses import endpoint
from auditor.protocol.names import norm_name

if TYPE_CHECKING:
    from auditor.probes.context import ProbeContext

FOOTING_KEY = "footing"  # key of the footing in the scan row's stats
IPV6 = "ipv6"
IPV4 = "ipv4"
FAMILIES = (IPV6, IPV4)
_LABEL = {IPV6: "IPv6", IPV4: "IPv4"}

# The resolver's control questions: at most this many public suffixes besides the root, and
# a short timeout per attempt, twice, so a silent resolver is diagnosed in about 2 s (the
# promise is "within 5 s", not after the 30-80 s a scan of timeouts would take).
MAX_CONTROL_SUFFIXES = 4
MAX_CONTROL_SAMPLES = 2  # and as many of the inventory's own domains
CONTROL_TIMEOUT = 1.0
CONTROL_ATTEMPTS = 2
# Reference targets: one connect per address and port, bounded like a control query.
REFERENCE_TIMEOUT = 3.0
REFERENCE_PORTS = (443, 80)
MAX_REFERENCE_ADDRESSES = 8


class FootStatus(StrEnum):
    OK = "ok"  # works
    UNKNOWN = "unknown"  # could not tell (no kernel tables to read): treated as working
    DEGRADED = "degraded"  # partly: some names or servers fail, or the scanner is overloaded
    DOWN = "down"  # cannot serve the scan: verdicts resting on it are not_tested


_RANK = {FootStatus.OK: 0, FootStatus.UNKNOWN: 1, FootStatus.DEGRADED: 2, FootStatus.DOWN: 3}


def _worse(a: FootStatus, b: FootStatus) -> bool:
    return _RANK[a] > _RANK[b]


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------
# Facts


@dataclass(frozen=True)
class LocalAddress:
    """An address of one of the scanner's interfaces."""

    address: str
    interface: str
    prefixlen: int | None = None
    scope: str = "global"  # global | site | link | host (kernel scope)
    usable: bool = True  # global scope, not tentative (DAD pending) nor failed DAD


@dataclass(frozen=True)
class Route:
    """One entry of the kernel's routing table."""

    destination: str  # CIDR
    interface: str
    gateway: str | None = None
    reject: bool = False  # unreachable / prohibit / blackhole

    @property
    def is_default(self) -> bool:
        return ipaddress.ip_network(self.destination).prefixlen == 0 and not self.reject

    @property
    def reaches(self) -> bool:
        """A route that carries traffic toward some remote prefix (not the machine's own
        addresses, loopback, link-local or multicast, and not an "unreachable" route)."""
        if self.reject:
            return False
        net = ipaddress.ip_network(self.destination)
        if net.prefixlen == 0:
            return True
        addr = net.network_address
        return not (addr.is_loopback or addr.is_link_local or addr.is_multicast)


@dataclass(frozen=True)
class ReferenceResult:
    """One TCP connect to one literal address of a reference target."""

    target: str  # as given with --reference
    address: str
    port: int | None
    outcome: str  # open / refused / timeout / unreachable / blocked / skipped / error
    rtt_ms: float | None = None
    detail: str = ""

    @property
    def family(self) -> str:
        return IPV6 if ":" in self.address else IPV4

    @property
    def answered(self) -> bool:
        # A TCP RST came back over the path as surely as a SYN-ACK: the family works.
        return self.outcome in ("open", "refused")


@dataclass(frozen=True)
class FamilyFooting:
    family: str  # ipv6 | ipv4
    status: FootStatus
    reason: str
    addresses: tuple[str, ...] = ()  # the scanner's usable addresses of the family
    default_route: bool | None = None
    routes: tuple[str, ...] = ()  # destinations of the routes that reach somewhere (capped)
    references: tuple[ReferenceResult, ...] = ()

    @property
    def down(self) -> bool:
        return self.status == FootStatus.DOWN


@dataclass(frozen=True)
class ControlQuery:
    """One control question to the resolver (SOA of the root or of a public suffix)."""

    server: str  # ADDR:PORT or [ADDR6]:PORT
    qname: str
    outcome: str  # ok / nodata / nxdomain / servfail / dns_refused / refused / timeout / error
    detail: str = ""
    rtt_ms: float | None = None
    # root (.), suffix (a public suffix of the inventory's names) or sample (one of the
    # inventory's own domains: a resolver for some zones only answers those)
    role: str = "suffix"

    @property
    def answered(self) -> bool:
        return self.outcome in ("ok", "nodata")


@dataclass(frozen=True)
class ResolverFooting:
    status: FootStatus
    reason: str
    servers: tuple[str, ...] = ()
    queries: tuple[ControlQuery, ...] = ()
    # (suffix, reason): public suffixes whose own SOA the resolver could not answer while it
    # answers for the root; names under them are attributed to the resolver.
    broken: tuple[tuple[str, str], ...] = ()

    @property
    def down(self) -> bool:
        return self.status == FootStatus.DOWN

    def blames(self, name: str) -> str | None:
        """Why a failed lookup of ``name`` is the resolver's doing, or None."""
        if self.down:
            return self.reason
        name = norm_name(name)
        for suffix, reason in self.broken:
            if name == suffix or name.endswith("." + suffix):
                return reason
        return None


@dataclass(frozen=True)
class LoadFooting:
    status: FootStatus = FootStatus.OK
    reason: str = ""
    cpus: int | None = None
    concurrency: int | None = None
    max_lag_s: float = 0.0  # the longest the event loop was late for a timer
    overloaded_s: float = 0.0  # seconds during which the loop was saturated
    overloaded_targets: int = 0  # targets probed (partly) while it was


@dataclass(frozen=True)
class Recheck:
    """A footing check made during the scan (failures piled up)."""

    at: str
    why: str
    summary: str


@dataclass(frozen=True)
class Footing:
    checked: str  # when the first check ran (ISO 8601 UTC)
    ipv6: FamilyFooting
    ipv4: FamilyFooting
    resolver: ResolverFooting
    load: LoadFooting = field(default_factory=LoadFooting)
    rechecks: tuple[Recheck, ...] = ()

    # -- what the evaluation asks ---------------------------------------------------------
    def family(self, name: str) -> FamilyFooting:
        return self.ipv6 if name == IPV6 else self.ipv4

    def down_reason(self, family: str) -> str | None:
        f = self.family(family)
        return f.reason if f.down else None

    def address_reason(self, address: str) -> str | None:
        """Why an address of this family cannot be judged from this scanner, or None.
        Loopback is always reachable (the demo's servers on ::1 need no global IPv6)."""
        try:
            if ipaddress.ip_address(address).is_loopback:
                return None
        except ValueError:
            pass
        return self.down_reason(IPV6 if ":" in address else IPV4)

    def resolver_blames(self, name: str) -> str | None:
        return self.resolver.blames(name)

    def evaluation_key(self) -> tuple[Any, ...]:
        """What the verdicts depend on (the load is recorded per target instead)."""
        return (
            self.ipv6.status,
            self.ipv6.reason if self.ipv6.down else "",
            self.ipv4.status,
            self.ipv4.reason if self.ipv4.down else "",
            self.resolver.status,
            self.resolver.reason if self.resolver.down else "",
            self.resolver.broken,
        )

    # -- what people read -----------------------------------------------------------------
    def problems(self) -> list[str]:
        """One line per fact that is not OK (stderr, the scan summary, the gate)."""
        out = [f.reason for f in (self.ipv6, self.ipv4) if f.status in _SHOWN]
        if self.resolver.status in _SHOWN:
            out.append(self.resolver.reason)
        if self.load.status in _SHOWN:
            out.append(self.load.reason)
        return out

    def blockers(self) -> list[str]:
        """What leaves a gate without a verdict: a family or the resolver is down."""
        out = [f.reason for f in (self.ipv6, self.ipv4) if f.down]
        if self.resolver.down:
            out.append(self.resolver.reason)
        return out

    def summary(self) -> str:
        parts = [f"{_LABEL[f.family]} {f.status}" for f in (self.ipv6, self.ipv4)]
        parts.append(f"resolver {self.resolver.status}")
        if self.load.status != FootStatus.OK:
            parts.append(f"load {self.load.status}")
        return ", ".join(parts)

    # -- combining checks ---------------------------------------------------------------
    def merged(self, later: Footing, why: str | None = None) -> Footing:
        """This footing and a later check of it: each fact at its worst (a family that
        went down mid-scan stays recorded as down; the per-target rules keep the verdicts
        of targets whose own probes show the path worked), rechecks appended."""
        rechecks = tuple(dict.fromkeys(self.rechecks + later.rechecks))
        if why is not None:
            rechecks += (Recheck(later.checked, why, later.summary()),)
        return Footing(
            checked=self.checked,
            ipv6=later.ipv6 if _worse(later.ipv6.status, self.ipv6.status) else self.ipv6,
            ipv4=later.ipv4 if _worse(later.ipv4.status, self.ipv4.status) else self.ipv4,
            resolver=_merge_resolver(self.resolver, later.resolver),
            load=later.load if _worse(later.load.status, self.load.status) else self.load,
            rechecks=rechecks[-20:],
        )

    def with_load(self, load: LoadFooting) -> Footing:
        return replace(self, load=load)

    # -- storage ------------------------------------------------------------------------
    def to_record(self) -> dict[str, Any]:
        from auditor import serde

        record: dict[str, Any] = serde.to_jsonable(self)
        return record

    @classmethod
    def from_record(cls, data: Any) -> Footing | None:
        """The footing stored with a scan, or None (older scans, or unreadable)."""
        if not isinstance(data, Mapping):
            return None
        from auditor import serde

        try:
            return serde.from_jsonable(dict(data), cls)
        except Exception:
            return None


_SHOWN = (FootStatus.DOWN, FootStatus.DEGRADED)


def footing_of(stats: Mapping[str, Any] | None) -> Footing | None:
    """The footing recorded in a scan row's stats, or None."""
    return Footing.from_record((stats or {}).get(FOOTING_KEY))


def _merge_resolver(a: ResolverFooting, b: ResolverFooting) -> ResolverFooting:
    worst = b if _worse(b.status, a.status) else a
    broken = dict(a.broken)
    broken.update(b.broken)
    return replace(worst, broken=tuple(sorted(broken.items())))


# ---------------------------------------------------------------------------------------
# Reading the kernel's tables (pure parsers; the readers below feed them)

# /proc/net/if_inet6 flags (linux/if_addr.h): an address still in (or failed) duplicate
# address detection cannot be a source address yet.
_IFA_F_DADFAILED = 0x08
_IFA_F_TENTATIVE = 0x40
# scope = the address type masked with IPV6_ADDR_SCOPE_MASK (0x00f0, net/ipv6.h)
_SCOPES = {0x00: "global", 0x10: "host", 0x20: "link", 0x40: "site"}
# Route flags (linux/route.h, ipv6_route.h): RTF_UP, RTF_GATEWAY, RTF_REJECT; RTF_LOCAL
# marks the machine's own addresses in /proc/net/ipv6_route.
_RTF_UP = 0x0001
_RTF_GATEWAY = 0x0002
_RTF_REJECT = 0x0200
_RTF_LOCAL = 0x80000000


def _hex6(text: str) -> str:
    return str(ipaddress.IPv6Address(int(text, 16)))


def parse_if_inet6(text: str) -> list[LocalAddress]:
    """``/proc/net/if_inet6``: address, ifindex, prefix length, scope, flags, name (hex)."""
    out: list[LocalAddress] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 6 or len(parts[0]) != 32:
            continue
        try:
            address = _hex6(parts[0])
            plen, scope, flags = int(parts[2], 16), int(parts[3], 16), int(parts[4], 16)
        except ValueError:
            continue
        scope_name = _SCOPES.get(scope, "other")
        usable = scope == 0 and not flags & (_IFA_F_TENTATIVE | _IFA_F_DADFAILED)
        out.append(LocalAddress(address, parts[5], plen, scope_name, usable))
    return out


def parse_ipv6_route(text: str) -> list[Route]:
    """``/proc/net/ipv6_route``: dest, dest plen, src, src plen, next hop, metric, refcnt,
    use, flags, device (hex)."""
    out: list[Route] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 10 or len(parts[0]) != 32:
            continue
        try:
            dest = _hex6(parts[0])
            plen = int(parts[1], 16)
            gateway = _hex6(parts[4])
            flags = int(parts[8], 16)
        except ValueError:
            continue
        if not flags & _RTF_UP or flags & _RTF_LOCAL:
            continue
        net = ipaddress.IPv6Network(f"{dest}/{plen}", strict=False)
        if net.is_multicast:
            continue
        out.append(
            Route(
                str(net),
                parts[9],
                gateway if flags & _RTF_GATEWAY else None,
                reject=bool(flags & _RTF_REJECT),
            )
        )
    return out


def _hex4(text: str) -> str:
    # /proc/net/route prints addresses as host-order (little-endian on x86/ARM) hex
    return str(ipaddress.IPv4Address(int(text, 16).to_bytes(4, sys.byteorder)))


def parse_ipv4_route(text: str) -> list[Route]:
    """``/proc/net/route``: Iface, Destination, Gateway, Flags, RefCnt, Use, Metric, Mask..."""
    out: list[Route] = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 8:
            continue
        try:
            dest, gateway, mask = _hex4(parts[1]), _hex4(parts[2]), _hex4(parts[7])
            flags = int(parts[3], 16)
            net = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
        except ValueError:
            continue
        if not flags & _RTF_UP:
            continue
        out.append(
            Route(
                str(net),
                parts[0],
                gateway if flags & _RTF_GATEWAY else None,
                reject=bool(flags & _RTF_REJECT),
            )
        )
    return out


def parse_fib_trie(text: str) -> list[LocalAddress]:
    """The machine's own IPv4 addresses from ``/proc/net/fib_trie``: each ``|-- ADDR`` leaf
    followed by a ``/32 host LOCAL`` line (the "local" table). Listed once each."""
    seen: dict[str, LocalAddress] = {}
    leaf: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("|--"):
            leaf = line[3:].strip()
            continue
        if leaf and line.startswith("/32") and line.endswith("LOCAL"):
            try:
                ip = ipaddress.IPv4Address(leaf)
            except ValueError:
                continue
            # Private (RFC 1918) addresses behind NAT are how most machines reach the
            # Internet over IPv4: they count. Loopback and link-local (169.254/16) do not.
            usable = not (ip.is_loopback or ip.is_link_local or ip.is_unspecified)
            scope = "host" if ip.is_loopback else "link" if ip.is_link_local else "global"
            seen.setdefault(leaf, LocalAddress(leaf, "", 32, scope, usable))
    return list(seen.values())


@dataclass(frozen=True)
class KernelFacts:
    """What the kernel says about one family (None: its tables could not be read)."""

    family: str
    addresses: tuple[LocalAddress, ...] | None
    routes: tuple[Route, ...] | None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def kernel_facts(family: str, proc: str = "/proc/net") -> KernelFacts:
    """Addresses and routes of ``family`` from the kernel's tables (a few file reads)."""
    if family == IPV6:
        if not socket.has_ipv6:
            return KernelFacts(family, (), ())
        addr_text = _read(f"{proc}/if_inet6")
        route_text = _read(f"{proc}/ipv6_route")
        if addr_text is None and route_text is None and Path(proc).is_dir():
            # the kernel has no IPv6 at all (ipv6.disable=1): no table to read
            return KernelFacts(family, (), ())
        addresses = tuple(parse_if_inet6(addr_text)) if addr_text is not None else None
        routes = tuple(parse_ipv6_route(route_text)) if route_text is not None else None
        return KernelFacts(family, addresses, routes)
    addr_text = _read(f"{proc}/fib_trie")
    route_text = _read(f"{proc}/route")
    return KernelFacts(
        family,
        tuple(parse_fib_trie(addr_text)) if addr_text is not None else None,
        tuple(parse_ipv4_route(route_text)) if route_text is not None else None,
    )


# ---------------------------------------------------------------------------------------
# Deciding (pure)


def decide_family(facts: KernelFacts, references: Sequence[ReferenceResult] = ()) -> FamilyFooting:
    """The footing of one family from the kernel's facts and the reference targets."""
    family = facts.family
    label = _LABEL[family]
    none = f"the scanner has no {label} connectivity"
    usable = [a.address for a in facts.addresses or () if a.usable]
    reaching = [r for r in facts.routes or () if r.reaches]
    default = any(r.is_default for r in reaching) if facts.routes is not None else None
    refs = tuple(r for r in references if r.family == family)
    answered = [r for r in refs if r.answered]
    asked = [r for r in refs if r.outcome not in ("blocked", "skipped")]
    common: dict[str, Any] = {
        "addresses": tuple(usable[:8]),
        "default_route": default,
        "routes": tuple(r.destination for r in reaching[:20]),
        "references": refs,
    }

    def down(why: str) -> FamilyFooting:
        return FamilyFooting(family, FootStatus.DOWN, f"{none} ({why})", **common)

    if facts.addresses is not None and not usable:
        others = [a.address for a in facts.addresses or () if a.scope == "link"]
        only = f"; only link-local {', '.join(others[:2])}" if others else ""
        return down(f"no global {label} address{only}")
    if facts.routes is not None and not reaching:
        return down(f"no {label} route: neither a default route nor one toward any network")
    if asked and not answered:
        tried = "; ".join(
            f"{r.target} [{r.address}]:{r.port} {r.outcome}"
            for r in asked[:MAX_REFERENCE_ADDRESSES]
        )
        return down(f"no reference target answered over {label}: {tried}")
    parts: list[str] = []
    if usable:
        parts.append(f"address {usable[0]}")
    if default:
        parts.append("default route")
    elif default is False:
        parts.append(
            f"no default route; {len(reaching)} route(s) toward "
            + ", ".join(r.destination for r in reaching[:3])
            + (" ..." if len(reaching) > 3 else "")
        )
    if answered:
        r = answered[0]
        rtt = f" in {r.rtt_ms:g} ms" if r.rtt_ms is not None else ""
        parts.append(f"reference {r.target} answered on port {r.port}{rtt}")
    if facts.addresses is None and facts.routes is None and not answered:
        return FamilyFooting(
            family,
            FootStatus.UNKNOWN,
            f"{label} connectivity of the scanner unknown: its address and route tables could "
            "not be read (give --reference HOST to test it)",
            **common,
        )
    return FamilyFooting(family, FootStatus.OK, f"{label}: " + "; ".join(parts), **common)


_CONTROL_WORDS = {
    "nxdomain": "answers NXDOMAIN for {what} itself",
    "servfail": "answers SERVFAIL even for {what}",
    "dns_refused": "answers REFUSED (it does not serve this machine: access control)",
    "refused": "refuses the connection (nothing listens on its port: ICMP port unreachable)",
    "timeout": "does not answer (no reply to {what} within {seconds:g} s, {attempts} tries)",
    "error": "fails ({detail})",
}


def _what(qname: str) -> str:
    return "the root zone '.'" if qname == "." else f"the public suffix '{qname}'"


def _describe(q: ControlQuery, seconds: float, attempts: int) -> str:
    template = _CONTROL_WORDS.get(q.outcome, "fails ({detail})")
    return template.format(
        what=_what(q.qname), seconds=seconds, attempts=attempts, detail=q.detail or q.outcome
    )


def decide_resolver(
    servers: Sequence[str],
    queries: Sequence[ControlQuery],
    *,
    seconds: float = CONTROL_TIMEOUT,
    attempts: int = CONTROL_ATTEMPTS,
) -> ResolverFooting:
    """The resolver's footing from its answers to the control questions (pure).

    The root always exists: a resolver that cannot give its SOA (NXDOMAIN, SERVFAIL,
    REFUSED, closed port, silence) and does not answer for any of the inventory's own
    domains either cannot resolve anything: it is down. (One that answers the inventory's
    domains but not the root serves some zones only, as an internal resolver or the demo's
    does: it works for them.) A public suffix of the Public Suffix List exists too: a
    resolver that answers the root but not ``gov.vn`` is partly broken, and names under that
    suffix are attributed to it, unless it answered for the inventory's domains under it.
    """
    if not servers:
        return ResolverFooting(
            FootStatus.DOWN,
            "the scanner has no resolver: no nameserver in /etc/resolv.conf (give --resolver ADDR)",
        )
    root = {s: [q for q in queries if q.server == s and q.qname == "."] for s in servers}
    samples = [q for q in queries if q.role == "sample"]
    working = [
        s
        for s in servers
        if any(q.answered for q in root[s]) or any(q.answered for q in samples if q.server == s)
    ]
    rootless = [s for s in working if not any(q.answered for q in root[s])]
    if not working:
        described = []
        for s in servers:
            q = root[s][-1] if root[s] else ControlQuery(s, ".", "error", "not asked", role="root")
            described.append(f"{s} {_describe(q, seconds, attempts)}")
        return ResolverFooting(
            FootStatus.DOWN,
            f"the scanner's resolver {'; '.join(described)}; it cannot resolve any name, so "
            "every DNS-derived verdict is not_tested (fix the resolver or give --resolver ADDR)",
            tuple(servers),
            tuple(queries),
        )
    broken: dict[str, str] = {}
    for q in queries:
        if q.role != "suffix" or q.qname == "." or q.server not in working or q.answered:
            continue
        if any(x.answered for x in queries if x.qname == q.qname and x.server in working):
            continue  # another server (or try) answered it
        if any(
            x.answered and x.server in working and x.qname.endswith("." + q.qname) for x in samples
        ):
            continue  # it answers the inventory's domains under it: that is what counts
        broken[q.qname] = (
            f"the scanner's resolver {q.server} {_describe(q, seconds, attempts)}: names under "
            f"'{q.qname}' cannot be resolved by it and are not judged"
        )
    if broken:
        return ResolverFooting(
            FootStatus.DEGRADED,
            "; ".join(broken.values()),
            tuple(servers),
            tuple(queries),
            tuple(sorted(broken.items())),
        )
    dead = [s for s in servers if s not in working]
    notes = [f"{', '.join(working)} answers"]
    if rootless:
        # Serving some zones only (an internal resolver, the demo's): names it refuses get
        # REFUSED, which no check takes for a failure. Nothing to attribute: said, not shown.
        asked = root[rootless[0]]
        how = asked[-1].outcome if asked else "not asked"
        notes[0] += (
            f" for the inventory's domains (not for the root zone '.': {how}; a resolver for "
            "some zones only)"
        )
    if dead:
        notes.append(f"{', '.join(dead)} does not (left out of this scan)")
    if dead:
        return ResolverFooting(
            FootStatus.DEGRADED,
            "the scanner's resolver " + "; ".join(notes),
            tuple(servers),
            tuple(queries),
        )
    return ResolverFooting(
        FootStatus.OK, "resolver: " + "; ".join(notes), tuple(servers), tuple(queries)
    )


def control_samples(names: Iterable[str], limit: int = MAX_CONTROL_SAMPLES) -> list[str]:
    """The inventory's own registrable domains, most used first (their SOA is asked too)."""
    from auditor.protocol.names import norm_name, registrable_domain

    counts: dict[str, int] = {}
    for raw in names:
        name = norm_name(raw)
        try:
            ipaddress.ip_address(name)
            continue  # an address literal has no domain
        except ValueError:
            pass
        domain = registrable_domain(name)
        counts[domain] = counts.get(domain, 0) + 1
    return sorted(counts, key=lambda d: (-counts[d], d))[:limit]


def control_suffixes(names: Iterable[str], limit: int = MAX_CONTROL_SUFFIXES) -> list[str]:
    """The public suffixes the inventory lives under, most used first (only suffixes the
    Public Suffix List knows: an unknown TLD may really not exist, and then its names do
    not either, which is the inventory's problem, not the resolver's)."""
    from auditor.protocol.names import public_suffix

    counts: dict[str, int] = {}
    for name in names:
        suffix = public_suffix(name, accept_unknown=False)
        if suffix:
            counts[suffix] = counts.get(suffix, 0) + 1
            # the TLD of a multi-label suffix (vn of gov.vn) is asked too: it tells a
            # resolver that fails a whole TLD from one that fails one suffix
            tld = suffix.rsplit(".", 1)[-1]
            if tld != suffix:
                counts[tld] = counts.get(tld, 0) + 1
    ranked = sorted(counts, key=lambda s: (-counts[s], s))
    return ranked[:limit]


# ---------------------------------------------------------------------------------------
# Asking (network: control queries to the resolver, connects to reference targets)


async def _control(
    ctx: ProbeContext, addr: str, port: int, qname: str, timeout: float, role: str
) -> ControlQuery:
    import dns.asyncquery
    import dns.exception
    import dns.message

    from auditor.probes.dns import _rcode_outcome
    from auditor.probes.sockets import classify_os_error

    server = endpoint(addr, port)
    query = dns.message.make_query(qname, "SOA")
    start = time.perf_counter()
    ctx.stats["dns_queries"] += 1
    try:
        response = await dns.asyncquery.udp(
            query, addr, timeout=timeout, port=port, backend=ctx.dns.backend
        )
    except dns.exception.Timeout:
        return ControlQuery(server, qname, "timeout", "no answer", role=role)
    except ConnectionRefusedError:
        closed = "port closed (ICMP port unreachable)"
        return ControlQuery(server, qname, "refused", closed, role=role)
    except OSError as exc:
        outcome, detail = classify_os_error(exc)
        return ControlQuery(server, qname, outcome, detail, role=role)
    except (dns.exception.DNSException, ValueError, EOFError) as exc:
        return ControlQuery(server, qname, "error", f"{type(exc).__name__}: {exc}", role=role)
    rtt = round((time.perf_counter() - start) * 1000, 2)
    outcome = _rcode_outcome(response, qname, "SOA")
    return ControlQuery(server, qname, outcome, rtt_ms=rtt, role=role)


async def check_resolver(
    ctx: ProbeContext, suffixes: Sequence[str], samples: Sequence[str] = ()
) -> ResolverFooting:
    """The control questions to every configured server (at most 3), in parallel."""
    servers = ctx.dns.servers()[:3]
    names = [(".", "root")] + [(n, "suffix") for n in suffixes]
    names += [(n, "sample") for n in samples if n not in suffixes]
    timeout = min(ctx.options.timeout, CONTROL_TIMEOUT)
    results: list[ControlQuery] = []

    async def ask(addr: str, port: int, qname: str, role: str) -> None:
        q = await _control(ctx, addr, port, qname, timeout, role)
        # A lost datagram is not a dead resolver: ask once more (RFC 1035 4.2.1 retransmits);
        # a refusal or an answer is final.
        for _ in range(CONTROL_ATTEMPTS - 1):
            if q.outcome != "timeout":
                break
            q = await _control(ctx, addr, port, qname, timeout, role)
        results.append(q)

    async with anyio.create_task_group() as tg:
        for addr, port in servers:
            for qname, role in names:
                tg.start_soon(ask, addr, port, qname, role)
    order = {n: i for i, (n, _role) in enumerate(names)}
    results.sort(key=lambda q: (q.server, order.get(q.qname, 99)))
    return decide_resolver(
        [endpoint(a, p) for a, p in servers], results, seconds=timeout, attempts=CONTROL_ATTEMPTS
    )


def parse_reference(text: str) -> str:
    """``--reference`` value: a host name, or a literal address (``[v6]`` allowed)."""
    raw = text.strip()
    if raw.startswith("[") and raw.endswith("]"):
        raw = raw[1:-1]
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        pass
    from auditor.inventory import to_ascii_name

    return to_ascii_name(raw)


async def probe_references(
    ctx: ProbeContext, references: Sequence[str], resolver: ResolverFooting | None
) -> tuple[ReferenceResult, ...]:
    """Connect to each reference target's literal addresses (443, else 80), in parallel.

    Names are resolved through the scan's resolver (A and AAAA) unless it is down. The
    address guard applies: a reference is connected to like any target.
    """
    from auditor.obs.core import Outcome
    from auditor.probes.dns import resolve_host
    from auditor.probes.sockets import classify_os_error, connect_raw

    timeout = min(ctx.options.timeout, REFERENCE_TIMEOUT)
    out: list[ReferenceResult] = []

    async def port(target: str, address: str, number: int) -> ReferenceResult:
        start = time.perf_counter()
        try:
            with anyio.fail_after(timeout):
                stream = await connect_raw(address, number)
        except TimeoutError:
            return ReferenceResult(target, address, number, Outcome.TIMEOUT, detail="no answer")
        except OSError as exc:
            outcome, detail = classify_os_error(exc)
            return ReferenceResult(target, address, number, outcome, detail=detail)
        rtt = round((time.perf_counter() - start) * 1000, 2)
        with contextlib.suppress(Exception):
            await stream.aclose()
        return ReferenceResult(target, address, number, Outcome.OPEN, rtt_ms=rtt)

    async def connect(target: str, address: str) -> None:
        refusal = ctx.guard.refusal(address)
        if refusal:
            out.append(ReferenceResult(target, address, None, Outcome.BLOCKED, detail=refusal))
            return
        tried: list[ReferenceResult] = []

        async def one_port(number: int) -> None:
            tried.append(await port(target, address, number))

        # both ports at once: the check costs one timeout at most, not one per port
        async with anyio.create_task_group() as tg:
            for number in REFERENCE_PORTS:
                tg.start_soon(one_port, number)
        rank = {Outcome.OPEN: 0, Outcome.REFUSED: 1}
        order = {n: i for i, n in enumerate(REFERENCE_PORTS)}
        out.append(min(tried, key=lambda r: (rank.get(r.outcome, 2), order.get(r.port or 0, 9))))

    async def one(target: str) -> None:
        try:
            ipaddress.ip_address(target)
            addresses: tuple[str, ...] = (target,)
        except ValueError:
            why = resolver.blames(target) if resolver else None
            if why:
                out.append(ReferenceResult(target, "", None, Outcome.SKIPPED, detail=why))
                return
            dns = await resolve_host(ctx.dns, target)
            addresses = dns.addresses
            if not addresses:
                detail = f"does not resolve (A {dns.a.outcome}, AAAA {dns.aaaa.outcome})"
                out.append(ReferenceResult(target, "", None, Outcome.SKIPPED, detail=detail))
                return
        async with anyio.create_task_group() as tg:
            for address in addresses[:MAX_REFERENCE_ADDRESSES]:
                tg.start_soon(connect, target, address)

    async with anyio.create_task_group() as tg:
        for target in references:
            tg.start_soon(one, target)
    out.sort(key=lambda r: (r.target, r.address, r.port or 0))
    return tuple(out)


Report = Callable[[str], None]


async def check_footing(
    ctx: ProbeContext, names: Iterable[str] = (), *, report: Report | None = None
) -> Footing:
    """The whole footing: the kernel's tables, the resolver's control questions, then the
    reference targets (whose names need the resolver). Problems are reported (``report``:
    one line each) as soon as each is known, so a dead resolver is said within seconds."""
    checked = _stamp()
    names = list(names)
    suffixes = control_suffixes(names)
    facts = {f: kernel_facts(f) for f in FAMILIES}
    resolver = await check_resolver(ctx, suffixes, control_samples(names))
    if report and resolver.status in _SHOWN:
        report(resolver.reason)
    _use_resolver(ctx, resolver)
    references = await probe_references(ctx, ctx.options.references, resolver)
    footing = Footing(
        checked=checked,
        ipv6=decide_family(facts[IPV6], references),
        ipv4=decide_family(facts[IPV4], references),
        resolver=resolver,
        load=LoadFooting(cpus=os.cpu_count(), concurrency=ctx.options.concurrency),
    )
    if report:
        for fam in (footing.ipv6, footing.ipv4):
            if fam.status in _SHOWN:
                report(_family_notice(fam))
    return footing


def _family_notice(fam: FamilyFooting) -> str:
    label = _LABEL[fam.family]
    return (
        f"{fam.reason}: every {label} reachability verdict (and every check of an {label} "
        f"address) is not_tested, and {label} addresses are not probed"
    )


def footing_sync(
    options: Any,
    names: Iterable[str],
    report: Report | None = None,
    stats: MutableMapping[str, int] | None = None,
) -> Footing:
    """:func:`check_footing` outside an event loop (the CLI, before the scan starts);
    its counters (queries, connections) are added to ``stats``."""
    from auditor.probes.context import ProbeContext

    names = list(names)
    ctx = ProbeContext(options)

    async def run() -> Footing:
        return await check_footing(ctx, names, report=report)

    try:
        result: Footing = anyio.run(run, backend="asyncio")
    finally:
        if stats is not None:
            for key, value in ctx.stats.items():
                stats[key] = stats.get(key, 0) + value
    return result


# ---------------------------------------------------------------------------------------
# The scanner's load


# A step is bounded by --timeout; it needs several passes through the event loop (connect,
# a TLS handshake's flights, a request and its answer). When the loop runs a timer late by a
# quarter of the step's budget, sustained over a whole step, three or four such passes add
# up to a timeout the remote side never caused; a single stall of half the budget does it at
# once (asyncio runs the due timeout before the task that would have seen its answer).
SATURATED_SHARE = 0.25
STALL_SHARE = 0.5
# ... and "many steps turned into timeouts": in that same window, at least this share of the
# steps started (TCP connects, DNS queries) timed out, and at least MIN_TIMEOUTS of them. A
# loaded loop alone (CPU-bound but answering) turns nothing into timeouts; timeouts alone
# (black-holed addresses) are the network's.
TIMEOUT_SHARE = 0.1
MIN_TIMEOUTS = 5
TICK = 0.1  # seconds between the monitor's wake-ups (10 cheap timer callbacks a second)

Counters = Callable[[], tuple[int, int]]  # (steps started, of which timed out)


@dataclass
class _Episode:
    start: float
    end: float
    peak: float


class LoopMonitor:
    """How late the event loop runs a timer: the scanner's own load, measured cheaply.

    The loop is *saturated* while the mean lateness over a sliding window of one step
    timeout reaches ``SATURATED_SHARE`` x timeout, or a single stall ``STALL_SHARE`` x
    timeout (said once on stderr: lower --concurrency). It *starves* the probes when, in
    that window, many steps also timed out (``TIMEOUT_SHARE``): targets probed during
    a starved episode cannot trust their timeouts.
    """

    def __init__(
        self,
        step_timeout: float,
        now: Callable[[], float] = time.monotonic,
        counters: Counters | None = None,
    ) -> None:
        self.window = max(step_timeout, 4 * TICK)
        self.sustained = step_timeout * SATURATED_SHARE
        self.stall = step_timeout * STALL_SHARE
        self.now = now
        self.counters = counters or (lambda: (0, 0))
        self.max_lag = 0.0
        self.saturated = False  # ever
        self.last_saturated: float | None = None  # when it last was
        # (time, lag, connects, timeouts) of the ticks in the window
        self.samples: deque[tuple[float, float, int, int]] = deque()
        self._sum = 0.0
        self._base: tuple[int, int] | None = None
        self.episodes: deque[_Episode] = deque(maxlen=256)  # starved episodes
        self.on_saturated: Callable[[float], None] | None = None

    def record(self, at: float, lag: float, connects: int = 0, timeouts: int = 0) -> None:
        """One tick: the timer that should have fired at ``at - lag`` fired at ``at``;
        ``connects``/``timeouts``: the scan's step counters at that moment."""
        lag = max(0.0, lag)
        self.max_lag = max(self.max_lag, lag)
        if self._base is None:
            self._base = (connects, timeouts)
        self.samples.append((at, lag, connects, timeouts))
        self._sum += lag
        while self.samples and self.samples[0][0] < at - self.window:
            gone = self.samples.popleft()
            self._sum -= gone[1]
            self._base = (gone[2], gone[3])  # the counters as the window began
        first = self.samples[0]
        mean = self._sum / len(self.samples)
        stalled = lag >= self.stall
        if not stalled and not (mean >= self.sustained and at - first[0] > self.window / 2):
            return
        peak = max(lag, mean)
        self.last_saturated = at
        if not self.saturated:
            self.saturated = True
            if self.on_saturated is not None:
                self.on_saturated(peak)
        started, timed_out = connects - self._base[0], timeouts - self._base[1]
        if timed_out < MIN_TIMEOUTS or timed_out < TIMEOUT_SHARE * max(started, 1):
            return  # busy, but answers still come back in time
        start = at - (lag if stalled else self.window)
        last = self.episodes[-1] if self.episodes else None
        if last is not None and start <= last.end + TICK * 2:
            last.end = at
            last.peak = max(last.peak, peak)
        else:
            self.episodes.append(_Episode(start, at, peak))

    def overload_during(self, start: float, end: float) -> float | None:
        """The worst lateness of a starved episode overlapping [start, end], or None."""
        worst: float | None = None
        for ep in reversed(self.episodes):
            if ep.end < start:
                break
            if ep.start <= end:
                worst = ep.peak if worst is None else max(worst, ep.peak)
        return worst

    def saturated_since(self, t: float) -> bool:
        return self.last_saturated is not None and self.last_saturated >= t

    def starved_seconds(self) -> float:
        return round(sum(ep.end - ep.start for ep in self.episodes), 1)

    async def run(self) -> None:
        while True:
            before = self.now()
            await anyio.sleep(TICK)
            after = self.now()
            self.record(after, after - before - TICK, *self.counters())


def overload_reason(lag: float, concurrency: int) -> str:
    cpus = os.cpu_count() or 1
    return (
        f"the scanner was overloaded while probing this target (its event loop ran "
        f"{lag:.1f} s late; --concurrency {concurrency} on {cpus} CPU(s)): its timeouts are "
        "not evidence about the target"
    )


# ---------------------------------------------------------------------------------------
# During a scan


# Failures "pile up" when at least this share of the last WINDOW finished targets failed
# (nothing answered, or the name did not resolve), at least MIN_FAILED of them; a re-check
# runs at most every RECHECK_EVERY seconds.
RECHECK_WINDOW = 20
RECHECK_SHARE = 0.5
RECHECK_MIN_FAILED = 10
RECHECK_EVERY = 30.0


class FootingWatch:
    """The footing during one scan (one process): the current facts the probes consult,
    the merged record the evaluation and the store get, the load monitor, and the
    re-checks when failures pile up."""

    def __init__(
        self,
        footing: Footing,
        names: Iterable[str] = (),
        *,
        report: Report | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.initial = footing
        self.current = footing  # what the probes skip on
        self.record = footing  # every fact at its worst (stored, evaluated with)
        self.names = tuple(names)
        self.report = report
        self.now = monotonic
        self.monitor: LoopMonitor | None = None
        self.recent: deque[bool] = deque(maxlen=RECHECK_WINDOW)
        self.last_check = monotonic()
        self.overloaded_targets = 0
        self._rechecking = False
        self._said_overload = False
        self._concurrency = footing.load.concurrency or 0

    def attach(self, ctx: ProbeContext) -> None:
        """Make ``ctx``'s probes follow this footing: skip what the scanner cannot reach,
        ask only the resolver servers that answered, and know which suffixes answered."""
        ctx.footing_watch = self
        _use_resolver(ctx, self.current.resolver)

    # -- monitor ----------------------------------------------------------------------
    def start_monitor(self, step_timeout: float, counters: Counters | None = None) -> LoopMonitor:
        self.monitor = LoopMonitor(step_timeout, self.now, counters)
        self.monitor.on_saturated = self._overload_noticed
        return self.monitor

    def _overload_noticed(self, lag: float) -> None:
        if self._said_overload or self.report is None:
            return
        self._said_overload = True
        self.report(
            f"the scanner is overloaded: its event loop runs {lag:.1f} s late "
            f"(--concurrency {self._concurrency} on {os.cpu_count() or 1} CPU(s)); when "
            "its steps time out meanwhile, those timeouts are not evidence and the findings "
            "they touch are not_tested. Lower --concurrency."
        )

    def overload(self, started: float) -> str:
        """The overload reason for a target probed since ``started`` (monotonic), or ""."""
        if self.monitor is None:
            return ""
        lag = self.monitor.overload_during(started, self.now())
        if lag is None:
            return ""
        self.overloaded_targets += 1
        return overload_reason(lag, self._concurrency)

    def load(self) -> LoadFooting:
        base = self.record.load
        if self.monitor is None:
            return base
        starved = self.monitor.starved_seconds()
        status = FootStatus.DEGRADED if self.monitor.episodes else FootStatus.OK
        setting = f"--concurrency {self._concurrency} on {os.cpu_count() or 1} CPU(s)"
        reason = ""
        if status != FootStatus.OK:
            reason = (
                f"the scanner was overloaded for {starved:g} s (event loop up to "
                f"{self.monitor.max_lag:.1f} s late, many connects timing out; {setting}): "
                f"{self.overloaded_targets} target(s) probed meanwhile have the verdicts "
                "their timeouts decided counted as not_tested"
            )
        elif self.monitor.saturated:
            reason = (
                f"the event loop ran up to {self.monitor.max_lag:.1f} s late ({setting}), "
                "but the probes' answers still came back in time: nothing attributed"
            )
        return replace(
            base,
            status=status,
            reason=reason,
            max_lag_s=round(self.monitor.max_lag, 3),
            overloaded_s=starved,
            overloaded_targets=self.overloaded_targets,
        )

    def final(self) -> Footing:
        return self.record.with_load(self.load())

    # -- re-checks ----------------------------------------------------------------------
    def target_done(self, failed: bool) -> bool:
        """Note one finished target; True when a re-check is due."""
        self.recent.append(failed)
        now = self.now()
        if self._rechecking or now - self.last_check < RECHECK_EVERY:
            return False
        if self.monitor is not None and self.monitor.saturated_since(now - self.monitor.window):
            # the failures are the scanner's own load (judged per target by the monitor);
            # a re-check now would time out through the same starved loop
            return False
        bad = sum(self.recent)
        return bad >= RECHECK_MIN_FAILED and bad >= RECHECK_SHARE * len(self.recent)

    async def recheck(self, ctx: ProbeContext) -> None:
        """Check the footing again (failures piled up): a fact that changed is reported,
        the probes follow the new facts, the record keeps each fact at its worst."""
        if self._rechecking:
            return
        self._rechecking = True
        self.last_check = started = self.now()
        bad, total = sum(self.recent), len(self.recent)
        try:
            later = await check_footing(ctx, self.names)
        finally:
            self._rechecking = False
        self.recent.clear()
        why = f"{bad} of the last {total} targets failed"
        if self.monitor is not None and self.monitor.saturated_since(started):
            # its own questions went through a saturated loop: their timeouts say nothing
            note = Recheck(later.checked, f"{why}; inconclusive: the scanner was overloaded", "")
            self.record = replace(self.record, rechecks=(*self.record.rechecks, note)[-20:])
            return
        changed = later.evaluation_key() != self.current.evaluation_key()
        if changed and self.report is not None:
            for line in later.problems() or [f"footing back to normal: {later.summary()}"]:
                self.report(f"re-check ({why}): {line}")
        self.current = replace(later, load=self.current.load)
        self.record = self.record.merged(later, why)
        _use_resolver(ctx, later.resolver)

    # -- what the probes ask ------------------------------------------------------------
    def skip_address(self, address: str) -> str | None:
        return self.current.address_reason(address)

    def skip_name(self, name: str) -> str | None:
        return self.current.resolver_blames(name)


def _use_resolver(ctx: ProbeContext, resolver: ResolverFooting) -> None:
    """Ask only the servers that answered their control question, and remember which
    suffixes the resolver answers for (DnsClient.resolver_answers_near asks no more)."""
    if resolver.down:
        return
    ctx.dns.keep_servers([q.server for q in resolver.queries if q.qname == "." and q.answered])
    for q in resolver.queries:
        if q.role != "sample":
            ctx.dns.note_control(q.qname, q.answered)


def report_to_stderr(line: str) -> None:
    print(f"auditor: {line}", file=sys.stderr, flush=True)


__all__ = [
    "FOOTING_KEY",
    "ControlQuery",
    "FamilyFooting",
    "FootStatus",
    "Footing",
    "FootingWatch",
    "KernelFacts",
    "LoadFooting",
    "LocalAddress",
    "LoopMonitor",
    "Recheck",
    "ReferenceResult",
    "ResolverFooting",
    "Route",
    "check_footing",
    "control_samples",
    "control_suffixes",
    "decide_family",
    "decide_resolver",
    "footing_of",
    "kernel_facts",
    "no_local_route",
    "parse_fib_trie",
    "parse_if_inet6",
    "parse_ipv4_route",
    "parse_ipv6_route",
    "parse_reference",
]
