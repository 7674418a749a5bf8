"""mail.* checks from observation fixtures (no network)."""

from __future__ import annotations

from dataclasses import replace

from auditor import serde
from auditor.engine import evaluate_zone, make_plan
from auditor.model import Status
from auditor.obs.core import Outcome
from auditor.obs.zone import MtaStsFetch, SmtpProbe, ZoneObservations
from auditor.registry import all_checks
from tests.support.factories import (
    LAB_NETS,
    MX1,
    NOW,
    ZONE,
    ans,
    good_zone,
    run,
    server,
    smtp_ok,
    txt,
)

# ---------------------------------------------------------------- mail.spf


def test_spf_pass() -> None:
    v = run("mail.spf", good_zone())
    assert v.status == Status.PASS, v.message
    assert v.evidence["lookups"] == 1


def test_spf_softfail_and_redirect_pass() -> None:
    assert run("mail.spf", good_zone(spf=txt(ZONE, "v=spf1 ip4:192.0.2.0/24 ~all"))).status == (
        Status.PASS
    )
    z = good_zone(
        spf=txt(ZONE, "v=spf1 redirect=_spf.example.gov.vn"),
        spf_lookups=(txt("_spf.example.gov.vn", "v=spf1 ip6:2001:db8::/32 -all"),),
    )
    assert run("mail.spf", z).status == Status.PASS


def test_spf_missing_fails() -> None:
    v = run("mail.spf", good_zone(spf=txt(ZONE, "hello", outcome=Outcome.OK)))
    assert v.status == Status.FAIL and "no SPF" in v.message
    assert run("mail.spf", good_zone(spf=ans(ZONE, "TXT", outcome=Outcome.NXDOMAIN))).status == (
        Status.FAIL
    )


def test_spf_two_records_fail() -> None:
    v = run("mail.spf", good_zone(spf=txt(ZONE, "v=spf1 -all", "v=spf1 mx -all")))
    assert v.status == Status.FAIL and "2 SPF records" in v.message


def test_spf_plus_all_and_neutral_fail() -> None:
    for rec in ("v=spf1 +all", "v=spf1 mx ?all", "v=spf1 mx"):
        v = run("mail.spf", good_zone(spf=txt(ZONE, rec), spf_lookups=()))
        assert v.status == Status.FAIL, rec


def test_spf_too_many_lookups_fail() -> None:
    includes = " ".join(f"include:i{i}.example.gov.vn" for i in range(11))
    lookups = tuple(txt(f"i{i}.example.gov.vn", "v=spf1 ip4:192.0.2.1 -all") for i in range(11))
    v = run("mail.spf", good_zone(spf=txt(ZONE, f"v=spf1 {includes} -all"), spf_lookups=lookups))
    # RFC 7208 4.6.4: the 11th DNS-querying term is a permerror, named
    assert v.status == Status.FAIL and "more than 10 DNS-querying terms" in v.message
    assert "include:i10.example.gov.vn" in v.message
    assert v.evidence["lookups"] == 11


def test_spf_void_lookups_fail() -> None:
    # RFC 7208 4.6.4: exceeding the void-lookup limit "produces a permerror result"
    z = good_zone(
        spf=txt(ZONE, "v=spf1 a:x1.vn a:x2.vn a:x3.vn -all"),
        spf_lookups=tuple(
            ans(f"x{i}.vn", t, outcome=Outcome.NXDOMAIN) for i in (1, 2, 3) for t in ("A", "AAAA")
        ),
    )
    v = run("mail.spf", z)
    assert v.status == Status.FAIL and v.evidence["void_lookups"] == 3


def test_spf_lookup_failure_not_tested() -> None:
    v = run("mail.spf", good_zone(spf=ans(ZONE, "TXT", outcome=Outcome.TIMEOUT)))
    assert v.status == Status.NOT_TESTED
    assert run("mail.spf", ZoneObservations(ZONE)).status == Status.NOT_TESTED


# ---------------------------------------------------------------- mail.dmarc


def test_dmarc_reject_pass() -> None:
    v = run("mail.dmarc", good_zone())
    assert v.status == Status.PASS and v.evidence["p"] == "reject"


