"""Mail checks over TLS after STARTTLS (per zone, per MX address): Internet.nl's mail TLS
subtests and DANE validity.

The inputs are :class:`auditor.obs.zone.MxTls` records (auditor/probes/starttls.py): the
web TLS probe's own observation, its connections opened with EHLO + STARTTLS. The
judgement of each MX address is the web check's own function (checks/tls.py,
checks/tls_depth.py) applied to that observation, so the NCSC-NL tables and every
not_tested rule are the same for HTTPS and for SMTP; what differs for mail is said here:

- an address that limited us (a 4xx reply, auditor/probes/starttls.py) is not_tested,
  "the server limited us", never a fail;
- an address that offers no STARTTLS is mail.starttls's failure, not judged again here;
- the certificate's public trust and host name are informational (opportunistic TLS
  between mail servers verifies neither, RFC 7435 and RFC 7672 section 1.3), unless the MX
  publishes DANE-TA (usage 2) records, whose use demands the name (RFC 7672 section 3.2.3)
  and a chain that builds (RFC 7671 section 5.2.2).

A zone's verdict is the worst of its MX addresses' (fail > warn > not_tested > pass), the
evidence keeps each address's with its family. Every function is pure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from auditor.model import Category, Level, Probe, Scope, Status, Verdict
from auditor.obs import HostObservations
from auditor.obs.core import DnsAnswer, HostDns, Outcome
from auditor.obs.tls import Trust
from auditor.obs.zone import MxTls, ZoneObservations
from auditor.protocol.dane import DANE_EE, DANE_TA, Tlsa, parse_tlsa
from auditor.registry import CheckContext, check, get_check
from checks import tls as web
from checks import tls_depth as web_depth
from checks.ipv6 import mx_not_probed
from checks.mail_dns import _mx_applicable, _mx_zone, _tlsa_state, resolver_validates

LIMITED = "the server limited us"  # auditor/probes/starttls.py's words
_NEEDS = (Probe.ZONE, Probe.SMTP, Probe.MAIL_TLS)
_INTERNET_NL = "Internet.nl mail test (STARTTLS)"
_POSTFIX_TLS = (
    "Postfix: `smtpd_tls_protocols = >=TLSv1.2`, `smtpd_tls_mandatory_protocols = >=TLSv1.2`, "
    "`smtpd_tls_ciphers = high`, `tls_high_cipherlist` = the ECDHE AEAD suites, "
    "`tls_preempt_cipherlist = yes`; then `postfix reload`."
)
_EXCHANGE_TLS = (
    "Exchange: disable TLS 1.0/1.1 and the weak suites in SCHANNEL (IIS Crypto 'Best "
    "Practices' template) on every Edge/Mailbox server; reboot."
)
# statuses from better to worse, for the zone's verdict (the worst address decides)
_ORDER = (Status.PASS, Status.NOT_APPLICABLE, Status.INFO, Status.NOT_TESTED, Status.WARN)
_RANK = {s: i for i, s in enumerate(_ORDER)} | {Status.FAIL: 10, Status.ERROR: 11}

Judge = Callable[[HostObservations, CheckContext], Verdict]


def _family(address: str) -> str:
    return "v6" if ":" in address else "v4"


def _as_host(m: MxTls) -> HostObservations:
    """The MX address's observation in the shape the web checks read (port 443 there)."""
    assert m.tls is not None
    empty = DnsAnswer(m.mx, "A", Outcome.NODATA)
    return HostObservations(
        host=m.mx,
        dns=HostDns(m.mx, empty, replace(empty, rdtype="AAAA")),
        tls=(replace(m.tls, port=443),),
    )


def _worst(verdicts: Sequence[Verdict]) -> Verdict:
    return max(verdicts, key=lambda v: _RANK.get(v.status, 5))


@dataclass(frozen=True)
class _Row:
    key: str  # "mx [address]"
    address: str
    verdict: Verdict


def _addresses(obs: ZoneObservations) -> list[tuple[str, str]]:
    return [(h.name, a) for h in obs.mx_hosts for a in h.addresses]


