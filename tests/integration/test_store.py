from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from auditor.model import Finding, Status, TargetKind
from auditor.store import Store


def _finding(target: str, check: str = "dns.resolve", status: Status = Status.PASS) -> Finding:
    return Finding(check, TargetKind.HOST, target, None, status, "msg <b>", {"k": [1, "x"]}, 0.5)


def _begin(store: Store) -> int:
    return store.begin_scan(
        profile="vn-gov",
        inventory_path="/inv.yaml",
        inventory_name="Tỉnh",
        inventory={"agencies": []},
        options={"timeout": 1},
    )


def test_round_trip(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        scan = _begin(store)
        f = _finding("www.example.vn")
        store.save_target(scan, TargetKind.HOST, "www.example.vn", '{"x":1}', [f], "t0")
        store.finish_scan(scan, "complete", {"connections": 3})
        assert store.findings(scan) == [f]
        rec = store.scan(scan)
        assert rec.status == "complete" and rec.stats == {"connections": 3}
        assert rec.inventory_name == "Tỉnh"
        assert store.done_targets(scan) == {("host", "www.example.vn")}
        assert list(store.observations(scan)) == [(TargetKind.HOST, "www.example.vn", '{"x":1}')]
        assert store.latest_scan() == rec


def test_wal_mode_and_saving_twice_replaces(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        scan = _begin(store)
        store.save_target(scan, TargetKind.HOST, "h", "{}", [_finding("h")], "t0")
        store.save_target(
            scan, TargetKind.HOST, "h", "{}", [_finding("h", status=Status.FAIL)], "t0"
        )
        assert [f.status for f in store.findings(scan)] == [Status.FAIL]


def test_unfinished_scan_for_resume(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        scan = _begin(store)
        store.save_target(scan, TargetKind.HOST, "h1", "{}", [], "t0")
        assert store.unfinished_scan("/inv.yaml").id == scan  # type: ignore[union-attr]
        store.finish_scan(scan, "complete")
        assert store.unfinished_scan("/inv.yaml") is None


@pytest.mark.parametrize(
    ("status", "resumable"),
    [("running", True), ("interrupted", True), ("failed", True), ("complete", False)],
)
def test_unfinished_scan_includes_failed_scans(
    tmp_path: Path, status: str, resumable: bool
) -> None:
    """A scan stored as failed (a `scan --workers` process crashed) is continued by --resume."""
    with Store(tmp_path / "a.db") as store:
        scan = _begin(store)
        store.finish_scan(scan, status)
        found = store.unfinished_scan("/inv.yaml")
        assert (found.id if found else None) == (scan if resumable else None)
        assert store.unfinished_scan("/other.yaml") is None


def test_two_writers_do_not_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    a, b = Store(path), Store(path)
    sa, sb = _begin(a), _begin(b)
    for i in range(50):
        a.save_target(sa, TargetKind.HOST, f"a{i}", "{}", [_finding(f"a{i}")], "t")
        b.save_target(sb, TargetKind.HOST, f"b{i}", "{}", [_finding(f"b{i}")], "t")
    a.close()
    b.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM findings").fetchone()[0] == 100


def test_failed_transaction_keeps_earlier_targets(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as store:
        scan = _begin(store)
        store.save_target(scan, TargetKind.HOST, "ok", "{}", [_finding("ok")], "t")
        loop: dict[str, object] = {}
        loop["self"] = loop  # not serialisable: the transaction must roll back
        bad = Finding("x", TargetKind.HOST, "bad", None, Status.PASS, "m", loop)
        with pytest.raises(ValueError):
            store.save_target(scan, TargetKind.HOST, "bad", "{}", [bad], "t")
        assert store.done_targets(scan) == {("host", "ok")}


def _open_and_begin(path: str, barrier: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    with Store(path) as store:
        _begin(store)


def test_many_processes_creating_one_new_store_at_once(tmp_path: Path) -> None:
    """Switching a new file to WAL answers SQLITE_BUSY without the busy handler when several
    processes do it at once (seen as 'database is locked' in CI): Store retries those steps."""
    import multiprocessing

    mp = multiprocessing.get_context("fork")
    for round_ in range(5):
        path = str(tmp_path / f"new{round_}.db")
        barrier = mp.Barrier(6)
        procs = [mp.Process(target=_open_and_begin, args=(path, barrier)) for _ in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 6
        db = sqlite3.connect(path)
        assert db.execute("SELECT count(*) FROM scans").fetchone()[0] == 6
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.close()
