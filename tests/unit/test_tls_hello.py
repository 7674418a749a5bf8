"""Hand-built ClientHello bytes and the ServerHello/alert/certificate parsers (no network)."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.obs.tls import SSL2, SSL3, TLS10, TLS11, TLS12, TLS13, VersionOutcome
from auditor.probes import tls_hello as th


class _Buf:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        assert self.pos + n <= len(self.data), "truncated"
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")


def parse_client_hello(rec: bytes) -> dict[str, Any]:
    """An independent parser of our ClientHello record (what a server would see)."""
    b = _Buf(rec)
    assert b.u(1) == 22
    record_version = b.u(2)
    assert b.u(2) == len(rec) - 5
    assert b.u(1) == 1
    assert b.u(3) == len(rec) - 9
    out: dict[str, Any] = {"record_version": record_version, "version": b.u(2)}
    b.take(32)
    out["session_id"] = b.take(b.u(1))
    suites = b.take(b.u(2))
    out["ciphers"] = [int.from_bytes(suites[i : i + 2], "big") for i in range(0, len(suites), 2)]
    assert b.take(b.u(1)) == b"\x00"
    exts: dict[int, bytes] = {}
    if b.pos < len(rec):
        eb = _Buf(b.take(b.u(2)))
        while eb.pos < len(eb.data):
            t = eb.u(2)
            exts[t] = eb.take(eb.u(2))
    assert b.pos == len(rec)
    out["ext"] = exts
    return out


@pytest.mark.parametrize(
    ("version", "wire"), [(SSL3, 0x0300), (TLS10, 0x0301), (TLS11, 0x0302), (TLS12, 0x0303)]
)
def test_client_hello_versions(version: str, wire: int) -> None:
    rec = th.build_client_hello(version, "www.example.gov.vn", [0xC02B, 0x002F])
    ch = parse_client_hello(rec)
    assert ch["version"] == wire
    assert ch["ciphers"] == [0xC02B, 0x002F]
    assert ch["record_version"] == (0x0300 if version == SSL3 else 0x0301)
    if version == SSL3:
        assert ch["ext"] == {}  # SSL 3.0 predates extensions
    else:
        sni = ch["ext"][th.EXT_SERVER_NAME]
        assert sni.endswith(b"www.example.gov.vn")
        assert th.EXT_STATUS_REQUEST in ch["ext"]
        assert th.EXT_SUPPORTED_VERSIONS not in ch["ext"]


def test_client_hello_tls13() -> None:
    shares = th.KeyShares.generate()
    rec = th.build_client_hello(TLS13, "www.example.gov.vn", [0x1301], key_shares=shares)
    ch = parse_client_hello(rec)
    assert ch["version"] == 0x0303  # legacy_version (RFC 8446 4.1.2)
    assert ch["ext"][th.EXT_SUPPORTED_VERSIONS] == b"\x02\x03\x04"
    ks = _Buf(ch["ext"][th.EXT_KEY_SHARE])
    ks.u(2)
    groups = []
    while ks.pos < len(ks.data):
        groups.append(ks.u(2))
        ks.take(ks.u(2))
    assert groups == [th.GROUP_X25519, th.GROUP_SECP256R1]
    assert len(ch["session_id"]) == 32


def supported_groups(version: str) -> list[int]:
    shares = th.KeyShares.probe_shares() if version == TLS13 else None
    rec = th.build_client_hello(version, "www.example.gov.vn", [0xC02B], key_shares=shares)
    ch = parse_client_hello(rec)
    g = _Buf(ch["ext"][th.EXT_SUPPORTED_GROUPS])
    return [g.u(2) for _ in range(g.u(2) // 2)]


def test_secp224r1_offered_last_in_tls12_hellos_only() -> None:
    # a P-224-only server (NCSC-NL 2025-05 phase out) must answer the usual TLS 1.2 hello,
    # not look TLS-less; RFC 8446 sec. 4.2.7 has no P-224, so TLS 1.3 does not offer it
    for v in (TLS10, TLS11, TLS12):
        assert supported_groups(v) == [*th.GROUPS, th.GROUP_SECP224R1]
    assert supported_groups(TLS13) == list(th.GROUPS)
    assert th.GROUP_SECP224R1 not in th.GROUPS


def test_no_sni_for_address_literals() -> None:
    for literal in ("192.0.2.1", "2001:db8::1", ""):
        ch = parse_client_hello(th.build_client_hello(TLS12, literal, [0xC02F]))
        assert th.EXT_SERVER_NAME not in ch["ext"]


def test_client_hello_with_every_suite_fits_one_record() -> None:
    from auditor.protocol.tls_suites import LEGACY_CODES

    rec = th.build_client_hello(TLS12, "a." * 60 + "gov.vn", LEGACY_CODES)
    assert len(rec) - 5 <= 2**14
    assert parse_client_hello(rec)["ciphers"] == list(LEGACY_CODES)


def test_sslv2_client_hello() -> None:
    rec = th.build_sslv2_client_hello([0x010080, 0x0700C0], challenge=b"C" * 16)
    length = ((rec[0] & 0x7F) << 8) | rec[1]
    assert rec[0] & 0x80 and length == len(rec) - 2
    body = rec[2:]
    assert body[0] == 1 and body[1:3] == b"\x00\x02"
    specs_len, sid_len, chal_len = struct.unpack("!HHH", body[3:9])
    assert (specs_len, sid_len, chal_len) == (6, 0, 16)
    assert body[9:15] == bytes.fromhex("0100800700C0") and body[15:] == b"C" * 16


# ---------------------------------------------------------------------------------------
# server side fixtures


def server_hello(
    version: int = 0x0303,
    cipher: int = 0xC02B,
    exts: bytes = b"",
    random: bytes = b"R" * 32,
) -> bytes:
    body = struct.pack("!H", version) + random + b"\x00" + struct.pack("!HB", cipher, 0)
    if exts:
        body += struct.pack("!H", len(exts)) + exts
    return bytes([2]) + len(body).to_bytes(3, "big") + body


def rec(ctype: int, payload: bytes) -> bytes:
    return bytes([ctype]) + b"\x03\x03" + struct.pack("!H", len(payload)) + payload


def cert_msg(ders: list[bytes], tls13: bool = False, ocsp: bytes | None = None) -> bytes:
    entries = b""
    for i, d in enumerate(ders):
        entries += len(d).to_bytes(3, "big") + d
        if tls13:
            ext = b""
            if ocsp is not None and i == 0:
                status = b"\x01" + len(ocsp).to_bytes(3, "big") + ocsp
                ext = struct.pack("!HH", 5, len(status)) + status
            entries += struct.pack("!H", len(ext)) + ext
    body = (b"\x00" if tls13 else b"") + len(entries).to_bytes(3, "big") + entries
    return bytes([11]) + len(body).to_bytes(3, "big") + body


def test_parse_server_hello_and_supported_versions() -> None:
    sv = struct.pack("!HHH", th.EXT_SUPPORTED_VERSIONS, 2, 0x0304)
    raw = server_hello(cipher=0x1301, exts=sv)
    sh = th.parse_server_hello(raw[4:])
    assert sh.version == 0x0304 and sh.version_name == TLS13 and sh.cipher == 0x1301
    assert not sh.is_hrr
    hrr = th.parse_server_hello(server_hello(exts=sv, random=th.HRR_RANDOM)[4:])
    assert hrr.is_hrr
    legacy = th.parse_server_hello(server_hello(version=0x0301)[4:])
    assert legacy.version_name == TLS10 and legacy.extensions == ()


@pytest.mark.parametrize("cut", [0, 1, 10, 34, 36, 37])
def test_truncated_server_hello_raises_parse_error(cut: int) -> None:
    with pytest.raises(th.HelloParseError):
        th.parse_server_hello(server_hello()[4 : 4 + cut])


@given(st.binary(max_size=200))
@settings(max_examples=300)
def test_parsers_never_raise_anything_else(data: bytes) -> None:
    for fn in (
        th.parse_server_hello,
        lambda d: th.parse_certificate(d, tls13=False),
        lambda d: th.parse_certificate(d, tls13=True),
        th.parse_sslv2_server_hello,
        th.parse_certificate_status,
        th.split_handshake,
        th.parse_alert,
    ):
        with contextlib.suppress(th.HelloParseError):
            fn(data)


def test_split_handshake_and_cap() -> None:
    a, b = server_hello(), cert_msg([b"x" * 10])
    msgs, rest = th.split_handshake(a + b[:7])
    assert [m[0] for m in msgs] == [2] and rest == b[:7]
    msgs, rest = th.split_handshake(a + b)
    assert [m[0] for m in msgs] == [2, 11] and rest == b""
    with pytest.raises(th.HelloParseError):
        th.split_handshake(b"\x0b" + (th.MAX_HANDSHAKE_MESSAGE + 1).to_bytes(3, "big"))


def test_parse_certificate_both_formats() -> None:
    m12 = th.parse_certificate(cert_msg([b"leaf", b"inter"])[4:], tls13=False)
    assert m12.chain == (b"leaf", b"inter") and m12.ocsp is None
    m13 = th.parse_certificate(cert_msg([b"leaf", b"i"], tls13=True, ocsp=b"OCSP")[4:], True)
    assert m13.chain == (b"leaf", b"i") and m13.ocsp == b"OCSP"


def test_parse_sslv2_server_hello() -> None:
    cert, specs = b"CERT", bytes.fromhex("010080")
    body = bytes([4, 0, 1]) + struct.pack("!HHHH", 2, len(cert), len(specs), 16)
    body += cert + specs + b"I" * 16
    sh = th.parse_sslv2_server_hello(body)
    assert sh.version == 2 and sh.cipher_specs == (0x010080,) and sh.certificate == cert


# ---------------------------------------------------------------------------------------
# the exchange over a scripted stream


class Scripted:
    """A ByteStream that answers with canned bytes, then EOF."""

    def __init__(self, answer: bytes, chunk: int = 7) -> None:
        self.answer, self.chunk, self.sent = answer, chunk, b""

    async def send(self, item: bytes) -> None:
        self.sent += item

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self.answer:
            raise anyio.EndOfStream
        n = min(self.chunk, max_bytes)
        out, self.answer = self.answer[:n], self.answer[n:]
        return out

    async def send_eof(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    @property
    def extra_attributes(self) -> dict[Any, Any]:
        return {}


def exchange(answer: bytes, version: str = TLS12, **kw: Any) -> th.HelloResult:
    async def go() -> th.HelloResult:
        s = Scripted(answer)
        return await th.hello_exchange(s, version, "h.gov.vn", [0xC02B, 0xC02F], **kw)  # type: ignore[arg-type]

    return anyio.run(go)


def test_exchange_accepts_and_reads_chain_and_staple() -> None:
    status = b"\x01" + (4).to_bytes(3, "big") + b"OCSP"
    flight = (
        server_hello()
        + cert_msg([b"leaf", b"inter"])
        + bytes([22]) + len(status).to_bytes(3, "big") + status
        + bytes([14, 0, 0, 0])
    )  # fmt: skip
    r = exchange(rec(22, flight[:50]) + rec(22, flight[50:]), read_flight=True)
    assert r.outcome == VersionOutcome.ACCEPTED and r.cipher == 0xC02B
    assert r.chain == (b"leaf", b"inter") and r.ocsp == b"OCSP" and r.status_seen


def test_exchange_rejections() -> None:
    alert = exchange(rec(21, b"\x02\x46"))
    assert alert.outcome == VersionOutcome.REJECTED and alert.detail == "alert protocol_version"
    lower = exchange(rec(22, server_hello(version=0x0301)))
    assert lower.outcome == VersionOutcome.REJECTED and "TLSv1.0" in lower.detail
    http = exchange(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    assert http.outcome == VersionOutcome.REJECTED and "not a TLS record" in http.detail
    huge = exchange(b"\x16\x03\x03\xff\xff")
    assert huge.outcome == VersionOutcome.REJECTED and "exceeds" in huge.detail


def test_exchange_eof_propagates_to_the_caller() -> None:
    with pytest.raises(anyio.EndOfStream):
        exchange(b"")


def test_exchange_unoffered_suite_is_flagged() -> None:
    r = exchange(rec(22, server_hello(cipher=0x0005)))
    assert r.outcome == VersionOutcome.ACCEPTED and "not offered" in r.detail


def test_exchange_tls13_hello_retry_request() -> None:
    sv = struct.pack("!HHH", th.EXT_SUPPORTED_VERSIONS, 2, 0x0304)
    ks = struct.pack("!HHH", th.EXT_KEY_SHARE, 2, 0x0018)
    r = exchange(rec(22, server_hello(cipher=0xC02B, exts=sv + ks, random=th.HRR_RANDOM)),
                 version=TLS13, read_flight=True)  # fmt: skip
    assert r.outcome == VersionOutcome.ACCEPTED and "HelloRetryRequest" in r.detail


def test_exchange_sslv2() -> None:
    cert, specs = b"CERT", bytes.fromhex("0100800700c0")
    body = bytes([4, 0, 1]) + struct.pack("!HHHH", 2, len(cert), len(specs), 16)
    body += cert + specs + b"I" * 16
    ok = exchange(struct.pack("!H", 0x8000 | len(body)) + body, version=SSL2)
    assert ok.outcome == VersionOutcome.ACCEPTED
    assert ok.ssl2_ciphers == (0x010080, 0x0700C0) and ok.chain == (cert,)
    refused = exchange(b"\x15\x03\x01\x00\x02\x02\x28", version=SSL2)
    assert refused.outcome == VersionOutcome.REJECTED and "handshake_failure" in refused.detail