def test_dmarc_required_policy_reject_for_bod_18_01() -> None:
    quarantine = good_zone(dmarc=txt(f"_dmarc.{ZONE}", "v=DMARC1; p=quarantine"))
    assert run("mail.dmarc", quarantine).status == Status.PASS  # default: quarantine suffices
    v = run("mail.dmarc", quarantine, required_policy="reject")
    assert v.status == Status.FAIL and v.score == 0.75 and "requires p=reject" in v.message
    assert run("mail.dmarc", good_zone(), required_policy="reject").status == Status.PASS
    from auditor.profiles import load_profile

    assert load_profile("us-bod-18-01").params["mail.dmarc"] == {"required_policy": "reject"}


def test_dmarc_none_partial_fail() -> None:
    v = run("mail.dmarc", good_zone(dmarc=txt(f"_dmarc.{ZONE}", "v=DMARC1; p=none")))
    assert v.status == Status.FAIL and v.score == 0.5


def test_dmarc_missing_fail_and_org_fallback() -> None:
    none = txt(f"_dmarc.{ZONE}", outcome=Outcome.NXDOMAIN)
    assert run("mail.dmarc", good_zone(dmarc=none)).status == Status.FAIL
    sub = "so.example.gov.vn"
    z = good_zone(
        zone=sub,
        dmarc=txt(f"_dmarc.{sub}", outcome=Outcome.NXDOMAIN),
        org_domain=ZONE,
        dmarc_org=txt(f"_dmarc.{ZONE}", "v=DMARC1; p=none; sp=reject"),
    )
    v = run("mail.dmarc", z)
    # the organisational domain's sp= applies to the subdomain (RFC 7489 6.6.3)
    assert v.status == Status.PASS and v.evidence["org_domain_fallback"] is True
    assert v.evidence["effective_policy"] == "reject"


def test_dmarc_pct_warn_and_invalid_fail() -> None:
    v = run("mail.dmarc", good_zone(dmarc=txt(f"_dmarc.{ZONE}", "v=DMARC1; p=quarantine; pct=20")))
    assert v.status == Status.WARN and v.evidence["pct"] == 20
    v = run("mail.dmarc", good_zone(dmarc=txt(f"_dmarc.{ZONE}", "v=DMARC1; p=maybe")))
    assert v.status == Status.FAIL
    two = txt(f"_dmarc.{ZONE}", "v=DMARC1; p=reject", "v=DMARC1; p=none")
    assert run("mail.dmarc", good_zone(dmarc=two)).status == Status.FAIL


def test_dmarc_servfail_not_tested() -> None:
    v = run("mail.dmarc", good_zone(dmarc=ans(f"_dmarc.{ZONE}", "TXT", outcome=Outcome.SERVFAIL)))
    assert v.status == Status.NOT_TESTED


# ---------------------------------------------------------------- mail.starttls


def test_starttls_pass() -> None:
    v = run("mail.starttls", good_zone())
    assert v.status == Status.PASS
    assert {r["family"] for r in v.evidence["smtp"].values()} == {"v4", "v6"}


def test_starttls_missing_on_v6_fails() -> None:
    probes = tuple(replace(p, starttls=False) if ":" in p.address else p for p in smtp_ok(MX1))
    v = run("mail.starttls", good_zone(smtp=probes))
    assert v.status == Status.FAIL and "2001:db8:25::25" in v.message and "(v6)" in v.message


def test_starttls_not_applicable_without_mx() -> None:
    assert run("mail.starttls", good_zone(mx=ans(ZONE, "MX"))).status == Status.NOT_APPLICABLE
    nullmx = good_zone(mx=ans(ZONE, "MX", "0 ."), mx_hosts=())
    assert run("mail.starttls", nullmx).status == Status.NOT_APPLICABLE


def test_starttls_unreachable_mx_not_tested() -> None:
    dead = tuple(SmtpProbe(MX1.name, a, Outcome.TIMEOUT, detail="no answer") for a in MX1.addresses)
    assert run("mail.starttls", good_zone(smtp=dead)).status == Status.NOT_TESTED


# ---------------------------------------------------------------- mail.mta_sts


def test_mta_sts_pass() -> None:
    assert run("mail.mta_sts", good_zone()).status == Status.PASS


