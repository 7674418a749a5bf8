"""Mail checks (per zone): SPF, DMARC, STARTTLS on the MX, MTA-STS."""

from __future__ import annotations

from typing import Any

from auditor.model import Category, Level, Probe, Scope, Status, Verdict
from auditor.obs.core import DnsAnswer, Outcome
from auditor.obs.zone import ZoneObservations
from auditor.protocol.dmarc import (
    RFC7489,
    RFC9989,
    DmarcPolicy,
    authorises_reports,
    dmarc_policy,
    dmarc_records,
    external_report_domains,
    is_dmarc,
    parse_dmarc,
)
from auditor.protocol.mta_sts import (
    is_mta_sts_txt,
    mx_matches,
    parse_mta_sts_policy,
    parse_mta_sts_txt,
)
from auditor.protocol.names import norm_name
from auditor.protocol.spf import (
    Answer,
    Query,
    SpfLimits,
    SpfOutcome,
    SpfResult,
    audit,
    drive,
    spf_answer,
    spf_records,
)
from auditor.protocol.txt import txt_texts
from auditor.registry import CheckContext, check
from checks._common import UNDECIDED, cut_answers, describe_failure
from checks.ipv6 import is_null_mx, mx_not_probed

# RFC 7208 section 4.6.4: at most 10 DNS-querying terms ("MUST"), at most 2 void lookups
# ("SHOULD"; exceeding it "produces a permerror result").
SPF_MAX_LOOKUPS = 10
SPF_MAX_VOID = 2

_FAILED_LOOKUP = (Outcome.TIMEOUT, Outcome.DNS_REFUSED, Outcome.ERROR, Outcome.SERVFAIL)


def _lookup_failed(answer: DnsAnswer | None, what: str) -> Verdict | None:
    if answer is None:
        return Verdict.not_tested(f"{what} not looked up")
    if answer.outcome in _FAILED_LOOKUP:
        return Verdict.not_tested(
            f"{what} lookup of {answer.qname} failed: {answer.outcome} {answer.detail}".strip()
        )
    cut = cut_answers(answer)
    if cut:
        # "exactly one record", "no record": neither can be read off a part of the RRset
        return Verdict.not_tested(f"{what} of {answer.qname} not judged: {cut}")
    return None


