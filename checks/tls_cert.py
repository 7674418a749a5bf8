"""Certificate depth checks (issue #19), per address: the whole served chain and
Certificate Transparency. The OCSP staple's verification deepens tls.ocsp_stapling
(checks/tls.py).

Inputs: :class:`auditor.obs.tls.TlsObservation` fields added for issue #19 (chain_policy*,
sct_*) and the CertInfo of every served certificate (eku, sct_logs). The RFC 5280
validation itself (EKU, name constraints, depth) ran in the probe with the cryptography
package (auditor/probes/tls_chain.py); key sizes, signature hashes and intermediate dates
are judged here, from CertInfo, so that a changed threshold re-evaluates a stored scan.
"""

from __future__ import annotations

from typing import Any

from auditor.model import Category, Level, Scope, Verdict
from auditor.obs import HostObservations
from auditor.obs.tls import CertInfo, ChainPolicy, Trust
from auditor.registry import CheckContext, check
from checks.tls import _REFS_NCSC, _TLS_NEEDS, _names, _no_chain, _obs_for, _validity

# Signature hashes that fail: collisions are practical (MD5 2008, SHA-1 2017/2020); CA/B
# BR 7.1.3.2 forbids them; NCSC-NL 2025-05 table B3 (hash functions) "insufficient".
_BAD_HASHES = ("md2", "md4", "md5", "sha1")
# SHA-224: NCSC-NL 2025-05 table B3 "phase out"; not in CA/B BR 7.1.3.2's allowed list.
_PHASE_OUT_HASHES = ("sha224",)

_CHAIN_REMEDIATION = {
    "general": "Serve the chain the CA publishes today: leaf first, then its current "
    "intermediate(s), no root, no old cross-signs. A CA certificate with RSA-1024, SHA-1, an "
    "EKU without serverAuth or name constraints that exclude the host cannot be fixed on the "
    "server: have the certificate reissued under the CA's current hierarchy.",
    "nginx": "`ssl_certificate /etc/ssl/fullchain.pem;` with exactly leaf + current "
    "intermediates (`openssl crl2pkcs7 -nocrl -certfile fullchain.pem | openssl pkcs7 "
    "-print_certs -noout` lists them); reload.",
    "apache": "`SSLCertificateFile` with leaf + current intermediates (Apache >= 2.4.8), no "
    "`SSLCertificateChainFile` pointing at an old bundle; reload.",
    "iis": "certlm.msc: remove expired or SHA-1 intermediates from 'Intermediate "
    "Certification Authorities', import the CA's current intermediate, re-select the "
    "certificate in every https binding (IPv6 too); IIS sends what it builds from that store.",
}


def _key_problem(c: CertInfo, rsa_min: int, ec_min: int) -> str | None:
    if c.key_type == "RSA" and c.key_bits < rsa_min:  # CA/B BR 6.1.5; NCSC-NL B3: < 2048
        return f"RSA-{c.key_bits} key"
    if c.key_type == "EC" and c.key_bits < ec_min:  # NCSC-NL B3: P-256 and up
        return f"EC-{c.key_bits} key"
    if c.key_type in ("RSA", "EC", "Ed25519", "Ed448"):
        return None
    return f"{c.key_type or 'unknown'} key (not an accepted type)"  # DSA: CA/B BR 6.1.5 no