def _judge_addresses(
    obs: ZoneObservations, ctx: CheckContext, judge: Callable[[MxTls, CheckContext], Verdict]
) -> Verdict:
    """Each MX address judged by ``judge``, folded into the zone's verdict."""
    early = _mx_applicable(obs)
    if early:
        return early
    rows: list[_Row] = []
    for mx, address in _addresses(obs):
        key = f"{mx} [{address}]"
        m = next((x for x in obs.mx_tls if x.mx == mx and x.address == address), None)
        smtp = next((p for p in obs.smtp if p.mx == mx and p.address == address), None)
        if m is None or m.outcome == Outcome.SKIPPED:
            if smtp is not None and smtp.ehlo_ok and not smtp.starttls:
                v = Verdict.not_applicable("no STARTTLS offered (see mail.starttls)")
            elif smtp is not None and smtp.outcome not in (Outcome.OK,):
                v = Verdict.not_tested(f"port 25 not reached ({smtp.outcome}: {smtp.detail})")
            else:
                v = Verdict.not_tested(
                    m.detail if m is not None else "TLS over STARTTLS was not probed"
                )
        elif m.limited:
            v = Verdict.not_tested(f"{LIMITED} ({m.limited}): not judged, never a failure")
        elif m.tls is None:
            v = Verdict.not_tested(m.detail or "no TLS observation")
        else:
            sub = CheckContext(
                target=mx, params=ctx.params, now=ctx.now, address=address, guard=ctx.guard
            )
            v = judge(m, sub)
        rows.append(_Row(key, address, v))
    return _fold(obs, rows)


def _fold(obs: ZoneObservations, rows: list[_Row]) -> Verdict:
    evidence: dict[str, Any] = {
        "mx_addresses": {
            r.key: {
                "family": _family(r.address),
                "status": str(r.verdict.status),
                "message": r.verdict.message,
                **{k: v for k, v in r.verdict.evidence.items() if k != "address"},
            }
            for r in rows
        }
    }
    judged = [r for r in rows if r.verdict.status != Status.NOT_APPLICABLE]
    if not judged:
        said = "; ".join(f"{r.key}: {r.verdict.message}" for r in rows[:4])
        return Verdict.not_applicable(f"nothing to judge on any MX address ({said})", **evidence)
    worst = _worst([r.verdict for r in judged])
    bad = [r for r in judged if r.verdict.status == worst.status]
    said = "; ".join(f"{r.key} ({_family(r.address)}): {r.verdict.message}" for r in bad[:4])
    more = f" and {len(bad) - 4} more" if len(bad) > 4 else ""
    if worst.status in (Status.PASS, Status.INFO):
        missing = mx_not_probed(obs)
        if missing:
            return Verdict.not_tested(
                f"{len(judged)} MX address(es) pass, but mail exchangers not looked at: "
                + ", ".join(missing[:5]),
                **evidence,
            )
        return Verdict(
            worst.status, f"every MX address over STARTTLS ({len(judged)}): {said}", evidence
        )
    good = sum(1 for r in judged if r.verdict.status in (Status.PASS, Status.INFO))
    score = good / len(judged) if worst.status in (Status.FAIL, Status.WARN) else None
    return Verdict(worst.status, said + more, evidence, score)


def _web(*judges: Judge) -> Callable[[MxTls, CheckContext], Verdict]:
    """One MX address judged by web checks (the worst of them)."""

    def judge(m: MxTls, ctx: CheckContext) -> Verdict:
        host = _as_host(m)
        return _worst([j(host, ctx) for j in judges])

    return judge


