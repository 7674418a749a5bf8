"""IPv6-only readiness: can the landing page's subresources be fetched over IPv6?

The HTTP probe stores, per address, the subresources (script, stylesheet, image, frame)
of the landing page it fetched over that address. Here we take the list from an IPv6
address, and for each distinct (host, port): AAAA lookup, then a TCP connect to every
AAAA on that port. Hosts are shared scan-wide through the probe cache (a CDN used by
fifty portals is probed once), and their number is capped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio

from auditor.obs import HostObservations
from auditor.obs.core import DnsAnswer, Outcome, TcpProbe
from auditor.obs.subresources import SubresourceHost, SubresourceObservation
from auditor.probes.context import ProbeContext
from auditor.protocol.names import norm_name

MAX_HOSTS = 50
MAX_URLS_PER_HOST = 3


@dataclass
class _Target:
    host: str
    port: int
    tags: set[str] = field(default_factory=set)
    urls: list[str] = field(default_factory=list)


def _targets(refs: Any) -> dict[tuple[str, int], _Target]:
    """Distinct (host, port) of http(s) subresources, in page order."""
    out: dict[tuple[str, int], _Target] = {}
    for ref in refs or ():
        url = str(getattr(ref, "url", "") or "")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            continue
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            continue  # data:, blob:, javascript: ... load nothing over the network
        host = norm_name(getattr(ref, "host", "") or parts.hostname or "")
        if not host:
            continue
        port = port or (443 if scheme == "https" else 80)
        t = out.setdefault((host, port), _Target(host, port))
        tag = str(getattr(ref, "tag", "") or "")
        if tag:
            t.tags.add(tag[:20])
        if len(t.urls) < MAX_URLS_PER_HOST:
            t.urls.append(url[:300])
    return out


async def probe_subresources(ctx: ProbeContext, obs: HostObservations) -> SubresourceObservation:
    """Probe the subresource hosts of the landing page fetched over an IPv6 address."""
    from auditor.probes.dns import resolve_host
    from auditor.probes.tcp import tcp_connect

    if not obs.v6:
        return SubresourceObservation(
            Outcome.SKIPPED, "the host has no AAAA: no landing page over IPv6"
        )
    source = None
    for address in obs.v6:
        http = obs.http_for(address)
        if http is not None and http.outcome == Outcome.OK:
            source = http
            break
    if source is None:
        tried = ", ".join(
            f"{a}: {h.outcome}" if (h := obs.http_for(a)) else f"{a}: not fetched" for a in obs.v6
        )
        return SubresourceObservation(
            Outcome.SKIPPED, f"the landing page could not be fetched over IPv6 ({tried})"
        )
    targets = list(_targets(getattr(source, "subresources", ())).values())
    skipped = max(0, len(targets) - MAX_HOSTS)
    targets = targets[:MAX_HOSTS]
    results: dict[tuple[str, int], SubresourceHost] = {}

    async def one(t: _Target) -> None:
        dns = await ctx.once(("host-dns", t.host), lambda: resolve_host(ctx.dns, t.host))
        aaaa: DnsAnswer = dns.aaaa
        probes: list[TcpProbe] = []
        # A mapped port (ScanOptions.port_map: "*" for every host, as in the demo) applies
        # to subresource hosts too; a host-keyed mapping (gate URL) only to that host.
        wire = ctx.options.wire_port(t.host, t.port)
        for address in aaaa.records:
            probes.append(await tcp_connect(ctx, address, t.port, wire=wire))
        results[(t.host, t.port)] = SubresourceHost(
            t.host, t.port, aaaa, tuple(probes), tuple(sorted(t.tags)), tuple(t.urls)
        )

    limiter = anyio.CapacityLimiter(8)

    async def bounded(t: _Target) -> None:
        async with limiter:
            await one(t)

    async with anyio.create_task_group() as tg:
        for t in targets:
            tg.start_soon(bounded, t)
    hosts = tuple(results[(t.host, t.port)] for t in targets if (t.host, t.port) in results)
    detail = f"{skipped} more subresource hosts not probed (cap {MAX_HOSTS})" if skipped else ""
    landing = str(getattr(source, "landing_url", "") or "")
    cut = str(getattr(source, "subresources_cut", "") or "")
    return SubresourceObservation(
        Outcome.OK, detail, source.address, landing, hosts, skipped, cut=cut
    )
