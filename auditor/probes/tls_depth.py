"""Handshake-depth probes of one (address, port, SNI) (issue 19): key-exchange groups and
hash, cipher order, TLS compression, secure renegotiation, extended master secret,
Heartbleed, CCS injection, TLS_FALLBACK_SCSV, client-initiated renegotiation.

Free facts come from the hellos the TLS probe sends anyway (auditor/probes/tls.py):
renegotiation_info and extended_master_secret in each ServerHello (RFC 5746 sec. 3.6,
RFC 7627 sec. 5.1), the ECDHE/DHE group in each ServerKeyExchange, the TLS 1.3 key_share
group. Connections added, per address, each one hand-built hello under the address slot,
every step bounded by ``options.timeout`` (the waits for a silent answer by
``SILENCE_WAIT``):

=========================  =========================================================  =====
probe                      when                                                       conns
=========================  =========================================================  =====
weak curves                an ECDHE suite accepted in TLS <= 1.2                      1
DHE group                  a DHE suite accepted and the hellos did not show its group 1
kex hash (SHA-1/SHA-224)   TLS 1.2 with an (EC)DHE suite; +1 when SHA-224 was chosen  1-2
cipher order               per TLS 1.0-1.2 version with two or more accepted suites, 0-2
                           the highest one's on the compression hello
compression + CCS          a TLS <= 1.2 version accepted (heartbeat support seen too, 1
                           the suites offered in reverse: the cipher-order hello)
Heartbleed                 only when the server negotiated the heartbeat extension    0-1
fallback SCSV              two or more of TLS 1.0-1.3 accepted                        1
client renegotiation       a TLS <= 1.2 version accepted (pyOpenSSL, tls_reneg.py)    1
0-RTT (early data)         TLS 1.3 accepted; none when the HTTP probe's TLS 1.3       0-2
                           tickets allow no early data (tls_tickets.py), else a
                           handshake for a ticket, +1 when it allows early data
                           (OpenSSL by ctypes, tls_early.py)
ROBOT                      a TLS_RSA_* suite accepted (tls_robot.py); +5 only to      0-10
                           repeat reactions that differed
=========================  =========================================================  =====

A modern server (TLS 1.2 + 1.3, ECDHE only, no heartbeat, no early data) gets 5 more
connections (6 when the HTTP probe did not reach it over TLS 1.3);
one that still accepts RSA key exchange 5 more (10 when it shows an oracle); the worst
case is 23 (MAX_DEPTH_CONNECTIONS). A TLS 1.3-only server gets 1 or 2.

Nothing is policy here: the checks (checks/tls_depth.py) judge with checks/tls_tables.py.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.abc import ByteStream, SocketAttribute
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from auditor.obs.tls import (
    TLS10,
    TLS11,
    TLS12,
    TLS13,
    CipherResult,
    Depth,
    KexParams,
    VersionOutcome,
)
from auditor.probes.context import ProbeContext
from auditor.probes.session import AddressSession
from auditor.probes.sockets import RawSocketStream, classify_os_error, connect_for_tls
from auditor.probes.tls_early import early_connection, first_connection
from auditor.probes.tls_hello import (
    ALERTS,
    CT_ALERT,
    CT_CCS,
    CT_HANDSHAKE,
    EXT_EXTENDED_MASTER_SECRET,
    EXT_RENEGOTIATION_INFO,
    VERSION_CODES,
    HelloResult,
    RecordReader,
    hello_exchange,
    record,
)
from auditor.probes.tls_reneg import client_renegotiation
from auditor.probes.tls_robot import (
    PAYLOADS,
    client_key_exchange,
    encrypt_raw,
    plaintexts,
)
from auditor.probes.tls_robot import verdict as robot_verdict
from auditor.protocol.tls_kex import (
    SHA1_SCHEMES,
    SHA224_SCHEMES,
    WEAK_EC_GROUPS,
    KexParseError,
    group_name,
    parse_server_key_exchange,
    scheme_hash,
    scheme_name,
)
from auditor.protocol.tls_suites import SUITES, suite_name

EXT_HEARTBEAT = 15  # RFC 6520 sec. 2
CT_HEARTBEAT = 24
TLS_FALLBACK_SCSV = 0x5600  # RFC 7507 sec. 6
ALERT_INAPPROPRIATE_FALLBACK = 86  # RFC 7507 sec. 2
ALERT_BAD_RECORD_MAC, ALERT_DECRYPTION_FAILED = 20, 21
# How long a probe waits for an answer whose absence is the expected, healthy outcome
# (RFC 6520 sec. 4: a bad heartbeat is "silently discarded"): bounded apart from the
# step timeout so a province scan does not pay a full timeout on every such server.
SILENCE_WAIT = 3.0
MAX_DEPTH_CONNECTIONS = 23
# Heartbeat request: type 1, payload_length claimed 16384, no payload and no padding. A
# patched server discards it (length mismatch); a vulnerable one answers with up to 16 KiB
# of its memory, of which the probe reads the 5-byte record header only.
_HEARTBLEED_PAYLOAD = b"\x01\x40\x00"
# SSL 3.0 is left out: its hello carries no extensions (renegotiation_info, EMS), and it
# is failed outright by tls.protocols.legacy anyway.
_V12 = (TLS10, TLS11, TLS12)


def _kx(code: int) -> str:
    s = SUITES.get(code)
    return s.kx if s is not None else ""


def _auth(code: int) -> str:
    s = SUITES.get(code)
    return s.auth if s is not None else ""


def kex_of_hello(version: str, r: HelloResult, offered: str = "usual") -> KexParams | None:
    """The group of one hello's handshake, from its ServerKeyExchange or key_share."""
    sh = r.server_hello
    if r.outcome != VersionOutcome.ACCEPTED or sh is None:
        return None
    cipher = suite_name(sh.cipher)
    if version == TLS13:
        try:
            ks = sh.key_share
        except Exception:
            return None
        if ks is None:
            return None
        name, bits = group_name(ks[0])
        return KexParams(version, cipher, "TLS13", name, bits, offered)
    kind = _kx(sh.cipher)
    if kind not in ("ECDHE", "DHE") or r.server_key_exchange is None:
        return None
    try:
        ske = parse_server_key_exchange(r.server_key_exchange, kind, version == TLS12)
    except KexParseError:
        return None
    return KexParams(version, cipher, kind, ske.group, ske.bits, offered)


