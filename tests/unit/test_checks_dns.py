"""dns.* checks from observation fixtures (no network)."""

from __future__ import annotations

from dataclasses import replace

from auditor.model import Status
from auditor.obs import HostObservations
from auditor.obs.core import DnsAnswer, HostDns, Outcome
from auditor.obs.zone import DnssecStatus, ServerHost, ZoneObservations
from tests.support.factories import LAB_NETS, NOW, NS1, ZONE, ans, good_zone, run, server

HOST = "www.example.gov.vn"


def host(a: DnsAnswer, aaaa: DnsAnswer, pinned: bool = False) -> HostObservations:
    return HostObservations(HOST, HostDns(HOST, a, aaaa), pinned=pinned)


# ---------------------------------------------------------------- dns.resolve


def test_resolve_pass() -> None:
    v = run("dns.resolve", host(ans(HOST, "A", "192.0.2.1"), ans(HOST, "AAAA")))
    assert v.status == Status.PASS


def test_resolve_nxdomain_and_nodata_fail() -> None:
    nx = DnsAnswer(HOST, "A", Outcome.NXDOMAIN)
    v = run("dns.resolve", host(nx, replace(nx, rdtype="AAAA")))
    assert v.status == Status.FAIL and "NXDOMAIN" in v.message
    v = run("dns.resolve", host(ans(HOST, "A"), ans(HOST, "AAAA")))
    assert v.status == Status.FAIL and "no A or AAAA" in v.message


def test_resolve_servfail_fails() -> None:
    sf = DnsAnswer(HOST, "A", Outcome.SERVFAIL)
    v = run("dns.resolve", host(sf, replace(sf, rdtype="AAAA")))
    assert v.status == Status.FAIL and "SERVFAIL" in v.message


def test_resolve_timeout_depends_on_resolver_health() -> None:
    to = DnsAnswer(HOST, "A", Outcome.TIMEOUT)
    # our resolver may be the problem: not tested
    assert run("dns.resolve", host(to, replace(to, rdtype="AAAA"))).status == Status.NOT_TESTED
    # the resolver answers for the parent: the name's servers are lame -> fail
    ok = replace(to, resolver_ok=True)
    v = run("dns.resolve", host(ok, replace(ok, rdtype="AAAA")))
    assert v.status == Status.FAIL and "lame" in v.message


def test_resolve_pinned_not_applicable() -> None:
    # gate --resolve: DNS bypassed on purpose; the gate must still be able to pass.
    v = run("dns.resolve", host(ans(HOST, "A", "192.0.2.1"), ans(HOST, "AAAA"), pinned=True))
    assert v.status == Status.NOT_APPLICABLE and "--resolve" in v.message


# ---------------------------------------------------------------- dns.dnssec


def dnssec(status: str, **kw: object) -> DnssecStatus:
    return DnssecStatus(ZONE, status, **kw)  # type: ignore[arg-type]


def test_dnssec_secure_pass() -> None:
    v = run("dns.dnssec", good_zone())
    assert v.status == Status.PASS and v.evidence["dnskey_algorithms"] == [13]


def test_dnssec_insecure_partial_fail() -> None:
    v = run("dns.dnssec", good_zone(dnssec=dnssec("insecure", ds_present=False, detail="no DS")))
    assert v.status == Status.FAIL and v.score == 0.5


def test_dnssec_bogus_fail() -> None:
    v = run("dns.dnssec", good_zone(dnssec=dnssec("bogus", detail="sig expired")))
    assert v.status == Status.FAIL and v.score == 0.0


def test_dnssec_unknown_not_tested() -> None:
    for st in ("indeterminate", "unvalidated"):
        assert run("dns.dnssec", good_zone(dnssec=dnssec(st))).status == Status.NOT_TESTED
    assert run("dns.dnssec", good_zone(dnssec=None)).status == Status.NOT_TESTED


def test_dnssec_cname_into_insecure_zone_fails() -> None:
    cname = DnssecStatus(
        HOST, "insecure", detail="CNAME to web.cdn.vn", cname_chain=("web.cdn.vn",)
    )
    v = run("dns.dnssec", good_zone(cname_dnssec=(cname,)))
    assert v.status == Status.FAIL and v.score == 0.5 and "web.cdn.vn" in v.message
    ok = replace(cname, status="secure")
    assert run("dns.dnssec", good_zone(cname_dnssec=(ok,))).status == Status.PASS


