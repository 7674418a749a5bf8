"""The TLS probe against real servers on loopback: a throw-away nginx (legacy protocols,
weak keys, SHA-1, missing intermediate, OCSP stapling) and small asyncio servers (plain
HTTP on 443, a silent peer). Traffic goes to 127.0.0.1 and ::1 only."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from auditor.engine import evaluate_host, make_plan
from auditor.model import Status
from auditor.obs import HostObservations
from auditor.obs.core import DnsAnswer, HostDns, Outcome, TcpProbe
from auditor.obs.tls import TLS12, Depth, TlsObservation, Trust, VersionOutcome
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.tls import probe_tls
from auditor.probes.tls_depth import MAX_DEPTH_CONNECTIONS
from auditor.probes.tls_reneg import MAX_RENEGOTIATIONS
from auditor.registry import all_checks
from tests.support.factories import LAB_GUARD, LAB_NETS, Pki, key_pem, make_key, pem
from tests.support.servers import Site, free_port, in_ci, nginx_available, run_nginx

ALLOW = ("127.0.0.0/8", "::1/128")


@dataclass
class Servers:
    ports: dict[str, int]
    ca_file: str
    workdir: Path


def sha1_leaf(workdir: Path, pki: Pki, name: str) -> tuple[bytes, bytes]:
    """A leaf signed with SHA-1 by the intermediate (the cryptography package refuses to
    sign with SHA-1, so the openssl CLI does it, as an old CA would have)."""
    key = make_key("ec")
    (workdir / "i.key").write_bytes(key_pem(pki.inter_key))
    (workdir / "i.pem").write_bytes(pem(pki.inter))
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]))
        .sign(key, hashes.SHA256())
    )
    (workdir / "s.csr").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    (workdir / "s.ext").write_text(f"subjectAltName=DNS:{name}\nbasicConstraints=CA:FALSE\n")
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(workdir / "s.csr"), "-CA", str(workdir / "i.pem"),
         "-CAkey", str(workdir / "i.key"), "-set_serial", "7", "-days", "30", "-sha1",
         "-extfile", str(workdir / "s.ext"), "-out", str(workdir / "s.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    return (workdir / "s.pem").read_bytes(), key_pem(key)


def ocsp_response(pki: Pki, leaf: x509.Certificate) -> bytes:
    now = datetime.now(UTC)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf,
            issuer=pki.inter,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=now - dt.timedelta(hours=1),
            next_update=now + dt.timedelta(days=3),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, pki.inter)
    )
    return builder.sign(pki.inter_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    if not nginx_available():
        if in_ci():
            pytest.fail("CI=true but nginx is not installed")
        pytest.skip("nginx is not installed")
    wd = tmp_path_factory.mktemp("tls-nginx")
    pki = Pki.create()
    (wd / "ca.pem").write_bytes(pem(pki.root))
    legacy, lk = pki.leaf(("legacy.test",))
    modern, mk = pki.leaf(("modern.test",))
    nochain, nk = pki.leaf(("nochain.test",))
    weak, wk = pki.leaf(("weak.test",), kind="rsa1024")
    rsa2048, rk = pki.leaf(("rsa.test",), kind="rsa2048")
    staple, sk = pki.leaf(("staple.test",))
    (wd / "staple.der").write_bytes(ocsp_response(pki, staple))
    sha1_pem, sha1_key = sha1_leaf(wd, pki, "sha1.test")
    self_key = make_key("ec")
    from tests.support.factories import make_cert

    selfsigned = make_cert("self.test", self_key, None, self_key, sans=("self.test",))
    early, ek = pki.leaf(("early.test",))
    ports = {n: free_port() for n in
             ("legacy", "modern", "nochain", "weak", "rsa", "staple", "sha1", "self",
              "early", "early425", "ownorder", "badorder", "clientorder")}  # fmt: skip
    sec0 = "@SECLEVEL=0"
    sites = [
        Site("legacy.test", ports["legacy"], "TLSv1 TLSv1.1 TLSv1.2",
             f"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA:{sec0}",
             pem(legacy, pki.inter), key_pem(lk)),
        Site("modern.test", ports["modern"], "TLSv1.2 TLSv1.3",
             "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305",
             pem(modern, pki.inter), key_pem(mk)),
        Site("nochain.test", ports["nochain"], "TLSv1.3", "HIGH", pem(nochain), key_pem(nk)),
        Site("weak.test", ports["weak"], "TLSv1.2",
             f"ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA:{sec0}", pem(weak, pki.inter),
             key_pem(wk)),
        Site("rsa.test", ports["rsa"], "TLSv1.2 TLSv1.3",
             "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA256",
             pem(rsa2048, pki.inter), key_pem(rk)),
        Site("staple.test", ports["staple"], "TLSv1.2 TLSv1.3", "ECDHE-ECDSA-AES128-GCM-SHA256",
             pem(staple, pki.inter), key_pem(sk), stapling_file=str(wd / "staple.der")),
        Site("sha1.test", ports["sha1"], "TLSv1.2 TLSv1.3",
             f"ECDHE-ECDSA-AES128-GCM-SHA256:{sec0}", sha1_pem + pem(pki.inter), sha1_key),
        Site("self.test", ports["self"], "TLSv1.2 TLSv1.3", "ECDHE-ECDSA-AES128-GCM-SHA256",
             pem(selfsigned), key_pem(self_key)),
        # tls.zero_rtt: nginx passes early requests on ($ssl_early_data is "1" for them)
        Site("early.test", ports["early"], "TLSv1.2 TLSv1.3", "ECDHE-ECDSA-AES128-GCM-SHA256",
             pem(early, pki.inter), key_pem(ek), extra="ssl_early_data on;"),
        Site("early.test", ports["early425"], "TLSv1.3", "ECDHE-ECDSA-AES128-GCM-SHA256",
             pem(early, pki.inter), key_pem(ek), extra="ssl_early_data on;",
             location='if ($ssl_early_data) { return 425; } return 200 "ok";'),
        # cipher order from the enumeration's picks (tls.py broke_client_order): three
        # suites in the server's order, good first and a phase-out one in the middle; and
        # the client's order (nginx's default)
        Site("order.test", ports["ownorder"], "TLSv1.2 TLSv1.3",
             "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA",
             pem(modern, pki.inter), key_pem(mk), extra="ssl_prefer_server_ciphers on;"),
        Site("order.test", ports["badorder"], "TLSv1.2 TLSv1.3",
             "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-CHACHA20-POLY1305",
             pem(modern, pki.inter), key_pem(mk), extra="ssl_prefer_server_ciphers on;"),
        Site("order.test", ports["clientorder"], "TLSv1.2 TLSv1.3",
             "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA",
             pem(modern, pki.inter), key_pem(mk)),
    ]  # fmt: skip
    yield from _wrap(run_nginx(wd, sites), Servers(ports, str(wd / "ca.pem"), wd))


def _wrap(gen: Iterator[None], value: Servers) -> Iterator[Servers]:
    next(gen)
    try:
        yield value
    finally:
        for _ in gen:
            pass


def ctx_for(s: Servers, **kw: object) -> ProbeContext:
    opts = ScanOptions(timeout=3.0, allow_nets=ALLOW, ca_file=s.ca_file, **kw)  # type: ignore[arg-type]
    return ProbeContext(opts)


def probe(
    s: Servers, name: str, address: str = "127.0.0.1", host: str = "", **kw: object
) -> TlsObservation:
    ctx = ctx_for(s, **kw)

    async def go() -> TlsObservation:
        return await probe_tls(ctx, host or f"{name}.test", address, s.ports[name])

    return anyio.run(go)


def verdicts(t: TlsObservation, host: str) -> dict[str, Status]:
    """Run every TLS check on one observation through the engine's evaluation."""
    t = replace(t, port=443)  # the servers listen on ephemeral ports; checks look at 443
    dns = HostDns(host, DnsAnswer(host, "A", Outcome.OK, (t.address,)),
                  DnsAnswer(host, "AAAA", Outcome.NODATA))  # fmt: skip
    obs = HostObservations(host, dns, tcp=(TcpProbe(t.address, 443, Outcome.OPEN),), tls=(t,))
    plan = make_plan(
        [host], [], [c for c in all_checks() if c.id.startswith("tls.")], allow_nets=LAB_NETS
    )
    return {f.check: f.status for f in evaluate_host(obs, plan, datetime.now(UTC))}


