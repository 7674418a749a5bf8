"""ICMPv6 echo (placeholder until the IPv6 family lands)."""

from __future__ import annotations

from auditor.obs.core import Outcome
from auditor.obs.icmp import PingObservation
from auditor.probes.context import ProbeContext


async def ping(ctx: ProbeContext, address: str) -> PingObservation:
    return PingObservation(address, Outcome.SKIPPED, detail="ICMPv6 probe not implemented yet")
