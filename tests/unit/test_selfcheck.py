"""The scanner's footing (auditor/selfcheck.py): the kernel-table parsers, the decisions,
the load monitor, and how the evaluation uses the footing (pure: no network)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor import serde
from auditor.engine import evaluate_host, evaluate_stored, evaluate_zone, make_plan
from auditor.model import Finding, Status, TargetKind
from auditor.obs import HostObservations, TcpProbe
from auditor.obs.core import DnsAnswer, HostDns, Outcome
from auditor.obs.zone import NsQuery, ServerHost, ZoneObservations
from auditor.registry import all_checks
from auditor.selfcheck import (
    FOOTING_KEY,
    ControlQuery,
    FamilyFooting,
    Footing,
    FootingWatch,
    FootStatus,
    KernelFacts,
    LocalAddress,
    LoopMonitor,
    ReferenceResult,
    ResolverFooting,
    Route,
    control_samples,
    control_suffixes,
    decide_family,
    decide_resolver,
    footing_of,
    parse_fib_trie,
    parse_if_inet6,
    parse_ipv4_route,
    parse_ipv6_route,
    parse_reference,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)

# Real tables: a dual-stack machine with a default route (ULA + IPv4 behind NAT) ...
IF_INET6 = """\
fd000000000000000000000000000002 04 40 00 82     eth0
00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
"""
IPV6_ROUTE = """\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000004 00000000 80200001       lo
fd000000000000000000000000000002 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001     eth0
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
"""  # noqa: E501
ROUTE4 = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
)
FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 192.0.2.0/24 2 0 2
           |-- 192.0.2.0
              /24 link UNICAST
           |-- 192.0.2.2
              /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
           |-- 127.0.0.1
              /32 host LOCAL
           |-- 192.0.2.2
              /32 host LOCAL
"""
# ... and the lab's IPv4-only client: a link-local address still in DAD, no IPv6 route but
# the kernel's "unreachable" default on lo.
IF_INET6_NONE = """\
00000000000000000000000000000001 01 80 10 80       lo
fe80000000000000707eddfffe1bee7f 02 40 20 c0 ali13a4c
"""
IPV6_ROUTE_NONE = """\
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001 ali13a4c
"""  # noqa: E501


# -- parsers ----------------------------------------------------------------------------


def test_parse_if_inet6_scopes_and_dad() -> None:
    addrs = {a.address: a for a in parse_if_inet6(IF_INET6)}
    assert addrs["fd00::2"].scope == "global" and addrs["fd00::2"].usable
    assert addrs["::1"].scope == "host" and not addrs["::1"].usable
    assert addrs["fe80::fc:ff:fe00:1"].scope == "link" and not addrs["fe80::fc:ff:fe00:1"].usable
    assert addrs["fd00::2"].interface == "eth0" and addrs["fd00::2"].prefixlen == 64
    tentative = "00000000000000000000000000000002".replace("0000", "2001", 1)
    (dad,) = parse_if_inet6(f"{tentative} 04 40 00 c0 eth0\n")  # 0x40: tentative (DAD)
    assert dad.scope == "global" and not dad.usable
    assert parse_if_inet6("garbage\n\n") == []


def test_parse_ipv6_route_keeps_what_reaches() -> None:
    routes = parse_ipv6_route(IPV6_ROUTE)
    dests = {r.destination: r for r in routes}
    # the machine's own addresses (RTF_LOCAL) and multicast are not routes anywhere
    assert set(dests) == {"fd00::/64", "fe80::/64", "::/0"}
    # lo's "unreachable" default (RTF_REJECT, not RTF_UP) is no route at all
    assert [r.destination for r in routes].count("::/0") == 1
    default = dests["::/0"]
    assert default.gateway == "fd00::1" and default.is_default and default.reaches
    assert not dests["fe80::/64"].reaches  # link-local only
    assert [r.destination for r in parse_ipv6_route(IPV6_ROUTE_NONE) if r.reaches] == []


