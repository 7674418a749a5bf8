"""ICMPv6 echo observations (owned by the IPv6 family)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PingObservation:
    address: str
    # ok (echo reply) / timeout / unreachable (ICMPv6 destination unreachable) /
    # skipped (no raw-socket privilege, or disabled) / blocked (address guard) / error
    outcome: str
    rtt_ms: float | None = None
    detail: str = ""
    icmp_type: int | None = None  # type of the ICMPv6 answer, when one came back
    icmp_code: int | None = None
