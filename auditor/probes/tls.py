"""TLS probe of one (address, port, SNI): versions, cipher suites, chain, trust, stapling.

Connections (each holds a per-address slot, each step bounded by ``options.timeout``):

1. one hand-built ClientHello per protocol version, SSL 2.0 .. TLS 1.3 (6 connections);
   each of them also reads the server's first flight, so the served certificate chain and
   the stapled OCSP response come for free (TLS 1.3: decrypted with our own key share);
2. cipher enumeration per accepted version: offer every known suite, remove the one the
   server chose, repeat until it refuses (accepted suites + 1 connections per version,
   minus the one already learnt in step 1); SSL 2.0 lists its suites in one answer;
3. the handshake-depth probes (auditor/probes/tls_depth.py: 0-10 connections, 5 on a
   modern TLS 1.2 + 1.3 server);
4. one full handshake with OpenSSL, security level lowered (``@SECLEVEL=0``, TLS 1.0
   allowed) so that a weak server is *observed* completing a handshake and judged by the
   checks, instead of being hidden as a local handshake error (tls.available).

The chain is judged here, because it needs the trust store (system store plus
``--ca-file``): the probe records the path it could build and why not; the checks decide.
Path building is deliberately lenient about algorithms and validity dates (SHA-1, RSA-1024,
expiry are each judged by their own check): it follows issuer names, verifies each
signature with the cryptography package and stops at a store certificate.
"""

from __future__ import annotations

import functools
import hashlib
import os
import ssl
import warnings
from collections.abc import Sequence, Set
from dataclasses import dataclass

import anyio
from anyio.abc import ByteStream
from anyio.streams.tls import TLSAttribute, TLSStream
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
from cryptography.x509.ocsp import OCSPResponseStatus, load_der_ocsp_response
from cryptography.x509.oid import NameOID

from auditor.obs.core import Outcome
from auditor.obs.tls import (
    ALL_VERSIONS,
    SSL2,
    SSL3,
    TLS10,
    TLS11,
    TLS12,
    TLS13,
    CertInfo,
    CipherResult,
    HandshakeBy,
    TlsObservation,
    Trust,
    VersionOutcome,
    VersionResult,
)
from auditor.probes.context import ProbeContext, permissive_context
from auditor.probes.session import AddressSession
from auditor.probes.sockets import (
    RawSocketStream,
    classify_os_error,
    connect_for_tls,
    note_served_chain,
)
from auditor.probes.tls_chain import cert_extras, certificate_depth
from auditor.probes.tls_depth import SILENCE_WAIT, FoldedHello, compression_hello, probe_depth
from auditor.probes.tls_hello import HelloResult, hello_exchange
from auditor.protocol.tls_suites import (
    LEGACY_CODES,
    SSL2_CIPHERS,
    SUITES_LIST,
    TLS13_CODES,
    suite_name,
)

# Enumeration stops after this many suites for one version (a server accepting more is
# already judged; the cap bounds the connections a broken server can make us open).
MAX_SUITES_PER_VERSION = 64
_OPENSSL_TO_IANA = {s.openssl: s.name for s in SUITES_LIST if s.openssl}


async def probe_tls(
    ctx: ProbeContext,
    host: str,
    address: str,
    port: int,
    *,
    session: AddressSession | None = None,
) -> TlsObservation:
    """Everything the TLS checks need for (address, port) with SNI ``host``; never raises
    (a ``session`` of another host or address is a programming error: ValueError). With
    the engine's ``session`` of (host, address), the full handshake is the HTTP probe's when
    the engine expects one (AddressSession.expect_handshake); the hellos never use the
    session's spare connections (each needs a fresh one)."""
    if session is not None and (session.host, session.address) != (host, address):
        raise ValueError(f"{session!r} is not the session of {host} at {address}")
    return await ctx.once(
        ("tls", address, port, host), lambda: _probe(ctx, host, address, port, session)
    )