def test_parse_ipv4_route_and_fib_trie() -> None:
    routes = parse_ipv4_route(ROUTE4)
    assert [(r.destination, r.gateway) for r in routes] == [
        ("0.0.0.0/0", "192.0.2.1"),
        ("192.0.2.0/24", None),
    ]
    assert routes[0].is_default
    addrs = parse_fib_trie(FIB_TRIE)
    assert [(a.address, a.usable) for a in addrs] == [("127.0.0.1", False), ("192.0.2.2", True)]


# -- deciding a family ------------------------------------------------------------------


def _facts(family: str, if6: str = IF_INET6, route6: str = IPV6_ROUTE) -> KernelFacts:
    if family == "ipv6":
        return KernelFacts("ipv6", tuple(parse_if_inet6(if6)), tuple(parse_ipv6_route(route6)))
    return KernelFacts("ipv4", tuple(parse_fib_trie(FIB_TRIE)), tuple(parse_ipv4_route(ROUTE4)))


def test_family_ok_with_an_address_and_a_default_route() -> None:
    six = decide_family(_facts("ipv6"))
    assert six.status == FootStatus.OK and six.default_route
    assert six.addresses == ("fd00::2",) and "default route" in six.reason
    four = decide_family(_facts("ipv4"))
    assert four.status == FootStatus.OK and four.addresses == ("192.0.2.2",)


def test_family_down_without_a_global_address() -> None:
    fam = decide_family(_facts("ipv6", IF_INET6_NONE, IPV6_ROUTE_NONE))
    assert fam.status == FootStatus.DOWN
    assert fam.reason.startswith("the scanner has no IPv6 connectivity (no global IPv6 address")
    assert "link-local fe80::707e:ddff:fe1b:ee7f" in fam.reason


def test_family_down_without_a_route() -> None:
    fam = decide_family(_facts("ipv6", IF_INET6, IPV6_ROUTE_NONE))
    assert fam.status == FootStatus.DOWN
    assert "no IPv6 route" in fam.reason


def test_family_routes_toward_prefixes_without_default_route() -> None:
    # the lab client: no default route, routes toward the documentation prefixes only
    facts = KernelFacts(
        "ipv6",
        (LocalAddress("2001:db8:ffff::2", "veth", 64),),
        (Route("2001:db8:ffff::/64", "veth"), Route("2001:db8::/32", "veth", "2001:db8:ffff::1")),
    )
    fam = decide_family(facts)
    assert fam.status == FootStatus.OK and fam.default_route is False
    assert "no default route; 2 route(s) toward 2001:db8:ffff::/64, 2001:db8::/32" in fam.reason


def test_references_decide_a_family() -> None:
    answered = ReferenceResult("ref.example", "2001:db8::1", 443, "open", 1.5)
    silent = ReferenceResult("ref.example", "2001:db8::1", 443, "timeout")
    refused = ReferenceResult("ref.example", "192.0.2.1", 80, "refused")
    fam = decide_family(_facts("ipv6"), [answered, refused])
    assert fam.status == FootStatus.OK and "reference ref.example answered" in fam.reason
    assert fam.references == (answered,)  # only this family's
    down = decide_family(_facts("ipv6"), [silent])
    assert down.status == FootStatus.DOWN
    assert "no reference target answered over IPv6: ref.example [2001:db8::1]:443 timeout" in (
        down.reason
    )
    # a refusal is an answer over the path; a blocked reference says nothing
    assert decide_family(_facts("ipv4"), [refused]).status == FootStatus.OK
    blocked = ReferenceResult("ref.example", "2001:db8::1", None, "blocked")
    assert decide_family(_facts("ipv6"), [blocked]).status == FootStatus.OK


def test_family_unknown_without_tables() -> None:
    fam = decide_family(KernelFacts("ipv6", None, None))
    assert fam.status == FootStatus.UNKNOWN and not fam.down
    ref = ReferenceResult("r", "2001:db8::1", 443, "open")
    assert decide_family(KernelFacts("ipv6", None, None), [ref]).status == FootStatus.OK


# -- deciding the resolver --------------------------------------------------------------

S = "192.0.2.53:53"


