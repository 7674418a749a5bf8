from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from auditor import serde
from auditor.engine import evaluate_host, evaluate_stored, make_plan, probe_host, run_scan
from auditor.model import Category, Probe, Scope, Status, TargetKind, Verdict
from auditor.obs import DnsAnswer, HostDns, HostObservations, Outcome
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.registry import CheckContext, CheckSpec, get_check
from auditor.store import open_store
from tests.support.dnsserver import DnsServer, Zone
from tests.unit._zone_fixtures import LAB_NETS

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


def _by_check(findings: list) -> dict[str, list]:  # type: ignore[type-arg]
    out: dict[str, list] = {}  # type: ignore[type-arg]
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


def _spec(fn, scope: Scope = Scope.HOST) -> CheckSpec:  # type: ignore[no-untyped-def]
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


@pytest.fixture
def listener() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.asyncio
async def test_probe_host_pinned_loopback_open_refused_blocked(listener: int) -> None:
    closed = _closed_port()
    options = ScanOptions(
        timeout=2,
        ports=(listener, closed),
        allow_nets=("127.0.0.0/8",),
        pins={"www.example.vn": ("127.0.0.1", "::1")},
    )
    ctx = ProbeContext(options)
    obs = await probe_host(ctx, "www.example.vn", frozenset({Probe.DNS, Probe.TCP}))
    assert obs.pinned and obs.v4 == ("127.0.0.1",)
    assert obs.tcp_for("127.0.0.1", listener).outcome == Outcome.OPEN  # type: ignore[union-attr]
    assert obs.tcp_for("127.0.0.1", closed).outcome == Outcome.REFUSED  # type: ignore[union-attr]
    # ::1 is not in --allow-net: the guard refuses it, it is never probed.
    assert obs.tcp_for("::1", listener).outcome == Outcome.BLOCKED  # type: ignore[union-attr]
    assert ctx.stats["connections"] == 2


@pytest.mark.asyncio
async def test_probe_cache_shares_concurrent_probes(listener: int) -> None:
    from auditor.probes.tcp import tcp_connect

    ctx = ProbeContext(ScanOptions(allow_nets=("127.0.0.0/8",)))
    results = []

    async def one() -> None:
        results.append(await tcp_connect(ctx, "127.0.0.1", listener))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(one)
    assert len(results) == 10 and all(r.open for r in results)
    assert ctx.stats["connections"] == 1


def test_run_scan_stores_each_target_and_deadline_ends_stalled_targets(tmp_path: Path) -> None:
    zone = Zone()
    zone.add("ok.example.vn", "A", ["127.0.0.1"])
    zone.add("ok.example.vn", "AAAA", ["2001:db8::5"])  # never connected: guard
    zone.add("alias.example.vn", "CNAME", ["ok.example.vn."])
    zone.add("v4.example.vn", "A", ["127.0.0.2"])
    zone.servfail.add("broken.example.vn")
    zone.silent.add("stall.example.vn")
    hosts = [
        "ok.example.vn",
        "alias.example.vn",
        "v4.example.vn",
        "broken.example.vn",
        "stall.example.vn",
        "missing.example.vn",
    ]
    with DnsServer(zone) as server, open_store(tmp_path / "s.db") as store:
        options = ScanOptions(
            timeout=0.5,
            target_deadline=3,
            resolver=server.spec,
            allow_nets=("127.0.0.0/8", "::1/128"),
            ports=(_closed_port(),),
        )
        plan = make_plan(
            hosts, [], [get_check("dns.resolve"), get_check("ipv6.web.aaaa")], allow_nets=LAB_NETS
        )
        scan = store.begin_scan(
            profile="t", inventory_path="i", inventory_name="i", inventory={}, options={}
        )
        ctx = ProbeContext(options)
        anyio.run(lambda: run_scan(ctx, plan, store, scan), backend="asyncio")
        assert store.done_targets(scan) == {("host", h) for h in hosts}
        status = {(f.target, f.check): f for f in store.findings(scan)}
    assert status[("ok.example.vn", "ipv6.web.aaaa")].status == Status.PASS
    assert status[("alias.example.vn", "dns.resolve")].evidence["cname_chain"] == ["ok.example.vn"]
    assert status[("v4.example.vn", "ipv6.web.aaaa")].status == Status.FAIL
    assert "SERVFAIL" in status[("broken.example.vn", "dns.resolve")].message
    assert status[("missing.example.vn", "dns.resolve")].status == Status.FAIL
    # The resolver answers for the parent but never for the name: a lame delegation, the
    # zone's fault (a resolver that answers nothing at all gives not_tested instead).
    assert status[("stall.example.vn", "dns.resolve")].status == Status.FAIL
    assert "lame" in status[("stall.example.vn", "dns.resolve")].message
    assert ctx.stats["dns_queries"] >= 12


@pytest.mark.asyncio
async def test_target_deadline_cuts_a_stalled_probe_short() -> None:
    zone = Zone()
    zone.silent.add("stall.example.vn")
    with DnsServer(zone) as server:
        options = ScanOptions(timeout=5, target_deadline=0.5, resolver=server.spec)
        obs = await probe_host(ProbeContext(options), "stall.example.vn", frozenset({Probe.DNS}))
    assert obs.deadline_hit
    assert obs.dns.a.outcome == Outcome.TIMEOUT
    assert "deadline" in obs.dns.a.detail


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
async def test_workers_take_every_target_once_with_bounded_concurrency(tmp_path: Path) -> None:
    zone = Zone()
    hosts = [f"h{i}.example.vn" for i in range(30)]
    for h in hosts:
        zone.add(h, "A", ["192.0.2.1"])
    with DnsServer(zone) as server, open_store(tmp_path / "w.db") as store:
        ctx = ProbeContext(ScanOptions(timeout=2, concurrency=3, resolver=server.spec))
        plan = make_plan(hosts, [], [get_check("dns.resolve")], allow_nets=LAB_NETS)
        scan = store.begin_scan(
            profile="t", inventory_path="i", inventory_name="i", inventory={}, options={}
        )
        done: list[str] = []
        await run_scan(ctx, plan, store, scan, on_done=lambda d: done.append(d.name))
        assert sorted(done) == sorted(hosts)
        assert store.done_targets(scan) == {("host", h) for h in hosts}
    asked = [name for name, _ in zone.queries]
    assert sorted(set(asked)) == sorted(hosts)


@pytest.mark.asyncio
async def test_probe_cache_is_a_bounded_lru() -> None:
    ctx = ProbeContext(ScanOptions(probe_cache_entries=2))
    calls: list[str] = []

    def factory(key: str):  # type: ignore[no-untyped-def]
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
