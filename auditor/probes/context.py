"""Per-scan probing context: limits, the probe cache, the resolver, counters.

One ``ProbeContext`` lives for one scan. It guarantees two promises of the
design: each (kind, address, port) is probed once per scan and shared by all
checks (``once``), and connections per remote address stay within a small
limit (``address_slot``) because government firewalls drop bursts.
"""

from __future__ import annotations

import contextlib
import ssl
import time
import warnings
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio

from auditor.guard import AddressGuard
from auditor.options import ScanOptions

T = TypeVar("T")

SPARE_TTL = 2.0  # seconds a reachability probe's connection waits for the HTTP probe


def _idle_alive(stream: Any) -> bool:
    from anyio.abc import SocketAttribute

    from auditor.probes.tcp import idle_socket_alive

    try:
        sock = stream.extra(SocketAttribute.raw_socket)
    except Exception:
        return False
    return idle_socket_alive(sock)


@dataclass
class _Handshake:
    event: anyio.Event = field(default_factory=anyio.Event)
    result: tuple[str, str] | None = None


@dataclass
class _Pending:
    event: anyio.Event = field(default_factory=anyio.Event)
    value: Any = None
    done: bool = False


class ProbeContext:
    def __init__(self, options: ScanOptions) -> None:
        self.options = options
        self.guard = AddressGuard.build(options.allow_nets, options.allow_private)
        self._address_limiters: dict[str, anyio.Semaphore] = {}
        self._pending: dict[Hashable, _Pending] = {}
        # Finished probes, least recently used first. Bounded so memory stays flat in the
        # number of targets: what many targets share (name servers, MX hosts, CDN hosts) is
        # asked again and again and stays; one host's own TLS and HTTP results age out.
        self._done: OrderedDict[Hashable, Any] = OrderedDict()
        # Counters for benchmarks and reports: connections, dns_queries, ...
        self.stats: Counter[str] = Counter()
        self._dns: Any = None  # auditor.probes.dns.DnsClient, built lazily
        self._trust: ssl.SSLContext | None = None
        self._lenient_trust: ssl.SSLContext | None = None
        # The HTTP probe's TLS handshake, offered to the TLS probe of the same address,
        # port and SNI (expect_handshake / offer_handshake / shared_handshake).
        self._handshakes: dict[tuple[str, int, str], _Handshake] = {}
        # Connections the TCP reachability probe made and left open for the HTTP probe
        # (see park_spare): (address, port) -> (stream, monotonic time parked).
        self._spares: dict[tuple[str, int], tuple[Any, float]] = {}
        self._closing: list[Any] = []
        # The scanner's footing during the scan (auditor.selfcheck.Vantage), or None: a
        # family it cannot reach is not probed, names its resolver cannot resolve not asked.
        self.vantage: Any = None

    # -- the scanner's own footing ------------------------------------------------------
    def unreachable_family(self, address: str) -> str | None:
        """Why ``address`` is not probed: the scanner has no connectivity of its family."""
        return self.vantage.skip_address(address) if self.vantage is not None else None

    def resolver_down_for(self, name: str) -> str | None:
        """Why ``name`` is not looked up: the scanner's resolver cannot resolve it."""
        return self.vantage.skip_name(name) if self.vantage is not None else None

    # -- limits -------------------------------------------------------------
    @asynccontextmanager
    async def address_slot(self, address: str) -> AsyncIterator[None]:
        """Hold one of the per-address connection slots while talking to ``address``."""
        limiter = self._address_limiters.get(address)
        if limiter is None:
            # fast_acquire: no scheduling checkpoint when a slot is free (the caller does
            # I/O right away); ~20 slots are taken per host, so the checkpoint showed.
            limiter = anyio.Semaphore(self.options.per_address, fast_acquire=True)
            self._address_limiters[address] = limiter
        async with limiter:
            yield

    # -- one OpenSSL handshake per address ------------------------------------------
    def expect_handshake(self, address: str, port: int, sni: str) -> None:
        """The HTTP probe will connect with TLS to (address, port) with this SNI while the
        TLS probe runs: the TLS probe may take that handshake's result instead of making
        its own (same client settings: :func:`lenient`). Saves an OpenSSL handshake and a
        connection per address, ~7 % of a full scan's CPU."""
        self._handshakes.setdefault((address, port, sni), _Handshake())

    def offer_handshake(self, address: str, port: int, sni: str, version: str, cipher: str) -> None:
        """A handshake completed (OpenSSL's version and cipher names)."""
        h = self._handshakes.get((address, port, sni))
        if h is not None and not h.event.is_set():
            h.result = (version, cipher)
            h.event.set()

    def abandon_handshake(self, address: str, port: int, sni: str) -> None:
        """The HTTP probe is done without a completed handshake to offer."""
        h = self._handshakes.get((address, port, sni))
        if h is not None:
            h.event.set()

    async def shared_handshake(self, address: str, port: int, sni: str) -> tuple[str, str] | None:
        """(version, cipher) of the HTTP probe's completed handshake, or None: nothing was
        expected, or it did not complete (the TLS probe then classifies the failure with
        its own handshake)."""
        h = self._handshakes.get((address, port, sni))
        if h is None:
            return None
        await h.event.wait()
        return h.result

    def forget_handshake(self, address: str, port: int, sni: str) -> None:
        h = self._handshakes.pop((address, port, sni), None)
        if h is not None:
            h.event.set()  # nobody may wait on a forgotten one

    # -- spare connections -----------------------------------------------------
    def park_spare(self, address: str, port: int, stream: Any) -> bool:
        """Keep the reachability probe's open connection for the HTTP probe of the same
        address and port, which starts right after: one TCP handshake fewer per port, as
        a browser's preconnect. Like an idle keep-alive connection it holds no
        per-address slot; it lives at most SPARE_TTL seconds and is closed with its host
        (:meth:`drop_spares`). Returns False (caller closes) when one is parked already."""
        key = (address, port)
        if key in self._spares:
            return False
        self._spares[key] = (stream, time.monotonic())
        return True

    def take_spare(self, address: str, port: int) -> Any | None:
        """The parked connection to (address, port) if fresh and not closed by the peer
        (an idle socket that became readable got a FIN or junk), else None. A caller
        that gets one must retry on a new connection if it fails before the first byte
        of an answer (the peer may close an idle connection at any time)."""
        item = self._spares.pop((address, port), None)
        if item is None:
            return None
        stream, parked = item
        if time.monotonic() - parked > SPARE_TTL or not _idle_alive(stream):
            self._closing.append(stream)
            return None
        return stream

    async def drop_spares(self, addresses: Iterable[str] = ()) -> None:
        """Close the unused spare connections of ``addresses`` (all when empty) and any
        stale ones found by :meth:`take_spare`."""
        wanted = set(addresses)
        for key in [k for k in self._spares if not wanted or k[0] in wanted]:
            self._closing.append(self._spares.pop(key)[0])
        closing, self._closing = self._closing, []
        with anyio.CancelScope(shield=True):
            for stream in closing:
                with contextlib.suppress(Exception):
                    await stream.aclose()

    # -- probe cache ----------------------------------------------------------
    async def once(self, key: Hashable, factory: Callable[[], Awaitable[T]]) -> T:
        """Run ``factory`` once per scan for ``key``; concurrent callers share the result.

        Finished results are kept in a bounded LRU (``ScanOptions.probe_cache_entries``):
        a result evicted and asked for again much later is probed again.
        """
        if key in self._done:
            self._done.move_to_end(key)
            return self._done[key]  # type: ignore[no-any-return]
        pending = self._pending.get(key)
        if pending is not None:
            await pending.event.wait()
            if pending.done:
                return pending.value  # type: ignore[no-any-return]
            if key in self._done:  # pragma: no cover - finished by another caller meanwhile
                return self._done[key]  # type: ignore[no-any-return]
        pending = _Pending()
        self._pending[key] = pending
        try:
            value = await factory()
        except BaseException:
            # Cancelled or crashed: let a later caller try again.
            self._pending.pop(key, None)
            pending.event.set()
            raise
        pending.value = value
        pending.done = True
        self._pending.pop(key, None)
        self._done[key] = value
        if len(self._done) > self.options.probe_cache_entries:
            self._done.popitem(last=False)
            self.stats["probe_cache_evictions"] += 1
        pending.event.set()
        return value

    def forget(self, prefix: Hashable) -> None:
        """Drop cached probes whose key starts with ``prefix`` (bench and tests)."""
        for key in [k for k in self._done if isinstance(k, tuple) and k and k[0] == prefix]:
            del self._done[key]

    # -- DNS --------------------------------------------------------------------
    @property
    def dns(self) -> Any:
        if self._dns is None:
            from auditor.probes.dns import DnsClient

            self._dns = DnsClient(self.options, self.stats)
        return self._dns

    # -- TLS trust ----------------------------------------------------------------
    # Loading the system trust store costs milliseconds of CPU on the event loop (it was the
    # top entry of a scan profile); an SSLContext is safe to share, so build each kind once.
    def trust_context(self) -> ssl.SSLContext:
        """A verifying context: the system store plus --ca-file (and SSL_CERT_FILE). Shared:
        do not modify it; use :meth:`lenient_trust_context` for weak servers."""
        if self._trust is None:
            self._trust = self._new_trust_context()
        return self._trust

    def lenient_trust_context(self) -> ssl.SSLContext:
        """Verifying, but willing to talk to weak servers (old protocols, @SECLEVEL=0), so a
        weakness is observed and judged by the checks instead of hiding as an error."""
        if self._lenient_trust is None:
            self._lenient_trust = lenient(self._new_trust_context())
        return self._lenient_trust

    def unverified_context(self) -> ssl.SSLContext:
        """No verification at all (the TLS family judges certificates), lenient."""
        return permissive_context()

    def _new_trust_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if self.options.ca_file:
            ctx.load_verify_locations(cafile=self.options.ca_file)
        return ctx


