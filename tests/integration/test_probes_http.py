"""The HTTP probe against real servers on loopback only (127.0.0.1 and ::1).

- a real nginx started by the test with its own temp config, a test CA and leaf
  certificate (cryptography), on ephemeral ports, listening on both families;
- tiny asyncio servers for hostile cases (huge headers, slow drip, gzip bomb, garbage).

No traffic leaves loopback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from auditor.obs.core import Outcome
from auditor.probes.http import probe_http
from auditor.protocol.headers import parse_hsts
from auditor.protocol.security_txt import parse_security_txt
from auditor.similarity import similarity
from tests.support.servers import has_ipv6_loopback
from tests.unit.test_probes_http import HOST, _ctx, _open

WEAK_HOST = "weak.test"


HAS_V6 = has_ipv6_loopback()


ADDRESSES = ("127.0.0.1", "::1") if HAS_V6 else ("127.0.0.1",)


def _free_port() -> int:
    # A port free on both families (nginx binds both).
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s4:
            s4.bind(("127.0.0.1", 0))
            port = int(s4.getsockname()[1])
            if not HAS_V6:
                return port
            try:
                with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s6:
                    s6.bind(("::1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port")


def _pki(d: Path) -> Path:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "auditor test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(HOST), x509.DNSName("plain.test")]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (d / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (d / "leaf.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    # weak.test: RSA-1024, which verifies only at OpenSSL's lowered security level
    weak_key = rsa.generate_private_key(65537, 1024)
    weak = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, WEAK_HOST)]))
        .issuer_name(ca_name)
        .public_key(weak_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(WEAK_HOST)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (d / "weak.pem").write_bytes(weak.public_bytes(serialization.Encoding.PEM))
    (d / "weak.key").write_bytes(
        weak_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ca_file = d / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return ca_file


PAGE = (
    """<!doctype html><html><head><meta charset="utf-8">
