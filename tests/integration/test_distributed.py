"""Distributed scans (issue #16) with the real parts: a redis-server of the test's own
(tests/support/redis_server.py), workers as real processes (``python -m auditor worker``),
the scan client as a real ``auditor scan --broker`` process, one SQLite store file the
workers share (WAL), the loopback DNS server of tests/integration/test_runners.py.

Hosts resolve to documentation addresses (refused by the address guard), to 127.0.0.1
(allowed: refused ports, or the HoldingServer through --port-map) or not at all.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from auditor.distributed.app import TASK, make_app, queue_name
from auditor.distributed.client import follow, submit
from auditor.distributed.limits import RedisAddressLimiter
from auditor.inventory import load_inventory
from auditor.options import ScanOptions
from auditor.profiles import load_profile
from auditor.service import ScanFailed
from auditor.shards import ScanSpec, Shard
from auditor.store import open_store
from tests.integration.conftest import Backend
from tests.integration.test_runners import (
    AGENCIES,
    _all_targets,
    _rows,
    _write_inventory,
    _zone_data,
)
from tests.support.distributed import ROOT, HoldingServer, Worker, wait_until, workers
from tests.support.dnsserver import DnsServer, Zone
from tests.support.redis_server import RedisServer, redis_server


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def dns() -> Iterator[tuple[DnsServer, Zone]]:
    zone = _zone_data(AGENCIES)
    with DnsServer(zone) as server:
        yield server, zone


def _scan_argv(inv: Path, db: Path | str, dns: DnsServer, *extra: str) -> list[str]:
    return [sys.executable, "-m", "auditor", "scan", str(inv), "--db", str(db),
            "--resolver", dns.spec, "--timeout", "3", "--deadline", "30",
            "--concurrency", "8", "--allow-net", "127.0.0.0/8", "--no-icmp", *extra]  # fmt: skip


def _run(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def _once(db: Path | str, scan_id: int) -> dict[str, list[tuple[str, str]]]:
    """Targets per vantage, each checked to be stored once with one observation and no
    finding twice (through the Store interface: any backend)."""
    with open_store(db, create=False) as store:
        out: dict[str, list[tuple[str, str]]] = {}
        for vantage in store.vantages(scan_id):
            done = sorted(store.done_targets(scan_id, vantage))
            if done:
                out[vantage] = done
            seen = [(k.value, n) for k, n, _ in store.observations(scan_id, vantage)]
            assert sorted(seen) == done
        keys = [(f.vantage, f.target_kind, f.target, f.check, f.address)
                for f in store.findings(scan_id)]  # fmt: skip
        assert len(keys) == len(set(keys)), "a finding stored twice"
    return out


def _scan_status(db: Path, scan_id: int) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT status FROM scans WHERE id = ?", (scan_id,)).fetchone()[0])


# ---------------------------------------------------------------------------
# the same findings as a local scan


def test_a_distributed_scan_finds_what_a_local_scan_finds(
    tmp_path: Path, redis: RedisServer, dns: tuple[DnsServer, Zone], backend: Backend
) -> None:
    """On each store backend (tests/integration/conftest.py): SQLite, a file the workers
    share; PostgreSQL, a server of the test session's own."""
    server, _zone = dns
    inv = tmp_path / "inv.yaml"
    _write_inventory(inv, AGENCIES)
    local, dist = tmp_path / "local.db", backend.url
    r1 = _run(_scan_argv(inv, local, server, "--quiet"))
    assert r1.returncode == 0, r1.stderr
    with workers([(redis.url, str(dist), "local", 2), (redis.url, str(dist), "local", 1)]):
        r2 = _run(_scan_argv(inv, dist, server, "--broker", redis.url, "--shard-size", "4"))
    assert r2.returncode == 0, r2.stderr
    assert "Traceback" not in r2.stderr
    total = len(_all_targets(AGENCIES))
    # the same progress lines and summary as a local scan
    assert f"scan: {total}/{total} targets (100%)" in r2.stderr
    assert "complete" in r2.stderr and "stored in" in r2.stderr
    assert _once(dist, 1) == {"local": _all_targets(AGENCIES)}
    with open_store(dist) as store:
        found = sorted((f.target_kind.value, f.target, f.check, f.address, f.status.value)
                       for f in store.findings(1))  # fmt: skip
        assert found == _rows(local, 1)
        shards = store.shards(1)
        assert len(shards) >= 4 and {s.status for s in shards} == {"done"}
        assert store.vantage_footings(1).keys() == {"local"}  # checked by a worker, recorded
        assert store.scan(1).status == "complete"
        assert store.scan(1).stats["dns_queries"] > 0  # the shards' counters, summed


