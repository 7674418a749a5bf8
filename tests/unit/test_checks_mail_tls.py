"""checks/mail_tls.py: a pass and a fail per check (each MX address judged by the web
check's own rule), "the server limited us", the mail rules of mail.tls.cert and the DANE
matching of mail.dane.valid (RFC 6698 / 7671 / 7672)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from auditor.model import Status
from auditor.obs.core import Outcome
from auditor.obs.tls import Depth, TlsObservation, Trust
from auditor.obs.zone import DnssecStatus, MxTls, TlsaLookup, ZoneObservations
from auditor.protocol.dane import parse_tlsa
from checks.mail_tls import dane_match
from tests.support.factories import MX1, Pki, good_zone, make_cert, make_key, run
from tests.unit.test_checks_tls import GOOD_SUITES, leaf, suites, tls, versions
from tests.unit.test_checks_tls_depth import k

V4, V6 = MX1.a.records[0], MX1.aaaa.records[0]
MX_DNS = (DnssecStatus(MX1.name, "secure", detail="zone example.gov.vn: AD"),)


def good_tls(address: str, **kw: Any) -> TlsObservation:
    base: dict[str, Any] = dict(
        port=25,
        sni=MX1.name,
        chain=(leaf(san=(MX1.name,), cn=(MX1.name,)),),
        depth_probed=True,
        kex=(k("x25519", 255),),
        kex_hash=Depth.REFUSED,
        compression=0,
        secure_renegotiation=(("TLSv1.2", True),),
        client_renegotiation=Depth.REFUSED,
        ems=True,
        cipher_order=(("TLSv1.2", True),),
        ciphers=GOOD_SUITES,
    )
    base.update(kw)
    return tls(address, **base)


def mx_tls(address: str, **kw: Any) -> MxTls:
    return MxTls(MX1.name, address, Outcome.OK, good_tls(address, **kw), connections=40)


def zone(v4: MxTls | None = None, v6: MxTls | None = None, **changes: Any) -> ZoneObservations:
    rows = (v4 or mx_tls(V4), v6 or mx_tls(V6))
    return good_zone(mx_tls=rows, mx_dnssec=MX_DNS, **changes)


MIRRORS: dict[str, tuple[dict[str, Any], Status]] = {
    "mail.tls.protocols": ({"versions": versions("TLSv1.0", "TLSv1.2")}, Status.FAIL),
    "mail.tls.ciphers": (
        {"ciphers": suites(("TLSv1.2", 0xC02B), ("TLSv1.2", 0x002F))},
        Status.FAIL,
    ),
    "mail.tls.kex_params": ({"kex": (k("ffdhe2048", 2048, "DHE"),)}, Status.FAIL),
    "mail.tls.kex_hash": (
        {"kex_hash": Depth.ACCEPTED, "kex_hash_scheme": "rsa_pkcs1_sha1"},
        Status.FAIL,
    ),
    "mail.tls.cipher_order": (
        {
            "ciphers": suites(("TLSv1.2", 0xC02F), ("TLSv1.2", 0xC027)),
            "cipher_order": (("TLSv1.2", False),),
        },
        Status.FAIL,
    ),
    "mail.tls.compression": ({"compression": 1}, Status.FAIL),
    "mail.tls.renegotiation": ({"secure_renegotiation": (("TLSv1.2", False),)}, Status.FAIL),
    "mail.tls.ems": ({"ems": False}, Status.FAIL),
    "mail.tls.cert": ({"chain": (leaf(key_type="RSA", key_bits=1024),)}, Status.FAIL),
}


@pytest.mark.parametrize("check_id", sorted(MIRRORS))
def test_each_mail_tls_check_passes_a_good_mx(check_id: str) -> None:
    v = run(check_id, zone())
    # cipher order with only good suites: the web rule says there is nothing to order
    want = Status.NOT_APPLICABLE if check_id == "mail.tls.cipher_order" else Status.PASS
    if check_id == "mail.tls.cipher_order":
        mixed = suites(("TLSv1.2", 0xC02F), ("TLSv1.2", 0xC027))
        v = run(check_id, zone(mx_tls(V4, ciphers=mixed), mx_tls(V6, ciphers=mixed)))
        want = Status.PASS
    assert v.status == want, v
    rows = v.evidence["mx_addresses"]
    assert {r["family"] for r in rows.values()} == {"v4", "v6"}


@pytest.mark.parametrize("check_id", sorted(MIRRORS))
@pytest.mark.parametrize("family", ["v4", "v6"])
def test_each_mail_tls_check_fails_the_weak_family_only(check_id: str, family: str) -> None:
    bad_kw, want = MIRRORS[check_id]
    z = zone(v4=mx_tls(V4, **bad_kw)) if family == "v4" else zone(v6=mx_tls(V6, **bad_kw))
    v = run(check_id, z)
    assert v.status == want, v
    address = V4 if family == "v4" else V6
    assert f"[{address}] ({family})" in v.message
    other = V6 if family == "v4" else V4
    assert other not in v.message
    # partial credit over the addresses judged (a good-suites-only address has no order)
    assert v.score == (0.0 if check_id == "mail.tls.cipher_order" else 0.5)


def test_zone_with_mx_tls_round_trips() -> None:
    from auditor import serde

    z = zone(v6=MxTls(MX1.name, V6, "limited", None, limited="greeting: 421 busy"))
    back = serde.loads(serde.dumps(z), ZoneObservations)
    assert back == z
    # a zone stored before the STARTTLS probe existed: no mx_tls, not tested
    old = serde.loads(serde.dumps(good_zone()), ZoneObservations)
    assert old.mx_tls == () and run("mail.tls.protocols", old).status == Status.NOT_TESTED


def test_limited_server_is_not_tested_never_failed() -> None:
    limited = MxTls(MX1.name, V6, "limited", None, limited="greeting: 421 4.7.0 busy")
    weak = mx_tls(V4, versions=versions("TLSv1.0", "TLSv1.2"))
    v = run("mail.tls.protocols", zone(v6=limited))
    assert v.status == Status.NOT_TESTED and "the server limited us" in v.message
    assert "421" in v.message
    # a fact seen on another address still fails the zone
    assert run("mail.tls.protocols", zone(v4=weak, v6=limited)).status == Status.FAIL


def test_no_starttls_and_null_mx() -> None:
    from tests.support.factories import smtp_ok

    plain = good_zone(smtp=smtp_ok(MX1, starttls=False), mx_tls=())
    v = run("mail.tls.ciphers", plain)
    assert v.status == Status.NOT_APPLICABLE and "mail.starttls" in v.message
    not_probed = good_zone(mx_tls=())
    assert run("mail.tls.ciphers", not_probed).status == Status.NOT_TESTED
    from tests.support.factories import ans

    null = good_zone(mx=ans("example.gov.vn", "MX", "0 ."), mx_hosts=())
    assert run("mail.tls.ciphers", null).status == Status.NOT_APPLICABLE


def test_cert_trust_and_name_informational_without_dane_ta() -> None:
    other = (leaf(san=("other.example.org",), cn=("other.example.org",)),)
    self_signed = {"chain": other, "trust": Trust.SELF_SIGNED, "trust_detail": "self-signed"}
    z = zone(mx_tls(V4, **self_signed), mx_tls(V6, **self_signed))
    v = run("mail.tls.cert", z)
    assert v.status == Status.PASS and "informational" in v.message
    # with DANE-TA the name must match (RFC 7672 section 3.2.3)
    ta = TlsaLookup(MX1.name, f"_25._tcp.{MX1.name}", Outcome.OK, ("2 1 1 " + "ab" * 32,), True)
    v = run("mail.tls.cert", replace(z, tlsa=(ta,)))
    assert v.status == Status.FAIL and "DANE-TA" in v.message
    # and the chain must build: a missing intermediate fails, an unknown root does not
    named = (leaf(san=(MX1.name,), cn=(MX1.name,)),)
    broken = {"chain": named, "trust": Trust.MISSING_INTERMEDIATE, "trust_detail": "missing"}
    zb = zone(mx_tls(V4, **broken), mx_tls(V6, **broken), tlsa=(ta,))
    assert run("mail.tls.cert", zb).status == Status.FAIL
    private = {"chain": named, "trust": Trust.UNTRUSTED_ROOT, "trust_detail": "private root"}
    zp = zone(mx_tls(V4, **private), mx_tls(V6, **private), tlsa=(ta,))
    assert run("mail.tls.cert", zp).status == Status.PASS


# ---------------------------------------------------------------------------------------
# DANE matching


def _der(c: x509.Certificate) -> bytes:
    return c.public_bytes(Encoding.DER)


def _record(usage: int, selector: int, mtype: int, c: x509.Certificate) -> str:
    data = (
        _der(c)
        if selector == 0
        else c.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    if mtype == 1:
        data = hashlib.sha256(data).digest()
    elif mtype == 2:
        data = hashlib.sha512(data).digest()
    return f"{usage} {selector} {mtype} {data.hex()}"


@pytest.fixture(scope="module")
def chain() -> tuple[Pki, x509.Certificate]:
    pki = Pki.create()
    cert, _key = pki.leaf((MX1.name,))
    return pki, cert


def _matched(records: list[str], ders: list[bytes]) -> list[bool]:
    recs = [r for r in (parse_tlsa(t) for t in records) if r is not None]
    assert len(recs) == len(records)
    return [bool(row["matched"]) for row in dane_match(recs, ders)]


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("mtype", [0, 1, 2])
def test_dane_ee_and_ta_match_every_selector_and_matching_type(
    chain: tuple[Pki, x509.Certificate], selector: int, mtype: int
) -> None:
    pki, cert = chain
    ders = [_der(cert), _der(pki.inter)]
    ee, ta = _record(3, selector, mtype, cert), _record(2, selector, mtype, pki.inter)
    assert _matched([ee, ta], ders) == [True, True]
    # usage 3 is the leaf only, usage 2 never the leaf itself
    assert _matched([_record(3, selector, mtype, pki.inter)], ders) == [False]
    assert _matched([_record(2, selector, mtype, cert)], ders) == [False]


def test_dane_ta_needs_the_chain_to_verify(chain: tuple[Pki, x509.Certificate]) -> None:
    pki, cert = chain
    stranger_key = make_key("ec")
    stranger = make_cert("Test Intermediate CA", stranger_key, pki.root, pki.root_key, ca=True)
    # a certificate named like the issuer but with another key: the leaf does not verify
    assert _matched([_record(2, 1, 1, stranger)], [_der(cert), _der(stranger)]) == [False]


def _dane_zone(records: tuple[str, ...], ders: list[bytes], ad: bool = True) -> ZoneObservations:
    b64 = tuple(base64.b64encode(d).decode() for d in ders)
    t = TlsaLookup(MX1.name, f"_25._tcp.{MX1.name}", Outcome.OK, records, ad)
    v4, v6 = (replace(mx_tls(a), chain_der=b64) for a in (V4, V6))
    return zone(v4, v6, tlsa=(t,))


def test_dane_valid_pass_fail_and_not_applicable(chain: tuple[Pki, x509.Certificate]) -> None:
    pki, cert = chain
    ders = [_der(cert), _der(pki.inter)]
    good = (_record(3, 1, 1, cert), "3 1 1 " + "ab" * 32)  # current + a next key
    v = run("mail.dane.valid", _dane_zone(good, ders))
    assert v.status == Status.PASS and "1 of 2" in v.message
    bad = ("3 1 1 " + "ab" * 32, "2 0 1 " + "cd" * 32)
    v = run("mail.dane.valid", _dane_zone(bad, ders))
    assert v.status == Status.FAIL and "none of the 2" in v.message
    assert {r["family"] for r in v.evidence["mx_addresses"].values()} == {"v4", "v6"}
    # one family presenting another certificate fails, naming that family
    other, _ = pki.leaf((MX1.name,))
    z = _dane_zone(good, ders)
    v6 = replace(z.mx_tls[1], chain_der=(base64.b64encode(_der(other)).decode(),))
    v = run("mail.dane.valid", replace(z, mx_tls=(z.mx_tls[0], v6)))
    assert v.status == Status.FAIL and "(v6)" in v.message and "(v4)" not in v.message
    # TLSA not DNSSEC-secure: mail.dane.exists's to judge
    v = run("mail.dane.valid", _dane_zone(good, ders, ad=False))
    assert v.status in (Status.NOT_APPLICABLE, Status.NOT_TESTED)
    # no chain read: not tested
    assert run("mail.dane.valid", _dane_zone(good, [])).status == Status.NOT_TESTED


def test_max_mx_option() -> None:
    import argparse

    from auditor.cli.common import UsageError, add_network_options, options_from_args

    p = argparse.ArgumentParser()
    add_network_options(p)
    assert options_from_args(p.parse_args([])).max_mx == 10  # Internet.nl's cap
    assert options_from_args(p.parse_args(["--max-mx", "3"])).max_mx == 3
    with pytest.raises(UsageError):
        options_from_args(p.parse_args(["--max-mx", "0"]))
