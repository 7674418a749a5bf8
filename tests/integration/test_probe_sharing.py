"""Probe sharing through real servers on 127.0.0.1: the engine's AddressSession hands the
HTTP probe's TLS handshake to the TLS probe (and the observation says so), the TLS probe is
never left waiting when there is none, and the TLS hellos never take a spare connection.

A small asyncio web server (plain HTTP on one port, HTTPS on another, the service ports
80/443 mapped to them with ScanOptions.port_map) and the DNS server of tests/support as the
resolver: the scan path is the engine's own (probe_host). The HTTPS server counts the
connections whose TLS handshake completed and the requests they carried.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from auditor.engine import probe_host
from auditor.model import Probe
from auditor.obs import HostObservations
from auditor.obs.core import Outcome
from auditor.obs.tls import Depth, HandshakeBy
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.session import AddressSession
from auditor.probes.tcp import tcp_connect
from auditor.probes.tls import probe_tls
from tests.support.dnsserver import DnsServer, Zone

HOST = "www.sharing.test"
LOOPBACK = ("127.0.0.0/8",)


def _cert(
    cn: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None, signer: object
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), True)
    )
    if issuer is not None:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), False)
    return b.sign(signer, hashes.SHA256())  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A root CA (ca.pem) and a leaf for HOST signed by it (leaf.pem, leaf.key)."""
    wd = tmp_path_factory.mktemp("sharing-pki")
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("Sharing Test Root", root_key, None, root_key)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert(HOST, leaf_key, root, root_key)
    (wd / "ca.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (wd / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (wd / "leaf.key").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    yield wd


@dataclass
class Web:
    """Plain HTTP on ``plain``, HTTPS on ``tls`` (``tls_is_plain``: plain HTTP there too)."""

    plain: int = 0
    tls: int = 0
    handshakes: int = 0  # connections on the HTTPS port whose TLS handshake completed
    requests: dict[str, int] = field(default_factory=lambda: {"plain": 0, "tls": 0})

    def handler(
        self, kind: str
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            if w.get_extra_info("ssl_object") is not None:
                self.handshakes += 1
            try:
                while True:
                    try:
                        await r.readuntil(b"\r\n\r\n")
                    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                        return
                    self.requests[kind] += 1
                    body = b"<html><body>sharing</body></html>"
                    w.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                    )
                    await w.drain()
            except (ConnectionError, ssl.SSLError):
                return
            finally:
                w.close()

        return handle


async def _start(pki: Path, tls_is_plain: bool = False) -> tuple[Web, list[asyncio.Server]]:
    web = Web()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki / "leaf.pem", pki / "leaf.key")
    plain = await asyncio.start_server(web.handler("plain"), "127.0.0.1", 0)
    tls = await asyncio.start_server(
        web.handler("tls"), "127.0.0.1", 0, ssl=None if tls_is_plain else ctx
    )
    web.plain = plain.sockets[0].getsockname()[1]
    web.tls = tls.sockets[0].getsockname()[1]
    return web, [plain, tls]


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    zone = Zone()
    zone.add(HOST, "A", ["127.0.0.1"])
    with DnsServer(zone) as server:
        yield server


def _ctx(web: Web, pki: Path, dns: DnsServer) -> ProbeContext:
    return ProbeContext(
        ScanOptions(
            timeout=3.0,
            resolver=dns.spec,
            allow_nets=LOOPBACK,
            ca_file=str(pki / "ca.pem"),
            port_map={"*": {80: web.plain, 443: web.tls}},
            icmp=False,
        )
    )


async def _scan(
    pki: Path, dns: DnsServer, needs: set[str], tls_is_plain: bool = False
) -> tuple[HostObservations, Web]:
    web, servers = await _start(pki, tls_is_plain)
    try:
        ctx = _ctx(web, pki, dns)
        with anyio.fail_after(60):  # a TLS probe left waiting would hang here
            obs = await probe_host(ctx, HOST, frozenset({Probe.DNS, *needs}))
    finally:
        for s in servers:
            s.close()
            await s.wait_closed()
    return obs, web