@check(
    "mail.spf",
    title="One valid SPF record that rejects unlisted senders, within the RFC 7208 limits",
    category=Category.MAIL,
    scope=Scope.ZONE,
    needs=(Probe.ZONE,),
    level_hint=Level.RECOMMENDED,
    refs=("RFC 7208", "BOD 18-01"),
    params={"max_lookups": SPF_MAX_LOOKUPS, "max_void": SPF_MAX_VOID},
    description="""
SPF lists the servers allowed to send mail as the agency's domain; without it anyone can
send convincing phishing 'from' the agency to citizens. The record is evaluated as a
receiver evaluates it (RFC 7208 check_host(), through every include and redirect) for a
server it does not list, once for IPv4 and once for IPv6 senders: that server must get
fail (-all) or softfail (~all); pass (+all) or neutral (?all, or no all at all) protect
nothing. Receivers treat a record as broken (permerror) when any term is malformed
(addresses, prefix lengths, domain names, macros), when an include has no SPF record, or
when evaluation needs more than 10 DNS-querying terms, more than 10 MX names behind one
mx or more than 2 lookups that find nothing; each such error fails the check with the
term named. A lookup that fails (timeout, SERVFAIL) makes receivers answer temperror:
not tested, with the term named. 'ptr' is a warning (RFC 7208 5.5: SHOULD NOT be used).
A domain that sends no mail should publish `v=spf1 -all`.
""",
    remediation={
        "dns": 'Publish exactly one TXT record at the domain, e.g. `@ IN TXT "v=spf1 mx '
        'ip4:203.0.113.25 ip6:2001:db8::25 include:_spf.mail-provider.vn -all"`; for a '
        'domain that never sends mail: `"v=spf1 -all"`. Replace includes by ip4:/ip6: ranges '
        "to stay under 10 lookups; write addresses as ip4:/ip6: (not a:192.0.2.1) and names "
        "with their full domain (a:mail.example.gov.vn, not a:mail).",
        "general": "Merge duplicate SPF records into one; remove `+all`/`?all` and `ptr`; "
        "remove includes of domains that publish no SPF record; check the result with "
        "`dig TXT` on every include.",
    },
)
def mail_spf(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    failed = _lookup_failed(obs.spf, "TXT")
    if failed:
        return failed
    assert obs.spf is not None
    texts = txt_texts(obs.spf.records)
    records = spf_records(texts)
    if not records:
        near = [t[:80] for t in texts if t.strip().lower().startswith("v=spf1")]
        if near:
            # RFC 7208 sec. 4.5: the record must begin with exactly "v=spf1"
            return Verdict.failed(
                f"no SPF record: {near[0]!r} does not begin with exactly 'v=spf1' "
                "(RFC 7208 4.5), so receivers ignore it",
                txt=list(texts),
            )
        return Verdict.failed("no SPF record (v=spf1)", txt=list(texts))
    if len(records) > 1:
        # RFC 7208 section 4.5: more than one record is a permerror
        return Verdict.failed(f"{len(records)} SPF records (must be exactly one)", spf=records)
    limits = SpfLimits(
        lookups=int(ctx.params.get("max_lookups", SPF_MAX_LOOKUPS)),
        void=int(ctx.params.get("max_void", SPF_MAX_VOID)),
    )
    answers = _spf_answers(obs)

    def lookup(query: Query) -> Answer:
        a = answers.get((query.name, query.rdtype))
        # an answer cut at the record cap is not known: counted as not fetched
        return spf_answer(None if a is not None and a.truncated else a)

    zone = norm_name(obs.zone)
    outcomes = {fam: drive(audit(zone, fam, limits), lookup) for fam in (4, 6)}
    verdict = _spf_verdict(records[0], outcomes)
    # the TXT answer's validation state (an unsigned SPF record can be forged on the path)
    verdict.evidence["dnssec"] = txt_dnssec(obs.spf)
    return verdict


def _spf_answers(obs: ZoneObservations) -> dict[tuple[str, str], DnsAnswer]:
    """Every stored answer check_host() may ask for: the SPF walk's own lookups, and the
    zone's TXT, MX and MX host addresses (the same resolver answers, shared scan-wide)."""
    out: dict[tuple[str, str], DnsAnswer] = {}
    found = [obs.spf, obs.mx, *(a for h in obs.mx_hosts for a in (h.a, h.aaaa))]
    for a in (*obs.spf_lookups, *found):
        if a is not None:
            out.setdefault((norm_name(a.qname), a.rdtype.upper()), a)
    return out


_FAMILY = {4: "IPv4", 6: "IPv6"}
_SPF_PROTECTS = (SpfResult.FAIL, SpfResult.SOFTFAIL)


def _spf_verdict(record: str, outcomes: dict[int, SpfOutcome]) -> Verdict:
    v4, v6 = outcomes[4], outcomes[6]
    longest = max(outcomes.values(), key=lambda o: len(o.trace))
    evidence: dict[str, Any] = {
        "spf": record,
        "rfc": "RFC 7208",
        "unlisted_sender": {_FAMILY[f]: o.result.value for f, o in outcomes.items()},
        "lookups": max(o.lookups for o in outcomes.values()),
        "void_lookups": max(o.void_lookups for o in outcomes.values()),
        "lookup_terms": list(longest.trace),
        "records": dict(longest.records),
    }
    errors = [o.reason for o in outcomes.values() if o.result == SpfResult.PERMERROR]
    if errors:
        evidence["errors"] = list(dict.fromkeys(errors))
    notes = list(dict.fromkeys(n for o in outcomes.values() for n in o.notes))
    if notes:
        evidence["notes"] = notes
    undetermined = list(dict.fromkeys(u for o in outcomes.values() for u in o.undetermined))
    if undetermined:
        evidence["depends_on_sender"] = undetermined
    missing = list(dict.fromkeys(m for o in outcomes.values() for m in o.missing))
    if missing:
        evidence["not_fetched"] = missing

    def who(pick: list[int]) -> str:
        if len(pick) == len(outcomes):
            return "servers the record does not list"
        return " and ".join(f"unlisted {_FAMILY[f]} servers" for f in pick)

    def by_result(*results: SpfResult) -> list[int]:
        return [f for f, o in outcomes.items() if o.result in results and o.decided]

    # 1. permerror: receivers reject or ignore the record (sec. 2.6.7)
    bad = [f for f, o in outcomes.items() if o.result == SpfResult.PERMERROR]
    if bad:
        o = outcomes[bad[0]]
        scope = "" if len(bad) == len(outcomes) else f" (for {_FAMILY[bad[0]]} senders)"
        return Verdict.failed(
            f"SPF permerror{scope}: {o.reason}; receivers treat the record as broken",
            **evidence,
        )
    # 2. an unlisted server is let through
    open_to = by_result(SpfResult.PASS)
    if open_to:
        o = outcomes[open_to[0]]
        how = f"'{o.term}' at {o.domain}" if o.term else "the record"
        return Verdict.failed(
            f"SPF: {who(open_to)} get pass ({how}): any server can send as the domain",
            **evidence,
        )
    weak = by_result(SpfResult.NEUTRAL, SpfResult.NONE)
    if weak:
        o = outcomes[weak[0]]
        how = (
            f"'{o.term}' at {o.domain}"
            if o.term
            else "no 'all' term and no redirect= (defaults to ?all)"
        )
        return Verdict.failed(
            f"SPF: {who(weak)} get {o.result.value} ({how}): no protection", **evidence
        )
    # 3. what could not be evaluated
    temp = [f for f, o in outcomes.items() if o.result == SpfResult.TEMPERROR]
    if temp:
        o = outcomes[temp[0]]
        if o.not_observed:
            return Verdict.not_tested(f"SPF lookups not fetched: {o.reason}", **evidence)
        return Verdict.not_tested(
            f"SPF temperror: {o.reason}; receivers defer or accept mail unchecked", **evidence
        )
    open_q = [f for f, o in outcomes.items() if not o.decided]
    if open_q:
        o = outcomes[open_q[0]]
        return Verdict.not_tested(
            f"SPF result for unlisted servers depends on the sender: {o.reason}", **evidence
        )
    # 4. protected: fail or softfail for every unlisted server
    assert all(o.result in _SPF_PROTECTS for o in outcomes.values())
    if v4.result == v6.result and v4.term == v6.term and v4.domain == v6.domain:
        ending = f"{v4.result.value} ({v4.term} at {v4.domain})"
    else:
        ending = "; ".join(
            f"{_FAMILY[f]}: {o.result.value} ({o.term} at {o.domain})" for f, o in outcomes.items()
        )
    lookups = evidence["lookups"]
    tail = f", {lookups} DNS lookup(s)"
    if undetermined:
        tail += f"; {len(undetermined)} term(s) depend on the sender and were not evaluated"
    ptr = [n for n in notes if "'ptr' SHOULD NOT" in n]
    if ptr:
        return Verdict.warn(
            f"SPF: unlisted servers get {ending}{tail}, but the record uses 'ptr' (RFC 7208 "
            "5.5: SHOULD NOT be used; slow, unreliable, and some receivers skip it)",
            **evidence,
        )
    return Verdict.passed(f"SPF: unlisted servers get {ending}{tail}", **evidence)


@check(
    "mail.dmarc",
    title="DMARC policy quarantine or reject",
    category=Category.MAIL,
    scope=Scope.ZONE,
    needs=(Probe.ZONE,),
    level_hint=Level.RECOMMENDED,
    refs=("RFC 7489", "RFC 9989", "BOD 18-01 (p=reject)"),
    # Which policy passes: "quarantine" (quarantine or reject; NCSC-NL, Internet.nl) or
    # "reject" (BOD 18-01 section 2: p=reject); a weaker enforcing policy scores 0.75.
    params={"required_policy": "quarantine"},
    description="""
DMARC tells receiving mail servers what to do with mail that claims to come from the
agency but fails SPF/DKIM: p=reject (or quarantine) stops phishing in the agency's name;
p=none only monitors. rua= gives the agency reports of who sends in its name. Without a
record at _dmarc.<domain>, the organisational domain's record applies (RFC 7489 6.6.3).
The record is read as receivers following RFC 7489 read it and as those following its
revision RFC 9989 do, and the verdict names the one it follows: the record must start
with v=DMARC1 (no leading space), a repeated tag makes it invalid, RFC 7489 wants p= right
after v=, a malformed p= (or sp=) counts as p=none, other malformed tags are ignored
(warning) and their default is used, pct=0 or RFC 9989's t=y (test mode) enforce nothing.
""",
    remediation={
        "dns": 'Publish `_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.gov.vn"` '
        "(start with p=quarantine if unsure, after reading the rua reports for a few weeks). "
        "Write v=DMARC1 first and p= second, each tag once, report addresses as mailto: URIs.",
        "general": "For a domain that sends no mail: `v=DMARC1; p=reject;` with SPF `v=spf1 -all`. "
        "Remove t=y and pct= below 100 once the reports show all legitimate mail passes.",
    },
)
def mail_dmarc(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    failed = _lookup_failed(obs.dmarc, "DMARC TXT")
    if failed:
        return failed
    assert obs.dmarc is not None
    own = dmarc_records(txt_texts(obs.dmarc.records))
    source = obs.dmarc.qname
    records = own
    via_org = False
    near: list[str] = []
    if not own:
        near = [t[:80] for t in txt_texts(obs.dmarc.records) if is_dmarc(t.strip())]
    if not own and obs.dmarc_org is not None:
        failed = _lookup_failed(obs.dmarc_org, "organisational DMARC TXT")
        if failed:
            return failed
        records = dmarc_records(txt_texts(obs.dmarc_org.records))
        source = obs.dmarc_org.qname
        via_org = bool(records)
    if not records:
        where = obs.dmarc.qname + (f" or {obs.dmarc_org.qname}" if obs.dmarc_org else "")
        if near:
            return Verdict.failed(
                f"no DMARC record at {where}: {near[0]!r} does not start with v=DMARC1 "
                "(leading whitespace; RFC 7489 6.6.3 discards it)"
            )
        return Verdict.failed(f"no DMARC record at {where}")
    if len(records) > 1:
        # RFC 7489 section 6.6.3: several records -> no DMARC processing at all
        return Verdict.failed(f"{len(records)} DMARC records at {source} (must be one)")
    rec = parse_dmarc(records[0])
    required = str(ctx.params.get("required_policy", "quarantine")).lower()
    via = f" (from {source})" if via_org else ""
    readings = {rfc: dmarc_policy(rec, rfc) for rfc in (RFC7489, RFC9989)}
    judged = {rfc: _judge_dmarc(pol, via_org, via, required) for rfc, pol in readings.items()}
    worst_rfc = max(judged, key=lambda r: _DMARC_RANK[judged[r][0]] - (judged[r][1] or 0) / 10)
    status, score, message = judged[worst_rfc]
    same = len({(j[0], j[2]) for j in judged.values()}) == 1
    rfc = f"{RFC7489} and {RFC9989}" if same else worst_rfc
    pol = readings[RFC7489] if same else readings[worst_rfc]
    evidence: dict[str, Any] = {
        "record": records[0],
        "source": source,
        "org_domain_fallback": via_org,
        "rfc": rfc,
        "p": rec.get("p"),
        "sp": rec.get("sp"),
        "pct": readings[RFC7489].pct,
        "rua": rec.get("rua"),
        "ruf": rec.get("ruf"),
        "effective_policy": (pol.sp if via_org else pol.p) if pol.applies else None,
        "readings": {
            r: {
                "applies": x.applies,
                "policy": (x.sp if via_org else x.p) if x.applies else None,
                "status": judged[r][0].value,
                **({"pct": x.pct} if r == RFC7489 else {"t": "y" if x.testing else "n"}),
                **({"np": x.np} if r == RFC9989 and x.np else {}),
                **({"ignored": list(x.ignored)} if x.ignored else {}),
                **({"problems": list(x.problems)} if x.problems else {}),
            }
            for r, x in readings.items()
        },
    }
    if not same:
        message += f" (as read by receivers following {worst_rfc})"
    answer = obs.dmarc_org if via_org else obs.dmarc
    evidence["dnssec"] = txt_dnssec(answer)
    unauthorised = _report_authorisation(obs, parse_dmarc(records[0]), source, evidence)
    if unauthorised and status == Status.PASS:
        return Verdict.warn(
            f"{message}; report destination(s) not authorised (RFC 7489 7.1), receivers "
            "send them no reports: " + ", ".join(unauthorised),
            **evidence,
        )
    return Verdict(status, message, evidence, score)


def txt_dnssec(answer: DnsAnswer | None) -> str:
    """The validation state of a TXT answer, for the evidence (the AD bit the resolver set)."""
    if answer is None or answer.authenticated is None:
        return "unknown"
    return "secure (AD)" if answer.authenticated else "not validated (AD=0)"


def _report_authorisation(
    obs: ZoneObservations, rec: Any, source: str, evidence: dict[str, Any]
) -> list[str]:
    """RFC 7489 section 7.1: each rua=/ruf= destination outside the policy domain's
    organisational domain must publish v=DMARC1 at <domain>._report._dmarc.<destination>.
    Returns the destinations that do not (a failed lookup is reported, not counted)."""
    domain = norm_name(source).removeprefix("_dmarc.")
    external = external_report_domains(rec, domain)
    if not external:
        return []
    answers = {norm_name(a.qname): a for a in obs.dmarc_report_auth}
    rows: dict[str, str] = {}
    unauthorised: list[str] = []
    for dest in external:
        qname = f"{domain}._report._dmarc.{dest}"
        a = answers.get(qname)
        if a is None:
            rows[dest] = "not looked up"
        elif a.outcome in (Outcome.OK, Outcome.NODATA, Outcome.NXDOMAIN):
            ok = authorises_reports(txt_texts(a.records))
            rows[dest] = "authorised" if ok else f"not authorised ({qname}: {a.outcome})"
            if not ok:
                unauthorised.append(dest)
        else:
            rows[dest] = f"lookup failed: {a.outcome}"
    evidence["external_report_destinations"] = rows
    return unauthorised


_DMARC_RANK = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


def _judge_dmarc(
    pol: DmarcPolicy, via_org: bool, via: str, required: str
) -> tuple[Status, float | None, str]:
    """(status, score, message) of one reading of the record."""
    if not pol.applies:
        why = "; ".join(pol.problems) or "invalid record"
        return Status.FAIL, 0.0, f"DMARC record invalid{via}, receivers ignore it: {why}"
    # for a subdomain using its organisational domain's record, sp= applies (6.6.3)
    effective = pol.sp if via_org else pol.p
    if pol.problems:
        return (
            Status.FAIL,
            0.5,
            f"DMARC{via}: receivers act as if p=none ({'; '.join(pol.problems)}); spoofed "
            "mail is only monitored",
        )
    if effective == "none":
        return (
            Status.FAIL,
            0.5,
            f"DMARC policy is none{via}: spoofed mail is only monitored, not stopped",
        )
    if pol.testing:
        return (
            Status.FAIL,
            0.5,
            f"DMARC p={effective}{via} with t=y (test mode): the policy is not applied",
        )
    if pol.pct == 0:
        return (
            Status.FAIL,
            0.5,
            f"DMARC p={effective}{via} with pct=0: the policy is applied to no mail",
        )
    if pol.pct < 100:
        return (
            Status.WARN,
            0.75,
            f"DMARC p={effective}{via} but applied to only pct={pol.pct} % of failing mail",
        )
    if required == "reject" and effective != "reject":
        return (
            Status.FAIL,
            0.75,
            f"DMARC p={effective}{via}: this profile requires p=reject",
        )
    if pol.ignored:
        return (
            Status.WARN,
            None,
            f"DMARC p={effective}{via}, but malformed tags are ignored: " + "; ".join(pol.ignored),
        )
    extra = "" if pol.rua else "; no rua= (no aggregate reports)"
    return Status.PASS, None, f"DMARC p={effective}{via}{extra}"


def _mail_applicable(obs: ZoneObservations) -> Verdict | None:
    mx = obs.mx
    if mx is None:
        return Verdict.not_tested("MX not looked up")
    if mx.outcome in (Outcome.NXDOMAIN, Outcome.NODATA):
        return Verdict.not_applicable("no MX record: the domain does not receive mail")
    if mx.outcome != Outcome.OK:
        return Verdict.not_tested(f"MX lookup failed: {mx.outcome}")
    if is_null_mx(mx.records):
        return Verdict.not_applicable("null MX (RFC 7505): the domain accepts no mail")
    if not obs.mx_hosts:
        return Verdict.not_tested("MX host names could not be read")
    return None


@check(
    "mail.starttls",
    title="Every mail exchanger offers STARTTLS, over IPv4 and over IPv6",
    category=Category.MAIL,
    scope=Scope.ZONE,
    needs=(Probe.ZONE, Probe.SMTP),
    level_hint=Level.RECOMMENDED,
    refs=("RFC 3207", "BOD 18-01", "NCSC-NL"),
    description="""
Without STARTTLS, mail between other administrations, citizens' providers and the agency
crosses the Internet in clear text. Each address of each MX (IPv4 and IPv6) is asked on
port 25, one connection at a time per MX, whether it offers STARTTLS after EHLO.
""",
    remediation={
        "general": "Postfix: `smtpd_tls_cert_file`/`smtpd_tls_key_file` set and "
        "`smtpd_tls_security_level = may`. Exchange: a certificate with the SMTP service "
        "assigned (`Enable-ExchangeCertificate -Services SMTP`) on the receive connector. "
        "Check every address: `openssl s_client -starttls smtp -connect [<ipv6>]:25`.",
    },
)
def mail_starttls(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    early = _mail_applicable(obs)
    if early:
        return early
    rows: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    unreached: list[str] = []
    reached_per_mx: dict[str, int] = {}
    offered = 0
    for h in obs.mx_hosts:
        reached_per_mx[h.name] = 0
        for address in h.addresses:
            fam = "v6" if ":" in address else "v4"
            key = f"{h.name} [{address}]"
            probe = next((p for p in obs.smtp if p.address == address), None)
            if probe is None:
                rows[key] = {"family": fam, "outcome": "not probed"}
                unreached.append(f"{key}: not probed")
                continue
            rows[key] = {
                "family": fam,
                "outcome": probe.outcome,
                "greeting": probe.greeting_code,
                "starttls": probe.starttls,
            }
            if probe.starttls:
                offered += 1
                reached_per_mx[h.name] += 1
            elif probe.ehlo_ok:
                reached_per_mx[h.name] += 1
                missing.append(f"{key} ({fam})")
            elif probe.greeting_code == 220 and probe.ehlo_ok is False:
                reached_per_mx[h.name] += 1
                missing.append(f"{key} ({fam}: EHLO refused)")
            else:
                why = (
                    "not probed"
                    if probe.outcome in UNDECIDED
                    else describe_failure(probe.outcome, probe.detail)
                )
                unreached.append(f"{key}: {why}")
    evidence: dict[str, Any] = {"smtp": rows}
    if unreached:
        evidence["not_reached"] = unreached
    if missing:
        return Verdict.failed("no STARTTLS offered by " + ", ".join(missing), **evidence)
    silent = [mx for mx, n in reached_per_mx.items() if n == 0]
    if silent:
        return Verdict.not_tested(
            "could not reach " + ", ".join(silent) + " on port 25 to ask", **evidence
        )
    missing = mx_not_probed(obs)
    if missing:  # "every MX" cannot be said of those looked at
        return Verdict.not_tested(
            f"STARTTLS offered on {offered} MX address(es), but mail exchangers not looked "
            "at: " + ", ".join(missing[:5]),
            **evidence,
        )
    note = f" ({len(unreached)} address(es) not reached: see ipv6.mx.reach)" if unreached else ""
    return Verdict.passed(f"STARTTLS offered on {offered} MX address(es){note}", **evidence)


@check(
    "mail.mta_sts",
    title="MTA-STS: _mta-sts TXT record and a consistent policy over HTTPS",
    category=Category.MAIL,
    scope=Scope.ZONE,
    needs=(Probe.ZONE, Probe.MTA_STS),
    level_hint=Level.INFORMATIONAL,
    refs=("RFC 8461", "RFC 8460 (TLS-RPT)"),
    description="""
Informational. STARTTLS alone can be stripped by an attacker on the path; MTA-STS lets the
agency tell sending servers to insist on a valid TLS certificate for its MX. A TXT record
that announces a policy which cannot be fetched, or a policy that does not list the MX,
makes careful senders report failures (or, in enforce mode, refuse delivery).
""",
    remediation={
        "dns": '`_mta-sts IN TXT "v=STSv1; id=20260101T000000"` (change id at every policy '
        "change) and `mta-sts IN A/AAAA <web server>`; optionally `_smtp._tls IN TXT "
        '"v=TLSRPTv1; rua=mailto:tlsrpt@example.gov.vn"`.',
        "nginx": "server { listen 443 ssl; listen [::]:443 ssl; server_name "
        "mta-sts.example.gov.vn; location = /.well-known/mta-sts.txt { default_type "
        'text/plain; return 200 "version: STSv1\\nmode: enforce\\nmx: mx1.example.gov.vn'
        '\\nmax_age: 604800\\n"; } }',
        "apache": "A VirtualHost for mta-sts.<domain> serving /.well-known/mta-sts.txt with "
        "`AddType text/plain .txt`.",
        "iis": "A site bound to mta-sts.<domain> (https, valid certificate) with the file "
        "under .well-known and a MIME map `.txt -> text/plain`.",
        "general": "Start with `mode: testing` and TLS-RPT reports; list every MX in the "
        "policy (`mx:` lines) and switch to `mode: enforce` once the reports are clean.",
    },
)
def mail_mta_sts(obs: ZoneObservations, ctx: CheckContext) -> Verdict:
    early = _mail_applicable(obs)
    if early and early.status != "not_tested":
        return early
    sts = obs.mta_sts
    if sts is None:
        return Verdict.not_tested("MTA-STS not probed")
    failed = _lookup_failed(sts.txt, "_mta-sts TXT")
    if failed:
        return failed
    txts = [t for t in txt_texts(sts.txt.records) if is_mta_sts_txt(t)]
    if not txts:
        return Verdict.info("no MTA-STS (_mta-sts TXT record absent)")
    if len(txts) > 1:
        return Verdict.failed(f"{len(txts)} _mta-sts TXT records (RFC 8461 3.1: exactly one)")
    txt = parse_mta_sts_txt(txts[0])
    evidence: dict[str, Any] = {"txt": txts[0], "policy_host": sts.host}
    if txt.errors:
        return Verdict.failed("_mta-sts TXT invalid: " + "; ".join(txt.errors), **evidence)
    fetch = sts.fetch
    if fetch is None:
        return Verdict.not_tested("policy not fetched", **evidence)
    evidence.update(
        {
            "address": fetch.address,
            "outcome": fetch.outcome,
            "status": fetch.status,
            "content_type": fetch.content_type,
        }
    )
    if fetch.outcome in UNDECIDED:
        return Verdict.not_tested(f"policy not fetched: {fetch.detail}", **evidence)
    if fetch.outcome != Outcome.OK:
        return Verdict.failed(
            f"TXT announces a policy but https://{sts.host}/.well-known/mta-sts.txt failed: "
            f"{describe_failure(fetch.outcome, fetch.detail)}",
            **evidence,
        )
    if fetch.status != 200:
        return Verdict.failed(
            f"TXT announces a policy but the policy file answered {fetch.status}", **evidence
        )
    problems: list[str] = []
    if fetch.content_type.split(";")[0].strip().lower() != "text/plain":
        problems.append(f"Content-Type {fetch.content_type!r} is not text/plain (RFC 8461 3.2)")
    policy = parse_mta_sts_policy(fetch.body)
    evidence.update({"mode": policy.mode, "max_age": policy.max_age, "mx": list(policy.mx)})
    problems.extend(policy.errors)
    if early is None and policy.mode in ("enforce", "testing"):
        unmatched = [
            h.name for h in obs.mx_hosts if not any(mx_matches(p, h.name) for p in policy.mx)
        ]
        if unmatched:
            problems.append("MX not covered by the policy: " + ", ".join(unmatched))
    if problems:
        return Verdict.failed("MTA-STS policy inconsistent: " + "; ".join(problems), **evidence)
    if policy.mode != "enforce":
        return Verdict.info(f"MTA-STS policy in mode {policy.mode}", **evidence)
    return Verdict.passed("MTA-STS policy in enforce mode, consistent with the MX", **evidence)