def test_dnssec_signature_about_to_expire_warns() -> None:
    z = good_zone(dnssec=dnssec("secure", rrsig_expiry="2026-11-28T00:00:00+00:00"))
    assert run("dns.dnssec", z).status == Status.WARN


def test_dnssec_host_follows_cname() -> None:
    signed = ans(HOST, "A", "192.0.2.1")
    signed = replace(signed, authenticated=True)
    v = run("dns.dnssec.host", host(signed, replace(ans(HOST, "AAAA"), authenticated=True)))
    assert v.status == Status.PASS
    unsigned = replace(signed, authenticated=False, cname_chain=("web.cdn.vn",))
    v = run("dns.dnssec.host", host(unsigned, replace(ans(HOST, "AAAA"), authenticated=False)))
    assert v.status == Status.FAIL and "web.cdn.vn" in v.message


# ---------------------------------------------------------------- dns.ns.count


def test_ns_count_pass() -> None:
    v = run("dns.ns.count", good_zone())
    assert v.status == Status.PASS, v.message


def test_ns_count_single_fails() -> None:
    z = good_zone(ns=ans(ZONE, "NS", "ns1.example.gov.vn."), ns_hosts=(NS1,))
    v = run("dns.ns.count", z)
    assert v.status == Status.FAIL and "1 name server" in v.message


def test_ns_count_same_network_warns() -> None:
    twin = server("ns1b.example.gov.vn", ("192.0.2.54",), ("2001:db8:53::54",))
    z = good_zone(ns=ans(ZONE, "NS", NS1.name + ".", twin.name + "."), ns_hosts=(NS1, twin))
    v = run("dns.ns.count", z)
    assert (
        v.status == Status.WARN
        and "192.0.2.0/24" in v.message
        and "2001:db8:53::/48" in (v.message)
    )


def test_ns_count_single_v6_is_not_a_diversity_problem() -> None:
    v4only = server("ns4.example.net.vn", ("198.51.100.54",))
    z = good_zone(ns=ans(ZONE, "NS", NS1.name + ".", v4only.name + "."), ns_hosts=(NS1, v4only))
    assert run("dns.ns.count", z).status == Status.PASS


def test_ns_count_lookup_failed_not_tested() -> None:
    z = good_zone(ns=ans(ZONE, "NS", outcome=Outcome.SERVFAIL))
    assert run("dns.ns.count", z).status == Status.NOT_TESTED


def test_ns_count_domain_missing_fails() -> None:
    z = good_zone(ns=ans(ZONE, "NS", outcome=Outcome.NXDOMAIN), ns_hosts=())
    assert run("dns.ns.count", z).status == Status.FAIL


# ---------------------------------------------------------------- dns.caa


def test_caa_pass_and_inherited() -> None:
    assert run("dns.caa", good_zone()).status == Status.PASS
    sub = "so.example.gov.vn"
    z = good_zone(zone=sub, caa=(ans(sub, "CAA"), ans(ZONE, "CAA", '0 issue "ca.vn"')))
    v = run("dns.caa", z)
    assert v.status == Status.PASS and "inherited from example.gov.vn" in v.message


def test_caa_missing_fails() -> None:
    v = run("dns.caa", good_zone(caa=(ans(ZONE, "CAA"),)))
    assert v.status == Status.FAIL


def test_caa_unparsable_fails_and_critical_unknown_warns() -> None:
    assert run("dns.caa", good_zone(caa=(ans(ZONE, "CAA", "garbage here"),))).status == (
        Status.FAIL
    )
    crit = good_zone(caa=(ans(ZONE, "CAA", '128 tbs "x"', '0 issue "ca.vn"'),))
    assert run("dns.caa", crit).status == Status.WARN


def test_caa_lookup_failed_not_tested() -> None:
    z = good_zone(caa=(ans(ZONE, "CAA", outcome=Outcome.SERVFAIL),))
    assert run("dns.caa", z).status == Status.NOT_TESTED
    assert run("dns.caa", good_zone(caa=())).status == Status.NOT_TESTED


# ---------------------------------------------------------------- dns.zone.exists


