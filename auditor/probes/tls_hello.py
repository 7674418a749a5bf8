"""Hand-built TLS handshakes: ClientHello bytes, ServerHello/alert parsing, a capped reader.

Why by hand: the local OpenSSL 3 cannot send an SSL 2.0 or SSL 3.0 ClientHello at all and
refuses TLS 1.0/1.1 or weak suites at its default security level, yet the auditor must
*observe* a server that accepts them (CHECKS.md tls.protocols.legacy). Detecting a
protocol version or a cipher suite needs no full handshake: the ServerHello (or the alert)
answers the question.

The same exchange also reads the served certificate chain and the stapled OCSP response:
in TLS <= 1.2 the Certificate and CertificateStatus messages travel in clear; in TLS 1.3
they are encrypted with the server handshake traffic key, which the client can derive
from its own ephemeral key share (RFC 8446 sec. 7.1), so this module derives it and
decrypts just those records. Python 3.11's ssl module only exposes the leaf certificate,
which is why the chain is taken from here and not from the full OpenSSL handshake.

Everything read from the network is bounded (record size, total bytes, message size) and
parsed defensively: malformed input raises :class:`HelloParseError`, never anything else.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from anyio.abc import ByteStream
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from auditor.obs.tls import SSL2, SSL3, TLS10, TLS11, TLS12, TLS13, VersionOutcome

# Wire codes of the versions (RFC 8446 sec. 4.2.1; SSL 3.0 = RFC 6101).
VERSION_CODES: dict[str, int] = {
    SSL2: 0x0002,
    SSL3: 0x0300,
    TLS10: 0x0301,
    TLS11: 0x0302,
    TLS12: 0x0303,
    TLS13: 0x0304,
}
VERSION_NAMES: dict[int, str] = {v: k for k, v in VERSION_CODES.items()}

# Record layer limits: a TLSCiphertext fragment is at most 2^14 + 2048 bytes (RFC 5246
# sec. 6.2.3; RFC 8446 sec. 5.2 allows 2^14 + 256). Anything bigger is hostile.
MAX_RECORD = 2**14 + 2048
# A whole exchange (ServerHello .. ServerHelloDone, chains with several certificates
# included) stays far below this; a peer that sends more is cut off.
MAX_EXCHANGE = 256 * 1024
MAX_HANDSHAKE_MESSAGE = 128 * 1024
# Certificates kept from one Certificate message: real chains have 2-4 (leaf, one or two
# intermediates, sometimes a cross-signed root); more is kept out of memory and reported.
MAX_CHAIN = 16

CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APPDATA = 20, 21, 22, 23

HS_CLIENT_HELLO = 1
HS_SERVER_HELLO = 2
HS_CERTIFICATE = 11
HS_SERVER_KEY_EXCHANGE = 12
HS_SERVER_HELLO_DONE = 14
HS_CERTIFICATE_VERIFY = 15
HS_FINISHED = 20
HS_CERTIFICATE_STATUS = 22

EXT_SERVER_NAME = 0
EXT_STATUS_REQUEST = 5
EXT_SUPPORTED_GROUPS = 10
EXT_EC_POINT_FORMATS = 11
EXT_SIGNATURE_ALGORITHMS = 13
EXT_SIGNED_CERTIFICATE_TIMESTAMP = 18  # RFC 6962 sec. 3.3.1 (empty in the ClientHello)
EXT_EXTENDED_MASTER_SECRET = 23
EXT_SUPPORTED_VERSIONS = 43
EXT_PSK_KEY_EXCHANGE_MODES = 45
EXT_KEY_SHARE = 51
EXT_RENEGOTIATION_INFO = 0xFF01

GROUP_SECP256R1 = 0x0017
GROUP_X25519 = 0x001D
# Offered groups: the common EC groups and the RFC 7919 FFDHE groups (for DHE suites).
GROUPS = (GROUP_X25519, GROUP_SECP256R1, 0x0018, 0x0019, 0x001E, 0x0100, 0x0101, 0x0102)
# TLS <= 1.2 hellos add secp224r1, last: a server whose only curve it is (NCSC-NL 2025-05:
# phase out) is then observed, not mistaken for one without TLS (no shared group); one
# with a better curve still picks that. Not in TLS 1.3 hellos: RFC 8446 sec. 4.2.7 has no
# P-224, and OpenSSL 3 would answer it with a HelloRetryRequest it cannot complete.
GROUP_SECP224R1 = 0x0015
GROUPS_TLS12 = (*GROUPS, GROUP_SECP224R1)
# Offered signature schemes, SHA-1 ones included so that a SHA-1-only server still answers
# (its weakness is then judged by the checks, not hidden as a failed probe).
SIGNATURE_SCHEMES = (
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806,
    0x0809, 0x080A, 0x080B, 0x0401, 0x0501, 0x0601, 0x0303, 0x0301,
    0x0302, 0x0203, 0x0201, 0x0202,
)  # fmt: skip

# The RFC 8446 sec. 4.1.3 value of ServerHello.random that marks a HelloRetryRequest.
HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")

ALERTS: dict[int, str] = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    22: "record_overflow",
    40: "handshake_failure",
    42: "bad_certificate",
    43: "unsupported_certificate",
    47: "illegal_parameter",
    48: "unknown_ca",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    109: "missing_extension",
    110: "unsupported_extension",
    112: "unrecognized_name",
    120: "no_application_protocol",
}


class HelloParseError(ValueError):
    """The peer's bytes are not what the protocol allows (or exceed a cap)."""


