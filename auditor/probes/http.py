"""HTTP probe (placeholder until the HTTP family lands)."""

from __future__ import annotations

from auditor.obs.core import Outcome, TcpProbe
from auditor.obs.http import HttpObservation
from auditor.probes.context import ProbeContext


async def probe_http(
    ctx: ProbeContext, host: str, address: str, tcp80: TcpProbe | None, tcp443: TcpProbe | None
) -> HttpObservation:
    return HttpObservation(address, Outcome.SKIPPED, "HTTP probe not implemented yet")
