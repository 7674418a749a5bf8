from __future__ import annotations

import re
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from auditor.model import Finding, Status, TargetKind
from auditor.store import (
    SchemaError,
    Store,
    StoreError,
    StoreNotFound,
    open_store,
    store_url,
)
from auditor.store.schema import HEAD


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
    with open_store(tmp_path / "a.db") as store:
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
    with open_store(tmp_path / "a.db") as store:
        mode = sqlite3.connect(tmp_path / "a.db").execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        scan = _begin(store)
        store.save_target(scan, TargetKind.HOST, "h", "{}", [_finding("h")], "t0")
        store.save_target(
            scan, TargetKind.HOST, "h", "{}", [_finding("h", status=Status.FAIL)], "t0"
        )
        assert [f.status for f in store.findings(scan)] == [Status.FAIL]


def test_unfinished_scan_for_resume(tmp_path: Path) -> None:
    with open_store(tmp_path / "a.db") as store:
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
    with open_store(tmp_path / "a.db") as store:
        scan = _begin(store)
        store.finish_scan(scan, status)
        found = store.unfinished_scan("/inv.yaml")
        assert (found.id if found else None) == (scan if resumable else None)
        assert store.unfinished_scan("/other.yaml") is None


def test_two_writers_do_not_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    a, b = open_store(path), open_store(path)
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
    with open_store(tmp_path / "a.db") as store:
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
    with open_store(path) as store:
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


# -- URLs ---------------------------------------------------------------------------------


def test_store_urls_from_paths_and_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    absolute = f"sqlite:///{tmp_path}/a.db"  # sqlite:////tmp/...: four slashes, absolute
    assert store_url("a.db") == absolute
    assert store_url(Path("a.db")) == absolute
    assert store_url(tmp_path / "a.db") == absolute
    assert store_url("sqlite:///a.db") == absolute  # relative to the working directory
    assert store_url(absolute) == absolute
    assert store_url("sqlite+pysqlite:///a.db") == absolute
    assert store_url("SQLITE:///a.db") == absolute
    for memory in (":memory:", "sqlite://", "sqlite:///:memory:"):
        assert store_url(memory) == "sqlite:///:memory:"


def test_store_url_of_an_odd_file_name_opens_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "Sở 100%?#x.db"
    url = store_url(path)
    assert "?" not in url and "#" not in url
    with open_store(url) as store:
        _begin(store)
    assert path.is_file()
    with open_store(path) as store:
        assert len(store.scans()) == 1


@pytest.mark.parametrize(
    ("url", "says"),
    [
        # (no URL here names a host that would be looked up: the errors come first)
        ("postgresql://auditor:s3cret@db.example", "say which database"),
        ("postgresql://auditor:s3cret@db.example/", "say which database"),
        ("postgresql+psycopg2://auditor:s3cret@db.example/auditor", "uses psycopg 3"),
        ("postgresql://auditor:s3cret@db.example:http/auditor", "unreadable host or port"),
        ("postgresql://auditor:s3/cret@db.example/auditor", "unreadable host or port"),
        ("postgresql://auditor:s3cret@db.example/auditor#x", "no #fragment"),
        ("mysql://db.example/auditor", "no store backend for mysql://"),
        ("sqlite://host/x.db", "has no host"),
        ("sqlite:///x.db?mode=ro", "options are not supported"),
        ("", "empty store path"),
    ],
)
def test_unsupported_store_urls_are_clear_errors(tmp_path: Path, url: str, says: str) -> None:
    with pytest.raises(StoreError, match=re.escape(says)) as caught:
        open_store(url)
    assert "s3cret" not in str(caught.value)  # the message is printed: no password in it
    assert "\n" not in str(caught.value)


def test_reading_commands_do_not_create_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFound, match="no store at"):
        open_store(tmp_path / "typo.db", create=False)
    assert not (tmp_path / "typo.db").exists()
    open_store(tmp_path / "real.db").close()
    open_store(tmp_path / "real.db", create=False).close()
    with open_store(":memory:", create=False) as store:
        assert not store.shared and store.url == "sqlite:///:memory:"


# -- schema revisions ---------------------------------------------------------------------

# The DDL of the previous release's auditor/store.py, verbatim: what a store it wrote holds.
LEGACY_DDL = """
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


def _legacy_store(path: Path, version: str = "1") -> None:
    """A store as the previous release left it: its DDL, its version row, one scan."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(LEGACY_DDL)
        db.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (version,))
        db.execute(
            "INSERT INTO scans(started, finished, status, profile, inventory_path,"
            " inventory_name, inventory_json, options_json, tool_version, stats_json)"
            " VALUES ('2026-11-01T00:00:00+00:00', '2026-11-01T00:05:00+00:00', 'complete',"
            " 'vn-gov', '/inv.yaml', 'Tỉnh', '{\"agencies\": []}', '{}', '0.0.9', '{\"n\": 1}')"
        )
        db.execute("INSERT INTO observations VALUES (1, 'host', 'www.example.vn', '{\"x\": 1}')")
        db.execute("INSERT INTO targets VALUES (1, 'host', 'www.example.vn', 't0', 't1')")
        db.execute(
            "INSERT INTO findings(scan_id, kind, target, address, check_id, status, message,"
            " evidence_json, score) VALUES (1, 'host', 'www.example.vn', NULL, 'dns.resolve',"
            " 'pass', 'ok', '{}', 1.0)"
        )