async def _probe(
    ctx: ProbeContext, sni: str, address: str, port: int, session: AddressSession | None
) -> TlsObservation:
    refusal = ctx.guard.refusal(address)
    if refusal:
        return TlsObservation(address, port, Outcome.BLOCKED, refusal, sni=sni)

    hellos: dict[str, HelloResult] = {}
    # The port connected (ScanOptions.port_map); the observation keeps the service port.
    wire = ctx.options.wire_port(sni, port)

    async def version_probe(version: str) -> None:
        offer = _offer(version)
        hellos[version] = await _hello(ctx, address, wire, version, sni, offer, read_flight=True)

    async def wave(versions: Sequence[str]) -> None:
        async with anyio.create_task_group() as tg:
            for version in versions:
                tg.start_soon(version_probe, version)
        # A probe that could not connect or got no answer is tried once more, alone, when
        # the server did answer other hellos: a burst filter or a stalled event loop on a
        # busy scanner must not turn into "unknown". A server silent to every hello is not
        # retried.
        if any(r.outcome != VersionOutcome.ERROR for r in hellos.values()):
            for version in versions:
                if hellos[version].outcome == VersionOutcome.ERROR:
                    await version_probe(version)

    await wave(FIRST_WAVE)
    inferred = infer_older_versions(hellos)
    hellos.update(inferred)
    await wave([v for v in OLDER if v not in inferred])
    responsive = any(r.outcome != VersionOutcome.ERROR for r in hellos.values())

    versions = tuple(_version_result(v, hellos[v]) for v in ALL_VERSIONS)
    accepted = [v.version for v in versions if v.outcome == VersionOutcome.ACCEPTED]

    ciphers: dict[str, list[CipherResult]] = {}
    incomplete: list[str] = []
    handshake: dict[str, str] = {}

    legacy = [v for v in accepted if v in (TLS10, TLS11, TLS12)]  # in ALL_VERSIONS order
    top12 = legacy[-1] if legacy else ""
    own_order: list[str] = []
    folded: list[FoldedHello] = []

    async def enumerate_version(version: str) -> None:
        e = await _enumerate(
            ctx, address, wire, sni, version, hellos[version], fold=version == top12
        )
        ciphers[version] = e.found
        if not e.complete:
            incomplete.append(f"{version}: {e.why}")
        if e.own_order:
            own_order.append(version)
        if e.folded is not None:
            folded.append(e.folded)

    async def full_handshake() -> None:
        shared = await session.shared_handshake(port) if session is not None else None
        if shared is not None:  # the HTTP probe's, with the same client settings
            version, cipher = shared
            handshake.update(
                outcome=Outcome.OK,
                detail="handshake completed",
                version=_py_version(version),
                cipher=_OPENSSL_TO_IANA.get(cipher, cipher),
                by=HandshakeBy.HTTP,
            )
            return
        handshake["by"] = HandshakeBy.TLS
        await _full_handshake(ctx, address, wire, sni, handshake)
        if handshake.get("outcome") == Outcome.TIMEOUT and responsive:  # as for the hellos
            handshake.clear()
            handshake["by"] = HandshakeBy.TLS
            await _full_handshake(ctx, address, wire, sni, handshake)

    async with anyio.create_task_group() as tg:
        tg.start_soon(full_handshake)
        for version in accepted:
            tg.start_soon(enumerate_version, version)

    # Handshake depth (issue 19): 0-12 more connections, see auditor/probes/tls_depth.py.
    depth = await probe_depth(
        ctx,
        address,
        wire,
        sni,
        hellos,
        ciphers,
        session,
        port,
        folded=folded[0] if folded else None,
        own_order=own_order,
    )

    chain_der, source, chain_cut = _pick_chain(hellos)
    note_served_chain(chain_der)  # the connection seam's (STARTTLS: DANE matching)
    chain = tuple(cert_info(der) for der in chain_der)
    try:
        trust, trust_detail, path, anchor = judge_chain_cached(
            tuple(chain_der), ctx.options.ca_file
        )
    except Exception as exc:  # never lose the observation over the judgement
        trust, trust_detail, path, anchor = Trust.ERROR, f"{type(exc).__name__}: {exc}", (), ""
    stapled, ocsp_detail, ocsp_status = _stapling(hellos, source)
    picked = hellos.get(source)
    cert_depth = certificate_depth(  # issue #19: RFC 5280 validation, staple check, SCTs
        tuple(chain_der),
        chain_cut,
        picked.ocsp if picked is not None else None,
        picked.sct if picked is not None else None,
        trust_store(ctx.options.ca_file),
        sni,
    )
    return TlsObservation(
        address=address,
        port=port,
        outcome=handshake.get("outcome", Outcome.ERROR),
        detail=handshake.get("detail", ""),
        sni=sni,
        versions=versions,
        ciphers=tuple(c for v in ALL_VERSIONS for c in ciphers.get(v, ())),
        ciphers_complete=not incomplete,
        ciphers_detail="; ".join(sorted(incomplete)),
        handshake_version=handshake.get("version", ""),
        handshake_cipher=handshake.get("cipher", ""),
        handshake_by=handshake.get("by", ""),
        chain=chain,
        chain_source=source,
        chain_truncated=chain_cut,
        trust=trust,
        trust_detail=trust_detail,
        trust_path=path,
        trust_anchor=anchor,
        ocsp_stapled=stapled,
        ocsp_detail=ocsp_detail,
        ocsp_status=ocsp_status,
        **depth,
        **cert_depth,
    )


