"""Two `auditor scan` PROCESSES writing to one store at once do not corrupt it.

Real processes, a real DNS server on loopback and a real SQLite file (WAL). Each process
scans its own inventory; they start together (the store file does not exist yet, so both
also race to create the schema) and commit targets interleaved. Afterwards: both scans are
complete, every target of each is stored exactly once with its findings, the database passes
`PRAGMA integrity_check`, and the store can be read back (`auditor evaluate`).

(The same-process, two-connection case is tests/integration/test_store.py.)
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest

from tests.support.dnsserver import DnsServer, Zone

ROOT = Path(__file__).resolve().parents[2]
N = 40  # targets per scan


def _inventory(path: Path, prefix: str) -> list[str]:
    hosts = [f"{prefix}{i}.example.vn" for i in range(N)]
    lines = "\n".join(f"      - {h}" for h in hosts)
    path.write_text(
        f"version: 1\nname: {prefix}\nagencies:\n  - id: {prefix}\n    name: {prefix.upper()}\n"
        f"    hosts:\n{lines}\n",
        encoding="utf-8",
    )
    return hosts


def _scan(inv: Path, db: Path, server: DnsServer, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "auditor", "scan", str(inv), "--db", str(db),
         "--resolver", server.spec, "--timeout", "10", "--deadline", "60",
         "--concurrency", "8", "--no-icmp", "--quiet", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _first_resume_line(stream: IO[str]) -> str:
    """The line saying what the process resumes (or that there is nothing to resume)."""
    for line in stream:
        if "resum" in line:
            return line
    return ""


@pytest.mark.parametrize("round_", range(2))
def test_two_scan_processes_share_one_store(tmp_path: Path, round_: int) -> None:
    db = tmp_path / "shared.db"
    inv_a, inv_b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    hosts_a = _inventory(inv_a, "a")
    hosts_b = _inventory(inv_b, "b")
    zone = Zone()
    for h in hosts_a + hosts_b:
        # documentation address: the address guard refuses it, so nothing is connected and
        # each target ends (and is committed) within milliseconds: many interleaved writes
        zone.add(h, "A", ["192.0.2.10"])
        zone.add(h, "AAAA", ["2001:db8::10"])
    with DnsServer(zone) as server:
        procs = [_scan(inv_a, db, server), _scan(inv_b, db, server)]
        results = [p.communicate(timeout=240) for p in procs]
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert "Traceback" not in err
        assert "locked" not in err.lower()

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        scans = conn.execute("SELECT id, status, inventory_path FROM scans ORDER BY id").fetchall()
        assert [s[1] for s in scans] == ["complete", "complete"]
        by_inv = {Path(s[2]).name: s[0] for s in scans}
        assert set(by_inv) == {"a.yaml", "b.yaml"}
        for name, hosts in (("a.yaml", hosts_a), ("b.yaml", hosts_b)):
            sid = by_inv[name]
            targets = [
                r[0] for r in conn.execute("SELECT name FROM targets WHERE scan_id = ?", (sid,))
            ]
            assert sorted(targets) == sorted(hosts), "every target once, none of the other scan"
            obs = conn.execute(
                "SELECT COUNT(*) FROM observations WHERE scan_id = ?", (sid,)
            ).fetchone()[0]
            assert obs == len(hosts)
            per_target = dict(
                conn.execute(
                    "SELECT target, COUNT(*) FROM findings WHERE scan_id = ? GROUP BY target",
                    (sid,),
                ).fetchall()
            )
            assert set(per_target) == set(hosts)
            # the same checks for every target (all alike): no half-written target
            assert len(set(per_target.values())) == 1, per_target

    # the store reads back: evaluate each scan again
    for sid in by_inv.values():
        r = subprocess.run(
            [sys.executable, "-m", "auditor", "evaluate", "--db", str(db), "--scan", str(sid),
             "--json", str(tmp_path / f"eval{sid}.json")],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr


def test_two_resumes_of_one_scan_at_once(tmp_path: Path) -> None:
    """Two `--resume` of the same interrupted scan at once: both finish it, each target once."""
    db = tmp_path / "shared.db"
    inv = tmp_path / "a.yaml"
    hosts = _inventory(inv, "r")
    zone = Zone()
    for h in hosts:
        zone.add(h, "A", ["192.0.2.10"])
    hold = threading.Event()
    hold.set()
    with DnsServer(zone, hold=hold) as server:
        # an unfinished scan (as after a SIGKILL): half of its targets not stored, status running
        first = _scan(inv, db, server)
        _out, err = first.communicate(timeout=240)
        assert first.returncode == 0, err
        # no DNS answer until both processes have reopened the scan: otherwise the first could
        # finish it before the second starts (on a loaded machine), and the second would
        # rightly find nothing to resume and begin a new scan
        hold.clear()
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE scans SET status = 'running', finished = NULL")
            conn.execute(
                "DELETE FROM targets WHERE name IN ({})".format(",".join("?" * (N // 2))),
                hosts[: N // 2],
            )
        procs = [_scan(inv, db, server, "--resume"), _scan(inv, db, server, "--resume")]
        seen = []
        try:
            for p in procs:
                assert p.stderr is not None
                seen.append(_first_resume_line(p.stderr))
        finally:
            hold.set()
        results = [p.communicate(timeout=240) for p in procs]
        for line, (_out, err) in zip(seen, results, strict=True):
            assert line.startswith("auditor: resuming scan 1:"), line + err
    for p, (_out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
        assert "Traceback" not in err
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT name FROM targets WHERE scan_id = 1").fetchall()
        assert sorted(r[0] for r in rows) == sorted(hosts)
        statuses = [r[0] for r in conn.execute("SELECT status FROM scans")]
        # one scan, resumed twice; no extra scan created by the second resume
        assert statuses == ["complete"]
        dup = conn.execute(
            "SELECT COUNT(*) FROM (SELECT target, check_id, address FROM findings"
            " WHERE scan_id = 1 GROUP BY target, check_id, address HAVING COUNT(*) > 1)"
        ).fetchone()[0]
        assert dup == 0, "a target resumed by both processes must not be stored twice"
