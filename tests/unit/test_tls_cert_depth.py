"""Issue #19, certificate half: the pure pieces (RFC 5280 validation with cryptography,
OCSP staple verification, SCT lists, the CAA grammar) on certificates made in-process,
and the checks tls.cert.chain, tls.cert.sct, tls.ocsp_stapling, http.compression and
dns.caa on observation fixtures."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from auditor.model import Status
from auditor.obs.core import DnsAnswer, Outcome
from auditor.obs.tls import CertInfo, ChainPolicy, Trust
from auditor.probes.ocsp import verify_staple
from auditor.probes.tls import cert_info
from auditor.probes.tls_chain import certificate_depth, classify, validate_chain
from auditor.protocol.caa import iodef_ok, issue_value_ok, property_problem
from auditor.protocol.sct import log_id_b64, parse_sct_list, sct_list
from tests.support.factories import ZONE, good_zone
from tests.support.factories import run as run_zone
from tests.unit.test_checks_tls import INTER, NOW, ROOT, leaf, one, tls

REAL_NOW = dt.datetime.now(dt.UTC)
HOST = "www.example.gov.vn"


# ---------------------------------------------------------------------------------------
# an in-process PKI


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey],
    *,
    ca: bool,
    san: tuple[str, ...] = (),
    eku: tuple[x509.ObjectIdentifier, ...] | None = (ExtendedKeyUsageOID.SERVER_AUTH,),
    extra: tuple[x509.ExtensionType, ...] = (),
    days: tuple[int, int] = (-1, 90),
) -> x509.Certificate:
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(issuer[0]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(REAL_NOW + dt.timedelta(days=days[0]))
        .not_valid_after(REAL_NOW + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), False
        )
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, ca, ca, False, False), critical=True
        )
    )
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in san]), False)
    if eku is not None and not ca:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), False)
    for e in extra:
        b = b.add_extension(e, critical=isinstance(e, x509.NameConstraints))
    return b.sign(issuer[1], hashes.SHA256())


RK, IK, LK = _key(), _key(), _key()
ROOT_C = make("Root", RK, ("Root", RK), ca=True, days=(-1000, 3650))
INTER_C = make("Inter", IK, ("Root", RK), ca=True)


def der(c: x509.Certificate) -> bytes:
    return c.public_bytes(serialization.Encoding.DER)


def leaf_c(**kw: Any) -> x509.Certificate:
    kw.setdefault("san", (HOST,))
    return make(HOST, LK, ("Inter", IK), ca=False, **kw)


def validate(chain: list[x509.Certificate], sni: str = HOST) -> tuple[str, str]:
    return validate_chain([der(c) for c in chain], [ROOT_C], sni, REAL_NOW)


# ---------------------------------------------------------------------------------------
# RFC 5280 validation (cryptography) and its classification


def test_good_chain_validates() -> None:
    assert validate([leaf_c(), INTER_C]) == (ChainPolicy.OK, "ok")


def test_leaf_eku_without_server_auth_is_an_eku_fault() -> None:
    kind, why = validate([leaf_c(eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)), INTER_C])
    assert kind == ChainPolicy.EKU, why


def test_name_constraints_excluding_the_host_are_found() -> None:
    nc = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName("other.gov.vn")], excluded_subtrees=None
    )
    inter = make("Inter", IK, ("Root", RK), ca=True, extra=(nc,))
    kind, why = validate([leaf_c(), inter])
    assert kind == ChainPolicy.NAME_CONSTRAINTS, why
    permitted = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName("gov.vn")], excluded_subtrees=None
    )
    ok = make("Inter", IK, ("Root", RK), ca=True, extra=(permitted,))
    assert validate([leaf_c(), ok])[0] == ChainPolicy.OK


def test_host_name_mismatch_and_dates_do_not_hide_eku() -> None:
    """Dates and names are judged elsewhere: the validation picks a moment and a name."""
    expired_inter = make("Inter", IK, ("Root", RK), ca=True, days=(-300, -10))
    assert validate([leaf_c(days=(-200, 90)), expired_inter], sni="x.other.vn")[0] == ChainPolicy.OK
    bad = leaf_c(eku=(ExtendedKeyUsageOID.CODE_SIGNING,))
    assert validate([bad, expired_inter], sni="x.other.vn")[0] == ChainPolicy.EKU


def test_missing_intermediate_is_a_path_fault() -> None:
    assert validate([leaf_c()])[0] == ChainPolicy.PATH


def test_classify_wordings() -> None:
    assert classify("candidates exhausted: chain construction exceeds max depth") == "depth"
    assert classify("candidates exhausted: RSA key is too weak") == "algorithm"
    assert classify("candidates exhausted: Forbidden signature algorithm: x") == "algorithm"
    assert classify("candidates exhausted: signature does not match") == "path"
    assert classify("something new") == "other"


def test_certificate_depth_marks_a_cut_chain_too_long() -> None:
    out = certificate_depth((der(leaf_c()),), True, None, None, {}, HOST)
    assert out["chain_checked"] and out["chain_policy_kind"] == ChainPolicy.DEPTH


# ---------------------------------------------------------------------------------------
# CertInfo extras


def test_cert_info_reads_eku_ocsp_uri_must_staple_and_scts() -> None:
    aia = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP,
                x509.UniformResourceIdentifier("http://ocsp.example.vn/"),
            )
        ]
    )
    feat = x509.TLSFeature([x509.TLSFeatureType.status_request])
    scts = x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2"),
        b"\x04" + bytes([len(sl := sct_list([b"L" * 32, b"M" * 32]))]) + sl,
    )
    c = cert_info(der(leaf_c(extra=(aia, feat, scts))))
    assert c.eku == ("serverAuth",) and c.has_eku
    assert c.ocsp_urls == ("http://ocsp.example.vn/",) and c.must_staple
    assert len(c.sct_logs) == 2
    plain = cert_info(der(leaf_c(eku=None)))
    assert not plain.has_eku and not plain.must_staple and plain.ocsp_urls == ()


def test_sct_list_parser_is_bounded_and_tolerant() -> None:
    data = sct_list([b"a" * 32, b"b" * 32])
    assert len(parse_sct_list(data)) == 2
    assert len(parse_sct_list(data[:-5])) == 1  # a cut second entry is dropped
    assert parse_sct_list(b"") == () and parse_sct_list(b"\xff") == ()


# ---------------------------------------------------------------------------------------
# OCSP staple verification


def staple(
    cert: x509.Certificate,
    *,
    signer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] = (INTER_C, IK),
    issuer: x509.Certificate = INTER_C,
    status: ocsp.OCSPCertStatus = ocsp.OCSPCertStatus.GOOD,
    certs: tuple[x509.Certificate, ...] = (),
) -> bytes:
    b = ocsp.OCSPResponseBuilder().add_response(
        cert, issuer, hashes.SHA1(), status, REAL_NOW, REAL_NOW + dt.timedelta(days=3),
        None, None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, signer[0])  # fmt: skip
    if certs:
        b = b.certificates(list(certs))
    return b.sign(signer[1], hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def test_staple_by_the_issuer_verifies() -> None:
    lc = leaf_c()
    sc = verify_staple(staple(lc), der(lc), [INTER_C])
    assert sc.problem == "" and sc.signer == "issuer" and sc.next_update is not None


def test_staple_for_another_certificate_or_signer_is_a_problem() -> None:
    lc, other = leaf_c(), leaf_c()
    assert "another certificate" in verify_staple(staple(other), der(lc), [INTER_C]).problem
    rogue = _key()
    rogue_c = make("Rogue", rogue, ("Inter", IK), ca=False, eku=None)
    bad = staple(lc, signer=(rogue_c, rogue), certs=(rogue_c,))
    assert "OCSPSigning" in verify_staple(bad, der(lc), [INTER_C]).problem
    assert verify_staple(b"junk", der(lc), [INTER_C]).problem


def test_staple_scts_in_the_single_response_are_read() -> None:
    # RFC 6962 sec. 3.3: SCTs may travel in the OCSP single response's extension
    # 1.3.6.1.4.1.11129.2.4.5 (the lab's staplesct scenario serves this)
    from tests.lab.pki import OCSP_SCT_LOGS, with_single_sct

    lc = leaf_c()
    plain = staple(lc)
    assert verify_staple(plain, der(lc), [INTER_C]).sct_logs == ()
    sc = verify_staple(with_single_sct(plain, IK), der(lc), [INTER_C])
    assert sc.problem == "" and sc.signer == "issuer"
    assert sc.sct_logs == tuple(log_id_b64(i) for i in OCSP_SCT_LOGS)
    # the extension is inside the signed data: a response re-signed by another key fails
    forged = verify_staple(with_single_sct(plain, _key()), der(lc), [INTER_C])
    assert forged.problem == "the issuer's signature does not verify"


def test_staple_by_a_delegated_responder_verifies() -> None:
    lc, rk = leaf_c(), _key()
    resp_c = make("Responder", rk, ("Inter", IK), ca=False, eku=(ExtendedKeyUsageOID.OCSP_SIGNING,))
    sc = verify_staple(staple(lc, signer=(resp_c, rk), certs=(resp_c,)), der(lc), [INTER_C])
    assert sc.problem == "" and sc.signer.startswith("delegated responder")


# ---------------------------------------------------------------------------------------
# tls.cert.chain


def test_chain_passes_when_validated() -> None:
    t = tls(chain=(leaf(eku=("serverAuth",), has_eku=True), INTER, ROOT), chain_checked=True,
            chain_policy="ok", chain_policy_kind=ChainPolicy.OK)  # fmt: skip
    assert one("tls.cert.chain", t).status == Status.PASS


def good_chain(**kw: Any) -> Any:
    base: dict[str, Any] = dict(
        chain=(leaf(eku=("serverAuth",), has_eku=True), INTER),
        chain_checked=True,
        chain_policy="ok",
        chain_policy_kind=ChainPolicy.OK,
    )
    base.update(kw)
    return tls(**base)


@pytest.mark.parametrize(
    ("inter", "word"),
    [
        (replace(INTER, key_type="RSA", key_bits=1024), "RSA-1024"),
        (replace(INTER, sig_hash="sha1"), "SHA1"),
        (replace(INTER, not_after=NOW - dt.timedelta(days=1)), "expired"),
    ],
)
def test_chain_fails_on_a_weak_or_expired_intermediate(inter: CertInfo, word: str) -> None:
    v = one("tls.cert.chain", good_chain(chain=(leaf(eku=("serverAuth",), has_eku=True), inter)))
    assert v.status == Status.FAIL and word in v.message


def test_chain_sha224_warns_and_root_is_not_judged() -> None:
    v = one(
        "tls.cert.chain",
        good_chain(
            chain=(leaf(eku=("serverAuth",), has_eku=True), replace(INTER, sig_hash="sha224"))
        ),
    )
    assert v.status == Status.WARN
    weak_root = replace(ROOT, key_type="RSA", key_bits=1024, sig_hash="md5")
    assert (
        one(
            "tls.cert.chain",
            good_chain(chain=(leaf(eku=("serverAuth",), has_eku=True), INTER, weak_root)),
        ).status
        == Status.PASS
    )


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (ChainPolicy.EKU, Status.FAIL),
        (ChainPolicy.NAME_CONSTRAINTS, Status.FAIL),
        (ChainPolicy.DEPTH, Status.FAIL),
        (ChainPolicy.OTHER, Status.WARN),
    ],
)
def test_chain_validation_kinds(kind: str, status: Status) -> None:
    assert (
        one("tls.cert.chain", good_chain(chain_policy_kind=kind, chain_policy="x")).status == status
    )


def test_chain_too_long_fails_not_untested() -> None:
    v = one("tls.cert.chain", good_chain(chain_truncated=True, chain=(leaf(),) + (INTER,) * 16))
    assert v.status == Status.FAIL and "too long" in v.message


def test_chain_leaf_eku() -> None:
    assert (
        one(
            "tls.cert.chain", good_chain(chain=(leaf(eku=("clientAuth",), has_eku=True), INTER))
        ).status
        == Status.FAIL
    )
    assert one("tls.cert.chain", good_chain(chain=(leaf(), INTER))).status == Status.WARN


def test_chain_not_tested_without_validation_or_path() -> None:
    assert one("tls.cert.chain", good_chain(chain_checked=False)).status == Status.NOT_TESTED
    untrusted = good_chain(chain_policy_kind=ChainPolicy.PATH, trust=Trust.SELF_SIGNED)
    assert one("tls.cert.chain", untrusted).status == Status.NOT_TESTED


# ---------------------------------------------------------------------------------------
# tls.ocsp_stapling (deepened)

OCSP_LEAF = leaf(ocsp_urls=("http://ocsp.example.vn/",))


def stapled(**kw: Any) -> Any:
    base: dict[str, Any] = dict(
        chain=(OCSP_LEAF, INTER),
        chain_checked=True,
        ocsp_checked=True,
        ocsp_signer="issuer",
        ocsp_this_update=NOW - dt.timedelta(hours=2),
        ocsp_next_update=NOW + dt.timedelta(days=3),
    )
    base.update(kw)
    return tls(**base)


def test_ocsp_verified_staple_passes() -> None:
    assert one("tls.ocsp_stapling", stapled()).status == Status.PASS


@pytest.mark.parametrize(
    "kw",
    [
        {"ocsp_problem": "the issuer's signature does not verify"},
        {"ocsp_next_update": NOW - dt.timedelta(days=1)},
        {"ocsp_this_update": NOW + dt.timedelta(days=1)},
        {"ocsp_status": "unknown"},
    ],
)
def test_ocsp_bad_staple_warns(kw: dict[str, Any]) -> None:
    assert one("tls.ocsp_stapling", stapled(**kw)).status == Status.WARN


def test_ocsp_not_applicable_without_uri_and_must_staple_fails() -> None:
    none = stapled(chain=(leaf(), INTER), ocsp_stapled=False, ocsp_checked=False)
    assert one("tls.ocsp_stapling", none).status == Status.NOT_APPLICABLE
    no_staple = stapled(ocsp_stapled=False, ocsp_checked=False)
    assert one("tls.ocsp_stapling", no_staple).status == Status.INFO
    must = stapled(chain=(replace(OCSP_LEAF, must_staple=True), INTER), ocsp_stapled=False)
    v = one("tls.ocsp_stapling", must)
    assert v.status == Status.FAIL and "must-staple" in v.message


# ---------------------------------------------------------------------------------------
# tls.cert.sct


def test_sct_sources_and_absence() -> None:
    t = tls(chain=(leaf(sct_logs=("A=",)), INTER), sct_checked=True, sct_tls=("B=",))
    v = one("tls.cert.sct", t)
    assert v.status == Status.PASS and v.evidence["count"] == 2
    assert one("tls.cert.sct", tls(sct_checked=True, sct_ocsp=("C=",))).status == Status.PASS
    assert one("tls.cert.sct", tls(sct_checked=True)).status == Status.INFO
    assert one("tls.cert.sct", tls()).status == Status.NOT_TESTED


# ---------------------------------------------------------------------------------------
# dns.caa grammar and per-host sets


def test_caa_grammar() -> None:
    assert issue_value_ok("letsencrypt.org") and issue_value_ok(";")
    assert issue_value_ok(" ca.example.net; account=230123 ")
    assert not issue_value_ok("lets encrypt.org") and not issue_value_ok("-x.org")
    assert iodef_ok("mailto:security@example.gov.vn") and iodef_ok("https://r.example/")
    assert not iodef_ok("ftp://x.example/")
    assert property_problem("is-sue", "x.org") is not None


def caa(name: str, *records: str) -> DnsAnswer:
    return DnsAnswer(name, "CAA", Outcome.OK if records else Outcome.NODATA, records)


def test_caa_without_issue_fails_and_bad_syntax_fails() -> None:
    iodef_only = good_zone(caa=(caa(ZONE, '0 iodef "mailto:s@example.gov.vn"'),))
    v = run_zone("dns.caa", iodef_only)
    assert v.status == Status.FAIL and "no issue" in v.message
    wild = good_zone(caa=(caa(ZONE, '0 issuewild "ca.vn"'),))
    assert run_zone("dns.caa", wild).status == Status.FAIL
    bad = good_zone(caa=(caa(ZONE, '0 issue "ca..vn"'),))
    assert run_zone("dns.caa", bad).status == Status.FAIL
    iodef_bad = good_zone(caa=(caa(ZONE, '0 issue "ca.vn"', '0 iodef "ftp://x"'),))
    assert run_zone("dns.caa", iodef_bad).status == Status.FAIL


def test_caa_per_host_set_replaces_the_zone_set() -> None:
    zone_ok = caa(ZONE, '0 issue "ca.vn"')
    host_bad = good_zone(caa=(zone_ok,), caa_hosts=(caa(f"www.{ZONE}", '0 iodef "mailto:a@b.vn"'),))
    v = run_zone("dns.caa", host_bad)
    assert v.status == Status.FAIL and f"www.{ZONE}" in v.message
    host_ok = good_zone(caa=(zone_ok,), caa_hosts=(caa(f"www.{ZONE}", '0 issue "other.vn"'),))
    assert run_zone("dns.caa", host_ok).status == Status.PASS
    inherits = good_zone(caa=(zone_ok,), caa_hosts=(caa(f"www.{ZONE}"),))
    assert run_zone("dns.caa", inherits).status == Status.PASS


# ---------------------------------------------------------------------------------------
# http.compression


def test_http_compression() -> None:
    from tests.unit.test_checks_http import GOOD_HEADERS, full, good_https
    from tests.unit.test_checks_http import one as one_http
    from tests.unit.test_checks_http import run as run_http

    assert run_http("http.compression", one_http(full())).status == Status.PASS
    gz = good_https(headers=(*GOOD_HEADERS, ("Content-Encoding", "gzip")))
    v = run_http("http.compression", one_http(full(https=gz)))
    assert v.status == Status.INFO and "gzip" in v.message
