"""Observations about the landing page's subresources (IPv6-only readiness)."""

from __future__ import annotations

from dataclasses import dataclass

from auditor.obs.core import DnsAnswer, TcpProbe


@dataclass(frozen=True)
class SubresourceHost:
    """One distinct host the landing page loads resources from, probed over IPv6."""

    host: str
    port: int
    aaaa: DnsAnswer
    tcp: tuple[TcpProbe, ...] = ()  # one connect per AAAA on ``port``
    tags: tuple[str, ...] = ()  # script / link / img / iframe ...
    urls: tuple[str, ...] = ()  # a few example URLs (capped)


@dataclass(frozen=True)
class SubresourceObservation:
    outcome: str  # ok when the landing page could be read over IPv6
    detail: str = ""
    source_address: str | None = None  # the IPv6 address the landing page came from
    landing_url: str = ""  # the page the subresources were read from ("" when none)
    hosts: tuple[SubresourceHost, ...] = ()
    skipped_hosts: int = 0  # distinct hosts beyond the cap, not probed
    # Why the landing page's list of resources may be incomplete (its body or the URL list
    # was cut at a cap): then "all answer over IPv6" cannot be said. "" when whole.
    cut: str = ""