def test_two_vantages_each_probe_every_target(
    tmp_path: Path, redis: RedisServer, dns: tuple[DnsServer, Zone]
) -> None:
    server, _zone = dns
    inv = tmp_path / "inv.yaml"
    _write_inventory(inv, AGENCIES)
    db = tmp_path / "s.db"
    with workers([(redis.url, str(db), "vnpt", 1), (redis.url, str(db), "viettel", 1)]):
        done = _run(_scan_argv(inv, db, server, "--broker", redis.url, "--vantage", "vnpt,viettel",
                               "--shard-size", "6", "--quiet"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    stored = _once(db, 1)
    assert stored == {"viettel": _all_targets(AGENCIES), "vnpt": _all_targets(AGENCIES)}
    with open_store(db) as store:
        assert store.vantages(1) == ["viettel", "vnpt"]
        assert store.vantage_footings(1).keys() == {"viettel", "vnpt"}
        by = {v: {(f.target, f.check, f.address): f.status for f in store.findings(1, v)}
              for v in ("vnpt", "viettel")}  # fmt: skip
    assert by["vnpt"] == by["viettel"]  # the same network here: the same verdicts


@pytest.mark.parametrize("bad", ["Vnpt", "a b", "", "x" * 40])
def test_vantage_names_are_checked(tmp_path: Path, bad: str) -> None:
    inv = tmp_path / "inv.yaml"
    _write_inventory(inv, {"a": ([], ["www.a.vn"])})
    r = _run([sys.executable, "-m", "auditor", "scan", str(inv), "--db", str(tmp_path / "s.db"),
              "--broker", "redis://127.0.0.1:1/0", "--vantage", f"ok,{bad}"])  # fmt: skip
    assert r.returncode == 2 and "--vantage" in r.stderr and "Traceback" not in r.stderr


def test_an_unreachable_broker_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from tests.support.servers import free_port

    inv = tmp_path / "inv.yaml"
    _write_inventory(inv, {"a": ([], ["www.a.vn"])})
    broker = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    scan = _run([sys.executable, "-m", "auditor", "scan", str(inv), "--db",
                 str(tmp_path / "s.db"), "--broker", broker], timeout=60)  # fmt: skip
    assert scan.returncode == 2, scan.stderr
    lines = [line for line in scan.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach the broker" in lines[0], scan.stderr
    with open_store(tmp_path / "s.db") as store:
        assert store.scans() == []  # nothing begun
    worker = _run([sys.executable, "-m", "auditor", "worker", "--broker", broker, "--db",
                   str(tmp_path / "s.db")], timeout=60)  # fmt: skip
    assert worker.returncode == 2 and "cannot reach the broker" in worker.stderr


# ---------------------------------------------------------------------------
# faults


def _slow_inventory(tmp_path: Path, n: int) -> tuple[Path, Zone, list[str]]:
    hosts = [f"lo{i}.slow.example.vn" for i in range(n)]
    zone = Zone()
    for h in hosts:
        zone.add(h, "A", ["127.0.0.1"])
    inv = tmp_path / "slow.yaml"
    _write_inventory(inv, {"slow": ([], hosts)})
    return inv, zone, hosts


def _held_argv(inv: Path, db: Path, dns: DnsServer, held: HoldingServer, *extra: str) -> list[str]:
    http, https = held.ports
    return _scan_argv(inv, db, dns, "--port-map", f"80:{http}", "--port-map", f"443:{https}",
                      *extra)  # fmt: skip


def test_a_worker_killed_mid_shard_and_a_lost_machine_lose_nothing(
    tmp_path: Path, redis: RedisServer
) -> None:
    inv, zone, hosts = _slow_inventory(tmp_path, 12)
    db = tmp_path / "s.db"
    with DnsServer(zone) as dns, HoldingServer(hold=2.5) as held:
        first = Worker(redis.url, str(db), "local", 2, "--visibility-timeout", "8")
        second: Worker | None = None
        try:
            first.wait_ready()
            scan = subprocess.Popen(
                _held_argv(inv, db, dns, held, "--broker", redis.url, "--shard-size", "3",
                           "--concurrency", "2", "--quiet"),
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            store = open_store(db)

            def running() -> list[int]:
                return [int(s.worker.rsplit(":", 1)[1]) for s in store.shards(1)
                        if s.status == "running"]  # fmt: skip

            # 1. one pool process SIGKILLed under its shard: its worker puts the message back
            wait_until(lambda: bool(running()), "a running shard")
            victim = running()[0]
            os.kill(victim, signal.SIGKILL)
            wait_until(lambda: any(s.attempts >= 2 for s in store.shards(1)), "a redelivery")
            # 2. the whole worker lost (the machine): its shards come back after the
            # visibility timeout, to the worker that is left
            second = Worker(redis.url, str(db), "local", 2, "--visibility-timeout", "8")
            second.wait_ready()
            wait_until(lambda: bool(running()), "a running shard again")
            first.kill_all()
            _out, err = scan.communicate(timeout=300)
            assert scan.returncode == 0, err
            shards = store.shards(1)
            store.close()
        finally:
            first.stop()
            if second is not None:
                second.stop()
    assert {s.status for s in shards} == {"done"}
    assert max(s.attempts for s in shards) >= 2
    assert _once(db, 1) == {"local": sorted(("host", h) for h in hosts)}


def test_a_broker_restart_mid_scan_loses_nothing(tmp_path: Path, redis: RedisServer) -> None:
    inv, zone, hosts = _slow_inventory(tmp_path, 12)
    db = tmp_path / "s.db"
    with (
        DnsServer(zone) as dns,
        HoldingServer(hold=2.0) as held,
        workers([(redis.url, str(db), "local", 2)]),
    ):
        scan = subprocess.Popen(
            _held_argv(inv, db, dns, held, "--broker", redis.url, "--shard-size", "2",
                       "--concurrency", "2", "--quiet"),
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        with open_store(db) as store:
            wait_until(lambda: any(s.status == "running" for s in store.shards(1)), "a shard")
            waiting = sum(s.status == "pending" for s in store.shards(1))
        assert waiting > 0  # shards still in the broker while it restarts
        redis.restart()
        _out, err = scan.communicate(timeout=300)
    assert scan.returncode == 0, err
    assert _once(db, 1) == {"local": sorted(("host", h) for h in hosts)}


def test_a_shard_that_always_fails_is_recorded_and_the_rest_completes(
    tmp_path: Path, redis: RedisServer, dns: tuple[DnsServer, Zone]
) -> None:
    server, _zone = dns
    inv = tmp_path / "inv.yaml"
    _write_inventory(inv, AGENCIES)
    db = tmp_path / "s.db"
    options = ScanOptions(resolver=server.spec, timeout=3, target_deadline=30,
                          allow_nets=("127.0.0.0/8",), icmp=False, concurrency=8)  # fmt: skip
    with workers([(redis.url, str(db), "local", 2)]), open_store(db) as store:
        inventory = load_inventory(str(inv))
        app = make_app(redis.url)
        submitted = submit(store, redis.url, inventory, str(inv), load_profile("vn-gov"),
                           options, ["local"], shard_size=5, app=app)  # fmt: skip
        # One more shard, from a client whose checks this worker does not know (a newer
        # release): every attempt fails the same way.
        poison = Shard(99, ("www.e-free.vn",), ())
        store.add_shards(submitted.scan_id, "local", [(99, poison.to_json(), 1)])
        plan_spec = ScanSpec(store=store.url, scan_id=submitted.scan_id,
                             check_ids=("no.such.check",), params={}, options=options)  # fmt: skip
        app.send_task(TASK, args=(plan_spec.to_json(), poison.to_json(), "local", {}),
                      queue=queue_name("local"))  # fmt: skip
        with pytest.raises(ScanFailed) as failed:
            follow(store, submitted)
        shards = store.shards(submitted.scan_id)
        assert store.scan(submitted.scan_id).status == "failed"
    bad = [s for s in shards if s.number == 99]
    assert len(bad) == 1 and bad[0].status == "failed" and bad[0].attempts == 3
    assert "no.such.check" in bad[0].reason
    assert "shard 99" in str(failed.value) and "no.such.check" in str(failed.value)
    assert {s.status for s in shards if s.number != 99} == {"done"}
    assert _once(db, 1) == {"local": _all_targets(AGENCIES)}  # the rest completed
    status = _run([sys.executable, "-m", "auditor", "status", "--db", str(db)])
    assert status.returncode == 1, status.stdout + status.stderr
    assert "scan 1 failed" in status.stdout and "shard 99" in status.stdout
    assert "no.such.check" in status.stdout


# ---------------------------------------------------------------------------
# --detach, status, --resume


def test_detach_status_and_resume(
    tmp_path: Path, redis: RedisServer, dns: tuple[DnsServer, Zone]
) -> None:
    server, _zone = dns
    inv = tmp_path / "inv.yaml"
    _write_inventory(inv, AGENCIES)
    db = tmp_path / "s.db"
    total = len(_all_targets(AGENCIES))
    # submitted with no worker running: nothing moves
    r = _run(_scan_argv(inv, db, server, "--broker", redis.url, "--vantage", "a,b",
                        "--shard-size", "5", "--detach"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"
    st = _run([sys.executable, "-m", "auditor", "status", "--db", str(db), "--scan", "1"])
    assert st.returncode == 0, st.stderr
    assert "scan 1 running" in st.stdout
    assert f"vantage a: 0/{total} targets (0%); shards: 5 pending" in st.stdout
    assert f"vantage b: 0/{total} targets (0%); shards: 5 pending" in st.stdout
    # the broker loses its memory (a restart without persistence): --resume sends again
    # what the store says is not done, per vantage
    redis.cli("FLUSHALL")
    with workers([(redis.url, str(db), "a", 1)]):
        again = _run(_scan_argv(inv, db, server, "--broker", redis.url, "--vantage", "a",
                                "--shard-size", "5", "--resume", "--quiet"))  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "resuming scan 1" in again.stderr
    assert "scan 1 goes on for vantage(s) b" in again.stderr  # not complete: b is not done
    st = _run([sys.executable, "-m", "auditor", "status", "--db", str(db)])
    assert f"vantage a: {total}/{total} targets (100%); shards: 5 done" in st.stdout
    assert f"vantage b: 0/{total} targets (0%); shards: 5 pending" in st.stdout
    with workers([(redis.url, str(db), "b", 1)]):
        last = _run(_scan_argv(inv, db, server, "--broker", redis.url, "--vantage", "a,b",
                               "--shard-size", "5", "--resume", "--detach"))  # fmt: skip
        assert last.returncode == 0, last.stderr

        def finished() -> bool:
            out = _run([sys.executable, "-m", "auditor", "status", "--db", str(db)]).stdout
            return "scan 1 complete" in out  # status finishes a detached scan that ended

        wait_until(finished, "the detached scan to complete", 300)
    assert _once(db, 1) == {"a": _all_targets(AGENCIES), "b": _all_targets(AGENCIES)}
    assert _scan_status(db, 1) == "complete"


# ---------------------------------------------------------------------------
# politeness across workers


def test_two_workers_keep_the_per_address_limit_together(
    tmp_path: Path, redis: RedisServer
) -> None:
    inv, zone, hosts = _slow_inventory(tmp_path, 16)
    db = tmp_path / "s.db"
    with (
        DnsServer(zone) as dns,
        HoldingServer(hold=0.5) as held,
        workers([(redis.url, str(db), "local", 2), (redis.url, str(db), "local", 2)]),
    ):
        done = _run(_held_argv(inv, db, dns, held, "--broker", redis.url, "--shard-size", "4",
                               "--per-address", "2", "--concurrency", "8", "--quiet"))  # fmt: skip
        assert done.returncode == 0, done.stderr
        peak, total = held.peak, held.total
    # four shards in four processes of two workers, each wanting up to 8 connections to
    # 127.0.0.1 at once: together they never held more than --per-address 2
    assert total >= len(hosts)
    assert peak == 2
    assert _once(db, 1) == {"local": sorted(("host", h) for h in hosts)}

    # The same workers each counting on their own (their limiter's Redis is gone: the
    # fallback) do exceed it: the measurement sees what sharing prevents.
    from tests.support.servers import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    alone = tmp_path / "alone.db"
    with (
        DnsServer(zone) as dns,
        HoldingServer(hold=0.5) as held,
        workers(
            [(redis.url, str(alone), "local", 2), (redis.url, str(alone), "local", 2)],
            "--limiter",
            dead,
        ) as started,
    ):
        argv = _held_argv(inv, alone, dns, held, "--broker", redis.url, "--shard-size", "4",
                          "--per-address", "2", "--concurrency", "8", "--quiet")  # fmt: skip
        done = _run(argv)
        assert done.returncode == 0, done.stderr
        unshared = held.peak
        said = "".join(w.text() for w in started)
    assert unshared > 2
    assert "counts its own connections from now on" in said


def test_the_limiter_falls_back_to_this_process_when_redis_is_gone() -> None:
    from tests.support.servers import free_port

    notes: list[str] = []
    limiter = RedisAddressLimiter(f"redis://127.0.0.1:{free_port()}/0", "local", 2, lease=30,
                                  report=notes.append)  # fmt: skip

    async def main() -> int:
        held = 0
        async with limiter.slot("192.0.2.1"), limiter.slot("192.0.2.1"):
            held = 2
        await limiter.aclose()
        return held

    assert anyio.run(main) == 2
    assert len(notes) == 1 and "counts its own connections" in notes[0]


def test_a_lost_holders_leases_expire(redis: RedisServer) -> None:
    async def main() -> list[str]:
        lost = RedisAddressLimiter(redis.url, "v", 1, lease=1.0)
        # a holder that never gives back (its process is killed): the lease is all that
        # is left of it
        assert await lost._acquire("192.0.2.7") is not None
        other = RedisAddressLimiter(redis.url, "v", 1, lease=1.0)
        with anyio.fail_after(20):
            async with other.slot("192.0.2.7") as token:
                got = [str(token)]
        await lost.aclose()
        await other.aclose()
        return got

    assert anyio.run(main)[0] != "None"