def _missing(**changes: object) -> ZoneObservations:
    """A domain that does not exist, as the probe sees it: NXDOMAIN for its SOA from a
    resolver that answers for gov.vn."""
    nx = DnsAnswer(ZONE, "SOA", Outcome.NXDOMAIN, detail="the name does not exist (NXDOMAIN)")
    z = ZoneObservations(ZONE, soa=nx, suffix_soa=ans("gov.vn", "SOA", "a.dns.vn. h. 1 2 3 4 5"))
    return replace(z, **changes)  # type: ignore[arg-type]


def test_zone_exists_pass() -> None:
    v = run("dns.zone.exists", good_zone())
    assert v.status == Status.PASS and "exists" in v.message


def test_zone_exists_nxdomain_fails() -> None:
    v = run("dns.zone.exists", _missing())
    assert v.status == Status.FAIL and "does not exist" in v.message
    assert v.evidence["control"] == {"name": "gov.vn", "outcome": "ok"}


def test_zone_exists_untrusted_denial_not_tested() -> None:
    denied = DnsAnswer("gov.vn", "SOA", Outcome.NXDOMAIN)
    v = run("dns.zone.exists", _missing(suffix_soa=denied))
    assert v.status == Status.NOT_TESTED and "resolver" in v.message


def test_zone_exists_servfail_and_timeout_are_not_a_missing_domain() -> None:
    for outcome in (Outcome.SERVFAIL, Outcome.TIMEOUT, Outcome.DNS_REFUSED):
        soa = DnsAnswer(ZONE, "SOA", outcome)
        v = run("dns.zone.exists", good_zone(soa=soa))
        assert v.status == Status.NOT_TESTED, outcome
        assert "does not exist" not in v.message
    bogus = DnssecStatus(ZONE, "bogus", detail="SERVFAIL with validation")
    v = run("dns.zone.exists", good_zone(soa=DnsAnswer(ZONE, "SOA", "servfail"), dnssec=bogus))
    assert v.status == Status.NOT_TESTED and "dns.dnssec" in v.message


def test_zone_exists_name_without_soa_is_not_an_apex() -> None:
    sub = f"so.{ZONE}"
    z = good_zone(zone=sub, soa=ans(sub, "SOA"), apex=ZONE)
    v = run("dns.zone.exists", z)
    assert v.status == Status.PASS and "not a zone apex" in v.message and ZONE in v.message
    assert v.evidence["apex"] == ZONE


def test_missing_zone_is_one_finding_and_every_other_zone_check_points_at_it() -> None:
    from auditor.engine import evaluate_zone, make_plan
    from auditor.registry import all_checks

    zone_checks = [c for c in all_checks() if c.scope.value == "zone"]
    plan = make_plan((), (ZONE,), zone_checks, allow_nets=LAB_NETS)
    # what a scan made before this probe change stored for a missing domain: every lookup
    # NXDOMAIN, the signed denial validated (AD) so DNSSEC looked "secure"
    old = ZoneObservations(
        ZONE,
        soa=DnsAnswer(ZONE, "SOA", Outcome.NXDOMAIN),
        ns=DnsAnswer(ZONE, "NS", Outcome.NXDOMAIN),
        apex=ZONE,
        dnssec=DnssecStatus(ZONE, "secure", ds_present=False, detail="AD"),
        caa=(DnsAnswer(ZONE, "CAA", Outcome.NXDOMAIN),),
        mx=DnsAnswer(ZONE, "MX", Outcome.NXDOMAIN),
        spf=DnsAnswer(ZONE, "TXT", Outcome.NXDOMAIN),
        dmarc=DnsAnswer(f"_dmarc.{ZONE}", "TXT", Outcome.NXDOMAIN),
    )
    for obs in (old, _missing()):
        findings = {f.check: f for f in evaluate_zone(obs, plan, NOW)}
        assert findings["dns.zone.exists"].status == Status.FAIL
        others = [f for c, f in findings.items() if c != "dns.zone.exists"]
        assert {c.id for c in zone_checks} - {"dns.zone.exists"} <= set(findings)
        for f in others:
            assert f.status == Status.NOT_APPLICABLE, (f.check, f.status, f.message)
            assert "dns.zone.exists" in f.message
            assert f.evidence["precondition"] == "dns.zone.exists"


