"""A lean HTTP/1.1 client for the per-address probes: h11 on an anyio stream.

The HTTP probe asks each address of each host for three fixed URLs (``http://host/``,
``https://host/`` and security.txt), pinned to a literal address with Host and SNI set,
redirects never followed blindly. httpx did this through its client, transport, connection
pool, auth and redirect layers and httpcore's events: at province scale that was the
largest share of a scan's CPU (bench/README.md, "Profile and fixes"), about 7 ms per
address. The protocol itself is still a library's job: h11 (the state machine inside
httpcore) parses and frames every message; this module only connects, feeds h11 bytes
under a timeout and caps what it reads. httpx stays the client where a general one fits
(MTA-STS policies, fetched by name with full verification).

Everything here raises; :func:`auditor.probes.http.classify_http_error` turns the errors
into observations.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
import h11
from anyio.abc import ByteStream, SocketAttribute, SocketStream
from anyio.streams.tls import TLSAttribute, TLSStream

from auditor.probes.sockets import connect_literal, idle_socket_alive
from auditor.probes.tls_tickets import TicketsSeen, tickets_seen

READ_SIZE = 64 * 1024
# h11 refuses a header section (or chunk header) larger than this: what httpcore allowed
# (100 KiB), so a big but legal header section is still read and then truncated to
# ScanOptions.max_header_bytes by the probe; beyond it the answer is "too large".
MAX_INCOMPLETE_EVENT = 100 * 1024


class ServerDisconnected(Exception):
    """The peer closed the connection before the first byte of a response."""


@dataclass(frozen=True)
class Head:
    """Status line and header section of one response (names as sent, order kept)."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    http_version: str

    def get(self, name: str, default: str = "") -> str:
        """The first field called ``name`` (case-insensitive), latin-1 decoded."""
        key = name.lower().encode("ascii")
        for n, v in self.headers:
            if n.lower() == key:
                return v.decode("latin-1")
        return default


class Connection:
    """One HTTP/1.1 connection to one literal address, plain or TLS.

    Use: ``head = await conn.request(...)``, then ``async for chunk in conn.body()``
    (raw, not decoded), then :meth:`reusable` says whether another request may follow.
    Every read and write is bounded by ``timeout`` seconds; the caller bounds the whole.
    """

    def __init__(self, stream: ByteStream, raw: socket.socket | None, timeout: float) -> None:
        self.stream = stream
        self.timeout = timeout
        self.opened = time.monotonic()
        self._raw = raw
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_INCOMPLETE_EVENT)
        self._closed = False

    @classmethod
    async def open(
        cls,
        address: str,
        port: int,
        timeout: float,
        *,
        ssl_context: ssl.SSLContext | None = None,
        sni: str | None = None,
        connected: SocketStream | None = None,
    ) -> Connection:
        """Connect (and handshake) within ``timeout`` each; the stream is closed on error.
        ``connected``: an already connected stream to use instead of a new connection."""
        if connected is not None:
            tcp = connected
        else:
            with anyio.fail_after(timeout):
                tcp = await connect_literal(address, port)
        raw: socket.socket | None = None
        try:
            raw = tcp.extra(SocketAttribute.raw_socket)
        except Exception:  # pragma: no cover - every anyio socket stream has one
            raw = None
        if ssl_context is None:
            return cls(tcp, raw, timeout)
        try:
            with anyio.fail_after(timeout):
                tls = await TLSStream.wrap(
                    tcp, hostname=sni, ssl_context=ssl_context, standard_compatible=False
                )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await tcp.aclose()
            raise
        return cls(tls, raw, timeout)

    def verified_chain(self) -> list[bytes] | None:
        """DER certificates of the chain OpenSSL verified (leaf first, trust anchor last),
        or None (plain connection, no verification, or a Python without the accessor:
        ``SSLObject.get_verified_chain`` is public from 3.13, and the C object has it
        from 3.10)."""
        if not isinstance(self.stream, TLSStream):
            return None
        sslobj = self.stream.extra(TLSAttribute.ssl_object)
        getter = getattr(sslobj, "get_verified_chain", None)
        if getter is None:
            getter = getattr(getattr(sslobj, "_sslobj", None), "get_verified_chain", None)
        if getter is None:
            return None
        try:
            chain = getter()
        except (ssl.SSLError, ValueError):
            return None
        out: list[bytes] = []
        for cert in chain or ():
            if isinstance(cert, bytes):
                out.append(cert)
            else:
                out.append(cert.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
        return out

    def tls_facts(self) -> tuple[str, str] | None:
        """(OpenSSL protocol version, cipher name) of a TLS connection, else None."""
        if not isinstance(self.stream, TLSStream):
            return None
        sslobj = self.stream.extra(TLSAttribute.ssl_object)
        cipher = sslobj.cipher()
        return (sslobj.version() or "", cipher[0] if cipher else "")

    def tickets(self) -> TicketsSeen | None:
        """The TLS 1.3 session tickets this connection received so far (tls_tickets)."""
        if not isinstance(self.stream, TLSStream):
            return None
        return tickets_seen(self.stream.extra(TLSAttribute.ssl_object))

    async def _send(self, event: h11.Event) -> None:
        data = self._h11.send(event)
        if data:
            with anyio.fail_after(self.timeout):
                await self.stream.send(data)

    async def _next_event(self) -> h11.Event | type[h11.PAUSED]:
        while True:
            event = self._h11.next_event()
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            try:
                with anyio.fail_after(self.timeout):
                    data = await self.stream.receive(READ_SIZE)
            except anyio.EndOfStream:
                data = b""
            if not data and self._h11.their_state is h11.SEND_RESPONSE:
                # what httpcore says too: clearer than h11's "can't handle ConnectionClosed"
                raise ServerDisconnected("Server disconnected without sending a response.")
            self._h11.receive_data(data)

    async def request(self, target: str, headers: list[tuple[str, str]]) -> Head:
        """Send ``GET target`` (no body) and read up to the end of the response head."""
        await self._send(h11.Request(method="GET", target=target, headers=headers))
        await self._send(h11.EndOfMessage())
        while True:
            event = await self._next_event()
            if isinstance(event, h11.InformationalResponse):
                continue  # 1xx: the real answer follows (RFC 9110 sec. 15.2)
            if isinstance(event, h11.Response):
                return Head(
                    status=event.status_code,
                    headers=tuple(event.headers.raw_items()),
                    http_version="HTTP/" + event.http_version.decode("ascii", "replace"),
                )
            raise h11.RemoteProtocolError(f"unexpected {type(event).__name__} before a response")

    async def body(self) -> AsyncIterator[bytes]:
        """The response body as sent (chunked framing removed, content coding kept)."""
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return
            else:  # pragma: no cover - h11 yields nothing else inside a response
                raise h11.RemoteProtocolError(f"unexpected {type(event).__name__} in a body")

    def reusable(self) -> bool:
        """The response was read to its end and both sides keep the connection open."""
        if self._closed:
            return False
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            return True
        return self._h11.our_state is h11.IDLE and self._h11.their_state is h11.IDLE

    def looks_alive(self) -> bool:
        """An idle connection the server has not closed (nor written to) since."""
        if self._closed or self._raw is None:
            return not self._closed
        return idle_socket_alive(self._raw)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(Exception):  # a broken connection: nothing to learn
                await self.stream.aclose()


__all__ = ["MAX_INCOMPLETE_EVENT", "Connection", "Head", "ServerDisconnected"]
