"""Pure tests of the tls.* checks and ipv6.web.https, from observation fixtures."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from auditor import serde
from auditor.model import Status
from auditor.obs import HostObservations
from auditor.obs.core import DnsAnswer, HostDns, Outcome, TcpProbe
from auditor.obs.tls import (
    ALL_VERSIONS,
    CertInfo,
    CipherResult,
    TlsObservation,
    Trust,
    VersionOutcome,
    VersionResult,
)
from auditor.registry import CheckContext, get_check
from checks import tls_tables
from checks.tls import name_matches
from tests.support.factories import LAB_GUARD

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HOST = "www.example.gov.vn"
V4, V6 = "192.0.2.10", "2001:db8::10"


def leaf(**kw: Any) -> CertInfo:
    base: dict[str, Any] = dict(
        subject=f"CN={HOST}",
        issuer="CN=Issuing CA",
        serial="01",
        not_before=NOW - timedelta(days=30),
        not_after=NOW + timedelta(days=300),
        san=(HOST,),
        cn=(HOST,),
        key_type="EC",
        key_bits=256,
        curve="secp256r1",
        sig_hash="sha256",
        sig_algorithm="ecdsa-with-SHA256",
    )
    base.update(kw)
    return CertInfo(**base)


INTER = CertInfo(
    subject="CN=Issuing CA",
    issuer="CN=Root CA",
    serial="02",
    not_before=NOW - timedelta(days=300),
    not_after=NOW + timedelta(days=1000),
    key_type="EC",
    key_bits=384,
    sig_hash="sha384",
    is_ca=True,
)
ROOT = CertInfo(
    subject="CN=Root CA",
    issuer="CN=Root CA",
    serial="03",
    key_type="RSA",
    key_bits=4096,
    sig_hash="sha1",  # a served root's self-signature does not count
    is_ca=True,
    self_signed=True,
)


def versions(*accepted: str) -> tuple[VersionResult, ...]:
    return tuple(
        VersionResult(v, VersionOutcome.ACCEPTED if v in accepted else VersionOutcome.REJECTED)
        for v in ALL_VERSIONS
    )


GOOD_SUITES = (
    CipherResult("TLSv1.2", 0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    CipherResult("TLSv1.2", 0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    CipherResult("TLSv1.3", 0x1301, "TLS_AES_128_GCM_SHA256"),
    CipherResult("TLSv1.3", 0x1302, "TLS_AES_256_GCM_SHA384"),
)


def tls(address: str = V4, **kw: Any) -> TlsObservation:
    base: dict[str, Any] = dict(
        address=address,
        port=443,
        outcome=Outcome.OK,
        detail="handshake completed",
        sni=HOST,
        versions=versions("TLSv1.2", "TLSv1.3"),
        ciphers=GOOD_SUITES,
        handshake_version="TLSv1.3",
        handshake_cipher="TLS_AES_256_GCM_SHA384",
        chain=(leaf(), INTER),
        chain_source="TLSv1.3",
        trust=Trust.TRUSTED,
        trust_detail="chain builds to a trusted root",
        trust_anchor="CN=Root CA",
        ocsp_stapled=True,
        ocsp_detail="stapled OCSP response: certificate good",
        ocsp_status="good",
    )
    base.update(kw)
    return TlsObservation(**base)


def host(
    *tls_obs: TlsObservation,
    v4: tuple[str, ...] = (V4,),
    v6: tuple[str, ...] = (V6,),
    tcp: tuple[TcpProbe, ...] | None = None,
) -> HostObservations:
    dns = HostDns(
        HOST,
        DnsAnswer(HOST, "A", Outcome.OK if v4 else Outcome.NODATA, v4),
        DnsAnswer(HOST, "AAAA", Outcome.OK if v6 else Outcome.NODATA, v6),
    )
    if tcp is None:
        tcp = tuple(TcpProbe(a, p, Outcome.OPEN) for a in v4 + v6 for p in (80, 443))
    if not tls_obs:
        tls_obs = tuple(tls(a) for a in v4 + v6)
    return HostObservations(HOST, dns, tcp=tcp, tls=tls_obs)


def run(check_id: str, obs: HostObservations, address: str | None = V4, **params: Any) -> Any:
    spec = get_check(check_id)
    merged = dict(spec.params)
    merged.update(params)
    return spec.run(obs, CheckContext(HOST, merged, NOW, address=address, guard=LAB_GUARD))


def one(check_id: str, t: TlsObservation, **params: Any) -> Any:
    return run(check_id, host(t, v6=()), t.address, **params)


# ---------------------------------------------------------------------------------------
# every TLS check: not_tested when 443 was closed / the probe skipped or blocked

TLS_CHECKS = (
    "tls.available",
    "tls.protocols.legacy",
    "tls.protocols.modern",
    "tls.ciphers",
    "tls.forward_secrecy",
    "tls.cert.trusted",
    "tls.cert.hostname",
    "tls.cert.expiry",
    "tls.cert.key",
    "tls.cert.signature",
    "tls.ocsp_stapling",
)


@pytest.mark.parametrize("check_id", TLS_CHECKS)
def test_good_site_passes_every_check(check_id: str) -> None:
    v = one(check_id, tls())
    assert v.status == Status.PASS, v.message


@pytest.mark.parametrize("check_id", TLS_CHECKS)
def test_port_closed_is_not_tested(check_id: str) -> None:
    obs = host(
        TlsObservation(V4, 443, Outcome.SKIPPED, "port 443 not open (refused)"),
        v6=(),
        tcp=(TcpProbe(V4, 443, Outcome.REFUSED),),
    )
    v = run(check_id, obs)
    assert v.status == Status.NOT_TESTED
    assert "refused" in v.message


@pytest.mark.parametrize("check_id", TLS_CHECKS)
def test_blocked_and_missing_observation_are_not_tested(check_id: str) -> None:
    blocked = host(TlsObservation(V4, 443, Outcome.BLOCKED, "special-purpose address"), v6=())
    assert run(check_id, blocked).status == Status.NOT_TESTED
    missing = HostObservations(HOST, host(v6=()).dns, tcp=(TcpProbe(V4, 443, Outcome.OPEN),))
    assert run(check_id, missing).status == Status.NOT_TESTED


def test_each_address_is_judged_on_its_own() -> None:
    """Good TLS on IPv4, TLS 1.0 on IPv6: only the v6 verdict fails, naming the address."""
    obs = host(tls(V4), tls(V6, versions=versions("TLSv1.0", "TLSv1.2", "TLSv1.3")))
    assert run("tls.protocols.legacy", obs, V4).status == Status.PASS
    v6 = run("tls.protocols.legacy", obs, V6)
    assert v6.status == Status.FAIL
    assert V6 in v6.message and "TLSv1.0" in v6.message


# ---------------------------------------------------------------------------------------
# tls.available


def test_available_fails_on_handshake_error() -> None:
    t = tls(outcome=Outcome.TLS_ALERT, detail="handshake failed: SSLV3_ALERT_HANDSHAKE_FAILURE")
    v = one("tls.available", t)
    assert v.status == Status.FAIL
    assert "SSLV3_ALERT_HANDSHAKE_FAILURE" in v.message


def test_available_fails_on_plain_http_and_timeout() -> None:
    for outcome, detail in (
        (Outcome.TLS_ERROR, "handshake failed: WRONG_VERSION_NUMBER"),
        (Outcome.TIMEOUT, "handshake: no answer before the timeout"),
        (Outcome.RESET, "connection closed during the handshake"),
    ):
        v = one("tls.available", tls(outcome=outcome, detail=detail, versions=versions()))
        assert v.status == Status.FAIL, outcome


def test_available_mentions_an_sslv3_only_server() -> None:
    t = tls(outcome=Outcome.TLS_ALERT, detail="handshake failed", versions=versions("SSLv3"))
    v = one("tls.available", t)
    assert v.status == Status.FAIL and "SSLv3" in v.message


def test_available_reconnect_failure_is_not_tested() -> None:
    t = tls(outcome=Outcome.TIMEOUT, detail="connect: no answer before the timeout")
    assert one("tls.available", t).status == Status.NOT_TESTED


# ---------------------------------------------------------------------------------------
# protocols


@pytest.mark.parametrize("legacy", ["SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"])
def test_legacy_fails_for_each_legacy_version(legacy: str) -> None:
    v = one("tls.protocols.legacy", tls(versions=versions(legacy, "TLSv1.2")))
    assert v.status == Status.FAIL
    assert v.evidence["accepted"] == [legacy]


def test_legacy_not_tested_when_a_probe_could_not_connect() -> None:
    vs = tuple(
        VersionResult(v.version, VersionOutcome.ERROR, "connect: timeout: x")
        if v.version == "SSLv3"
        else v
        for v in versions("TLSv1.2")
    )
    assert one("tls.protocols.legacy", tls(versions=vs)).status == Status.NOT_TESTED


def test_legacy_silent_sslv2_counts_as_refused() -> None:
    vs = tuple(
        VersionResult(v.version, VersionOutcome.ERROR, "no answer before the timeout")
        if v.version == "SSLv2"
        else v
        for v in versions("TLSv1.2")
    )
    v = one("tls.protocols.legacy", tls(versions=vs))
    assert v.status == Status.PASS and "SSLv2" in v.message


def test_legacy_not_tested_when_nothing_speaks_tls() -> None:
    t = tls(outcome=Outcome.TLS_ERROR, detail="WRONG_VERSION_NUMBER", versions=versions())
    assert one("tls.protocols.legacy", t).status == Status.NOT_TESTED


def test_legacy_not_tested_without_version_probes() -> None:
    assert one("tls.protocols.legacy", tls(versions=())).status == Status.NOT_TESTED


def test_modern_statuses() -> None:
    assert one("tls.protocols.modern", tls(versions=versions("TLSv1.3"))).status == Status.PASS
    # NCSC-NL 2025-05: TLS 1.2 alone is sufficient (pass); a profile may ask for a warning
    ok12 = one("tls.protocols.modern", tls(versions=versions("TLSv1.2")))
    assert ok12.status == Status.PASS and "TLS 1.3" in ok12.message
    warn = one("tls.protocols.modern", tls(versions=versions("TLSv1.2")), warn_without_tls13=True)
    assert warn.status == Status.WARN and "TLS 1.3" in warn.message
    fail = one("tls.protocols.modern", tls(versions=versions("TLSv1.0", "TLSv1.1")))
    assert fail.status == Status.FAIL
    vs = tuple(
        VersionResult(v.version, VersionOutcome.ERROR, "connect: refused: x")
        if v.version == "TLSv1.3"
        else v
        for v in versions("TLSv1.2")
    )
    assert one("tls.protocols.modern", tls(versions=vs)).status == Status.NOT_TESTED


# ---------------------------------------------------------------------------------------
# cipher suites and forward secrecy


def suites(*codes: tuple[str, int]) -> tuple[CipherResult, ...]:
    return tuple(CipherResult(v, c, tls_tables.suite_name(c)) for v, c in codes)


@pytest.mark.parametrize(
    "code",
    [
        0x0005,  # RC4
        0x000A,  # 3DES
        0x0002,  # NULL
        0x0003,  # EXPORT
        0x0034,  # anon
        0x009C,  # RSA key exchange (AES128-GCM-SHA256)
        0xC009,  # CBC with SHA-1 (ECDHE-ECDSA-AES128-SHA)
        0xC0AE,  # CCM_8
    ],
)
def test_ciphers_fail_on_insufficient(code: int) -> None:
    t = tls(ciphers=(*GOOD_SUITES, *suites(("TLSv1.2", code))))
    v = one("tls.ciphers", t)
    assert v.status == Status.FAIL
    assert tls_tables.suite_name(code) in v.message


def test_ciphers_warn_on_phase_out() -> None:
    t = tls(ciphers=(*GOOD_SUITES, *suites(("TLSv1.2", 0xC023))))  # ECDHE-ECDSA-AES128-SHA256
    v = one("tls.ciphers", t)
    assert v.status == Status.WARN and "AES_128_CBC_SHA256" in v.message


def test_ciphers_sslv2_and_unknown_codes_are_insufficient() -> None:
    t = tls(ciphers=(CipherResult("SSLv2", 0x010080, "SSL_CK_RC4_128_WITH_MD5"),))
    assert one("tls.ciphers", t).status == Status.FAIL
    t = tls(ciphers=(CipherResult("TLSv1.2", 0x5A5A, "0x5A5A"),))
    assert one("tls.ciphers", t).status == Status.FAIL


def test_ciphers_incomplete_enumeration() -> None:
    t = tls(ciphers_complete=False, ciphers_detail="TLSv1.2: no answer before the timeout")
    assert one("tls.ciphers", t).status == Status.NOT_TESTED
    assert one("tls.forward_secrecy", t).status == Status.NOT_TESTED
    # ... but an insufficient suite already seen is a failure anyway
    bad = replace(t, ciphers=suites(("TLSv1.2", 0x000A)))
    assert one("tls.ciphers", bad).status == Status.FAIL


def test_ciphers_not_tested_without_accepted_version() -> None:
    t = tls(versions=versions(), ciphers=())
    assert one("tls.ciphers", t).status == Status.NOT_TESTED
    assert one("tls.forward_secrecy", t).status == Status.NOT_TESTED


def test_forward_secrecy() -> None:
    ok = tls(ciphers=suites(("TLSv1.2", 0xC02F), ("TLSv1.2", 0x009E), ("TLSv1.3", 0x1301)))
    assert one("tls.forward_secrecy", ok).status == Status.PASS
    bad = tls(ciphers=suites(("TLSv1.2", 0xC02F), ("TLSv1.2", 0x009C)))
    v = one("tls.forward_secrecy", bad)
    assert v.status == Status.FAIL and "TLS_RSA_WITH_AES_128_GCM_SHA256" in v.message
    static = tls(ciphers=suites(("TLSv1.2", 0xC02D)))  # ECDH_ECDSA (static)
    assert one("tls.forward_secrecy", static).status == Status.FAIL


def test_cipher_table_classes() -> None:
    c = tls_tables.classify
    assert c(0x1301) == tls_tables.SUFFICIENT  # NCSC-NL 2025-05 row TLS_AES_128_GCM_SHA256
    assert c(0xC02B) == tls_tables.GOOD and c(0xCCA8) == tls_tables.GOOD
    assert c(0x009E) == tls_tables.PHASE_OUT  # DHE-RSA-AES128-GCM-SHA256 (2025-05: DHE)
    assert c(0xC060) == tls_tables.PHASE_OUT  # ECDHE-RSA-ARIA128-GCM-SHA256 (warn, not fail)
    assert c(0xC08A) == tls_tables.PHASE_OUT  # ECDHE-RSA-CAMELLIA128-GCM-SHA256
    assert c(0xC070) == tls_tables.INSUFFICIENT  # ECDHE_PSK ARIA stays insufficient
    assert c(0xC027) == tls_tables.PHASE_OUT  # ECDHE-RSA-AES128-SHA256
    assert c(0xC013) == tls_tables.INSUFFICIENT  # ECDHE-RSA-AES128-SHA (CBC-SHA1)
    assert c(0x1305) == tls_tables.INSUFFICIENT  # CCM_8
    assert c(0xC0A0) == tls_tables.INSUFFICIENT
    assert c(0xC09C) == tls_tables.INSUFFICIENT  # RSA key exchange
    assert c(0x1234) == tls_tables.UNKNOWN
    for code, cls in tls_tables.NCSC.items():  # the 2025-05 rows cite their table row
        if "2025-05" in cls[1]:
            assert "row" in cls[1], hex(code)
    for s in tls_tables.SUITES_LIST:
        assert s.ref, s.name  # every row cites its guideline
        if s.ncsc in (tls_tables.GOOD, tls_tables.SUFFICIENT):
            assert s.forward_secret and s.enc in ("AESGCM", "AESCCM", "CHACHA20_POLY1305")
    names = {s.enc for s in tls_tables.SUITES_LIST}
    for family in ("RC4", "3DES", "NULL", "DES", "IDEA", "SEED", "AESCCM8", "ARIA_GCM"):
        assert family in names


# ---------------------------------------------------------------------------------------
# certificate checks


def test_trusted_statuses() -> None:
    assert one("tls.cert.trusted", tls()).status == Status.PASS
    v = one(
        "tls.cert.trusted",
        tls(trust=Trust.MISSING_INTERMEDIATE, trust_detail="issuer CN=Issuing CA not sent"),
    )
    assert v.status == Status.FAIL and "probably missing intermediate" in v.message
    for trust in (Trust.SELF_SIGNED, Trust.UNTRUSTED_ROOT, Trust.BAD_SIGNATURE):
        assert one("tls.cert.trusted", tls(trust=trust)).status == Status.FAIL
    assert one("tls.cert.trusted", tls(trust=Trust.ERROR)).status == Status.NOT_TESTED
    assert one("tls.cert.trusted", tls(chain=(), trust=Trust.NO_CHAIN)).status == (
        Status.NOT_TESTED
    )


def test_hostname_statuses() -> None:
    assert one("tls.cert.hostname", tls()).status == Status.PASS
    other = tls(chain=(leaf(san=("other.gov.vn",)),))
    v = one("tls.cert.hostname", other)
    assert v.status == Status.FAIL and "other.gov.vn" in v.message
    wildcard = tls(chain=(leaf(san=("*.example.gov.vn",)),))
    assert one("tls.cert.hostname", wildcard).status == Status.PASS
    # CN is used only when there is no SAN dNSName at all (RFC 6125 6.4.4)
    cn_only = tls(chain=(leaf(san=(), cn=(HOST,)),))
    assert one("tls.cert.hostname", cn_only).status == Status.PASS
    cn_ignored = tls(chain=(leaf(san=("other.gov.vn",), cn=(HOST,)),))
    assert one("tls.cert.hostname", cn_ignored).status == Status.FAIL
    assert one("tls.cert.hostname", tls(chain=())).status == Status.NOT_TESTED


def test_hostname_address_literal_uses_ip_sans() -> None:
    from checks.tls import hostname_ok

    cert = leaf(san=("192.0.2.10",), san_ips=("192.0.2.10", "2001:db8::10"))
    assert hostname_ok(cert, "192.0.2.10") and hostname_ok(cert, "2001:db8:0::10")
    assert not hostname_ok(leaf(san=("192.0.2.10",)), "192.0.2.10")  # dNSName is not an IP


@pytest.mark.parametrize(
    ("pattern", "name", "ok"),
    [
        ("www.example.gov.vn", "WWW.Example.gov.vn.", True),
        ("*.example.gov.vn", "www.example.gov.vn", True),
        ("*.example.gov.vn", "example.gov.vn", False),
        ("*.example.gov.vn", "a.b.example.gov.vn", False),
        ("w*.example.gov.vn", "www.example.gov.vn", False),
        ("www.*.gov.vn", "www.example.gov.vn", False),
        ("*.gov.vn", "example.gov.vn", False),
        ("*.vn", "gov.vn", False),
        # IDN: U-label in the certificate (non-conforming) still compared as A-label
        ("cổngthôngtin.gov.vn", "xn--cngthngtin-vbb7982g.gov.vn", True),
        ("*.xn--cngthngtin-vbb7982g.gov.vn", "www.xn--cngthngtin-vbb7982g.gov.vn", True),
        ("*.cổngthôngtin.gov.vn", "www.xn--cngthngtin-vbb7982g.gov.vn", True),
        ("", "www.example.gov.vn", False),
    ],
)
def test_name_matching(pattern: str, name: str, ok: bool) -> None:
    assert name_matches(pattern, name) is ok


def test_expiry_statuses() -> None:
    assert one("tls.cert.expiry", tls()).status == Status.PASS
    expired = tls(chain=(leaf(not_after=NOW - timedelta(days=3)),))
    v = one("tls.cert.expiry", expired)
    assert v.status == Status.FAIL and "expired" in v.message
    future = tls(chain=(leaf(not_before=NOW + timedelta(days=2)),))
    assert one("tls.cert.expiry", future).status == Status.FAIL
    soon = tls(chain=(leaf(not_after=NOW + timedelta(days=10)),))
    v = one("tls.cert.expiry", soon)
    assert v.status == Status.WARN and v.evidence["days_left"] == 10
    assert one("tls.cert.expiry", soon, warn_days=5).status == Status.PASS
    old_inter = replace(INTER, not_after=NOW - timedelta(days=1))
    v = one("tls.cert.expiry", tls(chain=(leaf(), old_inter, ROOT)))
    assert v.status == Status.FAIL and "intermediate" in v.message
    assert one("tls.cert.expiry", tls(chain=())).status == Status.NOT_TESTED


@pytest.mark.parametrize(
    ("kind", "bits", "status"),
    [
        ("RSA", 1024, Status.FAIL),
        ("RSA", 2047, Status.FAIL),
        ("RSA", 2048, Status.WARN),
        ("RSA", 3072, Status.PASS),
        ("RSA", 4096, Status.PASS),
        ("EC", 256, Status.PASS),
        ("EC", 384, Status.PASS),
        ("EC", 224, Status.FAIL),
        ("Ed25519", 256, Status.PASS),
        ("Ed448", 456, Status.PASS),
        ("DSA", 2048, Status.FAIL),
    ],
)
def test_key_sizes(kind: str, bits: int, status: Status) -> None:
    v = one("tls.cert.key", tls(chain=(leaf(key_type=kind, key_bits=bits),)))
    assert v.status == status, v.message


def test_signature_statuses() -> None:
    # the served root signs itself with SHA-1: ignored
    assert one("tls.cert.signature", tls(chain=(leaf(), INTER, ROOT))).status == Status.PASS
    v = one("tls.cert.signature", tls(chain=(leaf(sig_hash="sha1"), INTER)))
    assert v.status == Status.FAIL and "SHA1" in v.message
    v = one("tls.cert.signature", tls(chain=(leaf(), replace(INTER, sig_hash="md5"))))
    assert v.status == Status.FAIL and "intermediate" in v.message
    # a self-signed leaf is the leaf: its SHA-1 counts
    selfsigned = leaf(sig_hash="sha1", self_signed=True, issuer=f"CN={HOST}")
    assert one("tls.cert.signature", tls(chain=(selfsigned,))).status == Status.FAIL
    assert one("tls.cert.signature", tls(chain=())).status == Status.NOT_TESTED


def test_ocsp_stapling_statuses() -> None:
    assert one("tls.ocsp_stapling", tls()).status == Status.PASS
    v = one("tls.ocsp_stapling", tls(ocsp_stapled=False, ocsp_detail="no OCSP response"))
    assert v.status == Status.INFO
    revoked = tls(ocsp_status="revoked", ocsp_detail="certificate revoked")
    assert one("tls.ocsp_stapling", revoked).status == Status.FAIL
    assert one("tls.ocsp_stapling", tls(ocsp_stapled=None)).status == Status.NOT_TESTED
    assert get_check("tls.ocsp_stapling").scored is False


# ---------------------------------------------------------------------------------------
# ipv6.web.https


def test_https_v6_passes() -> None:
    v = run("ipv6.web.https", host(), None)
    assert v.status == Status.PASS and V6 in v.message


def test_https_v6_not_applicable_without_aaaa() -> None:
    v = run("ipv6.web.https", host(tls(V4), v6=()), None)
    assert v.status == Status.NOT_APPLICABLE


def test_https_v6_names_each_failing_address() -> None:
    a, b, c = "2001:db8::a", "2001:db8::b", "2001:db8::c"
    tcp = (
        TcpProbe(V4, 443, Outcome.OPEN),
        TcpProbe(a, 443, Outcome.OPEN),
        TcpProbe(b, 443, Outcome.TIMEOUT, detail="no answer before the timeout"),
        TcpProbe(c, 443, Outcome.OPEN),
    )
    obs = host(
        tls(V4),
        tls(a),
        TlsObservation(b, 443, Outcome.SKIPPED, "port 443 not open (timeout)"),
        tls(c, chain=(leaf(not_after=NOW - timedelta(days=1)),), trust=Trust.SELF_SIGNED),
        v6=(a, b, c),
        tcp=tcp,
    )
    v = run("ipv6.web.https", obs, None)
    assert v.status == Status.FAIL
    assert b in v.message and "timeout" in v.message
    assert c in v.message and "expired" in v.message and "self_signed" in v.message
    assert a not in v.evidence["failures"]
    assert v.score == pytest.approx(1 / 3)


def test_https_v6_fails_on_hostname_and_handshake() -> None:
    bad_name = host(tls(V4), tls(V6, chain=(leaf(san=("other.gov.vn",)),)))
    v = run("ipv6.web.https", bad_name, None)
    assert v.status == Status.FAIL and "not valid for" in v.message
    no_tls = host(tls(V4), tls(V6, outcome=Outcome.TLS_ERROR, detail="WRONG_VERSION_NUMBER"))
    assert run("ipv6.web.https", no_tls, None).status == Status.FAIL
    refused = host(
        tls(V4),
        TlsObservation(V6, 443, Outcome.SKIPPED, "port 443 not open (refused)"),
        tcp=(TcpProbe(V4, 443, Outcome.OPEN), TcpProbe(V6, 443, Outcome.REFUSED)),
    )
    v = run("ipv6.web.https", refused, None)
    assert v.status == Status.FAIL and "refused" in v.message


def test_https_v6_blocked_is_not_tested() -> None:
    obs = host(
        tls(V4),
        TlsObservation(V6, 443, Outcome.SKIPPED, "port 443 not open (blocked)"),
        tcp=(TcpProbe(V4, 443, Outcome.OPEN), TcpProbe(V6, 443, Outcome.BLOCKED)),
    )
    assert run("ipv6.web.https", obs, None).status == Status.NOT_TESTED


# ---------------------------------------------------------------------------------------
# storage


def test_observation_round_trip_and_old_records_load() -> None:
    obs = host()
    again = serde.loads(serde.dumps(obs), HostObservations)
    assert again == obs
    old = '{"address": "192.0.2.1", "port": 443, "outcome": "skipped", "detail": "x"}'
    t = serde.loads(old, TlsObservation)
    assert t.versions == () and t.chain == () and t.ocsp_stapled is None


def test_catalogue_text_for_every_check() -> None:
    for cid in (*TLS_CHECKS, "ipv6.web.https"):
        spec = get_check(cid)
        assert spec.description and spec.refs
        for server in ("nginx", "apache", "iis"):
            assert spec.remediation.get(server), (cid, server)


def test_web_https_ipv4_mapped_only_is_no_ipv6_to_test() -> None:
    # the only AAAA is IPv4-mapped: the guard refuses it, so TCP and TLS say "blocked";
    # that is no IPv6 address at all (ipv6.web.aaaa fails it), never "could not test"
    mapped = "::ffff:192.0.2.10"
    blocked = (
        TcpProbe(V4, 443, Outcome.OPEN),
        TcpProbe(mapped, 443, Outcome.BLOCKED, detail="IPv4-mapped IPv6 address"),
    )
    obs = host(
        tls(V4), TlsObservation(mapped, 443, Outcome.BLOCKED, "refused by the address guard"),
        v6=(mapped,), tcp=blocked,
    )  # fmt: skip
    v = run("ipv6.web.https", obs, None)
    assert v.status == Status.NOT_APPLICABLE and "ipv6.web.aaaa" in v.message
    assert "IPv4-mapped" in v.message
    # one usable AAAA next to a mapped one: only the usable one is tested
    both = host(
        tls(V4), tls(V6), TlsObservation(mapped, 443, Outcome.BLOCKED, "guard"),
        v6=(V6, mapped), tcp=(*blocked, TcpProbe(V6, 443, Outcome.OPEN)),
    )  # fmt: skip
    v = run("ipv6.web.https", both, None)
    assert v.status == Status.PASS and v.evidence["unusable"] == {
        mapped: "IPv4-mapped (::ffff:0:0/96)"
    }


# ---------------------------------------------------------------------------------------
# no verdict from missing evidence


def _silent_versions(*answered: str) -> tuple[VersionResult, ...]:
    """Every hello connected, then got no answer, except the ``answered`` ones (accepted)."""
    return tuple(
        VersionResult(v, VersionOutcome.ACCEPTED)
        if v in answered
        else VersionResult(v, VersionOutcome.ERROR, "no answer before the timeout")
        for v in ALL_VERSIONS
    )


def test_a_server_that_never_answered_gets_no_protocol_verdict() -> None:
    mute = tls(
        outcome=Outcome.TIMEOUT,
        detail="handshake: no answer before the timeout",
        versions=_silent_versions(),
        ciphers=(),
        chain=(),
        trust=Trust.NO_CHAIN,
    )
    modern = one("tls.protocols.modern", mute)
    assert modern.status == Status.NOT_TESTED and "neither" not in modern.message
    assert one("tls.protocols.legacy", mute).status == Status.NOT_TESTED  # same evidence
    for cid in ("tls.ciphers", "tls.forward_secrecy", "tls.cert.trusted", "tls.cert.key"):
        assert one(cid, mute).status == Status.NOT_TESTED, cid
    # the missing handshake itself is tls.available's finding (TCP accepted, no TLS)
    assert one("tls.available", mute).status == Status.FAIL
    # an HTTP server dripping "HTTP/1.1" on 443: the SSL 2.0 hello reads a non-SSL 2.0
    # byte ("rejected"), every TLS hello times out: still no TLS version verdict
    drip = replace(
        mute,
        versions=tuple(
            VersionResult("SSLv2", VersionOutcome.REJECTED, "answer is not SSLv2 (0x48)")
            if v.version == "SSLv2"
            else v
            for v in mute.versions
        ),
    )
    assert one("tls.protocols.modern", drip).status == Status.NOT_TESTED
    assert one("tls.protocols.legacy", drip).status == Status.NOT_TESTED


def test_silence_counts_as_refusal_only_from_a_server_that_answers() -> None:
    # hellos all silent, yet OpenSSL's handshake completed: the legacy versions are unknown
    odd = tls(versions=_silent_versions())
    assert one("tls.protocols.legacy", odd).status == Status.NOT_TESTED
    assert one("tls.protocols.modern", odd).status == Status.NOT_TESTED
    # a server that accepts TLS 1.2 and stays silent to TLS 1.3: not offered, said so
    v = one("tls.protocols.modern", tls(versions=_silent_versions("TLSv1.2")))
    assert v.status == Status.PASS and "no answer" in v.message  # TLS 1.2: sufficient


def test_suites_of_a_version_that_could_not_be_tested_are_unknown() -> None:
    vs = tuple(
        VersionResult(v.version, VersionOutcome.ERROR, "connect: refused: x")
        if v.version == "TLSv1.0"
        else v
        for v in versions("TLSv1.2", "TLSv1.3")
    )
    for cid in ("tls.ciphers", "tls.forward_secrecy"):
        v = one(cid, tls(versions=vs))
        assert v.status == Status.NOT_TESTED and "TLSv1.0" in v.message, cid
    # an insufficient suite seen is a failure whatever the rest holds
    bad = suites(("TLSv1.2", 0x000A))
    assert one("tls.ciphers", tls(versions=vs, ciphers=bad)).status == Status.FAIL


def test_refused_443_on_a_host_that_serves_http_is_no_https() -> None:
    tcp = (TcpProbe(V4, 80, Outcome.OPEN), TcpProbe(V4, 443, Outcome.REFUSED))
    skipped = TlsObservation(V4, 443, Outcome.SKIPPED, "port 443 not open (refused)")
    obs = host(skipped, v6=(), tcp=tcp)
    v = run("tls.available", obs)
    assert v.status == Status.FAIL and "refused" in v.message and "HTTP" in v.message
    for cid in TLS_CHECKS[1:]:
        other = run(cid, obs)
        assert other.status == Status.NOT_APPLICABLE and "tls.available" in other.message, cid
    # a silent 443 (dropped) proves nothing: not tested
    dropped = (TcpProbe(V4, 80, Outcome.OPEN), TcpProbe(V4, 443, Outcome.TIMEOUT))
    silent = host(
        TlsObservation(V4, 443, Outcome.SKIPPED, "port 443 not open (timeout)"),
        v6=(), tcp=dropped,
    )  # fmt: skip
    assert run("tls.available", silent).status == Status.NOT_TESTED
    # 443 refused and 80 refused too: nothing answers HTTP, ipv6/reach judge that
    both = (TcpProbe(V4, 80, Outcome.REFUSED), TcpProbe(V4, 443, Outcome.REFUSED))
    assert run("tls.available", host(skipped, v6=(), tcp=both)).status == Status.NOT_TESTED


def test_a_chain_cut_at_the_cap_is_not_judged_as_whole() -> None:
    cut = tls(chain=(leaf(), INTER), chain_truncated=True, trust=Trust.MISSING_INTERMEDIATE)
    v = one("tls.cert.trusted", cut)
    assert v.status == Status.NOT_TESTED and v.evidence["truncated"] is True
    assert one("tls.cert.signature", cut).status == Status.NOT_TESTED
    assert one("tls.cert.expiry", cut).status == Status.NOT_TESTED
    # the leaf is there: its own checks still judge it; a path that builds still passes
    assert one("tls.cert.key", cut).status == Status.PASS
    assert one("tls.cert.trusted", replace(cut, trust=Trust.TRUSTED)).status == Status.PASS


def test_an_unreadable_certificate_is_not_a_failure_of_its_content() -> None:
    broken = CertInfo("", "", "", parse_error="ValueError: bad DER")
    t = tls(chain=(broken,), trust=Trust.ERROR, trust_detail="unparsable")
    for cid in ("tls.cert.hostname", "tls.cert.key", "tls.cert.signature", "tls.cert.trusted"):
        assert one(cid, t).status == Status.NOT_TESTED, cid
    obs = host(tls(V4), tls(V6, chain=(broken,), trust=Trust.ERROR))
    assert run("ipv6.web.https", obs, None).status == Status.NOT_TESTED