# ---------------------------------------------------------------------------------------
# Building ClientHellos


def _u8(n: int) -> bytes:
    return struct.pack("!B", n)


def _u16(n: int) -> bytes:
    return struct.pack("!H", n)


def _u24(n: int) -> bytes:
    return struct.pack("!I", n)[1:]


def _vec8(b: bytes) -> bytes:
    return _u8(len(b)) + b


def _vec16(b: bytes) -> bytes:
    return _u16(len(b)) + b


def _ext(ext_type: int, body: bytes) -> bytes:
    return _u16(ext_type) + _vec16(body)


def _sni_ok(sni: str) -> bool:
    """SNI carries a DNS host name only, never an address literal (RFC 6066 sec. 3)."""
    if not sni or ":" in sni:
        return False
    if sni.replace(".", "").isdigit():
        return False
    return sni.isascii()


@dataclass(frozen=True)
class KeyShares:
    """Ephemeral key shares offered in a TLS 1.3 ClientHello (kept to derive the keys)."""

    x25519: x25519.X25519PrivateKey
    p256: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> KeyShares:
        return cls(x25519.X25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def probe_shares(cls) -> KeyShares:
        """The shares every probe hello offers: one pair per process. A probe never finishes
        the key exchange (it only decrypts the server's first flight to read the chain), so
        a fresh pair per hello protects nothing; generating it cost 15 % of a TLS scan."""
        global _PROBE_SHARES
        if _PROBE_SHARES is None:
            _PROBE_SHARES = cls.generate()
        return _PROBE_SHARES

    def entries(self) -> bytes:
        x = self.x25519.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        p = self.p256.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return _u16(GROUP_X25519) + _vec16(x) + _u16(GROUP_SECP256R1) + _vec16(p)

    def shared_secret(self, group: int, peer: bytes) -> bytes:
        if group == GROUP_X25519:
            if len(peer) != 32:
                raise HelloParseError("bad x25519 key share length")
            return self.x25519.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
        if group == GROUP_SECP256R1:
            try:
                pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), peer)
            except ValueError as exc:
                raise HelloParseError(f"bad P-256 key share: {exc}") from None
            return self.p256.exchange(ec.ECDH(), pub)
        raise HelloParseError(f"server chose a group we did not offer a share for: {group:#x}")


_PROBE_SHARES: KeyShares | None = None


def _suites(ciphers: Sequence[int]) -> bytes:
    # one pack for the whole list: a probe offers ~350 suites per hello, and a per-suite
    # _u16 join was 14 % of a TLS scan's CPU
    return struct.pack(f"!{len(ciphers)}H", *ciphers)


