"""Per-scan probing context: limits, the probe cache, the resolver, counters.

One ``ProbeContext`` lives for one scan. It guarantees two promises of the
design: each (kind, address, port) is probed once per scan and shared by all
checks (``once``), and connections per remote address stay within a small
limit (``address_slot``, an :class:`~auditor.probes.limits.AddressLimiter`) because
government firewalls drop bursts.

What the probes of one (host, address) share (spare connections, the TLS handshake) is not
here but in an :class:`~auditor.probes.session.AddressSession` the engine owns.
"""

from __future__ import annotations

import contextlib
import ssl
import warnings
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio

from auditor.guard import AddressGuard
from auditor.options import ScanOptions
from auditor.probes.dns import DnsClient
from auditor.probes.limits import AddressLimiter, LocalAddressLimiter

# The resolver client and the limiter sit below the context (neither imports it back):
# auditor.probes.sockets < dns < context < the probes.
from auditor.probes.tls_tickets import watch_tickets

T = TypeVar("T")


@dataclass
class _Pending:
    event: anyio.Event = field(default_factory=anyio.Event)
    value: Any = None
    done: bool = False


class ProbeContext:
    def __init__(self, options: ScanOptions, *, limiter: AddressLimiter | None = None) -> None:
        self.options = options
        self.guard = AddressGuard.build(options.allow_nets, options.allow_private)
        # The per-address politeness limit: in this process unless the caller shares one
        # across processes (auditor.probes.limits).
        if limiter is None:
            limiter = LocalAddressLimiter(options.per_address)
        self.limiter: AddressLimiter = limiter
        # Addresses talked to one connection at a time whatever per_address says (mail
        # exchangers: anti-spam gateways punish parallel connections), see serialise().
        self._serial: dict[str, anyio.Semaphore] = {}
        self._pending: dict[Hashable, _Pending] = {}
        # Finished probes, least recently used first. Bounded so memory stays flat in the
        # number of targets: what many targets share (name servers, MX hosts, CDN hosts) is
        # asked again and again and stays; one host's own TLS and HTTP results age out.
        self._done: OrderedDict[Hashable, Any] = OrderedDict()
        # Counters for benchmarks and reports: connections, dns_queries, ...
        self.stats: Counter[str] = Counter()
        self._dns: DnsClient | None = None  # built on first use
        self._trust: ssl.SSLContext | None = None
        self._lenient_trust: ssl.SSLContext | None = None
        # The scanner's footing during the scan (auditor.selfcheck.FootingWatch), or None: a
        # family it cannot reach is not probed, names its resolver cannot resolve not asked.
        # (Not the scan's vantage point, which is where the scanner stands: a shard's.)
        self.footing_watch: Any = None
        # The scan's RPKI tables (auditor.probes.routing.TablesOnce): a --rpki-vrps URL is
        # fetched once per scan, by the first lookup.
        self._routing_once: Any = None

    def routing_once(self) -> Any:
        """The scan's :class:`auditor.probes.routing.TablesOnce` (made on first use, on
        the event loop: no race)."""
        if self._routing_once is None:
            from auditor.probes.routing import TablesOnce

            self._routing_once = TablesOnce()
        return self._routing_once

    # -- the scanner's own footing ------------------------------------------------------
    def unreachable_family(self, address: str) -> str | None:
        """Why ``address`` is not probed: the scanner has no connectivity of its family."""
        w = self.footing_watch
        return w.skip_address(address) if w is not None else None

    def resolver_down_for(self, name: str) -> str | None:
        """Why ``name`` is not looked up: the scanner's resolver cannot resolve it."""
        w = self.footing_watch
        return w.skip_name(name) if w is not None else None

    # -- limits -------------------------------------------------------------
    def address_slot(self, address: str) -> AbstractAsyncContextManager[object]:
        """Hold one of the per-address connection slots while talking to ``address``:
        ``async with ctx.address_slot(address): ...``."""
        serial = self._serial.get(address) if self._serial else None
        if serial is None:
            return self.limiter.slot(address)
        return _serial_slot(serial, self.limiter.slot(address))

    def serialise(self, address: str) -> None:
        """From now on, one connection at a time to ``address`` (every probe's, in this
        process): the SMTP and STARTTLS probes of a mail exchanger call it first."""
        if address not in self._serial:
            self._serial[address] = anyio.Semaphore(1)

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

    # -- DNS --------------------------------------------------------------------
    @property
    def dns(self) -> DnsClient:
        if self._dns is None:
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


@contextlib.asynccontextmanager
async def _serial_slot(
    serial: anyio.Semaphore, slot: AbstractAsyncContextManager[object]
) -> AsyncIterator[object]:
    async with serial, slot:
        yield None


def lenient(ctx: ssl.SSLContext) -> ssl.SSLContext:
    """Accept every protocol version and cipher the local OpenSSL still has, and servers
    without RFC 5746 secure renegotiation: weak servers must still answer, so a weakness
    is observed and judged by the checks instead of hiding as an error. The TLS probe's
    permissive handshake (tls.available) and the HTTP probe use the very same settings, so
    the HTTP probe's handshake can stand for the TLS probe's (AddressSession.offer_handshake).
    """
    with warnings.catch_warnings(), contextlib.suppress(ssl.SSLError, ValueError):
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated is what we look for
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with contextlib.suppress(ssl.SSLError):  # a build without these knobs: its defaults
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.options |= _OP_LEGACY_SERVER_CONNECT
    watch_tickets(ctx)  # the 0-RTT probe reads the HTTP probe's TLS 1.3 tickets (issue #19)
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