def free_facts(hellos: Mapping[str, HelloResult]) -> dict[str, Any]:
    """What the usual hellos already say: renegotiation_info, EMS, key-exchange groups."""
    reneg: list[tuple[str, bool]] = []
    for v in _V12:
        r = hellos.get(v)
        if r is not None and r.outcome == VersionOutcome.ACCEPTED and r.server_hello:
            # RFC 5746 sec. 3.6: a server supporting secure renegotiation answers the
            # client's renegotiation_info with its own (empty on the first handshake).
            reneg.append((v, r.server_hello.extension(EXT_RENEGOTIATION_INFO) is not None))
    ems: bool | None = None
    r12 = hellos.get(TLS12)
    if r12 is not None and r12.outcome == VersionOutcome.ACCEPTED and r12.server_hello:
        ems = r12.server_hello.extension(EXT_EXTENDED_MASTER_SECRET) is not None  # RFC 7627 5.1
    kex = [k for v in (*_V12, TLS13) if (r := hellos.get(v)) and (k := kex_of_hello(v, r))]
    return {"secure_renegotiation": tuple(reneg), "ems": ems, "kex": kex}


class _Budget:
    """Counts the depth connections of one observation; refuses beyond the cap."""

    def __init__(self, cap: int = MAX_DEPTH_CONNECTIONS) -> None:
        self.cap = cap
        self.used = 0

    def take(self) -> bool:
        if self.used >= self.cap:
            return False
        self.used += 1
        return True


async def _connect_and(
    ctx: ProbeContext,
    budget: _Budget,
    address: str,
    port: int,
    work: Callable[[ByteStream], Awaitable[str]],
) -> str:
    """One connection under the address slot; ``work`` returns a detail. Errors become
    details prefixed "error:" (the caller records the fact as untested)."""
    if not budget.take():
        return "error: connection budget of the depth probes spent"
    timeout = ctx.options.timeout
    stream: ByteStream | None = None
    async with ctx.address_slot(address):
        ctx.stats["connections"] += 1
        with anyio.CancelScope(deadline=anyio.current_time() + timeout) as scope:
            try:
                stream = await connect_for_tls(address, port)
            except OSError as exc:
                outcome, detail = classify_os_error(exc)
                return f"error: connect: {outcome}: {detail}"
            scope.deadline = anyio.current_time() + timeout + SILENCE_WAIT
            try:
                return await work(stream)
            except (
                anyio.EndOfStream,
                anyio.BrokenResourceError,
                anyio.ClosedResourceError,
                OSError,
            ) as exc:
                return f"closed: {type(exc).__name__}"
            except Exception as exc:  # hostile bytes: an observation, never a crash
                return f"error: {type(exc).__name__}: {exc}"[:300]
            finally:
                if isinstance(stream, RawSocketStream):
                    stream.close_now()
                else:
                    with anyio.CancelScope(shield=True):
                        await stream.aclose()
    if stream is None:
        return "error: connect: no answer before the timeout"
    return "error: no answer before the timeout"


