"""Zone observations: NS, MX, DNSSEC, CAA, mail policy (owned by the DNS family)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ZoneObservations:
    zone: str
    outcome: str = "ok"
    detail: str = ""