def test_mta_sts_absent_is_info() -> None:
    z = good_zone()
    assert z.mta_sts is not None
    sts = replace(z.mta_sts, txt=txt(f"_mta-sts.{ZONE}", outcome=Outcome.NXDOMAIN), fetch=None)
    assert run("mail.mta_sts", replace(z, mta_sts=sts)).status == Status.INFO


def test_mta_sts_policy_missing_fails() -> None:
    z = good_zone()
    assert z.mta_sts is not None
    sts = replace(z.mta_sts, fetch=MtaStsFetch("2001:db8::443", Outcome.OK, 404, "text/html", ""))
    v = run("mail.mta_sts", replace(z, mta_sts=sts))
    assert v.status == Status.FAIL and "404" in v.message


def test_mta_sts_policy_not_covering_mx_fails() -> None:
    z = good_zone()
    assert z.mta_sts is not None
    body = "version: STSv1\nmode: enforce\nmx: other.example.vn\nmax_age: 604800\n"
    fetch = MtaStsFetch("2001:db8::443", Outcome.OK, 200, "text/plain", body)
    v = run("mail.mta_sts", replace(z, mta_sts=replace(z.mta_sts, fetch=fetch)))
    assert v.status == Status.FAIL and "mx1.example.gov.vn" in v.message


def test_mta_sts_tls_error_fails_and_testing_is_info() -> None:
    z = good_zone()
    assert z.mta_sts is not None
    bad = MtaStsFetch("2001:db8::443", Outcome.TLS_ERROR, detail="certificate verify failed")
    assert run("mail.mta_sts", replace(z, mta_sts=replace(z.mta_sts, fetch=bad))).status == (
        Status.FAIL
    )
    body = "version: STSv1\nmode: testing\nmx: mx1.example.gov.vn\nmax_age: 604800\n"
    testing = MtaStsFetch("2001:db8::443", Outcome.OK, 200, "text/plain", body)
    v = run("mail.mta_sts", replace(z, mta_sts=replace(z.mta_sts, fetch=testing)))
    assert v.status == Status.INFO


# ---------------------------------------------------------------- through the engine


def test_round_trip_and_engine() -> None:
    z = good_zone(mx_hosts=(MX1, server("mx2.example.gov.vn", ("192.0.2.26",), pref=20)))
    back = serde.loads(serde.dumps(z), ZoneObservations)
    assert back == z
    plan = make_plan(
        [], [ZONE], [c for c in all_checks() if c.id.startswith("mail.")], allow_nets=LAB_NETS
    )
    findings = evaluate_zone(back, plan, NOW)
    mail_tls = {
        "mail.tls.protocols",
        "mail.tls.ciphers",
        "mail.tls.kex_params",
        "mail.tls.kex_hash",
        "mail.tls.cipher_order",
        "mail.tls.compression",
        "mail.tls.renegotiation",
        "mail.tls.ems",
        "mail.tls.cert",
        "mail.dane.valid",
    }
    assert {f.check for f in findings} == {"mail.spf", "mail.dmarc", "mail.starttls",
                                           "mail.mta_sts", "mail.dkim", "mail.dane.exists",
                                           "mail.dane.rollover"} | mail_tls  # fmt: skip
    assert all(f.status != Status.ERROR for f in findings), findings


def test_old_stored_zone_loads() -> None:
    # a zone stored before these fields existed still loads and evaluates to not_tested
    old = serde.loads('{"zone": "example.gov.vn", "outcome": "ok", "detail": ""}', ZoneObservations)
    assert run("mail.spf", old).status == Status.NOT_TESTED


def test_a_txt_rrset_cut_at_the_record_cap_is_not_judged() -> None:
    # 120 TXT records at the apex, 100 kept: "no SPF" or "exactly one" cannot be said
    cut = replace(
        txt(ZONE, *(f"token-{i}" for i in range(100))),
        truncated=True,
        detail="120 records, kept the first 100",
    )
    v = run("mail.spf", good_zone(spf=cut))
    assert v.status == Status.NOT_TESTED and "max_dns_records" in v.message
    good_dmarc = good_zone().dmarc
    assert good_dmarc is not None
    dmarc = replace(good_dmarc, truncated=True, detail="101 records")
    assert run("mail.dmarc", good_zone(dmarc=dmarc)).status == Status.NOT_TESTED
