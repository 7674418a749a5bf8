"""SQLite store: scans, targets, observations (JSON) and findings.

WAL mode and one transaction per finished target, so an interrupted scan keeps
every finished result and a second process can read (or write) at the same time.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from auditor import __version__
from auditor.model import Finding, Status, TargetKind

SCHEMA_VERSION = 1
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL,              -- running | complete | interrupted | failed
    kind TEXT NOT NULL DEFAULT 'scan', -- scan | evaluation | gate
    source_scan INTEGER,               -- for evaluations: the scan whose observations were used
    profile TEXT NOT NULL,
    inventory_path TEXT NOT NULL,
    inventory_name TEXT NOT NULL,
    inventory_json TEXT NOT NULL,
    options_json TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    stats_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS targets (
    scan_id INTEGER NOT NULL REFERENCES scans(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT NOT NULL,
    PRIMARY KEY (scan_id, kind, name)
);
CREATE TABLE IF NOT EXISTS observations (
    scan_id INTEGER NOT NULL REFERENCES scans(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (scan_id, kind, name)
);
CREATE TABLE IF NOT EXISTS findings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scan_id INTEGER NOT NULL REFERENCES scans(id),
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    address TEXT,
    check_id TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    evidence_json TEXT NOT NULL,
    score REAL
);
CREATE INDEX IF NOT EXISTS findings_scan ON findings(scan_id, kind, target);
"""