def client_hello_body(
    version: str,
    sni: str,
    ciphers: Sequence[int],
    *,
    key_shares: KeyShares | None = None,
    status_request: bool = True,
    random: bytes | None = None,
    compression: bytes = b"\x00",
    groups: Sequence[int] | None = None,
    signature_schemes: Sequence[int] = SIGNATURE_SCHEMES,
    extra_extensions: bytes = b"",
) -> bytes:
    """The ClientHello handshake message (with its 4-byte header) for SSL 3.0 .. TLS 1.3.

    ``compression`` (methods, e.g. b"\\x01\\x00" to offer DEFLATE), ``groups``,
    ``signature_schemes`` and ``extra_extensions`` (raw, appended) exist for the depth
    probes (auditor/probes/tls_depth.py); the defaults are the probe's usual hello."""
    if version not in (SSL3, TLS10, TLS11, TLS12, TLS13):
        raise ValueError(f"no TLS-format ClientHello for {version}")
    rnd = random if random is not None else os.urandom(32)
    legacy = min(VERSION_CODES[version], 0x0303)
    suites = _suites(ciphers)
    body = _u16(legacy) + rnd
    # TLS 1.3 middlebox compatibility mode sends a 32-byte legacy_session_id (RFC 8446 D.4).
    body += _vec8(os.urandom(32) if version == TLS13 else b"")
    body += _vec16(suites) + _vec8(compression)  # null only unless a depth probe asks
    exts = b""
    if version != SSL3:  # SSL 3.0 predates extensions; keep its hello pristine
        if _sni_ok(sni):
            name = sni.encode("ascii")
            exts += _ext(EXT_SERVER_NAME, _vec16(_u8(0) + _vec16(name)))
        if groups is None:
            groups = GROUPS if version == TLS13 else GROUPS_TLS12
        exts += _ext(EXT_SUPPORTED_GROUPS, _vec16(_suites(groups)))
        exts += _ext(EXT_EC_POINT_FORMATS, _vec8(b"\x00"))
        exts += _ext(EXT_SIGNATURE_ALGORITHMS, _vec16(_suites(signature_schemes)))
        if status_request:
            # CertificateStatusRequest: ocsp(1), no responder ids, no extensions (RFC 6066 8)
            exts += _ext(EXT_STATUS_REQUEST, b"\x01\x00\x00\x00\x00")
            # CT: ask for the SCTs a server may send in the handshake (tls.cert.sct)
            exts += _ext(EXT_SIGNED_CERTIFICATE_TIMESTAMP, b"")
        exts += _ext(EXT_EXTENDED_MASTER_SECRET, b"")
        exts += _ext(EXT_RENEGOTIATION_INFO, b"\x00")
        if version == TLS13:
            exts += _ext(EXT_SUPPORTED_VERSIONS, _vec8(_u16(0x0304)))
            exts += _ext(EXT_PSK_KEY_EXCHANGE_MODES, _vec8(b"\x01"))
            shares = key_shares.entries() if key_shares else b""
            exts += _ext(EXT_KEY_SHARE, _vec16(shares))
        exts += extra_extensions
    if exts:
        body += _vec16(exts)
    return _u8(HS_CLIENT_HELLO) + _u24(len(body)) + body


def record(content_type: int, payload: bytes, version: int = 0x0301) -> bytes:
    """One plaintext record. The record version of a first hello is 0x0301 for any TLS
    (RFC 8446 sec. 5.1 allows it; some old servers reject 0x0303 there) and 0x0300 for SSL 3.0.
    """
    if len(payload) > 2**14:
        raise ValueError("record payload too large")
    return _u8(content_type) + _u16(version) + _vec16(payload)


def build_client_hello(
    version: str,
    sni: str,
    ciphers: Sequence[int],
    *,
    key_shares: KeyShares | None = None,
    status_request: bool = True,
) -> bytes:
    """A ClientHello record ready to send (SSLv2 has its own builder)."""
    msg = client_hello_body(
        version, sni, ciphers, key_shares=key_shares, status_request=status_request
    )
    return record(CT_HANDSHAKE, msg, 0x0300 if version == SSL3 else 0x0301)


def build_sslv2_client_hello(cipher_specs: Sequence[int], challenge: bytes | None = None) -> bytes:
    """An SSL 2.0 CLIENT-HELLO (draft-hickman-netscape-ssl-00 sec. "Client Only Protocol
    Messages"), with its 2-byte record header (high bit set, no padding)."""
    chal = challenge if challenge is not None else os.urandom(16)
    specs = b"".join(struct.pack("!I", c)[1:] for c in cipher_specs)
    body = _u8(1) + _u16(0x0002) + _u16(len(specs)) + _u16(0) + _u16(len(chal)) + specs + chal
    return _u16(0x8000 | len(body)) + body