@pytest.mark.parametrize(
    ("outcome", "words"),
    [
        ("nxdomain", "answers NXDOMAIN for the root zone '.' itself"),
        ("servfail", "answers SERVFAIL even for the root zone '.'"),
        ("timeout", "does not answer (no reply to the root zone '.' within 1 s, 2 tries)"),
        ("refused", "refuses the connection (nothing listens on its port"),
        ("dns_refused", "answers REFUSED"),
    ],
)
def test_resolver_down_when_the_root_fails(outcome: str, words: str) -> None:
    queries = [ControlQuery(S, ".", outcome), ControlQuery(S, "gov.vn", outcome)]
    r = decide_resolver([S], queries, seconds=1, attempts=2)
    assert r.status == FootStatus.DOWN and r.down
    assert r.reason.startswith(f"the scanner's resolver {S} {words}")
    assert "every DNS-derived verdict is not_tested" in r.reason
    assert r.blames("www.example.gov.vn") == r.reason and r.blames("anything.org") == r.reason


def test_resolver_without_servers() -> None:
    r = decide_resolver([], [])
    assert r.down and "no nameserver" in r.reason


def test_resolver_broken_for_one_suffix() -> None:
    queries = [
        ControlQuery(S, ".", "ok"),
        ControlQuery(S, "gov.vn", "nxdomain"),
        ControlQuery(S, "vn", "ok"),
    ]
    r = decide_resolver([S], queries)
    assert r.status == FootStatus.DEGRADED and not r.down
    assert r.broken == (("gov.vn", r.reason),)
    assert "answers NXDOMAIN for the public suffix 'gov.vn' itself" in r.reason
    assert r.blames("www.quangninh.gov.vn") == r.reason
    assert r.blames("gov.vn") == r.reason
    assert r.blames("www.example.vn") is None and r.blames("xgov.vn") is None


def test_resolver_with_one_dead_server_of_two() -> None:
    other = "[2001:db8::53]:53"
    queries = [ControlQuery(S, ".", "timeout"), ControlQuery(other, ".", "ok")]
    r = decide_resolver([S, other], queries)
    assert r.status == FootStatus.DEGRADED and not r.down and r.broken == ()
    assert f"{other} answers" in r.reason and f"{S} does not" in r.reason
    assert r.blames("www.example.gov.vn") is None
    # a suffix one server fails but the other answers is not broken
    more = [*queries, ControlQuery(S, "vn", "timeout"), ControlQuery(other, "vn", "ok")]
    assert decide_resolver([S, other], more).broken == ()


def test_resolver_for_some_zones_only_is_not_down() -> None:
    # an internal resolver (or the demo's) refuses the root but serves the inventory's zones
    queries = [
        ControlQuery(S, ".", "dns_refused", role="root"),
        ControlQuery(S, "gov.vn", "dns_refused"),
        ControlQuery(S, "quangninh.gov.vn", "ok", role="sample"),
    ]
    r = decide_resolver([S], queries)
    assert r.status == FootStatus.OK and not r.down and r.broken == ()
    assert "answers for the inventory's domains (not for the root zone '.'" in r.reason
    assert r.blames("www.quangninh.gov.vn") is None
    # but a sample that is denied too does not make a dead resolver work
    dead = [
        ControlQuery(S, ".", "nxdomain", role="root"),
        ControlQuery(S, "x.vn", "nxdomain", role="sample"),
    ]
    assert decide_resolver([S], dead).down


def test_control_samples() -> None:
    names = ["www.a.gov.vn", "mail.a.gov.vn", "b.gov.vn", "192.0.2.1", "www.vidu.test"]
    assert control_samples(names) == ["a.gov.vn", "b.gov.vn"]
    assert control_samples(["www.vidu.test"]) == ["vidu.test"]


def test_loopback_is_never_out_of_reach() -> None:
    f = footing(v6=FootStatus.DOWN, v4=FootStatus.DOWN)
    assert f.address_reason("::1") is None and f.address_reason("127.0.0.1") is None
    assert f.address_reason("2001:db8::1") == f.ipv6.reason