<title>Cổng thông tin điện tử</title>
<meta http-equiv="Content-Security-Policy" content="img-src 'self' https://img.example">
<base href="https://good.test/home/">
<link rel="stylesheet" href="//fonts.example/css?family=Roboto">
<link rel="shortcut icon" href="https://static.example/favicon.ico">
<link rel="canonical" href="https://other.example/">
<script src="https://cdn.example/app.js" nonce="abc123"></script>
<script src="local.js"></script>
<script src="data:text/javascript,alert(1)"></script>
</head><body>
<img src="logo.png" srcset="https://img.example/a.png 1x, https://img.example/b.png 2x">
<iframe src="https://maps.example/embed#frag"></iframe>
<video poster="https://media.example/p.jpg"><source src="https://media.example/v.mp4"></video>
<object data="https://cdn.example/app.js"></object>
<p>Trang chủ của Ủy ban nhân dân tỉnh. Tin tức, sự kiện, văn bản chỉ đạo điều hành.</p>
"""
    + "<p>Nội dung đoạn văn số {n} về dịch vụ công trực tuyến.</p>\n" * 40
    + "</body></html>"
)


SECURITY_TXT = "Contact: mailto:security@good.test\nExpires: 2099-01-01T00:00:00Z\n"


class Nginx:
    def __init__(self, d: Path) -> None:
        self.d = d
        self.p80 = _free_port()
        self.p443 = _free_port()
        while self.p443 == self.p80:
            self.p443 = _free_port()
        self.ca_file = _pki(d)
        www = d / "www"
        (www / "home").mkdir(parents=True)
        (www / ".well-known").mkdir()
        (www / "home" / "index.html").write_text(PAGE, encoding="utf-8")
        (www / ".well-known" / "security.txt").write_text(SECURITY_TXT)
        # big.test: a 50 MB security.txt whose first lines are a valid file
        big = d / "www-big" / ".well-known"
        big.mkdir(parents=True)
        with (big / "security.txt").open("w") as f:
            f.write(SECURITY_TXT)
            line = "# " + "x" * 1022 + "\n"
            for _ in range(50 * 1024):
                f.write(line)
        for sub in ("tmp", "logs"):
            (d / sub).mkdir()
        v6 = "[::1]" if HAS_V6 else None
        listen80 = f"listen 127.0.0.1:{self.p80};" + (f" listen {v6}:{self.p80};" if v6 else "")
        listen443 = f"listen 127.0.0.1:{self.p443} ssl;" + (
            f" listen {v6}:{self.p443} ssl;" if v6 else ""
        )
        tmp = d / "tmp"
        conf = f"""
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log warn;
events {{ worker_connections 64; }}
http {{
  include /etc/nginx/mime.types;
  default_type text/html;
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi; uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  gzip on; gzip_min_length 1; gzip_types text/plain text/css;
  server {{
    {listen80}
    server_name {HOST};
    location / {{ return 301 https://{HOST}:{self.p443}/; }}
  }}
  server {{
    {listen80}
    server_name plain.test;
    location / {{ return 200 "plain page"; }}
  }}
  server {{
    {listen80}
    server_name offhost.test;
    location / {{ return 302 https://www.offhost.test/; }}
  }}
  server {{
    {listen443}
    server_name {HOST} plain.test;
    ssl_certificate {d}/leaf.pem;
    ssl_certificate_key {d}/leaf.key;
    root {www};
    add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
    add_header Strict-Transport-Security "max-age=0" always;
    add_header Content-Security-Policy "default-src 'self'; frame-ancestors 'none'" always;
    add_header Set-Cookie "sid=1; Secure; HttpOnly; SameSite=Lax" always;
    add_header Set-Cookie "pref=2; Path=/" always;
    location = / {{ return 302 https://{HOST}:{self.p443}/home/; }}
    location = /loop {{ return 301 /loop; }}
    location = /down {{ return 301 http://{HOST}:{self.p80}/; }}
  }}
  server {{
    {listen443}
    server_name big.test;
    ssl_certificate {d}/leaf.pem;
    ssl_certificate_key {d}/leaf.key;
    root {d}/www-big;
    gzip off;
    location = / {{ return 200 "big"; }}
  }}
  server {{
    {listen443}
    server_name {WEAK_HOST};
    ssl_certificate {d}/weak.pem;
    ssl_certificate_key {d}/weak.key;
    ssl_ciphers "DEFAULT:@SECLEVEL=0";
    add_header Strict-Transport-Security "max-age=31536000" always;
    location / {{ return 200 "weak"; }}
  }}
}}
"""
        self.conf = d / "nginx.conf"
        self.conf.write_text(conf)
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(d), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"nginx exited: {err}")
            try:
                socket.create_connection(("127.0.0.1", self.p443), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    if shutil.which("nginx") is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is required in CI (apt-get install nginx)")
        pytest.skip("nginx is not installed: the probe tests need a local nginx")
    server = Nginx(tmp_path_factory.mktemp("nginx"))
    yield server
    server.stop()


@pytest.mark.asyncio
@pytest.mark.parametrize("address", ADDRESSES)
async def test_full_probe_over_each_family(nginx: Nginx, address: str) -> None:
    ctx = _ctx(ca_file=str(nginx.ca_file))
    obs = await probe_http(
        ctx, HOST, address, _open(address, nginx.p80), _open(address, nginx.p443)
    )
    assert obs.outcome == Outcome.OK, obs.detail
    assert obs.address == address

    # http://host/: first hop recorded, not blindly followed, then same-host hops
    assert obs.http is not None
    first = obs.http.hops[0]
    assert first.status == 301
    assert first.target == f"https://{HOST}:{nginx.p443}/"
    assert [h.status for h in obs.http.hops] == [301, 302, 200]
    assert obs.http.stopped == ""

    # https://host/: verified with the test CA, duplicates kept in order
    https = obs.https
    assert https is not None and https.tls_verified is True
    assert [h.status for h in https.hops] == [302, 200]
    root = https.hops[0]
    sts = root.header_values("strict-transport-security")
    assert sts == ("max-age=31536000; includeSubDomains", "max-age=0")
    hsts = parse_hsts(sts)
    assert hsts is not None and hsts.max_age == 31536000 and hsts.fields == 2
    assert len(root.header_values("Set-Cookie")) == 2
    # the landing page's <meta http-equiv> policy (CSP3 sec. 3.3), read from the body
    assert https.meta_csp == ("img-src 'self' https://img.example",)
    assert root.header_values("server")[0].startswith("nginx")

    # landing page: gzip-decoded, sketched, subresources on other hosts only
    assert https.body is not None and https.body.length > 1000
    assert https.body.shingles > 0
    assert obs.landing_url == f"https://{HOST}:{nginx.p443}/home/"
    refs = {(r.tag, r.url) for r in obs.subresources}
    assert ("link", "https://fonts.example/css?family=Roboto") in refs
    assert ("link", "https://static.example/favicon.ico") in refs
    assert ("script", "https://cdn.example/app.js") in refs
    assert ("img", "https://img.example/b.png") in refs
    assert ("iframe", "https://maps.example/embed") in refs
    assert ("source", "https://media.example/v.mp4") in refs
    assert ("video", "https://media.example/p.jpg") in refs
    urls = [r.url for r in obs.subresources]
    assert len(urls) == len(set(urls))  # the <object> repeat of app.js is de-duplicated
    assert not any("good.test" in u or u.startswith("data:") for u in urls)
    assert "https://other.example/" not in urls  # rel=canonical is not a subresource

    # security.txt over HTTPS
    st = obs.security_txt
    assert st is not None and st.status == 200
    assert st.content_type.startswith("text/plain")
    parsed = parse_security_txt(st.text)
    assert parsed.contacts == ("mailto:security@good.test",)


@pytest.mark.asyncio
@pytest.mark.skipif(not HAS_V6, reason="no ::1 on this machine")
async def test_same_page_over_both_families_is_similar(nginx: Nginx) -> None:
    ctx = _ctx(ca_file=str(nginx.ca_file))
    sketches = []
    for address in ADDRESSES:
        obs = await probe_http(ctx, HOST, address, None, _open(address, nginx.p443))
        assert obs.https is not None and obs.https.body is not None
        sketches.append(obs.https.body)
    assert similarity(sketches[0], sketches[1]).value == 1.0


@pytest.mark.asyncio
async def test_untrusted_certificate_is_recorded_not_fatal(nginx: Nginx) -> None:
    ctx = _ctx()  # no --ca-file: the test CA is unknown
    obs = await probe_http(ctx, HOST, "127.0.0.1", None, _open("127.0.0.1", nginx.p443))
    assert obs.https is not None
    assert obs.https.tls_verified is False
    assert [h.status for h in obs.https.hops] == [302, 200]
    assert obs.http is None  # port 80 was not open: not fetched
    assert obs.security_txt is not None and obs.security_txt.status == 200


@pytest.mark.asyncio
async def test_plain_http_and_off_host_redirect(nginx: Nginx) -> None:
    ctx = _ctx(ca_file=str(nginx.ca_file))
    obs = await probe_http(ctx, "plain.test", "127.0.0.1", _open("127.0.0.1", nginx.p80), None)
    assert obs.http is not None and [h.status for h in obs.http.hops] == [200]
    assert obs.https is None and obs.security_txt is None

    obs = await probe_http(ctx, "offhost.test", "127.0.0.1", _open("127.0.0.1", nginx.p80), None)
    assert obs.http is not None
    assert obs.http.stopped == "off-host"
    assert obs.http.hops[0].target == "https://www.offhost.test/"
    assert len(obs.http.hops) == 1  # recorded, not followed


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, int]:
    async def wrapped(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            await r.readuntil(b"\r\n\r\n")
            await handler(r, w)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            w.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


async def _probe_http_only(handler: Handler, **opts: object) -> object:
    server, port = await _serve(handler)
    try:
        return await probe_http(_ctx(**opts), HOST, "127.0.0.1", _open("127.0.0.1", port), None)
    finally:
        server.close()


@pytest.mark.asyncio
async def test_huge_header_section_is_too_large() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(4000):
            w.write(b"X-Pad-%d: %s\r\n" % (i, b"a" * 60))
        w.write(b"Content-Length: 0\r\n\r\n")
        await w.drain()

    obs = await _probe_http_only(handler)
    assert obs.outcome == Outcome.TOO_LARGE  # type: ignore[attr-defined]
    assert obs.http.outcome == Outcome.TOO_LARGE  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_header_cap_truncates_what_is_stored() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nServer: test\r\n")
        for i in range(300):
            w.write(b"X-Pad-%d: %s\r\n" % (i, b"a" * 100))
        w.write(b"Content-Length: 2\r\n\r\nok")
        await w.drain()

    obs = await _probe_http_only(handler, max_header_bytes=4096)
    hop = obs.http.hops[0]  # type: ignore[attr-defined]
    assert hop.headers_truncated
    assert sum(len(n) + len(v) for n, v in hop.headers) <= 4096
    assert hop.headers[0] == ("Server", "test")
    # what the cap did is recorded: fields after it were dropped, no value was cut
    assert hop.headers_dropped and hop.cut_values == ()
    assert hop.first_value_unknown("strict-transport-security")  # may be among the dropped
    assert not hop.first_value_unknown("server")


@pytest.mark.asyncio
async def test_a_value_over_the_cap_is_recorded_as_cut() -> None:
    csp = b"default-src 'self'; " + b"img-src https://a.example " * 2000

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Security-Policy: " + csp + b"\r\n")
        w.write(b"X-Content-Type-Options: nosniff\r\nContent-Length: 2\r\n\r\nok")
        await w.drain()

    obs = await _probe_http_only(handler)
    hop = obs.http.hops[0]  # type: ignore[attr-defined]
    assert hop.headers_truncated and not hop.headers_dropped
    assert hop.cut_values == ("content-security-policy",)
    assert hop.value_cut("Content-Security-Policy") and not hop.value_cut("x-content-type-options")
    assert hop.header_values("x-content-type-options") == ("nosniff",)


@pytest.mark.asyncio
async def test_slow_drip_times_out() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(100):
            w.write(b"x")
            await w.drain()
            await asyncio.sleep(0.1)

    obs = await _probe_http_only(handler, timeout=0.5)
    assert obs.http.outcome == Outcome.TIMEOUT  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_gzip_bomb_stops_at_the_cap() -> None:
    bomb = gzip.compress(b"<p>" + b"a" * (50 * 1024 * 1024), compresslevel=9)

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n" % len(bomb)
        )
        w.write(bomb)
        await w.drain()

    obs = await _probe_http_only(handler, max_body=64 * 1024)
    body = obs.http.body  # type: ignore[attr-defined]
    assert body is not None and body.truncated and body.length == 64 * 1024


@pytest.mark.asyncio
async def test_not_http_is_a_protocol_error() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await w.drain()

    obs = await _probe_http_only(handler)
    assert obs.http.outcome == Outcome.PROTOCOL_ERROR  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_closed_without_response_is_reset() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        return None

    obs = await _probe_http_only(handler)
    assert obs.http.outcome in (Outcome.RESET, Outcome.PROTOCOL_ERROR)  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_redirect_loop_and_cap() -> None:
    async def loop(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 301 Moved\r\nLocation: /\r\nContent-Length: 0\r\n\r\n")
        await w.drain()

    obs = await _probe_http_only(loop)
    assert obs.http.stopped == "loop"  # type: ignore[attr-defined]

    counter = iter(range(1000))

    async def endless(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(
            b"HTTP/1.1 302 Found\r\nLocation: /p%d\r\nContent-Length: 0\r\n\r\n" % next(counter)
        )
        await w.drain()

    obs = await _probe_http_only(endless, max_redirects=3)
    assert obs.http.stopped == "max-redirects"  # type: ignore[attr-defined]
    assert len(obs.http.hops) == 4  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_security_txt_over_the_cap_is_too_large_not_parsed(nginx: Nginx) -> None:
    from auditor.obs import HostObservations
    from auditor.obs.core import DnsAnswer, HostDns
    from auditor.registry import CheckContext, get_check

    host = "big.test"
    tcp = _open("127.0.0.1", nginx.p443)
    obs = await probe_http(_ctx(), host, "127.0.0.1", None, tcp)
    st = obs.security_txt
    assert st is not None and st.status == 200
    assert st.truncated and st.text == "" and st.cap == 100 * 1024
    dns = HostDns(
        host,
        DnsAnswer(host, "A", Outcome.OK, ("127.0.0.1",)),
        DnsAnswer(host, "AAAA", Outcome.NODATA),
    )
    # as the engine records it (port 443; the test server's port is ephemeral)
    ho = HostObservations(host, dns, tcp=(_open("127.0.0.1", 443),), http=(obs,))
    ctx = CheckContext(host, {}, dt.datetime.now(dt.UTC), address="127.0.0.1")
    v = get_check("http.security_txt").run(ho, ctx)
    # 50 MB whose first lines are a valid file: a finding of its own, never a pass
    assert v.status.value == "fail" and "too large" in v.message, v.message


@pytest.mark.asyncio
async def test_plain_http_on_443_is_a_tls_failure_and_skips_security_txt() -> None:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await w.drain()

    async def raw(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            await r.read(1024)  # the ClientHello
            await handler(r, w)
        finally:
            w.close()

    server = await asyncio.start_server(raw, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    try:
        obs = await probe_http(_ctx(), HOST, "127.0.0.1", None, _open("127.0.0.1", port))
    finally:
        server.close()
    assert obs.https is not None and obs.https.hops == ()
    assert obs.https.outcome in (Outcome.TLS_ERROR, Outcome.TLS_ALERT, Outcome.PROTOCOL_ERROR)
    assert obs.outcome == obs.https.outcome
    assert obs.security_txt is not None and obs.security_txt.outcome == Outcome.SKIPPED


@pytest.mark.asyncio
async def test_slow_redirect_chain_keeps_its_hops_within_its_budget() -> None:
    counter = iter(range(1000))

    async def slow(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.3)
        w.write(
            b"HTTP/1.1 302 Found\r\nLocation: /p%d\r\nContent-Length: 0\r\n\r\n" % next(counter)
        )
        await w.drain()

    # chain budget: max(3 x 0.5 s, 0.4 x 2 s) = 1.5 s, each hop takes 0.3 s
    obs = await _probe_http_only(slow, timeout=0.5, target_deadline=2.0, max_redirects=50)
    chain = obs.http  # type: ignore[attr-defined]
    assert chain.outcome == Outcome.TIMEOUT and "budget" in chain.detail
    assert chain.stopped == "error"
    assert 2 <= len(chain.hops) < 50
    assert obs.outcome == Outcome.OK  # type: ignore[attr-defined]  # hops were answered


@pytest.mark.asyncio
async def test_certificate_that_verifies_only_at_a_lowered_security_level(nginx: Nginx) -> None:
    # the lenient context (needed to observe weak servers) accepts RSA-1024; browsers do
    # not, so the HSTS this response carries is ignored (RFC 6797 sec. 8.1)
    ctx = _ctx(ca_file=str(nginx.ca_file))
    address = ADDRESSES[0]
    obs = await probe_http(ctx, WEAK_HOST, address, None, _open(address, nginx.p443))
    assert obs.https is not None and obs.https.hops, obs.detail
    assert obs.https.tls_verified is False
    assert "1024-bit key" in obs.https.tls_error
    assert obs.https.hops[0].header_values("strict-transport-security") == ("max-age=31536000",)
    good = await probe_http(ctx, HOST, address, None, _open(address, nginx.p443))
    assert good.https is not None and good.https.tls_verified is True
    assert good.https.tls_error == ""


def test_weak_chain_reason() -> None:
    from auditor.probes.http import weak_chain_reason

    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])

    def cert(key: object, signer: object, algo: object = None) -> bytes:
        c = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())  # type: ignore[attr-defined]
            .serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(signer, algo or hashes.SHA256())  # type: ignore[arg-type]
        )
        return c.public_bytes(serialization.Encoding.DER)

    good = ec.generate_private_key(ec.SECP256R1())
    assert weak_chain_reason([cert(good, good)]) == ""
    small = rsa.generate_private_key(65537, 1024)
    assert "1024-bit" in weak_chain_reason([cert(small, good), cert(good, good)])
    # SHA-1: cryptography refuses to sign with it; openssl makes one
    if shutil.which("openssl"):
        out = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "/dev/null",
             "-subj", "/CN=x", "-sha1", "-days", "1", "-outform", "DER"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        other = cert(good, good)
        assert "SHA1" in weak_chain_reason([out, other])  # below the anchor: rejected
        assert weak_chain_reason([other, out]) == ""  # a self-signed anchor's own signature
