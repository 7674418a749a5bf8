"""TCP connect to literal addresses, failures classified."""

from __future__ import annotations

import errno
import time

import anyio

from auditor.obs.core import Outcome, TcpProbe
from auditor.probes.context import ProbeContext

_UNREACHABLE = {
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.EADDRNOTAVAIL,
    errno.EHOSTDOWN,
    errno.ENETDOWN,
    errno.EACCES,  # ICMP administratively prohibited
    errno.EPERM,
}


def classify_os_error(exc: BaseException) -> tuple[str, str]:
    """Map a socket error to (outcome, detail). anyio wraps the real error in __cause__."""
    inner: BaseException = exc
    while not getattr(inner, "errno", None) and inner.__cause__ is not None:
        inner = inner.__cause__
    code = getattr(inner, "errno", None)
    detail = f"{type(inner).__name__}: {inner}"
    if isinstance(inner, TimeoutError) and code is None:
        return Outcome.TIMEOUT, "no answer before the timeout"
    if code == errno.ECONNREFUSED:
        return Outcome.REFUSED, "connection refused (TCP RST)"
    if code in (errno.ECONNRESET, errno.EPIPE):
        return Outcome.RESET, "connection reset by peer"
    if code == errno.ETIMEDOUT:
        return Outcome.TIMEOUT, "connection timed out"
    if code in _UNREACHABLE:
        return Outcome.UNREACHABLE, f"unreachable ({errno.errorcode.get(code, code)})"
    return Outcome.ERROR, detail


async def tcp_connect(ctx: ProbeContext, address: str, port: int) -> TcpProbe:
    """Connect once (cached per scan) and close at once; the connect is the observation."""
    return await ctx.once(("tcp", address, port), lambda: _connect(ctx, address, port))


async def _connect(ctx: ProbeContext, address: str, port: int) -> TcpProbe:
    refusal = ctx.guard.refusal(address)
    if refusal:
        return TcpProbe(address, port, Outcome.BLOCKED, detail=refusal)
    async with ctx.address_slot(address):
        ctx.stats["connections"] += 1
        start = time.perf_counter()
        try:
            with anyio.fail_after(ctx.options.timeout):
                stream = await anyio.connect_tcp(address, port)
        except TimeoutError:
            return TcpProbe(address, port, Outcome.TIMEOUT, detail="no answer before the timeout")
        except OSError as exc:
            outcome, detail = classify_os_error(exc)
            return TcpProbe(address, port, outcome, detail=detail)
        rtt = (time.perf_counter() - start) * 1000
        await stream.aclose()
    return TcpProbe(address, port, Outcome.OPEN, rtt_ms=round(rtt, 2))