def test_resolver_ok() -> None:
    r = decide_resolver([S], [ControlQuery(S, ".", "ok"), ControlQuery(S, "gov.vn", "nodata")])
    assert r.status == FootStatus.OK and r.blames("www.example.gov.vn") is None


def test_control_suffixes_from_the_inventory() -> None:
    names = ["www.a.gov.vn", "b.gov.vn", "www.c.edu.vn", "portal.example.org", "x.lab-unknown"]
    suffixes = control_suffixes(names)
    # most used first; the TLD of gov.vn too; an unknown TLD is never a control question
    assert suffixes[:2] == ["vn", "gov.vn"]
    assert "org" in suffixes and "lab-unknown" not in suffixes
    assert len(control_suffixes(names, limit=2)) == 2


def test_parse_reference() -> None:
    assert parse_reference("www.good.gov.vn") == "www.good.gov.vn"
    assert parse_reference("[2001:db8::1]") == "2001:db8::1"
    assert parse_reference("192.0.2.1") == "192.0.2.1"
    assert parse_reference("Cổng.gov.vn") == "xn--cng-qmz.gov.vn"
    with pytest.raises(ValueError):
        parse_reference("bad name!")


# -- the footing as a record ------------------------------------------------------------


def footing(
    v6: FootStatus = FootStatus.OK,
    v4: FootStatus = FootStatus.OK,
    resolver: ResolverFooting | None = None,
) -> Footing:
    def fam(name: str, status: FootStatus) -> FamilyFooting:
        label = "IPv6" if name == "ipv6" else "IPv4"
        reason = f"the scanner has no {label} connectivity (test)" if status == "down" else "ok"
        return FamilyFooting(name, status, reason)

    return Footing(
        "2026-11-01T00:00:00+00:00",
        fam("ipv6", v6),
        fam("ipv4", v4),
        resolver or ResolverFooting(FootStatus.OK, "resolver: ok"),
    )


DEAD = decide_resolver([S], [ControlQuery(S, ".", "nxdomain")])


def test_footing_round_trip_and_merge() -> None:
    f = footing(v6=FootStatus.DOWN, resolver=DEAD)
    again = footing_of({FOOTING_KEY: f.to_record(), "dns_queries": 3})
    assert again == f
    assert footing_of({}) is None and footing_of({FOOTING_KEY: "junk"}) is None
    assert footing_of({FOOTING_KEY: {"checked": 1}}) is None
    assert f.problems() == [f.ipv6.reason, DEAD.reason]
    assert f.blockers() == [f.ipv6.reason, DEAD.reason]
    assert footing().problems() == [] and footing().blockers() == []
    # merging keeps each fact at its worst and records the re-check
    merged = footing().merged(f, "12 of the last 20 targets failed")
    assert merged.ipv6.down and merged.resolver.down and not merged.ipv4.down
    assert merged.rechecks[-1].why == "12 of the last 20 targets failed"
    assert merged.merged(footing()).ipv6.down  # a later good check does not erase it
    assert merged.merged(footing()).rechecks == merged.rechecks  # not duplicated
    assert merged.evaluation_key() != footing().evaluation_key()


# -- the load monitor -------------------------------------------------------------------


def test_monitor_ignores_small_lag() -> None:
    m = LoopMonitor(5.0)
    for i in range(200):
        m.record(i * 0.12, 0.02, connects=10 * i, timeouts=5 * i)
    assert not m.saturated and not m.episodes and m.overload_during(0, 100) is None
    assert m.max_lag == pytest.approx(0.02)


def _saturate(m: LoopMonitor, lag: float, timeouts_per_tick: int) -> tuple[float, float]:
    """10 calm ticks, then 20 ticks each ``lag`` late; returns (end of calm, end)."""
    t, connects, timeouts = 0.0, 0, 0
    for _ in range(10):
        t += 0.1 + 0.02
        connects += 10
        m.record(t, 0.02, connects, timeouts)
    calm_until = t
    for _ in range(20):
        t += 0.1 + lag
        connects += 10
        timeouts += timeouts_per_tick
        m.record(t, lag, connects, timeouts)
    return calm_until, t


