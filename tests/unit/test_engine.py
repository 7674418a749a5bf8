"""The engine in-process: planning, evaluation, the probe cache. Probing real sockets and a DNS
server on loopback is tests/integration/test_engine.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from auditor import serde
from auditor.engine import evaluate_host, evaluate_stored, make_plan
from auditor.model import Category, Finding, Probe, Scope, Status, TargetKind, Verdict
from auditor.obs import DnsAnswer, HostDns, HostObservations
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.registry import CheckContext, CheckSpec, get_check
from tests.support.factories import LAB_NETS

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def _obs(
    a: tuple[str, ...] = (), aaaa: tuple[str, ...] = (), a_out: str = "ok", aaaa_out: str = "ok"
) -> HostObservations:
    host = "www.example.vn"
    return HostObservations(
        host,
        HostDns(
            host,
            DnsAnswer(host, "A", a_out if a else (a_out if a_out != "ok" else "nodata"), a),
            DnsAnswer(
                host,
                "AAAA",
                aaaa_out if aaaa else (aaaa_out if aaaa_out != "ok" else "nodata"),
                aaaa,
            ),
        ),
    )


def _by_check(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.check, []).append(f)
    return out


def test_unresolved_host_makes_other_checks_not_tested() -> None:
    plan = make_plan(
        ["www.example.vn"],
        [],
        [get_check("dns.resolve"), get_check("ipv6.web.aaaa")],
        allow_nets=LAB_NETS,
    )
    findings = _by_check(evaluate_host(_obs(a_out="nxdomain", aaaa_out="nxdomain"), plan, NOW))
    assert findings["dns.resolve"][0].status == Status.FAIL
    assert "NXDOMAIN" in findings["dns.resolve"][0].message
    aaaa = findings["ipv6.web.aaaa"][0]
    assert aaaa.status == Status.NOT_TESTED
    assert "did not resolve" in aaaa.message


def _spec(fn: Callable[[Any, CheckContext], Verdict], scope: Scope = Scope.HOST) -> CheckSpec:
    return CheckSpec(
        id="test.x",
        fn=fn,
        title="t",
        category=Category.DNS,
        scope=scope,
        level_hint=get_check("dns.resolve").level_hint,
        needs=(Probe.DNS,),
        params={"limit": 1},
    )


def test_crashing_check_is_an_error_finding_not_a_crash() -> None:
    def boom(obs: object, ctx: CheckContext) -> Verdict:
        raise ZeroDivisionError("bug")

    plan = make_plan(["h"], [], [_spec(boom)], allow_nets=LAB_NETS)
    [f] = evaluate_host(_obs(a=("192.0.2.1",)), plan, NOW)
    assert f.status == Status.ERROR and "ZeroDivisionError" in f.message


def test_address_scope_runs_once_per_address_and_params_override() -> None:
    seen: list[tuple[str | None, int]] = []

    def per_addr(obs: object, ctx: CheckContext) -> Verdict:
        seen.append((ctx.address, ctx.params["limit"]))
        return Verdict.passed("ok")

    plan = make_plan(
        ["h"], [], [_spec(per_addr, Scope.ADDRESS)], {"test.x": {"limit": 5}}, allow_nets=LAB_NETS
    )
    findings = evaluate_host(_obs(a=("192.0.2.1",), aaaa=("2001:db8::1",)), plan, NOW)
    assert [f.address for f in findings] == ["192.0.2.1", "2001:db8::1"]
    assert seen == [("192.0.2.1", 5), ("2001:db8::1", 5)]


def test_observations_round_trip_and_re_evaluate() -> None:
    obs = _obs(a=("192.0.2.1",), aaaa=("::ffff:192.0.2.1",))
    plan = make_plan(["h"], [], [get_check("ipv6.web.aaaa")], allow_nets=LAB_NETS)
    direct = evaluate_host(obs, plan, NOW)
    again = evaluate_stored(TargetKind.HOST, serde.dumps(obs), plan, NOW)
    assert direct == again
    assert direct[0].status == Status.FAIL and "IPv4-mapped" in direct[0].message


def _tcp_obs(*outcomes: str, icmp: str | None = None) -> HostObservations:
    from auditor.obs import PingObservation, TcpProbe

    base = _obs(a=("192.0.2.1",), aaaa=("2001:db8::1",))
    tcp = tuple(
        TcpProbe(addr, port, out)
        for (addr, port), out in zip(
            [("192.0.2.1", 80), ("192.0.2.1", 443), ("2001:db8::1", 80), ("2001:db8::1", 443)],
            outcomes,
            strict=True,
        )
    )
    pings = (PingObservation("2001:db8::1", icmp),) if icmp else ()
    return HostObservations(base.host, base.dns, tcp=tcp, icmp=pings)


def test_host_answering_nothing_is_not_tested_not_failed() -> None:
    from auditor.registry import all_checks

    plan = make_plan(["h"], [], all_checks(), allow_nets=LAB_NETS)
    findings = evaluate_host(_tcp_obs("timeout", "timeout", "unreachable", "timeout"), plan, NOW)
    by = _by_check(findings)
    assert by["dns.resolve"][0].status == Status.PASS
    assert by["ipv6.web.aaaa"][0].status == Status.PASS  # a DNS fact, still decided
    for check_id in ("ipv6.web.reach", "ipv6.web.https", "tls.available", "http.hsts"):
        assert {f.status for f in by[check_id]} == {Status.NOT_TESTED}, check_id
        assert "unreachable from the scanner" in by[check_id][0].message
    assert {f.address for f in by["tls.available"]} == {"192.0.2.1", "2001:db8::1"}


def test_a_refusal_or_an_echo_reply_is_an_answer() -> None:
    plan = make_plan(["h"], [], [get_check("ipv6.web.reach")], allow_nets=LAB_NETS)
    refused = _tcp_obs("open", "open", "refused", "refused")
    assert evaluate_host(refused, plan, NOW)[0].status == Status.FAIL
    echoing = _tcp_obs("timeout", "timeout", "timeout", "timeout", icmp="ok")
    assert evaluate_host(echoing, plan, NOW)[0].status != Status.NOT_TESTED


def test_hosts_by_zone_matches_names_at_and_below_the_zone() -> None:
    from auditor.engine import hosts_by_zone

    got = hosts_by_zone(
        ["example.gov.vn", "gov.vn", "other.vn"],
        ["www.example.gov.vn", "example.gov.vn", "notexample.gov.vn", "a.b.other.vn"],
    )
    assert got["example.gov.vn"] == ("www.example.gov.vn", "example.gov.vn")
    assert got["gov.vn"] == ("www.example.gov.vn", "example.gov.vn", "notexample.gov.vn")
    assert got["other.vn"] == ("a.b.other.vn",)


@pytest.mark.asyncio
async def test_probe_cache_is_a_bounded_lru() -> None:
    ctx = ProbeContext(ScanOptions(probe_cache_entries=2))
    calls: list[str] = []

    def factory(key: str) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            calls.append(key)
            return key.upper()

        return run

    assert await ctx.once("a", factory("a")) == "A"
    assert await ctx.once("b", factory("b")) == "B"
    assert await ctx.once("a", factory("a")) == "A"  # hit: "a" is now the most recent
    assert await ctx.once("c", factory("c")) == "C"  # evicts "b", the least recent
    assert await ctx.once("a", factory("a")) == "A"
    assert calls == ["a", "b", "c"]
    assert await ctx.once("b", factory("b")) == "B"  # evicted: probed again
    assert calls == ["a", "b", "c", "b"]
    assert ctx.stats["probe_cache_evictions"] == 2


def test_per_address_checks_skip_an_aaaa_that_is_no_host_address() -> None:
    # an IPv4-mapped AAAA is the IPv4 address in disguise: TLS "not tested (blocked)" on it
    # would make the host incomplete; it is not applicable, pointing at ipv6.web.aaaa
    plan = make_plan(["h"], [], [get_check("tls.available")], allow_nets=LAB_NETS)
    obs = _obs(a=("192.0.2.1",), aaaa=("::ffff:192.0.2.1",))
    by = {f.address: f for f in evaluate_host(obs, plan, NOW)}
    assert by["::ffff:192.0.2.1"].status == Status.NOT_APPLICABLE
    assert "ipv6.web.aaaa" in by["::ffff:192.0.2.1"].message
    assert by["192.0.2.1"].status != Status.NOT_APPLICABLE
