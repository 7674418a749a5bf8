"""ipv6.* checks (web, name servers, MX) from observation fixtures (no network)."""

from __future__ import annotations

from dataclasses import replace

from auditor import serde
from auditor.engine import evaluate_host, make_plan
from auditor.model import Status
from auditor.obs import HostObservations, PingObservation
from auditor.obs.core import DnsAnswer, HostDns, Outcome, TcpProbe
from auditor.obs.http import HttpObservation
from auditor.obs.subresources import SubresourceHost, SubresourceObservation
from auditor.obs.zone import NsQuery, SmtpProbe
from auditor.registry import all_checks
from tests.support.factories import LAB_NETS, MX1, NOW, NS1, NS2, ZONE, ans, good_zone, run, server

HOST = "www.example.gov.vn"
V4 = "192.0.2.10"
V6 = "2001:db8:80::10"


def tcp(address: str, port: int, outcome: str = Outcome.OPEN) -> TcpProbe:
    return TcpProbe(address, port, outcome)


def web(
    v4: tuple[str, ...] = (V4,),
    v6: tuple[str, ...] = (V6,),
    probes: tuple[TcpProbe, ...] | None = None,
    **kw: object,
) -> HostObservations:
    dns = HostDns(HOST, ans(HOST, "A", *v4), ans(HOST, "AAAA", *v6))
    if probes is None:
        probes = tuple(tcp(a, p) for a in v4 + v6 for p in (80, 443))
    return HostObservations(HOST, dns, tcp=probes, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- ipv6.web.aaaa


def test_web_aaaa_pass_and_fail() -> None:
    assert run("ipv6.web.aaaa", web()).status == Status.PASS
    assert run("ipv6.web.aaaa", web(v6=())).status == Status.FAIL
    v = run("ipv6.web.aaaa", web(v6=("::ffff:192.0.2.10",)))
    assert v.status == Status.FAIL and "IPv4-mapped" in v.message


# ---------------------------------------------------------------- ipv6.web.reach


def test_web_reach_pass() -> None:
    v = run("ipv6.web.reach", web())
    assert v.status == Status.PASS and v.evidence["ports_required"] == [80, 443]


def test_web_reach_drop_and_refusal_are_told_apart() -> None:
    dropped = web(
        probes=(tcp(V4, 80), tcp(V4, 443), tcp(V6, 80, "timeout"), tcp(V6, 443, "timeout"))
    )
    refused = web(
        probes=(tcp(V4, 80), tcp(V4, 443), tcp(V6, 80, "refused"), tcp(V6, 443, "refused"))
    )
    vd, vr = run("ipv6.web.reach", dropped), run("ipv6.web.reach", refused)
    # IPv4 works, IPv6 does not: never a pass
    assert vd.status == vr.status == Status.FAIL
    assert "silently dropped" in vd.message and "refused" not in vd.message
    assert "refused" in vr.message and "dropped" not in vr.message
    assert vd.evidence["v6"][V6] == {"80": "timeout", "443": "timeout"}
    assert vr.evidence["v6"][V6] == {"80": "refused", "443": "refused"}


def test_web_reach_partial_is_fail_with_score() -> None:
    v = run(
        "ipv6.web.reach",
        web(probes=(tcp(V4, 80), tcp(V4, 443), tcp(V6, 80), tcp(V6, 443, "refused"))),
    )
    assert v.status == Status.FAIL and v.score == 0.5 and ":443" in v.message


def test_web_reach_only_ports_v4_serves() -> None:
    # IPv4 serves only 443: IPv6 closed on 80 does not matter
    probes = (tcp(V4, 80, "refused"), tcp(V4, 443), tcp(V6, 80, "refused"), tcp(V6, 443))
    assert run("ipv6.web.reach", web(probes=probes)).status == Status.PASS


def test_web_reach_ipv6_only_host() -> None:
    assert run(
        "ipv6.web.reach", web(v4=(), probes=(tcp(V6, 80, "refused"), tcp(V6, 443)))
    ).status == (Status.PASS)
    v = run("ipv6.web.reach", web(v4=(), probes=(tcp(V6, 80, "timeout"), tcp(V6, 443, "timeout"))))
    assert v.status == Status.FAIL


def test_web_reach_unreachable_and_blocked() -> None:
    v = run("ipv6.web.reach", web(probes=(tcp(V4, 443), tcp(V6, 443, "unreachable"))))
    assert v.status == Status.FAIL and "unreachable" in v.message
    v = run("ipv6.web.reach", web(probes=(tcp(V4, 443), tcp(V6, 443, "blocked"))))
    assert v.status == Status.NOT_TESTED


def test_web_reach_no_aaaa_not_applicable() -> None:
    assert run("ipv6.web.reach", web(v6=())).status == Status.NOT_APPLICABLE


# ---------------------------------------------------------------- ipv6.web.icmp


def test_web_icmp() -> None:
    ok = web(icmp=(PingObservation(V6, Outcome.OK, 1.0),))
    assert run("ipv6.web.icmp", ok).status == Status.PASS
    silent = web(icmp=(PingObservation(V6, Outcome.TIMEOUT),))
    assert run("ipv6.web.icmp", silent).status == Status.WARN
    assert run("ipv6.web.icmp", silent, status_when_silent="fail").status == Status.FAIL
    noperm = web(icmp=(PingObservation(V6, Outcome.SKIPPED, detail="no raw-socket privilege"),))
    v = run("ipv6.web.icmp", noperm)
    assert v.status == Status.NOT_TESTED and "privilege" in v.message
    assert run("ipv6.web.icmp", web(v6=())).status == Status.NOT_APPLICABLE


def test_icmp_check_is_not_scored() -> None:
    assert next(c for c in all_checks() if c.id == "ipv6.web.icmp").scored is False


# ---------------------------------------------------------------- ipv6.web.only


def sub_host(name: str, v6: tuple[str, ...], outcome: str = Outcome.OPEN) -> SubresourceHost:
    return SubresourceHost(
        name, 443, ans(name, "AAAA", *v6), tuple(tcp(a, 443, outcome) for a in v6), ("script",)
    )


def with_subs(*hosts: SubresourceHost, outcome: str = Outcome.OK) -> HostObservations:
    sub = SubresourceObservation(outcome, "", V6, f"https://{HOST}/", hosts)
    return web(http=(HttpObservation(V6, Outcome.OK),), subresources=sub)


def test_web_only_pass() -> None:
    v = run("ipv6.web.only", with_subs(sub_host("static.cdn6.vn", ("2001:db8:cd::6",))))
    assert v.status == Status.PASS
    assert run("ipv6.web.only", with_subs()).status == Status.PASS


def test_web_only_ipv4_only_resource_fails() -> None:
    v = run(
        "ipv6.web.only",
        with_subs(sub_host("static.cdn6.vn", ("2001:db8:cd::6",)), sub_host("static.cdn4.vn", ())),
    )
    assert v.status == Status.FAIL and "static.cdn4.vn" in v.message and v.score == 0.5
    assert v.evidence["broken"] == ["static.cdn4.vn (script): no AAAA record"]


def test_web_only_dead_aaaa_fails() -> None:
    v = run("ipv6.web.only", with_subs(sub_host("maps.x.vn", ("2001:db8:cd::9",), "timeout")))
    assert v.status == Status.FAIL and "does not answer" in v.message


def test_web_only_undecided() -> None:
    assert run("ipv6.web.only", web()).status == Status.NOT_TESTED  # probe did not run
    v = run("ipv6.web.only", with_subs(outcome=Outcome.SKIPPED))
    assert v.status == Status.NOT_TESTED
    blocked = run("ipv6.web.only", with_subs(sub_host("x.vn", ("2001:db8:cd::1",), "blocked")))
    assert blocked.status == Status.NOT_TESTED
    # a resource host whose only AAAA is unique-local: no IPv6-only citizen can load it
    ula = run("ipv6.web.only", with_subs(sub_host("x.vn", ("fd00::1",), "blocked")))
    assert ula.status == Status.FAIL and "unique-local" in ula.message
    assert run("ipv6.web.only", web(v6=())).status == Status.NOT_APPLICABLE


# ---------------------------------------------------------------- ipv6.ns.aaaa


def test_ns_aaaa() -> None:
    assert run("ipv6.ns.aaaa", good_zone()).status == Status.PASS

    def zone_of(*hosts: object) -> object:
        names = [h.name + "." for h in hosts]  # type: ignore[attr-defined]
        return good_zone(ns=ans(ZONE, "NS", *names), ns_hosts=hosts)

    v4ns = server("ns4.example.net.vn", ("198.51.100.54",))
    one = zone_of(NS1, v4ns)
    v = run("ipv6.ns.aaaa", one)
    assert v.status == Status.FAIL and v.score == 0.5
    v4b = server("ns4b.example.net.vn", ("198.51.100.55",))
    v = run("ipv6.ns.aaaa", zone_of(v4ns, v4b))
    assert v.status == Status.FAIL and v.score == 0.0
    unknown = server("ns9.example.net.vn", ("198.51.100.9",), aaaa_outcome=Outcome.TIMEOUT)
    assert run("ipv6.ns.aaaa", zone_of(NS1, unknown)).status == Status.NOT_TESTED
    # an NS of the RRset the probe never looked at (its cap, the deadline) may be the
    # second one with an AAAA: not a fail
    v = run("ipv6.ns.aaaa", good_zone(ns_hosts=(NS1,)))
    assert v.status == Status.NOT_TESTED and "ns2.example.net.vn" in v.message
    assert run("ipv6.ns.aaaa", good_zone(ns=None)).status == Status.NOT_TESTED


# ---------------------------------------------------------------- ipv6.ns.reach


def test_ns_reach_pass() -> None:
    v = run("ipv6.ns.reach", good_zone())
    assert v.status == Status.PASS and len(v.evidence["queries"]) == 4


def test_ns_reach_per_address_per_transport() -> None:
    z = good_zone()
    queries = tuple(
        replace(q, outcome="timeout", aa=None, rcode=None)
        if q.ns == NS2.name and q.transport == "tcp"
        else q
        for q in z.ns_queries
    )
    v = run("ipv6.ns.reach", replace(z, ns_queries=queries))
    assert v.status == Status.FAIL and v.score == 0.75
    assert "2001:db8:153::53] tcp" in v.message and "udp" not in v.message


def test_ns_reach_lame_and_refused() -> None:
    z = good_zone()
    lame = tuple(replace(q, outcome="not_authoritative", aa=False) for q in z.ns_queries)
    v = run("ipv6.ns.reach", replace(z, ns_queries=lame))
    assert v.status == Status.FAIL and "lame" in v.message


def test_ns_reach_na_and_not_tested() -> None:
    v4ns = server("ns4.example.net.vn", ("198.51.100.54",))
    assert run("ipv6.ns.reach", good_zone(ns_hosts=(v4ns,), ns_queries=())).status == (
        Status.NOT_APPLICABLE
    )
    assert run("ipv6.ns.reach", good_zone(ns_queries=())).status == Status.NOT_TESTED
    blocked = tuple(
        NsQuery(q.ns, q.address, q.transport, "blocked", detail="guard")
        for q in good_zone().ns_queries
    )
    assert run("ipv6.ns.reach", good_zone(ns_queries=blocked)).status == Status.NOT_TESTED


# ---------------------------------------------------------------- ipv6.mx.aaaa / reach


def test_mx_aaaa() -> None:
    assert run("ipv6.mx.aaaa", good_zone()).status == Status.PASS
    v4mx = server("mx2.example.gov.vn", ("192.0.2.26",), pref=20)
    v = run("ipv6.mx.aaaa", good_zone(mx_hosts=(MX1, v4mx)))
    assert v.status == Status.FAIL and "mx2.example.gov.vn" in v.message and v.score == 0.5


def test_mx_not_applicable() -> None:
    for mx in (ans(ZONE, "MX"), ans(ZONE, "MX", outcome=Outcome.NXDOMAIN), ans(ZONE, "MX", "0 .")):
        z = good_zone(mx=mx, mx_hosts=())
        assert run("ipv6.mx.aaaa", z).status == Status.NOT_APPLICABLE
        assert run("ipv6.mx.reach", z).status == Status.NOT_APPLICABLE
    assert run("ipv6.mx.aaaa", good_zone(mx=ans(ZONE, "MX", outcome=Outcome.TIMEOUT))).status == (
        Status.NOT_TESTED
    )


def test_mx_reach() -> None:
    assert run("ipv6.mx.reach", good_zone()).status == Status.PASS
    z = good_zone()
    dead = tuple(
        SmtpProbe(p.mx, p.address, Outcome.REFUSED, detail="connection refused")
        if ":" in p.address
        else p
        for p in z.smtp
    )
    v = run("ipv6.mx.reach", replace(z, smtp=dead))
    assert v.status == Status.FAIL and "refused" in v.message
    greet554 = tuple(
        replace(p, outcome=Outcome.PROTOCOL_ERROR, greeting_code=554) if ":" in p.address else p
        for p in z.smtp
    )
    v = run("ipv6.mx.reach", replace(z, smtp=greet554))
    assert v.status == Status.FAIL and "554" in v.message
    # no MX with IPv6: nothing to reach (ipv6.mx.aaaa fails instead)
    v4mx = server("mx1.example.gov.vn", ("192.0.2.25",), pref=10)
    assert run("ipv6.mx.reach", good_zone(mx_hosts=(v4mx,))).status == Status.NOT_APPLICABLE
    assert run("ipv6.mx.reach", good_zone(smtp=())).status == Status.NOT_TESTED


# ---------------------------------------------------------------- through the engine


def test_engine_and_round_trip() -> None:
    obs = web(
        icmp=(PingObservation(V6, Outcome.OK, 1.0),),
        http=(HttpObservation(V6, Outcome.OK),),
        subresources=SubresourceObservation(Outcome.OK, "", V6, f"https://{HOST}/", ()),
    )
    back = serde.loads(serde.dumps(obs), HostObservations)
    assert back == obs
    mine = [
        c
        for c in all_checks()
        if c.id.startswith("ipv6.web.") and c.id not in ("ipv6.web.https", "ipv6.web.parity")
    ]
    plan = make_plan([HOST], [], mine, allow_nets=LAB_NETS)
    findings = evaluate_host(back, plan, NOW)
    assert {f.check: f.status for f in findings} == {
        "ipv6.web.aaaa": Status.PASS,
        "ipv6.web.reach": Status.PASS,
        "ipv6.web.icmp": Status.PASS,
        "ipv6.web.only": Status.PASS,
    }


def test_unresolved_host_is_not_tested_by_engine() -> None:
    nx = DnsAnswer(HOST, "A", Outcome.NXDOMAIN)
    obs = HostObservations(HOST, HostDns(HOST, nx, replace(nx, rdtype="AAAA")))
    plan = make_plan(
        [HOST], [], [c for c in all_checks() if c.id == "ipv6.web.reach"], allow_nets=LAB_NETS
    )
    (f,) = evaluate_host(obs, plan, NOW)
    assert f.status == Status.NOT_TESTED


def test_web_reach_follows_any_port_ipv4_serves() -> None:
    # a scan with --ports 80,443,8443: IPv6 must serve 8443 too when IPv4 does
    probes = (
        *(tcp(a, p) for a in (V4, V6) for p in (80, 443)),
        tcp(V4, 8443),
        tcp(V6, 8443, "timeout"),
    )
    v = run("ipv6.web.reach", web(probes=probes))
    assert v.status == Status.FAIL and ":8443" in v.message


# ---------------------------------------------------------------- usable = globally reachable


def test_web_aaaa_unique_local_is_not_usable() -> None:
    from auditor.guard import AddressGuard
    from auditor.registry import CheckContext, get_check

    spec = get_check("ipv6.web.aaaa")
    ula = web(v6=("fd00::80",))
    strict = spec.run(ula, CheckContext(HOST, spec.params, NOW))
    assert strict.status == Status.FAIL and "unique-local" in strict.message
    # documentation and other special-purpose ranges the guard refuses: not usable either
    doc = spec.run(web(), CheckContext(HOST, spec.params, NOW))
    assert doc.status == Status.FAIL and "2001:db8::/32" in doc.message
    # the operator opened the range (an intranet audit): usable, and the evidence says so
    opened = AddressGuard.build(allow_private=True)
    v = spec.run(ula, CheckContext(HOST, spec.params, NOW, guard=opened))
    assert v.status == Status.PASS and "--allow-private" in v.evidence["opened"]["fd00::80"]
    assert "opened" in v.message
    lab = spec.run(web(), CheckContext(HOST, spec.params, NOW, guard=AddressGuard.build([V6])))
    assert lab.status == Status.PASS and f"--allow-net {V6}/128" in lab.evidence["opened"][V6]
    # a global address needs nothing opened
    g = spec.run(web(v6=("2a00:1450:4001::1",)), CheckContext(HOST, spec.params, NOW))
    assert g.status == Status.PASS and "opened" not in g.evidence


def test_every_ipv6_check_uses_the_same_usable_rule() -> None:
    from auditor.engine import evaluate_host, evaluate_zone

    ula = web(v6=("fd00::80",), probes=(tcp(V4, 80), tcp(V4, 443), tcp("fd00::80", 80, "blocked")))
    strict = make_plan([HOST], [], [c for c in all_checks() if c.id.startswith("ipv6.web.")])
    by = {f.check: f for f in evaluate_host(ula, strict, NOW)}
    assert by["ipv6.web.aaaa"].status == Status.FAIL
    for cid in ("ipv6.web.reach", "ipv6.web.https", "ipv6.web.parity", "ipv6.web.only"):
        assert by[cid].status == Status.NOT_APPLICABLE, (cid, by[cid].message)
    # name servers whose AAAA are unique-local do not count as IPv6 name servers
    ns_a = server("ns1.example.gov.vn", ("192.0.2.53",), ("fd00::53",))
    ns_b = server("ns2.example.net.vn", ("198.51.100.53",), ("fd00:1::53",))
    zplan = make_plan([], [ZONE], [c for c in all_checks() if c.id.startswith("ipv6.ns.")])
    zone = good_zone(ns_hosts=(ns_a, ns_b), ns_queries=())
    zby = {f.check: f for f in evaluate_zone(zone, zplan, NOW)}
    assert zby["ipv6.ns.aaaa"].status == Status.FAIL
    assert zby["ipv6.ns.reach"].status == Status.NOT_APPLICABLE
    # ...unless the scan opened them, exactly as the plan of `auditor scan --allow-private`
    opened = make_plan([], [ZONE], zplan.checks, allow_private=True)
    assert {f.check: f for f in evaluate_zone(zone, opened, NOW)}["ipv6.ns.aaaa"].status == (
        Status.PASS
    )


def test_web_only_does_not_pass_on_a_partial_list() -> None:
    good = sub_host("static.cdn6.vn", ("2001:db8:cd::6",))
    page = with_subs(good)
    assert page.subresources is not None
    # 50 hosts probed, more on the page: "all answer over IPv6" would be a guess
    more = replace(page, subresources=replace(page.subresources, skipped_hosts=7))
    v = run("ipv6.web.only", more)
    assert v.status == Status.NOT_TESTED and "7 more" in v.message
    # the landing page was cut at the body cap: resources further down were not seen
    cut = replace(page, subresources=replace(page.subresources, cut="the landing page is larger"))
    assert run("ipv6.web.only", cut).status == Status.NOT_TESTED
    # a resource host seen broken is a failure whatever was not seen
    broken = with_subs(good, sub_host("static.cdn4.vn", ()))
    assert broken.subresources is not None
    cut_broken = replace(broken, subresources=replace(broken.subresources, skipped_hosts=3))
    assert run("ipv6.web.only", cut_broken).status == Status.FAIL


# ---------------------------------------------------------------- caps: DNS records, MX names


def test_a_cut_rrset_or_names_not_looked_at_never_pass() -> None:
    cut_aaaa = replace(
        ans(HOST, "AAAA", V6), truncated=True, detail="140 records, kept the first 100"
    )
    obs = replace(web(), dns=HostDns(HOST, ans(HOST, "A", V4), cut_aaaa))
    v = run("ipv6.web.reach", obs)
    assert v.status == Status.NOT_TESTED and "max_dns_records" in v.message
    assert run("ipv6.web.aaaa", obs).status == Status.PASS  # >= 1 usable holds on a part
    # MX names past the probe's cap of 10: "every MX" cannot be said
    mx = ans(ZONE, "MX", "10 mx1.example.gov.vn.", "20 mx11.example.gov.vn.")
    for cid in ("ipv6.mx.aaaa", "ipv6.mx.reach", "mail.starttls"):
        v = run(cid, good_zone(mx=mx))
        assert v.status == Status.NOT_TESTED and "mx11.example.gov.vn" in v.message, cid
    # an MX seen without AAAA is a failure whatever was not looked at
    v4mx = server("mx1.example.gov.vn", ("192.0.2.25",), pref=10)
    assert run("ipv6.mx.aaaa", good_zone(mx=mx, mx_hosts=(v4mx,))).status == Status.FAIL
    # an NS RRset cut at the record cap: ipv6.ns.reach does not say "every"
    good_ns = good_zone().ns
    assert good_ns is not None
    ns = replace(good_ns, truncated=True, detail="120 records, kept the first 100")
    assert run("ipv6.ns.reach", good_zone(ns=ns)).status == Status.NOT_TESTED
