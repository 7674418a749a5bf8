"""The TLS probe's pure parts: chain judging, certificate facts, ClientHello bits, built from
certificates made in-process. The probe against nginx and hostile servers on loopback is
tests/integration/test_probes_tls.py.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from auditor.obs.tls import Trust, VersionOutcome
from tests.support.factories import Pki, make_key

# ---------------------------------------------------------------------------------------
# path building (pure: certificates made here, a store given)


def _der(*certs: x509.Certificate) -> list[bytes]:
    return [c.public_bytes(serialization.Encoding.DER) for c in certs]


def _store(*certs: x509.Certificate) -> dict[bytes, list[x509.Certificate]]:
    out: dict[bytes, list[x509.Certificate]] = {}
    for c in certs:
        out.setdefault(c.subject.public_bytes(), []).append(c)
    return out


def test_judge_chain_outcomes() -> None:
    from auditor.probes.tls import judge_chain
    from tests.support.factories import make_cert

    pki = Pki.create()
    leaf, _k = pki.leaf(("a.test",))
    store = _store(pki.root)
    trust, _detail, path, anchor = judge_chain(_der(leaf, pki.inter), store)
    assert trust == Trust.TRUSTED and anchor == "CN=Test Root CA" and len(path) == 2
    # the intermediate is served but the root is unknown here
    assert judge_chain(_der(leaf, pki.inter), {})[0] == Trust.UNTRUSTED_ROOT
    # the served root does not make itself trusted
    assert judge_chain(_der(leaf, pki.inter, pki.root), {})[0] == Trust.UNTRUSTED_ROOT
    assert judge_chain(_der(leaf), store)[0] == Trust.MISSING_INTERMEDIATE
    # an impostor "Test Intermediate CA" (same name, other key) did not sign the leaf
    ik = make_key("ec")
    fake = make_cert("Test Intermediate CA", ik, pki.root, pki.root_key, ca=True)
    assert judge_chain(_der(leaf, fake), store)[0] == Trust.BAD_SIGNATURE
    # a self-signed leaf: untrusted, unless pinned with --ca-file
    sk = make_key("ec")
    selfsigned = make_cert("s.test", sk, None, sk, sans=("s.test",))
    assert judge_chain(_der(selfsigned), store)[0] == Trust.SELF_SIGNED
    assert judge_chain(_der(selfsigned), _store(selfsigned))[0] == Trust.TRUSTED
    assert judge_chain([], store)[0] == Trust.NO_CHAIN
    assert judge_chain([b"garbage"], store)[0] == Trust.ERROR


def test_cert_info_fields() -> None:
    from auditor.probes.tls import cert_info

    pki = Pki.create()
    leaf, _k = pki.leaf(("a.test", "b.test"), kind="rsa2048")
    info = cert_info(leaf.public_bytes(serialization.Encoding.DER))
    assert info.san == ("a.test", "b.test") and info.cn == ("a.test",)
    assert (info.key_type, info.key_bits) == ("RSA", 2048)
    assert info.sig_hash == "sha256" and not info.is_ca and not info.self_signed
    assert info.not_after is not None and info.not_after.tzinfo is not None
    bad = cert_info(b"\x30\x03\x02\x01\x01")
    assert bad.parse_error and bad.sha256


# ---------------------------------------------------------------------------
# SSL 3.0 / TLS 1.0 inferred from the TLS 1.1 hello (pure)


def _hr(outcome: str, alert: int | None = None, version: int | None = None) -> object:
    from auditor.probes.tls_hello import Alert, HelloResult, ServerHello

    r = HelloResult(outcome=outcome)
    if alert is not None:
        r.alert = Alert(2, alert)
    if version is not None:
        r.server_hello = ServerHello(version, b"\0" * 32, b"", 0xC02B, 0)
    return r


def test_protocol_version_alert_from_a_tls12_server_settles_tls10_and_ssl3() -> None:
    from auditor.probes.tls import infer_older_versions

    acc, rej = VersionOutcome.ACCEPTED, VersionOutcome.REJECTED
    hellos = {"TLSv1.1": _hr(rej, alert=70), "TLSv1.2": _hr(acc), "TLSv1.3": _hr(rej, alert=70)}
    out = infer_older_versions(hellos)  # type: ignore[arg-type]
    assert set(out) == {"SSLv3", "TLSv1.0"}
    assert all(r.outcome == rej and "protocol_version" in r.detail for r in out.values())
    # a TLS 1.3-only server too
    hellos = {"TLSv1.1": _hr(rej, alert=70), "TLSv1.2": _hr(rej, alert=70), "TLSv1.3": _hr(acc)}
    assert set(infer_older_versions(hellos)) == {"SSLv3", "TLSv1.0"}  # type: ignore[arg-type]


def test_nothing_is_inferred_without_proof() -> None:
    from auditor.probes.tls import infer_older_versions

    acc, rej, err = VersionOutcome.ACCEPTED, VersionOutcome.REJECTED, VersionOutcome.ERROR
    cases = [
        # version-intolerant old server: protocol_version, but no higher version accepted
        {"TLSv1.1": _hr(rej, alert=70), "TLSv1.2": _hr(rej, alert=70), "TLSv1.3": _hr(rej)},
        # another alert (handshake_failure: maybe no shared suite, not the version)
        {"TLSv1.1": _hr(rej, alert=40), "TLSv1.2": _hr(acc), "TLSv1.3": _hr(acc)},
        # hung up without an alert
        {"TLSv1.1": _hr(rej), "TLSv1.2": _hr(acc), "TLSv1.3": _hr(acc)},
        # answered TLS 1.0 to the TLS 1.1 hello: TLS 1.0 is on, its own hello reads it
        {"TLSv1.1": _hr(rej, version=0x0301), "TLSv1.2": _hr(acc), "TLSv1.3": _hr(acc)},
        # TLS 1.1 accepted: TLS 1.0 unknown
        {"TLSv1.1": _hr(acc), "TLSv1.2": _hr(acc), "TLSv1.3": _hr(acc)},
        # no answer
        {"TLSv1.1": _hr(err), "TLSv1.2": _hr(acc), "TLSv1.3": _hr(acc)},
    ]
    for hellos in cases:
        assert infer_older_versions(hellos) == {}  # type: ignore[arg-type]
