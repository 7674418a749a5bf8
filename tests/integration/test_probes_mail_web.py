"""MTA-STS policy fetch (pinned, SNI, verified, capped) against a local TLS server, and the
subresource probe against the test DNS server and a loopback listener. Loopback only."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from auditor.obs import HostObservations
from auditor.obs.core import DnsAnswer, HostDns, Outcome
from auditor.obs.http import HttpObservation, SubresourceRef
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.mta_sts import MAX_POLICY, fetch_policy
from auditor.probes.subresources import probe_subresources
from tests.support.servers import FakeDns, fake, has_ipv6_loopback

__all__ = ["fake"]  # a fixture, used by name

POLICY_HOST = "mta-sts.example.gov.vn"


ALLOW = ("127.0.0.0/8", "::1/128")


Responder = Callable[[bytes], bytes]
# serve(responder) -> port, the CA file, the requests the server saw
Https = tuple[Callable[[Responder], Awaitable[int]], Path, list[bytes]]


def _pki(d: Path) -> tuple[Path, Path, Path]:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mta-sts test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, POLICY_HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(POLICY_HOST)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert, keyf = d / "ca.pem", d / "leaf.pem", d / "leaf.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    keyf.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, cert, keyf


@pytest_asyncio.fixture
async def https(
    tmp_path: Path,
) -> AsyncIterator[Https]:
    ca_file, cert, key = _pki(tmp_path)
    sslctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sslctx.load_cert_chain(cert, key)
    servers: list[asyncio.Server] = []
    requests: list[bytes] = []

    async def start(respond: Responder) -> int:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                head = await r.readuntil(b"\r\n\r\n")
                requests.append(head)
                w.write(respond(head))
                await w.drain()
            except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                pass
            finally:
                w.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=sslctx)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start, ca_file, requests
    for s in servers:
        s.close()


def _ok(body: bytes, ctype: bytes = b"text/plain") -> Responder:
    def respond(_head: bytes) -> bytes:
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype + b"\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )  # fmt: skip

    return respond


POLICY = b"version: STSv1\r\nmode: enforce\r\nmx: mx1.example.gov.vn\r\nmax_age: 86400\r\n"


def _ctx(ca_file: Path) -> ProbeContext:
    return ProbeContext(ScanOptions(timeout=2, allow_nets=ALLOW, ca_file=str(ca_file)))


@pytest.mark.asyncio
async def test_policy_fetched_pinned_with_host_and_sni(https: Https) -> None:
    start, ca_file, requests = https
    port = await start(_ok(POLICY))
    f = await fetch_policy(_ctx(ca_file), POLICY_HOST, "127.0.0.1", port)
    assert f.outcome == Outcome.OK and f.status == 200 and f.body == POLICY.decode()
    assert f.content_type == "text/plain"
    assert requests[0].startswith(b"GET /.well-known/mta-sts.txt HTTP/1.1")
    assert f"host: {POLICY_HOST}".encode() in requests[0].lower()


@pytest.mark.asyncio
async def test_policy_wrong_name_is_tls_error(https: Https) -> None:
    start, ca_file, _ = https
    port = await start(_ok(POLICY))
    f = await fetch_policy(_ctx(ca_file), "mta-sts.other.gov.vn", "127.0.0.1", port)
    assert f.outcome == Outcome.TLS_ERROR and f.status is None


@pytest.mark.asyncio
async def test_policy_404_redirect_and_size_cap(https: Https) -> None:
    start, ca_file, _ = https

    def not_found(_h: bytes) -> bytes:
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    def moved(_h: bytes) -> bytes:
        return (
            b"HTTP/1.1 301 Moved\r\nLocation: https://elsewhere.example/\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        )

    ctx = _ctx(ca_file)
    assert (await fetch_policy(ctx, POLICY_HOST, "127.0.0.1", await start(not_found))).status == 404
    # RFC 8461 3.3: redirects are not followed
    assert (await fetch_policy(ctx, POLICY_HOST, "127.0.0.1", await start(moved))).status == 301
    big = await start(_ok(b"x" * (MAX_POLICY * 3)))
    f = await fetch_policy(ctx, POLICY_HOST, "127.0.0.1", big)
    assert f.outcome == Outcome.TOO_LARGE and len(f.body) <= MAX_POLICY


@pytest.mark.asyncio
async def test_policy_refused_and_blocked(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    ca_file, _, _ = _pki(tmp_path)
    f = await fetch_policy(_ctx(ca_file), POLICY_HOST, "127.0.0.1", closed)
    assert f.outcome == Outcome.REFUSED
    blocked = await fetch_policy(ProbeContext(ScanOptions(timeout=1)), POLICY_HOST, "127.0.0.1")
    assert blocked.outcome == Outcome.BLOCKED


@pytest.mark.asyncio
@pytest.mark.skipif(not has_ipv6_loopback(), reason="no ::1")
async def test_subresources_probed_over_ipv6(fake: FakeDns) -> None:
    listener = await asyncio.start_server(lambda r, w: w.close(), "::1", 0)
    port = listener.sockets[0].getsockname()[1]
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        closed = s.getsockname()[1]
    fake.add("cdn6.test", "AAAA", "cdn6.test. 60 IN AAAA ::1")
    fake.add("dead6.test", "AAAA", "dead6.test. 60 IN AAAA ::1")
    fake.add("cdn4.test", "AAAA")
    fake.add("cdn4.test", "A", "cdn4.test. 60 IN A 127.0.0.1")
    refs = (
        SubresourceRef(f"https://cdn6.test:{port}/app.js", "script", "cdn6.test"),
        SubresourceRef(f"https://cdn6.test:{port}/app.css", "link", "cdn6.test"),
        SubresourceRef(f"http://dead6.test:{closed}/x.png", "img", "dead6.test"),
        SubresourceRef("https://cdn4.test/x.png", "img", "cdn4.test"),
        SubresourceRef("data:image/png;base64,AAAA", "img", ""),
    )
    host = "www.example.gov.vn"
    obs = HostObservations(
        host,
        HostDns(
            host,
            DnsAnswer(host, "A", Outcome.NODATA),
            DnsAnswer(host, "AAAA", Outcome.OK, ("::1",)),
        ),
        http=(
            HttpObservation("::1", Outcome.OK, subresources=refs, landing_url=f"https://{host}/"),
        ),
    )
    ctx = ProbeContext(ScanOptions(resolver=f"127.0.0.1:{fake.port}", timeout=1, allow_nets=ALLOW))
    try:
        sub = await probe_subresources(ctx, obs)
    finally:
        listener.close()
    assert sub.outcome == Outcome.OK and sub.source_address == "::1"
    by = {h.host: h for h in sub.hosts}
    assert set(by) == {"cdn6.test", "dead6.test", "cdn4.test"}
    assert by["cdn6.test"].tags == ("link", "script") and by["cdn6.test"].tcp[0].open
    assert by["dead6.test"].tcp[0].outcome == Outcome.REFUSED
    assert by["cdn4.test"].aaaa.outcome == Outcome.NODATA and by["cdn4.test"].tcp == ()
