"""``auditor scan --workers N``: real multi-process scans (auditor.runners.ProcessRunner).

The end-to-end tests run real `auditor scan` processes (and their spawned workers) against
the loopback DNS server and a real SQLite file, as tests/integration/test_store_concurrency.py does.
Hosts resolve to documentation addresses (refused by the address guard: nothing is
connected), to 127.0.0.1 (allowed with --allow-net: ports 80/443 refuse) or not at all.
(Moved from tests/unit/test_workers.py when auditor/workers.py became auditor/runners.py.)
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.cli import EXIT_FAILED, EXIT_INTERRUPTED, main
from auditor.engine import make_plan
from auditor.model import TargetKind
from auditor.options import ScanOptions
from auditor.registry import get_check
from auditor.runners import ProcessRunner, RunOutcome
from auditor.shards import ScanSpec, split
from auditor.store import open_store
from tests.support.dnsserver import DnsServer, Zone
from tests.support.servers import stored_target_names

ROOT = Path(__file__).resolve().parents[2]
HOST, ZONE = TargetKind.HOST.value, TargetKind.ZONE.value


# ---------------------------------------------------------------------------
# the option


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", ""])
def test_workers_must_be_a_positive_integer(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("version: 1\nname: x\nagencies: []\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["scan", str(inv), "--db", str(tmp_path / "s.db"), "--workers", value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--workers" in err and "at least 1" in err and "Traceback" not in err
    assert not (tmp_path / "s.db").exists()


# ---------------------------------------------------------------------------
# real scans

AGENCIES: dict[str, tuple[list[str], list[str]]] = {
    # agency: (zones, hosts)
    "so-a": (
        ["a.example.vn", "sub.a.example.vn"],  # nested: www.sub.a is in both
        ["www.a.example.vn", "dv.a.example.vn", "mail.a.example.vn", "www.sub.a.example.vn",
         "cdn.a.example.vn", "missing.a.example.vn", "www.shared.vn"],
    ),
    "so-b": (
        ["b.example.vn"],
        ["www.b.example.vn", "portal.b.example.vn", "old.b.example.vn", "v6.b.example.vn",
         "www.shared.vn"],
    ),
    "so-c": (
        ["c.example.vn", "d.example.vn"],
        ["www.c.example.vn", "api.c.example.vn", "www.d.example.vn", "lo.c.example.vn"],
    ),
    "so-e": (
        [],
        ["www.e-free.vn", "app.e-free.vn", "x.f-free.vn", "y.f-free.vn", "lo.f-free.vn"],
    ),
}  # fmt: skip


def _write_inventory(path: Path, agencies: dict[str, tuple[list[str], list[str]]]) -> None:
    lines = ["version: 1", "name: workers", "agencies:"]
    for agency, (zones, hosts) in agencies.items():
        lines += [f"  - id: {agency}", f"    name: {agency.upper()}"]
        lines.append(f"    domains: [{', '.join(zones)}]")
        lines.append("    hosts:")
        lines += [f"      - {h}" for h in hosts]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _zone_data(agencies: dict[str, tuple[list[str], list[str]]]) -> Zone:
    zone = Zone()
    for zones, hosts in agencies.values():
        for z in zones:
            zone.add(z, "SOA", [f"ns1.{z}. hostmaster.{z}. 1 3600 600 86400 300"])
            zone.add(z, "NS", [f"ns1.{z}."])
            zone.add(f"ns1.{z}", "A", ["192.0.2.53"])
            zone.add(f"ns1.{z}", "AAAA", ["2001:db8::53"])
            zone.add(z, "MX", [f"10 mx.{z}."])
            zone.add(f"mx.{z}", "A", ["192.0.2.25"])
            zone.add(z, "TXT", ['"v=spf1 mx -all"'])
            zone.add(f"_dmarc.{z}", "TXT", ['"v=DMARC1; p=reject"'])
        for h in hosts:
            if h.startswith("missing."):
                continue  # NXDOMAIN
            if h.startswith("lo."):
                zone.add(h, "A", ["127.0.0.1"])  # allowed: ports 80 and 443 refuse
            elif h.startswith("cdn."):
                zone.add(h, "CNAME", ["edge.cdn-provider.vn."])
                zone.add("edge.cdn-provider.vn", "A", ["198.51.100.7"])
                zone.add("edge.cdn-provider.vn", "AAAA", ["2001:db8::7"])
            elif h.startswith("old."):
                zone.add(h, "A", ["192.0.2.80"])  # IPv4 only
            elif h.startswith("v6."):
                zone.add(h, "AAAA", ["2001:db8::80"])  # IPv6 only
            else:
                zone.add(h, "A", ["203.0.113.10"])
                zone.add(h, "AAAA", ["2001:db8::10"])
    return zone


@pytest.fixture
def dns() -> Iterator[tuple[DnsServer, Zone]]:
    zone = _zone_data(AGENCIES)
    with DnsServer(zone) as server:
        yield server, zone


def _argv(inv: Path, db: Path, server: DnsServer, *extra: str) -> list[str]:
    return [sys.executable, "-m", "auditor", "scan", str(inv), "--db", str(db),
            "--resolver", server.spec, "--timeout", "10", "--deadline", "60",
            "--concurrency", "8", "--allow-net", "127.0.0.0/8", "--no-icmp", *extra]  # fmt: skip


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)


def _rows(db: Path, scan_id: int) -> list[tuple[str, str, str, str | None, str]]:
    with sqlite3.connect(db) as conn:
        return sorted(
            conn.execute(
                "SELECT kind, target, check_id, address, status FROM findings WHERE scan_id = ?",
                (scan_id,),
            ).fetchall()
        )


def _scan_row(db: Path) -> tuple[int, str, dict[str, int]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT id, status, stats_json FROM scans").fetchall()
    assert len(rows) == 1, rows
    return rows[0][0], rows[0][1], json.loads(rows[0][2])


def _targets_once(db: Path, scan_id: int) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        obs = conn.execute(
            "SELECT COUNT(*) FROM observations WHERE scan_id = ?", (scan_id,)
        ).fetchone()[0]
        targets = sorted(
            conn.execute("SELECT kind, name FROM targets WHERE scan_id = ?", (scan_id,)).fetchall()
        )
    assert obs == len(targets)
    return targets


def _all_targets(agencies: dict[str, tuple[list[str], list[str]]]) -> list[tuple[str, str]]:
    zones = {z for zs, _ in agencies.values() for z in zs}
    hosts = {h for _, hs in agencies.values() for h in hs}
    return sorted({(ZONE, z) for z in zones} | {(HOST, h) for h in hosts})


def test_two_workers_find_what_one_process_finds(
    tmp_path: Path, dns: tuple[DnsServer, Zone]
) -> None:
    server, zone = dns
    inv = tmp_path / "inv.yaml"
    _write_inventory(inv, AGENCIES)
    one, two = tmp_path / "one.db", tmp_path / "two.db"

    r1 = _run(_argv(inv, one, server, "--quiet"))
    assert r1.returncode == 0, r1.stderr
    zone.queries.clear()
    r2 = _run(_argv(inv, two, server, "--workers", "2", "--json", str(tmp_path / "two.json")))
    asked = len(zone.queries)
    assert r2.returncode == 0, r2.stderr
    assert "Traceback" not in r2.stderr
    # the same progress lines as a one-process scan (not a terminal: plain lines)
    total = len(_all_targets(AGENCIES))
    assert f"scan: {total}/{total} targets (100%)" in r2.stderr
    assert "complete" in r2.stderr

    id1, status1, _ = _scan_row(one)
    id2, status2, stats2 = _scan_row(two)
    assert (status1, status2) == ("complete", "complete")
    assert _targets_once(two, id2) == _all_targets(AGENCIES)
    rows1, rows2 = _rows(one, id1), _rows(two, id2)
    assert rows2 == rows1
    assert len(rows2) == len(set(rows2)), "no finding stored twice"
    assert {r[4] for r in rows2} >= {"pass", "fail", "not_tested"}
    # the scan row holds the counters of both workers: every DNS query of the scan
    assert stats2["dns_queries"] == asked > 0
    doc = json.loads((tmp_path / "two.json").read_text(encoding="utf-8"))
    # the JSON shows the footing as its own key (scan.footing), the counters in stats
    counters = {k: v for k, v in stats2.items() if k != "footing"}
    assert doc["scan"]["status"] == "complete" and doc["scan"]["stats"] == counters
    assert doc["scan"]["footing"] == stats2["footing"]


# A slower inventory for interruptions: names the DNS server never answers stall until the
# target deadline, so a scan is reliably half-way when it is stopped.
FAST_SLOW: dict[str, tuple[list[str], list[str]]] = {
    "fast-a": (["fa.example.vn"], [f"h{i}.fa.example.vn" for i in range(6)]),
    "fast-b": (["fb.example.vn"], [f"h{i}.fb.example.vn" for i in range(6)]),
    "free": ([], [f"www.free{i}.vn" for i in range(6)]),
    "slow": ([], [f"slow{i}.example.vn" for i in range(6)]),
}
SLOW = set(FAST_SLOW["slow"][1])


def _children(pid: int) -> list[int]:
    """The spawned workers of ``pid`` (not multiprocessing's resource tracker)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            out.append(int(entry.name))
    return sorted(out)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(cond: object, what: str, proc: subprocess.Popen[str], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not cond():  # type: ignore[operator]
        if proc.poll() is not None:
            pytest.fail(f"scan ended before {what}: {proc.communicate()[1]}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def slow_dns() -> Iterator[tuple[DnsServer, Zone]]:
    zone = _zone_data(FAST_SLOW)
    for name in SLOW:
        zone.add(name, "A", ["192.0.2.10"])
    zone.silent.update(SLOW)
    with DnsServer(zone) as server:
        yield server, zone


def _start_midway(
    inv: Path, db: Path, server: DnsServer, workers: int
) -> tuple[subprocess.Popen[str], list[int], set[str]]:
    """A multi-worker scan of FAST_SLOW, returned once its fast targets are stored and its
    slow ones hang: (parent process, worker pids, fast targets). Like a terminal's job, the
    scan leads its own process group, which Ctrl-C signals as a whole."""
    _write_inventory(inv, FAST_SLOW)
    fast = {name for _, name in _all_targets(FAST_SLOW)} - SLOW
    proc = subprocess.Popen(
        _argv(inv, db, server, "--workers", str(workers), "--quiet"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: stored_target_names(db) >= fast, "the fast targets", proc)
        pids = _children(proc.pid)
        assert len(pids) == workers
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        raise
    return proc, pids, fast


@pytest.mark.parametrize("to", ["process group", "parent only"])
def test_ctrl_c_then_resume_with_workers(
    tmp_path: Path, slow_dns: tuple[DnsServer, Zone], to: str
) -> None:
    server, zone = slow_dns
    inv, db = tmp_path / "inv.yaml", tmp_path / "s.db"
    everything = _all_targets(FAST_SLOW)
    proc, workers, fast = _start_midway(inv, db, server, 3)
    try:
        if to == "process group":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "--resume" in err and "Traceback" not in err
    assert not any(_alive(p) for p in workers)
    scan_id, status, _stats = _scan_row(db)
    assert status == "interrupted"
    assert stored_target_names(db) == fast, "finished targets kept, stalled ones not stored"

    zone.silent.clear()
    r = _run(_argv(inv, db, server, "--workers", "3", "--resume", "--quiet"))
    assert r.returncode == 0, r.stderr
    assert f"resuming scan {scan_id}: {len(fast)} target(s) already done" in r.stderr
    assert _scan_row(db)[:2] == (scan_id, "complete")
    assert _targets_once(db, scan_id) == everything
    with sqlite3.connect(db) as conn:
        dup = conn.execute(
            "SELECT COUNT(*) FROM (SELECT kind, target, check_id, address FROM findings"
            " GROUP BY kind, target, check_id, address HAVING COUNT(*) > 1)"
        ).fetchone()[0]
    assert dup == 0
    assert {t for _k, t, *_ in _rows(db, scan_id)} == {name for _, name in everything}


def test_killed_worker_fails_the_scan_and_resume_finishes_it(
    tmp_path: Path, slow_dns: tuple[DnsServer, Zone]
) -> None:
    """A worker killed from outside (as by the kernel's OOM killer): the parent stops the
    others, stores the scan as failed, names what happened and exits 1."""
    server, zone = slow_dns
    inv, db = tmp_path / "inv.yaml", tmp_path / "s.db"
    proc, workers, fast = _start_midway(inv, db, server, 2)
    try:
        os.kill(workers[0], signal.SIGKILL)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == EXIT_FAILED, err
    assert f"process {workers[0]} was killed by SIGKILL" in err
    assert "failed" in err and "--resume" in err and "Traceback" not in err
    assert not any(_alive(p) for p in workers), "the other worker is stopped, not orphaned"
    scan_id, status, _stats = _scan_row(db)
    assert status == "failed"
    assert stored_target_names(db) == fast

    zone.silent.clear()
    r = _run(_argv(inv, db, server, "--workers", "2", "--resume", "--quiet"))
    assert r.returncode == 0, r.stderr
    assert _scan_row(db)[:2] == (scan_id, "complete")
    assert _targets_once(db, scan_id) == _all_targets(FAST_SLOW)


def test_killed_parent_leaves_no_worker_behind(
    tmp_path: Path, slow_dns: tuple[DnsServer, Zone]
) -> None:
    server, _zone = slow_dns
    inv, db = tmp_path / "inv.yaml", tmp_path / "s.db"
    proc, workers, fast = _start_midway(inv, db, server, 2)
    try:
        proc.kill()
        proc.communicate(timeout=30)
        deadline = time.monotonic() + 20
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers), "workers outlived their parent"
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert stored_target_names(db) == fast


def test_worker_that_cannot_open_the_store_fails_the_pool(tmp_path: Path) -> None:
    """A real failure inside the worker processes (the store path is a directory): the pool
    reports it by name, starts no orphan and the parent's own store is untouched."""
    plan = make_plan(["www.a.vn", "www.b.vn"], ["a.vn", "b.vn"], [get_check("dns.resolve")])
    shards = split(plan, 2)
    not_a_db = tmp_path / "dir.db"
    not_a_db.mkdir()
    spec = ScanSpec.of(plan, store=str(not_a_db), scan_id=1, options=ScanOptions())
    runner = ProcessRunner(2)
    outcomes: list[RunOutcome] = []
    with open_store(":memory:") as unused:  # each worker opens spec.store as its own sink
        runner.run(
            spec, shards, unused, on_done=lambda d: None, report=lambda s: None,
            settle=outcomes.append,
        )  # fmt: skip
    (result,) = outcomes
    pids = runner.pids
    assert len(pids) == 2 and not any(_alive(p) for p in pids)
    assert result.status == "failed"
    # the first failure stops the other worker (fail fast), which may have failed too
    assert 1 <= len(result.errors) <= 2
    for error in result.errors:
        assert re.fullmatch(
            r"worker [12] of 2: OperationalError: unable to open database file", error
        )


def test_scan_with_workers_needs_a_store_file(tmp_path: Path) -> None:
    from auditor.cli import UsageError
    from auditor.cli.scan import execute_scan
    from auditor.inventory import load_inventory
    from auditor.profiles import load_profile

    inv = tmp_path / "inv.yaml"
    _write_inventory(inv, {"x": ([], ["www.x.vn"])})
    with open_store(":memory:") as store:
        with pytest.raises(UsageError, match="--workers"):
            execute_scan(
                store, load_inventory(str(inv)), str(inv), load_profile("vn-gov"), ScanOptions(),
                workers=2,
            )  # fmt: skip
        assert store.scans() == [], "refused before the scan row is written"


# One zone holding every host (as most of Quang Ninh's sit under quangninh.gov.vn): the
# case a shard of "a zone with all its hosts" could not split.
ONE_ZONE: dict[str, tuple[list[str], list[str]]] = {
    "so-q": (
        ["q.example.vn"],
        [f"www{i}.q.example.vn" for i in range(8)]
        + ["cdn.q.example.vn", "missing.q.example.vn", "old.q.example.vn",
           "v6.q.example.vn", "lo.q.example.vn", "lo2.q.example.vn"],
    ),
}  # fmt: skip


def test_one_zone_province_split_over_two_workers_gives_identical_findings(
    tmp_path: Path,
) -> None:
    from auditor.inventory import load_inventory
    from auditor.profiles import load_profile
    from auditor.service import ScanService

    zone = _zone_data(ONE_ZONE)
    inv = tmp_path / "inv.yaml"
    _write_inventory(inv, ONE_ZONE)
    # the two workers really share the zone's hosts
    plan = ScanService(open_store(":memory:")).plan(
        load_inventory(str(inv)), load_profile("vn-gov"), ScanOptions()
    )
    one_shard, other = split(plan, 2)
    assert one_shard.hosts and other.hosts and one_shard.zones == ("q.example.vn",)
    assert set(one_shard.zone_hosts["q.example.vn"]) == set(ONE_ZONE["so-q"][1])
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    with DnsServer(zone) as server:
        r1 = _run(_argv(inv, one, server, "--quiet"))
        r2 = _run(_argv(inv, two, server, "--quiet", "--workers", "2"))
    assert r1.returncode == 0, r1.stderr
    assert r2.returncode == 0, r2.stderr
    id1, id2 = _scan_row(one)[0], _scan_row(two)[0]
    assert _targets_once(two, id2) == _all_targets(ONE_ZONE)
    with open_store(one) as s1, open_store(two) as s2:
        # every field of every finding: status, message, evidence, score
        found1 = sorted(s1.findings(id1), key=repr)
        found2 = sorted(s2.findings(id2), key=repr)
    assert found2 == found1
    assert len(found1) > len(ONE_ZONE["so-q"][1])
    assert {f.status.value for f in found1} >= {"pass", "fail", "not_tested"}
