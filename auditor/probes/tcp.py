"""TCP connect to literal addresses, failures classified."""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

import anyio
import sniffio
from anyio.abc import ByteStream, SocketAttribute, SocketStream

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


def _no_local_route(exc: BaseException, address: str) -> bool:
    """ENETUNREACH may come from the local routing table (nothing sent) or from a router's
    ICMP "no route" on the way; a UDP connect() asks the table alone (sends nothing)."""
    inner: BaseException = exc
    while not getattr(inner, "errno", None) and inner.__cause__ is not None:
        inner = inner.__cause__
    if getattr(inner, "errno", None) != errno.ENETUNREACH:
        return False
    from auditor.selfcheck import no_local_route

    return no_local_route(address)


async def connect_literal(address: str, port: int) -> SocketStream:
    """Connect to a literal IPv4/IPv6 address: what ``anyio.connect_tcp`` does for one
    address, without its Happy Eyeballs machinery (a task group, events, an address lookup),
    which cost about twice the CPU of the connect itself; probes open ~30 connections per
    host. Errors are the socket's own OSError (see :func:`classify_os_error`); the caller
    bounds it with a timeout."""
    if sniffio.current_async_library() != "asyncio":
        return await anyio.connect_tcp(address, port)
    sock = await _connected_socket(address, port)
    try:
        return await SocketStream.from_socket(sock)
    except BaseException:
        sock.close()
        raise


async def _connected_socket(address: str, port: int) -> socket.socket:
    """A non-blocking TCP socket connected to a literal address (asyncio), closed on error."""
    import asyncio

    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.get_running_loop().sock_connect(sock, (address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def idle_socket_alive(sock: socket.socket) -> bool:
    """An idle connection the peer has not closed nor written to: its socket is not
    readable (what httpcore checks before reusing a pooled connection). A readable idle
    socket means EOF, a reset or junk."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class RawSocketStream(ByteStream):
    """A connected non-blocking socket driven by the event loop's sock_* calls.

    For the TLS probe's short exchanges (one hello out, one flight back, close): no
    transport, protocol and buffer queue per connection as anyio's SocketStream builds,
    which cost more than the exchange itself on ~20 hello connections per host. Errors
    follow anyio's streams: EndOfStream at EOF, ClosedResourceError after aclose, the
    socket's OSError otherwise (classify_os_error). Cancellation (anyio timeouts) removes
    the pending reader/writer (asyncio's sock_recv/sock_sendall do)."""

    def __init__(self, sock: socket.socket) -> None:
        import asyncio

        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._closed = False

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        return {SocketAttribute.raw_socket: lambda: self._sock}

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if self._closed:
            raise anyio.ClosedResourceError
        data = await self._loop.sock_recv(self._sock, max_bytes)
        if not data:
            raise anyio.EndOfStream
        return data

    async def send(self, item: bytes) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        await self._loop.sock_sendall(self._sock, item)

    async def send_eof(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    async def aclose(self) -> None:
        self.close_now()

    def close_now(self) -> None:
        """Close without awaiting (so without a shielded cancel scope in a finally)."""
        if not self._closed:
            self._closed = True
            self._sock.close()


async def connect_raw(address: str, port: int) -> ByteStream:
    """Like :func:`connect_literal`, as a :class:`RawSocketStream` (asyncio only)."""
    if sniffio.current_async_library() != "asyncio":
        return await anyio.connect_tcp(address, port)
    return RawSocketStream(await _connected_socket(address, port))


async def tcp_connect(
    ctx: ProbeContext, address: str, port: int, *, keep: bool = False, wire: int | None = None
) -> TcpProbe:
    """Connect once (cached per scan); the connect is the observation. The connection is
    closed at once, or with ``keep`` parked for the HTTP probe (ProbeContext.park_spare).
    ``wire``: the port actually connected when the service ``port`` is mapped
    (ScanOptions.port_map); the observation keeps the service port the checks judge."""
    wire = port if wire is None else wire
    key = ("tcp", address, port) if wire == port else ("tcp", address, port, wire)
    return await ctx.once(key, lambda: _connect(ctx, address, port, keep, wire))


async def _connect(
    ctx: ProbeContext, address: str, port: int, keep: bool = False, wire: int | None = None
) -> TcpProbe:
    wire = port if wire is None else wire
    mapped = "" if wire == port else f"port {port} mapped to {wire}"
    refusal = ctx.guard.refusal(address)
    if refusal:
        return TcpProbe(address, port, Outcome.BLOCKED, detail=refusal)
    vantage = ctx.unreachable_family(address)
    if vantage:
        return TcpProbe(address, port, Outcome.SKIPPED, detail=vantage)
    async with ctx.address_slot(address):
        ctx.stats["connections"] += 1
        start = time.perf_counter()
        try:
            with anyio.fail_after(ctx.options.timeout):
                # a kept connection becomes the HTTP probe's (anyio SocketStream); one
                # closed at once needs no transport
                stream = await (connect_literal if keep else connect_raw)(address, wire)
        except TimeoutError:
            ctx.stats["tcp_timeouts"] += 1
            detail = "no answer before the timeout"
            return TcpProbe(address, port, Outcome.TIMEOUT, detail=_with(detail, mapped))
        except OSError as exc:
            outcome, detail = classify_os_error(exc)
            if outcome == Outcome.UNREACHABLE and _no_local_route(exc, address):
                # the scanner's own routing table has no way there: nothing was sent, so
                # nothing is known about the remote host (auditor.selfcheck)
                from auditor.selfcheck import no_route_reason

                return TcpProbe(address, port, Outcome.SKIPPED, detail=no_route_reason(address))
            return TcpProbe(address, port, outcome, detail=_with(detail, mapped))
        rtt = (time.perf_counter() - start) * 1000
        # Spares are keyed by the port connected: what the HTTP probe asks for.
        if not (keep and ctx.park_spare(address, wire, stream)):
            await stream.aclose()
    return TcpProbe(address, port, Outcome.OPEN, detail=mapped, rtt_ms=round(rtt, 2))


def _with(detail: str, mapped: str) -> str:
    return f"{detail} ({mapped})" if mapped else detail