@check(
    "tls.cert.chain",
    title="Every served certificate but the root is sound (key, signature, dates, EKU, "
    "name constraints)",
    category=Category.TLS,
    scope=Scope.ADDRESS,
    needs=_TLS_NEEDS,
    level_hint=Level.MANDATORY,
    refs=(
        "RFC 5280 sec. 6 (path validation), 4.2.1.10 (name constraints), 4.2.1.12 (EKU)",
        "CA/B Forum Baseline Requirements 6.1.5, 7.1.2, 7.1.3.2",
        _REFS_NCSC + ", B3 (certificates)",
    ),
    params={"rsa_min": 2048, "ec_min": 256},
    description="""
A browser validates the whole chain, not only the site's own certificate: an intermediate
with a 1024-bit RSA key or a SHA-1 signature, an expired intermediate, a certificate whose
extended key usage does not allow TLS servers, or a CA whose name constraints exclude the
portal's name each make the browser refuse the site, however good the leaf is. The chain is
validated per RFC 5280 against the trust store (the root itself is trusted as such and not
judged). A server that sends an absurdly long chain (more than 16 certificates) cannot be
validated by clients and fails too.
""",
    remediation=_CHAIN_REMEDIATION,
)
def cert_chain(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _obs_for(obs, ctx)
    if isinstance(t, Verdict):
        return t
    if not t.chain:
        return _no_chain(t)
    rsa_min = int(ctx.params.get("rsa_min", 2048))
    ec_min = int(ctx.params.get("ec_min", 256))
    fails: list[str] = []
    warns: list[str] = []
    unread: list[str] = []
    certs: list[dict[str, Any]] = []
    for i, c in enumerate(t.chain):
        if c.parse_error:
            unread.append(f"certificate {i + 1}: {c.parse_error}")
            continue
        root = i > 0 and c.self_signed
        role = "leaf" if i == 0 else "root" if root else "intermediate"
        certs.append(
            {
                "role": role,
                "subject": c.subject,
                "key": f"{c.key_type}-{c.key_bits}" if c.key_bits else c.key_type,
                "signature": c.sig_hash or c.sig_algorithm,
                "not_after": c.not_after.isoformat() if c.not_after else None,
                "eku": list(c.eku) if c.has_eku else None,
            }
        )
        if root:
            continue  # the anchor is trusted as such: its key and self-signature count not
        who = f"{role} {c.subject}"
        key = _key_problem(c, rsa_min, ec_min)
        if key:
            fails.append(f"{who}: {key}")
        if c.sig_hash in _BAD_HASHES:
            fails.append(f"{who}: {c.sig_hash.upper()} signature")
        elif c.sig_hash in _PHASE_OUT_HASHES:
            warns.append(f"{who}: {c.sig_hash.upper()} signature (phase-out)")
        if i > 0:
            why = _validity(c, ctx.now)
            if why:
                fails.append(f"{who} {why}")
    leaf = t.chain[0]
    if not leaf.parse_error:
        # CA/B BR 7.1.2.7.10: a subscriber certificate carries EKU serverAuth. RFC 5280
        # 4.2.1.12 lets an absent EKU mean "any" (browsers accept it): warn, not fail.
        if leaf.has_eku and not {"serverAuth", "anyExtendedKeyUsage"} & set(leaf.eku):
            fails.append(f"leaf EKU {', '.join(leaf.eku) or '(empty)'} excludes serverAuth")
        elif not leaf.has_eku:
            warns.append("leaf has no extendedKeyUsage (CA/B BR asks for serverAuth)")
    ev: dict[str, Any] = {
        "address": t.address,
        "certificates": certs,
        "validation": t.chain_policy,
        "validation_kind": t.chain_policy_kind,
    }
    kind = t.chain_policy_kind if t.chain_checked else ""
    if t.chain_truncated or kind == ChainPolicy.DEPTH:
        fails.append(
            f"chain too long to validate ({len(t.chain)}+ certificates served)"
            if t.chain_truncated
            else f"chain too long to validate: {t.chain_policy}"
        )
    elif kind == ChainPolicy.EKU:
        fails.append(f"extended key usage does not allow a TLS server: {t.chain_policy}")
    elif kind == ChainPolicy.NAME_CONSTRAINTS:
        fails.append(f"a CA's name constraints exclude the certificate: {t.chain_policy}")
    if fails:
        return Verdict.failed(f"chain served on {t.address}: {_names(fails, 4)}", **ev)
    if unread:
        return Verdict.not_tested(
            f"part of the chain on {t.address} could not be read: {'; '.join(unread)}", **ev
        )
    if not t.chain_checked:
        return Verdict.not_tested(
            f"the chain on {t.address} was not validated (observation without RFC 5280 "
            f"validation{': ' + t.chain_policy if t.chain_policy else ''})",
            **ev,
        )
    if kind == ChainPolicy.PATH and t.trust != Trust.TRUSTED:
        return Verdict.not_tested(
            f"no trusted path on {t.address} to validate EKU and name constraints against "
            f"(see tls.cert.trusted: {t.trust or 'not judged'})",
            **ev,
        )
    if kind in (ChainPolicy.PATH, ChainPolicy.ALGORITHM, ChainPolicy.OTHER):
        # the lenient path of tls.cert.trusted builds, the strict RFC 5280 / CA/B profile
        # validation does not: a real client may refuse it too, but the rule is not one of
        # the above (warn, with the validator's reason)
        warns.append(f"RFC 5280 validation refuses the chain: {t.chain_policy}")
    if warns:
        return Verdict.warn(f"chain served on {t.address}: {_names(warns, 4)}", score=0.5, **ev)
    return Verdict.passed(
        f"chain on {t.address} validates (RFC 5280, EKU serverAuth, name constraints); "
        f"{len(certs)} certificate(s) checked",
        **ev,
    )


# ---------------------------------------------------------------------------------------
# tls.cert.sct


@check(
    "tls.cert.sct",
    title="Certificate Transparency: SCTs are delivered (certificate, TLS or OCSP)",
    category=Category.TLS,
    scope=Scope.ADDRESS,
    needs=_TLS_NEEDS,
    level_hint=Level.INFORMATIONAL,
    scored=False,
    refs=("RFC 6962 sec. 3.3", "Chrome and Apple Certificate Transparency policies"),
    description="""
Certificate Transparency logs publish every certificate a public CA issues, so an agency
can find certificates issued for its names without its knowledge. Browsers require proof
of logging (signed certificate timestamps, SCTs) for publicly trusted certificates; it is
normally embedded by the CA, and can also come in the TLS handshake or in the stapled OCSP
response. The count and the logs are shown; informational, not scored (a private CA's
certificate has none, by design).
""",
    remediation={
        "general": "Publicly trusted CAs embed SCTs automatically; a certificate without any "
        "is from a private CA or was issued before 2018: replace it with a current public "
        "one.",
        "nginx": "Nothing to configure for embedded SCTs (stock nginx cannot send SCTs in the "
        "handshake; the third-party nginx-ct module can).",
        "apache": "Nothing to configure for embedded SCTs (mod_ssl_ct sends them in the "
        "handshake if wanted).",
        "iis": "Nothing to configure: Windows serves the certificate as issued, with its "
        "embedded SCTs.",
    },
)
def cert_sct(obs: HostObservations, ctx: CheckContext) -> Verdict:
    t = _obs_for(obs, ctx)
    if isinstance(t, Verdict):
        return t
    leaf = t.chain[0] if t.chain else None
    if leaf is None:
        return _no_chain(t)
    sources = {
        "certificate": list(leaf.sct_logs),
        "tls_extension": list(t.sct_tls),
        "ocsp": list(t.sct_ocsp),
    }
    logs = sorted({lid for ids in sources.values() for lid in ids})
    ev: dict[str, Any] = {"address": t.address, "count": len(logs), "logs": logs, **sources}
    if logs:
        where = ", ".join(f"{len(v)} in the {k.replace('_', ' ')}" for k, v in sources.items() if v)
        return Verdict.passed(
            f"{len(logs)} SCT log(s) on {t.address} ({where}): {_names(logs, 3)}", **ev
        )
    if not t.sct_checked:
        return Verdict.not_tested(
            f"the handshake on {t.address} was not asked for SCTs (older observation) and "
            "the certificate embeds none",
            **ev,
        )
    return Verdict.info(f"no SCT on {t.address}: none embedded, none in TLS or OCSP", **ev)