# Versions probed first; SSL 3.0 and TLS 1.0 are probed after, unless the TLS 1.1 hello
# already settled them (infer_older_versions): one or two connections fewer per address
# on every modern server.
FIRST_WAVE = (SSL2, TLS11, TLS12, TLS13)
OLDER = (SSL3, TLS10)
ALERT_PROTOCOL_VERSION = 70  # RFC 5246 sec. 7.2.2


def infer_older_versions(hellos: dict[str, HelloResult]) -> dict[str, HelloResult]:
    """SSL 3.0 and TLS 1.0 results implied by the TLS 1.1 hello, or nothing.

    The TLS 1.1 hello has client_version 0x0302, so it also offers TLS 1.0 and SSL 3.0:
    a server that supports one of them answers with the highest it supports, and one
    that supports only higher versions "MUST send a protocol_version alert" (RFC 5246
    App. E.1; RFC 8446 App. D.2 for TLS 1.3 servers). So protocol_version there means
    neither is accepted, but only from a server proven not to be version-intolerant
    (the old bug of refusing a client_version above one's own maximum with that same
    alert): one that accepted TLS 1.2 or 1.3 in this probe. Anything else (an answer
    with TLS 1.0 or SSL 3.0, another alert, a hang-up) is left to the versions' own
    hellos, which also read their certificate flight.
    """
    r11 = hellos.get(TLS11)
    if r11 is None or r11.outcome != VersionOutcome.REJECTED or r11.alert is None:
        return {}
    if r11.alert.description != ALERT_PROTOCOL_VERSION:
        return {}
    if not any(
        hellos.get(v) is not None and hellos[v].outcome == VersionOutcome.ACCEPTED
        for v in (TLS12, TLS13)
    ):
        return {}
    detail = (
        "not offered by the server: the TLS 1.1 hello (client_version 0x0302, which "
        "also offers this version) got alert protocol_version from a server that "
        "accepts TLS 1.2+ (RFC 5246 App. E.1)"
    )
    return {
        v: HelloResult(
            outcome=VersionOutcome.REJECTED, detail=detail, alert=r11.alert, offered=_offer(v)
        )
        for v in OLDER
    }


def _offer(version: str) -> tuple[int, ...]:
    if version == SSL2:
        return tuple(code for code, _ in SSL2_CIPHERS)
    if version == TLS13:
        return TLS13_CODES
    return LEGACY_CODES


