"""RFC 5280 path validation of a served chain, and the certificate facts issue #19 adds.

What the cryptography package does here (``cryptography.x509.verification``, available
since 42, installed 48): path building from the served certificates to the trust store
and the RFC 5280 sec. 6 checks a browser makes on it, the CA/Browser Forum profile on top:
extendedKeyUsage (serverAuth or anyExtendedKeyUsage on the leaf and on every CA that
carries an EKU), name constraints (sec. 4.2.1.10), basic constraints and path length,
the maximum depth. Nothing of that is hand-written.

What is hand-written, and why:

- the choice of *when* to validate: dates, host name, weak algorithms and trust are each
  judged by a check of their own (tls.cert.expiry, tls.cert.hostname, tls.cert.signature,
  tls.cert.trusted), so the validation here runs at a moment inside every served
  certificate's validity window and for a name the leaf does carry, so that an expired
  intermediate or a host-name mismatch does not hide an EKU or name-constraint fault;
- the classification of the validator's error message into :class:`ChainPolicy` kinds
  (the package raises one ``VerificationError`` with a text, no codes);
- :func:`cert_extras`: reading EKU, the OCSP URI, must-staple and embedded SCTs into
  ``CertInfo`` (plain extension parsing, the package has no "facts" API).

The hand-built path of auditor/probes/tls.py (judge_chain) stays the source of
tls.cert.trusted: it is lenient about SHA-1 and dates on purpose, which the validator
here is not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.x509 import DNSName
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from auditor.obs.tls import ChainPolicy
from auditor.protocol.sct import log_id_b64

# The validator's depth limit. Real paths are 3-4 certificates (leaf, one or two
# intermediates, root); cryptography's default is 8. The probe keeps at most MAX_CHAIN
# (16) served certificates, and more than that is failed as too long by tls.cert.chain.
MAX_DEPTH = 8

_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}


def cert_extras(cert: x509.Certificate) -> dict[str, Any]:
    """The CertInfo fields of issue #19 (eku, has_eku, ocsp_urls, must_staple, sct_logs);
    an extension that does not parse reads as absent (its fault is the validator's)."""
    out: dict[str, Any] = {}
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        out["eku"] = tuple(_EKU_NAMES.get(o, o.dotted_string) for o in eku)
        out["has_eku"] = True
    except Exception:
        pass
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        out["ocsp_urls"] = tuple(
            str(d.access_location.value)[:200]
            for d in aia
            if d.access_method == AuthorityInformationAccessOID.OCSP
            and isinstance(d.access_location, x509.UniformResourceIdentifier)
        )[:4]
    except Exception:
        pass
    try:
        feat = cert.extensions.get_extension_for_class(x509.TLSFeature).value
        out["must_staple"] = x509.TLSFeatureType.status_request in feat
    except Exception:
        pass
    try:
        scts = cert.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps
        ).value
        out["sct_logs"] = tuple(log_id_b64(s.log_id) for s in scts)[:16]
    except Exception:
        pass
    return out


_VSTORES: dict[tuple[int, ...], Store] = {}


def _store(anchors: Sequence[x509.Certificate]) -> Store:
    key = tuple(id(a) for a in anchors)  # the trust store's certificates live for the process
    store = _VSTORES.get(key)
    if store is None:
        store = Store(list(anchors))
        _VSTORES.clear()  # one store per process in practice (system + --ca-file)
        _VSTORES[key] = store
    return store


def _moment(certs: Sequence[x509.Certificate], now: dt.datetime) -> dt.datetime:
    """``now`` if every served certificate is valid then, else a moment inside all their
    windows (dates are tls.cert.expiry's and tls.cert.chain's own judgement), else now."""
    start = max(c.not_valid_before_utc for c in certs)
    end = min(c.not_valid_after_utc for c in certs)
    if start <= now <= end or start > end:
        return now
    return start + (end - start) / 2


def classify(message: str) -> str:
    """ChainPolicy kind of a cryptography VerificationError text (the package raises one
    error class with a message; these are its wordings in 42-48)."""
    m = message.lower()
    if "eku" in m or "extended key usage" in m:
        return ChainPolicy.EKU
    if "name constraint" in m:
        return ChainPolicy.NAME_CONSTRAINTS
    if "max depth" in m:
        return ChainPolicy.DEPTH
    if "forbidden signature algorithm" in m or "too weak" in m or "forbidden public key" in m:
        return ChainPolicy.ALGORITHM
    if "signature does not match" in m or "no interior errors" in m or "issuer" in m:
        return ChainPolicy.PATH
    return ChainPolicy.OTHER


def _subject_names(leaf: x509.Certificate, sni: str) -> list[str]:
    """The SNI, then a name the leaf carries (a wildcard's label filled in): a host-name
    mismatch is tls.cert.hostname's, not a reason to skip EKU and name constraints."""
    names = [sni] if sni and ":" not in sni else []
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for n in san.get_values_for_type(x509.DNSName):
            names.append(n.replace("*", "x", 1) if n.startswith("*.") else n)
            break
    except Exception:
        pass
    return names


