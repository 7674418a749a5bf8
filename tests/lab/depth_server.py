"""A scripted TLS-ish server for the handshake-depth scenarios nginx cannot serve (issue 19).

OpenSSL 3 cannot be made to choose DEFLATE (Debian builds it without zlib), to omit
renegotiation_info or the extended master secret, to over-read a heartbeat or to accept an
early ChangeCipherSpec, so this server plays a 2014-era OpenSSL just far enough for the
auditor's hand-built hellos: it answers a TLS 1.1/1.2 ClientHello with ServerHello,
Certificate and ServerHelloDone and never finishes a handshake.

    ip netns exec auditor-lab-<tag>-srv python -m tests.lab.depth_server \
        --chain CHAIN.pem ancient@192.0.2.70 ancient@2001:db8:80::70

Kind ``ancient``: TLS_RSA_WITH_AES_128_CBC_SHA only; takes DEFLATE when offered; no
renegotiation_info, no extended_master_secret; echoes the heartbeat extension and answers a
heartbeat request (a short fixed payload: nothing is leaked, the auditor reads the header
only); stays silent after an early ChangeCipherSpec and answers the next record with
bad_record_mac (as CVE-2014-0224 servers do); ignores TLS_FALLBACK_SCSV.
Kind ``reneg``: a TLS 1.2 server (Python ``ssl``, OpenSSL 3) that accepts client-initiated
renegotiation (tls.renegotiation.client fails). OpenSSL 3 refuses it unless
SSL_OP_ALLOW_CLIENT_RENEGOTIATION is set, which ``ssl`` has no name for but passes through
``SSLContext.options``. One thread per connection: ``openssl s_server`` serves one
connection at a time, and the auditor's parallel hellos then time out behind each other.
Each connection: handshake, then reads (renegotiations are processed inside them) until an
HTTP request head, answered 200; bounded by IDLE and MAX_RECORD per read, 64 KiB in all.

Kind ``robot``: a TLS 1.2 server with RSA key exchange only (TLS_RSA_WITH_AES_128_CBC_SHA,
the lab's RSA certificate, ``--key``) with a Bleichenbacher padding oracle, as the ROBOT
servers had (tls.vuln.robot fails): it decrypts the ClientKeyExchange with the raw RSA
private numbers and answers a plaintext that does not start 0x00 0x02 or has no 0x00
separator with handshake_failure at once; any other (valid-looking) one is answered, after
the client's ChangeCipherSpec and Finished, with bad_record_mac. OpenSSL 3 cannot be made
to do this (the lab's robotok scenario is nginx with TLS_RSA_* suites: no oracle).

Kind ``ancient25`` (issue #20): ``ancient`` on port 25 behind an SMTP preamble (greeting,
EHLO with STARTTLS, 220 to STARTTLS; RFC 3207), for the mail.tls.* failures Postfix's
OpenSSL cannot show (compression, no secure renegotiation).

Kinds ``sct`` and ``sct12``: a TLS 1.2 + 1.3 (``sct12``: TLS 1.2 only) server (Python
``ssl``, OpenSSL 3) that sends two SCTs in the signed_certificate_timestamp extension
(RFC 6962 sec. 3.3.1) when the client asks: in the ServerHello (TLS 1.2) and in the leaf's
CertificateEntry (TLS 1.3, RFC 8446 sec. 4.4.2.1). nginx cannot send it (no module in
Debian); ``openssl s_server -serverinfo`` can, but serves one connection at a time. Python's
``ssl`` has no name for SSL_CTX_use_serverinfo_ex, so it is called through ``ctypes`` on
the context's SSL_CTX (checked to be the right pointer, and the same libssl). Answers an
HTTP request as kind ``reneg`` does.

Prints "ready" once every socket is bound. Every read is bounded (record size, time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import ssl
import struct
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding

CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_HEARTBEAT = 20, 21, 22, 24
SUITE = 0x002F  # TLS_RSA_WITH_AES_128_CBC_SHA: no ServerKeyExchange to forge
EXT_HEARTBEAT, EXT_SUPPORTED_VERSIONS = 15, 43
MAX_RECORD = 2**14 + 2048
IDLE = 10.0  # seconds a peer may stay silent


def _rec(ct: int, version: int, payload: bytes) -> bytes:
    return struct.pack("!BHH", ct, version, len(payload)) + payload


def _hs(mtype: int, body: bytes) -> bytes:
    return struct.pack("!B", mtype) + len(body).to_bytes(3, "big") + body


def _alert(version: int, code: int) -> bytes:
    return _rec(CT_ALERT, version, bytes((2, code)))


def parse_hello(
    body: bytes,
) -> tuple[int, list[int], bytes, dict[int, bytes]]:
    """(legacy version, suites, compression methods, extensions) of a ClientHello body."""
    ver = struct.unpack_from("!H", body, 0)[0]
    i = 2 + 32
    i += 1 + body[i]
    n = struct.unpack_from("!H", body, i)[0]
    suites = list(struct.unpack_from(f"!{n // 2}H", body, i + 2))
    i += 2 + n
    comp = body[i + 1 : i + 1 + body[i]]
    i += 1 + body[i]
    exts: dict[int, bytes] = {}
    if i + 2 <= len(body):
        end = i + 2 + struct.unpack_from("!H", body, i)[0]
        i += 2
        while i + 4 <= end:
            t, ln = struct.unpack_from("!HH", body, i)
            exts[t] = body[i + 4 : i + 4 + ln]
            i += 4 + ln
    return ver, suites, comp, exts


def _version(legacy: int, exts: dict[int, bytes]) -> int | None:
    sv = exts.get(EXT_SUPPORTED_VERSIONS)
    if sv is not None:
        offered = [struct.unpack_from("!H", sv, 1 + 2 * k)[0] for k in range(sv[0] // 2)]
        ok = [v for v in offered if v in (0x0302, 0x0303)]
        return max(ok) if ok else None
    v = min(legacy, 0x0303)
    return v if v in (0x0302, 0x0303) else None


class Ancient:
    def __init__(self, chain: list[bytes]) -> None:
        certs = b"".join(len(c).to_bytes(3, "big") + c for c in chain)
        self.certificate = _hs(11, len(certs).to_bytes(3, "big") + certs)

    async def read_record(self, r: asyncio.StreamReader) -> tuple[int, bytes]:
        head = await asyncio.wait_for(r.readexactly(5), IDLE)
        size = struct.unpack_from("!H", head, 3)[0]
        if size > MAX_RECORD:
            raise ValueError("record too large")
        return head[0], await asyncio.wait_for(r.readexactly(size), IDLE)

    async def handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            first = await asyncio.wait_for(r.readexactly(1), IDLE)
            if first[0] != CT_HANDSHAKE:
                return  # SSL 2.0 hello or garbage: hang up
            head = first + await asyncio.wait_for(r.readexactly(4), IDLE)
            size = struct.unpack_from("!H", head, 3)[0]
            if size > MAX_RECORD:
                return
            body = await asyncio.wait_for(r.readexactly(size), IDLE)
            legacy, suites, comp, exts = parse_hello(body[4:])
            version = _version(legacy, exts)
            if version is None:
                w.write(_alert(0x0301, 70))  # protocol_version
                await w.drain()
                return
            if SUITE not in suites:
                w.write(_alert(version, 40))  # handshake_failure
                await w.drain()
                return
            ext = b""
            if EXT_HEARTBEAT in exts:
                ext += struct.pack("!HHB", EXT_HEARTBEAT, 1, 1)  # peer_allowed_to_send
            sh = struct.pack("!H", version) + os.urandom(32) + b"\x20" + os.urandom(32)
            sh += struct.pack("!HB", SUITE, 1 if 1 in comp else 0)
            if ext:
                sh += struct.pack("!H", len(ext)) + ext
            flight = _hs(2, sh) + self.certificate + _hs(14, b"")
            w.write(_rec(CT_HANDSHAKE, version, flight))
            await w.drain()
            early_ccs = False
            while True:
                ct, payload = await self.read_record(r)
                if ct == CT_HEARTBEAT and payload[:1] == b"\x01":
                    w.write(_rec(CT_HEARTBEAT, version, b"\x02\x00\x10" + b"lab-heartbeat-16"))
                elif early_ccs or ct == CT_ALERT:
                    if early_ccs:
                        w.write(_alert(version, 20))  # bad_record_mac: keys were switched
                    break
                elif ct == CT_CCS:
                    early_ccs = True  # accepted silently, as CVE-2014-0224 servers did
                else:
                    break
                await w.drain()
            await w.drain()
        with contextlib.suppress(Exception):
            w.close()


class Robot(Ancient):
    """TLS_RSA_WITH_AES_128_CBC_SHA only, with a padding oracle."""

    def __init__(self, chain: list[bytes], key: Path) -> None:
        super().__init__(chain)
        priv = serialization.load_pem_private_key(key.read_bytes(), password=None)
        if not isinstance(priv, rsa.RSAPrivateKey):
            raise SystemExit("kind robot needs an RSA key (CertSpec(key='rsa2048'))")
        nums = priv.private_numbers()
        self.n, self.d = nums.public_numbers.n, nums.d
        self.k = (self.n.bit_length() + 7) // 8

    def conforming(self, ciphertext: bytes) -> bool:
        """PKCS#1 v1.5 as a careless server checks it: 00 02, then a 00 separator."""
        m = pow(int.from_bytes(ciphertext, "big"), self.d, self.n).to_bytes(self.k, "big")
        return m[:2] == b"\x00\x02" and 0 in m[10:]

    async def handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            ct, body = await self.read_record(r)
            if ct != CT_HANDSHAKE or body[:1] != b"\x01":
                return
            legacy, suites, _comp, exts = parse_hello(body[4:])
            version = _version(legacy, exts)
            if version != 0x0303 or SUITE not in suites:
                w.write(_alert(version or 0x0301, 40))  # handshake_failure
                await w.drain()
                return
            sh = struct.pack("!H", version) + os.urandom(32) + b"\x20" + os.urandom(32)
            sh += struct.pack("!HB", SUITE, 0)
            ext = struct.pack("!HH", 0xFF01, 1) + b"\x00"  # renegotiation_info (RFC 5746)
            sh += struct.pack("!H", len(ext)) + ext
            w.write(_rec(CT_HANDSHAKE, version, _hs(2, sh) + self.certificate + _hs(14, b"")))
            await w.drain()
            ct, body = await self.read_record(r)
            if ct != CT_HANDSHAKE or body[:1] != b"\x10" or len(body) < 6:
                return
            ciphertext = body[6 : 6 + struct.unpack_from("!H", body, 4)[0]]
            if not self.conforming(ciphertext):
                w.write(_alert(version, 40))  # the oracle: told apart before the Finished
                await w.drain()
                return
            for _ in range(2):  # ChangeCipherSpec, then the (encrypted) Finished
                await self.read_record(r)
            w.write(_alert(version, 20))  # bad_record_mac: the Finished did not verify
            await w.drain()
        with contextlib.suppress(Exception):
            w.close()