def _version_result(version: str, r: HelloResult) -> VersionResult:
    cipher = ""
    if r.outcome == VersionOutcome.ACCEPTED:
        if version == SSL2 and r.ssl2_ciphers:
            cipher = suite_name(r.ssl2_ciphers[0])
        elif r.cipher is not None:
            cipher = suite_name(r.cipher)
    return VersionResult(version, r.outcome, r.detail, cipher)


_HUNG_UP = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


async def _hello(
    ctx: ProbeContext,
    address: str,
    port: int,
    version: str,
    sni: str,
    offer: Sequence[int],
    *,
    read_flight: bool = False,
) -> HelloResult:
    """One connection, one hand-built hello; every failure becomes a HelloResult.

    One cancel scope whose deadline moves from the connect to the exchange (each gets the
    step timeout), not a scope per step: ~18 hellos per host, and scopes showed in the
    profile."""
    res = HelloResult(offered=tuple(offer))
    timeout = ctx.options.timeout
    stream: ByteStream | None = None
    async with ctx.address_slot(address):
        ctx.stats["connections"] += 1
        with anyio.CancelScope(deadline=anyio.current_time() + timeout) as scope:
            try:
                stream = await connect_for_tls(address, port)
            except OSError as exc:
                outcome, detail = classify_os_error(exc)
                res.detail = f"connect: {outcome}: {detail}"
                return res
            scope.deadline = anyio.current_time() + timeout
            try:
                return await hello_exchange(
                    stream, version, sni, offer, read_flight=read_flight, result=res
                )
            except (
                anyio.EndOfStream,
                anyio.BrokenResourceError,
                anyio.ClosedResourceError,
                OSError,
            ):
                # The server hung up on our hello: how many servers refuse a version.
                if res.outcome != VersionOutcome.ACCEPTED:
                    res.outcome = VersionOutcome.REJECTED
                    res.detail = "connection closed without a ServerHello"
                return res
            except Exception as exc:  # hostile bytes we did not foresee: an observation too
                res.detail = (res.detail + f"; probe error {type(exc).__name__}: {exc}")[:300]
                res.detail = res.detail.lstrip("; ")
                return res
            finally:
                if isinstance(stream, RawSocketStream):
                    stream.close_now()  # nothing to await: no shielded scope needed
                else:
                    with anyio.CancelScope(shield=True):
                        await stream.aclose()
    # Only a deadline gets here (the scope swallowed its cancellation).
    if stream is None:
        res.detail = "connect: no answer before the timeout"
    elif res.outcome != VersionOutcome.ACCEPTED:
        res.outcome = VersionOutcome.ERROR
        res.detail = "no answer before the timeout"
    else:
        res.detail = (res.detail + "; flight cut by the timeout").lstrip("; ")
    return res


@dataclass
class _Enumeration:
    found: list[CipherResult]
    complete: bool
    why: str  # why incomplete
    own_order: bool = False  # the picks broke the client's order (broke_client_order)
    folded: FoldedHello | None = None  # the compression hello it sent as one of its own


def broke_client_order(steps: Sequence[tuple[Sequence[int], int]], supported: Set[int]) -> bool:
    """Whether some pick was not the first suite of its hello's offer that the server
    accepts: then the server does not follow the client's order, it keeps its own.

    ``steps`` are (offer, suite picked) of the enumeration's accepted hellos, ``supported``
    the suites it found. Sound on a cut-short enumeration too: a suite found is accepted,
    so a client-order server must have picked it (or one before it) wherever it came first.
    """
    for offer, pick in steps:
        first = next((c for c in offer if c in supported), None)
        if first is not None and first != pick:
            return True
    return False


