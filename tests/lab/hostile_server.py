"""Hostile servers for the robustness lab: real sockets, real protocols, misbehaving on purpose.

No stock server stalls, drips, resets or lies on demand, so these are small asyncio servers.
One process serves every listener it is given; it runs inside the lab's server namespace:

    ip netns exec auditor-lab-<tag>-srv python -m tests.lab.hostile_server \
        --certs DIR silent@2001:db8:bad::1 drip@2001:db8:bad::2 dns@2001:db8:bad:53::1 ...

Each SPEC is KIND@ADDRESS; the kind decides the ports (web kinds: 80 and/or 443, dns: 53
UDP and TCP, smtp-tarpit: 25). It prints "ready" once every socket is bound. Everything it
sends is bounded by the peer: once the auditor stops reading (its caps), the writes stop.

Kinds (see tests/lab/hostile.py for what the auditor must observe for each):
- silent        80, 443: accept and never answer
- drip          80, 443: one byte per second ("HTTP/1.1 200 OK..." on both)
- reset         80: half a response, then a TCP RST; 443: RST after the ClientHello
- headers-endless 80: a status line, then header lines forever
- header-huge   80: one 8 MiB header line
- body-1g       80: Content-Length 1 GiB, streamed
- gzip-bomb     80: gzip body that inflates to 1 GiB
- redirect-loop 80: / -> /a -> / ...
- redirect-50   80: a chain of 50 redirects
- bad-status    80: an invalid status line
- million-links 80: an HTML page with 1 000 000 links to distinct hosts
- tls-garbage   443: random bytes in a handshake record instead of a ServerHello
- tls-alert     443: a handshake_failure alert on every ClientHello
- tls-stall     443: reads the ClientHello, never answers
- tls-chain50   443: real TLS, a chain of 50 certificates (certs/chain50.pem)
- tls-absurd    443: real TLS, HTML and control characters in the certificate names
- dns           53 UDP+TCP: behaviour by the label before "hostile.vn" (timeout, trunc,
                malformed, loop, big); see _dns_answer
- smtp-tarpit   25: the 220 greeting one byte per second
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import ssl
import struct
import sys
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

WEB_PORTS: dict[str, tuple[int, ...]] = {
    "silent": (80, 443),
    "drip": (80, 443),
    "reset": (80, 443),
    "headers-endless": (80,),
    "header-huge": (80,),
    "body-1g": (80,),
    "gzip-bomb": (80,),
    "redirect-loop": (80,),
    "redirect-50": (80,),
    "bad-status": (80,),
    "million-links": (80,),
    "tls-garbage": (443,),
    "tls-alert": (443,),
    "tls-stall": (443,),
    "tls-chain50": (443,),
    "tls-absurd": (443,),
}
GIB = 1 << 30
DNS_BIG_RECORDS = 500


# -- helpers -----------------------------------------------------------------------------------


async def _read_request(reader: asyncio.StreamReader, limit: int = 16384) -> bytes:
    """Read an HTTP request head (or whatever comes first), bounded in size and time."""
    data = b""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(30):
            while b"\r\n\r\n" not in data and len(data) < limit:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                data += chunk
    return data


async def _read_some(reader: asyncio.StreamReader) -> bytes:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(30):
            return await reader.read(16384)
    return b""


def _path(request: bytes) -> str:
    try:
        return request.split(b" ", 2)[1].decode("ascii", "replace")
    except IndexError:
        return "/"


async def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
        await writer.wait_closed()


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _forever() -> None:
    await asyncio.sleep(3600)


# -- web kinds ---------------------------------------------------------------------------------


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_some(reader)
    await _forever()


async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_some(reader)
    payload = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello"
    for i in range(len(payload)):
        writer.write(payload[i : i + 1])
        await writer.drain()
        await asyncio.sleep(1.0)
    await _forever()


async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    first = await _read_some(reader)
    if first[:1] != b"\x16":  # plain HTTP: half a response first
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"
        )
        writer.write(b"<html><body>" + b"x" * 500)
        await writer.drain()
        await asyncio.sleep(0.2)
    _rst(writer)


async def headers_endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\n")
    i = 0
    while not writer.is_closing():
        writer.write(b"".join(b"X-Pad-%d: %s\r\n" % (i + j, b"a" * 64) for j in range(100)))
        i += 100
        await writer.drain()


async def header_huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nX-Huge: ")
    for _ in range(8 * 16):  # 8 MiB in 64 KiB pieces
        writer.write(b"a" * 65536)
        await writer.drain()
    writer.write(b"\r\nContent-Length: 0\r\n\r\n")
    await writer.drain()
    await _close(writer)


async def body_1g(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % GIB)
    chunk = (b"<p>" + b"all work and no play " * 40 + b"</p>\n") * 64
    sent = 0
    while sent < GIB and not writer.is_closing():
        piece = chunk[: GIB - sent]
        writer.write(piece)
        sent += len(piece)
        await writer.drain()
    await _close(writer)


_GZIP_BOMB: bytes = b""


def gzip_bomb_body() -> bytes:
    """gzip of 1 GiB of spaces (about 1 MiB), made once at start-up."""
    global _GZIP_BOMB
    if not _GZIP_BOMB:
        c = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        block = b" " * (1 << 20)
        parts = [c.compress(block) for _ in range(1024)]
        parts.append(c.flush())
        _GZIP_BOMB = b"".join(parts)
    return _GZIP_BOMB


async def gzip_bomb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    body = gzip_bomb_body()
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    writer.write(body)
    with contextlib.suppress(Exception):
        await writer.drain()
    await _close(writer)


async def _keepalive_loop(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, respond: Callable[[str], bytes]
) -> None:
    for _ in range(1000):
        req = await _read_request(reader)
        if not req:
            break
        writer.write(respond(_path(req)))
        await writer.drain()
    await _close(writer)


def _redirect(location: str) -> bytes:
    return b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % location.encode()


async def redirect_loop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _keepalive_loop(reader, writer, lambda p: _redirect("/a" if p == "/" else "/"))


async def redirect_50(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    def respond(p: str) -> bytes:
        n = int(p[3:]) if p.startswith("/r/") and p[3:].isdigit() else 0
        if n < 50:
            return _redirect(f"/r/{n + 1}")
        return b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlast"

    await _keepalive_loop(reader, writer, respond)


async def bad_status(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 OK-ish \x00\x01 <b>not a status</b>\r\nX: y\r\n\r\nbody")
    await writer.drain()
    await _close(writer)


async def million_links(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n")
    writer.write(b"<!doctype html><html><body>\n")
    for start in range(0, 1_000_000, 1000):
        if writer.is_closing():
            break
        writer.write(
            b"".join(
                b'<img src="http://h%d.links.hostile.vn/i.png">\n' % i
                for i in range(start, start + 1000)
            )
        )
        await writer.drain()
    writer.write(b"</body></html>\n")
    await _close(writer)


# -- TLS kinds ---------------------------------------------------------------------------------


async def tls_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_some(reader)
    body = os.urandom(200)
    # a handshake record of the right length whose content is noise, then more noise
    writer.write(b"\x16\x03\x03" + struct.pack("!H", len(body)) + body + os.urandom(300))
    await writer.drain()
    await asyncio.sleep(0.5)
    await _close(writer)


async def tls_alert(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_some(reader)
    writer.write(b"\x15\x03\x03\x00\x02\x02\x28")  # fatal handshake_failure
    await writer.drain()
    await _close(writer)


async def tls_stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_some(reader)
    await _forever()


async def tls_page(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """After a real TLS handshake (asyncio did it): a small page."""
    await _read_request(reader)
    body = b"<html><body>hostile</body></html>"
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n%s" % (len(body), body)
    )
    with contextlib.suppress(Exception):
        await writer.drain()
    await _close(writer)


def _tls_context(cert_dir: Path, name: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_dir / f"{name}.pem", cert_dir / f"{name}.key")
    return ctx


# -- SMTP --------------------------------------------------------------------------------------


async def smtp_tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    greeting = b"220 tarpit.hostile.vn ESMTP slowly, very slowly\r\n"
    for i in range(len(greeting)):
        writer.write(greeting[i : i + 1])
        await writer.drain()
        await asyncio.sleep(1.0)
    await _forever()


# -- DNS ---------------------------------------------------------------------------------------


def _behaviour(qname: str) -> str:
    labels = qname.lower().rstrip(".").split(".")
    if labels[-2:] == ["hostile", "vn"] and len(labels) >= 3:
        return labels[-3]
    return ""


def _dns_answer(wire: bytes, tcp: bool) -> bytes | None:
    """The hostile answer to one query; None = no answer (silence)."""
    try:
        query = dns.message.from_wire(wire)
        q = query.question[0]
    except Exception:
        return None
    qname = q.name.to_text()
    how = _behaviour(qname)
    resp = dns.message.make_response(query)
    resp.flags |= dns.flags.AA
    if how == "timeout":
        return None
    zone = ".".join(qname.rstrip(".").split(".")[-3:]) + "."
    if q.rdtype == dns.rdatatype.NS and qname.lower() == zone:
        # the zone's NS are answered properly (so a resolver finds the name servers and the
        # auditor's NS-reach probe queries them directly); everything else misbehaves
        resp.answer.append(dns.rrset.from_text(zone, 30, "IN", "NS", "ns.dnsh.hostile.vn."))
        return resp.to_wire()
    if how == "trunc":
        if tcp:
            return b"broken"  # handled by the TCP server: half a length prefix, then close
        resp.flags |= dns.flags.TC
        return resp.to_wire()
    if how == "malformed":
        # the right id and flags (a response), then counts that lie and noise
        return wire[:2] + b"\x84\x00" + b"\x00\x01\x00\x05\x00\x00\x00\x00" + os.urandom(40)
    if q.rdtype == dns.rdatatype.SOA and qname.lower() == zone:
        resp.answer.append(
            dns.rrset.from_text(
                zone, 30, "IN", "SOA", f"ns.dnsh.hostile.vn. h.{zone.lstrip('.')} 1 60 30 60 30"
            )
        )
        return resp.to_wire()
    if how == "loop":
        # www -> a -> b -> a: a CNAME loop in one answer
        a, b = f"a.{zone}", f"b.{zone}"
        first = qname if qname.lower() not in (a, b) else a
        resp.answer.append(dns.rrset.from_text(first, 30, "IN", "CNAME", a if first != a else b))
        resp.answer.append(dns.rrset.from_text(a, 30, "IN", "CNAME", b))
        resp.answer.append(dns.rrset.from_text(b, 30, "IN", "CNAME", a))
        return resp.to_wire()
    if how == "big" and q.rdtype == dns.rdatatype.A:
        # 500 addresses in 127.0.0.0/8: the auditor's address guard refuses them (no traffic)
        addrs = [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(DNS_BIG_RECORDS)]
        resp.answer.append(dns.rrset.from_text(qname, 30, "IN", "A", *addrs))
        if not tcp:
            size = query.payload if query.edns >= 0 else 512
            try:
                return resp.to_wire(max_size=size)
            except dns.exception.TooBig:
                resp.answer.clear()
                resp.flags |= dns.flags.TC
                return resp.to_wire()
        return resp.to_wire(max_size=65535)
    if how in ("big", "loop"):
        return resp.to_wire()  # NODATA
    resp.set_rcode(dns.rcode.NXDOMAIN)
    return resp.to_wire()


class _DnsUdp(asyncio.DatagramProtocol):
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        out = _dns_answer(data, tcp=False)
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)


async def dns_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(30):
            while True:
                head = await reader.readexactly(2)
                wire = await reader.readexactly(struct.unpack("!H", head)[0])
                out = _dns_answer(wire, tcp=True)
                if out is None:
                    await _forever()
                    return
                if out == b"broken":
                    writer.write(b"\x01")  # half a length prefix
                    await writer.drain()
                    _rst(writer)
                    return
                writer.write(struct.pack("!H", len(out)) + out)
                await writer.drain()
    await _close(writer)


# -- main --------------------------------------------------------------------------------------

HANDLERS: dict[str, Handler] = {
    "silent": silent,
    "drip": drip,
    "reset": reset,
    "headers-endless": headers_endless,
    "header-huge": header_huge,
    "body-1g": body_1g,
    "gzip-bomb": gzip_bomb,
    "redirect-loop": redirect_loop,
    "redirect-50": redirect_50,
    "bad-status": bad_status,
    "million-links": million_links,
    "tls-garbage": tls_garbage,
    "tls-alert": tls_alert,
    "tls-stall": tls_stall,
    "tls-chain50": tls_page,
    "tls-absurd": tls_page,
}
KINDS = (*HANDLERS, "dns", "smtp-tarpit")


CONNECTION_LOG: Path | None = None  # --connections: one "ADDRESS PORT" line per accept


def _log_connection(writer: asyncio.StreamWriter) -> None:
    if CONNECTION_LOG is None:
        return
    local = writer.get_extra_info("sockname")
    if local:
        with open(CONNECTION_LOG, "a", encoding="ascii") as f:
            f.write(f"{local[0]} {local[1]}\n")


def _safe(handler: Handler) -> Handler:
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _log_connection(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.CancelledError, ssl.SSLError, OSError):
            pass
        finally:
            writer.transport.abort()

    return run


async def serve(specs: list[tuple[str, str]], cert_dir: Path | None) -> None:
    loop = asyncio.get_running_loop()
    servers: list[object] = []
    if any(k == "gzip-bomb" for k, _ in specs):
        gzip_bomb_body()
    for kind, addr in specs:
        if kind == "dns":
            tr, _ = await loop.create_datagram_endpoint(_DnsUdp, local_addr=(addr, 53))
            servers.append(tr)
            servers.append(await asyncio.start_server(_safe(dns_tcp), addr, 53))
            continue
        if kind == "smtp-tarpit":
            servers.append(await asyncio.start_server(_safe(smtp_tarpit), addr, 25))
            continue
        for port in WEB_PORTS[kind]:
            tls = None
            if kind in ("tls-chain50", "tls-absurd") and port == 443:
                assert cert_dir is not None, f"{kind} needs --certs"
                tls = _tls_context(cert_dir, kind)
            servers.append(
                await asyncio.start_server(
                    _safe(HANDLERS[kind]),
                    addr,
                    port,
                    ssl=tls,
                    ssl_handshake_timeout=30 if tls else None,
                )
            )
    print("ready", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--certs", type=Path, help="directory with tls-chain50/tls-absurd .pem/.key")
    p.add_argument("--connections", type=Path, help="log every accepted TCP connection here")
    p.add_argument("specs", nargs="+", metavar="KIND@ADDRESS")
    args = p.parse_args(argv)
    global CONNECTION_LOG
    CONNECTION_LOG = args.connections
    specs = []
    for s in args.specs:
        kind, _, addr = s.partition("@")
        if kind not in KINDS or not addr:
            p.error(f"bad spec {s!r}; kinds: {', '.join(KINDS)}")
        specs.append((kind, addr))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(specs, args.certs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
