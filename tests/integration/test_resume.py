"""Interrupt a scan half-way (SIGINT, SIGKILL): finished targets stay, --resume ends the rest.

Real processes, a real DNS server on loopback, a real SQLite file. Stalled targets are names
the DNS server never answers, so the scan is reliably "half-way" when it is interrupted.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.dnsserver import DnsServer, Zone
from tests.support.servers import stored_target_names

ROOT = Path(__file__).resolve().parents[2]
FAST = [f"fast{i}.example.vn" for i in range(8)]
SLOW = [f"slow{i}.example.vn" for i in range(4)]


def _inventory(path: Path) -> None:
    hosts = "\n".join(f"      - {h}" for h in FAST + SLOW)
    path.write_text(
        f"version: 1\nname: resume\nagencies:\n  - id: a\n    name: A\n    hosts:\n{hosts}\n",
        encoding="utf-8",
    )


# footing control questions (auditor.selfcheck): the root, the public suffix, the domain
CONTROL = {"", "vn", "example.vn"}


def _scan(inv: Path, db: Path, server: DnsServer, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "auditor",
            "scan",
            str(inv),
            "--db",
            str(db),
            "--resolver",
            server.spec,
            "--timeout",
            "20",
            "--deadline",
            "60",
            "--concurrency",
            "4",
            "--no-icmp",
            "--quiet",
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_scan_keeps_finished_targets_and_resumes(
    tmp_path: Path, sig: signal.Signals
) -> None:
    inv = tmp_path / "inv.yaml"
    db = tmp_path / "store.db"
    _inventory(inv)
    zone = Zone()
    for h in FAST + SLOW:
        zone.add(h, "A", ["192.0.2.10"])  # documentation address: never connected (guard)
    zone.silent.update(SLOW)
    with DnsServer(zone) as server:
        proc = _scan(inv, db, server)
        deadline = time.monotonic() + 60
        while len(stored_target_names(db)) < len(FAST) and time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"scan ended early: {proc.communicate()[1]}")
            time.sleep(0.1)
        assert stored_target_names(db) == set(FAST), (
            "fast targets should finish while slow ones stall"
        )
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30)
        if sig == signal.SIGINT:
            assert proc.returncode == 130, err
            assert "--resume" in err and "Traceback" not in err
        with sqlite3.connect(db) as conn:
            status = conn.execute("SELECT status FROM scans").fetchone()[0]
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert status == ("interrupted" if sig == signal.SIGINT else "running")
        assert stored_target_names(db) == set(FAST)

        # Resume: the DNS server now answers the slow names; finished names are not asked again.
        zone.silent.clear()
        zone.queries.clear()
        proc = _scan(inv, db, server, "--resume")
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        # (the footing check asks the resolver for the SOA of the root, "vn", "example.vn")
        asked = {name for name, rdtype in zone.queries if rdtype != "SOA" or name not in CONTROL}
    assert asked == set(SLOW)
    assert stored_target_names(db) == set(FAST + SLOW)
    with sqlite3.connect(db) as conn:
        scans = conn.execute("SELECT id, status FROM scans").fetchall()
        assert scans == [(1, "complete")]
        hosts = {r[0] for r in conn.execute("SELECT DISTINCT target FROM findings")}
    assert hosts == set(FAST + SLOW)