async def _enumerate(
    ctx: ProbeContext,
    address: str,
    port: int,
    sni: str,
    version: str,
    first: HelloResult,
    *,
    fold: bool = False,
) -> _Enumeration:
    """Accepted suites of one version, in the order the server picked them.

    For TLS 1.0-1.2 the second hello offers the rest in reverse: a server keeping its own
    order picks its second choice regardless, one following the client's order picks the
    last suite it accepts, so on three or more suites the picks usually prove the server's
    own order (``own_order``) and tls_depth needs no reverse hello of its own. With
    ``fold`` (the highest TLS <= 1.2 version) that second hello is also the compression +
    heartbeat + CCS-injection hello (tls_depth.compression_hello): one connection fewer."""
    if version == SSL2:
        found2 = [CipherResult(SSL2, c, suite_name(c)) for c in first.ssl2_ciphers]
        return _Enumeration(found2, True, "")
    legacy = version in (TLS10, TLS11, TLS12)
    remaining = list(_offer(version))
    found: list[CipherResult] = []
    steps: list[tuple[Sequence[int], int]] = []
    folded: FoldedHello | None = None

    def done(complete: bool, why: str = "") -> _Enumeration:
        own = legacy and broke_client_order(steps, {c.code for c in found})
        return _Enumeration(found, complete, why, own, folded)

    result = first
    while True:
        if result.outcome != VersionOutcome.ACCEPTED or result.cipher is None:
            if result.outcome == VersionOutcome.ERROR:
                return done(False, result.detail or "error")
            return done(True)
        code = result.cipher
        if code not in remaining:
            return done(False, f"server chose {suite_name(code)}, which was not offered")
        found.append(CipherResult(version, code, suite_name(code)))
        steps.append((result.offered, code))
        remaining.remove(code)
        if not remaining:
            return done(True)
        if len(found) >= MAX_SUITES_PER_VERSION:
            return done(False, f"stopped after {MAX_SUITES_PER_VERSION} suites")
        offer = list(reversed(remaining)) if legacy and len(found) == 1 else remaining
        if fold and len(found) == 1:
            wait = min(SILENCE_WAIT, ctx.options.timeout)
            cc = await compression_hello(ctx, address, port, sni, version, offer, wait)
            if cc.accepted:
                folded, result = cc, cc.hello
                continue
            if cc.hello.outcome == VersionOutcome.REJECTED:
                # Refused: no suite left, or the DEFLATE/heartbeat offers themselves. The
                # same offers with the suite already found tell which.
                folded = await compression_hello(
                    ctx, address, port, sni, version, [found[0].code], wait
                )
                if folded.accepted and folded.hello.cipher == found[0].code:
                    return done(True)  # the offers are fine: no suite was left
            # an error, or a server refusing those offers: a plain hello decides
        result = await _hello(ctx, address, port, version, sni, offer)
        if result.outcome == VersionOutcome.ERROR:  # once more before calling it incomplete
            result = await _hello(ctx, address, port, version, sni, offer)


# ---------------------------------------------------------------------------------------
# The full handshake (tls.available)


async def _full_handshake(
    ctx: ProbeContext, address: str, port: int, sni: str, out: dict[str, str]
) -> None:
    async with ctx.address_slot(address):
        ctx.stats["connections"] += 1
        try:
            with anyio.fail_after(ctx.options.timeout):
                stream = await connect_for_tls(address, port)
        except TimeoutError:
            out.update(outcome=Outcome.TIMEOUT, detail="connect: no answer before the timeout")
            return
        except OSError as exc:
            outcome, detail = classify_os_error(exc)
            out.update(outcome=outcome, detail=f"connect: {detail}")
            return
        tls: TLSStream | None = None
        try:
            with anyio.fail_after(ctx.options.timeout):
                tls = await TLSStream.wrap(
                    stream,
                    hostname=sni or None,
                    ssl_context=permissive_context(),
                    standard_compatible=False,
                )
            sslobj: ssl.SSLObject = tls.extra(TLSAttribute.ssl_object)
            cipher = sslobj.cipher()
            name = cipher[0] if cipher else ""
            out.update(
                outcome=Outcome.OK,
                detail="handshake completed",
                version=_py_version(sslobj.version() or ""),
                cipher=_OPENSSL_TO_IANA.get(name, name),
            )
        except TimeoutError:
            out.update(outcome=Outcome.TIMEOUT, detail="handshake: no answer before the timeout")
        except ssl.SSLError as exc:
            reason = str(exc.reason or exc)
            kind = Outcome.TLS_ALERT if "ALERT" in reason.upper() else Outcome.TLS_ERROR
            out.update(outcome=kind, detail=f"handshake failed: {reason}"[:300])
        except (anyio.EndOfStream, anyio.BrokenResourceError, ConnectionError) as exc:
            out.update(
                outcome=Outcome.RESET,
                detail=f"connection closed during the handshake ({type(exc).__name__})",
            )
        except OSError as exc:
            outcome, detail = classify_os_error(exc)
            out.update(outcome=outcome, detail=f"handshake: {detail}")
        except Exception as exc:
            why = f"handshake: {type(exc).__name__}: {exc}"
            out.update(outcome=Outcome.ERROR, detail=why[:300])
        finally:
            with anyio.CancelScope(shield=True):
                await (tls.aclose() if tls is not None else stream.aclose())