# ---------------------------------------------------------------------------------------
# Parsing


class _Buf:
    """Bounds-checked cursor over untrusted bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise HelloParseError("truncated message")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int(struct.unpack("!H", self.take(2))[0])

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def vec8(self) -> bytes:
        return self.take(self.u8())

    def vec16(self) -> bytes:
        return self.take(self.u16())

    def vec24(self) -> bytes:
        return self.take(self.u24())

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


@dataclass(frozen=True)
class Alert:
    level: int
    description: int

    @property
    def name(self) -> str:
        return ALERTS.get(self.description, f"alert_{self.description}")


def parse_alert(payload: bytes) -> Alert:
    if len(payload) < 2:
        raise HelloParseError("truncated alert")
    return Alert(payload[0], payload[1])


@dataclass(frozen=True)
class ServerHello:
    legacy_version: int
    random: bytes
    session_id: bytes
    cipher: int
    compression: int
    extensions: tuple[tuple[int, bytes], ...] = ()

    @property
    def is_hrr(self) -> bool:
        return self.random == HRR_RANDOM

    def extension(self, ext_type: int) -> bytes | None:
        for t, body in self.extensions:
            if t == ext_type:
                return body
        return None

    @property
    def version(self) -> int:
        """The negotiated version: supported_versions when present (RFC 8446 4.2.1)."""
        sv = self.extension(EXT_SUPPORTED_VERSIONS)
        if sv is not None and len(sv) == 2:
            return int(struct.unpack("!H", sv)[0])
        return self.legacy_version

    @property
    def version_name(self) -> str:
        return VERSION_NAMES.get(self.version, f"0x{self.version:04X}")

    @property
    def key_share(self) -> tuple[int, bytes] | None:
        ks = self.extension(EXT_KEY_SHARE)
        if ks is None:
            return None
        b = _Buf(ks)
        group = b.u16()
        if self.is_hrr:  # HelloRetryRequest carries only the selected group
            return group, b""
        return group, b.vec16()


def parse_server_hello(body: bytes) -> ServerHello:
    """A ServerHello handshake body (without the 4-byte header)."""
    b = _Buf(body)
    legacy = b.u16()
    rnd = b.take(32)
    sid = b.vec8()
    if len(sid) > 32:
        raise HelloParseError("session id longer than 32 bytes")
    cipher = b.u16()
    comp = b.u8()
    exts: list[tuple[int, bytes]] = []
    if b.left:
        eb = _Buf(b.vec16())
        while eb.left:
            t = eb.u16()
            exts.append((t, eb.vec16()))
    return ServerHello(legacy, rnd, sid, cipher, comp, tuple(exts))


def split_handshake(buf: bytes) -> tuple[list[tuple[int, bytes, bytes]], bytes]:
    """Complete handshake messages in ``buf`` as (type, body, raw) and the unparsed rest."""
    out: list[tuple[int, bytes, bytes]] = []
    pos = 0
    while len(buf) - pos >= 4:
        mtype = buf[pos]
        length = int.from_bytes(buf[pos + 1 : pos + 4], "big")
        if length > MAX_HANDSHAKE_MESSAGE:
            raise HelloParseError(f"handshake message of {length} bytes exceeds the cap")
        if len(buf) - pos - 4 < length:
            break
        raw = buf[pos : pos + 4 + length]
        out.append((mtype, raw[4:], raw))
        pos += 4 + length
    return out, buf[pos:]


@dataclass(frozen=True)
class CertificateMessage:
    chain: tuple[bytes, ...]  # DER, leaf first, as served
    ocsp: bytes | None = None  # TLS 1.3: status_request in the leaf's CertificateEntry
    truncated: bool = False  # more than MAX_CHAIN certificates were served; the rest dropped
    sct: bytes | None = None  # TLS 1.3: signed_certificate_timestamp in the leaf's entry


def parse_certificate(body: bytes, tls13: bool) -> CertificateMessage:
    """Certificate message: RFC 5246 sec. 7.4.2 or RFC 8446 sec. 4.4.2 (with entry extensions)."""
    b = _Buf(body)
    if tls13:
        b.vec8()  # certificate_request_context
    lst = _Buf(b.vec24())
    chain: list[bytes] = []
    ocsp: bytes | None = None
    sct: bytes | None = None
    while lst.left:
        der = lst.vec24()
        if not der:
            raise HelloParseError("empty certificate entry")
        chain.append(der)
        if tls13:
            eb = _Buf(lst.vec16())
            while eb.left:
                t = eb.u16()
                ext = eb.vec16()
                if t == EXT_STATUS_REQUEST and len(chain) == 1:
                    ocsp = parse_certificate_status(ext)
                elif t == EXT_SIGNED_CERTIFICATE_TIMESTAMP and len(chain) == 1:
                    sct = ext  # RFC 8446 sec. 4.4.2.1: in the end-entity's entry
        if len(chain) >= MAX_CHAIN and lst.left:
            # A longer chain (hostile or broken: 50 certificates) is kept capped at its first
            # MAX_CHAIN, so the leaf is still judged instead of the whole flight being
            # dropped; ``truncated`` tells the checks the chain they see is not the whole.
            return CertificateMessage(tuple(chain), ocsp, truncated=True, sct=sct)
    return CertificateMessage(tuple(chain), ocsp, sct=sct)


def parse_certificate_status(body: bytes) -> bytes:
    """CertificateStatus: status_type ocsp(1) + OCSPResponse (RFC 6066 sec. 8)."""
    b = _Buf(body)
    if b.u8() != 1:
        raise HelloParseError("unknown certificate status type")
    return b.vec24()


@dataclass(frozen=True)
class Ssl2ServerHello:
    version: int
    cipher_specs: tuple[int, ...]
    certificate: bytes


def parse_sslv2_server_hello(data: bytes) -> Ssl2ServerHello:
    """An SSL 2.0 SERVER-HELLO message (after the 2- or 3-byte record header)."""
    b = _Buf(data)
    if b.u8() != 4:
        raise HelloParseError("not an SSLv2 SERVER-HELLO")
    b.u8()  # session id hit
    b.u8()  # certificate type
    version = b.u16()
    cert_len, specs_len, conn_len = b.u16(), b.u16(), b.u16()
    cert = b.take(cert_len)
    specs_raw = b.take(specs_len)
    b.take(conn_len)
    if specs_len % 3:
        raise HelloParseError("cipher specs length not a multiple of 3")
    specs = tuple(int.from_bytes(specs_raw[i : i + 3], "big") for i in range(0, len(specs_raw), 3))
    return Ssl2ServerHello(version, specs, cert)


# ---------------------------------------------------------------------------------------
# TLS 1.3 handshake keys (RFC 8446 sec. 7.1 and 7.3), only to read the server's flight.

_TLS13_SUITES: dict[int, tuple[type[hashes.HashAlgorithm], int, str]] = {
    0x1301: (hashes.SHA256, 16, "gcm"),
    0x1302: (hashes.SHA384, 32, "gcm"),
    0x1303: (hashes.SHA256, 32, "chacha"),
    0x1304: (hashes.SHA256, 16, "ccm"),
    0x1305: (hashes.SHA256, 16, "ccm8"),
}


def _hkdf_expand_label(
    algo: hashes.HashAlgorithm, secret: bytes, label: str, context: bytes, length: int
) -> bytes:
    full = b"tls13 " + label.encode("ascii")
    info = _u16(length) + _vec8(full) + _vec8(context)
    return HKDFExpand(algorithm=algo, length=length, info=info).derive(secret)


def _hkdf_extract(algo: hashes.HashAlgorithm, salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, algo.name).digest()


class Tls13Reader:
    """Decrypts the server's handshake records after a TLS 1.3 ServerHello."""

    def __init__(self, cipher: int, shared_secret: bytes, transcript: bytes) -> None:
        if cipher not in _TLS13_SUITES:
            raise HelloParseError(f"TLS 1.3 suite {cipher:#06x} not supported for decryption")
        algo_cls, key_len, kind = _TLS13_SUITES[cipher]
        algo = algo_cls()
        hlen = algo.digest_size
        zeros = b"\x00" * hlen
        early = _hkdf_extract(algo, zeros, zeros)
        empty_hash = hashlib.new(algo.name, b"").digest()
        derived = _hkdf_expand_label(algo, early, "derived", empty_hash, hlen)
        hs_secret = _hkdf_extract(algo, derived, shared_secret)
        th = hashlib.new(algo.name, transcript).digest()
        s_hs = _hkdf_expand_label(algo, hs_secret, "s hs traffic", th, hlen)
        key = _hkdf_expand_label(algo, s_hs, "key", b"", key_len)
        self._iv = _hkdf_expand_label(algo, s_hs, "iv", b"", 12)
        self._aead: AESGCM | ChaCha20Poly1305 | AESCCM
        if kind == "gcm":
            self._aead = AESGCM(key)
        elif kind == "chacha":
            self._aead = ChaCha20Poly1305(key)
        else:
            self._aead = AESCCM(key, tag_length=8 if kind == "ccm8" else 16)
        self._seq = 0

    def decrypt(self, header: bytes, ciphertext: bytes) -> tuple[int, bytes]:
        """(inner content type, plaintext) of one TLSCiphertext record."""
        nonce = bytes(a ^ b for a, b in zip(self._iv, self._seq.to_bytes(12, "big"), strict=True))
        self._seq += 1
        try:
            plain = self._aead.decrypt(nonce, ciphertext, header)
        except Exception as exc:  # InvalidTag and friends: a peer speaking nonsense
            raise HelloParseError(f"cannot decrypt TLS 1.3 record: {type(exc).__name__}") from None
        stripped = plain.rstrip(b"\x00")
        if not stripped:
            raise HelloParseError("TLS 1.3 record without content type")
        return stripped[-1], stripped[:-1]


