"""ICMPv6 echo with scapy (raw sockets: root or CAP_NET_RAW).

scapy's sr1 blocks, so it runs in a worker thread (anyio.to_thread) while the caller
holds the per-address slot. Without raw-socket privilege the observation is SKIPPED
with the reason, which the check turns into not_tested: never a false failure.
"""

from __future__ import annotations

import random
import time
from typing import Any

import anyio

from auditor.obs.core import Outcome
from auditor.obs.icmp import PingObservation
from auditor.probes.context import ProbeContext

ATTEMPTS = 2  # one lost echo is not a verdict
NO_PRIVILEGE = "no raw-socket privilege (run as root or grant CAP_NET_RAW)"
# ICMPv6 types (RFC 4443 section 2.1)
ECHO_REPLY = 129
DEST_UNREACH = 1
_UNREACH_CODES = {
    0: "no route to destination",
    1: "communication administratively prohibited",
    2: "beyond scope of source address",
    3: "address unreachable",
    4: "port unreachable",
    5: "source address failed ingress/egress policy",
    6: "reject route to destination",
}
_limiter: anyio.CapacityLimiter | None = None


def _threads() -> anyio.CapacityLimiter:
    # scapy opens one raw socket per sr1; keep the number of blocking threads small.
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(8)
    return _limiter


async def ping(ctx: ProbeContext, address: str) -> PingObservation:
    """One ICMPv6 echo exchange with ``address`` (cached per scan)."""
    return await ctx.once(("icmp", address), lambda: _ping(ctx, address))


async def _ping(ctx: ProbeContext, address: str) -> PingObservation:
    refusal = ctx.guard.refusal(address)
    if refusal:
        return PingObservation(address, Outcome.BLOCKED, detail=refusal)
    if not ctx.options.icmp:
        return PingObservation(address, Outcome.SKIPPED, detail="ICMPv6 probing disabled")
    timeout = ctx.options.timeout
    last = PingObservation(address, Outcome.TIMEOUT, detail="no echo reply before the timeout")
    async with ctx.address_slot(address):
        for attempt in range(ATTEMPTS):
            ctx.stats["icmp_echo"] += 1
            last = await anyio.to_thread.run_sync(
                _echo, address, timeout, attempt, limiter=_threads(), abandon_on_cancel=True
            )
            if last.outcome != Outcome.TIMEOUT:
                break
    return last


def _echo(address: str, timeout: float, seq: int) -> PingObservation:
    """Blocking: build, send and await one echo (runs in a worker thread)."""
    try:
        from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
        from scapy.sendrecv import sr1
    except Exception as exc:  # scapy missing or broken: not a verdict about the host
        return PingObservation(address, Outcome.SKIPPED, detail=f"scapy unavailable: {exc}")
    ident = random.randrange(1, 0xFFFF)
    packet = IPv6(dst=address) / ICMPv6EchoRequest(id=ident, seq=seq, data=b"ipv6-gov-auditor")
    start = time.perf_counter()
    try:
        answer: Any = sr1(packet, timeout=timeout, verbose=0)
    except PermissionError:
        return PingObservation(address, Outcome.SKIPPED, detail=NO_PRIVILEGE)
    except OSError as exc:
        if exc.errno in (1, 13):  # EPERM, EACCES
            return PingObservation(address, Outcome.SKIPPED, detail=NO_PRIVILEGE)
        from auditor.probes.tcp import classify_os_error

        outcome, detail = classify_os_error(exc)
        return PingObservation(address, outcome, detail=detail)
    except Exception as exc:  # scapy raises assorted errors on odd interfaces/routes
        return PingObservation(address, Outcome.ERROR, detail=f"{type(exc).__name__}: {exc}")
    rtt = round((time.perf_counter() - start) * 1000, 2)
    if answer is None:
        return PingObservation(address, Outcome.TIMEOUT, detail="no echo reply before the timeout")
    layer = answer.payload if answer.haslayer("IPv6") else answer
    icmp_type = getattr(layer, "type", None)
    icmp_code = getattr(layer, "code", None)
    if icmp_type == ECHO_REPLY:
        return PingObservation(address, Outcome.OK, rtt, "", ECHO_REPLY, icmp_code)
    if icmp_type == DEST_UNREACH:
        why = _UNREACH_CODES.get(int(icmp_code or 0), f"code {icmp_code}")
        return PingObservation(
            address,
            Outcome.UNREACHABLE,
            rtt,
            f"ICMPv6 destination unreachable: {why}",
            icmp_type,
            icmp_code,
        )
    return PingObservation(
        address,
        Outcome.ERROR,
        rtt,
        f"unexpected ICMPv6 answer type {icmp_type} code {icmp_code}",
        icmp_type if isinstance(icmp_type, int) else None,
        icmp_code if isinstance(icmp_code, int) else None,
    )