@pytest.mark.asyncio
async def test_tls_observation_takes_the_http_probes_handshake(pki: Path, dns: DnsServer) -> None:
    obs, web = await _scan(pki, dns, {Probe.TCP, Probe.TLS, Probe.HTTP})
    assert not obs.deadline_hit
    (t,) = obs.tls
    assert t.outcome == Outcome.OK, t.detail
    assert t.handshake_by == HandshakeBy.HTTP
    assert t.handshake_version in ("TLSv1.2", "TLSv1.3") and t.handshake_cipher
    assert "TLSv1.3" in t.accepted_versions()  # the hellos ran all the same
    (h,) = obs.http
    assert h.https is not None and h.https.hops and h.https.hops[0].status == 200
    # the 0-RTT probe read the tickets of the HTTP probe's TLS 1.3 connection (this
    # server's allow no early data) and made no handshake of its own
    assert t.zero_rtt == Depth.NO_EARLY_DATA, t.zero_rtt_detail
    assert "HTTP probe's TLS 1.3 connection" in t.zero_rtt_detail
    # every completed TLS handshake on the server carried an HTTP request: the TLS probe
    # made no OpenSSL handshake of its own; only the client-renegotiation probe's (TLS 1.2)
    # carries none, by design
    depth = 1 if t.client_renegotiation in (Depth.REFUSED, Depth.ACCEPTED) else 0
    assert web.handshakes - depth >= 1 and web.requests["tls"] >= web.handshakes - depth


@pytest.mark.asyncio
async def test_tls_observation_alone_is_its_own_handshake(pki: Path, dns: DnsServer) -> None:
    obs, web = await _scan(pki, dns, {Probe.TCP, Probe.TLS})
    (t,) = obs.tls
    assert t.outcome == Outcome.OK, t.detail
    assert t.handshake_by == HandshakeBy.TLS
    assert t.handshake_version in ("TLSv1.2", "TLSv1.3")
    assert obs.http == ()
    # the TLS probe's own handshake, plus the one the client-renegotiation probe completes
    # (pyOpenSSL, TLS 1.2, auditor/probes/tls_reneg.py) when the server accepts TLS 1.2,
    # plus the 0-RTT probe's TLS 1.3 handshake (auditor/probes/tls_early.py), which sends
    # no request: its GET goes only in early data, on a ticket allowing it (this server's
    # Python ssl tickets do not); no HTTP request on any of them
    reneg = 1 if t.client_renegotiation in (Depth.REFUSED, Depth.ACCEPTED) else 0
    assert "TLSv1.2" in t.accepted_versions() and reneg == 1, t.client_renegotiation_detail
    early = 1 if t.zero_rtt == Depth.NO_EARLY_DATA else 0
    assert "TLSv1.3" in t.accepted_versions() and early == 1, t.zero_rtt_detail
    assert web.handshakes == 1 + reneg + early and web.requests["tls"] == 0


@pytest.mark.asyncio
async def test_no_http_handshake_releases_the_tls_probe(pki: Path, dns: DnsServer) -> None:
    # port 443 answers plain HTTP: the HTTP probe's https:// fails before any handshake
    # completes; the TLS probe is released and judges the failure with its own attempt
    obs, _web = await _scan(pki, dns, {Probe.TCP, Probe.TLS, Probe.HTTP}, tls_is_plain=True)
    assert not obs.deadline_hit
    (t,) = obs.tls
    assert t.outcome != Outcome.OK
    assert t.handshake_by == HandshakeBy.TLS
    (h,) = obs.http
    assert h.https is not None and not h.https.hops


@pytest.mark.asyncio
async def test_tls_hellos_never_take_a_spare(pki: Path, dns: DnsServer) -> None:
    web, servers = await _start(pki)
    try:
        ctx = _ctx(web, pki, dns)
        session = AddressSession(HOST, "127.0.0.1")
        tcp = await tcp_connect(ctx, "127.0.0.1", 443, session=session, wire=web.tls)
        assert tcp.open
        session.expect_handshake(443)
        session.abandon_handshake(443)  # as an HTTP probe that completed none would
        with anyio.fail_after(60):
            t = await probe_tls(ctx, HOST, "127.0.0.1", 443, session=session)
        assert t.outcome == Outcome.OK and t.handshake_by == HandshakeBy.TLS
        # ~20 connections were made for the hellos and the handshake; the parked one is
        # still there, unused and alive, for the HTTP probe
        assert ctx.stats["connections"] > 2
        spare = session.take_spare(web.tls)
        assert spare is not None
        await spare.aclose()
        await session.aclose()
    finally:
        for s in servers:
            s.close()
            await s.wait_closed()


@pytest.mark.asyncio
async def test_a_session_of_another_host_or_address_is_refused(pki: Path, dns: DnsServer) -> None:
    web, servers = await _start(pki)
    try:
        ctx = _ctx(web, pki, dns)
        with pytest.raises(ValueError):
            await probe_tls(
                ctx, HOST, "127.0.0.1", 443, session=AddressSession("x.test", "127.0.0.1")
            )
        with pytest.raises(ValueError):
            await tcp_connect(ctx, "127.0.0.1", 443, session=AddressSession(HOST, "127.0.0.2"))
        assert ctx.stats["connections"] == 0
    finally:
        for s in servers:
            s.close()
            await s.wait_closed()