def _alert_name(code: int) -> str:
    return ALERTS.get(code, f"alert_{code}")


async def _read_reaction(reader: RecordReader, wait: float) -> tuple[str, int]:
    """("alert", code) / ("closed", 0) / ("silent", 0) / ("record", content type)."""
    with anyio.move_on_after(wait):
        try:
            header = await reader.read_exact(5)
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            return "closed", 0
        if header[0] == CT_ALERT:
            try:
                body = await reader.read_exact(2)
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                return "closed", 0
            return "alert", body[1]
        return "record", header[0]
    return "silent", 0


@dataclass(frozen=True)
class FoldedHello:
    """The compression + heartbeat + CCS-injection hello of one TLS <= 1.2 version: its
    ServerHello (the chosen suite, the compression method, the heartbeat extension), the
    CCS injection verdict and detail, and why it stopped (``_connect_and``'s detail)."""

    version: str
    hello: HelloResult
    ccs: str
    ccs_detail: str
    why: str

    @property
    def accepted(self) -> bool:
        return self.hello.outcome == VersionOutcome.ACCEPTED and self.hello.cipher is not None


async def compression_hello(
    ctx: ProbeContext,
    address: str,
    port: int,
    sni: str,
    version: str,
    offer: Sequence[int],
    wait: float,
    budget: _Budget | None = None,
) -> FoldedHello:
    """One connection: a ``version`` hello offering DEFLATE (RFC 3749) and the heartbeat
    extension (RFC 6520) besides ``offer``, the whole first flight read, then an early
    ChangeCipherSpec (CVE-2014-0224). Neither offer steers the suite the server picks, so
    the cipher enumeration sends this as one of its own hellos (tls.py)."""
    res = HelloResult(offered=tuple(offer))
    verdict: dict[str, str] = {}

    async def work(stream: ByteStream) -> str:
        reader = RecordReader(stream)
        await hello_exchange(
            stream,
            version,
            sni,
            offer,
            read_flight=True,
            result=res,
            reader=reader,
            hello_options={
                "compression": b"\x01\x00",  # DEFLATE (RFC 3749), then null
                "extra_extensions": b"\x00\x0f\x00\x01\x01",  # heartbeat (RFC 6520)
            },
        )
        if res.outcome != VersionOutcome.ACCEPTED or not res.server_hello_done:
            return f"no complete {version} flight: {res.detail or res.outcome}"
        # CCS injection (CVE-2014-0224): a ChangeCipherSpec before any key exchange
        # must be answered with unexpected_message (RFC 5246 sec. 7.1).
        rv = VERSION_CODES[version]
        await stream.send(record(CT_CCS, b"\x01", rv))
        kind, code = await _read_reaction(reader, wait)
        if kind == "silent":
            await stream.send(record(CT_CCS, b"\x01", rv))
            kind, code = await _read_reaction(reader, wait)
            if kind == "alert" and code in (ALERT_BAD_RECORD_MAC, ALERT_DECRYPTION_FAILED):
                verdict["ccs"] = Depth.VULNERABLE
                verdict["ccs_d"] = f"early CCS accepted, then alert {_alert_name(code)}"
            else:
                verdict["ccs_d"] = f"no reaction to an early CCS ({kind})"
        elif kind == "alert" and code in (ALERT_BAD_RECORD_MAC, ALERT_DECRYPTION_FAILED):
            verdict["ccs"] = Depth.VULNERABLE
            verdict["ccs_d"] = f"early CCS answered with {_alert_name(code)}"
        else:
            verdict["ccs"] = Depth.NOT_VULNERABLE
            what = f"alert {_alert_name(code)}" if kind == "alert" else kind
            verdict["ccs_d"] = f"early CCS refused ({what})"
        return ""

    why = await _connect_and(ctx, budget or _Budget(), address, port, work)
    if why.startswith("closed") and res.outcome != VersionOutcome.ACCEPTED:
        res.outcome = VersionOutcome.REJECTED
        res.detail = res.detail or "connection closed without a ServerHello"
    elif why.startswith("error") and res.outcome != VersionOutcome.ACCEPTED:
        res.outcome = VersionOutcome.ERROR
        res.detail = res.detail or why
    return FoldedHello(version, res, verdict.get("ccs", ""), verdict.get("ccs_d", ""), why)


