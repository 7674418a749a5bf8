"""Mail checks over DNS data (per zone): DANE TLSA existence and rollover, DKIM's
_domainkey node, and the DNSSEC status of the MX targets' zones (Internet.nl's mail test:
dane_exists, dane_rollover, dkim, dnssec_mx)."""

from __future__ import annotations

from typing import Any

from auditor.model import Category, Level, Probe, Scope, Verdict
from auditor.obs.core import Outcome
from auditor.obs.zone import Dnssec, DnssecStatus, TlsaLookup, ZoneObservations
from auditor.protocol.dane import parse_tlsa, rollover_scheme, unusable_reason
from auditor.protocol.dmarc import RFC7489, RFC9989, dmarc_policy, dmarc_records, parse_dmarc
from auditor.protocol.spf import spf_records
from auditor.protocol.txt import txt_texts
from auditor.registry import CheckContext, check
from checks.ipv6 import is_null_mx, mx_not_probed

_LOOKUP_FAILED = (
    Outcome.SERVFAIL,
    Outcome.TIMEOUT,
    Outcome.DNS_REFUSED,
    Outcome.ERROR,
    Outcome.REFUSED,
)


def _mx_applicable(obs: ZoneObservations) -> Verdict | None:
    """n/a for no MX and null MX (RFC 7505), not_tested when the MX is unknown."""
    mx = obs.mx
    if mx is None:
        return Verdict.not_tested("MX not looked up")
    if mx.outcome in (Outcome.NXDOMAIN, Outcome.NODATA):
        return Verdict.not_applicable("no MX record: the domain does not receive mail")
    if mx.outcome != Outcome.OK:
        return Verdict.not_tested(f"MX lookup failed: {mx.outcome} {mx.detail}".strip())
    if is_null_mx(mx.records):
        return Verdict.not_applicable("null MX (RFC 7505): the domain accepts no mail")
    if not obs.mx_hosts:
        return Verdict.not_tested("MX host names could not be read")
    return None


def resolver_validates(obs: ZoneObservations) -> bool:
    """Is the scanner's resolver known to validate? It set AD, or refused bogus data, for
    some answer of this zone's scan (the zone apex, an MX zone, a TLSA RRset)."""
    statuses = [obs.dnssec, *obs.mx_dnssec] if obs.dnssec else list(obs.mx_dnssec)
    if any(s.method == "resolver" and s.status in (Dnssec.SECURE, Dnssec.BOGUS) for s in statuses):
        return True
    return any(t.authenticated or t.bogus for t in obs.tlsa)


def _tlsa_state(
    t: TlsaLookup, validates: bool, mx_zone: DnssecStatus | None = None
) -> tuple[str, str, list[str]]:
    """(state, message, usable records) of one MX: state secure / insecure / bogus /
    none (securely denied or only unusable records) / unknown. ``mx_zone``: the DNSSEC
    status of the zone holding the MX (dns.dnssec.mx's observation).

    A CNAME at ``_25._tcp.<mx>`` is followed by the resolver (RFC 7671 section 7: the
    TLSA records may sit at an alias's target, e.g. a provider's name); the answer's AD
    bit then covers every step of the chain and the records at its end (RFC 4035 section
    3.2.3), so a chain with one insecure step is insecure as a whole and its records are
    not usable (RFC 7672 section 2.2.3: only DNSSEC-secure TLSA records count)."""
    if t.cname_chain:
        chain = " -> ".join(t.cname_chain)
        via = f" (CNAME -> {chain})"
        insecure_chain = (
            f"{t.qname}: TLSA behind the CNAME chain -> {chain}, not DNSSEC-secure at every "
            "step (RFC 7671 section 7, RFC 7672 section 2.2.3): not usable"
        )
    else:
        via, insecure_chain = "", ""
    if t.base:
        # RFC 7672 section 2.2.3: the MX's address records came over a secure CNAME chain,
        # so its TLSA records are looked for at the expanded name first
        via += f" (TLSA base domain {t.base}: the MX's secure CNAME expansion, RFC 7672 2.2.3)"
    if t.tried:
        via += f" (after {'; '.join(t.tried)})"
    if t.bogus:
        return "bogus", f"{t.qname}: bogus (DNSSEC validation fails): {t.detail}", []
    if t.outcome in _LOOKUP_FAILED:
        return "unknown", f"{t.qname}: lookup failed ({t.outcome} {t.detail})".strip(), []
    if t.truncated:
        return "unknown", f"{t.qname}: more records than kept, not judged", []
    if not t.authenticated and mx_zone is not None and mx_zone.status == Dnssec.INSECURE:
        # no DS above the MX's zone (a fact of the parent, whether or not the resolver
        # validates): nothing in it can be DNSSEC-secure (RFC 7672 2.2: no DANE)
        what = "TLSA published but not DNSSEC-secure" if t.records else "no TLSA, and the "
        what += "" if t.records else "denial is not signed"
        return "insecure", f"{t.qname}: {what} (the MX zone: {mx_zone.detail})", []
    if not t.authenticated and not validates:
        return "unknown", f"{t.qname}: the resolver does not validate (no AD bit seen)", []
    if t.outcome in (Outcome.NXDOMAIN, Outcome.NODATA):
        if not t.authenticated:
            # RFC 7672 2.2.2: an insecure denial means the MX has no DANE
            return "insecure", f"{t.qname}{via}: no TLSA, and the denial is not signed", []
        return "none", f"{t.qname}{via}: no TLSA record (securely denied)", []
    if not t.authenticated:
        if insecure_chain:
            return "insecure", insecure_chain, []
        return "insecure", f"{t.qname}: TLSA published but not DNSSEC-secure (ignored)", []
    usable: list[str] = []
    reasons: list[str] = []
    for text in t.records:
        rec = parse_tlsa(text)
        if rec is None:
            reasons.append(f"{text[:40]!r} does not parse")
            continue
        why = unusable_reason(rec)
        if why:
            reasons.append(f"{rec.kind}: {why}")
        else:
            usable.append(text)
    if not usable:
        return "none", f"{t.qname}{via}: no usable TLSA record ({'; '.join(reasons)})", []
    return "secure", f"{t.qname}{via}: {len(usable)} usable TLSA record(s)", usable


