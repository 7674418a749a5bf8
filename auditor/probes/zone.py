"""Zone probe (placeholder until the DNS family lands)."""

from __future__ import annotations

from auditor.obs.core import Outcome
from auditor.obs.zone import ZoneObservations
from auditor.probes.context import ProbeContext


async def probe_zone(ctx: ProbeContext, zone: str, needs: frozenset[str]) -> ZoneObservations:
    return ZoneObservations(zone, outcome=Outcome.SKIPPED, detail="zone probe not implemented yet")