def _py_version(v: str) -> str:
    return {"TLSv1": "TLSv1.0", "SSLv3": "SSLv3"}.get(v, v)


# ---------------------------------------------------------------------------------------
# Certificates


def _pick_chain(hellos: dict[str, HelloResult]) -> tuple[tuple[bytes, ...], str, bool]:
    """The chain served for the newest accepted version (what modern clients get), its
    version, and whether it was cut at the cap."""
    for version in reversed(ALL_VERSIONS):
        r = hellos.get(version)
        if r is not None and r.outcome == VersionOutcome.ACCEPTED and r.chain:
            return r.chain, version, r.chain_truncated
    return (), "", False


def _stapling(hellos: dict[str, HelloResult], source: str) -> tuple[bool | None, str, str]:
    r = hellos.get(source)
    if r is None:
        return None, "no certificate flight was read", ""
    if r.ocsp is not None:
        return True, *describe_ocsp(r.ocsp)
    if r.status_seen:
        return False, f"no OCSP response stapled ({source})", ""
    return None, f"the {source} flight was not read to the end: {r.detail}".strip(), ""


def describe_ocsp(der: bytes) -> tuple[str, str]:
    """(human detail, status) of a stapled OCSP response."""
    try:
        resp = load_der_ocsp_response(der)
        if resp.response_status != OCSPResponseStatus.SUCCESSFUL:
            status = resp.response_status.name.lower()
            return f"stapled OCSP response status {status}", status
        status = resp.certificate_status.name.lower()
        nxt = resp.next_update_utc
        until = f", next update {nxt.isoformat()}" if nxt else ""
        return f"stapled OCSP response: certificate {status}{until}", status
    except Exception as exc:  # a stapled blob we cannot parse is still a staple
        return f"stapled OCSP response ({len(der)} bytes, unparsed: {type(exc).__name__})", (
            "unparsed"
        )


def _key(cert: x509.Certificate) -> tuple[str, int, str]:
    try:
        pub = cert.public_key()
    except Exception as exc:
        return f"unsupported ({type(exc).__name__})", 0, ""
    if isinstance(pub, rsa.RSAPublicKey):
        return "RSA", pub.key_size, ""
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return "EC", pub.curve.key_size, pub.curve.name
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, ""
    if isinstance(pub, ed448.Ed448PublicKey):
        return "Ed448", 456, ""
    if isinstance(pub, dsa.DSAPublicKey):
        return "DSA", pub.key_size, ""
    return type(pub).__name__, 0, ""


def _sig(cert: x509.Certificate) -> tuple[str, str]:
    oid = cert.signature_algorithm_oid
    name = getattr(oid, "_name", "") or oid.dotted_string
    try:
        algo = cert.signature_hash_algorithm
    except Exception:
        algo = None
    if algo is None:
        # Ed25519/Ed448 sign without a separate hash; RSA-PSS names its hash in parameters.
        lowered = name.lower()
        for h in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512"):
            if h in lowered:
                return h, name
        return "", name
    return algo.name.lower(), name