# ---------------------------------------------------------------------------------------
# The exchange over a connected stream


class RecordReader:
    """Reads TLS records from a stream, within MAX_RECORD per record and MAX_EXCHANGE total.

    The caller bounds time (anyio.fail_after around the whole exchange)."""

    def __init__(self, stream: ByteStream, cap: int = MAX_EXCHANGE) -> None:
        self.stream = stream
        self.cap = cap
        self.total = 0
        self._buf = b""

    async def read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            if self.total >= self.cap:
                raise HelloParseError(f"peer sent more than {self.cap} bytes")
            chunk = await self.stream.receive(min(65536, self.cap - self.total))
            self.total += len(chunk)
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    async def read_record(self) -> tuple[int, int, bytes, bytes]:
        """(content type, record version, payload, 5-byte header)."""
        header = await self.read_exact(5)
        ctype, version, length = header[0], int.from_bytes(header[1:3], "big"), header[3:5]
        size = int.from_bytes(length, "big")
        if ctype not in (CT_CCS, CT_ALERT, CT_HANDSHAKE, CT_APPDATA):
            raise HelloParseError(f"not a TLS record (first byte {ctype:#04x})")
        if size > MAX_RECORD:
            raise HelloParseError(f"record of {size} bytes exceeds the limit")
        return ctype, version, await self.read_exact(size), header


