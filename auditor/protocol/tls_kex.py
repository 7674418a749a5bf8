"""Key-exchange facts: named groups, RFC 7919 primes, ServerKeyExchange parsing, signature
schemes. Facts only (pure, no I/O); how they are judged is policy (checks/tls_tables.py).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

# IANA "TLS Supported Groups" registry: code -> (name, bits). RFC 8422 sec. 5.1.1
# (secp*/sect*/brainpool via RFC 7027), RFC 7748 (x25519/x448), RFC 7919 (ffdhe*),
# RFC 8734 (brainpool*tls13).
GROUPS: dict[int, tuple[str, int]] = {
    0x0001: ("sect163k1", 163),
    0x0002: ("sect163r1", 163),
    0x0003: ("sect163r2", 163),
    0x0004: ("sect193r1", 193),
    0x0005: ("sect193r2", 193),
    0x0006: ("sect233k1", 233),
    0x0007: ("sect233r1", 233),
    0x0008: ("sect239k1", 239),
    0x0009: ("sect283k1", 283),
    0x000A: ("sect283r1", 283),
    0x000B: ("sect409k1", 409),
    0x000C: ("sect409r1", 409),
    0x000D: ("sect571k1", 571),
    0x000E: ("sect571r1", 571),
    0x000F: ("secp160k1", 160),
    0x0010: ("secp160r1", 160),
    0x0011: ("secp160r2", 160),
    0x0012: ("secp192k1", 192),
    0x0013: ("secp192r1", 192),
    0x0014: ("secp224k1", 224),
    0x0015: ("secp224r1", 224),
    0x0016: ("secp256k1", 256),
    0x0017: ("secp256r1", 256),
    0x0018: ("secp384r1", 384),
    0x0019: ("secp521r1", 521),
    0x001A: ("brainpoolP256r1", 256),
    0x001B: ("brainpoolP384r1", 384),
    0x001C: ("brainpoolP512r1", 512),
    0x001D: ("x25519", 255),
    0x001E: ("x448", 448),
    0x001F: ("brainpoolP256r1tls13", 256),
    0x0020: ("brainpoolP384r1tls13", 384),
    0x0021: ("brainpoolP512r1tls13", 512),
    0x0100: ("ffdhe2048", 2048),
    0x0101: ("ffdhe3072", 3072),
    0x0102: ("ffdhe4096", 4096),
    0x0103: ("ffdhe6144", 6144),
    0x0104: ("ffdhe8192", 8192),
}

# Every elliptic curve of the registry outside the NCSC-NL good set (secp256r1/384r1/521r1,
# x25519, x448, brainpool): offered alone to see whether the server settles for one.
WEAK_EC_GROUPS: tuple[int, ...] = tuple(range(0x0001, 0x0017))

# SHA-256 of the big-endian prime of each RFC 7919 group (appendix A), computed from
# OpenSSL's built-in copies: a ServerKeyExchange prime is named by its hash (the primes
# themselves are 256-1024 bytes each).
FFDHE_PRIMES: dict[str, str] = {
    "9cd3b7f336872f46c09428d1bbc19877a4d440512cda8d1c1cf0cd6e33698966": "ffdhe2048",
    "0eaf67db3a839156d5013494a5318a772b5697d270d721f37f092efc69ea5a17": "ffdhe3072",
    "4648414224ac881b3d0dc59b466f96d06a558278776807797ecf1f66ff397b3e": "ffdhe4096",
    "227ac9066b3ddd9e193670cda2388fa884f65ba0cf98b742d1fe77a6687c79c7": "ffdhe6144",
    "770b14efaf6f049929c523113b3fa99a8d11dab1b18af3609590122075d19833": "ffdhe8192",
}

# TLS 1.2 SignatureAndHashAlgorithm / TLS 1.3 SignatureScheme (RFC 5246 7.4.1.4.1,
# RFC 8446 4.2.3): code -> (name, hash).
SIGNATURE_SCHEMES: dict[int, tuple[str, str]] = {
    0x0101: ("rsa_pkcs1_md5", "md5"),
    0x0201: ("rsa_pkcs1_sha1", "sha1"),
    0x0202: ("dsa_sha1", "sha1"),
    0x0203: ("ecdsa_sha1", "sha1"),
    0x0301: ("rsa_pkcs1_sha224", "sha224"),
    0x0302: ("dsa_sha224", "sha224"),
    0x0303: ("ecdsa_sha224", "sha224"),
    0x0401: ("rsa_pkcs1_sha256", "sha256"),
    0x0402: ("dsa_sha256", "sha256"),
    0x0403: ("ecdsa_secp256r1_sha256", "sha256"),
    0x0501: ("rsa_pkcs1_sha384", "sha384"),
    0x0503: ("ecdsa_secp384r1_sha384", "sha384"),
    0x0601: ("rsa_pkcs1_sha512", "sha512"),
    0x0603: ("ecdsa_secp521r1_sha512", "sha512"),
    0x0804: ("rsa_pss_rsae_sha256", "sha256"),
    0x0805: ("rsa_pss_rsae_sha384", "sha384"),
    0x0806: ("rsa_pss_rsae_sha512", "sha512"),
    0x0807: ("ed25519", "intrinsic"),
    0x0808: ("ed448", "intrinsic"),
    0x0809: ("rsa_pss_pss_sha256", "sha256"),
    0x080A: ("rsa_pss_pss_sha384", "sha384"),
    0x080B: ("rsa_pss_pss_sha512", "sha512"),
}
SHA1_SCHEMES = (0x0201, 0x0203, 0x0202)
SHA224_SCHEMES = (0x0301, 0x0303, 0x0302)


class KexParseError(ValueError):
    """A ServerKeyExchange that does not parse (or is not the kind expected)."""


@dataclass(frozen=True)
class ServerKex:
    kind: str  # ECDHE / DHE
    group: str  # curve or RFC 7919 name; "custom" for another DH prime; "explicit" curves
    bits: int
    scheme: int | None = None  # TLS 1.2 signature scheme (None before TLS 1.2)


def group_name(code: int) -> tuple[str, int]:
    return GROUPS.get(code, (f"0x{code:04x}", 0))


def scheme_name(code: int) -> str:
    return SIGNATURE_SCHEMES.get(code, (f"0x{code:04x}", ""))[0]


def scheme_hash(code: int) -> str:
    return SIGNATURE_SCHEMES.get(code, ("", "unknown"))[1]


def ffdhe_name(prime: bytes) -> str:
    """The RFC 7919 name of a DH prime, or "custom"."""
    return FFDHE_PRIMES.get(hashlib.sha256(prime.lstrip(b"\x00")).hexdigest(), "custom")


def _take(data: bytes, pos: int, n: int) -> tuple[bytes, int]:
    if n < 0 or pos + n > len(data):
        raise KexParseError("truncated ServerKeyExchange")
    return data[pos : pos + n], pos + n


def _u16(data: bytes, pos: int) -> tuple[int, int]:
    raw, pos = _take(data, pos, 2)
    return int(struct.unpack("!H", raw)[0]), pos


def parse_server_key_exchange(body: bytes, kind: str, tls12: bool) -> ServerKex:
    """ServerKeyExchange of an ECDHE (RFC 8422 sec. 5.4) or DHE (RFC 5246 sec. 7.4.3) suite."""
    pos = 0
    if kind == "ECDHE":
        curve_type, pos = _take(body, pos, 1)
        if curve_type[0] != 3:  # explicit_prime(1) / explicit_char2(2): deprecated by RFC 8422
            return ServerKex(kind, "explicit", 0)
        code, pos = _u16(body, pos)
        plen, pos = _take(body, pos, 1)
        _point, pos = _take(body, pos, plen[0])
        name, bits = group_name(code)
    elif kind == "DHE":
        n, pos = _u16(body, pos)
        prime, pos = _take(body, pos, n)
        for _ in range(2):  # dh_g, dh_Ys
            n, pos = _u16(body, pos)
            _v, pos = _take(body, pos, n)
        bits = int.from_bytes(prime, "big").bit_length()
        name = ffdhe_name(prime)
    else:
        raise KexParseError(f"no ServerKeyExchange parser for {kind}")
    scheme: int | None = None
    if tls12:
        scheme, pos = _u16(body, pos)
    return ServerKex(kind, name, bits, scheme)
