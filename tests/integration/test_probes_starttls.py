"""The STARTTLS probe (auditor/probes/starttls.py) against SMTP servers the test starts on
loopback: real TLS after STARTTLS (Python's ssl as the server), a server that limits us
with 421 or 454, and one that sends bytes after its 220 to STARTTLS."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.serialization import Encoding

from auditor.obs.core import Outcome
from auditor.obs.tls import VersionOutcome
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.starttls import probe_starttls
from tests.support.factories import Pki, key_pem, pem

MX = "mx.example.vn"


@dataclass
class Server:
    port: int
    accepted: int = 0
    commands: int = 0


Script = Callable[[int], tuple[bytes, bytes, bytes]]  # connection number -> replies


def ok_script(n: int) -> tuple[bytes, bytes, bytes]:
    return b"220 mx ESMTP\r\n", b"250-mx\r\n250 STARTTLS\r\n", b"220 go ahead\r\n"


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, bytes]:
    pki = Pki.create()
    cert, key = pki.leaf((MX,))
    d: Path = tmp_path_factory.mktemp("starttls")
    (d / "chain.pem").write_bytes(pem(cert, pki.inter))
    (d / "key.pem").write_bytes(key_pem(key))
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.minimum_version = ssl.TLSVersion.TLSv1_2
    sctx.load_cert_chain(d / "chain.pem", d / "key.pem")
    return sctx, cert.public_bytes(Encoding.DER)


@pytest_asyncio.fixture
async def serve(
    tls_context: tuple[ssl.SSLContext, bytes],
) -> AsyncIterator[Callable[[Script], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> Server:
        state = Server(0)

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            state.accepted += 1
            greet, ehlo, starttls = script(state.accepted)
            try:
                w.write(greet)
                await w.drain()
                if not greet.startswith(b"220"):
                    return
                while line := await r.readline():
                    state.commands += 1
                    verb = line.split(b" ", 1)[0].strip().upper()
                    if verb == b"EHLO":
                        w.write(ehlo)
                    elif verb == b"STARTTLS":
                        w.write(starttls)
                        await w.drain()
                        if starttls.startswith(b"220") and starttls.endswith(b"\r\n"):
                            await w.start_tls(tls_context[0])
                            while await r.read(4096):
                                pass
                        return
                    elif verb == b"QUIT":
                        w.write(b"221 bye\r\n")
                        await w.drain()
                        return
                    await w.drain()
            except (OSError, ssl.SSLError, ConnectionError):
                return
            finally:
                w.close()

        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(srv)
        state.port = srv.sockets[0].getsockname()[1]
        return state

    yield start
    for s in servers:
        s.close()


def ctx_for(port: int) -> ProbeContext:
    return ProbeContext(
        ScanOptions(timeout=2.0, allow_nets=("127.0.0.0/8",), port_map={"*": {25: port}})
    )


@pytest.mark.asyncio
async def test_tls_after_starttls_is_the_web_analysis(
    serve: Callable[[Script], Awaitable[Server]], tls_context: tuple[ssl.SSLContext, bytes]
) -> None:
    srv = await serve(ok_script)
    m = await probe_starttls(ctx_for(srv.port), MX, "127.0.0.1")
    assert m.outcome == Outcome.OK and not m.limited, m
    assert m.tls is not None
    accepted = {v.version for v in m.tls.versions if v.outcome == VersionOutcome.ACCEPTED}
    assert accepted == {"TLSv1.2", "TLSv1.3"}
    assert m.tls.ciphers and m.tls.ciphers_complete
    assert m.tls.depth_probed and m.tls.ems is True
    assert m.tls.port == 25 and m.tls.sni == MX
    # the presented chain, kept for DANE matching: the leaf first
    assert base64.b64decode(m.chain_der[0]) == tls_context[1]
    # every TLS connection went through the preamble (+1: the greeting probe's own)
    assert srv.accepted == m.connections + 1 and m.connections > 10


@pytest.mark.asyncio
@pytest.mark.parametrize("where", ["greeting", "STARTTLS"])
async def test_a_4xx_stops_the_probe(
    serve: Callable[[Script], Awaitable[Server]], where: str
) -> None:
    def script(n: int) -> tuple[bytes, bytes, bytes]:
        greet, ehlo, starttls = ok_script(n)
        if n > 2 and where == "greeting":
            greet = b"421 4.7.0 too many connections\r\n"
        if n > 2 and where == "STARTTLS":
            starttls = b"454 4.7.0 TLS not available due to temporary reason\r\n"
        return greet, ehlo, starttls

    srv = await serve(script)
    m = await probe_starttls(ctx_for(srv.port), MX, "127.0.0.1")
    assert m.outcome == "limited", m
    assert m.limited.startswith(where) and ("421" in m.limited or "454" in m.limited)
    # the greeting probe, one hello, then the 4xx: no connection after it
    assert srv.accepted == 3 and m.connections == 2


@pytest.mark.asyncio
async def test_bytes_after_the_starttls_reply_are_refused(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    def script(n: int) -> tuple[bytes, bytes, bytes]:
        greet, ehlo, _ = ok_script(n)
        return greet, ehlo, b"220 go ahead\r\n\x16\x03\x01junk"

    srv = await serve(script)
    m = await probe_starttls(ctx_for(srv.port), MX, "127.0.0.1")
    assert m.tls is not None and not m.limited
    assert not any(v.outcome == VersionOutcome.ACCEPTED for v in m.tls.versions)
    assert any("bytes after the STARTTLS reply" in v.detail for v in m.tls.versions), [
        v.detail for v in m.tls.versions
    ]


@pytest.mark.asyncio
async def test_no_starttls_no_tls_connection(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    srv = await serve(lambda n: (b"220 mx\r\n", b"250-mx\r\n250 8BITMIME\r\n", b""))
    m = await probe_starttls(ctx_for(srv.port), MX, "127.0.0.1")
    assert m.outcome == Outcome.SKIPPED and m.tls is None
    assert srv.accepted == 1