@dataclass
class HelloResult:
    """What one hand-built hello observed."""

    outcome: str = VersionOutcome.ERROR  # accepted / rejected / error
    detail: str = ""
    server_hello: ServerHello | None = None
    alert: Alert | None = None
    chain: tuple[bytes, ...] = ()
    chain_truncated: bool = False  # the server sent more than MAX_CHAIN certificates
    ocsp: bytes | None = None  # stapled OCSP response (DER)
    status_seen: bool = False  # the flight was read far enough to know about stapling
    # signed_certificate_timestamp extension data: TLS <= 1.2 in the ServerHello, TLS 1.3
    # in the leaf's CertificateEntry (RFC 6962 sec. 3.3.1, RFC 8446 sec. 4.4.2.1)
    sct: bytes | None = None
    ssl2_ciphers: tuple[int, ...] = ()
    offered: tuple[int, ...] = field(default_factory=tuple)
    # TLS <= 1.2 ServerKeyExchange body (curve or DH group, signature scheme), when read
    server_key_exchange: bytes | None = None
    server_hello_done: bool = False  # the TLS <= 1.2 flight was read to ServerHelloDone

    @property
    def cipher(self) -> int | None:
        return self.server_hello.cipher if self.server_hello else None


async def _read_server_hello(
    reader: RecordReader, res: HelloResult
) -> tuple[ServerHello, bytes, bytes] | None:
    """Read records until the ServerHello. Returns (hello, its raw message, handshake rest)."""
    hs = b""
    while True:
        ctype, _ver, payload, _hdr = await reader.read_record()
        if ctype == CT_ALERT:
            res.alert = parse_alert(payload)
            res.outcome = VersionOutcome.REJECTED
            res.detail = f"alert {res.alert.name}"
            return None
        if ctype != CT_HANDSHAKE:
            raise HelloParseError(f"unexpected record type {ctype} before ServerHello")
        hs += payload
        msgs, rest = split_handshake(hs)
        if msgs:
            mtype, body, raw = msgs[0]
            if mtype != HS_SERVER_HELLO:
                raise HelloParseError(f"first handshake message is type {mtype}")
            remainder = b"".join(m[2] for m in msgs[1:]) + rest
            return parse_server_hello(body), raw, remainder
        if len(hs) > MAX_HANDSHAKE_MESSAGE:
            raise HelloParseError("no ServerHello within the cap")