def test_monitor_sees_a_starved_loop() -> None:
    m = LoopMonitor(5.0)  # saturated: a quarter of the step timeout, 1.25 s, sustained
    calm_until, end = _saturate(m, 1.5, timeouts_per_tick=4)
    assert m.saturated and m.episodes, "1.5 s late on every tick, 40 % of connects timing out"
    assert m.overload_during(0, calm_until) is None  # before it: nothing
    assert m.overload_during(calm_until, end) == pytest.approx(1.5)
    assert m.starved_seconds() > 0


def test_monitor_busy_loop_without_timeouts_attributes_nothing() -> None:
    # the bench at --concurrency 512: the loop 1-3 s late, yet every answer came back
    m = LoopMonitor(5.0)
    said: list[float] = []
    m.on_saturated = said.append
    calm_until, end = _saturate(m, 1.5, timeouts_per_tick=0)
    assert m.saturated and said == [pytest.approx(1.5)], "said once"
    assert not m.episodes and m.overload_during(calm_until, end) is None


def test_monitor_moderate_lag_with_genuine_timeouts_attributes_nothing() -> None:
    # the lab on a busy machine: 0.3 s late, and a black-holed address timing out
    m = LoopMonitor(2.0)
    calm_until, end = _saturate(m, 0.3, timeouts_per_tick=5)
    assert not m.saturated and m.overload_during(calm_until, end) is None


def test_monitor_sees_one_long_stall_with_timeouts() -> None:
    m = LoopMonitor(2.0)  # a single stall of half the step timeout
    m.record(1.0, 0.05, 100, 0)
    m.record(3.2, 1.2, 120, 10)
    assert m.overload_during(1.5, 2.5) == pytest.approx(1.2)
    assert m.overload_during(4.0, 9.0) is None


def test_vantage_rechecks_when_failures_pile_up() -> None:
    clock = [0.0]
    v = FootingWatch(footing(), monotonic=lambda: clock[0])
    assert not any(v.target_done(True) for _ in range(30)), "not before RECHECK_EVERY"
    clock[0] = 31.0
    assert v.target_done(True)
    clock[0] = 62.0
    v.recent.clear()
    assert not any(v.target_done(i % 3 == 0) for i in range(20)), "a third failing is normal"


# -- the evaluation with a footing ------------------------------------------------------

V4, V6 = "192.0.2.10", "2001:db8:80::10"
SKIPPED_V6 = "the scanner has no IPv6 connectivity (test)"


def _dns(a: tuple[str, ...] = (V4,), aaaa: tuple[str, ...] = (V6,)) -> HostDns:
    return HostDns(
        "www.example.gov.vn",
        DnsAnswer("www.example.gov.vn", "A", Outcome.OK if a else Outcome.NODATA, a),
        DnsAnswer("www.example.gov.vn", "AAAA", Outcome.OK if aaaa else Outcome.NODATA, aaaa),
    )


def _host(v6_outcome: str = Outcome.SKIPPED, **kw: object) -> HostObservations:
    tcp = [TcpProbe(V4, 80, Outcome.OPEN), TcpProbe(V4, 443, Outcome.OPEN)]
    detail = SKIPPED_V6 if v6_outcome == Outcome.SKIPPED else ""
    tcp += [TcpProbe(V6, 80, v6_outcome, detail=detail), TcpProbe(V6, 443, v6_outcome)]
    return HostObservations("www.example.gov.vn", _dns(), tuple(tcp), **kw)  # type: ignore[arg-type]


# the documentation prefixes are opened as the lab opens them (--allow-net): usable there
PLAN = make_plan((), (), all_checks(), allow_nets=("2001:db8::/32", "192.0.2.0/24"))


def _by(findings: list[Finding], check: str, address: str | None = None) -> list[Finding]:
    return [f for f in findings if f.check == check and (address is None or f.address == address)]