def validate_chain(
    ders: Sequence[bytes],
    anchors: Sequence[x509.Certificate],
    sni: str,
    now: dt.datetime,
) -> tuple[str, str]:
    """(ChainPolicy kind, "ok" or the validator's reason) for a served chain, leaf first."""
    try:
        certs = [x509.load_der_x509_certificate(d) for d in ders]
    except Exception as exc:
        return ChainPolicy.OTHER, f"a served certificate does not parse: {type(exc).__name__}"
    if not certs:
        return ChainPolicy.PATH, "no certificate"
    leaf, rest = certs[0], certs[1:]
    moment = _moment(certs, now)
    store = _store(anchors)
    last = ""
    for name in _subject_names(leaf, sni) or [""]:
        try:
            builder = PolicyBuilder().store(store).time(moment).max_chain_depth(MAX_DEPTH)
            verifier = builder.build_server_verifier(DNSName(name))
            verifier.verify(leaf, rest)
            return ChainPolicy.OK, "ok"
        except VerificationError as exc:
            last = str(exc)
            if "subjectaltname" not in last.lower():
                break  # only a name mismatch is worth another name
        except (ValueError, TypeError) as exc:  # a name DNSName refuses, an odd certificate
            last = f"{type(exc).__name__}: {exc}"
    last = last.replace("validation failed: ", "")[:300]
    return classify(last), last


_VALIDATED: dict[tuple[tuple[bytes, ...], int, str, int], tuple[str, str]] = {}
_VALIDATED_MAX = 512


def validate_chain_cached(
    ders: tuple[bytes, ...], anchors: tuple[x509.Certificate, ...], sni: str, hour: int
) -> tuple[str, str]:
    """:func:`validate_chain`, cached by the served chain, the SNI and the hour (hosts
    behind one certificate share a chain; dates move slowly). The anchors count in the key
    by identity: they are the process's trust store, and hashing its ~150 certificates on
    every call (as a functools cache would) cost more than the rest of this step."""
    key = (ders, id(anchors), sni, hour)
    got = _VALIDATED.get(key)
    if got is None:
        got = validate_chain(ders, anchors, sni, dt.datetime.fromtimestamp(hour * 3600, dt.UTC))
        if len(_VALIDATED) >= _VALIDATED_MAX:
            _VALIDATED.clear()
        _VALIDATED[key] = got
    return got


__all__ = ["MAX_DEPTH", "cert_extras", "classify", "validate_chain", "validate_chain_cached"]


_FLAT: dict[int, tuple[x509.Certificate, ...]] = {}


def _anchors(store: dict[bytes, list[x509.Certificate]]) -> tuple[x509.Certificate, ...]:
    flat = _FLAT.get(id(store))
    if flat is None:
        flat = tuple(c for certs in store.values() for c in certs)
        _FLAT.clear()
        _FLAT[id(store)] = flat
    return flat


def certificate_depth(
    chain_der: tuple[bytes, ...],
    truncated: bool,
    staple: bytes | None,
    sct_tls: bytes | None,
    store: dict[bytes, list[x509.Certificate]],
    sni: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The TlsObservation fields of issue #19 for one served chain (see obs/tls.py);
    never raises: a fault is recorded as the reason, the observation is kept."""
    from auditor.probes.ocsp import verify_staple_cached
    from auditor.protocol.sct import parse_sct_list

    out: dict[str, Any] = {"sct_checked": True}
    if sct_tls:
        out["sct_tls"] = parse_sct_list(sct_tls)
    if not chain_der:
        return out
    when = now or dt.datetime.now(dt.UTC)
    if truncated:
        # more than MAX_CHAIN served: too long to validate (tls.cert.chain fails it)
        out.update(
            chain_checked=True,
            chain_policy_kind=ChainPolicy.DEPTH,
            chain_policy="the server sent more certificates than any client validates",
        )
    else:
        try:
            kind, why = validate_chain_cached(
                chain_der, _anchors(store), sni, int(when.timestamp() // 3600)
            )
            out.update(chain_checked=True, chain_policy_kind=kind, chain_policy=why)
        except Exception as exc:  # the observation matters more than this judgement
            out.update(chain_policy=f"{type(exc).__name__}: {exc}"[:300])
    if staple is not None:
        try:
            served = tuple(x509.load_der_x509_certificate(d) for d in chain_der[1:4])
            leaf = x509.load_der_x509_certificate(chain_der[0])
            candidates = served + tuple(store.get(leaf.issuer.public_bytes(), ()))
            sc = verify_staple_cached(staple, chain_der[0], candidates)
            out.update(
                ocsp_checked=True,
                ocsp_problem=sc.problem,
                ocsp_signer=sc.signer,
                ocsp_this_update=sc.this_update,
                ocsp_next_update=sc.next_update,
                sct_ocsp=sc.sct_logs,
            )
        except Exception as exc:
            out.update(ocsp_checked=True, ocsp_problem=f"{type(exc).__name__}: {exc}"[:300])
    return out
