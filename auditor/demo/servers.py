"""The demo's servers on loopback: DNS (UDP+TCP), HTTP, HTTPS (one certificate per host by
SNI) and SMTP with STARTTLS, on high ports of 127.0.0.1 and ::1 (no root needed).

They run on their own asyncio event loop in a background thread, so the scan (which runs its
own loop in the main thread) talks to them over real sockets. ``DemoServers`` is a context
manager: leaving it (normally, on an error or on Ctrl-C) closes every listening socket and
joins the thread. The sockets are bound before the thread starts, so a port that cannot be
had is an error at once, not a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any, cast

from auditor.demo.dnszone import Responder
from auditor.demo.pki import DemoPki
from auditor.demo.scenario import DemoHost, Scenario
from auditor.protocol.names import norm_name

MAX_REQUEST = 16 * 1024  # request head cap: the demo only ever sees the auditor's requests
IDLE = 10.0  # seconds a client may stay silent before the demo server hangs up


def ipv6_loopback() -> bool:
    """Can this machine bind ::1? (Containers without IPv6 cannot: the demo then serves
    IPv4 only and says so.)"""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


@dataclass
class Ports:
    dns: int
    http: int
    https: int
    smtp: int

    def port_map(self) -> dict[int, int]:
        """Service port -> demo port (ScanOptions.port_map for every target)."""
        return {53: self.dns, 80: self.http, 443: self.https, 25: self.smtp}


@dataclass
class _Bound:
    tcp: list[socket.socket] = field(default_factory=list)
    udp: list[socket.socket] = field(default_factory=list)

    def close(self) -> None:
        for s in self.tcp + self.udp:
            with contextlib.suppress(OSError):
                s.close()


def _bind(addresses: list[str], udp: bool, bound: _Bound, tries: int = 50) -> int:
    """One free port number on every address (TCP, and UDP too when ``udp``)."""
    for _ in range(tries):
        got: list[tuple[socket.socket, bool]] = []
        port = 0
        try:
            for address in addresses:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp else [])
                for kind in kinds:
                    s = socket.socket(family, kind)
                    got.append((s, kind == socket.SOCK_DGRAM))
                    if family == socket.AF_INET6:
                        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    s.bind((address, port))
                    port = s.getsockname()[1]
                    if kind == socket.SOCK_STREAM:
                        s.listen(128)
                    s.setblocking(False)
        except OSError:
            for s, _u in got:
                s.close()
            continue
        for s, is_udp in got:
            (bound.udp if is_udp else bound.tcp).append(s)
        return port
    raise OSError("no free port for the demo servers")


class DemoServers:
    """Start every demo server in a background thread; stop them all on exit."""

    def __init__(self, scenario: Scenario, pki: DemoPki, responder: Responder, v6: bool) -> None:
        self.scenario = scenario
        self.pki = pki
        self.responder = responder
        self.addresses = ["127.0.0.1"] + (["::1"] if v6 else [])
        self._socks: dict[str, _Bound] = {k: _Bound() for k in ("dns", "http", "https", "smtp")}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.ports: Ports | None = None
        self.requests = 0

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> DemoServers:
        try:
            self.ports = Ports(
                dns=_bind(self.addresses, True, self._socks["dns"]),
                http=_bind(self.addresses, False, self._socks["http"]),
                https=_bind(self.addresses, False, self._socks["https"]),
                smtp=_bind(self.addresses, False, self._socks["smtp"]),
            )
            self._thread = threading.Thread(target=self._run, name="auditor-demo", daemon=True)
            self._thread.start()
            if not self._ready.wait(30):
                raise RuntimeError("the demo servers did not start within 30 s")
            if self._error is not None:
                raise RuntimeError(f"the demo servers could not start: {self._error}")
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
        for bound in self._socks.values():
            bound.close()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        # Refused legacy hellos, clients that hang up mid-handshake: expected, not news.
        loop.set_exception_handler(lambda _loop, _ctx: None)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to __enter__, never lost in the thread
            self._error = exc
        finally:
            self._ready.set()
            with contextlib.suppress(Exception):
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        servers: list[asyncio.base_events.Server] = []
        transports: list[Any] = []
        tls = self._tls_context()
        try:
            for s in self._socks["dns"].tcp:
                servers.append(await asyncio.start_server(self._dns_tcp, sock=s))
            for s in self._socks["dns"].udp:
                transport, _p = await loop.create_datagram_endpoint(
                    lambda: _DnsUdp(self.responder), sock=s
                )
                transports.append(transport)
            for s in self._socks["http"].tcp:
                servers.append(await asyncio.start_server(self._http(False), sock=s))
            for s in self._socks["https"].tcp:
                servers.append(
                    await asyncio.start_server(
                        self._http(True), sock=s, ssl=tls, ssl_handshake_timeout=IDLE
                    )
                )
            for s in self._socks["smtp"].tcp:
                servers.append(await asyncio.start_server(self._smtp, sock=s))
            self._ready.set()
            await self._stop.wait()
        finally:
            for server in servers:
                server.close()
            for transport in transports:
                transport.close()
            for server in servers:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 5)

    # -- TLS ----------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        """One context per host, picked by SNI (RFC 6066 sec. 3); no SNI or an unknown name
        gets the province portal's certificate (a name mismatch, as a real server would)."""
        cbc = {h.name for h in self.scenario.hosts if h.cbc_suites}
        contexts = {h: self.pki.context(h, cbc=h in cbc) for h in self.pki.chains}
        default = contexts[self.scenario.hosts[0].name]

        def pick(sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            chosen = contexts.get(norm_name(name or ""))
            if chosen is not None:
                sock.context = chosen

        default.sni_callback = pick
        return default

    # -- DNS ----------------------------------------------------------------------------

    async def _dns_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), IDLE)
                data = await asyncio.wait_for(reader.readexactly(int.from_bytes(head)), IDLE)
                reply = self.responder.answer(data, tcp=True)
                if reply is None:
                    break
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()

    # -- HTTP and HTTPS -----------------------------------------------------------------

    def _http(self, https: bool) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE)
                    if len(head) > MAX_REQUEST:
                        break
                    self.requests += 1
                    reply, keep = self._respond(head, https)
                    writer.write(reply)
                    await writer.drain()
                    if not keep:
                        break
            except (
                OSError,
                ssl.SSLError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                TimeoutError,
            ):
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        return handle

    def _respond(self, head: bytes, https: bool) -> tuple[bytes, bool]:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        path = parts[1] if len(parts) == 3 else "/"
        headers = {}
        for line in lines[1:]:
            name, _sep, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        host_name = norm_name(headers.get("host", "").split(":")[0])
        keep = headers.get("connection", "").lower() != "close"
        try:
            host = self.scenario.host(host_name)
        except StopIteration:
            return _reply(421, "Misdirected Request", "text/plain", b"unknown host\n", []), False
        if not https:
            # http:// goes to https:// on the same name first (http.https_redirect).
            location = [("Location", f"https://{host.name}{path}")]
            body = b"Moved to HTTPS\n"
            return _reply(
                301, "Moved Permanently", "text/plain", body, host_headers(host, False) + location
            ), keep
        if path == "/.well-known/security.txt":
            if not host.security_txt:
                return _reply(
                    404, "Not Found", "text/plain", b"not found\n", host_headers(host, True)
                ), keep
            expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=180)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            body = (
                f"Contact: mailto:security@vidu.test\nExpires: {expires}\n"
                f"Preferred-Languages: vi, en\n"
                f"Canonical: https://{host.name}/.well-known/security.txt\n"
            ).encode()
            return _reply(
                200, "OK", "text/plain; charset=utf-8", body, host_headers(host, True)
            ), keep
        if path.startswith("/static/site.css"):
            css = b"body{font-family:sans-serif;margin:2em}h1{color:#0b3d6e}\n"
            return _reply(200, "OK", "text/css", css, host_headers(host, True)), keep
        if path in ("/", "/index.html"):
            return _reply(
                200, "OK", "text/html; charset=utf-8", page(host), host_headers(host, True)
            ), keep
        return _reply(
            404, "Not Found", "text/plain", b"not found\n", host_headers(host, True)
        ), keep

    # -- SMTP ---------------------------------------------------------------------------

    async def _smtp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Greeting, EHLO (with STARTTLS), STARTTLS for real, QUIT (RFC 5321, RFC 3207)."""
        mx = self.scenario.zones[0].mx or "mail.vidu.test"
        tls_done = False

        async def send(text: str) -> None:
            writer.write(text.encode() + b"\r\n")
            await writer.drain()

        try:
            await send(f"220 {mx} ESMTP auditor-demo")
            for _ in range(20):
                line = await asyncio.wait_for(reader.readline(), IDLE)
                if not line:
                    break
                verb = line.decode("latin-1").strip().split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    extra = [] if tls_done else ["STARTTLS"]
                    ext = [f"250-{mx}", "250-PIPELINING", *(f"250-{e}" for e in extra)]
                    await send("\r\n".join([*ext, "250 8BITMIME"]))
                elif verb == "STARTTLS" and not tls_done:
                    await send("220 2.0.0 ready to start TLS")
                    await writer.start_tls(self.pki.context(mx))
                    tls_done = True
                elif verb == "QUIT":
                    await send("221 2.0.0 bye")
                    break
                elif verb == "NOOP":
                    await send("250 2.0.0 ok")
                else:
                    await send("502 5.5.1 not implemented in the demo")
        except (OSError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()


class _DnsUdp(asyncio.DatagramProtocol):
    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (the selector loop's datagram transport is not an asyncio.DatagramTransport
        # subclass in every Python version: no isinstance check)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        reply = self.responder.answer(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


def host_headers(host: DemoHost, https: bool) -> list[tuple[str, str]]:
    """The response headers of one demo host: a well-run portal's, minus its deviations."""
    out = [("Server", host.server)]
    if not https:
        return out
    if host.hsts is not None:
        sub = "; includeSubDomains" if host.hsts >= 31536000 else ""
        out.append(("Strict-Transport-Security", f"max-age={host.hsts}{sub}"))
    if host.csp:
        out.append(
            (
                "Content-Security-Policy",
                "default-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
            )
        )
    out += [
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ]
    return out


def page(host: DemoHost) -> bytes:
    title = escape(host.title)
    return (
        '<!doctype html>\n<html lang="vi"><head><meta charset="utf-8">'
        f'<title>{title}</title><link rel="stylesheet" href="/static/site.css"></head>'
        f"<body><h1>{title}</h1><p>Cổng thông tin minh hoạ của <code>auditor demo</code>: "
        "máy chủ này chạy trên máy của bạn (127.0.0.1 / ::1).</p></body></html>\n"
    ).encode()


def _reply(
    status: int, reason: str, ctype: str, body: bytes, headers: list[tuple[str, str]]
) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {reason}",
        f"Content-Type: {ctype}",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
