"""The engine against real sockets and a DNS server on loopback: pinned hosts, shared probes,
stored targets, deadlines. The in-process part is tests/unit/test_engine.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from auditor.engine import make_plan, probe_host, run_scan
from auditor.model import Probe, Status
from auditor.obs import Outcome
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.registry import get_check
from auditor.store import open_store
from tests.support.dnsserver import DnsServer, Zone
from tests.support.factories import LAB_NETS


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
    port = int(s.getsockname()[1])
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