def test_servfail_zone_is_still_judged_by_the_other_checks() -> None:
    from auditor.engine import evaluate_zone, make_plan
    from auditor.registry import get_check

    plan = make_plan(
        (), (ZONE,), [get_check("dns.dnssec"), get_check("dns.zone.exists")], allow_nets=LAB_NETS
    )
    bogus = DnssecStatus(ZONE, "bogus", detail="SERVFAIL with validation")
    obs = good_zone(soa=DnsAnswer(ZONE, "SOA", Outcome.SERVFAIL), dnssec=bogus)
    findings = {f.check: f for f in evaluate_zone(obs, plan, NOW)}
    assert findings["dns.dnssec"].status == Status.FAIL
    assert findings["dns.zone.exists"].status == Status.NOT_TESTED


def test_ns_count_two_names_on_one_address_are_one_network() -> None:
    # two NS names for one (anycast) address: the evidence lists one /24, so no pass
    alias = server("ns2.example.net.vn", ("192.0.2.53",), ("2001:db8:53::53",))
    z = good_zone(ns=ans(ZONE, "NS", NS1.name + ".", alias.name + "."), ns_hosts=(NS1, alias))
    v = run("dns.ns.count", z)
    assert v.status == Status.WARN, v.message
    assert v.evidence["v4_networks"] == ["192.0.2.0/24"] and "192.0.2.0/24" in v.message


def test_ns_count_unknown_addresses_do_not_prove_diversity() -> None:
    # ns2's address lookups timed out: one /24 in the evidence, diversity unproven
    lost = ServerHost(
        "ns2.example.net.vn",
        DnsAnswer("ns2.example.net.vn", "A", Outcome.TIMEOUT),
        DnsAnswer("ns2.example.net.vn", "AAAA", Outcome.TIMEOUT),
    )
    z = good_zone(ns_hosts=(NS1, lost))
    v = run("dns.ns.count", z)
    assert v.status == Status.NOT_TESTED and "timeout" in v.message
    assert "different networks" not in v.message
    # an NS the probe never looked up (deadline, or past its cap of 13 names)
    v = run("dns.ns.count", good_zone(ns_hosts=(NS1,)))
    assert v.status == Status.NOT_TESTED and "not looked up" in v.message
    # nothing looked up at all: no pass "their addresses could not be looked up"
    assert run("dns.ns.count", good_zone(ns_hosts=())).status == Status.NOT_TESTED


def test_ns_count_pass_names_the_networks_it_saw() -> None:
    v = run("dns.ns.count", good_zone())
    assert v.status == Status.PASS
    for net in ("192.0.2.0/24", "198.51.100.0/24", "2001:db8:53::/48", "2001:db8:153::/48"):
        assert net in v.message
    # one v4-only and one v6-only server are in different networks too
    a = server("ns1.example.gov.vn", ("192.0.2.53",))
    b = server("ns2.example.net.vn", (), ("2001:db8:153::53",))
    assert run("dns.ns.count", good_zone(ns_hosts=(a, b))).status == Status.PASS


def test_ns_count_name_server_without_any_address_fails() -> None:
    ghost = server("ns2.example.net.vn")  # A and AAAA answered NODATA
    v = run("dns.ns.count", good_zone(ns_hosts=(NS1, ghost)))
    assert v.status == Status.FAIL and "no address" in v.message


def test_caa_cut_at_the_record_cap_is_not_judged() -> None:
    cut = replace(ans(ZONE, "CAA", '0 issue "ca.vn"'), truncated=True, detail="150 records")
    assert run("dns.caa", good_zone(caa=(cut,))).status == Status.NOT_TESTED
    # an NS RRset cut at the cap: two servers in different networks are still shown (a
    # pass holds on a part), and the evidence says servers are missing from it
    good_ns = good_zone().ns
    assert good_ns is not None
    ns = replace(good_ns, truncated=True, detail="150 records")
    v = run("dns.ns.count", good_zone(ns=ns))
    assert v.status == Status.PASS and "(more)" in v.evidence["unknown"]
    # ...but "all in one network" is not provable then
    twin = server("ns1b.example.gov.vn", ("192.0.2.54",), ("2001:db8:53::54",))
    names = ans(ZONE, "NS", NS1.name + ".", twin.name + ".")
    same = good_zone(ns=replace(names, truncated=True), ns_hosts=(NS1, twin))
    assert run("dns.ns.count", same).status == Status.NOT_TESTED