def test_no_ipv6_makes_ipv6_reachability_not_tested_never_fail() -> None:
    obs = _host(Outcome.UNREACHABLE)  # what a scanner without IPv6 saw before the footing
    without = evaluate_host(obs, PLAN, NOW)
    assert _by(without, "ipv6.web.reach")[0].status == Status.FAIL  # the old false verdict
    found = evaluate_host(obs, PLAN, NOW, footing(v6=FootStatus.DOWN))
    for check in ("ipv6.web.reach", "ipv6.web.https", "ipv6.web.parity", "ipv6.web.only"):
        (f,) = _by(found, check)
        assert f.status == Status.NOT_TESTED and f.message == SKIPPED_V6, check
    for f in found:
        if f.address == V6:
            assert f.status == Status.NOT_TESTED and f.message == SKIPPED_V6, f.check
    # the IPv4 address is judged as usual, and the AAAA record is a DNS fact
    assert {f.message for f in found if f.address == V4} != {SKIPPED_V6}
    assert _by(found, "ipv6.web.aaaa")[0].status == Status.PASS
    assert not [f for f in found if f.status == Status.FAIL and "IPv6" in f.message]


def test_an_ipv6_address_that_answered_is_judged_after_all() -> None:
    # the footing went down mid-scan: this target's own probes show the path worked
    obs = _host(Outcome.REFUSED)
    found = evaluate_host(obs, PLAN, NOW, footing(v6=FootStatus.DOWN))
    assert _by(found, "ipv6.web.reach")[0].status == Status.FAIL
    assert "refused" in _by(found, "ipv6.web.reach")[0].message


def test_no_ipv4_makes_ipv4_addresses_and_comparisons_not_tested() -> None:
    reason = "the scanner has no IPv4 connectivity (test)"
    tcp = (
        TcpProbe(V4, 80, Outcome.SKIPPED, detail=reason),
        TcpProbe(V4, 443, Outcome.SKIPPED, detail=reason),
        TcpProbe(V6, 80, Outcome.OPEN),
        TcpProbe(V6, 443, Outcome.OPEN),
    )
    obs = HostObservations("www.example.gov.vn", _dns(), tcp)
    found = evaluate_host(obs, PLAN, NOW, footing(v4=FootStatus.DOWN))
    assert _by(found, "ipv6.web.reach")[0].message == reason
    assert _by(found, "ipv6.web.parity")[0].status == Status.NOT_TESTED
    assert all(f.message == reason for f in found if f.address == V4)
    assert _by(found, "tls.available", V6)[0].message != reason


def test_a_dead_resolver_takes_the_blame_for_dns() -> None:
    nx = DnsAnswer("www.example.gov.vn", "A", Outcome.NXDOMAIN)
    nx6 = DnsAnswer("www.example.gov.vn", "AAAA", Outcome.NXDOMAIN)
    obs = HostObservations("www.example.gov.vn", HostDns("www.example.gov.vn", nx, nx6))
    assert _by(evaluate_host(obs, PLAN, NOW, footing()), "dns.resolve")[0].status == Status.FAIL
    found = evaluate_host(obs, PLAN, NOW, footing(resolver=DEAD))
    assert {f.status for f in found} == {Status.NOT_TESTED}
    assert all(f.message == DEAD.reason for f in found)
    # a name that resolved was resolved: the resolver worked for it
    good = evaluate_host(_host(Outcome.OPEN), PLAN, NOW, footing(resolver=DEAD))
    assert _by(good, "dns.resolve")[0].status == Status.PASS


def _zone(soa: str = Outcome.NXDOMAIN, **kw: object) -> ZoneObservations:
    z = "example.gov.vn"
    return ZoneObservations(
        z,
        soa=DnsAnswer(z, "SOA", soa, ("ns1. h. 1 2 3 4 5",) if soa == Outcome.OK else ()),
        **kw,  # type: ignore[arg-type]
    )


def test_zone_checks_blame_a_dead_resolver() -> None:
    found = evaluate_zone(_zone(), PLAN, NOW, footing(resolver=DEAD))
    assert found and {f.status for f in found} == {Status.NOT_TESTED}
    assert {f.message for f in found} == {DEAD.reason}
    judged = evaluate_zone(_zone(Outcome.OK), PLAN, NOW, footing(resolver=DEAD))
    assert {f.message for f in judged} != {DEAD.reason}


