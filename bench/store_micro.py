"""Micro-benchmark: what the store costs a scan per finished target.

    python -m bench.store_micro [--targets 2000] [--findings 40] [--obs-bytes 6000] [--runs 3]
                                [--postgresql] [--writers 4]

Writes TARGETS finished targets (one observation of OBS_BYTES of JSON and FINDINGS findings
each, as a full-profile host has) into a new SQLite file twice: through the store
(``open_store(...).save_target``: SQLAlchemy Core) and through the previous release's code
path, kept verbatim below (plain ``sqlite3``: the same pragmas, transaction and statements).
Prints wall and CPU ms per target for each (median of RUNS), and the one-off costs per
process: importing SQLAlchemy, creating a new store (Alembic runs), opening an existing one.
Local files only; no network.

``--postgresql`` adds the PostgreSQL store: a throwaway cluster of Debian's server started
here as the tests start theirs (tests/support/servers.py: own data directory, own port on
127.0.0.1, fsync on as in production), the same targets through ``save_target`` from one
process, and from WRITERS processes at once (each its own share of one scan's targets), and
the one-off costs of creating and opening a store there.
"""

from __future__ import annotations

import argparse
import functools
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditor.model import Finding, Status, TargetKind  # noqa: E402
from auditor.store import open_store  # noqa: E402

# -- the previous release's write path (auditor/store.py before the store package) --------