def accepted(t: TlsObservation) -> set[str]:
    return set(t.accepted_versions())


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_legacy_protocols_detected(servers: Servers, address: str) -> None:
    t = probe(servers, "legacy", address)
    assert t.outcome == Outcome.OK, t.detail
    assert accepted(t) == {"TLSv1.0", "TLSv1.1", "TLSv1.2"}
    assert t.version("SSLv2") and t.version("SSLv2").outcome == VersionOutcome.REJECTED  # type: ignore[union-attr]
    names = {(c.version, c.name) for c in t.ciphers}
    assert ("TLSv1.0", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA") in names
    assert ("TLSv1.2", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256") in names
    assert t.ciphers_complete
    v = verdicts(t, "legacy.test")
    assert v["tls.protocols.legacy"] == Status.FAIL
    assert v["tls.protocols.modern"] == Status.PASS  # TLS 1.2: sufficient (NCSC-NL 2025-05)
    assert v["tls.ciphers"] == Status.FAIL  # CBC-SHA1
    assert v["tls.cert.trusted"] == Status.PASS


def test_modern_site_passes(servers: Servers) -> None:
    t = probe(servers, "modern", "::1")
    assert accepted(t) == {"TLSv1.2", "TLSv1.3"}
    assert t.chain_source == "TLSv1.3"  # read from the decrypted TLS 1.3 flight
    assert [c.subject for c in t.chain] == ["CN=modern.test", "CN=Test Intermediate CA"]
    assert t.trust == Trust.TRUSTED and t.trust_anchor == "CN=Test Root CA"
    tls13 = {c.name for c in t.ciphers if c.version == "TLSv1.3"}
    assert "TLS_AES_128_GCM_SHA256" in tls13 and "TLS_AES_256_GCM_SHA384" in tls13
    v = verdicts(t, "modern.test")
    for cid in ("tls.available", "tls.protocols.legacy", "tls.protocols.modern", "tls.ciphers",
                "tls.forward_secrecy", "tls.cert.trusted", "tls.cert.hostname",
                "tls.cert.expiry", "tls.cert.key", "tls.cert.signature"):  # fmt: skip
        assert v[cid] == Status.PASS, cid
    # nothing stapled, and the test CA's certificates name no OCSP responder (AIA): as
    # Internet.nl judges it, stapling does not apply (issue #19)
    assert v["tls.ocsp_stapling"] == Status.NOT_APPLICABLE
    # another host name on the same server: the default certificate does not match
    wrong = verdicts(t, "other.test")
    assert wrong["tls.cert.hostname"] == Status.FAIL


def test_tls13_only_server_without_intermediate(servers: Servers) -> None:
    t = probe(servers, "nochain")
    assert accepted(t) == {"TLSv1.3"}
    assert t.chain_source == "TLSv1.3" and len(t.chain) == 1
    assert t.trust == Trust.MISSING_INTERMEDIATE
    assert "probably missing intermediate" in verdicts_msg(t, "nochain.test", "tls.cert.trusted")


def verdicts_msg(t: TlsObservation, host: str, check_id: str) -> str:
    from auditor.registry import CheckContext, get_check

    t = replace(t, port=443)
    dns = HostDns(host, DnsAnswer(host, "A", Outcome.OK, (t.address,)),
                  DnsAnswer(host, "AAAA", Outcome.NODATA))  # fmt: skip
    obs = HostObservations(host, dns, tls=(t,))
    cctx = CheckContext(host, {}, datetime.now(UTC), address=t.address, guard=LAB_GUARD)
    return get_check(check_id).run(obs, cctx).message


def test_weak_rsa1024_and_rsa_key_exchange_are_observed(servers: Servers) -> None:
    t = probe(servers, "weak")
    assert t.outcome == Outcome.OK, t.detail  # @SECLEVEL=0: observed, not hidden
    leaf = t.chain[0]
    assert (leaf.key_type, leaf.key_bits) == ("RSA", 1024)
    v = verdicts(t, "weak.test")
    assert v["tls.cert.key"] == Status.FAIL
    assert v["tls.forward_secrecy"] == Status.FAIL  # AES128-SHA
    assert v["tls.cert.trusted"] == Status.PASS


def test_rsa2048_and_phase_out_suite(servers: Servers) -> None:
    t = probe(servers, "rsa")
    v = verdicts(t, "rsa.test")
    assert v["tls.cert.key"] == Status.WARN
    assert v["tls.ciphers"] == Status.WARN  # ECDHE-RSA-AES128-SHA256 (CBC-SHA2): phase out
    assert v["tls.forward_secrecy"] == Status.PASS


def test_sha1_signature(servers: Servers) -> None:
    t = probe(servers, "sha1")
    assert t.chain[0].sig_hash == "sha1"
    v = verdicts(t, "sha1.test")
    assert v["tls.cert.signature"] == Status.FAIL
    assert v["tls.cert.trusted"] == Status.PASS  # judged by the signature check, not here


def test_self_signed(servers: Servers) -> None:
    t = probe(servers, "self")
    assert t.trust == Trust.SELF_SIGNED
    assert verdicts(t, "self.test")["tls.cert.trusted"] == Status.FAIL


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_ocsp_stapling(servers: Servers, address: str) -> None:
    t = probe(servers, "staple", address)
    # nginx staples from ssl_stapling_file on TLS 1.2 and 1.3 (CertificateEntry extension)
    assert t.ocsp_stapled is True, t.ocsp_detail
    assert t.ocsp_status == "good"
    assert verdicts(t, "staple.test")["tls.ocsp_stapling"] == Status.PASS


def test_probe_once_per_scan_and_connection_budget(servers: Servers) -> None:
    ctx = ctx_for(servers)

    async def go() -> tuple[TlsObservation, TlsObservation]:
        a = await probe_tls(ctx, "modern.test", "127.0.0.1", servers.ports["modern"])
        b = await probe_tls(ctx, "modern.test", "127.0.0.1", servers.ports["modern"])
        return a, b

    a, b = anyio.run(go)
    assert a is b
    # 6 version hellos + (suites + 1 - 1) per accepted version + 1 full handshake
    # + the depth probes' own (auditor/probes/tls_depth.py, at most MAX_DEPTH_CONNECTIONS)
    budget = 6 + sum(1 + sum(c.version == v for c in a.ciphers) - 1
                     for v in a.accepted_versions()) + 1  # fmt: skip
    assert 0 < a.depth_connections <= MAX_DEPTH_CONNECTIONS
    assert ctx.stats["connections"] <= budget + a.depth_connections


def test_blocked_address_is_never_contacted(servers: Servers) -> None:
    ctx = ProbeContext(ScanOptions(timeout=1.0))  # no --allow-net: loopback is refused

    async def go() -> TlsObservation:
        return await probe_tls(ctx, "modern.test", "127.0.0.1", servers.ports["modern"])

    t = anyio.run(go)
    assert t.outcome == Outcome.BLOCKED and ctx.stats["connections"] == 0


@pytest.mark.parametrize("kind", ["http", "silent"])
def test_non_tls_peers(kind: str) -> None:
    """Plain HTTP on the TLS port, and a peer that never answers: outcomes, not exceptions."""

    async def main() -> TlsObservation:
        async def handle(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                try:
                    await stream.receive()
                    if kind == "http":
                        await stream.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    else:
                        await anyio.sleep(5)
                except Exception:
                    pass

        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        ctx = ProbeContext(ScanOptions(timeout=0.5, allow_nets=ALLOW))
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            t = await probe_tls(ctx, "x.test", "127.0.0.1", port)
            tg.cancel_scope.cancel()
        return t

    t = anyio.run(main)
    assert t.outcome in (Outcome.TLS_ERROR, Outcome.TIMEOUT, Outcome.RESET), t
    assert not t.accepted_versions()
    assert t.chain == () and t.ciphers == ()
    v = verdicts(t, "x.test")
    assert v["tls.available"] == Status.FAIL
    assert v["tls.protocols.legacy"] == Status.NOT_TESTED
    if kind == "silent":
        assert {r.outcome for r in t.versions} == {VersionOutcome.ERROR}


def test_hostile_tls13_key_share_is_an_observation() -> None:
    """A TLS 1.3 ServerHello with a low-order x25519 share: no exception escapes."""
    import struct

    def server_hello() -> bytes:
        exts = struct.pack("!HHH", 43, 2, 0x0304) + struct.pack("!HHHH", 51, 36, 0x001D, 32)
        exts += b"\x00" * 32
        body = b"\x03\x03" + b"R" * 32 + b"\x00" + struct.pack("!HB", 0x1301, 0)
        body += struct.pack("!H", len(exts)) + exts
        msg = b"\x02" + len(body).to_bytes(3, "big") + body
        return b"\x16\x03\x03" + struct.pack("!H", len(msg)) + msg

    async def main() -> TlsObservation:
        async def handle(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                try:
                    await stream.receive()
                    await stream.send(server_hello())
                    await anyio.sleep(1)
                except Exception:
                    pass

        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        ctx = ProbeContext(ScanOptions(timeout=0.5, allow_nets=ALLOW))
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            t = await probe_tls(ctx, "x.test", "127.0.0.1", port)
            tg.cancel_scope.cancel()
        return t

    t = anyio.run(main)
    v13 = t.version("TLSv1.3")
    assert v13 is not None and v13.outcome == VersionOutcome.ACCEPTED
    assert t.chain == ()


@pytest.mark.asyncio
async def test_hello_to_a_silent_server_times_out_as_no_answer() -> None:
    import socket

    from auditor.probes.tls import _hello, _offer

    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        port = srv.getsockname()[1]
        ctx = ProbeContext(ScanOptions(timeout=0.3))
        with anyio.fail_after(5):
            res = await _hello(ctx, "127.0.0.1", port, "TLSv1.2", "x.test", _offer("TLSv1.2"))
    assert res.outcome == VersionOutcome.ERROR
    assert res.detail == "no answer before the timeout"


@pytest.mark.asyncio
async def test_hello_whose_connect_hangs_times_out_as_connect() -> None:
    import socket

    from auditor.probes.tls import _hello, _offer

    # A listener whose accept queue is full: Linux drops further SYNs, so a connect hangs.
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(0)
        port = srv.getsockname()[1]
        fillers = []
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
        try:
            ctx = ProbeContext(ScanOptions(timeout=0.3))
            with anyio.fail_after(5):
                res = await _hello(ctx, "127.0.0.1", port, "TLSv1.2", "x.test", _offer("TLSv1.2"))
        finally:
            for c in fillers:
                c.close()
    assert res.outcome == VersionOutcome.ERROR
    assert res.detail == "connect: no answer before the timeout"


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_handshake_depth_probes(servers: Servers, address: str) -> None:
    """Issue 19 on real nginx: the legacy site (@SECLEVEL=0) signs with SHA-1 and honours
    the fallback SCSV; every site refuses compression and an early CCS, has no heartbeat,
    negotiates EMS and secure renegotiation; the modern site uses X25519 only."""
    legacy = probe(servers, "legacy", address)
    got = verdicts(legacy, "legacy.test")
    assert legacy.kex_hash == "accepted" and "sha1" in legacy.kex_hash_scheme
    assert got["tls.kex_hash"] == Status.FAIL
    assert got["tls.fallback_scsv"] == Status.PASS
    modern = probe(servers, "modern", address)
    got = verdicts(modern, "modern.test")
    for cid in ("tls.kex_params", "tls.compression", "tls.renegotiation.secure", "tls.ems",
                "tls.vuln.heartbleed", "tls.vuln.ccs_injection", "tls.fallback_scsv"):  # fmt: skip
        assert got[cid] == Status.PASS, (cid, modern)
    assert {k.group for k in modern.kex} == {"x25519"} and modern.kex_weak_refused is True
    weak = probe(servers, "weak", address)  # TLS 1.2 only: nothing to fall back from
    assert verdicts(weak, "weak.test")["tls.fallback_scsv"] == Status.NOT_APPLICABLE


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_cipher_order_from_the_enumeration(servers: Servers, address: str) -> None:
    """The enumeration's second TLS 1.2 hello offers the rest in reverse and carries the
    compression/heartbeat/CCS offers: a server keeping its own order is proven so by its
    picks (no reverse hello, no compression hello of the depth probes), its order is the
    one judged; a client-order server still gets the reverse hello."""
    own = probe(servers, "ownorder", address, host="order.test")
    bad = probe(servers, "badorder", address, host="order.test")
    client = probe(servers, "clientorder", address, host="order.test")
    names = [c.name for c in own.ciphers if c.version == TLS12]
    assert names == ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                     "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                     "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"], names  # fmt: skip
    assert own.cipher_order == ((TLS12, True),) == bad.cipher_order
    assert client.cipher_order == ((TLS12, False),)
    assert {len([c for c in t.ciphers if c.version == TLS12]) for t in (own, bad, client)} == {3}
    # the depth probes of the client-order server sent the reverse hello on top
    assert client.depth_connections == own.depth_connections + 1 == bad.depth_connections + 1
    got = {n: verdicts(t, "order.test") for n, t in (("own", own), ("bad", bad), ("cl", client))}
    assert got["own"]["tls.cipher_order"] == Status.PASS
    assert got["bad"]["tls.cipher_order"] == Status.FAIL
    assert got["cl"]["tls.cipher_order"] == Status.FAIL
    for t in (own, bad, client):  # the folded offers were read as the depth probes did
        v = verdicts(t, "order.test")
        for cid in ("tls.compression", "tls.vuln.ccs_injection", "tls.vuln.heartbleed"):
            assert v[cid] == Status.PASS, (cid, t)
        assert "DEFLATE" in t.compression_detail and "refused" in t.ccs_injection_detail


@pytest.fixture(scope="module")
def reneg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """`openssl s_server -client_renegotiation` (OpenSSL 3 refuses client renegotiation
    unless told) on 127.0.0.1 and ::1: the accepting server nginx cannot be made into."""
    wd = tmp_path_factory.mktemp("reneg")
    pki = Pki.create()
    leaf, lk = pki.leaf(("reneg.test",))
    (wd / "chain.pem").write_bytes(pem(leaf, pki.inter))
    (wd / "key.pem").write_bytes(key_pem(lk))
    ports: dict[str, int] = {}
    procs = []
    try:
        for addr in ("127.0.0.1", "::1"):
            port = free_port()
            host = f"[{addr}]" if ":" in addr else addr
            procs.append(subprocess.Popen(
                ["openssl", "s_server", "-accept", f"{host}:{port}", "-cert", wd / "chain.pem",
                 "-cert_chain", wd / "chain.pem", "-key", wd / "key.pem", "-tls1_2", "-www",
                 "-client_renegotiation", "-quiet"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
            ports[addr] = port
        for addr, port in ports.items():  # wait until each listens (bounded: 10 s)
            for _ in range(100):
                try:
                    socket.create_connection((addr, port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                pytest.fail(f"openssl s_server did not listen on {addr}")
        yield ports
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=5)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_client_renegotiation_accepted_by_s_server(
    reneg_server: dict[str, int], address: str
) -> None:
    ctx = ProbeContext(ScanOptions(timeout=3.0, allow_nets=ALLOW))

    async def go() -> TlsObservation:
        return await probe_tls(ctx, "reneg.test", address, reneg_server[address])

    t = anyio.run(go)
    assert t.client_renegotiation == Depth.ACCEPTED, t.client_renegotiation_detail
    assert t.client_renegotiations == MAX_RENEGOTIATIONS
    assert t.depth_connections <= MAX_DEPTH_CONNECTIONS
    assert verdicts(t, "reneg.test")["tls.renegotiation.client"] == Status.INFO


def test_client_renegotiation_refused_by_nginx(servers: Servers) -> None:
    t = probe(servers, "modern")
    assert t.client_renegotiation == Depth.REFUSED, t.client_renegotiation_detail
    assert "renegotiation" in t.client_renegotiation_detail
    assert verdicts(t, "modern.test")["tls.renegotiation.client"] == Status.PASS
    t13 = probe(servers, "nochain")  # TLS 1.3 only
    assert t13.client_renegotiation == Depth.NOT_APPLICABLE


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_zero_rtt_against_nginx(servers: Servers, address: str) -> None:
    """nginx `ssl_early_data on` answers an early GET (fail); with
    `if ($ssl_early_data) { return 425; }` it answers 425 (pass); by default its tickets
    allow no early data (pass); TLS 1.2 only: not applicable."""
    t = probe(servers, "early", address)
    assert t.zero_rtt == Depth.ACCEPTED and t.zero_rtt_status == 200, t.zero_rtt_detail
    assert verdicts(t, "early.test")["tls.zero_rtt"] == Status.FAIL
    assert t.depth_connections <= MAX_DEPTH_CONNECTIONS
    t = probe(servers, "early425", address)
    assert t.zero_rtt == Depth.TOO_EARLY and t.zero_rtt_status == 425, t.zero_rtt_detail
    assert verdicts(t, "early425.test")["tls.zero_rtt"] == Status.PASS
    t = probe(servers, "modern", address)
    assert t.zero_rtt == Depth.NO_EARLY_DATA, t.zero_rtt_detail
    assert verdicts(t, "modern.test")["tls.zero_rtt"] == Status.PASS
    t = probe(servers, "weak", address)  # TLS 1.2 only
    assert t.zero_rtt == Depth.NOT_APPLICABLE
    assert verdicts(t, "weak.test")["tls.zero_rtt"] == Status.NOT_APPLICABLE


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_robot_against_nginx(servers: Servers, address: str) -> None:
    """OpenSSL 3 behind nginx accepts TLS_RSA_WITH_AES_128_CBC_SHA (weak.test) and answers
    all five ROBOT payloads alike; a site without RSA key exchange costs no connection."""
    t = probe(servers, "weak", address)
    assert t.robot == Depth.NOT_VULNERABLE, t.robot_detail
    assert "same reaction" in t.robot_detail and "TLS_RSA_WITH" in t.robot_detail
    assert verdicts(t, "weak.test")["tls.vuln.robot"] == Status.PASS
    assert t.depth_connections <= MAX_DEPTH_CONNECTIONS
    t = probe(servers, "modern", address)
    assert t.robot == Depth.NOT_APPLICABLE
    assert verdicts(t, "modern.test")["tls.vuln.robot"] == Status.NOT_APPLICABLE
