"""What the probes of one (host, address) share: spare connections and a TLS handshake.

The engine makes one :class:`AddressSession` per (host, address) it probes, hands it to the
TCP reachability, HTTP and TLS probes of that address, and closes it when the host is done
(also when the target deadline cut it short). Two speed-ups live here, each with its
guarantees, so they are not spread over the probes:

- **spare connections** (keyed by the port connected, ScanOptions.port_map's wire port):
  the reachability probe's open connections to 80 and 443 are parked for the HTTP probe's
  first request, as a browser's preconnect: one TCP handshake fewer per port. A spare is
  checked for EOF (and its age, :data:`SPARE_TTL`) before it is handed out; the HTTP probe
  retries on a new connection when a spare dies before its answer; unused spares are closed
  with the session. Only the HTTP probe takes spares: the TLS probe's hellos each need a
  fresh connection of their own and never see them.
- **the shared TLS handshake** (keyed by the service port): the HTTP probe's first completed
  handshake to the address, with the host as SNI and the TLS probe's client settings
  (auditor.probes.context.lenient), stands for the TLS probe's own, which it would make at
  the same moment: one OpenSSL handshake and one connection fewer per address. The TLS probe
  waits for it only when the engine said one is coming (:meth:`expect_handshake`); the HTTP
  probe always says when it is done without one (:meth:`abandon_handshake`), and closing
  the session releases any waiter, so the TLS probe is never left waiting.
- **the shared handshake's session tickets**: after the first answer on the connection of
  that handshake the HTTP probe offers the TLS 1.3 tickets it received
  (auditor.probes.tls_tickets), so the 0-RTT probe needs no connection of its own to learn
  that they allow no early data; released like the handshake.

Pure asyncio bookkeeping: nothing here opens a connection.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from auditor.probes.sockets import idle_stream_alive
from auditor.probes.tls_tickets import TicketsSeen

SPARE_TTL = 2.0  # seconds a reachability probe's connection waits for the HTTP probe


@dataclass
class _Handshake:
    event: anyio.Event = field(default_factory=anyio.Event)
    result: tuple[str, str] | None = None
    tickets_event: anyio.Event = field(default_factory=anyio.Event)
    tickets: TicketsSeen | None = None


class AddressSession:
    """The shared state of one (host, address) while its probes run; see the module doc."""

    def __init__(
        self, host: str, address: str, *, alive: Callable[[Any], bool] = idle_stream_alive
    ) -> None:
        self.host = host
        self.address = address
        self._alive = alive  # is a parked stream still open and unread (peer sent no FIN)?
        # wire port -> (stream, monotonic time parked)
        self._spares: dict[int, tuple[Any, float]] = {}
        self._closing: list[Any] = []  # spares found stale by take_spare, closed in aclose
        # service port -> the HTTP probe's handshake, once the engine expects one
        self._handshakes: dict[int, _Handshake] = {}
        self._closed = False

    def __repr__(self) -> str:
        return f"AddressSession({self.host!r}, {self.address!r})"

    @property
    def closed(self) -> bool:
        return self._closed

    # -- spare connections -----------------------------------------------------------------
    def park_spare(self, wire: int, stream: Any) -> bool:
        """Keep the reachability probe's open connection to ``wire`` for the HTTP probe.
        Like an idle keep-alive connection it holds no per-address slot; it lives at most
        SPARE_TTL seconds and is closed with the session. False (the caller closes the
        stream) when one is parked already or the session is closed."""
        if self._closed or wire in self._spares:
            return False
        self._spares[wire] = (stream, time.monotonic())
        return True

    def take_spare(self, wire: int) -> Any | None:
        """The parked connection to ``wire`` if fresh and not closed by the peer (an idle
        socket that became readable got a FIN or junk), else None; taken once. A caller
        that gets one must retry on a new connection if it fails before the first byte of
        an answer (the peer may close an idle connection at any time)."""
        item = self._spares.pop(wire, None)
        if item is None:
            return None
        stream, parked = item
        if time.monotonic() - parked > SPARE_TTL or not self._alive(stream):
            self._closing.append(stream)
            return None
        return stream

    # -- the shared TLS handshake ----------------------------------------------------------
    def expect_handshake(self, port: int) -> None:
        """The HTTP probe will connect with TLS to ``port`` while the TLS probe runs: the
        TLS probe waits for that handshake instead of making its own."""
        if not self._closed:
            self._handshakes.setdefault(port, _Handshake())

    def offer_handshake(self, port: int, version: str, cipher: str) -> bool:
        """A handshake to ``port`` completed (OpenSSL's version and cipher names); the
        first one offered counts (True: this one, whose tickets are awaited too)."""
        h = self._handshakes.get(port)
        if h is not None and not h.event.is_set():
            h.result = (version, cipher)
            h.event.set()
            return True
        return False

    def offer_tickets(self, port: int, seen: TicketsSeen | None) -> None:
        """The tickets the offered handshake's connection received by its first answer
        (None: none, or none that parsed); the first word counts."""
        h = self._handshakes.get(port)
        if h is not None and not h.tickets_event.is_set():
            h.tickets = seen
            h.tickets_event.set()

    def abandon_handshake(self, port: int) -> None:
        """The HTTP probe is done without a completed handshake to ``port`` to offer (or
        without a word on its tickets)."""
        h = self._handshakes.get(port)
        if h is not None:
            h.event.set()
            h.tickets_event.set()

    async def shared_handshake(self, port: int) -> tuple[str, str] | None:
        """(version, cipher) of the HTTP probe's completed handshake to ``port``, or None:
        nothing was expected, it did not complete, or the session was closed (the TLS probe
        then makes its own handshake, which also classifies a failure)."""
        h = self._handshakes.get(port)
        if h is None:
            return None
        await h.event.wait()
        return h.result

    async def shared_tickets(self, port: int) -> TicketsSeen | None:
        """The TLS 1.3 tickets of the shared handshake's connection, or None (nothing was
        expected, none came, or the HTTP probe ended without a word)."""
        h = self._handshakes.get(port)
        if h is None:
            return None
        await h.tickets_event.wait()
        return h.tickets

    def forget_handshakes(self) -> None:
        """Release every waiter and expect nothing more (the address's probes are done)."""
        handshakes, self._handshakes = self._handshakes, {}
        for h in handshakes.values():
            h.event.set()
            h.tickets_event.set()

    # -- the end ---------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Close the spares nobody took (and the stale ones) and release every handshake
        waiter. Shielded: runs when the target deadline cancelled the host."""
        self._closed = True
        self.forget_handshakes()
        closing = [stream for stream, _ in self._spares.values()] + self._closing
        self._spares, self._closing = {}, []
        with anyio.CancelScope(shield=True):
            for stream in closing:
                with contextlib.suppress(Exception):
                    await stream.aclose()


__all__ = ["SPARE_TTL", "AddressSession"]