async def _read_flight_12(reader: RecordReader, res: HelloResult, hs: bytes) -> None:
    """TLS <= 1.2: read Certificate / CertificateStatus until ServerHelloDone."""
    while True:
        msgs, hs = split_handshake(hs)
        for mtype, body, _raw in msgs:
            if mtype == HS_CERTIFICATE:
                cm = parse_certificate(body, tls13=False)
                res.chain, res.chain_truncated = cm.chain, cm.truncated
            elif mtype == HS_CERTIFICATE_STATUS:
                res.ocsp = parse_certificate_status(body)
            elif mtype == HS_SERVER_KEY_EXCHANGE:
                res.server_key_exchange = body  # parsed by the depth probe, when it asks
            elif mtype == HS_SERVER_HELLO_DONE:
                res.status_seen = True
                res.server_hello_done = True
                return
        ctype, _ver, payload, _hdr = await reader.read_record()
        if ctype == CT_ALERT:
            alert = parse_alert(payload)
            res.detail = (res.detail + f"; then alert {alert.name}").lstrip("; ")
            return
        if ctype != CT_HANDSHAKE:
            return
        hs += payload


async def _read_flight_13(
    reader: RecordReader, res: HelloResult, tls13: Tls13Reader, hs_plain: bytes
) -> None:
    """TLS 1.3: decrypt records until the Certificate message."""
    if hs_plain:
        raise HelloParseError("unencrypted handshake data after a TLS 1.3 ServerHello")
    hs = b""
    while True:
        ctype, _ver, payload, header = await reader.read_record()
        if ctype == CT_CCS:
            continue  # middlebox compatibility (RFC 8446 D.4)
        if ctype == CT_ALERT:
            alert = parse_alert(payload)
            res.detail = (res.detail + f"; then alert {alert.name}").lstrip("; ")
            return
        if ctype != CT_APPDATA:
            raise HelloParseError(f"unexpected record type {ctype} in the TLS 1.3 flight")
        inner, plain = tls13.decrypt(header, payload)
        if inner != CT_HANDSHAKE:
            return
        hs += plain
        msgs, hs = split_handshake(hs)
        for mtype, body, _raw in msgs:
            if mtype == HS_CERTIFICATE:
                cm = parse_certificate(body, tls13=True)
                res.chain, res.ocsp, res.chain_truncated = cm.chain, cm.ocsp, cm.truncated
                res.sct = cm.sct
                res.status_seen = True
                return
            if mtype in (HS_CERTIFICATE_VERIFY, HS_FINISHED):
                return  # no certificate (PSK): nothing more to learn