def _retry(step: Callable[[], T], seconds: float = 30.0) -> T:
    """Run a store set-up step, retrying while another process holds the lock."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or "busy" in str(exc)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.02 + random.random() * 0.08)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ScanRecord:
    id: int
    started: str
    finished: str | None
    status: str
    kind: str
    source_scan: int | None
    profile: str
    inventory_path: str
    inventory_name: str
    inventory: dict[str, Any]
    options: dict[str, Any]
    tool_version: str
    stats: dict[str, Any]


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per finished target.
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self.db.execute("PRAGMA busy_timeout=30000")
        # Two processes opening a new store at once: switching to WAL and creating the
        # schema take locks for which SQLite may answer SQLITE_BUSY at once, without its busy
        # handler (journal-mode change, schema read during recovery). Retry those steps.
        if _retry(lambda: self.db.execute("PRAGMA journal_mode").fetchone()[0]) != "wal":
            _retry(lambda: self.db.execute("PRAGMA journal_mode=WAL").fetchone())
        self.db.execute("PRAGMA synchronous=NORMAL")
        _retry(lambda: self.db.executescript(_SCHEMA))
        _retry(
            lambda: self.db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        )

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scans ----------------------------------------------------------------
    def begin_scan(
        self,
        *,
        profile: str,
        inventory_path: str,
        inventory_name: str,
        inventory: dict[str, Any],
        options: dict[str, Any],
        kind: str = "scan",
        source_scan: int | None = None,
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO scans(started, status, kind, source_scan, profile, inventory_path,"
            " inventory_name, inventory_json, options_json, tool_version)"
            " VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _now(),
                kind,
                source_scan,
                profile,
                inventory_path,
                inventory_name,
                json.dumps(inventory, ensure_ascii=False, default=str),
                json.dumps(options, ensure_ascii=False, default=str),
                __version__,
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def finish_scan(self, scan_id: int, status: str, stats: dict[str, Any] | None = None) -> None:
        self.db.execute(
            "UPDATE scans SET finished = ?, status = ?, stats_json = ? WHERE id = ?",
            (_now(), status, json.dumps(stats or {}), scan_id),
        )

    def reopen_scan(self, scan_id: int) -> None:
        self.db.execute(
            "UPDATE scans SET status = 'running', finished = NULL WHERE id = ?", (scan_id,)
        )

    def scan(self, scan_id: int) -> ScanRecord:
        row = self.db.execute("SELECT * FROM scans WHERE id = ?", (scan_id,)).fetchone()
        if row is None:
            raise KeyError(f"no scan with id {scan_id} in {self.path}")
        return self._record(row)

    def scans(self, kind: str | None = None) -> list[ScanRecord]:
        sql = "SELECT * FROM scans"
        args: tuple[Any, ...] = ()
        if kind:
            sql += " WHERE kind = ?"
            args = (kind,)
        return [self._record(r) for r in self.db.execute(sql + " ORDER BY id", args)]

    def latest_scan(
        self, *, status: str | None = "complete", kind: str | None = None
    ) -> ScanRecord | None:
        """The latest row with this status (and kind: ``scan`` for a network scan, not an
        ``evaluation`` or a ``gate`` row; None: any kind)."""
        where = []
        args: list[Any] = []
        if status:
            where.append("status = ?")
            args.append(status)
        if kind:
            where.append("kind = ?")
            args.append(kind)
        sql = "SELECT * FROM scans" + (" WHERE " + " AND ".join(where) if where else "")
        row = self.db.execute(sql + " ORDER BY id DESC LIMIT 1", tuple(args)).fetchone()
        return self._record(row) if row else None

    def unfinished_scan(self, inventory_path: str) -> ScanRecord | None:
        """The latest scan of this inventory that ``--resume`` continues: still running (the
        process was killed), interrupted, or failed (a ``--workers`` process crashed: its
        finished targets are as good as those of an interrupted scan)."""
        row = self.db.execute(
            "SELECT * FROM scans WHERE inventory_path = ? AND kind = 'scan'"
            " AND status IN ('running', 'interrupted', 'failed') ORDER BY id DESC LIMIT 1",
            (inventory_path,),
        ).fetchone()
        return self._record(row) if row else None

    def previous_scan(self, scan_id: int) -> ScanRecord | None:
        """The latest complete scan before ``scan_id`` of the same inventory (for trends)."""
        current = self.scan(scan_id)
        row = self.db.execute(
            "SELECT * FROM scans WHERE id < ? AND inventory_path = ? AND status = 'complete'"
            " ORDER BY id DESC LIMIT 1",
            (scan_id, current.inventory_path),
        ).fetchone()
        return self._record(row) if row else None

    @staticmethod
    def _record(row: tuple[Any, ...]) -> ScanRecord:
        return ScanRecord(
            id=row[0],
            started=row[1],
            finished=row[2],
            status=row[3],
            kind=row[4],
            source_scan=row[5],
            profile=row[6],
            inventory_path=row[7],
            inventory_name=row[8],
            inventory=json.loads(row[9]),
            options=json.loads(row[10]),
            tool_version=row[11],
            stats=json.loads(row[12] or "{}"),
        )

    # -- targets ----------------------------------------------------------------
    def save_target(
        self,
        scan_id: int,
        kind: TargetKind,
        name: str,
        observation_json: str,
        findings: Iterable[Finding],
        started: str,
    ) -> None:
        """Store one finished target atomically: observations and findings together."""
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
            self._insert_findings(scan_id, findings)
            self.db.execute(
                "INSERT OR REPLACE INTO targets(scan_id, kind, name, started, finished)"
                " VALUES (?, ?, ?, ?, ?)",
                (scan_id, kind.value, name, started, _now()),
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def _insert_findings(self, scan_id: int, findings: Iterable[Finding]) -> None:
        self.db.executemany(
            "INSERT INTO findings(scan_id, kind, target, address, check_id, status, message,"
            " evidence_json, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def replace_findings(self, scan_id: int, findings: Iterable[Finding]) -> None:
        """Used by ``auditor evaluate``: all findings of a scan at once."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM findings WHERE scan_id = ?", (scan_id,))
            self._insert_findings(scan_id, findings)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def copy_observations(self, from_scan: int, to_scan: int) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute(
                "INSERT INTO observations(scan_id, kind, name, json)"
                " SELECT ?, kind, name, json FROM observations WHERE scan_id = ?",
                (to_scan, from_scan),
            )
            self.db.execute(
                "INSERT INTO targets(scan_id, kind, name, started, finished)"
                " SELECT ?, kind, name, started, finished FROM targets WHERE scan_id = ?",
                (to_scan, from_scan),
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def done_targets(self, scan_id: int) -> set[tuple[str, str]]:
        return {
            (k, n)
            for k, n in self.db.execute(
                "SELECT kind, name FROM targets WHERE scan_id = ?", (scan_id,)
            )
        }

    def observations(self, scan_id: int) -> Iterator[tuple[TargetKind, str, str]]:
        for kind, name, text in self.db.execute(
            "SELECT kind, name, json FROM observations WHERE scan_id = ? ORDER BY kind, name",
            (scan_id,),
        ):
            yield TargetKind(kind), name, text

    def status_counts(self, scan_id: int) -> dict[str, int]:
        """Findings per status (every status, zeros included), counted by SQLite: the end of
        a national scan must not load its half a million findings just to count them."""
        counts = {s.value: 0 for s in Status}
        rows = self.db.execute(
            "SELECT status, COUNT(*) FROM findings WHERE scan_id = ? GROUP BY status", (scan_id,)
        )
        for status, n in rows:
            counts[status] = counts.get(status, 0) + n
        return counts

    def findings(self, scan_id: int) -> list[Finding]:
        rows = self.db.execute(
            "SELECT check_id, kind, target, address, status, message, evidence_json, score"
            " FROM findings WHERE scan_id = ? ORDER BY kind, target, check_id, address",
            (scan_id,),
        )
        return [
            Finding(
                check=r[0],
                target_kind=TargetKind(r[1]),
                target=r[2],
                address=r[3],
                status=Status(r[4]),
                message=r[5],
                evidence=json.loads(r[6]),
                score=r[7],
            )
            for r in rows
        ]