async def probe_depth(
    ctx: ProbeContext,
    address: str,
    port: int,
    sni: str,
    hellos: Mapping[str, HelloResult],
    ciphers: Mapping[str, Sequence[CipherResult]],
    session: AddressSession | None = None,
    service_port: int = 443,
    *,
    folded: FoldedHello | None = None,
    own_order: Collection[str] = (),
) -> dict[str, Any]:
    """TlsObservation fields of the depth probes (never raises). ``port`` is the one
    connected to; ``session`` and ``service_port`` find the HTTP probe's TLS 1.3 tickets
    for the 0-RTT probe (AddressSession.shared_tickets). ``folded`` is the compression
    hello the cipher enumeration sent as one of its own (tls.py), ``own_order`` the
    versions whose enumeration already proved the server's own cipher order."""
    facts = free_facts(hellos)
    kex: list[KexParams] = list(facts.pop("kex"))
    out: dict[str, Any] = {"depth_probed": True, **facts}
    budget = _Budget()
    accepted = [
        v
        for v in (*_V12, TLS13)
        if (r := hellos.get(v)) is not None and r.outcome == VersionOutcome.ACCEPTED
    ]
    legacy = [v for v in accepted if v in _V12]
    top12 = legacy[-1] if legacy else ""
    suites = {v: [c.code for c in ciphers.get(v, ())] for v in accepted}
    details: list[str] = []
    order: dict[str, bool] = {}  # version -> the server's own order (cipher_order)
    wait = min(SILENCE_WAIT, ctx.options.timeout)

    async def hello(
        version: str, offer: Sequence[int], options: dict[str, Any] | None = None
    ) -> tuple[HelloResult, str]:
        res = HelloResult(offered=tuple(offer))

        async def work(stream: ByteStream) -> str:
            await hello_exchange(
                stream, version, sni, offer, read_flight=True, result=res, hello_options=options
            )
            return res.detail

        why = await _connect_and(ctx, budget, address, port, work)
        if why.startswith("closed") and res.outcome != VersionOutcome.ACCEPTED:
            res.outcome = VersionOutcome.REJECTED
            res.detail = "connection closed without a ServerHello"
        elif why.startswith("error") and res.outcome != VersionOutcome.ACCEPTED:
            res.outcome = VersionOutcome.ERROR
            res.detail = why
        return res, why

    async def weak_curves() -> None:
        # NCSC-NL 2025-05: only the good curves are acceptable; offer every other one alone
        ec = [v for v in legacy if any(_kx(c) == "ECDHE" for c in suites[v])]
        if not ec:
            return
        v = ec[-1]
        res, _ = await hello(
            v, [c for c in suites[v] if _kx(c) == "ECDHE"], {"groups": WEAK_EC_GROUPS}
        )
        k = kex_of_hello(v, res, "weak")
        if k is not None:
            kex.append(k)
            out["kex_weak_refused"] = False
        elif res.outcome == VersionOutcome.REJECTED:
            out["kex_weak_refused"] = True
        else:
            details.append(f"weak-curve hello ({v}) undecided: {res.detail or res.outcome}")

    async def dhe_group() -> None:
        if any(k.kind == "DHE" for k in kex):
            return
        dh = [v for v in legacy if any(_kx(c) == "DHE" for c in suites[v])]
        if not dh:
            return
        v = dh[-1]
        # EC groups only, no RFC 7919 ffdhe codes: the server shows the DH group it is
        # configured with, the one clients without RFC 7919 (all of them today) get.
        res, _ = await hello(
            v,
            [c for c in suites[v] if _kx(c) == "DHE"],
            {"groups": (0x001D, 0x0017, 0x0018, 0x0019)},
        )
        k = kex_of_hello(v, res)
        if k is not None:
            kex.append(k)
        else:
            details.append(f"DHE hello ({v}) showed no DH group: {res.detail or res.outcome}")

    async def kex_hash() -> None:
        # Internet.nl kex_hash_func; RFC 9155 deprecates SHA-1 in TLS 1.2 signatures.
        signed = [
            c for c in suites.get(TLS12, []) if _kx(c) in ("ECDHE", "DHE") and _auth(c) != "anon"
        ]
        if TLS12 not in legacy or not signed:
            out["kex_hash"] = Depth.NOT_APPLICABLE
            out["kex_hash_detail"] = "no TLS 1.2 suite with a signed (EC)DHE key exchange"
            return

        async def offer(schemes: Sequence[int]) -> tuple[str, str]:
            res, _ = await hello(TLS12, signed, {"signature_schemes": schemes})
            if res.outcome == VersionOutcome.ERROR:
                return "", res.detail
            if res.outcome != VersionOutcome.ACCEPTED:
                return Depth.REFUSED, res.detail
            k = res.server_key_exchange
            kind = _kx(res.cipher or 0)
            if k is None:
                return "", f"accepted ({suite_name(res.cipher or 0)}) but no ServerKeyExchange"
            try:
                scheme = parse_server_key_exchange(k, kind, True).scheme
            except KexParseError as exc:
                return "", f"ServerKeyExchange unreadable: {exc}"
            return Depth.ACCEPTED, scheme_name(scheme or 0)

        got, what = await offer((*SHA1_SCHEMES, *SHA224_SCHEMES))
        if got == Depth.ACCEPTED and scheme_hash_of(what) == "sha224":
            got1, what1 = await offer(SHA1_SCHEMES)  # would it settle for SHA-1 too?
            if got1 == Depth.ACCEPTED:
                got, what = got1, what1
        if got == Depth.ACCEPTED and scheme_hash_of(what) not in ("sha1", "sha224"):
            # it answered a SHA-1/SHA-224-only hello but signed with another hash anyway
            # (against RFC 5246 7.4.1.4.1): a SHA-1-only client gets no SHA-1 signature
            out["kex_hash"] = Depth.REFUSED
            out["kex_hash_detail"] = f"answered, but signed with {what} (not offered)"
            return
        out["kex_hash"] = got
        out["kex_hash_scheme"] = what if got == Depth.ACCEPTED else ""
        out["kex_hash_detail"] = what if got != Depth.ACCEPTED else ""

    def ordered(v: str, res: HelloResult) -> None:
        if res.outcome != VersionOutcome.ACCEPTED or res.cipher is None:
            details.append(f"cipher-order hello ({v}): {res.detail or res.outcome}")
        else:
            order[v] = res.cipher == suites[v][0]

    async def cipher_order() -> None:
        # The enumeration saw the accepted suites in the order the server picked them; the
        # same suites offered in reverse tell whether that order is the server's own,
        # unless the enumeration's picks already broke the client's order (tls.py:
        # ``own_order``). The highest TLS <= 1.2 version's is compression_ccs's.
        for v in legacy:
            if len(suites[v]) >= 2 and v != top12:
                if v in own_order:
                    order[v] = True  # the enumeration's picks broke the client's order
                    continue
                res, _ = await hello(v, list(reversed(suites[v])))
                ordered(v, res)

    async def compression_ccs() -> None:
        if not top12:
            return
        several = len(suites[top12]) >= 2
        use_folded = folded is not None and folded.version == top12
        reverse = several and not use_folded and top12 not in own_order
        if folded is not None and use_folded:
            # the enumeration carried the offers on one of its own hellos (tls.py)
            cc = folded
        else:
            # The suites in reverse when the cipher order is still open (cipher_order's
            # hello); else as found. A server that follows the client's order and lands on
            # an ECDHE suite shows its curve in this ServerKeyExchange (a "usual" group).
            offer = list(reversed(suites[top12])) if reverse else list(suites[top12])
            cc = await compression_hello(ctx, address, port, sni, top12, offer, wait, budget)
        res, why = cc.hello, cc.why
        seen = [res]
        if reverse:
            ordered(top12, res)
        elif several and top12 in own_order:
            order[top12] = True  # the enumeration's picks broke the client's order
        elif several:  # the folded hello did not settle it: the suites in reverse
            res2, _ = await hello(top12, list(reversed(suites[top12])))
            ordered(top12, res2)
            seen.append(res2)
        for r in seen:
            k = kex_of_hello(top12, r)
            if k is not None and not any(x.kind == k.kind and x.group == k.group for x in kex):
                kex.append(k)
        sh = res.server_hello
        if res.outcome == VersionOutcome.ACCEPTED and sh is not None:
            out["compression"] = sh.compression
            out["compression_detail"] = f"{top12}, DEFLATE and null offered"
            out["heartbleed"] = (
                "" if sh.extension(EXT_HEARTBEAT) is not None else Depth.NO_HEARTBEAT
            )
        else:
            out["compression_detail"] = f"{top12} hello: {res.detail or why or res.outcome}"
        out["ccs_injection"] = cc.ccs
        out["ccs_injection_detail"] = cc.ccs_detail or why
        if out.get("heartbleed") == "":
            await heartbleed()

    async def heartbleed() -> None:
        res = HelloResult(offered=tuple(suites[top12]))
        verdict: dict[str, str] = {}

        async def work(stream: ByteStream) -> str:
            reader = RecordReader(stream)
            await hello_exchange(
                stream,
                top12,
                sni,
                suites[top12],
                read_flight=True,
                result=res,
                reader=reader,
                hello_options={"extra_extensions": b"\x00\x0f\x00\x01\x01"},
            )
            if res.outcome != VersionOutcome.ACCEPTED or not res.server_hello_done:
                return f"no complete {top12} flight: {res.detail or res.outcome}"
            await stream.send(record(CT_HEARTBEAT, _HEARTBLEED_PAYLOAD, VERSION_CODES[top12]))
            kind, code = await _read_reaction(reader, wait)  # reads 5 header bytes at most
            if kind == "record" and code == CT_HEARTBEAT:
                verdict["v"] = Depth.VULNERABLE
                verdict["d"] = "heartbeat response to a request claiming 16384 bytes it lacked"
            else:
                verdict["v"] = Depth.NOT_VULNERABLE
                what = f"alert {_alert_name(code)}" if kind == "alert" else kind
                verdict["d"] = f"over-long heartbeat request not answered ({what})"
            return ""

        why = await _connect_and(ctx, budget, address, port, work)
        out["heartbleed"] = verdict.get("v", "")
        out["heartbleed_detail"] = verdict.get("d", why)

    async def fallback() -> None:
        if len(accepted) < 2:
            out["fallback_scsv"] = Depth.NOT_APPLICABLE
            out["fallback_scsv_detail"] = f"only {', '.join(accepted) or 'no version'} accepted"
            return
        lower = accepted[-2]  # RFC 7507 sec. 3: a fallback below the highest must be refused
        offer = suites.get(lower) or list(hellos[lower].offered)
        res, _ = await hello(lower, [*offer, TLS_FALLBACK_SCSV])
        detail = res.detail or res.outcome
        if res.alert is not None and res.alert.description == ALERT_INAPPROPRIATE_FALLBACK:
            out["fallback_scsv"] = Depth.HONOURED
        elif res.outcome == VersionOutcome.ACCEPTED:
            out["fallback_scsv"] = Depth.IGNORED
        elif res.outcome == VersionOutcome.REJECTED and res.alert is None:
            # The same hello without the SCSV was accepted in this probe; with it the server
            # closed the connection: the fallback was refused, only without the alert RFC 7507
            # sec. 3 asks for (testssl.sh counts it as supported too). Servers whose TLS stack
            # aborts the handshake without flushing the alert do this (Python's asyncio).
            out["fallback_scsv"] = Depth.HONOURED
            detail += " (refused without the inappropriate_fallback alert)"
        out["fallback_scsv_detail"] = f"{lower} hello with TLS_FALLBACK_SCSV: {detail}"

    async def client_reneg() -> None:
        # CVE-2011-1473: each renegotiation the client starts costs the server a full
        # handshake (RSA decryption or signature); RFC 5746 sec. 4.4 lets it refuse them.
        if not top12:
            out["client_renegotiation"] = Depth.NOT_APPLICABLE
            out["client_renegotiation_detail"] = "TLS 1.3 only: no renegotiation (RFC 8446)"
            return
        result: dict[str, Any] = {}

        async def work(stream: ByteStream) -> str:
            sock = stream.extra(SocketAttribute.raw_socket)
            r = await client_renegotiation(sock, sni, top12, ctx.options.timeout)
            result["r"] = r
            return r.detail

        why = await _connect_and(ctx, budget, address, port, work)
        r = result.get("r")
        out["client_renegotiation"] = r.outcome if r is not None else ""
        out["client_renegotiations"] = r.accepted if r is not None else 0
        out["client_renegotiation_detail"] = r.detail if r is not None else why

    async def zero_rtt() -> None:
        # Internet.nl zero_rtt: early data is replayable (RFC 8446 sec. 8), so a server
        # taking it must answer a request in it with 425 Too Early (RFC 8470 sec. 5.2)
        if TLS13 not in accepted:
            out["zero_rtt"] = Depth.NOT_APPLICABLE
            out["zero_rtt_detail"] = "TLS 1.3 not accepted: no early data"
            return
        host = sni or (f"[{address}]" if ":" in address else address)
        got: dict[str, Any] = {}
        seen = await session.shared_tickets(service_port) if session is not None else None
        if seen is not None and seen.max_early_data == 0:
            # the HTTP probe's TLS 1.3 connection got this server's tickets: none allows
            # early data, so no resumption can carry any (RFC 8446 sec. 4.2.10)
            out["zero_rtt"] = Depth.NO_EARLY_DATA
            out["zero_rtt_detail"] = (
                f"the session tickets allow no early data ({seen.count} received by the "
                "HTTP probe's TLS 1.3 connection)"
            )
            return

        async def first(stream: ByteStream) -> str:
            sock = stream.extra(SocketAttribute.raw_socket)
            t = await first_connection(sock, sni, ctx.options.timeout)
            got["ticket"] = t
            return t.detail

        why = await _connect_and(ctx, budget, address, port, first)
        ticket = got.get("ticket")
        if ticket is None or ticket.session is None:
            out["zero_rtt_detail"] = ticket.detail if ticket is not None else why
            return
        try:
            if ticket.max_early_data <= 0:
                out["zero_rtt"] = Depth.NO_EARLY_DATA
                out["zero_rtt_detail"] = "the session ticket allows no early data"
                return

            async def early(stream: ByteStream) -> str:
                sock = stream.extra(SocketAttribute.raw_socket)
                r = await early_connection(sock, sni, host, ticket, ctx.options.timeout)
                got["early"] = r
                return r.detail

            why = await _connect_and(ctx, budget, address, port, early)
            r = got.get("early")
            out["zero_rtt"] = r.outcome if r is not None else ""
            out["zero_rtt_status"] = r.status if r is not None else 0
            detail = r.detail if r is not None else why
            out["zero_rtt_detail"] = f"ticket max_early_data {ticket.max_early_data}; {detail}"
        finally:
            ticket.session.free()

    async def robot() -> None:
        # ROBOT (CVE-2017-13099 and siblings): only a server with RSA key exchange can
        # have a Bleichenbacher oracle; the enumeration already knows whether it does
        rsa_versions = [v for v in legacy if any(_kx(c) == "RSA" for c in suites[v])]
        if not rsa_versions:
            out["robot"] = Depth.NOT_APPLICABLE
            out["robot_detail"] = "no TLS_RSA_* suite accepted (no RSA key exchange)"
            return
        v = rsa_versions[-1]
        suite = next(c for c in suites[v] if _kx(c) == "RSA")
        rv = VERSION_CODES[v]
        # the ciphertexts are made for the key of the certificate this very suite gets
        # (a server with an RSA and an ECDSA certificate shows the EC one to ECDHE_ECDSA)
        made: list[bytes] = []

        def prepare(chain: Sequence[bytes]) -> str:
            key = _rsa_key(chain)
            if key is None:
                return f"error: no RSA public key in the certificate served with {v}"
            n, e = key
            try:
                messages = plaintexts((n.bit_length() + 7) // 8, min(rv, 0x0303))
            except ValueError as exc:
                return f"error: {exc}"
            made.extend(encrypt_raw(messages[p], n, e) for p in PAYLOADS)
            return ""

        async def one(index: int) -> str:
            res = HelloResult(offered=(suite,))
            seen: dict[str, str] = {}

            async def work(stream: ByteStream) -> str:
                reader = RecordReader(stream)
                await hello_exchange(
                    stream, v, sni, [suite], read_flight=True, result=res, reader=reader
                )
                if res.outcome != VersionOutcome.ACCEPTED or not res.server_hello_done:
                    return f"error: no complete {v} flight: {res.detail or res.outcome}"
                if not made and (why := prepare(res.chain)):
                    return why
                # ClientKeyExchange, ChangeCipherSpec, a Finished that cannot verify
                flight = record(CT_HANDSHAKE, client_key_exchange(made[index]), rv)
                flight += record(CT_CCS, b"\x01", rv)
                flight += record(CT_HANDSHAKE, os.urandom(64), rv)
                await stream.send(flight)
                kind, code = await _read_reaction(reader, wait)
                seen["r"] = (
                    f"alert {_alert_name(code)}"
                    if kind == "alert"
                    else (f"record type {code}" if kind == "record" else kind)
                )
                return ""

            why = await _connect_and(ctx, budget, address, port, work)
            return seen.get("r") or (why if why.startswith("error") else f"error: {why}")

        async def round_() -> list[str] | str:
            got = []
            for i in range(len(PAYLOADS)):  # one after the other: five handshakes, gently
                r = await one(i)
                if r.startswith("error"):
                    return r
                got.append(r)
            return got

        first = await round_()
        if isinstance(first, str):
            out["robot_detail"] = f"{v} {suite_name(suite)}: {first}"
            return
        again: list[str] | str | None = None
        if len(set(first)) > 1:
            again = await round_()
            if isinstance(again, str):
                out["robot_detail"] = f"{v} {suite_name(suite)}: repeat: {again}"
                return
        outcome, oracle, detail = robot_verdict(first, again)
        out["robot"] = outcome
        out["robot_oracle"] = oracle
        out["robot_detail"] = f"{v} {suite_name(suite)}: {detail}"

    if accepted:
        # Which jobs may open a connection (else they only write "not applicable" and are
        # awaited in place: a task per job and address showed in the scan's profile). Only
        # a matter of speed: a job misjudged here still runs, in sequence.
        kinds = {_kx(c) for v in legacy for c in suites[v]}
        folded_sh = folded.hello.server_hello if folded is not None else None
        may_connect = {
            weak_curves: "ECDHE" in kinds,
            dhe_group: "DHE" in kinds and not any(k.kind == "DHE" for k in kex),
            kex_hash: TLS12 in legacy,
            cipher_order: any(
                len(suites[v]) >= 2 and v != top12 and v not in own_order for v in legacy
            ),
            compression_ccs: bool(top12)
            and (
                folded is None
                or folded.version != top12
                or (len(suites[top12]) >= 2 and top12 not in own_order)
                or (folded_sh is not None and folded_sh.extension(EXT_HEARTBEAT) is not None)
            ),
            fallback: len(accepted) >= 2,
            client_reneg: bool(top12),
            zero_rtt: TLS13 in accepted,
            robot: "RSA" in kinds,
        }
        for job, connects in may_connect.items():
            if not connects:
                await job()
        busy = [job for job, connects in may_connect.items() if connects]
        if len(busy) == 1:
            await busy[0]()
        elif busy:
            async with anyio.create_task_group() as tg:
                for job in busy:
                    tg.start_soon(job)
        out["cipher_order"] = tuple((v, order[v]) for v in legacy if v in order)
    out["kex"] = tuple(kex)
    out["kex_detail"] = "; ".join(details)
    out["depth_connections"] = budget.used
    return out


def _rsa_key(chain: Sequence[bytes]) -> tuple[int, int] | None:
    """(n, e) of the leaf's RSA public key, or None."""
    if not chain:
        return None
    try:
        pub = x509.load_der_x509_certificate(chain[0]).public_key()
    except Exception:  # hostile DER: no key, no probe
        return None
    if not isinstance(pub, rsa.RSAPublicKey):
        return None
    nums = pub.public_numbers()
    return nums.n, nums.e


def scheme_hash_of(name: str) -> str:
    """The hash of a scheme given by name (as :func:`scheme_name` prints it)."""
    for code in (*SHA1_SCHEMES, *SHA224_SCHEMES):
        if scheme_name(code) == name:
            return scheme_hash(code)
    return "other"


__all__ = [
    "MAX_DEPTH_CONNECTIONS",
    "FoldedHello",
    "compression_hello",
    "free_facts",
    "kex_of_hello",
    "probe_depth",
]
