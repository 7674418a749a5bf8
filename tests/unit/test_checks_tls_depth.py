"""checks/tls_depth.py: a pass and a fail (and the not_tested/not_applicable edges) per check."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from auditor.model import Status
from auditor.obs.tls import Depth, KexParams, TlsObservation
from checks import tls_tables
from tests.unit.test_checks_tls import one, suites, tls, versions

V12_13 = versions("TLSv1.2", "TLSv1.3")


def depth(**kw: Any) -> TlsObservation:
    return tls(versions=V12_13, depth_probed=True, **kw)


def k(group: str, bits: int, kind: str = "ECDHE") -> KexParams:
    return KexParams("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", kind, group, bits)


def test_stored_before_depth_is_not_tested() -> None:
    t = tls(versions=V12_13)
    for cid in ("tls.kex_params", "tls.ems", "tls.vuln.heartbleed", "tls.fallback_scsv"):
        assert one(cid, t).status == Status.NOT_TESTED


def test_kex_params() -> None:
    assert one("tls.kex_params", depth(kex=(k("x25519", 255),))).status == Status.PASS
    v = one("tls.kex_params", depth(kex=(k("x25519", 255), k("secp224r1", 224))))
    assert v.status == Status.WARN and "secp224r1 (224 bits)" in v.message
    assert one("tls.kex_params", depth(kex=(k("ffdhe3072", 3072, "DHE"),))).status == Status.WARN
    v = one("tls.kex_params", depth(kex=(k("ffdhe2048", 2048, "DHE"),)))
    assert v.status == Status.FAIL and "2048 bits" in v.message
    assert one("tls.kex_params", depth(kex=(k("custom", 4096, "DHE"),))).status == Status.FAIL
    assert one("tls.kex_params", depth(kex=(k("sect163k1", 163),))).status == Status.FAIL
    assert one("tls.kex_params", depth()).status == Status.NOT_TESTED
    assert tls_tables.kex_group_class("brainpoolP256r1")[0] == tls_tables.GOOD


def test_kex_hash() -> None:
    assert one("tls.kex_hash", depth(kex_hash=Depth.REFUSED)).status == Status.PASS
    v = one("tls.kex_hash", depth(kex_hash=Depth.ACCEPTED, kex_hash_scheme="rsa_pkcs1_sha1"))
    assert v.status == Status.FAIL
    sha224 = depth(kex_hash=Depth.ACCEPTED, kex_hash_scheme="ecdsa_sha224")
    assert one("tls.kex_hash", sha224).status == Status.WARN
    # a profile without the NCSC-NL phase-out (vn-gov) passes it, saying so
    v = one("tls.kex_hash", sha224, sha224="pass")
    assert v.status == Status.PASS and "ecdsa_sha224" in v.message
    t13 = tls(versions=versions("TLSv1.3"), depth_probed=True, kex_hash=Depth.NOT_APPLICABLE)
    assert one("tls.kex_hash", t13).status == Status.NOT_APPLICABLE
    assert one("tls.kex_hash", depth(kex_hash="")).status == Status.NOT_TESTED


def test_cipher_order() -> None:
    # the server's order (enumeration order): GCM first, then CBC-SHA256 (phase out)
    mixed = suites(("TLSv1.2", 0xC02F), ("TLSv1.2", 0xC027), ("TLSv1.3", 0x1301))
    good = depth(ciphers=mixed, cipher_order=(("TLSv1.2", True),))
    assert one("tls.cipher_order", good).status == Status.PASS
    client = depth(ciphers=mixed, cipher_order=(("TLSv1.2", False),))
    assert one("tls.cipher_order", client).status == Status.FAIL
    weak_first = suites(("TLSv1.2", 0xC027), ("TLSv1.2", 0xC02F))
    bad = depth(ciphers=weak_first, cipher_order=(("TLSv1.2", True),))
    v = one("tls.cipher_order", bad)
    assert v.status == Status.FAIL and "preferred" in v.message
    only_good = depth(ciphers=suites(("TLSv1.2", 0xC02F), ("TLSv1.2", 0xC030)))
    assert one("tls.cipher_order", only_good).status == Status.NOT_APPLICABLE
    t13 = tls(versions=versions("TLSv1.3"), depth_probed=True)
    assert one("tls.cipher_order", t13).status == Status.NOT_APPLICABLE


def test_compression_renegotiation_ems() -> None:
    assert one("tls.compression", depth(compression=0)).status == Status.PASS
    assert one("tls.compression", depth(compression=1)).status == Status.FAIL
    assert one("tls.compression", depth()).status == Status.NOT_TESTED
    ok = depth(secure_renegotiation=(("TLSv1.2", True),))
    assert one("tls.renegotiation.secure", ok).status == Status.PASS
    bad = depth(secure_renegotiation=(("TLSv1.2", False),))
    assert one("tls.renegotiation.secure", bad).status == Status.FAIL
    t13 = tls(versions=versions("TLSv1.3"), depth_probed=True)
    assert one("tls.renegotiation.secure", t13).status == Status.NOT_APPLICABLE
    assert one("tls.ems", depth(ems=True)).status == Status.PASS
    assert one("tls.ems", depth(ems=False)).status == Status.FAIL
    assert one("tls.ems", t13).status == Status.NOT_APPLICABLE


def test_fallback_and_vulns() -> None:
    assert one("tls.fallback_scsv", depth(fallback_scsv=Depth.HONOURED)).status == Status.PASS
    assert one("tls.fallback_scsv", depth(fallback_scsv=Depth.IGNORED)).status == Status.FAIL
    # a server that aborts without flushing the alert (the probe's note) still refused it
    closed = depth(
        fallback_scsv=Depth.HONOURED,
        fallback_scsv_detail="TLSv1.2 hello with TLS_FALLBACK_SCSV: connection closed without a "
        "ServerHello (refused without the inappropriate_fallback alert)",
    )
    verdict = one("tls.fallback_scsv", closed)
    assert verdict.status == Status.PASS and "without the alert" in verdict.message
    na = depth(fallback_scsv=Depth.NOT_APPLICABLE)
    assert one("tls.fallback_scsv", na).status == Status.NOT_APPLICABLE
    for cid, field in (("tls.vuln.heartbleed", "heartbleed"),
                       ("tls.vuln.ccs_injection", "ccs_injection")):  # fmt: skip
        t = depth(**{field: Depth.NOT_VULNERABLE})
        assert one(cid, t).status == Status.PASS
        assert one(cid, replace(t, **{field: Depth.VULNERABLE})).status == Status.FAIL  # type: ignore[arg-type]
        assert one(cid, replace(t, **{field: ""})).status == Status.NOT_TESTED  # type: ignore[arg-type]
    assert one("tls.vuln.heartbleed", depth(heartbleed=Depth.NO_HEARTBEAT)).status == Status.PASS


def test_bod_18_01_params() -> None:
    tls10 = tls(versions=versions("TLSv1.0", "TLSv1.2"))
    assert one("tls.protocols.legacy", tls10).status == Status.FAIL
    assert one("tls.protocols.legacy", tls10, refuse=["SSLv2", "SSLv3"]).status == Status.PASS
    cbc = tls(ciphers=suites(("TLSv1.2", 0xC013)))  # CBC-SHA1: NCSC insufficient, BOD silent
    assert one("tls.ciphers", cbc).status == Status.FAIL
    assert one("tls.ciphers", cbc, prohibit_only=["RC4", "3DES"]).status == Status.PASS
    des = tls(ciphers=suites(("TLSv1.2", 0x000A)))
    assert one("tls.ciphers", des, prohibit_only=["RC4", "3DES"]).status == Status.FAIL


def test_renegotiation_client() -> None:
    cid = "tls.renegotiation.client"
    refused = depth(client_renegotiation=Depth.REFUSED, client_renegotiation_detail="alert")
    assert one(cid, refused).status == Status.PASS
    v = one(cid, depth(client_renegotiation=Depth.ACCEPTED, client_renegotiations=2))
    assert v.status == Status.INFO and "accepted 2" in v.message  # informational bad case
    assert v.evidence["accepted"] == 2
    t13 = tls(versions=versions("TLSv1.3"), depth_probed=True)
    assert one(cid, t13).status == Status.NOT_APPLICABLE
    na = depth(client_renegotiation=Depth.NOT_APPLICABLE)
    assert one(cid, na).status == Status.NOT_APPLICABLE
    assert one(cid, depth()).status == Status.NOT_TESTED  # probed, undecided
    assert one(cid, tls(versions=V12_13)).status == Status.NOT_TESTED  # older observation


def test_zero_rtt() -> None:
    cid = "tls.zero_rtt"
    v = one(cid, depth(zero_rtt=Depth.ACCEPTED, zero_rtt_status=200))
    assert v.status == Status.FAIL and "200" in v.message and v.evidence["status"] == 200
    v = one(cid, depth(zero_rtt=Depth.TOO_EARLY, zero_rtt_status=425))
    assert v.status == Status.PASS and "425" in v.message
    assert one(cid, depth(zero_rtt=Depth.REFUSED)).status == Status.PASS
    assert one(cid, depth(zero_rtt=Depth.NO_EARLY_DATA)).status == Status.PASS
    t12 = tls(versions=versions("TLSv1.2"), depth_probed=True, zero_rtt=Depth.NOT_APPLICABLE)
    assert one(cid, t12).status == Status.NOT_APPLICABLE
    v = one(cid, depth(zero_rtt_detail="early data accepted, but no HTTP answer to it was read"))
    assert v.status == Status.NOT_TESTED and "no HTTP answer" in v.message
    assert one(cid, tls(versions=V12_13)).status == Status.NOT_TESTED  # older observation


def test_zero_rtt_fields_round_trip_and_default() -> None:
    from auditor import serde

    t = depth(zero_rtt=Depth.ACCEPTED, zero_rtt_status=200, zero_rtt_detail="x")
    assert serde.loads(serde.dumps(t), TlsObservation) == t
    old = serde.loads('{"address": "192.0.2.1", "port": 443, "outcome": "ok"}', TlsObservation)
    assert old.zero_rtt == "" and old.zero_rtt_status == 0


def test_early_data_helpers() -> None:
    from auditor.probes.tls_early import http_request, http_status

    assert http_status(b"HTTP/1.1 425 Too Early\r\n") == 425
    assert http_status(b"HTTP/1.1 200 OK\r\nServer: x") == 200
    assert http_status(b"garbage\r\n") == 0 and http_status(b"") == 0
    assert http_request("www.example.gov.vn").startswith(b"GET / HTTP/1.1\r\nHost: www.")


def test_robot() -> None:
    cid = "tls.vuln.robot"
    ok = depth(robot=Depth.NOT_VULNERABLE, robot_detail="the same reaction to all five")
    assert one(cid, ok).status == Status.PASS
    v = one(cid, depth(robot=Depth.VULNERABLE, robot_oracle="strong", robot_detail="x"))
    assert v.status == Status.FAIL and "strong" in v.message and v.evidence["oracle"] == "strong"
    assert one(cid, depth(robot=Depth.NOT_APPLICABLE)).status == Status.NOT_APPLICABLE
    t13 = tls(versions=versions("TLSv1.3"), depth_probed=True)
    assert one(cid, t13).status == Status.NOT_APPLICABLE
    v = one(cid, depth(robot_detail="reactions differ but not consistently"))
    assert v.status == Status.NOT_TESTED and "not consistently" in v.message
    assert one(cid, tls(versions=V12_13)).status == Status.NOT_TESTED  # older observation


def test_robot_payloads_and_verdict() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys

    from auditor.probes import tls_robot as r

    key = rsa_keys.generate_private_key(public_exponent=65537, key_size=2048)
    nums = key.private_numbers()
    n, e, d = nums.public_numbers.n, nums.public_numbers.e, nums.d
    msgs = r.plaintexts(256, 0x0303)
    assert all(len(m) == 256 for m in msgs.values())
    valid = msgs[r.VALID]
    # PKCS#1 v1.5: 00 02, non-zero padding, 00, then the 48-byte premaster (version first)
    assert (
        valid[:2] == b"\x00\x02" and valid.index(0, 2) == 256 - 49 and valid[-48:-46] == b"\x03\x03"
    )
    assert msgs[r.WRONG_FIRST_BYTES][:2] == b"\x41\x17"
    assert 0 not in msgs[r.NO_00][2:-46]
    assert msgs[r.WRONG_VERSION][-48:-46] == b"\x02\x02"
    assert msgs[r.WRONG_00_POSITION].index(0, 2) == 254  # the separator two bytes from the end
    for _ in range(200):  # the only 0x00 of each layout is where the layout puts it
        again = r.plaintexts(256, 0x0303)
        assert again[r.WRONG_00_POSITION].index(0, 2) == 254
        assert again[r.VALID].index(0, 2) == 256 - 49
        assert 0 not in again[r.NO_00][2:]
    c = r.encrypt_raw(valid, n, e)
    assert pow(int.from_bytes(c, "big"), d, n).to_bytes(256, "big") == valid
    cke = r.client_key_exchange(c)
    assert cke[0] == 16 and int.from_bytes(cke[1:4], "big") == 258 and cke[4:6] == b"\x01\x00"
    same = ["alert bad_record_mac"] * 5
    assert r.verdict(same, None)[0] == Depth.NOT_VULNERABLE
    strong = ["alert bad_record_mac", "alert decrypt_error", "alert bad_record_mac",
              "alert decrypt_error", "alert bad_record_mac"]  # fmt: skip
    assert r.verdict(strong, strong)[:2] == (Depth.VULNERABLE, "strong")
    weak = ["alert bad_record_mac", "alert bad_record_mac", "closed",
            "alert bad_record_mac", "alert bad_record_mac"]  # fmt: skip
    assert r.verdict(weak, weak)[:2] == (Depth.VULNERABLE, "weak")
    assert r.verdict(weak, same)[0] == ""  # inconsistent on the repeat: no verdict
    assert r.verdict(weak, None)[0] == ""