def _mx_zone(obs: ZoneObservations, mx: str) -> DnssecStatus | None:
    return next((s for s in obs.mx_dnssec if s.name == mx), None)


@check(
    "mail.dane.exists",
    title="Every mail exchanger publishes DNSSEC-secure TLSA records (DANE)",
    category=Category.MAIL,
    scope=Scope.ZONE,
    needs=(Probe.ZONE,),
    level_hint=Level.RECOMMENDED,
    refs=("RFC 7672", "RFC 6698", "RFC 7671", "Internet.nl dane_exists"),
    description="""
STARTTLS alone can be stripped or answered with any certificate by an attacker between
two mail servers. DANE (RFC 7672) lets the agency publish, in its DNSSEC-signed zone, the
certificate (or its issuer) its mail servers use, at _25._tcp.<mx> as TLSA records;
sending servers that validate DNSSEC then insist on TLS with that certificate. Each MX
(up to 10) must have at least one usable TLSA record (usage 2 DANE-TA or 3 DANE-EE) whose
answer validates. No TLSA, a TLSA in an unsigned zone (insecure) or one that fails
validation (bogus) fails; a lookup the scanner's resolver could not answer (SERVFAIL
without bogus data, timeout) is not tested. A CNAME at _25._tcp.<mx> is followed (RFC
7671 section 7: the records may sit at an alias's target, e.g. a provider's name): the
records at its end are usable only when every step of the chain is DNSSEC-secure; one
insecure step (a target in an unsigned zone) makes them unusable (RFC 7672 section
2.2.3), a fail. When the MX host name is itself an alias whose address records come
over a DNSSEC-secure CNAME chain, the TLSA records are looked for at the expanded name
first and at the MX name when the expanded name securely has none (RFC 7672 section
2.2.3, RFC 7671 section 7). The certificate match itself is judged by mail.dane.valid.
""",
    remediation={
        "dns": "Sign the MX host's zone (DNSSEC, DS at the parent), then publish "
        "`_25._tcp.mx.example.gov.vn. IN TLSA 3 1 1 <SHA-256 of the server's public key>` "
        "(`openssl x509 -in cert.pem -noout -pubkey | openssl pkey -pubin -outform DER | "
        "openssl dgst -sha256`), or `2 1 1` of the issuing CA's key. Publish the next key's "
        "record before each certificate change (see mail.dane.rollover).",
        "general": "Postfix: `smtp_dns_support_level = dnssec` and `smtp_tls_security_level "
        "= dane` to use DANE for outgoing mail; for incoming mail only the DNS records are "
        "needed. Exchange Online supports inbound DANE with DNSSEC (Microsoft 365 admin).",
    },
)
def mail_dane_exists(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    early = _mx_applicable(obs)
    if early:
        return early
    validates = resolver_validates(obs)
    rows: dict[str, Any] = {}
    bad: list[str] = []
    unknown: list[str] = []
    good = 0
    for host in obs.mx_hosts:
        t = next((x for x in obs.tlsa if x.mx == host.name), None)
        if t is None:
            rows[host.name] = {"state": "not looked up"}
            unknown.append(f"{host.name}: TLSA not looked up")
            continue
        state, message, usable = _tlsa_state(t, validates, _mx_zone(obs, host.name))
        rows[host.name] = {
            "qname": t.qname,
            "state": state,
            "outcome": t.outcome,
            "ad": t.authenticated,
            "records": list(t.records),
            **({"usable": usable} if usable else {}),
            **({"cname_chain": list(t.cname_chain)} if t.cname_chain else {}),
            **({"base": t.base} if t.base else {}),
            **({"tried": list(t.tried)} if t.tried else {}),
            **({"message": message} if t.cname_chain or t.base or t.tried else {}),
        }
        if state == "secure":
            good += 1
        elif state == "unknown":
            unknown.append(message)
        else:
            bad.append(message)
    evidence: dict[str, Any] = {"mx": rows, "resolver_validates": validates, "rfc": "RFC 7672"}
    total = len(obs.mx_hosts)
    if bad:
        return Verdict.failed(
            "no DNSSEC-secure usable TLSA for: " + "; ".join(bad[:5]),
            score=good / total if total else 0.0,
            **evidence,
        )
    if unknown:
        return Verdict.not_tested("; ".join(unknown[:5]), **evidence)
    missing = mx_not_probed(obs)
    if missing:
        return Verdict.not_tested(
            f"DANE for {good} MX, but mail exchangers not looked at: " + ", ".join(missing[:5]),
            **evidence,
        )
    return Verdict.passed(f"DNSSEC-secure usable TLSA for every MX ({good})", **evidence)


@check(
    "mail.dane.rollover",
    title="DANE records allow a certificate rollover (two TLSA records per MX)",
    category=Category.MAIL,
    scope=Scope.ZONE,
    needs=(Probe.ZONE,),
    level_hint=Level.INFORMATIONAL,
    refs=("RFC 7671 section 8.1", "RFC 7672 section 3.1.1", "Internet.nl dane_rollover"),
    description="""
Informational. With a single TLSA record, replacing the mail server's certificate breaks
delivery from every DANE sender until the DNS catches up. Publishing two records, the
current and the next key (3xx + 3xx) or the current key and its issuing CA (3xx + 2xx),
lets the certificate change without an outage.
""",
    remediation={
        "dns": "Publish the next key's record beside the current one, e.g. `_25._tcp.mx IN "
        "TLSA 3 1 1 <current>` and `3 1 1 <next>`, or add `2 1 1 <issuing CA key>`; remove "
        "the old record only after the new certificate is in service and the TTL passed.",
    },
)
def mail_dane_rollover(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    early = _mx_applicable(obs)
    if early:
        return early
    validates = resolver_validates(obs)
    rows: dict[str, Any] = {}
    without: list[str] = []
    with_dane = 0
    for host in obs.mx_hosts:
        t = next((x for x in obs.tlsa if x.mx == host.name), None)
        if t is None:
            continue
        state, _message, usable = _tlsa_state(t, validates, _mx_zone(obs, host.name))
        if state != "secure":
            continue
        with_dane += 1
        recs = [r for r in (parse_tlsa(u) for u in usable) if r is not None]
        scheme = rollover_scheme(recs)
        rows[host.name] = {"records": [r.kind for r in recs], "scheme": scheme}
        if scheme is None:
            without.append(f"{host.name} ({', '.join(r.kind for r in recs)})")
    if not with_dane:
        return Verdict.not_applicable("no MX with DNSSEC-secure TLSA records to roll over")
    if without:
        # a warning, never a failure: the check is informational (Internet.nl scores it not)
        return Verdict.warn(
            "no rollover scheme (two records, 3xx+3xx or 3xx+2xx) for: " + ", ".join(without),
            mx=rows,
        )
    return Verdict.passed(f"a rollover scheme for every MX with DANE ({with_dane})", mx=rows)


def _enforced_reject(record: str, via_org: bool) -> str | None:
    """Why the DMARC record does not make every receiver reject the domain's unauthenticated
    mail (None: it does). Both readings must agree, the RFC 7489 one (pct= applies there:
    pct=50 rejects half, the rest is quarantined, RFC 7489 section 6.6.4) and the DMARC
    revision's (RFC 9989: t=y asks receivers not to apply the policy, section 4.7), so a
    record that only tests its policy is never taken for a non-sending domain's. A
    malformed pct= or t= is read as each RFC's receivers read it (the default, pct=100 /
    t=n: RFC 7489 section 6.3)."""
    parsed = parse_dmarc(record)
    for rfc in (RFC7489, RFC9989):
        pol = dmarc_policy(parsed, rfc)
        effective = pol.sp if via_org else pol.p
        what = "sp" if via_org else "p"
        if not pol.applies or pol.problems:
            return f"DMARC policy not usable ({rfc}: {'; '.join(pol.problems)[:120]})"
        if effective != "reject":
            return f"DMARC {what}={effective}, not reject"
        if rfc == RFC7489 and pol.pct != 100:
            return f"DMARC pct={pol.pct}: the policy applies to part of the mail only"
        if rfc == RFC9989 and pol.testing:
            return f"DMARC t=y: the policy is in test mode ({RFC9989}), not applied"
    return None


def non_sending(obs: ZoneObservations) -> str | None:
    """Why the domain sends no mail: SPF "v=spf1 -all" (nothing authorised) and a DMARC
    policy every receiver enforces on all of its mail: p=reject (sp=reject when the
    organisational domain's record applies), pct=100 or no pct, and no t=y (Internet.nl's
    rule for skipping DKIM, with the DMARC revision's test flag: a domain that only tests
    a reject policy, or applies it to a share of its mail, may well send mail)."""
    return _sending_state(obs)[0]


def _sending_state(obs: ZoneObservations) -> tuple[str | None, str | None]:
    """(why the domain sends no mail, or None; why SPF -all alone does not make it a
    non-sending domain, or None)."""
    if obs.spf is None:
        return None, None
    records = spf_records(txt_texts(obs.spf.records))
    if len(records) != 1 or records[0].lower().split() != ["v=spf1", "-all"]:
        return None, None
    for answer in (obs.dmarc, obs.dmarc_org):
        recs = dmarc_records(txt_texts(answer.records)) if answer is not None else []
        if len(recs) == 1:
            via_org = answer is obs.dmarc_org
            why_not = _enforced_reject(recs[0], via_org)
            if why_not is not None:
                return None, f"SPF '{records[0]}', but {why_not}"
            what = "sp=reject (organisational domain)" if via_org else "p=reject"
            return (
                f"SPF '{records[0]}' and DMARC {what}, applied to all mail (pct=100, no "
                "t=y): the domain sends no mail"
            ), None
    return None, f"SPF '{records[0]}', but no DMARC record"


_EXISTS = (Outcome.OK, Outcome.NODATA)


@check(
    "mail.dkim",
    title="DKIM keys are published (_domainkey exists)",
    category=Category.MAIL,
    scope=Scope.ZONE,
    needs=(Probe.ZONE,),
    level_hint=Level.RECOMMENDED,
    refs=("RFC 6376", "RFC 8020", "Internet.nl dkim"),
    description="""
DKIM signs outgoing mail so receivers can tell the agency's mail from forgeries; DMARC
relies on it when mail is forwarded (SPF breaks on forwarding). Selectors are not
discoverable, so the test asks for the node that holds them, _domainkey.<domain>: a
NOERROR answer means keys exist beneath it, NXDOMAIN that none exist (RFC 8020). Not
applicable to a domain that sends no mail: SPF `v=spf1 -all` and a DMARC p=reject that
every receiver applies to all of its mail (pct=100 or no pct, and not t=y, the DMARC
revision's test mode; sp=reject when the organisational domain's record is used). Some
name servers wrongly answer NXDOMAIN for an empty node with names below it (against RFC
8020), which would be a false failure: the node is asked of the resolver and of each name
server directly, and answers that disagree, or a SERVFAIL, are not tested.
""",
    remediation={
        "dns": "Publish the public key of every selector your mail system signs with, e.g. "
        '`sel1._domainkey IN TXT "v=DKIM1; k=rsa; p=<base64 key>"` (RSA 2048 bits or '
        "Ed25519). If keys exist but this check fails, your name servers answer NXDOMAIN "
        "for _domainkey itself: upgrade them to follow RFC 8020.",
        "general": "Postfix: OpenDKIM or rspamd signing; Exchange Online: enable DKIM in the "
        "Defender portal and publish the two selector CNAMEs. A domain that sends no mail: "
        'publish `"v=spf1 -all"` and `v=DMARC1; p=reject` instead.',
    },
)
def mail_dkim(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    why_not, sends = _sending_state(obs)
    if why_not:
        return Verdict.not_applicable(why_not)
    dk = obs.dkim
    if dk is None:
        return Verdict.not_tested("_domainkey not looked up")
    answer = dk.answer
    rows = {
        f"{q.ns} [{q.address}]": {"outcome": q.outcome, "rcode": q.rcode, "aa": q.aa}
        for q in dk.authoritative
    }
    evidence: dict[str, Any] = {
        "qname": answer.qname,
        "resolver": answer.outcome,
        "authoritative": rows,
        "rfc": "RFC 8020",
        # SPF -all alone: why the DMARC record does not make it a non-sending domain
        **({"judged_because": sends} if sends else {}),
    }
    if answer.outcome not in (*_EXISTS, Outcome.NXDOMAIN):
        return Verdict.not_tested(
            f"{answer.qname}: {answer.outcome} {answer.detail}".strip(), **evidence
        )
    kinds = {"exists" if answer.outcome in _EXISTS else "absent"}
    for q in dk.authoritative:
        if q.outcome in _EXISTS:
            kinds.add("exists")
        elif q.outcome == Outcome.NXDOMAIN:
            kinds.add("absent")
    if len(kinds) > 1:
        return Verdict.not_tested(
            f"{answer.qname}: the answers disagree (NOERROR and NXDOMAIN): a name server "
            "not following RFC 8020, or servers out of sync",
            **evidence,
        )
    if kinds == {"absent"}:
        return Verdict.failed(
            f"{answer.qname} does not exist (NXDOMAIN): no DKIM key is published"
            + (f" (not skipped as a non-sending domain: {sends})" if sends else ""),
            **evidence,
        )
    return Verdict.passed(f"{answer.qname} exists (NOERROR): DKIM keys are published", **evidence)


@check(
    "dns.dnssec.mx",
    title="Every mail exchanger's domain is DNSSEC-signed and valid",
    category=Category.DNSSEC,
    scope=Scope.ZONE,
    needs=(Probe.ZONE,),
    level_hint=Level.RECOMMENDED,
    refs=("RFC 4033", "RFC 7672", "Internet.nl dnssec_mx"),
    description="""
A sending server finds the agency's mail servers through the MX target names; if their
zone is not signed, an attacker can send it to a server of their own, and DANE cannot be
used. Every MX target's zone must validate (secure); unsigned (insecure) or failing
validation (bogus) fails; a resolver that does not validate, or a lookup that failed, is
not tested. The MX of a domain that uses a provider's mail servers is judged by the
provider's zone.
""",
    remediation={
        "dns": "Sign the zone holding the MX host names and publish its DS at the parent "
        "(Knot: `dnssec-signing: on`; BIND: `dnssec-policy default;`; then give the DS to "
        "the registry). With a mail provider, choose one whose MX zone is signed.",
    },
)
def dns_dnssec_mx(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    early = _mx_applicable(obs)
    if early:
        return early
    rows: dict[str, Any] = {}
    bad: list[str] = []
    unknown: list[str] = []
    good = 0
    for host in obs.mx_hosts:
        st = next((s for s in obs.mx_dnssec if s.name == host.name), None)
        if st is None:
            rows[host.name] = {"status": "not looked up"}
            unknown.append(f"{host.name}: not looked up")
            continue
        rows[host.name] = {"status": st.status, "method": st.method, "detail": st.detail}
        if st.status == Dnssec.SECURE:
            good += 1
        elif st.status in (Dnssec.INSECURE, Dnssec.BOGUS):
            bad.append(f"{host.name} {st.status} ({st.detail})")
        else:
            unknown.append(f"{host.name}: {st.status} ({st.detail})")
    total = len(obs.mx_hosts)
    if bad:
        return Verdict.failed(
            "MX domain(s) not DNSSEC-secure: " + "; ".join(bad[:5]),
            score=good / total if total else 0.0,
            mx=rows,
        )
    if unknown:
        return Verdict.not_tested("; ".join(unknown[:5]), mx=rows)
    missing = mx_not_probed(obs)
    if missing:
        return Verdict.not_tested(
            "mail exchangers not looked at: " + ", ".join(missing[:5]), mx=rows
        )
    return Verdict.passed(f"every MX domain is DNSSEC-secure ({good})", mx=rows)