def test_zone_ipv6_reach_not_tested_without_ipv6() -> None:
    z = "example.gov.vn"
    ns = DnsAnswer(z, "NS", Outcome.OK, ("ns1.example.gov.vn.", "ns2.example.gov.vn."))
    hosts = tuple(
        ServerHost(
            n,
            DnsAnswer(n, "A", Outcome.OK, ("192.0.2.53",)),
            DnsAnswer(n, "AAAA", Outcome.OK, (f"2001:db8:53::{i}",)),
        )
        for i, n in enumerate(("ns1.example.gov.vn", "ns2.example.gov.vn"), 1)
    )
    queries = tuple(
        NsQuery(h.name, h.aaaa.records[0], t, Outcome.UNREACHABLE)
        for h in hosts
        for t in ("udp", "tcp")
    )
    obs = _zone(Outcome.OK, ns=ns, ns_hosts=hosts, ns_queries=queries)
    assert _by(evaluate_zone(obs, PLAN, NOW), "ipv6.ns.reach")[0].status == Status.FAIL
    (f,) = _by(evaluate_zone(obs, PLAN, NOW, footing(v6=FootStatus.DOWN)), "ipv6.ns.reach")
    assert f.status == Status.NOT_TESTED and f.message == SKIPPED_V6
    assert (
        _by(evaluate_zone(obs, PLAN, NOW, footing(v6=FootStatus.DOWN)), "ipv6.ns.aaaa")[0].status
        == Status.PASS
    )


def test_overload_turns_the_verdicts_timeouts_decided_into_not_tested() -> None:
    reason = "the scanner was overloaded while probing this target (test)"
    obs = _host(Outcome.TIMEOUT)
    assert _by(evaluate_host(obs, PLAN, NOW), "ipv6.web.reach")[0].status == Status.FAIL
    found = evaluate_host(_host(Outcome.TIMEOUT, overload=reason), PLAN, NOW)
    (reach,) = _by(found, "ipv6.web.reach")
    assert reach.status == Status.NOT_TESTED and reach.message == reason
    assert reach.evidence["verdict_from_timeouts"] == "fail"
    # what the timeouts did not decide keeps its verdict
    assert _by(found, "ipv6.web.aaaa")[0].status == Status.PASS
    assert _by(found, "tls.available", V4) == _by(
        evaluate_host(obs, PLAN, NOW), "tls.available", V4
    )


def test_evaluate_stored_reproduces_with_the_stored_footing() -> None:
    f = footing(v6=FootStatus.DOWN)
    obs = _host(Outcome.UNREACHABLE)
    live = evaluate_host(obs, PLAN, NOW, f)
    stored = evaluate_stored(
        TargetKind.HOST, serde.dumps(obs), PLAN, NOW, footing_of({FOOTING_KEY: f.to_record()})
    )
    assert stored == live


def test_a_footing_changed_mid_scan_rejudges_every_stored_target(tmp_path: Path) -> None:
    from auditor.service import settle_footing as _settle_footing
    from auditor.store import open_store

    obs = _host(Outcome.UNREACHABLE)
    with open_store(tmp_path / "s.db") as store:
        scan_id = store.begin_scan(
            profile="vn-gov", inventory_path="x", inventory_name="x", inventory={}, options={}
        )
        before = evaluate_host(obs, PLAN, NOW, footing())
        store.save_target(scan_id, TargetKind.HOST, obs.host, serde.dumps(obs), before, "t")
        assert _by(store.findings(scan_id), "ipv6.web.reach")[0].status == Status.FAIL
        # unchanged: nothing is judged again
        _settle_footing(store, scan_id, PLAN, footing(), footing())
        assert _by(store.findings(scan_id), "ipv6.web.reach")[0].status == Status.FAIL
        # a re-check found the scanner without IPv6: the stored target is judged with it
        _settle_footing(store, scan_id, PLAN, footing(), footing(v6=FootStatus.DOWN))
        (reach,) = _by(store.findings(scan_id), "ipv6.web.reach")
        assert reach.status == Status.NOT_TESTED and reach.message == SKIPPED_V6