def _revisions(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as db:
        return [r[0] for r in db.execute("SELECT version_num FROM alembic_version")]


def _schema_diff(path: Path) -> list[Any]:
    """What Alembic's autogenerate would change to make the file match schema.py."""
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from auditor.store.schema import metadata

    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_a_store_of_the_previous_release_opens_and_is_stamped(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _legacy_store(path)
    with open_store(path) as store:
        scan = store.latest_scan(kind="scan")
        assert scan is not None and scan.inventory_name == "Tỉnh" and scan.stats == {"n": 1}
        assert store.done_targets(scan.id) == {("host", "www.example.vn")}
        assert [f.check for f in store.findings(scan.id)] == ["dns.resolve"]
        new = _begin(store)  # and it is written to as before
        store.save_target(new, TargetKind.HOST, "h", "{}", [_finding("h")], "t0")
        assert store.status_counts(new)["pass"] == 1
        # migrated to the vantage dimension (0002): what it held was seen from "local"
        assert store.vantages(scan.id) == ["local"]
        assert {f.vantage for f in store.findings(scan.id)} == {"local"}
    assert _revisions(path) == [HEAD]
    # Its schema is revision 0001 stamped (not rebuilt), then upgraded to HEAD. One
    # difference is reflection only: the old DDL declared "id INTEGER PRIMARY KEY" and "key
    # TEXT PRIMARY KEY" without NOT NULL, so SQLite reports them nullable; a rowid alias can
    # never be NULL, and no release writes a NULL key.
    pk_nullable = {("findings", "id"), ("scans", "id"), ("meta", "key")}
    diff = [
        d
        for d in _schema_diff(path)
        if not (d[0][0] == "modify_nullable" and d[0][2:4] in pk_nullable)
    ]
    assert diff == []
    with closing(sqlite3.connect(path)) as db:
        # 2: the previous release refuses it (its writes on the old keys would fail here)
        assert db.execute("SELECT value FROM meta").fetchall() == [("2",)]
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_new_store_matches_the_schema_module(tmp_path: Path) -> None:
    """Alembic's revisions (run to create a new store) and schema.py describe one schema."""
    open_store(tmp_path / "new.db").close()
    assert _revisions(tmp_path / "new.db") == [HEAD]
    assert _schema_diff(tmp_path / "new.db") == []
    with closing(sqlite3.connect(tmp_path / "new.db")) as db:
        # The previous release's version marker says 2, which that release refuses to open
        # (revision 0002 changed the keys its writes rely on).
        assert db.execute("SELECT key, value FROM meta").fetchall() == [("schema_version", "2")]


def test_a_store_from_a_newer_release_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "future.db"
    open_store(path).close()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE alembic_version SET version_num = '0042'")
    before = path.read_bytes()
    with pytest.raises(SchemaError, match=r"schema revision 0042 is newer than this auditor"):
        open_store(path)
    assert _revisions(path) == ["0042"]
    assert path.read_bytes() == before

    from auditor.cli import main

    capsys.readouterr()
    for argv in (["history", "--db", str(path)], ["evaluate", "--db", str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("auditor: error: ") and "0042" in err
        assert err.count("\n") == 1  # one line, no traceback


@pytest.mark.parametrize("version", ["2", None])
def test_a_legacy_store_of_an_unknown_version_is_refused(
    tmp_path: Path, version: str | None
) -> None:
    path = tmp_path / "odd.db"
    _legacy_store(path, version or "1")
    if version is None:
        with closing(sqlite3.connect(path)) as db, db:
            db.execute("DELETE FROM meta")
    with pytest.raises(SchemaError, match="does not know"):
        open_store(path)
    with closing(sqlite3.connect(path)) as db:
        assert not db.execute(
            "SELECT name FROM sqlite_master WHERE name = 'alembic_version'"
        ).fetchall()


def test_two_recorded_revisions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "branched.db"
    open_store(path).close()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("INSERT INTO alembic_version VALUES ('0001b')")
    with pytest.raises(SchemaError, match="2 schema revisions"):
        open_store(path)


def test_the_revision_wrapper_autogenerates_nothing_at_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``python -m auditor.store.migrations revision --autogenerate`` in a copy of the
    migrations: schema.py and the revisions agree, so the new revision changes nothing."""
    import auditor.store.migrations.__main__ as wrapper
    from auditor.store.sql import MIGRATIONS

    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(wrapper, "MIGRATIONS", copy)
    assert wrapper.main(["revision", "-m", "nothing changes", "--autogenerate"]) == 0
    following = f"{int(HEAD) + 1:04d}"
    (made,) = (copy / "versions").glob(f"{following}_*.py")
    text = made.read_text(encoding="utf-8")
    assert f"revision = '{following}'" in text and f"down_revision = '{HEAD}'" in text
    assert "op." not in text.split("def upgrade")[1].split("def downgrade")[0]


def test_write_statements_compile_for_postgresql() -> None:
    """The upserts are dialect statements: PostgreSQL's form, checked without a server (its
    backend, and the whole backend suite against it, join in the next issue)."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    from auditor.store.sql import _Statements

    # psycopg 3: the driver the PostgreSQL backend will use (its constructor is untyped)
    dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]
    st = _Statements(dialect)
    sql = str(st.upsert_observation.compile(dialect=dialect))
    assert "ON CONFLICT (scan_id, vantage, kind, name) DO UPDATE SET json = excluded.json" in sql
    sql = str(st.upsert_target.compile(dialect=dialect))
    assert "DO UPDATE SET started = excluded.started, finished = excluded.finished" in sql
    assert st.begin == "BEGIN"
    # the findings' executemany: named binds for psycopg's pyformat, one dict per row
    insert = st.insert_findings
    assert insert.sql.startswith("INSERT INTO findings (scan_id, kind, target, address")
    assert "%(scan_id)s" in insert.sql and not insert.positional
    row = (1, "host", "h", None, "c", "pass", "m", "{}", 1.0, "local")
    assert insert.params([row]) == [dict(zip(insert.columns, row, strict=True))]
