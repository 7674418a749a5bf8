"""Scheduled scans with the real parts: ``auditor serve --scheduler`` and ``auditor beat`` as
real processes, on a one-minute cron (``* * * * *``), against the loopback DNS server of
tests/integration/test_runners.py and a loopback TCP server that holds every connection
(tests/support/distributed.py), with a redis-server and a worker of the test's own for
beat. The store (a SQLite file) gets the scans, the runs and the skipped run; the dashboard
answers the schedules' next and last runs.

Each test waits for real minutes (the first due minute, and one more for the overlap): up to
about two and a half minutes of wall time, most of it idle.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from auditor.schedules import utc
from auditor.store import open_store
from tests.integration.test_runners import _write_inventory, _zone_data
from tests.support.distributed import ROOT, HoldingServer, wait_until, workers
from tests.support.dnsserver import DnsServer, Zone
from tests.support.redis_server import RedisServer, redis_server
from tests.support.servers import run_auditor

FAST: dict[str, tuple[list[str], list[str]]] = {
    "so-a": (["a.example.vn"], ["www.a.example.vn", "lo.a.example.vn"])
}
SLOW: dict[str, tuple[list[str], list[str]]] = {
    "so-s": ([], ["lo.slow.example.vn"])
}  # 127.0.0.1, its ports mapped to the holder
YEARLY: dict[str, tuple[list[str], list[str]]] = {"so-y": ([], ["lo.y.example.vn"])}
PASSWORD = "schedule admin password"
# The slow schedule's one host: its HTTP probes wait this long for an answer the holding
# server never sends, so its scan outlasts the next minute's due time.
SLOW_TIMEOUT_S = 80


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    zone: Zone = _zone_data({**FAST, **SLOW, **YEARLY})
    with DnsServer(zone) as server:
        yield server


def _port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _options(dns: DnsServer, timeout: int = 3, port_map: list[str] | None = None) -> str:
    opts = {
        "resolver": dns.spec,
        "timeout": timeout,
        "deadline": timeout + 10,
        "concurrency": 8,
        "allow_net": ["127.0.0.0/8"],
        "no_icmp": True,
    }
    if port_map:
        opts["port_map"] = port_map
    return json.dumps(opts)


def _schedule_file(
    tmp: Path,
    dns: DnsServer,
    holder: HoldingServer | None,
    *,
    vantages: str = "",
    deaf: bool = False,
) -> Path:
    for name, agencies in (("fast", FAST), ("slow", SLOW), ("yearly", YEARLY)):
        _write_inventory(tmp / f"{name}.yaml", agencies)
    lines = ["version: 1", "schedules:"]
    # two scan processes (serve --scheduler: a ProcessRunner started from a thread)
    lines += ["  - name: fast", "    inventory: fast.yaml", '    cron: "* * * * *"',
              "    workers: 2", f"    options: {_options(dns)}",
              *([vantages] if vantages else [])]  # fmt: skip
    if holder is not None:
        held = [f"80:{holder.ports[0]}", f"443:{holder.ports[1]}"]
        lines += ["  - name: slow", "    inventory: slow.yaml", '    cron: "* * * * *"',
                  f"    options: {_options(dns, SLOW_TIMEOUT_S, held)}"]  # fmt: skip
    # 1 January, midnight: never due during the test, so it runs only as a missed run
    lines += ["  - name: yearly", "    inventory: yearly.yaml", '    cron: "0 0 1 1 *"',
              f"    options: {_options(dns)}", *([vantages] if vantages else [])]  # fmt: skip
    if deaf:
        # a resolver that answers nothing: the scan judges nothing, the run is an error
        options = json.dumps(
            {
                "resolver": f"127.0.0.1:{_port()}",
                "timeout": 2,
                "deadline": 12,
                "allow_net": ["127.0.0.0/8"],
                "no_icmp": True,
            }
        )
        lines += ["  - name: deaf", "    inventory: yearly.yaml", '    cron: "0 0 1 1 *"',
                  f"    options: {options}"]  # fmt: skip
    path = tmp / "schedules.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _seed(db: Path) -> str:
    """An admin and its API token, and a last run of "yearly" (and "deaf") for 1 January
    2025: the scheduler finds the 2026 run missed and runs it once at start."""
    made = subprocess.run(
        [sys.executable, "-m", "auditor", "users", "add", "root", "--admin", "--db", str(db),
         "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = run_auditor("users", "token", "root", "--db", str(db))
    assert token.returncode == 0, token.stderr
    with open_store(db) as store:
        old = datetime(2025, 1, 1, 0, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
        for name in ("yearly", "deaf"):
            run = store.begin_schedule_run(name, utc(old))
            store.end_schedule_run(run, "complete", None)
    return token.stdout.strip()


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "auditor", *argv],
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        with suppress(subprocess.TimeoutExpired):
            return proc.wait(timeout=60)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait(timeout=30)


def _runs(db: Path, name: str) -> list[tuple[str, int | None]]:
    with open_store(db) as store:
        return [(r.status, r.scan_id) for r in store.schedule_runs(name)]


def _complete_scan(db: Path, name: str) -> int | None:
    done = [scan for status, scan in _runs(db, name) if status == "complete" and scan]
    return done[0] if done else None


def _get(url: str, token: str | None = None) -> tuple[int, object]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None


FAST_TARGETS = {"a.example.vn", "www.a.example.vn", "lo.a.example.vn"}


def _check_fast_scan(db: Path, scan_id: int, vantage: str) -> None:
    with open_store(db) as store:
        scan = store.scan(scan_id)
        assert scan.status == "complete" and scan.kind == "scan"
        assert scan.inventory_path.endswith("fast.yaml")
        assert store.vantages(scan_id) == [vantage]
        assert {n for _k, n in store.done_targets(scan_id, vantage)} == FAST_TARGETS
        assert store.findings(scan_id)


def test_serve_scheduler_runs_each_minute_runs_a_missed_run_and_skips_an_overlap(
    tmp_path: Path, dns: DnsServer
) -> None:
    db = tmp_path / "auditor.db"
    token = _seed(db)
    log = tmp_path / "serve.log"
    with HoldingServer(ports=2, hold=SLOW_TIMEOUT_S + 30) as holder:
        schedules = _schedule_file(tmp_path, dns, holder, deaf=True)
        port = _port()
        proc = _start(["serve", "--db", str(db), "--port", str(port), "--schedules",
                       str(schedules), "--scheduler"], log)  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            # the missed yearly run starts at once, before any minute has come
            wait_until(lambda: _complete_scan(db, "yearly") is not None, "the missed run", 90)
            assert "schedule yearly: the run due at 2026-01-01T00:00:00+07:00 was missed" in (
                log.read_text(errors="replace")
            )
            # the first minute: fast and slow start; fast ends, slow holds on
            wait_until(lambda: _complete_scan(db, "fast") is not None, "a scheduled scan", 150)
            # the next minute: slow is still going, its run is skipped with a log line
            wait_until(
                lambda: (
                    "schedule slow: the run due at" in log.read_text(errors="replace")
                    and "is skipped" in log.read_text(errors="replace")
                ),
                "the skipped run",
                150,
            )
            status, doc = _get(f"{base}/api/v1/schedules", token)
            assert status == 200 and isinstance(doc, dict)
            assert doc["runner"] == "embedded"
            by_name = {s["name"]: s for s in doc["schedules"]}
            assert set(by_name) == {"fast", "slow", "yearly", "deaf"}
            statuses = {r["status"] for r in by_name["slow"]["recent_runs"]}
            assert {"running", "skipped"} <= statuses
            assert by_name["yearly"]["next_run"].startswith("2027-01-01T00:00:00+07:00")
            assert _get(f"{base}/api/v1/schedules")[0] == 401
            # the pages stayed served while the scans ran in the scheduler's threads
            assert _get(f"{base}/api/v1/agencies", token)[0] == 200
        finally:
            code = _stop(proc)
    text = log.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    fast_scan = _complete_scan(db, "fast")
    assert fast_scan is not None
    _check_fast_scan(db, fast_scan, "local")
    with open_store(db) as store:
        yearly = store.schedule_runs("yearly")
        assert [r.due for r in yearly] == ["2025-12-31T17:00:00+00:00", "2024-12-31T17:00:00+00:00"]
        deaf = store.schedule_runs("deaf")[0]
        assert deaf.status == "error" and "could not test anything" in deaf.detail
        assert deaf.scan_id is not None  # stored all the same: its findings say why
        skipped = [r for r in store.schedule_runs("slow") if r.status == "skipped"]
        assert skipped and "is still going" in skipped[0].detail


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as server:
        yield server


def test_celery_beat_runs_the_schedules_through_a_worker(
    tmp_path: Path, dns: DnsServer, redis: RedisServer
) -> None:
    db = tmp_path / "auditor.db"
    _seed(db)
    schedules = _schedule_file(tmp_path, dns, None, vantages="    vantages: [hanoi]")
    log = tmp_path / "beat.log"
    with workers([(redis.url, str(db), "hanoi", 1)]):
        proc = _start(["beat", "--broker", redis.url, "--db", str(db), "--schedules",
                       str(schedules)], log)  # fmt: skip
        try:
            wait_until(lambda: _complete_scan(db, "yearly") is not None, "the missed run", 90)
            wait_until(lambda: _complete_scan(db, "fast") is not None, "a scheduled scan", 150)
        finally:
            code = _stop(proc, signal.SIGTERM)
    text = log.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert "schedule fast: scan" in text and "submitted" in text
    fast_scan = _complete_scan(db, "fast")
    assert fast_scan is not None
    _check_fast_scan(db, fast_scan, "hanoi")  # probed by the worker of that vantage
    with open_store(db) as store:
        assert {s.status for s in store.shards(fast_scan)} == {"done"}
        assert store.last_schedule_runs()["yearly"].due == "2025-12-31T17:00:00+00:00"


def test_beat_and_serve_refuse_a_bad_schedule_file_with_file_line_field(tmp_path: Path) -> None:
    db = tmp_path / "auditor.db"
    _seed(db)
    bad = tmp_path / "bad.yaml"
    bad.write_text("schedules:\n  - name: x\n    inventory: nope.yaml\n    cron: '* * *'\n")
    for argv in (
        ["serve", "--db", str(db), "--schedules", str(bad), "--scheduler"],
        ["beat", "--broker", "redis://127.0.0.1:1/0", "--db", str(db), "--schedules", str(bad)],
    ):
        done = run_auditor(*argv, timeout=60)
        assert done.returncode == 2, done.stderr
        assert f"{bad}:3: schedules[0].inventory: no such inventory file" in done.stderr
        assert f"{bad}:4: schedules[0].cron: expected five fields" in done.stderr
    remote = tmp_path / "remote.yaml"
    _write_inventory(tmp_path / "inv.yaml", FAST)
    remote.write_text(
        "schedules:\n  - name: r\n    inventory: inv.yaml\n    cron: '@daily'\n"
        "    vantages: [hanoi]\n"
    )
    done = run_auditor("serve", "--db", str(db), "--schedules", str(remote), "--scheduler")
    assert done.returncode == 2 and "auditor beat" in done.stderr


def test_a_run_whose_broker_is_out_of_reach_is_an_error_with_the_reason(tmp_path: Path) -> None:
    """beat started, then Redis went away: the run is recorded as an error saying so (a
    refused connection on loopback), no scan begun, no traceback in the run's detail."""
    from auditor.distributed.beat import distributed_run
    from auditor.scheduler import run_once
    from auditor.schedules import ScheduleSpec

    _write_inventory(tmp_path / "inv.yaml", FAST)
    spec = ScheduleSpec(name="r", inventory=str(tmp_path / "inv.yaml"), cron="@daily")
    with open_store(tmp_path / "auditor.db") as store:
        run = store.begin_schedule_run("r", "2026-12-06T17:00:00+00:00")
        closed = f"redis://127.0.0.1:{_port()}/0"
        assert run_once(store, spec, run, distributed_run(closed)) == "error"
        [rec] = store.schedule_runs("r")
        assert rec.scan_id is None and "cannot reach the broker" in rec.detail
        assert "Traceback" not in rec.detail and store.scans() == []
