"""TLS observations (owned by the TLS/HTTP family; extend with defaulted fields)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TlsObservation:
    """Everything learnt about TLS on one (address, port)."""

    address: str
    port: int
    outcome: str  # auditor.obs.core.Outcome
    detail: str = ""
