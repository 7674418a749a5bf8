"""Verification of a stapled OCSP response (RFC 6960), as Internet.nl judges stapling.

The staple comes from the TLS probe's hellos (no extra connection, no request to any
responder: the scanner never contacts the CA). Verified here, time-independently:

- the response status is successful (RFC 6960 sec. 4.2.1);
- a SingleResponse names the served leaf: same serial number, and issuerNameHash /
  issuerKeyHash of the leaf's issuer (sec. 4.1.1, computed with the response's own hash
  algorithm by cryptography's request builder);
- the signature verifies with the issuer's key, or with a delegated responder certificate
  carried in the response that the issuer signed and that has the id-kp-OCSPSigning EKU
  (sec. 4.2.2.2).

The validity window (thisUpdate <= now <= nextUpdate, sec. 4.2.2.1) is left to the check
(it has the clock of the evaluation: stored scans re-evaluate later), so the two dates are
returned. Signature checks are hand-written on top of cryptography's primitives because the
package verifies no OCSP signature itself; the match uses its request builder.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from auditor.protocol.sct import log_id_b64


@dataclass(frozen=True)
class StapleCheck:
    problem: str = ""  # "" = status successful, matches the leaf, signature verified
    signer: str = ""  # "issuer" / "delegated responder <subject>"
    this_update: datetime | None = None
    next_update: datetime | None = None
    sct_logs: tuple[str, ...] = ()  # SCTs in the single response (RFC 6962 sec. 3.3)


def _verify_sig(pub: object, signature: bytes, data: bytes, algo: object) -> bool:
    try:
        if isinstance(pub, rsa.RSAPublicKey) and isinstance(algo, hashes.HashAlgorithm):
            pub.verify(signature, data, padding.PKCS1v15(), algo)
        elif isinstance(pub, ec.EllipticCurvePublicKey) and isinstance(algo, hashes.HashAlgorithm):
            pub.verify(signature, data, ec.ECDSA(algo))
        elif isinstance(pub, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            pub.verify(signature, data)
        else:
            return False
    except Exception:
        return False
    return True


def _signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
        return True
    except Exception:
        return False


def _names_responder(resp: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    """Does the response's ResponderID (byName or byKey, sec. 4.2.1) name ``cert``?"""
    if resp.responder_name is not None:
        return resp.responder_name == cert.subject
    if resp.responder_key_hash is not None:
        try:
            ski = x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
        except Exception:
            return False
        return resp.responder_key_hash == ski.digest  # SHA-1 of the key (RFC 6960 4.2.1)
    return False


def _issuer_of(
    leaf: x509.Certificate, candidates: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    named = [c for c in candidates if c.subject == leaf.issuer]
    # the one that signed the leaf; by name alone when the signature uses a hash the
    # package refuses to verify (SHA-1: tls.cert.signature's finding, not this one's)
    return next((c for c in named if _signed_by(leaf, c)), named[0] if named else None)


def verify_staple(
    staple: bytes, leaf_der: bytes, candidates: Sequence[x509.Certificate]
) -> StapleCheck:
    """Check ``staple`` against the leaf; ``candidates``: the served certificates and the
    trust store's certificates named like the leaf's issuer."""
    try:
        resp = ocsp.load_der_ocsp_response(staple)
    except Exception as exc:
        return StapleCheck(problem=f"the stapled response does not parse ({type(exc).__name__})")
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return StapleCheck(problem=f"response status {resp.response_status.name.lower()}")
    try:
        leaf = x509.load_der_x509_certificate(leaf_der)
    except Exception:
        return StapleCheck(problem="the leaf certificate does not parse")
    tu, nu = resp.this_update_utc, resp.next_update_utc
    issuer = _issuer_of(leaf, candidates)
    if issuer is None:
        return StapleCheck(
            problem="the leaf's issuer is not known: cannot verify", this_update=tu, next_update=nu
        )
    single = next((r for r in resp.responses if r.serial_number == leaf.serial_number), None)
    if single is None:
        return StapleCheck(
            problem=f"the response is for another certificate (serial {resp.serial_number:x})",
            this_update=tu,
            next_update=nu,
        )
    tu, nu = single.this_update_utc, single.next_update_utc
    try:
        want = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, single.hash_algorithm)
        req = want.build()
        same = (req.issuer_key_hash, req.issuer_name_hash) == (
            single.issuer_key_hash,
            single.issuer_name_hash,
        )
    except Exception:
        same = False
    if not same:
        return StapleCheck(
            problem="the response names another issuer (CertID mismatch)",
            this_update=tu,
            next_update=nu,
        )
    scts: tuple[str, ...] = ()
    try:
        ext = resp.single_extensions.get_extension_for_class(x509.SignedCertificateTimestamps)
        scts = tuple(log_id_b64(s.log_id) for s in ext.value)[:16]
    except Exception:
        pass
    algo = resp.signature_hash_algorithm
    if _names_responder(resp, issuer):
        if _verify_sig(issuer.public_key(), resp.signature, resp.tbs_response_bytes, algo):
            return StapleCheck(signer="issuer", sct_logs=scts, this_update=tu, next_update=nu)
        return StapleCheck(
            problem="the issuer's signature does not verify",
            sct_logs=scts,
            this_update=tu,
            next_update=nu,
        )
    for cert in resp.certificates:
        if not _names_responder(resp, cert):
            continue
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            delegated = ExtendedKeyUsageOID.OCSP_SIGNING in eku
        except Exception:
            delegated = False
        who = f"delegated responder {cert.subject.rfc4514_string()[:120]}"
        if not delegated:
            return StapleCheck(
                problem=f"{who} lacks the OCSPSigning EKU", this_update=tu, next_update=nu
            )
        if not _signed_by(cert, issuer):
            return StapleCheck(
                problem=f"{who} is not signed by the leaf's issuer", this_update=tu, next_update=nu
            )
        if _verify_sig(cert.public_key(), resp.signature, resp.tbs_response_bytes, algo):
            return StapleCheck(signer=who, sct_logs=scts, this_update=tu, next_update=nu)
        return StapleCheck(
            problem=f"the signature of {who} does not verify", this_update=tu, next_update=nu
        )
    return StapleCheck(
        problem="signed by a responder that is neither the issuer nor delegated",
        this_update=tu,
        next_update=nu,
    )


@functools.lru_cache(maxsize=256)
def verify_staple_cached(
    staple: bytes, leaf_der: bytes, candidates: tuple[x509.Certificate, ...]
) -> StapleCheck:
    """:func:`verify_staple`, cached: hosts behind one certificate staple one response."""
    return verify_staple(staple, leaf_der, candidates)


__all__ = ["StapleCheck", "verify_staple", "verify_staple_cached"]