SSL_OP_ALLOW_CLIENT_RENEGOTIATION = 0x100  # OpenSSL 3.0 ssl.h: SSL_OP_BIT(8)


def _reneg_conn(ctx: ssl.SSLContext, conn: socket.socket) -> None:
    conn.settimeout(IDLE)
    try:
        with ctx.wrap_socket(conn, server_side=True) as s:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                data = s.recv(MAX_RECORD)  # a client renegotiation is handled in here
                if not data:
                    return
                head += data
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


def _reneg_server(addr: str, chain: Path, key: Path) -> None:
    """Bind now (so "ready" is true), accept in a daemon thread."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= SSL_OP_ALLOW_CLIENT_RENEGOTIATION
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    ls = socket.create_server((addr, 443), family=family, backlog=64)

    def loop() -> None:
        while True:
            conn, _ = ls.accept()
            threading.Thread(target=_reneg_conn, args=(ctx, conn), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def smtp_preamble(handler: Handler) -> Handler:
    """``handler`` after an SMTP greeting, EHLO and STARTTLS (kind ancient25)."""

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            w.write(b"220 ancient.lab ESMTP scripted\r\n")
            await w.drain()
            for _ in range(20):
                line = await asyncio.wait_for(r.readline(), IDLE)
                verb = line.split(b" ", 1)[0].strip().upper()
                if not line or verb == b"QUIT":
                    w.write(b"221 bye\r\n" if line else b"")
                    await w.drain()
                    break
                if verb == b"EHLO":
                    w.write(b"250-ancient.lab\r\n250 STARTTLS\r\n")
                elif verb == b"STARTTLS":
                    w.write(b"220 2.0.0 ready to start TLS\r\n")
                    await w.drain()
                    await handler(r, w)
                    return
                else:
                    w.write(b"502 5.5.2 not implemented\r\n")
                await w.drain()
        with contextlib.suppress(Exception):
            w.close()

    return handle


# OpenSSL 3 ssl.h: SSL_SERVERINFOV2 and the extension contexts of a v2 serverinfo entry
SSL_SERVERINFOV2 = 2
SSL_EXT_CLIENT_HELLO, SSL_EXT_TLS1_2_SERVER_HELLO, SSL_EXT_TLS1_3_CERTIFICATE = (
    0x0080,
    0x0100,
    0x1000,
)
EXT_SCT = 18  # signed_certificate_timestamp (RFC 6962 sec. 3.3.1)


def _ssl_ctx_pointer(ctx: ssl.SSLContext) -> int:
    """The SSL_CTX* of ``ctx``: CPython's PySSLContext starts with it, right after the
    object header (Modules/_ssl.c); verified by reading the options back through it."""
    import ctypes

    lib = ctypes.CDLL("libssl.so.3")
    lib.OpenSSL_version.restype = ctypes.c_char_p
    lib.OpenSSL_version.argtypes = [ctypes.c_int]
    if lib.OpenSSL_version(0).decode() != ssl.OPENSSL_VERSION:
        raise SystemExit("Python's ssl does not use the system libssl.so.3")
    ptr = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    lib.SSL_CTX_get_options.restype = ctypes.c_uint64
    lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
    if not ptr or lib.SSL_CTX_get_options(ptr) != ctx.options:
        raise SystemExit("could not find the SSL_CTX of the Python SSLContext")
    return ptr


def _sct_server(addr: str, chain: Path, key: Path, tls13: bool) -> None:
    import ctypes

    from auditor.protocol.sct import sct_list

    from .pki import TLS_SCT_LOGS

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)  # serverinfo belongs to the certificate loaded last
    if not tls13:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    lst = sct_list(list(TLS_SCT_LOGS))
    context = SSL_EXT_CLIENT_HELLO | SSL_EXT_TLS1_2_SERVER_HELLO | SSL_EXT_TLS1_3_CERTIFICATE
    info = struct.pack("!IHH", context, EXT_SCT, len(lst)) + lst
    lib = ctypes.CDLL("libssl.so.3")
    lib.SSL_CTX_use_serverinfo_ex.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint,
        ctypes.c_char_p,
        ctypes.c_size_t,
    ]
    if lib.SSL_CTX_use_serverinfo_ex(_ssl_ctx_pointer(ctx), SSL_SERVERINFOV2, info, len(info)) != 1:
        raise SystemExit("SSL_CTX_use_serverinfo_ex failed")
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    ls = socket.create_server((addr, 443), family=family, backlog=64)

    def loop() -> None:
        while True:
            conn, _ = ls.accept()
            threading.Thread(target=_reneg_conn, args=(ctx, conn), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


async def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chain", type=Path, required=True)
    ap.add_argument("--key", type=Path)
    ap.add_argument("specs", nargs="+", help="KIND@ADDRESS")
    a = ap.parse_args(argv)
    chain = [
        c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(a.chain.read_bytes())
    ]
    servers = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    for spec in a.specs:
        kind, _, addr = spec.partition("@")
        if kind == "ancient":
            servers.append(await asyncio.start_server(Ancient(chain).handle, addr, 443))
        elif kind == "ancient25":
            handle = smtp_preamble(Ancient(chain).handle)
            servers.append(await asyncio.start_server(handle, addr, 25))
        elif kind == "robot":
            if a.key is None:
                raise SystemExit("kind robot needs --key")
            handler = Robot(chain, a.key).handle
            servers.append(await asyncio.start_server(handler, addr, 443))
        elif kind == "reneg":
            if a.key is None:
                raise SystemExit("kind reneg needs --key")
            _reneg_server(addr, a.chain, a.key)
        elif kind in ("sct", "sct12"):
            if a.key is None:
                raise SystemExit(f"kind {kind} needs --key")
            _sct_server(addr, a.chain, a.key, tls13=kind == "sct")
        else:
            raise SystemExit(f"unknown kind {kind}")
    print("ready", flush=True)
    await stop.wait()  # daemon threads end with the process
    for srv in servers:
        srv.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