def _params(*web_ids: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for web_id in web_ids:
        out.update(get_check(web_id).params)
    return out


# ---------------------------------------------------------------------------------------
# mail.tls.*: the web TLS judgement per MX address


@dataclass(frozen=True)
class _Mirror:
    check_id: str
    web_ids: tuple[str, ...]
    judges: tuple[Judge, ...]
    title: str
    level: Level
    refs: tuple[str, ...]
    description: str


_MIRRORS = (
    _Mirror(
        "mail.tls.protocols",
        ("tls.protocols.legacy", "tls.protocols.modern"),
        (web.protocols_legacy, web.protocols_modern),
        "Every MX address, after STARTTLS, refuses SSL 2.0-TLS 1.1 and accepts TLS 1.2/1.3",
        Level.RECOMMENDED,
        ("RFC 8996", "RFC 3207", "RFC 8314 sec. 4.1", _INTERNET_NL + " tls_version"),
        """
Mail between servers is encrypted only as well as the weakest protocol the receiving
server accepts after STARTTLS. Each address of each MX (IPv4 and IPv6, up to 10 MX) is
asked with hand-built ClientHellos, as for web servers (tls.protocols.legacy and
tls.protocols.modern): SSL 2.0, SSL 3.0, TLS 1.0 and 1.1 must be refused and TLS 1.2 or
1.3 accepted.
""",
    ),
    _Mirror(
        "mail.tls.ciphers",
        ("tls.ciphers",),
        (web.ciphers,),
        "No insufficient cipher suite over STARTTLS (phase-out = warn)",
        Level.RECOMMENDED,
        ("NCSC-NL IT Security Guidelines for TLS (2025-05)", _INTERNET_NL + " tls_ciphers"),
        """
The NCSC-NL tables of tls.ciphers, applied to every suite each MX address accepts after
STARTTLS (RC4, 3DES, NULL, RSA key exchange, CBC-SHA1 insufficient: fail; CBC-SHA2 phase
out: warn).
""",
    ),
    _Mirror(
        "mail.tls.kex_params",
        ("tls.kex_params",),
        (web_depth.kex_params,),
        "Key-exchange groups over STARTTLS are NCSC-NL good or sufficient",
        Level.RECOMMENDED,
        ("NCSC-NL 2025-05 key-exchange table", "RFC 7919", _INTERNET_NL + " fs_params"),
        """
As tls.kex_params, per MX address after STARTTLS: the ECDHE curves and DH groups of every
handshake, and whether the server settles for a weak curve offered alone.
""",
    ),
    _Mirror(
        "mail.tls.kex_hash",
        ("tls.kex_hash",),
        (web_depth.kex_hash,),
        "The key exchange over STARTTLS is not signed with SHA-1 (or SHA-224)",
        Level.RECOMMENDED,
        ("RFC 9155", _INTERNET_NL + " kex_hash_func"),
        "As tls.kex_hash, per MX address after STARTTLS.",
    ),
    _Mirror(
        "mail.tls.cipher_order",
        ("tls.cipher_order",),
        (web_depth.cipher_order,),
        "The MX chooses the cipher suite over STARTTLS (server order, good suites first)",
        Level.RECOMMENDED,
        ("NCSC-NL 2025-05 cipher order", _INTERNET_NL + " tls_cipher_order"),
        "As tls.cipher_order, per MX address after STARTTLS.",
    ),
    _Mirror(
        "mail.tls.compression",
        ("tls.compression",),
        (web_depth.compression,),
        "TLS compression is refused over STARTTLS",
        Level.RECOMMENDED,
        ("RFC 7457 sec. 2.6", _INTERNET_NL + " tls_compression"),
        "As tls.compression (CRIME), per MX address after STARTTLS.",
    ),
    _Mirror(
        "mail.tls.renegotiation",
        ("tls.renegotiation.secure", "tls.renegotiation.client"),
        (web_depth.renegotiation_secure, web_depth.renegotiation_client),
        "Secure renegotiation supported, client-initiated renegotiation refused (STARTTLS)",
        Level.RECOMMENDED,
        ("RFC 5746", _INTERNET_NL + " renegotiation_secure / renegotiation_client"),
        "As tls.renegotiation.secure and tls.renegotiation.client, per MX address.",
    ),
    _Mirror(
        "mail.tls.ems",
        ("tls.ems",),
        (web_depth.ems,),
        "TLS 1.2 over STARTTLS uses the extended master secret (RFC 7627)",
        Level.RECOMMENDED,
        ("RFC 7627 sec. 5.1", "RFC 9325 sec. 3.5"),
        "As tls.ems, per MX address after STARTTLS.",
    ),
)


def _register_mirror(spec: _Mirror) -> None:
    judge = _web(*spec.judges)

    def run(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
        return _judge_addresses(obs, ctx, judge)

    run.__name__ = run.__qualname__ = spec.check_id.replace(".", "_")
    check(
        spec.check_id,
        title=spec.title,
        category=Category.MAIL,
        scope=Scope.ZONE,
        needs=_NEEDS,
        level_hint=spec.level,
        refs=spec.refs,
        params=_params(*spec.web_ids),
        description=spec.description,
        remediation={"general": _POSTFIX_TLS + " " + _EXCHANGE_TLS},
    )(run)


for _spec in _MIRRORS:
    _register_mirror(_spec)


# ---------------------------------------------------------------------------------------
# mail.tls.cert: key and signature strict; trust and name informational unless DANE-TA

# RFC 7671 section 5.2.2: with DANE-TA the server's chain must reach the TA; an anchor
# outside the public store is what DANE-TA is for, a broken chain is not
_BROKEN = (Trust.MISSING_INTERMEDIATE, Trust.BAD_SIGNATURE, Trust.NO_CHAIN)


def _usable_records(obs: ZoneObservations, mx: str) -> list[Tlsa] | None:
    """The MX's DNSSEC-secure usable TLSA records, None when it has none."""
    t = next((x for x in obs.tlsa if x.mx == mx), None)
    if t is None:
        return None
    state, _msg, usable = _tlsa_state(t, resolver_validates(obs), _mx_zone(obs, mx))
    if state != "secure":
        return None
    return [r for r in (parse_tlsa(u) for u in usable) if r is not None]


@check(
    "mail.tls.cert",
    title="MX certificate key and signature acceptable; trust and host name informational "
    "unless DANE-TA is published",
    category=Category.MAIL,
    scope=Scope.ZONE,
    needs=_NEEDS,
    level_hint=Level.RECOMMENDED,
    refs=(
        "NCSC-NL 2025-05 certificate table",
        "RFC 7672 sections 1.3, 3.2.3",
        "RFC 7671 section 5.2.2",
        _INTERNET_NL + " cert_pubkey / cert_signature / cert_trust / cert_domain",
    ),
    params=_params("tls.cert.key"),
    description="""
The certificate each MX address presents after STARTTLS: its key (RSA >= 2048 bits, EC
>= 256) and signature hash (no SHA-1, MD5) are judged as for web servers (tls.cert.key,
tls.cert.signature). Whether it builds to a public root and names the MX are informational
for mail, as Internet.nl has it: sending servers encrypt opportunistically and verify
neither (RFC 7672 section 1.3), unless the MX publishes DANE-TA (usage 2) TLSA records;
then the name must match (RFC 7672 section 3.2.3) and the chain must build (RFC 7671
section 5.2.2), and failing either fails.
""",
    remediation={
        "general": "Postfix: `smtpd_tls_chain_files = /etc/postfix/key.pem, "
        "/etc/postfix/fullchain.pem` with an RSA-2048+ or ECDSA P-256 key signed with SHA-256; "
        "a certificate naming the MX host (Let's Encrypt works) when DANE-TA is used.",
    },
)
def mail_tls_cert(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    def judge(m: MxTls, sub: CheckContext) -> Verdict:
        host = _as_host(m)
        strict = _worst([web.cert_key(host, sub), web.cert_signature(host, sub)])
        trusted = web.cert_trusted(host, sub)
        named = web.cert_hostname(host, sub)
        records = _usable_records(obs, m.mx) or []
        dane_ta = any(r.usage == DANE_TA for r in records)
        ev: dict[str, Any] = {
            **strict.evidence,
            "trust": {"status": str(trusted.status), "message": trusted.message},
            "hostname": {"status": str(named.status), "message": named.message},
            "dane_ta": dane_ta,
        }
        if strict.status not in (Status.PASS, Status.INFO):
            return Verdict(strict.status, strict.message, ev, strict.score)
        if dane_ta:
            assert m.tls is not None
            problems = []
            if named.status == Status.FAIL:
                problems.append(named.message + " (DANE-TA: RFC 7672 section 3.2.3)")
            if m.tls.trust in _BROKEN:
                problems.append(
                    f"the chain does not build: {m.tls.trust_detail} (DANE-TA: RFC 7671 "
                    "section 5.2.2)"
                )
            if problems:
                return Verdict.failed("; ".join(problems), **ev)
        notes = [
            v.message
            for v in (trusted, named)
            if v.status not in (Status.PASS, Status.NOT_APPLICABLE)
        ]
        info = f" (informational: {'; '.join(notes)})" if notes and not dane_ta else ""
        return Verdict(Status.PASS, f"key and signature acceptable{info}", ev)

    return _judge_addresses(obs, ctx, judge)


# ---------------------------------------------------------------------------------------
# mail.dane.valid: the presented chain against every TLSA record (RFC 6698, 7671, 7672)


def _selected(cert: x509.Certificate, der: bytes, selector: int) -> bytes:
    """RFC 6698 section 2.1.2: 0 = the full certificate (DER), 1 = SubjectPublicKeyInfo."""
    if selector == 0:
        return der
    return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _matches(rec: Tlsa, cert: x509.Certificate, der: bytes) -> bool:
    """RFC 6698 section 2.1.3: 0 = exact, 1 = SHA-256, 2 = SHA-512 of the selected data."""
    data = _selected(cert, der, rec.selector)
    if rec.mtype == 1:
        data = hashlib.sha256(data).digest()
    elif rec.mtype == 2:
        data = hashlib.sha512(data).digest()
    return data == rec.data


def _issued_path(certs: Sequence[x509.Certificate], top: int) -> bool:
    """Does each certificate from the leaf up to ``certs[top]`` verify with the next one's
    key (RFC 7671 section 5.2: DANE-TA anchors the chain, dates and names aside)?"""
    for i in range(top):
        try:
            certs[i].verify_directly_issued_by(certs[i + 1])
        except Exception:
            return False
    return True


def dane_match(records: Sequence[Tlsa], ders: Sequence[bytes]) -> list[dict[str, Any]]:
    """Each record with what it matched in the chain (leaf first): usage 3 the leaf only
    (RFC 7672 section 3.1.1; names and dates ignored), usage 2 a certificate above the
    leaf the chain verifies up to (RFC 7672 section 3.1.2, RFC 7671 section 5.2)."""
    certs: list[x509.Certificate] = []
    for der in ders:
        try:
            certs.append(x509.load_der_x509_certificate(der))
        except ValueError:
            break  # the chain is judged as far as it parses
    out = []
    for rec in records:
        hit = ""
        if rec.usage == DANE_EE and certs and _matches(rec, certs[0], ders[0]):
            hit = "the leaf certificate"
        elif rec.usage == DANE_TA:
            for i in range(1, len(certs)):
                if _matches(rec, certs[i], ders[i]) and _issued_path(certs, i):
                    hit = f"chain certificate {i} ({certs[i].subject.rfc4514_string()[:80]})"
                    break
        out.append({"record": rec.text[:80], "kind": rec.kind, "matched": hit})
    return out


@check(
    "mail.dane.valid",
    title="The certificate each MX presents matches one of its DANE TLSA records",
    category=Category.MAIL,
    scope=Scope.ZONE,
    needs=_NEEDS,
    level_hint=Level.RECOMMENDED,
    refs=(
        "RFC 6698 section 2.1",
        "RFC 7671 section 5",
        "RFC 7672 section 3",
        "Internet.nl dane_valid",
    ),
    description="""
DANE only protects mail if the published TLSA records describe the certificate the server
actually presents: a mismatch makes every DANE-validating sender (Postfix, Exim, Microsoft
365) defer mail to the agency. The chain each MX address presents after STARTTLS is
compared with every usable TLSA record of its MX: DANE-EE (3) against the leaf, DANE-TA (2)
against a certificate above it that the chain verifies up to; selector 0 (certificate) or
1 (public key), matching type 0 (exact), 1 (SHA-256) or 2 (SHA-512). At least one record
must match on every address. MX without DNSSEC-secure TLSA are mail.dane.exists's to judge.
""",
    remediation={
        "dns": "Publish the record of the key in service: `openssl x509 -in cert.pem -noout "
        "-pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256` gives the data "
        "of `3 1 1`; update TLSA before the certificate changes (see mail.dane.rollover).",
        "general": "Every MX address must present the same key (check each IPv4 and IPv6 "
        "listener: `openssl s_client -starttls smtp -connect [<ipv6>]:25 -dane_tlsa_domain "
        "<mx> -dane_tlsa_rrdata '3 1 1 <hex>'`).",
    },
)
def mail_dane_valid(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    def judge(m: MxTls, sub: CheckContext) -> Verdict:
        records = _usable_records(obs, m.mx)
        if records is None:
            return Verdict.not_applicable(
                f"{m.mx} has no DNSSEC-secure usable TLSA (see mail.dane.exists)"
            )
        try:
            ders = [base64.b64decode(c, validate=True) for c in m.chain_der]
        except (binascii.Error, ValueError):
            return Verdict.not_tested("the stored chain does not decode")
        if not ders:
            return Verdict.not_tested("no certificate was read after STARTTLS")
        rows = dane_match(records, ders)
        hits = [r for r in rows if r["matched"]]
        ev: dict[str, Any] = {"tlsa": rows}
        if hits:
            return Verdict.passed(
                f"{len(hits)} of {len(rows)} TLSA record(s) match ({hits[0]['kind']}: "
                f"{hits[0]['matched']})",
                **ev,
            )
        return Verdict.failed(
            f"none of the {len(rows)} TLSA record(s) matches the presented chain "
            f"({', '.join(r['kind'] for r in rows)}; RFC 6698 section 2.1)",
            **ev,
        )

    return _judge_addresses(obs, ctx, judge)


__all__ = ["dane_match", "mail_dane_valid", "mail_tls_cert"]