async def hello_exchange(
    stream: ByteStream,
    version: str,
    sni: str,
    ciphers: Sequence[int],
    *,
    read_flight: bool = False,
    result: HelloResult | None = None,
    reader: RecordReader | None = None,
    hello_options: dict[str, Any] | None = None,
) -> HelloResult:
    """Send one hand-built ClientHello for ``version`` and classify the answer.

    ``read_flight``: also read the certificate chain and stapled OCSP response.
    Parsing problems become outcome "error" (the peer is not speaking the protocol) except
    where they prove the version was refused. Socket errors propagate to the caller, which
    classifies them; pass ``result`` to keep what was learnt before such an error.
    ``reader`` lets a caller go on reading the same stream afterwards (the depth probes);
    ``hello_options`` are passed to :func:`client_hello_body`.
    """
    res = result if result is not None else HelloResult(offered=tuple(ciphers))
    if reader is None:
        reader = RecordReader(stream)
    try:
        if version == SSL2:
            return await _sslv2_exchange(stream, reader, res, ciphers)
        shares = KeyShares.probe_shares() if version == TLS13 else None
        ch = client_hello_body(version, sni, ciphers, key_shares=shares, **(hello_options or {}))
        await stream.send(record(CT_HANDSHAKE, ch, 0x0300 if version == SSL3 else 0x0301))
        got = await _read_server_hello(reader, res)
        if got is None:
            return res
        sh, sh_raw, rest = got
        res.server_hello = sh
        wanted = VERSION_CODES[version]
        if sh.version != wanted:
            res.outcome = VersionOutcome.REJECTED
            res.detail = f"server answered {sh.version_name}"
            return res
        if sh.cipher not in ciphers:
            res.outcome = VersionOutcome.ACCEPTED
            res.detail = f"server chose a suite that was not offered ({sh.cipher:#06x})"
            return res
        res.outcome = VersionOutcome.ACCEPTED
        if version == TLS13 and sh.is_hrr:
            res.detail = "HelloRetryRequest (another key share group wanted)"
            return res
        if not read_flight:
            return res
        if version == TLS13:
            ks = sh.key_share
            if shares is None or ks is None:
                raise HelloParseError("TLS 1.3 ServerHello without key_share")
            secret = shares.shared_secret(*ks)
            await _read_flight_13(reader, res, Tls13Reader(sh.cipher, secret, ch + sh_raw), rest)
        else:
            res.sct = sh.extension(EXT_SIGNED_CERTIFICATE_TIMESTAMP)
            await _read_flight_12(reader, res, rest)
        return res
    except HelloParseError as exc:
        if res.outcome == VersionOutcome.ACCEPTED:
            res.detail = (res.detail + f"; flight not read: {exc}").lstrip("; ")
            return res
        res.outcome = VersionOutcome.ERROR if reader.total == 0 else VersionOutcome.REJECTED
        res.detail = f"not a valid {version} answer: {exc}"
        return res


async def _sslv2_exchange(
    stream: ByteStream, reader: RecordReader, res: HelloResult, ciphers: Sequence[int]
) -> HelloResult:
    await stream.send(build_sslv2_client_hello(ciphers))
    head = await reader.read_exact(2)
    if head[0] & 0x80:
        length = ((head[0] & 0x7F) << 8) | head[1]
        data = await reader.read_exact(length)
        try:
            sh = parse_sslv2_server_hello(data)
        except HelloParseError as exc:
            res.outcome = VersionOutcome.REJECTED
            res.detail = f"no SSLv2 SERVER-HELLO: {exc}"
            return res
        if sh.version != 0x0002 or not sh.cipher_specs:
            res.outcome = VersionOutcome.REJECTED
            res.detail = "SSLv2 SERVER-HELLO without common cipher specs"
            return res
        res.outcome = VersionOutcome.ACCEPTED
        res.ssl2_ciphers = sh.cipher_specs
        res.chain = (sh.certificate,) if sh.certificate else ()
        return res
    if head[0] == CT_ALERT:
        res.outcome = VersionOutcome.REJECTED
        res.detail = "TLS alert"
        hdr = await reader.read_exact(3)  # rest of the record header: minor version, length
        if int.from_bytes(hdr[1:3], "big") >= 2:
            res.alert = parse_alert(await reader.read_exact(2))
            res.detail = f"alert {res.alert.name}"
        return res
    res.outcome = VersionOutcome.REJECTED
    res.detail = f"answer is not SSLv2 (first byte {head[0]:#04x})"
    return res
