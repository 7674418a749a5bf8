"""mail.dane.*, mail.dkim, dns.dnssec.mx and DMARC report authorisation from observation
fixtures (no network)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from auditor import serde
from auditor.model import Status
from auditor.obs.core import Outcome
from auditor.obs.zone import (
    DkimLookup,
    DnssecStatus,
    NsQuery,
    ServerHost,
    TlsaLookup,
    ZoneObservations,
)
from auditor.protocol.dane import parse_tlsa, rollover_scheme, unusable_reason
from tests.support.factories import MX1, NS1, NS2, ZONE, ans, good_zone, run, server, txt

EE = "3 1 1 " + "ab" * 32
EE2 = "3 1 1 " + "cd" * 32
TA = "2 1 1 " + "ef" * 32
MX_DNS = (DnssecStatus(MX1.name, "secure", detail="zone example.gov.vn: AD"),)


def tlsa(*records: str, outcome: str | None = None, ad: bool = True, **kw: object) -> TlsaLookup:
    if outcome is None:
        outcome = Outcome.OK if records else Outcome.NXDOMAIN
    return TlsaLookup(
        MX1.name,
        f"_25._tcp.{MX1.name}",
        outcome,
        tuple(records),
        ad,
        **kw,  # type: ignore[arg-type]
    )


def zone(**changes: object) -> ZoneObservations:
    base = good_zone(mx_dnssec=MX_DNS, tlsa=(tlsa(EE),))
    return replace(base, **changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------- protocol: TLSA


def test_tlsa_parse_and_usability() -> None:
    rec = parse_tlsa(EE)
    assert rec is not None and rec.kind == "3 1 1" and unusable_reason(rec) is None
    pkix = parse_tlsa("1 1 1 " + "ab" * 32)
    assert pkix is not None and "not for SMTP" in (unusable_reason(pkix) or "")
    # a digest of the wrong length: dnspython refuses it, or the record is unusable
    short = parse_tlsa("3 1 1 abcd")
    assert short is None or "32 bytes" in (unusable_reason(short) or "")
    assert parse_tlsa("3 1 1 not-hex") is None
    recs = [r for r in (parse_tlsa(t) for t in (EE, EE2)) if r]
    assert rollover_scheme(recs) == "current + next (3xx + 3xx)"
    recs = [r for r in (parse_tlsa(t) for t in (EE, TA)) if r]
    assert rollover_scheme(recs) == "current + issuer (3xx + 2xx)"
    assert rollover_scheme([r for r in (parse_tlsa(EE),) if r]) is None


# ---------------------------------------------------------------- mail.dane.exists


def test_dane_exists_pass() -> None:
    v = run("mail.dane.exists", zone())
    assert v.status == Status.PASS, v.message
    assert v.evidence["mx"][MX1.name]["usable"] == [EE]


def test_dane_exists_secure_denial_fails() -> None:
    v = run("mail.dane.exists", zone(tlsa=(tlsa(),)))
    assert v.status == Status.FAIL and "securely denied" in v.message


def test_dane_exists_insecure_denial_fails() -> None:
    # the resolver validates (the apex is secure), the denial carries no AD: insecure
    v = run("mail.dane.exists", zone(tlsa=(tlsa(ad=False),)))
    assert v.status == Status.FAIL and "not signed" in v.message


def test_dane_exists_insecure_records_fail() -> None:
    v = run("mail.dane.exists", zone(tlsa=(tlsa(EE, ad=False),)))
    assert v.status == Status.FAIL and "not DNSSEC-secure" in v.message


def test_dane_exists_bogus_fails() -> None:
    t = tlsa(EE, ad=False, bogus=True, detail="SERVFAIL, CD answered")
    v = run("mail.dane.exists", zone(tlsa=(t,)))
    assert v.status == Status.FAIL and "bogus" in v.message


def test_dane_exists_only_pkix_usages_fail() -> None:
    v = run("mail.dane.exists", zone(tlsa=(tlsa("1 1 1 " + "ab" * 32),)))
    assert v.status == Status.FAIL and "no usable TLSA" in v.message


def test_dane_exists_servfail_not_tested() -> None:
    t = tlsa(outcome=Outcome.SERVFAIL, ad=False, detail="SERVFAIL even with CD")
    v = run("mail.dane.exists", zone(tlsa=(t,)))
    assert v.status == Status.NOT_TESTED


def test_dane_exists_non_validating_resolver_not_tested() -> None:
    unvalidated = DnssecStatus(ZONE, "unvalidated", detail="DS but no AD")
    mx = (DnssecStatus(MX1.name, "unvalidated"),)
    z = zone(dnssec=unvalidated, mx_dnssec=mx, tlsa=(tlsa(ad=False),))
    assert run("mail.dane.exists", z).status == Status.NOT_TESTED


def test_dane_exists_partial_over_two_mx() -> None:
    mx2 = server("mx2.example.gov.vn", ("192.0.2.26",), pref=20)
    t2 = TlsaLookup(mx2.name, f"_25._tcp.{mx2.name}", Outcome.NXDOMAIN, (), True)
    z = zone(mx_hosts=(MX1, mx2), tlsa=(tlsa(EE), t2))
    v = run("mail.dane.exists", z)
    assert v.status == Status.FAIL and v.score == 0.5 and mx2.name in v.message


def test_dane_null_mx_not_applicable() -> None:
    z = zone(mx=ans(ZONE, "MX", "0 ."), mx_hosts=(), tlsa=())
    for cid in ("mail.dane.exists", "mail.dane.rollover", "dns.dnssec.mx"):
        v = run(cid, z)
        assert v.status == Status.NOT_APPLICABLE and "RFC 7505" in v.message, cid


# ---------------------------------------------------------------- mail.dane.rollover


def test_dane_rollover_pass_and_info() -> None:
    assert run("mail.dane.rollover", zone(tlsa=(tlsa(EE, EE2),))).status == Status.PASS
    assert run("mail.dane.rollover", zone(tlsa=(tlsa(EE, TA),))).status == Status.PASS
    v = run("mail.dane.rollover", zone())
    assert v.status == Status.WARN and "3 1 1" in v.message
    assert run("mail.dane.rollover", zone(tlsa=(tlsa(),))).status == Status.NOT_APPLICABLE


# ---------------------------------------------------------------- mail.dkim


def _dkim(resolver: str, *auth: str) -> DkimLookup:
    answer = ans(f"_domainkey.{ZONE}", "TXT", outcome=resolver)
    queries = tuple(
        NsQuery(h.name, h.aaaa.records[0], "udp", o, None, True)
        for h, o in zip((NS1, NS2), auth, strict=False)
    )
    return DkimLookup(answer, queries)


def test_dkim_pass_on_noerror() -> None:
    v = run("mail.dkim", good_zone(dkim=_dkim(Outcome.NODATA, Outcome.NODATA, Outcome.NODATA)))
    assert v.status == Status.PASS, v.message


def test_dkim_fail_on_nxdomain() -> None:
    z = good_zone(dkim=_dkim(Outcome.NXDOMAIN, Outcome.NXDOMAIN, Outcome.NXDOMAIN))
    v = run("mail.dkim", z)
    assert v.status == Status.FAIL and "NXDOMAIN" in v.message


def test_dkim_inconsistent_and_servfail_not_tested() -> None:
    z = good_zone(dkim=_dkim(Outcome.NXDOMAIN, Outcome.NODATA, Outcome.NXDOMAIN))
    v = run("mail.dkim", z)
    assert v.status == Status.NOT_TESTED and "disagree" in v.message
    assert run("mail.dkim", good_zone(dkim=_dkim(Outcome.SERVFAIL))).status == Status.NOT_TESTED


def test_dkim_not_applicable_for_non_sending_domain() -> None:
    z = good_zone(
        spf=txt(ZONE, "v=spf1 -all"),
        dmarc=txt(f"_dmarc.{ZONE}", "v=DMARC1; p=reject"),
        dkim=_dkim(Outcome.NXDOMAIN),
    )
    assert run("mail.dkim", z).status == Status.NOT_APPLICABLE
    # p=quarantine: the domain may still send, DKIM counts
    z = replace(z, dmarc=txt(f"_dmarc.{ZONE}", "v=DMARC1; p=quarantine"))
    assert run("mail.dkim", z).status == Status.FAIL


# The DKIM skip for a non-sending domain: SPF -all together with a DMARC reject policy that
# every receiver applies to all mail (pct=100 or none, no t=y), each combination.
@pytest.mark.parametrize(
    ("spf", "dmarc", "skipped", "words"),
    [
        ("v=spf1 -all", "v=DMARC1; p=reject", True, "p=reject"),
        ("v=spf1 -all", "v=DMARC1; p=reject; pct=100", True, "pct=100"),
        ("v=spf1 -all", "v=DMARC1; p=reject; t=n", True, "no t=y"),
        ("v=spf1 -all", "v=DMARC1; p=reject; pct=100; t=n; rua=mailto:d@x.vn", True, ""),
        # a malformed pct= is read as receivers read it: the default 100 (RFC 7489 6.3)
        ("v=spf1 -all", "v=DMARC1; p=reject; pct=abc", True, ""),
        ("v=spf1 -all", "v=DMARC1; p=reject; pct=50", False, "pct=50"),
        ("v=spf1 -all", "v=DMARC1; p=reject; pct=0", False, "pct=0"),
        ("v=spf1 -all", "v=DMARC1; p=reject; t=y", False, "t=y"),
        ("v=spf1 -all", "v=DMARC1; p=reject; pct=100; t=y", False, "t=y"),
        ("v=spf1 -all", "v=DMARC1; p=reject; pct=50; t=y", False, "pct=50"),
        ("v=spf1 -all", "v=DMARC1; p=quarantine", False, "p=quarantine"),
        ("v=spf1 -all", "v=DMARC1; p=none", False, "p=none"),
        ("v=spf1 -all", "v=DMARC1; rua=mailto:d@x.vn", False, "no p= tag"),
        ("v=spf1 -all", None, False, "no DMARC record"),
        # SPF that authorises something, or softfails: the domain may send, never skipped
        ("v=spf1 ~all", "v=DMARC1; p=reject", False, None),
        ("v=spf1 mx -all", "v=DMARC1; p=reject", False, None),
        ("v=spf1 ?all", "v=DMARC1; p=reject", False, None),
    ],
)
def test_dkim_skip_needs_spf_fail_all_and_an_enforced_reject(
    spf: str, dmarc: str | None, skipped: bool, words: str | None
) -> None:
    z = good_zone(
        spf=txt(ZONE, spf),
        dmarc=(
            txt(f"_dmarc.{ZONE}", dmarc)
            if dmarc
            else ans(f"_dmarc.{ZONE}", "TXT", outcome=Outcome.NXDOMAIN)
        ),
        dmarc_org=None,
        dkim=_dkim(Outcome.NXDOMAIN),
    )
    v = run("mail.dkim", z)
    if skipped:
        assert v.status == Status.NOT_APPLICABLE, v.message
        assert words is not None and "sends no mail" in v.message and words in v.message
        return
    # judged: no _domainkey is a fail, and why SPF -all did not skip it is said
    assert v.status == Status.FAIL, v.message
    if words is None:
        assert "judged_because" not in v.evidence
    else:
        assert words in v.evidence["judged_because"] and words in v.message


def test_dkim_skip_through_the_organisational_domain_uses_sp() -> None:
    sub = f"mail.{ZONE}"

    def z(org_record: str) -> ZoneObservations:
        return good_zone(
            zone=sub,
            spf=txt(sub, "v=spf1 -all"),
            dmarc=ans(f"_dmarc.{sub}", "TXT", outcome=Outcome.NXDOMAIN),
            dmarc_org=txt(f"_dmarc.{ZONE}", org_record),
            dkim=_dkim(Outcome.NXDOMAIN),
        )

    v = run("mail.dkim", z("v=DMARC1; p=reject"))
    assert v.status == Status.NOT_APPLICABLE and "sp=reject" in v.message
    v = run("mail.dkim", z("v=DMARC1; p=reject; sp=quarantine"))
    assert v.status == Status.FAIL and "sp=quarantine" in v.message
    v = run("mail.dkim", z("v=DMARC1; p=reject; sp=reject; t=y"))
    assert v.status == Status.FAIL and "t=y" in v.message


# ---------------------------------------------------------------- dns.dnssec.mx


def test_dnssec_mx_pass_fail_not_tested() -> None:
    assert run("dns.dnssec.mx", zone()).status == Status.PASS
    insecure = (DnssecStatus(MX1.name, "insecure", detail="zone example.net: no DS"),)
    v = run("dns.dnssec.mx", zone(mx_dnssec=insecure))
    assert v.status == Status.FAIL and "insecure" in v.message
    bogus = (DnssecStatus(MX1.name, "bogus", detail="expired"),)
    assert run("dns.dnssec.mx", zone(mx_dnssec=bogus)).status == Status.FAIL
    unknown = (DnssecStatus(MX1.name, "indeterminate", detail="SERVFAIL"),)
    assert run("dns.dnssec.mx", zone(mx_dnssec=unknown)).status == Status.NOT_TESTED
    assert run("dns.dnssec.mx", zone(mx_dnssec=())).status == Status.NOT_TESTED


# ---------------------------------------------------------------- DMARC depth


def test_dmarc_external_destination_authorised_or_warned() -> None:
    rec = f"v=DMARC1; p=reject; rua=mailto:d@{ZONE},mailto:agg@reports.example.net"
    qname = f"{ZONE}._report._dmarc.reports.example.net"
    ok = good_zone(dmarc=txt(f"_dmarc.{ZONE}", rec), dmarc_report_auth=(txt(qname, "v=DMARC1"),))
    v = run("mail.dmarc", ok)
    assert v.status == Status.PASS, v.message
    assert v.evidence["external_report_destinations"] == {"reports.example.net": "authorised"}
    missing = replace(ok, dmarc_report_auth=(ans(qname, "TXT", outcome=Outcome.NXDOMAIN),))
    v = run("mail.dmarc", missing)
    assert v.status == Status.WARN and "reports.example.net" in v.message


def test_dmarc_t_y_and_org_fallback_still_judged() -> None:
    sub = "sub." + ZONE
    z = good_zone(
        zone=sub,
        dmarc=ans(f"_dmarc.{sub}", "TXT", outcome=Outcome.NXDOMAIN),
        org_domain=ZONE,
        dmarc_org=txt(f"_dmarc.{ZONE}", "v=DMARC1; p=reject; sp=quarantine"),
    )
    v = run("mail.dmarc", z)
    assert v.status == Status.PASS and v.evidence["org_domain_fallback"] is True
    t = good_zone(dmarc=txt(f"_dmarc.{ZONE}", "v=DMARC1; p=reject; t=y"))
    assert run("mail.dmarc", t).status == Status.FAIL


def test_txt_validation_state_in_evidence() -> None:
    signed = replace(good_zone().spf, authenticated=True)  # type: ignore[type-var]
    v = run("mail.spf", good_zone(spf=signed))
    assert v.evidence["dnssec"] == "secure (AD)"
    assert run("mail.dmarc", good_zone()).evidence["dnssec"] == "unknown"


def test_new_fields_round_trip() -> None:
    z = zone(dkim=_dkim(Outcome.NODATA, Outcome.NODATA), dmarc_report_auth=(txt("x", "v"),))
    assert serde.loads(serde.dumps(z), ZoneObservations) == z


def test_dane_exists_unsigned_mx_zone_fails_without_knowing_the_resolver() -> None:
    # an unsigned agency zone and an unsigned MX zone: no answer carries AD, so whether the
    # resolver validates is unknown; but no DS above the MX zone is a fact of the parent
    # (dns.dnssec.mx's INSECURE): its TLSA, present or denied, cannot be secure
    insecure = DnssecStatus(ZONE, "insecure", "resolver", False, detail="no DS record")
    mx = (DnssecStatus(MX1.name, "insecure", "resolver", False, detail="no DS record"),)
    for t, words in ((tlsa(ad=False), "denial is not signed"), (tlsa(EE, ad=False), "not DNSSEC")):
        z = zone(dnssec=insecure, mx_dnssec=mx, tlsa=(t,))
        v = run("mail.dane.exists", z)
        assert v.status == Status.FAIL and words in v.message and "no DS" in v.message, v.message
        assert run("mail.dane.rollover", z).status == Status.NOT_APPLICABLE
    # the MX zone's status unknown as well: still not tested
    unknown = (DnssecStatus(MX1.name, "indeterminate"),)
    z = zone(dnssec=insecure, mx_dnssec=unknown, tlsa=(tlsa(ad=False),))
    assert run("mail.dane.exists", z).status == Status.NOT_TESTED


# ---------------------------------------------------------------- TLSA behind a CNAME
CHAIN = ("mx1.tlsa.provider.vn",)


def test_dane_exists_tlsa_behind_a_secure_cname_chain_passes() -> None:
    # RFC 7671 section 7: the resolver followed the CNAME; AD covers every step
    v = run("mail.dane.exists", zone(tlsa=(tlsa(EE, cname_chain=CHAIN),)))
    assert v.status == Status.PASS, v.message
    row = v.evidence["mx"][MX1.name]
    assert row["cname_chain"] == list(CHAIN) and row["usable"] == [EE]
    assert "CNAME -> mx1.tlsa.provider.vn" in row["message"]
    assert run("mail.dane.rollover", zone(tlsa=(tlsa(EE, TA, cname_chain=CHAIN),))).status == (
        Status.PASS
    )


def test_dane_exists_tlsa_behind_an_insecure_cname_step_fails() -> None:
    # the MX zone is signed, but a step of the chain (the target's zone) is not: no AD,
    # the records are not usable (RFC 7672 section 2.2.3)
    two = ("tlsa.unsigned.vn", "mx1.tlsa.unsigned.vn")
    v = run("mail.dane.exists", zone(tlsa=(tlsa(EE, ad=False, cname_chain=two),)))
    assert v.status == Status.FAIL, v.message
    assert "not DNSSEC-secure at every step" in v.message
    assert "tlsa.unsigned.vn -> mx1.tlsa.unsigned.vn" in v.message
    assert "usable" not in v.evidence["mx"][MX1.name]
    assert run(
        "mail.dane.rollover", zone(tlsa=(tlsa(EE, TA, ad=False, cname_chain=two),))
    ).status != (Status.PASS)


def test_dane_exists_cname_to_a_denial() -> None:
    # a CNAME whose target has no TLSA: securely denied (fail, "none"), or an insecure
    # denial (fail, "insecure"); the CNAME is named either way
    v = run("mail.dane.exists", zone(tlsa=(tlsa(outcome=Outcome.NODATA, cname_chain=CHAIN),)))
    assert v.status == Status.FAIL and "securely denied" in v.message and "CNAME" in v.message
    t = tlsa(outcome=Outcome.NXDOMAIN, ad=False, cname_chain=CHAIN)
    v = run("mail.dane.exists", zone(tlsa=(t,)))
    assert v.status == Status.FAIL and "not signed" in v.message and "CNAME" in v.message


def test_dane_exists_bogus_cname_target_fails() -> None:
    t = tlsa(EE, ad=False, bogus=True, cname_chain=CHAIN, detail="SERVFAIL; CD answered")
    v = run("mail.dane.exists", zone(tlsa=(t,)))
    assert v.status == Status.FAIL and "bogus" in v.message


# ------------------------------------------- the TLSA base domain of a CNAME'd MX host
def _mx_host(chain: tuple[str, ...], ad: bool | None, ad6: bool | None = None) -> ServerHost:
    from auditor.obs.core import DnsAnswer

    a = DnsAnswer(MX1.name, "A", Outcome.OK, ("192.0.2.25",), chain, authenticated=ad)
    aaaa = DnsAnswer(
        MX1.name,
        "AAAA",
        Outcome.OK,
        ("2001:db8::25",),
        chain,
        authenticated=ad if ad6 is None else ad6,
    )
    return ServerHost(MX1.name, a, aaaa, 10)


def test_secure_expansion_of_the_mx_host() -> None:
    from auditor.probes.maildns import secure_expansion

    # RFC 7672 2.2.3: a secure CNAME chain makes the expanded name the first base domain
    assert secure_expansion(_mx_host(("a.x.vn", "mail.provider.vn"), True)) == "mail.provider.vn"
    # no CNAME, an insecure chain, or one family's chain insecure: the MX name only
    assert secure_expansion(_mx_host((), True)) is None
    assert secure_expansion(_mx_host(("mail.provider.vn",), False)) is None
    assert secure_expansion(_mx_host(("mail.provider.vn",), True, ad6=False)) is None
    assert secure_expansion(_mx_host(("mail.provider.vn",), None)) is None


def test_dane_exists_names_the_expanded_base_domain() -> None:
    t = replace(tlsa(EE), qname="_25._tcp.mail.provider.vn", base="mail.provider.vn")
    v = run("mail.dane.exists", zone(tlsa=(t,)))
    assert v.status == Status.PASS, v.message
    row = v.evidence["mx"][MX1.name]
    assert row["base"] == "mail.provider.vn" and "RFC 7672 2.2.3" in row["message"]
    # the expanded name securely denied: the MX name's records were used, and that is said
    tried = ("_25._tcp.mail.provider.vn (the CNAME-expanded name): no TLSA, securely denied",)
    v = run("mail.dane.exists", zone(tlsa=(replace(tlsa(EE), tried=tried),)))
    assert v.status == Status.PASS and v.evidence["mx"][MX1.name]["tried"] == list(tried)
