"""HTTP(S) probe: one literal address, Host and SNI set to the host name.

Per address of a host (each A and each AAAA), concurrently:

- ``https://host/`` and the redirects that stay on the host, hop by hop (never blindly
  followed): status, headers (order and duplicates kept), Set-Cookie, and a similarity
  sketch of the final page;
- ``http://host/`` the same way (the first hop decides http.https_redirect; a later
  https -> http hop is a downgrade);
- ``https://host/.well-known/security.txt`` (RFC 9116), body kept as text, capped;
- the other hosts the landing page loads subresources from (for ipv6.web.only);
- each department path of the host (inventory ``paths`` other than "/", TargetKind.PATH)
  over https (http when 443 is not open), after the landing page on the same keep-alive
  connection, one after the other (politeness), at most ``MAX_PATHS``: status, redirects,
  headers, a sketch of the page and its http:// subresources (mixed content).

Failures are observations (timeout, refused, TLS alert, protocol error, too large),
never exceptions. Every request holds a per-address slot, has a per-step timeout
(ScanOptions.timeout) and an overall budget of three steps (connect, handshake and
headers, body: a slow-drip server cannot hold a scan), and everything read is capped:
headers (ScanOptions.max_header_bytes), bodies (ScanOptions.max_body, counted *after*
decompression so a gzip bomb stops at the cap), redirects (ScanOptions.max_redirects).
Certificate errors do not stop the fetch: cert validity is the TLS family's job; the
request is retried without verification and ``tls_verified`` records it. The verifying
context is lenient about protocols and ciphers (@SECLEVEL=0, so weak servers still answer),
which also lowers OpenSSL's limits for the chain; so a chain that verified is checked
again against what the default security level and browsers require (no RSA/DSA key under
2048 bits, no EC key under 224 bits, no MD5/SHA-1 signature below the trust anchor):
``tls_verified`` is exact, which matters to HSTS (RFC 6797 sec. 8.1: a header received
over a connection with certificate errors is ignored).
"""

from __future__ import annotations

import codecs
import re
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urljoin, urlsplit

import anyio
import h11

from auditor.obs.core import Outcome, TcpProbe
from auditor.obs.http import (
    BodySketch,
    HttpFetch,
    HttpObservation,
    HttpResponse,
    PathFetch,
    SecurityTxtFetch,
    SubresourceRef,
)
from auditor.probes.context import ProbeContext
from auditor.probes.http1 import Connection, ServerDisconnected
from auditor.probes.session import AddressSession
from auditor.probes.sockets import classify_os_error
from auditor.protocol.addresses import bracket
from auditor.protocol.headers import media_type
from auditor.protocol.html import (
    MAX_SUBRESOURCES,
    MAX_URL,
    extract_subresources,
    insecure_subresources,
    meta_csp,
)
from auditor.protocol.names import norm_name
from auditor.similarity import sketch
from auditor.text import clip

T = TypeVar("T")

SECURITY_TXT_PATH = "/.well-known/security.txt"  # RFC 9116 sec. 3
# RFC 9116 sets no size; Internet.nl reads at most 100 KiB (checks/tasks/securitytxt.py,
# SECURITYTXT_MAX_LENGTH = 100 * 1024). A file over it is reported as too large, not parsed.
SECURITY_TXT_CAP = 100 * 1024
MAX_HEADERS = 200  # header fields kept per response
MAX_VALUE = 8 * 1024  # characters kept per header value (a long CSP is ~4 KiB)
MAX_DETAIL = 300
STEPS_PER_REQUEST = 3  # overall budget of one request, in ScanOptions.timeout units
# Shares of the target deadline for one redirect chain and for security.txt: together they
# leave room for DNS and TCP, so a slow server costs its own findings, not the host's.
CHAIN_SHARE = 0.4
SECURITY_TXT_SHARE = 0.15
# Department paths fetched per host and address (inventory ``paths``): Quang Ninh's portal
# carries about twenty departments; more than this on one host is cut, and said so.
MAX_PATHS = 32

INLINE_WORK_BYTES = 32 * 1024  # bodies up to this are digested on the event loop
KEEPALIVE_EXPIRY = 2.0  # seconds an idle connection is kept for the next request
# RFC 3986 characters left as they are in a request target (pchar, "/", "?", and "%" of
# existing escapes); anything else is percent-encoded
_TARGET_SAFE = "/?%:@!$&'()*+,;=-._~"

