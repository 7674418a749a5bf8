"""Sockets to literal addresses: connecting, failure classification, idle liveness.

The bottom of the probe layer: every probe that opens a connection (TCP reachability,
TLS, HTTP, SMTP, DNS, ICMP) and the footing check (auditor.selfcheck) use these helpers.
This module imports nothing of the probes (no ProbeContext, no DNS client) nor of
selfcheck, so none of them can form an import loop through it.
"""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import anyio
import sniffio
from anyio.abc import ByteStream, SocketAttribute, SocketStream

from auditor.obs.core import Outcome

_UNREACHABLE = {
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.EADDRNOTAVAIL,
    errno.EHOSTDOWN,
    errno.ENETDOWN,
    errno.EACCES,  # ICMP administratively prohibited
    errno.EPERM,
}


def _errno_cause(exc: BaseException) -> BaseException:
    """The error that carries the errno: anyio wraps the real one in __cause__."""
    inner: BaseException = exc
    while not getattr(inner, "errno", None) and inner.__cause__ is not None:
        inner = inner.__cause__
    return inner


def classify_os_error(exc: BaseException) -> tuple[str, str]:
    """Map a socket error to (outcome, detail). anyio wraps the real error in __cause__."""
    inner = _errno_cause(exc)
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


# ---------------------------------------------------------------------------------------
# The scanner's own routing table


def no_local_route(address: str) -> bool:
    """Does the kernel have no route to ``address``? A UDP connect() asks the routing table
    and sends nothing (exact and cheap): ENETUNREACH means the scanner itself cannot send
    there, so a failed connect to it says nothing about the remote host."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((address, 9))
    except OSError as exc:
        return exc.errno in (errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)
    return False


def failed_for_no_local_route(exc: BaseException, address: str) -> bool:
    """ENETUNREACH may come from the local routing table (nothing sent) or from a router's
    ICMP "no route" on the way; a UDP connect() asks the table alone (sends nothing)."""
    if getattr(_errno_cause(exc), "errno", None) != errno.ENETUNREACH:
        return False
    return no_local_route(address)


def no_route_reason(address: str) -> str:
    """Why an address is not judged when the scanner's own table has no route there."""
    family = "IPv6" if ":" in address else "IPv4"
    return (
        f"the scanner has no route to {address} (its {family} routing table has none toward "
        "that network): the address cannot be judged from this scanner"
    )


# ---------------------------------------------------------------------------------------
# Connecting


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


async def wait_socket(sock: socket.socket, readable: bool, deadline: float, what: str) -> None:
    """Until ``sock`` is readable (writable), or TimeoutError at ``deadline`` (monotonic):
    the event loop's wait for the non-blocking OpenSSL probes (tls_reneg, tls_early)."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(f"{what}: no answer before the timeout")
    with anyio.move_on_after(left) as scope:
        await (anyio.wait_readable if readable else anyio.wait_writable)(sock)
    if scope.cancelled_caught:
        raise TimeoutError(f"{what}: no answer before the timeout")


def idle_socket_alive(sock: socket.socket) -> bool:
    """An idle connection the peer has not closed nor written to: its socket is not
    readable (what httpcore checks before reusing a pooled connection). A readable idle
    socket means EOF, a reset or junk."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def idle_stream_alive(stream: Any) -> bool:
    """:func:`idle_socket_alive` for an anyio stream (False when it has no socket)."""
    try:
        sock = stream.extra(SocketAttribute.raw_socket)
    except Exception:
        return False
    return idle_socket_alive(sock)


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


# The TLS probes' connection seam: what opens the connections of auditor/probes/tls.py and
# tls_depth.py (a connected stream at the point where the ClientHello goes out). Unset, a
# plain TCP connection (HTTPS, port 443); the STARTTLS probe (auditor/probes/starttls.py)
# sets it, for the duration of one probe of one MX address, to a dialer that speaks the
# SMTP preamble first (RFC 3207). A context variable follows the probe into the tasks it
# starts, so the TLS probes' code stays the same for both.
TlsDialer = Callable[[str, int], Awaitable[ByteStream]]
TLS_DIALER: ContextVar[TlsDialer | None] = ContextVar("tls_dialer", default=None)


async def connect_for_tls(address: str, port: int) -> ByteStream:
    """The connection a TLS probe speaks its hello on: :func:`connect_raw`, or the
    preamble dialer in effect (:data:`TLS_DIALER`). Its errors are OSError as connect's."""
    dialer = TLS_DIALER.get()
    if dialer is None:
        return await connect_raw(address, port)
    return await dialer(address, port)


def note_served_chain(ders: Sequence[bytes]) -> None:
    """The TLS probe's served chain, handed to the dialer in effect when it asks for it (a
    ``served_chain`` method: the STARTTLS probe keeps it for DANE matching, RFC 6698)."""
    sink = getattr(TLS_DIALER.get(), "served_chain", None)
    if sink is not None:
        sink(tuple(ders))


__all__ = [
    "TLS_DIALER",
    "RawSocketStream",
    "TlsDialer",
    "classify_os_error",
    "connect_for_tls",
    "connect_literal",
    "connect_raw",
    "failed_for_no_local_route",
    "idle_socket_alive",
    "idle_stream_alive",
    "no_local_route",
    "no_route_reason",
    "note_served_chain",
]
