"""TCP connect to literal addresses, failures classified (the reachability probe)."""

from __future__ import annotations

import time

import anyio

from auditor.obs.core import Outcome, TcpProbe
from auditor.probes.context import ProbeContext
from auditor.probes.session import AddressSession
from auditor.probes.sockets import (
    classify_os_error,
    connect_literal,
    connect_raw,
    failed_for_no_local_route,
    no_route_reason,
)


async def tcp_connect(
    ctx: ProbeContext,
    address: str,
    port: int,
    *,
    session: AddressSession | None = None,
    wire: int | None = None,
) -> TcpProbe:
    """Connect once (cached per scan); the connect is the observation. The connection is
    closed at once, or with a ``session`` parked there for the HTTP probe of that host and
    address (AddressSession.park_spare); a result from the cache parks nothing.
    ``wire``: the port actually connected when the service ``port`` is mapped
    (ScanOptions.port_map); the observation keeps the service port the checks judge."""
    wire = port if wire is None else wire
    if session is not None and session.address != address:
        raise ValueError(f"{session!r} holds no connections to {address}")
    key = ("tcp", address, port) if wire == port else ("tcp", address, port, wire)
    return await ctx.once(key, lambda: _connect(ctx, address, port, session, wire))


async def _connect(
    ctx: ProbeContext, address: str, port: int, session: AddressSession | None, wire: int
) -> TcpProbe:
    mapped = "" if wire == port else f"port {port} mapped to {wire}"
    refusal = ctx.guard.refusal(address)
    if refusal:
        return TcpProbe(address, port, Outcome.BLOCKED, detail=refusal)
    unreachable = ctx.unreachable_family(address)
    if unreachable:
        return TcpProbe(address, port, Outcome.SKIPPED, detail=unreachable)
    async with ctx.address_slot(address):
        ctx.stats["connections"] += 1
        start = time.perf_counter()
        try:
            with anyio.fail_after(ctx.options.timeout):
                # a kept connection becomes the HTTP probe's (anyio SocketStream); one
                # closed at once needs no transport
                stream = await (connect_raw if session is None else connect_literal)(address, wire)
        except TimeoutError:
            ctx.stats["tcp_timeouts"] += 1
            detail = "no answer before the timeout"
            return TcpProbe(address, port, Outcome.TIMEOUT, detail=_with(detail, mapped))
        except OSError as exc:
            outcome, detail = classify_os_error(exc)
            if outcome == Outcome.UNREACHABLE and failed_for_no_local_route(exc, address):
                # the scanner's own routing table has no way there: nothing was sent, so
                # nothing is known about the remote host (auditor.selfcheck)
                return TcpProbe(address, port, Outcome.SKIPPED, detail=no_route_reason(address))
            return TcpProbe(address, port, outcome, detail=_with(detail, mapped))
        rtt = (time.perf_counter() - start) * 1000
        # Spares are keyed by the port connected: what the HTTP probe asks for.
        if session is None or not session.park_spare(wire, stream):
            await stream.aclose()
    return TcpProbe(address, port, Outcome.OPEN, detail=mapped, rtt_ms=round(rtt, 2))


def _with(detail: str, mapped: str) -> str:
    return f"{detail} ({mapped})" if mapped else detail
