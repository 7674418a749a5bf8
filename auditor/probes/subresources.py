"""Subresource probe (placeholder until the IPv6 family lands)."""

from __future__ import annotations

from auditor.obs import HostObservations
from auditor.obs.core import Outcome
from auditor.obs.subresources import SubresourceObservation
from auditor.probes.context import ProbeContext


async def probe_subresources(ctx: ProbeContext, obs: HostObservations) -> SubresourceObservation:
    return SubresourceObservation(Outcome.SKIPPED, "subresource probe not implemented yet")