_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


# ---------------------------------------------------------------------------
# TLS contexts: lenient on purpose (weak servers must still answer the HTTP probe)

# OpenSSL security level 2 (Debian's and Python's default): 112-bit security, so RSA/DSA
# keys of at least 2048 bits, EC keys of at least 224 bits, and (OpenSSL 3) no SHA-1 or
# MD5 signatures; browsers reject the same (CA/B Forum Baseline Requirements 6.1.5, 7.1.3).
STRICT_MIN_RSA_BITS = 2048
STRICT_MIN_EC_BITS = 224
_WEAK_HASHES = frozenset({"md5", "sha1"})


class WeakChainError(ssl.SSLCertVerificationError):
    """A chain that verified only because the lenient context lowered the limits."""


def weak_chain_reason(ders: list[bytes]) -> str:
    """Why a verified chain (leaf first) fails the default security level, or "".

    Keys of every certificate count; signatures of every certificate but a self-signed
    trust anchor (its own signature is not checked by anyone).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

    for i, der in enumerate(ders):
        try:
            cert = x509.load_der_x509_certificate(der)
            key = cert.public_key()
        except (ValueError, TypeError):
            continue
        what = "the certificate" if i == 0 else f"chain certificate {i + 1}"
        if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
            if key.key_size < STRICT_MIN_RSA_BITS:
                return f"{what} has a {key.key_size}-bit key (browsers need 2048)"
        elif isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < STRICT_MIN_EC_BITS:
            return f"{what} has a {key.curve.key_size}-bit EC key"
        anchor = i == len(ders) - 1 and cert.issuer == cert.subject
        if anchor:
            continue
        try:
            algo = cert.signature_hash_algorithm
        except Exception:  # an algorithm cryptography does not know
            algo = None
        if algo is not None and algo.name in _WEAK_HASHES:
            return f"{what} is signed with {algo.name.upper()} (browsers reject it)"
    return ""


# ---------------------------------------------------------------------------
# Failure classification


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _cert_error(exc: BaseException) -> bool:
    return any(isinstance(e, ssl.SSLCertVerificationError) for e in _chain(exc))


def classify_http_error(exc: BaseException) -> tuple[str, str]:
    """Map an HTTP client / ssl / socket failure (h11, :mod:`auditor.probes.http1`) to
    (Outcome, detail). (The MTA-STS fetch uses httpx and classifies its own errors.)"""
    for e in _chain(exc):
        if isinstance(e, ssl.SSLWantReadError | ssl.SSLWantWriteError):
            continue  # "no data yet": the context of a handshake the timeout cut (a stall)
        if isinstance(e, ssl.SSLCertVerificationError):
            return Outcome.TLS_ERROR, clip(f"certificate verification failed: {e}", MAX_DETAIL)
        if isinstance(e, ssl.SSLError):
            text = f"{e.reason or ''} {e}"
            kind = Outcome.TLS_ALERT if "ALERT" in text.upper() else Outcome.TLS_ERROR
            return kind, clip(f"TLS: {e}", MAX_DETAIL)
    if isinstance(exc, TimeoutError):
        return Outcome.TIMEOUT, "no complete answer before the timeout"
    if isinstance(exc, ServerDisconnected):
        return Outcome.RESET, clip(f"connection closed: {exc}", MAX_DETAIL)
    if isinstance(exc, h11.RemoteProtocolError):
        text = str(exc)
        if "Receive buffer too long" in text:
            return Outcome.TOO_LARGE, "response header section larger than the cap"
        if "without sending a response" in text or "peer closed" in text.lower():
            return Outcome.RESET, clip(f"connection closed: {text}", MAX_DETAIL)
        return Outcome.PROTOCOL_ERROR, clip(f"not valid HTTP/1.1: {text}", MAX_DETAIL)
    if isinstance(exc, h11.LocalProtocolError):
        return Outcome.ERROR, clip(f"request not sent: {exc}", MAX_DETAIL)
    for e in _chain(exc):
        if isinstance(e, OSError) and getattr(e, "errno", None):
            return classify_os_error(e)
    if isinstance(exc, anyio.EndOfStream | anyio.BrokenResourceError | ConnectionError):
        return Outcome.RESET, clip(f"connection broken: {type(exc).__name__}", MAX_DETAIL)
    return Outcome.ERROR, clip(f"{type(exc).__name__}: {exc}", MAX_DETAIL)


# ---------------------------------------------------------------------------
# Bodies: capped, decompressed by hand with a bound


@dataclass(frozen=True)
class _Body:
    data: bytes = b""
    truncated: bool = False
    error: str = ""


def _deflate_decoder(first: bytes) -> zlib._Decompress:
    # "deflate" is meant to be zlib-wrapped (RFC 9110 sec. 8.4.1.2) but servers send raw.
    if len(first) >= 2 and (first[0] & 0x0F) == 8 and ((first[0] << 8) | first[1]) % 31 == 0:
        return zlib.decompressobj(zlib.MAX_WBITS)
    return zlib.decompressobj(-zlib.MAX_WBITS)


async def _read_body(content_encoding: str, chunks: AsyncIterator[bytes], cap: int) -> _Body:
    encoding = content_encoding.strip().lower()
    if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
        return _Body(error=f"unsupported content-encoding {encoding[:40]!r}")
    decoder: zlib._Decompress | None = None
    if encoding in ("gzip", "x-gzip"):
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    raw = 0
    try:
        async for chunk in chunks:
            raw += len(chunk)
            if encoding == "deflate" and decoder is None:
                decoder = _deflate_decoder(chunk)
            if decoder is None:
                data = chunk
            else:
                # max_length bounds the work per chunk: a bomb never expands past the cap
                data = decoder.decompress(chunk, cap - len(out) + 1)
                if decoder.unconsumed_tail:
                    out += data[: cap - len(out)]
                    return _Body(bytes(out), True)
            if len(out) + len(data) > cap:
                out += data[: cap - len(out)]
                return _Body(bytes(out), True)
            out += data
            if raw > cap:  # compressed stream itself longer than the cap
                return _Body(bytes(out), True)
    except zlib.error as exc:
        return _Body(bytes(out), False, clip(f"body does not decompress: {exc}", MAX_DETAIL))
    return _Body(bytes(out))


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)


def decode_body(data: bytes, content_type: str) -> str:
    """Text of a body: Content-Type charset, else <meta charset>, else UTF-8 (replace)."""
    _, params = media_type(content_type)
    candidates = [params.get("charset", "")]
    m = _META_CHARSET.search(data[:4096])
    if m:
        candidates.append(m.group(1).decode("ascii", "replace"))
    for name in candidates:
        if not name:
            continue
        try:
            codecs.lookup(name)
        except LookupError:
            continue
        return data.decode(name, "replace")
    return data.decode("utf-8", "replace")


def _utf8_text(data: bytes, truncated: bool) -> tuple[str, bool]:
    """(text, invalid?) of a body that RFC 9116 sec. 3 requires to be UTF-8 whatever the
    Content-Type says (a wrong charset is judged by the check, not hidden by decoding).
    A cap may cut a multi-byte character at the end: that is not the file's fault."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError as exc:
        if truncated and exc.reason == "unexpected end of data" and exc.end == len(data):
            try:
                return data[: exc.start].decode("utf-8"), False
            except UnicodeDecodeError:
                pass
        return data.decode("utf-8", "replace"), True


