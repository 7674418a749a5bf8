"""ICMPv6 echo observations (owned by the IPv6 family)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PingObservation:
    address: str
    outcome: str  # ok / timeout / unreachable / skipped (no privilege) / error
    rtt_ms: float | None = None
    detail: str = ""
