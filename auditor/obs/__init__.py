"""Typed observations: what probes saw, the only input of the pure checks."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.obs.core import DnsAnswer, HostDns, Outcome, TcpProbe
from auditor.obs.http import HttpObservation
from auditor.obs.icmp import PingObservation
from auditor.obs.routing import RoutingObservation
from auditor.obs.subresources import SubresourceObservation
from auditor.obs.tls import TlsObservation
from auditor.obs.zone import ZoneObservations

__all__ = [
    "DnsAnswer",
    "HostDns",
    "HostObservations",
    "HttpObservation",
    "Outcome",
    "PingObservation",
    "SubresourceObservation",
    "TcpProbe",
    "TlsObservation",
    "ZoneObservations",
]


@dataclass(frozen=True)
class HostObservations:
    """All observations of one web host in one scan."""

    host: str
    dns: HostDns
    tcp: tuple[TcpProbe, ...] = ()
    tls: tuple[TlsObservation, ...] = ()
    http: tuple[HttpObservation, ...] = ()
    icmp: tuple[PingObservation, ...] = ()
    subresources: SubresourceObservation | None = None
    # Set when the per-target deadline cut probing short: what is missing is not_tested.
    deadline_hit: bool = False
    # Pinned addresses (gate --resolve): DNS was not asked, checks that need DNS say so.
    pinned: bool = False
    # Set when the scanner's own event loop was saturated while this target was probed
    # (auditor.selfcheck.LoopMonitor): the reason; its timeouts are not evidence.
    overload: str = ""
    # RPKI/BGP facts of each address (Probe.ROUTING), None when not asked for.
    routing: RoutingObservation | None = None
    # The department paths of the host the inventory lists (other than "/"): each a target
    # of its own (TargetKind.PATH, "host/path"), fetched by the HTTP probe of each address.
    paths: tuple[str, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.dns.addresses

    @property
    def v4(self) -> tuple[str, ...]:
        return self.dns.a.records

    @property
    def v6(self) -> tuple[str, ...]:
        return self.dns.aaaa.records

    def tcp_for(self, address: str, port: int) -> TcpProbe | None:
        for probe in self.tcp:
            if probe.address == address and probe.port == port:
                return probe
        return None

    def tls_for(self, address: str, port: int = 443) -> TlsObservation | None:
        for obs in self.tls:
            if obs.address == address and obs.port == port:
                return obs
        return None

    def http_for(self, address: str) -> HttpObservation | None:
        for obs in self.http:
            if obs.address == address:
                return obs
        return None

    def icmp_for(self, address: str) -> PingObservation | None:
        for obs in self.icmp:
            if obs.address == address:
                return obs
        return None