# Documents whose <meta> elements a browser processes ("" = no Content-Type: sniffed)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", ""})


# ---------------------------------------------------------------------------
# Requests pinned to the address


@dataclass(frozen=True)
class _Result:
    response: HttpResponse | None
    outcome: str = Outcome.OK
    detail: str = ""
    tls_verified: bool | None = None
    body: _Body | None = None
    content_type: str = ""


@dataclass(frozen=True)
class _Page:
    url: str
    text: str
    length: int
    truncated: bool


def _digest(body: _Body, content_type: str) -> tuple[str, BodySketch]:
    text = decode_body(body.data, content_type)
    return text, sketch(text, len(body.data), body.truncated)


def _request_target(path: str) -> str:
    """What a browser sends for a Location with spaces or non-ASCII: the bytes as the
    server sent them, percent-encoded. Header values are decoded as latin-1 (one char per
    byte), so encoding back to latin-1 restores the server's (usually UTF-8) bytes."""
    try:
        return quote(path, safe=_TARGET_SAFE, encoding="latin-1")
    except UnicodeEncodeError:  # a URL from elsewhere (the inventory): UTF-8, as browsers
        return quote(path, safe=_TARGET_SAFE)


async def _off_loop(size: int, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on a worker thread when its input is large (up to max_body bytes
    of CPU work: other probes' timers stay honest), inline when small: a thread hop costs
    more than digesting a few KiB, and most pages are small."""
    if size <= INLINE_WORK_BYTES:
        return fn(*args)
    return await anyio.to_thread.run_sync(fn, *args)


@dataclass(frozen=True)
class _Headers:
    fields: tuple[tuple[str, str], ...]
    truncated: bool = False  # anything cut
    cut_values: tuple[str, ...] = ()  # lower-case names of fields whose value was cut
    dropped: bool = False  # fields after the cap were not kept at all


def _headers(raw: list[tuple[bytes, bytes]], cap: int) -> _Headers:
    """The header fields as received, within the caps; what the caps cut is recorded, so
    no check reads a missing or cut header as if the server had not sent it."""
    out: list[tuple[str, str]] = []
    cut: list[str] = []
    used = 0
    for name_b, value_b in raw:
        name = name_b.decode("latin-1")[:200]
        value = value_b.decode("latin-1")
        if len(value) > MAX_VALUE:
            value = value[:MAX_VALUE]
            cut.append(name.lower())
        used += len(name) + len(value) + 4
        if used > cap or len(out) >= MAX_HEADERS:
            if cut and cut[-1] == name.lower():
                cut.pop()  # not kept at all: covered by ``dropped``
            return _Headers(tuple(out), True, tuple(dict.fromkeys(cut)), True)
        out.append((name, value))
    return _Headers(tuple(out), bool(cut), tuple(dict.fromkeys(cut)))


class _Fetcher:
    """Requests for one (host, address), with the TLS trust decision learned once.

    ``session``: what the engine shares between the probes of this host and address (the
    reachability probe's spare connections, the handshake the TLS probe waits for)."""

    def __init__(
        self, ctx: ProbeContext, host: str, address: str, session: AddressSession | None = None
    ) -> None:
        if session is not None and (session.host, session.address) != (host, address):
            raise ValueError(f"{session!r} is not the session of {host} at {address}")
        self.ctx = ctx
        self.host = host
        self.address = address
        self.session = session
        self.verify_works: bool | None = None
        self.verify_error = ""  # why the certificate did not verify
        # One idle keep-alive connection per (scheme, port, verify): security.txt reuses
        # the landing page's TLS connection (same address, SNI and trust) instead of a new
        # handshake.
        self._idle: dict[tuple[str, int, bool], Connection] = {}
        self._shared: dict[tuple[str, int], tuple[anyio.Event, list[_Result]]] = {}
        self._digests: dict[int, tuple[_Result, tuple[str, BodySketch]]] = {}
        # the connection whose handshake was offered to the TLS probe, until its first answer
        self._ticket_conn: tuple[Connection, int] | None = None

    async def aclose(self) -> None:
        idle, self._idle = list(self._idle.values()), {}
        for conn in idle:
            await conn.aclose()

    async def _connection(self, scheme: str, port: int, verify: bool) -> tuple[Connection, bool]:
        """(connection, reused?): the idle one for this key if the server kept it open and
        it is younger than KEEPALIVE_EXPIRY, else a new one."""
        conn = self._idle.pop((scheme, port, verify), None)
        if conn is not None:
            if conn.looks_alive() and time.monotonic() - conn.opened < KEEPALIVE_EXPIRY:
                return conn, True
            await conn.aclose()
        tls = None
        if scheme == "https":
            tls = self.ctx.lenient_trust_context() if verify else self.ctx.unverified_context()
        timeout = self.ctx.options.timeout
        # A mapped service port (ScanOptions.port_map): the URL and Host header keep the
        # service port, the connection goes to the mapped one.
        wire = self.ctx.options.wire_port(self.host, port)
        spare = self.session.take_spare(wire) if self.session is not None else None
        if spare is not None:
            # the reachability probe's connection (counted there); the peer may have
            # dropped it meanwhile, so a failure before an answer retries on a new one
            try:
                conn = await Connection.open(
                    self.address, wire, timeout, ssl_context=tls, sni=self.host, connected=spare
                )
                self._offer(conn, port)
                if verify and scheme == "https":
                    await self._strict(conn)
                return conn, True
            except ssl.SSLCertVerificationError:
                raise  # the certificate, not the connection: a new one would say the same
            except (OSError, ssl.SSLError, anyio.EndOfStream, anyio.BrokenResourceError):
                pass
        self.ctx.stats["connections"] += 1
        conn = await Connection.open(self.address, wire, timeout, ssl_context=tls, sni=self.host)
        self._offer(conn, port)
        if verify and scheme == "https":
            await self._strict(conn)
        return conn, False

    async def _strict(self, conn: Connection) -> None:
        """Raise WeakChainError when the verified chain only passed the lenient limits."""
        chain = conn.verified_chain()
        why = weak_chain_reason(chain) if chain else ""
        if why:
            await conn.aclose()
            raise WeakChainError(why)

    def _offer(self, conn: Connection, port: int) -> None:
        """A completed handshake stands for the TLS probe's own (same client settings)."""
        if self.session is None:
            return
        facts = conn.tls_facts()
        if facts is not None and self.session.offer_handshake(port, *facts):
            self._ticket_conn = (conn, port)

    def _tickets_after_answer(self, conn: Connection) -> None:
        """After the first answer on the offered handshake's connection, its tickets (they
        precede any application data from the server) are the 0-RTT probe's to read."""
        if self.session is None or self._ticket_conn is None or self._ticket_conn[0] is not conn:
            return
        port = self._ticket_conn[1]
        self._ticket_conn = None
        self.session.offer_tickets(port, conn.tickets())

    async def _park(self, key: tuple[str, int, bool], conn: Connection) -> None:
        """Keep ``conn`` as the idle connection for ``key`` if it can take another request."""
        if conn.reusable() and key not in self._idle:
            self._idle[key] = conn
        else:
            await conn.aclose()

    async def request(self, url: str, body_cap: int) -> _Result:
        """GET ``url`` once per probe: the http:// chain's redirect to https://host/ and the
        https:// chain ask the same address for the same URL; one request serves both (a TLS
        handshake and a request fewer per address: the top of a scan profile)."""
        key = (url, body_cap)
        shared = self._shared.get(key)
        if shared is not None:
            await shared[0].wait()
            if shared[1]:
                return shared[1][0]
            return await self._request(url, body_cap)  # the first asker was cancelled
        shared = (anyio.Event(), [])
        self._shared[key] = shared
        try:
            result = await self._request(url, body_cap)
            shared[1].append(result)
            return result
        finally:
            shared[0].set()

    async def _request(self, url: str, body_cap: int) -> _Result:
        """GET ``url`` (written with the host name) from the pinned address."""
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            return _Result(None, Outcome.ERROR, clip(f"bad URL {url!r}: {exc}", MAX_DETAIL))
        https = parts.scheme == "https"
        default = 443 if https else 80
        host_header = self.host + ("" if port == default else f":{port}")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        target = _request_target(path)
        headers = [
            ("Host", host_header),
            ("User-Agent", self.ctx.options.user_agent),
            ("Accept", _ACCEPT),
            ("Accept-Encoding", "gzip, deflate"),
        ]
        verify = https and self.verify_works is not False
        for _attempt in range(2):
            try:
                result = await self._once(
                    url, parts.scheme, port, target, headers, verify, body_cap
                )
            except Exception as exc:
                if https and verify and _cert_error(exc):
                    self.verify_works = False
                    self.verify_error = classify_http_error(exc)[1]
                    verify = False
                    continue
                outcome, detail = classify_http_error(exc)
                return _Result(None, outcome, detail, tls_verified=verify if https else None)
            if https and verify:
                self.verify_works = True
            return result
        return _Result(None, Outcome.ERROR, "unreachable retry state")  # pragma: no cover

    async def _once(
        self,
        url: str,
        scheme: str,
        port: int,
        target: str,
        headers: list[tuple[str, str]],
        verify: bool,
        body_cap: int,
    ) -> _Result:
        opts = self.ctx.options
        https = scheme == "https"
        key = (scheme, port, verify)
        async with self.ctx.address_slot(self.address):
            self.ctx.stats["http_requests"] += 1
            with anyio.fail_after(opts.timeout * STEPS_PER_REQUEST):
                conn, reused = await self._connection(scheme, port, verify)
                try:
                    try:
                        head = await conn.request(target, headers)
                    except (ServerDisconnected, anyio.BrokenResourceError, OSError):
                        if not reused:
                            raise
                        # The kept connection died between requests (the server's
                        # keep-alive timeout raced us): once more on a new one, as a
                        # browser does for an idempotent GET (RFC 9112 sec. 9.3.1).
                        await conn.aclose()
                        conn, reused = await self._connection(scheme, port, verify)
                        head = await conn.request(target, headers)
                    self._tickets_after_answer(conn)
                    hdrs = _headers(list(head.headers), opts.max_header_bytes)
                    location = head.get("location")
                    status = head.status
                    redirect_target = ""
                    # a Location over the cap is not followed (its cut form is another URL)
                    location_cut = len(location.strip()) > MAX_URL
                    if location and 300 <= status < 400 and not location_cut:
                        try:
                            redirect_target = urljoin(url, location.strip()[:MAX_URL])
                            urlsplit(redirect_target).port  # noqa: B018 - validates the port
                        except ValueError:
                            redirect_target = ""
                    response = HttpResponse(
                        url=clip(url, MAX_URL),
                        status=status,
                        headers=hdrs.fields,
                        headers_truncated=hdrs.truncated,
                        cut_values=hdrs.cut_values,
                        headers_dropped=hdrs.dropped,
                        location_cut=location_cut,
                        location=clip(location, MAX_URL),
                        target=redirect_target[:MAX_URL],
                        http_version=head.http_version,
                    )
                    body = None
                    if body_cap and not response.is_redirect:
                        body = await _read_body(head.get("content-encoding"), conn.body(), body_cap)
                    content_type = head.get("content-type")
                except BaseException:
                    await conn.aclose()
                    raise
                # a redirect's body is not read: that connection closes (not reused)
                await self._park(key, conn)
                return _Result(
                    response,
                    tls_verified=verify if https else None,
                    body=body,
                    content_type=content_type,
                )

    async def _digest(self, res: _Result) -> tuple[str, BodySketch]:
        """Text and sketch of a final page, once per response: the http:// chain usually
        ends on the very response the https:// chain got (see :meth:`request`)."""
        done = self._digests.get(id(res))
        if done is not None and done[0] is res:
            return done[1]
        assert res.body is not None
        digest = await _off_loop(len(res.body.data), _digest, res.body, res.content_type)
        self._digests[id(res)] = (res, digest)  # res kept alive: its id stays unique
        return digest

    async def chain(self, start_url: str) -> tuple[HttpFetch, _Page | None]:
        """Follow redirects that stay on the host, recording every hop."""
        hops: list[HttpResponse] = []
        url = start_url
        seen = {url}
        stopped = ""
        outcome, detail = Outcome.OK, ""
        verified: bool | None = None
        page: _Page | None = None
        body_sketch: BodySketch | None = None
        metas: tuple[str, ...] = ()
        max_redirects = max(0, self.ctx.options.max_redirects)
        # A whole chain has a budget too (slow-drip redirects), so what was seen survives
        # instead of being lost to the target deadline.
        with anyio.move_on_after(self._budget(CHAIN_SHARE)) as scope:
            for i in range(max_redirects + 1):
                res = await self.request(url, self.ctx.options.max_body)
                if res.tls_verified is not None:
                    verified = (
                        res.tls_verified if verified is None else verified and res.tls_verified
                    )
                if res.response is None:
                    outcome, detail = res.outcome, res.detail
                    stopped = "error" if hops else ""
                    break
                r = res.response
                hops.append(r)
                if not r.is_redirect:
                    if res.body is not None:
                        text, body_sketch = await self._digest(res)
                        page = _Page(r.url, text, len(res.body.data), res.body.truncated)
                        if res.body.error:
                            detail = res.body.error
                        if media_type(res.content_type)[0] in _HTML_TYPES:
                            metas = await _off_loop(len(text), meta_csp, text)
                    break
                if not r.target:
                    stopped = "bad-location"
                    break
                nxt = urlsplit(r.target)
                if nxt.scheme not in ("http", "https"):
                    stopped = "scheme"
                    break
                if norm_name(nxt.hostname or "") != norm_name(self.host):
                    stopped = "off-host"
                    break
                if r.target in seen:
                    stopped = "loop"
                    break
                if i == max_redirects:
                    stopped = "max-redirects"
                    break
                seen.add(r.target)
                url = r.target
        if scope.cancelled_caught:
            outcome = Outcome.TIMEOUT
            detail = f"redirect chain exceeded its time budget ({self._budget(CHAIN_SHARE):.0f} s)"
            stopped = "error" if hops else ""
        fetch = HttpFetch(
            start_url=start_url,
            outcome=outcome,
            detail=detail,
            hops=tuple(hops),
            stopped=stopped,
            tls_verified=verified,
            tls_error=self.verify_error if verified is False else "",
            body=body_sketch,
            meta_csp=metas,
        )
        return fetch, page

    async def security_txt(self, url: str) -> SecurityTxtFetch:
        result: SecurityTxtFetch | None = None
        with anyio.move_on_after(self._budget(SECURITY_TXT_SHARE)):
            result = await self._security_txt(url)
        if result is None:
            return SecurityTxtFetch(url, Outcome.TIMEOUT, "security.txt fetch exceeded its budget")
        return result

    def _budget(self, share: float) -> float:
        """Seconds for one chain: a share of the target deadline, at least one request."""
        opts = self.ctx.options
        return max(opts.timeout * STEPS_PER_REQUEST, opts.target_deadline * share)

    async def _security_txt(self, url: str) -> SecurityTxtFetch:
        redirects: list[str] = []
        for _ in range(5):  # a few same-host redirects (e.g. to /security.txt)
            res = await self.request(url, SECURITY_TXT_CAP)
            r = res.response
            if r is None:
                return SecurityTxtFetch(
                    url, res.outcome, res.detail, redirects=tuple(redirects),
                    tls_verified=res.tls_verified,
                )  # fmt: skip
            if r.is_redirect:
                nxt = urlsplit(r.target) if r.target else None
                if (
                    nxt is None
                    or nxt.scheme != "https"  # RFC 9116 sec. 3: HTTPS only
                    or norm_name(nxt.hostname or "") != norm_name(self.host)
                    or r.target in redirects
                ):
                    return SecurityTxtFetch(
                        url,
                        Outcome.OK,
                        clip(f"redirect to {r.location!r} not followed", MAX_DETAIL),
                        status=r.status,
                        content_type=res.content_type[:200],
                        redirects=tuple(redirects),
                        tls_verified=res.tls_verified,
                    )
                redirects.append(r.target)
                url = r.target
                continue
            body = res.body or _Body()
            text, invalid = _utf8_text(body.data, body.truncated)
            return SecurityTxtFetch(
                url,
                Outcome.OK,
                body.error,
                status=r.status,
                content_type=res.content_type[:200],
                # a file over the cap is a finding of its own: its first part is not kept
                text="" if body.truncated else text,
                invalid_utf8=invalid,
                truncated=body.truncated,
                redirects=tuple(redirects),
                tls_verified=res.tls_verified,
                cap=SECURITY_TXT_CAP,
                unreadable=body.error,
            )
        return SecurityTxtFetch(url, Outcome.OK, "too many redirects", redirects=tuple(redirects))


# ---------------------------------------------------------------------------
# The probe


def _origin(scheme: str, host: str, port: int) -> str:
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{bracket(host)}" + ("" if port == default else f":{port}")


def _port_reason(port: int, tcp: TcpProbe | None) -> str:
    if tcp is None:
        return f"port {port} not probed"
    return f"port {port} {tcp.outcome}" + (f" ({tcp.detail})" if tcp.detail else "")


async def probe_http(
    ctx: ProbeContext,
    host: str,
    address: str,
    tcp80: TcpProbe | None,
    tcp443: TcpProbe | None,
    *,
    session: AddressSession | None = None,
    paths: tuple[str, ...] = (),
) -> HttpObservation:
    """Fetch http://host/, https://host/ and security.txt from ``address``, and each of the
    department ``paths``. With the engine's ``session`` of (host, address): the first
    request of each port may go over the reachability probe's spare connection, and the
    first completed TLS handshake is offered to the TLS probe."""
    try:
        return await _probe_http(ctx, host, address, tcp80, tcp443, session, paths)
    finally:
        # the TLS probe may wait for this probe's handshake: it is never left waiting
        if session is not None:
            session.abandon_handshake(tcp443.port if tcp443 else 443)


async def _probe_http(
    ctx: ProbeContext,
    host: str,
    address: str,
    tcp80: TcpProbe | None,
    tcp443: TcpProbe | None,
    session: AddressSession | None,
    paths: tuple[str, ...] = (),
) -> HttpObservation:
    refusal = ctx.guard.refusal(address)
    if refusal:
        return HttpObservation(address, Outcome.BLOCKED, refusal)
    open80 = tcp80 is not None and tcp80.open
    open443 = tcp443 is not None and tcp443.open
    if not open80 and not open443:
        return HttpObservation(
            address,
            Outcome.SKIPPED,
            f"neither port is open: {_port_reason(80, tcp80)}; {_port_reason(443, tcp443)}",
        )
    # The engine probes 80 and 443; tests pass ephemeral ports through the TcpProbe.
    base_https = _origin("https", host, tcp443.port if tcp443 else 443)
    base_http = _origin("http", host, tcp80.port if tcp80 else 80)
    fetcher = _Fetcher(ctx, host, address, session)
    https: tuple[HttpFetch, _Page | None] | None = None
    http: tuple[HttpFetch, _Page | None] | None = None
    sectxt: SecurityTxtFetch | None = None
    path_fetches: list[PathFetch] = []

    async def run_paths(base: str) -> None:
        for path in paths[:MAX_PATHS]:
            path_fetches.append(await _path_fetch(ctx, fetcher, base, path))

    async def run_https() -> None:
        nonlocal https, sectxt
        https = await fetcher.chain(f"{base_https}/")
        if paths:
            await run_paths(base_https)
        url = f"{base_https}{SECURITY_TXT_PATH}"
        first = https[0]
        if not first.hops:
            # https://host/ did not answer (TLS failure, timeout...): asking again for
            # security.txt would only wait for the same failure.
            reason = f"not fetched: https://{host}/ failed ({first.outcome})"
            sectxt = SecurityTxtFetch(url, Outcome.SKIPPED, reason)
            return
        # after the landing page, so the TLS trust decision is learned once
        sectxt = await fetcher.security_txt(url)

    async def run_http() -> None:
        nonlocal http
        http = await fetcher.chain(f"{base_http}/")
        if paths and not open443:
            await run_paths(base_http)

    try:
        async with anyio.create_task_group() as tg:
            if open443:
                tg.start_soon(run_https)
            if open80:
                tg.start_soon(run_http)
    finally:
        with anyio.CancelScope(shield=True):
            await fetcher.aclose()

    fetches = [f for f in (https, http) if f is not None]
    answered = any(f.hops for f, _ in fetches)
    # The landing page: the final page of https://host/ when it is 200, else of http://host/.
    landing: _Page | None = None
    for fetch, page in fetches:
        if page is not None and fetch.last is not None and fetch.last.status == 200:
            landing = page
            break
    subresources: tuple[SubresourceRef, ...] = ()
    cut = ""
    if landing is not None:
        subresources = await _off_loop(
            len(landing.text), extract_subresources, landing.text, landing.url, host
        )
        # the caps are observations: ipv6.web.only must not call a partial list the page's
        if landing.truncated:
            cut = (
                f"the landing page is larger than the {ctx.options.max_body // 1024} KiB the "
                "scanner reads: resources further down were not seen"
            )
        elif len(subresources) >= MAX_SUBRESOURCES:
            cut = f"the landing page links more than {MAX_SUBRESOURCES} resources on other hosts"
    if answered:
        outcome, detail = Outcome.OK, ""
    else:
        outcome = fetches[0][0].outcome
        detail = "; ".join(f"{f.start_url}: {f.outcome} {f.detail}".strip() for f, _ in fetches)
    return HttpObservation(
        address=address,
        outcome=outcome,
        detail=clip(detail, 600),
        http=http[0] if http else None,
        https=https[0] if https else None,
        security_txt=sectxt,
        subresources=subresources,
        landing_url=landing.url if landing else "",
        subresources_cut=cut,
        paths=tuple(path_fetches),
    )


async def _path_fetch(ctx: ProbeContext, fetcher: _Fetcher, base: str, path: str) -> PathFetch:
    """One department path: its redirect chain and, for an HTML page over https, the
    http:// subresources it loads (mixed content)."""
    fetch, page = await fetcher.chain(f"{base}{_request_target(path)}")
    last = fetch.last
    html = (
        page is not None
        and last is not None
        and last.status == 200
        and page.url.startswith("https://")
        and any(media_type(v)[0] in _HTML_TYPES for v in last.header_values("content-type"))
    )
    if page is None or not html:
        return PathFetch(path, fetch)
    insecure = await _off_loop(len(page.text), insecure_subresources, page.text, page.url)
    cut = ""
    if page.truncated:
        cut = (
            f"the page is larger than the {ctx.options.max_body // 1024} KiB the scanner "
            "reads: resources further down were not seen"
        )
    elif len(insecure) >= MAX_SUBRESOURCES:
        cut = f"the page loads more than {MAX_SUBRESOURCES} resources over http://"
    return PathFetch(path, fetch, insecure, cut, page=True)
