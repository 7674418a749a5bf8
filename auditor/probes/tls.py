"""TLS probe (placeholder until the TLS family lands)."""

from __future__ import annotations

from auditor.obs.core import Outcome
from auditor.obs.tls import TlsObservation
from auditor.probes.context import ProbeContext


async def probe_tls(ctx: ProbeContext, host: str, address: str, port: int) -> TlsObservation:
    return TlsObservation(address, port, Outcome.SKIPPED, "TLS probe not implemented yet")