def _signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Did ``issuer`` sign ``child``? Weak algorithms (SHA-1, MD5) are verified too: the
    cryptography package's own check refuses them, but their weakness is judged by
    tls.cert.signature, not hidden as an untrusted chain."""
    if child.issuer != issuer.subject:
        return False
    try:
        child.verify_directly_issued_by(issuer)
        return True
    except Exception:
        pass
    try:
        pub = issuer.public_key()
        algo = child.signature_hash_algorithm
        sig, tbs = child.signature, child.tbs_certificate_bytes
        if isinstance(pub, rsa.RSAPublicKey) and algo is not None:
            params = child.signature_algorithm_parameters
            pad = params if isinstance(params, padding.PSS) else padding.PKCS1v15()
            pub.verify(sig, tbs, pad, algo)
        elif isinstance(pub, ec.EllipticCurvePublicKey) and algo is not None:
            pub.verify(sig, tbs, ec.ECDSA(algo))
        elif isinstance(pub, dsa.DSAPublicKey) and algo is not None:
            pub.verify(sig, tbs, algo)
        else:
            return False
    except Exception:
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool | None:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None
    except Exception:
        return None
    return bool(bc.ca)


@functools.lru_cache(maxsize=1024)
def cert_info(der: bytes) -> CertInfo:
    """What the checks need of one certificate. Cached by DER: hosts behind one wildcard or
    shared-hosting certificate (most of a province) serve the same chain."""
    sha = hashlib.sha256(der).hexdigest()
    try:
        cert = x509.load_der_x509_certificate(der)
    except Exception as exc:
        return CertInfo("", "", "", sha256=sha, parse_error=f"{type(exc).__name__}: {exc}"[:200])
    san: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        san = tuple(str(n) for n in ext.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in ext.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        pass
    except Exception:
        san = ()
    cn = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
    key_type, bits, curve = _key(cert)
    sig_hash, sig_name = _sig(cert)
    self_issued = cert.subject == cert.issuer
    return CertInfo(
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        san=san,
        san_ips=ips,
        cn=cn,
        key_type=key_type,
        key_bits=bits,
        curve=curve,
        sig_hash=sig_hash,
        sig_algorithm=sig_name,
        is_ca=bool(_is_ca(cert)),
        self_signed=self_issued and _signed_by(cert, cert),
        sha256=sha,
        **cert_extras(cert),
    )


def _name(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except Exception:
        return "<unprintable name>"


# ---------------------------------------------------------------------------------------
# Trust store and path building

_STORES: dict[tuple[str, ...], dict[bytes, list[x509.Certificate]]] = {}


def _store_files(ca_file: str | None) -> tuple[str, ...]:
    paths = ssl.get_default_verify_paths()
    files = [
        os.environ.get("SSL_CERT_FILE") or "",
        paths.cafile or "",
        paths.openssl_cafile or "",
        "/etc/ssl/certs/ca-certificates.crt",
    ]
    seen: list[str] = []
    for f in files:
        if f and os.path.isfile(f) and f not in seen:
            seen.append(f)
            break  # the first system bundle is the system store
    if ca_file:
        seen.append(ca_file)
    return tuple(seen)


def _load_pem_bundle(path: str) -> list[x509.Certificate]:
    try:
        with open(path, "rb") as fh:
            data = fh.read(16 * 1024 * 1024)
    except OSError:
        return []
    out: list[x509.Certificate] = []
    marker = b"-----END CERTIFICATE-----"
    for block in data.split(marker):
        start = block.find(b"-----BEGIN CERTIFICATE-----")
        if start < 0:
            continue
        try:
            with warnings.catch_warnings():  # old roots with odd serials are still roots
                warnings.simplefilter("ignore")
                out.append(x509.load_pem_x509_certificate(block[start:] + marker))
        except Exception:
            continue  # one odd certificate must not empty the store
    return out


def trust_store(ca_file: str | None) -> dict[bytes, list[x509.Certificate]]:
    """Trust anchors by DER-encoded subject: the system bundle plus --ca-file (cached)."""
    key = _store_files(ca_file)
    store = _STORES.get(key)
    if store is None:
        store = {}
        for path in key:
            for cert in _load_pem_bundle(path):
                store.setdefault(cert.subject.public_bytes(), []).append(cert)
        _STORES[key] = store
    return store


@functools.lru_cache(maxsize=512)
def judge_chain_cached(
    ders: tuple[bytes, ...], ca_file: str | None
) -> tuple[str, str, tuple[str, ...], str]:
    """:func:`judge_chain` against :func:`trust_store`, cached by the served chain: the
    verdict depends on nothing else (expiry is judged apart), and hosts sharing a
    certificate serve the same chain."""
    return judge_chain(ders, trust_store(ca_file))


def judge_chain(
    ders: Sequence[bytes], store: dict[bytes, list[x509.Certificate]]
) -> tuple[str, str, tuple[str, ...], str]:
    """(Trust.*, detail, subjects of the path, anchor subject) for a served chain."""
    if not ders:
        return Trust.NO_CHAIN, "no certificate was received", (), ""
    certs: list[x509.Certificate] = []
    for der in ders:
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except Exception:
            continue
    if not certs:
        return Trust.ERROR, "the served certificates cannot be parsed", (), ""
    leaf = certs[0]
    served = certs[1:]
    path = [leaf]
    current = leaf
    leaf_fp = leaf.fingerprint(hashes.SHA256())
    for anchor in store.get(leaf.subject.public_bytes(), []):
        if anchor.fingerprint(hashes.SHA256()) == leaf_fp:  # pinned leaf (e.g. via --ca-file)
            return (
                Trust.TRUSTED,
                "the certificate itself is in the trust store",
                (),
                _name(leaf.subject),
            )
    for _ in range(10):
        issuer_key = current.issuer.public_bytes()
        for anchor in store.get(issuer_key, []):
            if _signed_by(current, anchor):
                subjects = tuple(_name(c.subject) for c in path)
                return (
                    Trust.TRUSTED,
                    "chain builds to a trusted root",
                    subjects,
                    _name(anchor.subject),
                )
        candidates = [c for c in served if c.subject == current.issuer and c not in path]
        nxt = next(
            (c for c in candidates if _signed_by(current, c) and _is_ca(c) is not False), None
        )
        if nxt is None:
            subjects = tuple(_name(c.subject) for c in path)
            issuer = _name(current.issuer)
            if current.subject == current.issuer:
                if current is leaf:
                    return (
                        Trust.SELF_SIGNED,
                        "self-signed certificate, not in the trust store",
                        subjects,
                        "",
                    )
                return (
                    Trust.UNTRUSTED_ROOT,
                    (
                        f"the chain ends at the self-signed {issuer}, "
                        "which is not in the trust store"
                    ),
                    subjects,
                    "",
                )
            if candidates or store.get(issuer_key):
                return (
                    Trust.BAD_SIGNATURE,
                    (
                        f"a certificate named {issuer} was found but did not sign "
                        f"{_name(current.subject)}"
                    ),
                    subjects,
                    "",
                )
            if current is leaf:
                return (
                    Trust.MISSING_INTERMEDIATE,
                    (
                        f"the issuer {issuer} was not sent and is not a trusted root: "
                        "probably a missing intermediate certificate"
                    ),
                    subjects,
                    "",
                )
            return (
                Trust.UNTRUSTED_ROOT,
                (
                    f"the issuer {issuer} of {_name(current.subject)} is neither sent nor in the "
                    "trust store"
                ),
                subjects,
                "",
            )
        path.append(nxt)
        current = nxt
    return (
        Trust.ERROR,
        "chain longer than 10 certificates",
        tuple(_name(c.subject) for c in path),
        "",
    )


__all__ = [
    "cert_info",
    "describe_ocsp",
    "judge_chain",
    "permissive_context",
    "probe_tls",
    "trust_store",
]