def lenient(ctx: ssl.SSLContext) -> ssl.SSLContext:
    """Accept every protocol version and cipher the local OpenSSL still has, and servers
    without RFC 5746 secure renegotiation: weak servers must still answer, so a weakness
    is observed and judged by the checks instead of hiding as an error. The TLS probe's
    permissive handshake (tls.available) and the HTTP probe use the very same settings, so
    the HTTP probe's handshake can stand for the TLS probe's (ProbeContext.offer_handshake).
    """
    with warnings.catch_warnings(), contextlib.suppress(ssl.SSLError, ValueError):
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated is what we look for
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with contextlib.suppress(ssl.SSLError):  # a build without these knobs: its defaults
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.options |= _OP_LEGACY_SERVER_CONNECT
    return ctx


# OpenSSL's SSL_OP_LEGACY_SERVER_CONNECT (Python 3.12 exports it as ssl.OP_LEGACY_SERVER_CONNECT):
# still connect to servers without RFC 5746 secure renegotiation, to observe them.
_OP_LEGACY_SERVER_CONNECT = getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0x4)
_PERMISSIVE: ssl.SSLContext | None = None


def permissive_context() -> ssl.SSLContext:
    """No verification at all, lenient (one per process: a context is safe to share)."""
    global _PERMISSIVE
    if _PERMISSIVE is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        _PERMISSIVE = lenient(ctx)
    return _PERMISSIVE