_LEGACY_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT NOT NULL, finished TEXT,
    status TEXT NOT NULL, kind TEXT NOT NULL DEFAULT 'scan', source_scan INTEGER,
    profile TEXT NOT NULL, inventory_path TEXT NOT NULL, inventory_name TEXT NOT NULL,
    inventory_json TEXT NOT NULL, options_json TEXT NOT NULL, tool_version TEXT NOT NULL,
    stats_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS targets (
    scan_id INTEGER NOT NULL REFERENCES scans(id), kind TEXT NOT NULL, name TEXT NOT NULL,
    started TEXT NOT NULL, finished TEXT NOT NULL, PRIMARY KEY (scan_id, kind, name)
);
CREATE TABLE IF NOT EXISTS observations (
    scan_id INTEGER NOT NULL REFERENCES scans(id), kind TEXT NOT NULL, name TEXT NOT NULL,
    json TEXT NOT NULL, PRIMARY KEY (scan_id, kind, name)
);
CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY AUTOINCREMENT, scan_id INTEGER NOT NULL REFERENCES scans(id),
    kind TEXT NOT NULL, target TEXT NOT NULL, address TEXT, check_id TEXT NOT NULL,
    status TEXT NOT NULL, message TEXT NOT NULL, evidence_json TEXT NOT NULL, score REAL
);
CREATE INDEX IF NOT EXISTS findings_scan ON findings(scan_id, kind, target);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LegacyWriter:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_LEGACY_SCHEMA)
        cur = self.db.execute(
            "INSERT INTO scans(started, status, profile, inventory_path, inventory_name,"
            " inventory_json, options_json, tool_version) VALUES (?, 'running', 'p', '/i',"
            " 'n', '{}', '{}', '0')",
            (_now(),),
        )
        assert cur.lastrowid is not None
        self.scan_id = cur.lastrowid

    def save_target(
        self,
        scan_id: int,
        kind: TargetKind,
        name: str,
        observation_json: str,
        findings: Iterable[Finding],
        started: str,
    ) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(
                "DELETE FROM findings WHERE scan_id = ? AND kind = ? AND target = ?",
                (scan_id, kind.value, name),
            )
            self.db.execute(
                "INSERT OR REPLACE INTO observations(scan_id, kind, name, json)"
                " VALUES (?, ?, ?, ?)",
                (scan_id, kind.value, name, observation_json),
            )
            self.db.executemany(
                "INSERT INTO findings(scan_id, kind, target, address, check_id, status,"
                " message, evidence_json, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        scan_id,
                        f.target_kind.value,
                        f.target,
                        f.address,
                        f.check,
                        f.status.value,
                        f.message,
                        json.dumps(f.evidence, ensure_ascii=False, sort_keys=True, default=str),
                        f.score,
                    )
                    for f in findings
                ],
            )
            self.db.execute(
                "INSERT OR REPLACE INTO targets(scan_id, kind, name, started, finished)"
                " VALUES (?, ?, ?, ?, ?)",
                (scan_id, kind.value, name, started, _now()),
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.db.close()


# -- the measure ----------------------------------------------------------------------------


def _targets(n: int, per_target: int, obs_bytes: int) -> list[tuple[str, str, list[Finding]]]:
    out = []
    for i in range(n):
        name = f"h{i:05d}.b{i // 20:04d}.gov.vn"
        obs = json.dumps({"host": name, "pad": "x" * obs_bytes})
        findings = [
            Finding(
                f"check.{j:02d}",
                TargetKind.HOST,
                name,
                ("2001:db8::1", "192.0.2.1", None)[j % 3],
                Status.PASS,
                f"Máy chủ {name} đạt yêu cầu {j}",
                {"observed": ["TLSv1.3", "TLSv1.2"], "n": j},
                1.0,
            )
            for j in range(per_target)
        ]
        out.append((name, obs, findings))
    return out


def _time(
    write: Callable[[str, str, list[Finding]], None], targets: list[Any]
) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    for name, obs, findings in targets:
        write(name, obs, findings)
    return time.perf_counter() - wall, time.process_time() - cpu


def one_run(targets: list[Any], tmp: Path, run: int) -> dict[str, tuple[float, float]]:
    legacy = LegacyWriter(tmp / f"legacy{run}.db")
    scan = legacy.scan_id
    try:
        raw = _time(
            lambda n, o, f: legacy.save_target(scan, TargetKind.HOST, n, o, f, "t"), targets
        )
    finally:
        legacy.close()
    with open_store(tmp / f"store{run}.db") as store:
        sid = store.begin_scan(
            profile="p", inventory_path="/i", inventory_name="n", inventory={}, options={}
        )
        new = _time(lambda n, o, f: store.save_target(sid, TargetKind.HOST, n, o, f, "t"), targets)
    return {"raw sqlite3 (previous release)": raw, "store (SQLAlchemy Core)": new}


def _subprocess_seconds(code: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def one_offs(tmp: Path) -> dict[str, float]:
    timer = "import time; t = time.perf_counter(); {}; print(time.perf_counter() - t)"
    existing = tmp / "existing.db"
    open_store(existing).close()
    opener = "from auditor.store import open_store; open_store({!r}).close()"
    return {
        "import sqlalchemy (new process)": _subprocess_seconds(timer.format("import sqlalchemy")),
        "create a new store (new process: imports, Alembic)": _subprocess_seconds(
            timer.format(opener.format(str(tmp / "fresh.db")))
        ),
        "open an existing store (new process: imports)": _subprocess_seconds(
            timer.format(opener.format(str(existing)))
        ),
    }


def _save(store: Any, scan: int, name: str, obs: str, findings: list[Finding]) -> None:
    store.save_target(scan, TargetKind.HOST, name, obs, findings, "t")


def _pg_writer(url: str, scan: int, share: list[Any], barrier: Any) -> None:
    with open_store(url) as store:
        barrier.wait()
        for name, obs, findings in share:
            store.save_target(scan, TargetKind.HOST, name, obs, findings, "t")


def postgresql_runs(
    targets: list[Any], runs: int, writers: int
) -> tuple[dict[str, list[tuple[float, float]]], dict[str, float]]:
    import multiprocessing

    from tests.support.servers import postgresql_missing, run_postgresql

    why = postgresql_missing()
    if why:
        raise SystemExit(f"--postgresql: {why}")
    results: dict[str, list[tuple[float, float]]] = {}
    once: dict[str, float] = {}
    servers = run_postgresql(durable=True)
    server = next(servers)
    try:
        for _run in range(runs):
            url = server.url(server.create_database())
            with open_store(url) as store:
                sid = store.begin_scan(
                    profile="p", inventory_path="/i", inventory_name="n", inventory={}, options={}
                )
                measured = _time(functools.partial(_save, store, sid), targets)
            results.setdefault("store on PostgreSQL, 1 process", []).append(measured)
            url = server.url(server.create_database())
            with open_store(url) as store:
                sid = store.begin_scan(
                    profile="p", inventory_path="/i", inventory_name="n", inventory={}, options={}
                )
            mp = multiprocessing.get_context("spawn")
            barrier = mp.Barrier(writers + 1)
            shares = [targets[w::writers] for w in range(writers)]
            procs = [
                mp.Process(target=_pg_writer, args=(url, sid, share, barrier)) for share in shares
            ]
            for p in procs:
                p.start()
            barrier.wait()
            wall = time.perf_counter()
            for p in procs:
                p.join()
            wall = time.perf_counter() - wall
            assert [p.exitcode for p in procs] == [0] * writers
            # CPU of the writers is theirs, not this process's: wall only
            results.setdefault(f"store on PostgreSQL, {writers} processes at once", []).append(
                (wall, float("nan"))
            )
        timer = "import time; t = time.perf_counter(); {}; print(time.perf_counter() - t)"
        opener = "from auditor.store import open_store; open_store({!r}).close()"
        fresh = server.url(server.create_database())
        once["PostgreSQL: create a new store (new process: imports, Alembic)"] = (
            _subprocess_seconds(timer.format(opener.format(fresh)))
        )
        once["PostgreSQL: open an existing store (new process: imports)"] = _subprocess_seconds(
            timer.format(opener.format(fresh))
        )
    finally:
        next(servers, None)
    return results, once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store_micro")
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument("--findings", type=int, default=40, help="findings per target")
    parser.add_argument("--obs-bytes", type=int, default=6000, help="observation JSON size")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgresql", action="store_true", help="also the PostgreSQL store")
    parser.add_argument("--writers", type=int, default=4, help="PostgreSQL writer processes")
    args = parser.parse_args(argv)
    targets = _targets(args.targets, args.findings, args.obs_bytes)
    results: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="store-micro-") as tmp:
        for run in range(args.runs):
            for label, measured in one_run(targets, Path(tmp), run).items():
                results.setdefault(label, []).append(measured)
        once = one_offs(Path(tmp))
    if args.postgresql:
        pg_results, pg_once = postgresql_runs(targets, args.runs, args.writers)
        results.update(pg_results)
        once.update(pg_once)
    n = args.targets
    print(
        f"{n} targets x {args.findings} findings, {args.obs_bytes} B observation; "
        f"median of {args.runs} runs; Python {sys.version.split()[0]}, SQLite "
        f"{sqlite3.sqlite_version}\n"
    )
    print("| write path | wall ms/target | CPU ms/target |")
    print("|---|---|---|")
    for label, runs in results.items():
        wall = statistics.median(w for w, _ in runs) * 1000 / n
        cpu = statistics.median(c for _, c in runs) * 1000 / n
        cpu_text = "-" if cpu != cpu else f"{cpu:.3f}"  # NaN: other processes' CPU
        print(f"| {label} | {wall:.3f} | {cpu_text} |")
    print("\n| once per process | s |")
    print("|---|---|")
    for label, seconds in once.items():
        print(f"| {label} | {seconds:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
