"""What the PostgreSQL store adds to the backend suite (test_store_backends.py runs on it
too): opening a store that cannot be opened (one line, exit code 2, no password shown), the
schema its migrations make, many processes creating one new store, the text escape as both
backends store it, ids never reused, foreign keys enforced on both.

A real server (tests/integration/conftest.py's ``postgresql_server``), a new database per
test. SQL is spoken here, to look at what the store wrote; the store is used through its
interface only.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from auditor.model import Finding, Status, TargetKind
from auditor.store import SchemaError, Store, StoreError, StoreNotFound, open_store
from auditor.store.schema import HEAD
from tests.integration.conftest import Backend
from tests.support.servers import PostgresServer, run_auditor

H = TargetKind.HOST


def _begin(store: Store, inventory_path: str = "/inv.yaml") -> int:
    return store.begin_scan(
        profile="vn-gov",
        inventory_path=inventory_path,
        inventory_name="Tỉnh",
        inventory={},
        options={},
    )


def _finding(target: str, message: str = "m") -> Finding:
    return Finding("dns.resolve", H, target, None, Status.PASS, message, {}, 1.0)


def _engine(url: str) -> sa.Engine:
    """A raw connection to what the store at ``url`` wrote (its canonical URL is
    SQLAlchemy's spelling, psycopg 3 for PostgreSQL)."""
    with open_store(url) as store:
        canonical = store.url
    return sa.create_engine(canonical)


@pytest.fixture
def raw(backend: Backend) -> Iterator[sa.Connection]:
    engine = _engine(backend.url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


# -- opening ------------------------------------------------------------------------------


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released: refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SECRET = "s3cr3t-Pa55"


@pytest.fixture(scope="module")
def password_user(postgresql_server: PostgresServer) -> str:
    postgresql_server.add_password_user("auditor_pw", SECRET)
    return "auditor_pw"


def test_connection_failures_are_one_line_store_errors(
    postgresql_server: PostgresServer, postgresql_url: str, password_user: str
) -> None:
    port = postgresql_server.port
    cases: list[tuple[str, type[StoreError], str]] = [
        (
            f"postgresql://postgres:{SECRET}@127.0.0.1:{_closed_port()}/x",
            StoreError,
            "Connection refused",
        ),
        (
            f"postgresql://postgres:{SECRET}@127.0.0.1:{port}/no_such_db",
            StoreNotFound,
            'database "no_such_db" does not exist',
        ),
        (
            f"postgresql://nobody:{SECRET}@127.0.0.1:{port}/postgres",
            StoreError,
            'role "nobody" does not exist',
        ),
        (
            f"postgresql://{password_user}:wrong-{SECRET}@127.0.0.1:{port}/postgres",
            StoreError,
            "password authentication failed",
        ),
    ]
    for url, error, says in cases:
        for create in (True, False):
            with pytest.raises(error, match=re.escape(says)) as caught:
                open_store(url, create=create)
            message = str(caught.value)
            assert "\n" not in message and SECRET not in message, message
            assert "***@127.0.0.1" in message  # which store, without its password
    # the CLI: exit code 2, one line on stderr, no traceback, no password
    for url, _error, says in cases:
        for argv in (["history", "--db", url], ["evaluate", "--db", url]):
            done = run_auditor(*argv, timeout=60)
            assert done.returncode == 2, done.stderr
            assert done.stderr.startswith("auditor: error: ") and says in done.stderr
            assert done.stderr.count("\n") == 1 and SECRET not in done.stderr


def test_the_password_from_the_url_or_from_libpq(
    postgresql_server: PostgresServer, password_user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = postgresql_server.create_database()
    where = f"127.0.0.1:{postgresql_server.port}/{name}"
    with open_store(f"postgresql://{password_user}:{SECRET}@{where}") as store:
        scan = _begin(store)
        # the URL another process (a worker) opens it from keeps the password
        url = store.url
    assert url.startswith("postgresql+psycopg://") and SECRET in url
    with open_store(url, create=False) as store:
        assert [s.id for s in store.scans()] == [scan]
    # no password in the URL: libpq's PGPASSWORD
    with pytest.raises(StoreError, match="password"):
        open_store(f"postgresql://{password_user}@{where}")
    monkeypatch.setenv("PGPASSWORD", SECRET)
    with open_store(f"postgresql://{password_user}@{where}", create=False) as store:
        assert [s.id for s in store.scans()] == [scan]
        assert SECRET not in store.url  # it was never given to the store
    done = run_auditor("history", "--db", f"postgresql+psycopg://{password_user}@{where}")
    assert done.returncode == 0 and "Tỉnh" in done.stdout, done.stderr


def test_an_empty_database_is_no_store_to_read(postgresql_url: str) -> None:
    with pytest.raises(StoreNotFound, match="the database is empty"):
        open_store(postgresql_url, create=False)
    done = run_auditor("report", "--db", postgresql_url, "--json", "/dev/null")
    assert done.returncode == 2 and "no store at" in done.stderr, done.stderr
    engine = sa.create_engine(postgresql_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        assert sa.inspect(engine).get_table_names() == []  # nothing was created in it
    finally:
        engine.dispose()


def test_a_database_not_in_utf8_is_refused(postgresql_server: PostgresServer) -> None:
    postgresql_server.execute(
        "CREATE DATABASE latin TEMPLATE template0 ENCODING 'LATIN1' LOCALE 'C'"
    )
    with pytest.raises(StoreError, match="encoding is LATIN1, not UTF8"):
        open_store(postgresql_server.url("latin"))


# -- schema -------------------------------------------------------------------------------


def test_a_new_store_matches_the_schema_module(postgresql_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from auditor.store.schema import metadata

    engine = _engine(postgresql_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert list(compare_metadata(context, metadata)) == []
            assert list(conn.execute(sa.text("SELECT version_num FROM alembic_version"))) == [
                (HEAD,)
            ]
            # every text column compares bytes, whatever the database's own collation (vi-VN)
            collations = conn.execute(
                sa.text(
                    "SELECT table_name, column_name, collation_name FROM "
                    "information_schema.columns WHERE table_schema = 'public' AND "
                    "data_type = 'text'"
                )
            ).all()
            assert collations and {c for _t, _c, c in collations} == {"C"}
            # 64-bit finding ids, double precision scores
            types: dict[str, str] = dict(
                conn.execute(
                    sa.text(
                        "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = 'findings' AND column_name IN ('id', 'score')"
                    )
                ).all()
            )
            assert types == {"id": "bigint", "score": "double precision"}
    finally:
        engine.dispose()


def test_a_store_from_a_newer_release_or_another_program_is_refused(
    postgresql_server: PostgresServer, postgresql_url: str
) -> None:
    open_store(postgresql_url).close()
    engine = _engine(postgresql_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0042'"))
        with pytest.raises(SchemaError, match="schema revision 0042 is newer than this auditor"):
            open_store(postgresql_url)
        with engine.connect() as conn:
            assert list(conn.execute(sa.text("SELECT version_num FROM alembic_version"))) == [
                ("0042",)
            ]
    finally:
        engine.dispose()
    # another program's "scans" table, no revision: refused, nothing added
    other = postgresql_server.create_database()
    engine = sa.create_engine(postgresql_server.url(other).replace("://", "+psycopg://", 1))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE scans (id integer)"))
        with pytest.raises(SchemaError, match="does not know"):
            open_store(postgresql_server.url(other))
        assert sa.inspect(engine).get_table_names() == ["scans"]
    finally:
        engine.dispose()


def _open_and_write(url: str, barrier: Any, i: int) -> None:
    barrier.wait()
    with open_store(url) as store:
        scan = _begin(store, f"/inv{i}.yaml")
        store.save_target(scan, H, f"h{i}", "{}", [_finding(f"h{i}")], "t")


def test_many_processes_creating_one_new_store_at_once(postgresql_url: str) -> None:
    n = 6
    mp = multiprocessing.get_context("spawn")
    barrier = mp.Barrier(n)
    procs = [
        mp.Process(target=_open_and_write, args=(postgresql_url, barrier, i)) for i in range(n)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * n
    with open_store(postgresql_url, create=False) as store:
        scans = store.scans()
        assert sorted(s.inventory_path for s in scans) == sorted(f"/inv{i}.yaml" for i in range(n))
        assert sorted(f.target for s in scans for f in store.findings(s.id)) == sorted(
            f"h{i}" for i in range(n)
        )


# -- both backends, looked at with SQL ----------------------------------------------------


def test_nul_is_stored_escaped_the_same_on_both_backends(
    backend: Backend, raw: sa.Connection
) -> None:
    with backend.open() as store:
        scan = _begin(store)
        store.save_target(scan, H, "n\x00", "{}", [_finding("n\x00", "a\x00b\uffffc")], "t")
    stored = raw.execute(sa.text("SELECT target, message FROM findings")).all()
    assert [tuple(r) for r in stored] == [("n\uffff0", "a\uffff0b\uffff\uffffc")]
    assert raw.execute(sa.text("SELECT name FROM targets")).scalar() == "n\uffff0"


def test_scan_ids_are_never_reused(backend: Backend, raw: sa.Connection) -> None:
    with backend.open() as store:
        first, latest = _begin(store), _begin(store)
    with raw.begin():
        raw.execute(sa.text("DELETE FROM scans WHERE id = :id"), {"id": latest})
    with backend.open() as store:
        assert _begin(store) == latest + 1
        assert [s.id for s in store.scans()] == [first, latest + 1]


def test_foreign_keys_hold_on_both_backends(backend: Backend) -> None:
    """A target of a scan that does not exist is refused (PostgreSQL enforces the keys;
    SQLite is told to) and leaves nothing; every path the product takes keeps them."""
    with backend.open() as store:
        with pytest.raises(Exception) as caught:
            store.save_target(999, H, "h", "{}", [_finding("h")], "t")
        assert "IntegrityError" in {c.__name__ for c in type(caught.value).__mro__}
        source = _begin(store)
        store.save_target(source, H, "h", '{"h": 1}', [_finding("h")], "t")
        with pytest.raises(Exception) as caught:
            store.copy_observations(source, 998)  # into no scan
        assert "IntegrityError" in {c.__name__ for c in type(caught.value).__mro__}
        assert store.done_targets(999) == set() and store.done_targets(998) == set()
        evaluation = store.begin_scan(
            profile="vn-gov",
            inventory_path="/inv.yaml",
            inventory_name="Tỉnh",
            inventory={},
            options={},
            kind="evaluation",
            source_scan=source,
        )
        store.copy_observations(source, evaluation)
        store.replace_findings(evaluation, [_finding("h", "evaluated")])
        store.replace_findings(evaluation, [_finding("h", "again")])
        store.finish_scan(evaluation, "complete")
        assert [f.message for f in store.findings(evaluation)] == ["again"]
        assert store.done_targets(evaluation) == {("host", "h")}


def test_a_store_at_revision_0001_with_data_is_migrated_on_open(postgresql_url: str) -> None:
    """A PostgreSQL store made by a release at 0001 (before vantages): opening it runs 0002
    on its data, in place."""
    from auditor.store.migrations.__main__ import main as migrations

    canonical = postgresql_url.replace("postgresql://", "postgresql+psycopg://", 1)
    assert migrations(["upgrade", canonical, "0001"]) == 0
    engine = sa.create_engine(canonical)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO scans(started, finished, status, profile, inventory_path,"
                    " inventory_name, inventory_json, options_json, tool_version, stats_json)"
                    " VALUES ('t0', 't1', 'complete', 'vn-gov', '/inv.yaml', 'Tỉnh', '{}',"
                    " '{}', '0.1.0', '{}')"
                )
            )
            conn.execute(sa.text("INSERT INTO targets VALUES (1, 'host', 'www.a.vn', 't0', 't1')"))
            conn.execute(sa.text("INSERT INTO observations VALUES (1, 'host', 'www.a.vn', '{}')"))
            conn.execute(
                sa.text(
                    "INSERT INTO findings(scan_id, kind, target, address, check_id, status,"
                    " message, evidence_json, score) VALUES (1, 'host', 'www.a.vn', NULL,"
                    " 'dns.resolve', 'pass', 'ok', '{}', 1.0)"
                )
            )
        with open_store(postgresql_url, create=False) as store:
            assert store.done_targets(1) == {("host", "www.a.vn")}
            assert [(f.check, f.vantage) for f in store.findings(1)] == [("dns.resolve", "local")]
            assert list(store.observations(1)) == [(H, "www.a.vn", "{}")]
            # the new key: the same target from another vantage is a second row
            store.save_target(1, H, "www.a.vn", '{"v": 1}', [_finding("www.a.vn")], "t", "b")
            assert store.vantages(1) == ["b", "local"]
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [
                (HEAD,)
            ]
            key = sa.inspect(conn).get_pk_constraint("targets")["constrained_columns"]
            assert key == ["scan_id", "vantage", "kind", "name"]
            collations = conn.execute(
                sa.text(
                    "SELECT DISTINCT collation_name FROM information_schema.columns WHERE "
                    "table_schema = 'public' AND data_type = 'text'"
                )
            ).all()
            assert collations == [("C",)]
    finally:
        engine.dispose()


# -- end to end: the CLI on PostgreSQL gives what it gives on SQLite --------------------------

E2E_INVENTORY = """\
version: 1
name: "Thử nghiệm"
agencies:
  - id: so-a
    name: "Sở A"
    domains: [example.vn]
    hosts:
      - www.example.vn
      - {host: cổng.example.vn, paths: ["/"]}
  - id: so-b
    name: "Sở B"
    parent: so-a
    hosts: [www.example.vn, missing.example.vn, Zeta.example.vn, alpha.example.vn]
"""

# What differs between two runs of one scan whatever the store: clock times and round trips.
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:\+00:00|Z)?")
_VOLATILE = re.compile(r"rtt|elapsed|duration|_ms$|_s$|seconds")


def _steady(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _steady(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_steady(v, key) for v in value]
    if isinstance(value, str):
        return _TIME.sub("<time>", value)
    if isinstance(value, float | int) and not isinstance(value, bool) and _VOLATILE.search(key):
        return "<measured>"
    return value


def _zone(second: bool) -> Any:
    from tests.support.dnsserver import Zone

    zone = Zone()
    zone.add("www.example.vn", "A", ["127.0.0.1"])  # loopback: its ports refuse
    zone.add("xn--cng-qmz.example.vn", "A", ["127.0.0.1"])
    zone.add("zeta.example.vn", "A", ["192.0.2.10"])  # documentation: the guard refuses it
    zone.add("alpha.example.vn", "AAAA", ["2001:db8::10"])
    if second:  # what changes between the two scans, for the diff
        zone.add("xn--cng-qmz.example.vn", "AAAA", ["2001:db8::7"])
        zone.add("alpha.example.vn", "A", ["198.51.100.10"])
    return zone


def test_scan_report_diff_evaluate_on_postgresql_as_on_sqlite(
    tmp_path: Path, postgresql_url: str
) -> None:
    from tests.support.dnsserver import DnsServer

    inv = tmp_path / "inv.yaml"
    inv.write_text(E2E_INVENTORY, encoding="utf-8")
    stores = {"sqlite": str(tmp_path / "s.db"), "postgresql": postgresql_url}
    for second in (False, True):
        with DnsServer(_zone(second)) as server:  # one resolver for both stores' scans
            for db in stores.values():
                done = run_auditor(
                    "scan", str(inv), "--db", db, "--resolver", server.spec, "--timeout", "1",
                    "--allow-net", "127.0.0.0/8", "--no-icmp", "--quiet",
                )  # fmt: skip
                assert done.returncode == 0, done.stderr
    out: dict[str, dict[str, Any]] = {}
    for name, db in stores.items():
        here = tmp_path / name
        here.mkdir()
        results: dict[str, Any] = {}
        done = run_auditor(
            "report", "--db", db, "--json", str(here / "r.json"), "--csv", str(here / "r.csv"),
            "--markdown", str(here / "r.md"),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        results["report.json"] = json.loads((here / "r.json").read_text(encoding="utf-8"))
        results["report.csv"] = (here / "r.csv").read_text(encoding="utf-8")
        results["report.md"] = (here / "r.md").read_text(encoding="utf-8")
        done = run_auditor("diff", "--db", db, "--json", "--exit-zero")
        assert done.returncode == 0, done.stderr
        results["diff"] = json.loads(done.stdout)
        results["diff stderr"] = done.stderr
        done = run_auditor("evaluate", "--db", db, "--json", str(here / "e.json"))
        assert done.returncode == 0, done.stderr
        results["evaluate"] = json.loads((here / "e.json").read_text(encoding="utf-8"))
        results["evaluate stdout"] = done.stdout
        done = run_auditor("history", "--db", db, "--json")
        assert done.returncode == 0, done.stderr
        results["history"] = json.loads(done.stdout)
        out[name] = _steady(results)
    sqlite, postgresql = out["sqlite"], out["postgresql"]
    assert sqlite["report.json"]["findings"], "the scan found something to compare"
    assert sqlite["diff"]["changes"] and len(sqlite["history"]) == 3  # scans 1, 2, evaluation
    for part in sqlite:
        assert postgresql[part] == sqlite[part], part
