"""The SQL store: :class:`auditor.store.Store` on SQLAlchemy Core, SQLite or PostgreSQL.

Kept from the SQLite class it replaces, because they are what make a scan survive and go
fast: WAL mode (a second process reads, or writes, while a scan runs), a 30 s busy timeout,
one ``BEGIN IMMEDIATE`` transaction per finished target (it takes the write lock at once, so
a busy store makes it wait rather than fail half way), retries of the set-up steps SQLite
answers "busy" without waiting for, and one connection kept for the store's life.

Speed: statements of the write path are built once per store (SQLAlchemy also caches their
compiled SQL); a finished target costs a delete, two upserts and one ``executemany`` of its
findings (compiled once, run as the driver's: see ``_RowInsert``) in one transaction. The
connection is in autocommit mode and transactions are begun and ended here, as before: a read
(a streamed report) never holds a transaction open, and nothing of SQLAlchemy's own
transaction bookkeeping sits on the scan's path. bench/store_micro.py measures the cost.

PostgreSQL (psycopg 3), for many workers writing at once: the same statements, schema and
migrations. A finished target is one READ COMMITTED transaction that first upserts the
target's observation row: that row lock orders every delivery of one (scan, vantage, kind,
name), so a second delivery waits for the first to commit, then deletes exactly its findings
(each statement of READ COMMITTED sees what committed before it) and writes its own;
deliveries of different targets share no row and wait for nothing (the foreign key checks on
``scans`` take KEY SHARE locks, which a scan's status update does not conflict with). Migrations run
under a transaction-scoped advisory lock, so workers opening a new database at once create
the schema once. A lock wait gives up after 30 s, as SQLite's busy timeout does.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, Self, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from auditor import __version__
from auditor.model import LOCAL_VANTAGE, Finding, Status, TargetKind
from auditor.store import schema
from auditor.store.base import (
    SCHEDULE_RUN_STATUSES,
    AuditRecord,
    ScanRecord,
    ScheduleRunRecord,
    SchemaError,
    ShardRecord,
    StoreError,
    StoreNotFound,
    UserRecord,
)
from auditor.store.schema import api_tokens as TK
from auditor.store.schema import audit_log as AL
from auditor.store.schema import findings as F
from auditor.store.schema import observations as O
from auditor.store.schema import scan_shards as SH
from auditor.store.schema import scan_vantages as V
from auditor.store.schema import scans as S
from auditor.store.schema import schedule_runs as SR
from auditor.store.schema import targets as T
from auditor.store.schema import to_stored
from auditor.store.schema import users as U
from auditor.store.urls import StoreLocation

P = ParamSpec("P")
R = TypeVar("R")

MIGRATIONS = Path(__file__).with_name("migrations")

# How a write transaction begins: SQLite's IMMEDIATE takes the write lock now (waiting up
# to the busy timeout), not at the first write, where a busy store could only fail.
_BEGIN = {"sqlite": "BEGIN IMMEDIATE", "postgresql": "BEGIN"}
# The lock every process opening a PostgreSQL store takes before it looks at the schema
# (pg_advisory_xact_lock: held to the end of the migration's transaction). Any 64-bit key
# this database's other users do not take: "auditor" in ASCII.
_MIGRATION_LOCK = 0x61756469746F72
# How long a statement waits for a lock held by another process (SQLite: the busy timeout).
_LOCK_TIMEOUT_S = 30
# A connection attempt that gets no answer (a firewall dropping packets) ends (libpq).
_CONNECT_TIMEOUT_S = 10
# observations() reads a scan's observations this many at a time (keyset pages): a province's
# do not fit in memory at once, and a server-side cursor would hold a transaction open
# across the caller's own writes on this connection.
_OBSERVATION_PAGE = 500
_FINDINGS_PAGE = 2000  # rows per fetch of a findings stream
# The evidence of every finding read without it: one shared empty dict (findings are
# frozen and nobody writes into their evidence), not one per row of a national scan.
_NO_EVIDENCE: dict[str, Any] = {}
# The dialects' INSERT .. ON CONFLICT DO UPDATE (the same API in both).
_INSERT: dict[str, Callable[[sa.Table], Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _driver_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Database failures raise as the driver's own (PEP 249) exception: callers and their
    messages (``OperationalError: database is locked``) do not depend on SQLAlchemy."""

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except DBAPIError as exc:
            raise _unwrapped(exc) from None

    return call


def _unwrapped(exc: DBAPIError) -> BaseException:
    return exc.orig if isinstance(exc.orig, BaseException) else exc


def _retry(step: Callable[[], R], seconds: float = 30.0) -> R:
    """Run a store set-up step, retrying while another process holds the lock: two processes
    opening a new store at once may get SQLITE_BUSY without the busy handler (journal-mode
    change, schema read during recovery)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return step()
        except DBAPIError as exc:
            text = str(exc.orig)
            busy = "locked" in text or "busy" in text
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.02 + random.random() * 0.08)


# A finding row, in the order _finding_rows builds it.
_FINDING_COLUMNS = (
    "scan_id",
    "kind",
    "target",
    "address",
    "check_id",
    "status",
    "message",
    "evidence_json",
    "score",
    "vantage",
)


class _RowInsert:
    """An INSERT of many rows compiled once for the store's dialect and run as the driver's
    executemany. A full-profile host has about 40 findings: SQLAlchemy's per-row parameter
    processing (``construct_params``) cost more than SQLite's own insert of them, and took
    the store from 0.8 to 1.4 ms CPU per target (bench/store_micro.py). The SQL is still
    SQLAlchemy's, for the dialect in use (its paramstyle included)."""

    def __init__(self, table: sa.Table, columns: tuple[str, ...], dialect: sa.Dialect) -> None:
        compiled = sa.insert(table).compile(dialect=dialect, column_keys=list(columns))
        self.sql = str(compiled)
        self.columns = columns
        order = tuple(compiled.positiontup or ()) if dialect.positional else None
        # Positional paramstyles take the row tuples as they are, when in the same order.
        if order is not None and order != columns:
            raise AssertionError(f"{dialect.name}: binds of {table.name} in order {order}")
        self.positional = order is not None

    def params(self, rows: list[tuple[Any, ...]]) -> list[Any]:
        if self.positional:
            return rows
        return [dict(zip(self.columns, row, strict=True)) for row in rows]


class _Statements:
    """The write path's statements, built once per dialect."""

    def __init__(self, dialect: sa.Dialect) -> None:
        insert = _INSERT[dialect.name]
        self.begin = _BEGIN[dialect.name]
        self.insert_scan = sa.insert(S)
        self.finish_scan = (
            sa.update(S)
            .where(S.c.id == sa.bindparam("b_id"))
            .values(
                finished=sa.bindparam("b_finished"),
                status=sa.bindparam("b_status"),
                stats_json=sa.bindparam("b_stats"),
            )
        )
        self.reopen_scan = (
            sa.update(S)
            .where(S.c.id == sa.bindparam("b_id"))
            .values(status="running", finished=None)
        )
        self.delete_target_findings = sa.delete(F).where(
            F.c.scan_id == sa.bindparam("b_scan"),
            F.c.kind == sa.bindparam("b_kind"),
            F.c.target == sa.bindparam("b_name"),
            F.c.vantage == sa.bindparam("b_vantage"),
        )
        self.delete_scan_findings = sa.delete(F).where(F.c.scan_id == sa.bindparam("b_scan"))
        self.delete_vantage_findings = sa.delete(F).where(
            F.c.scan_id == sa.bindparam("b_scan"), F.c.vantage == sa.bindparam("b_vantage")
        )
        self.insert_findings = _RowInsert(F, _FINDING_COLUMNS, dialect)
        # A re-delivered target replaces its rows: upserts on the (scan, vantage, kind,
        # name) keys.
        obs = insert(O)
        self.upsert_observation = obs.on_conflict_do_update(
            index_elements=[O.c.scan_id, O.c.vantage, O.c.kind, O.c.name],
            set_={"json": obs.excluded.json},
        )
        tgt = insert(T)
        self.upsert_target = tgt.on_conflict_do_update(
            index_elements=[T.c.scan_id, T.c.vantage, T.c.kind, T.c.name],
            set_={"started": tgt.excluded.started, "finished": tgt.excluded.finished},
        )
        van = insert(V)
        self.upsert_vantage = van.on_conflict_do_update(
            index_elements=[V.c.scan_id, V.c.vantage],
            set_={"footing_json": van.excluded.footing_json, "updated": van.excluded.updated},
        )
        shard = insert(SH)
        self.upsert_shard = shard.on_conflict_do_update(
            index_elements=[SH.c.scan_id, SH.c.vantage, SH.c.number],
            set_={
                "shard_json": shard.excluded.shard_json,
                "size": shard.excluded.size,
                "status": shard.excluded.status,
                "attempts": shard.excluded.attempts,
                "reason": shard.excluded.reason,
                "worker": shard.excluded.worker,
                "stats_json": shard.excluded.stats_json,
                "footing_json": shard.excluded.footing_json,
                "updated": shard.excluded.updated,
            },
        )
        to_scan = sa.bindparam("b_to", type_=sa.Integer)
        self.copy_observations = sa.insert(O).from_select(
            ["scan_id", "vantage", "kind", "name", "json"],
            sa.select(to_scan, O.c.vantage, O.c.kind, O.c.name, O.c.json).where(
                O.c.scan_id == sa.bindparam("b_from")
            ),
        )
        self.copy_targets = sa.insert(T).from_select(
            ["scan_id", "vantage", "kind", "name", "started", "finished"],
            sa.select(to_scan, T.c.vantage, T.c.kind, T.c.name, T.c.started, T.c.finished).where(
                T.c.scan_id == sa.bindparam("b_from")
            ),
        )
        self.copy_vantages = sa.insert(V).from_select(
            ["scan_id", "vantage", "footing_json", "updated"],
            sa.select(to_scan, V.c.vantage, V.c.footing_json, V.c.updated).where(
                V.c.scan_id == sa.bindparam("b_from")
            ),
        )


def _stored(text: str | None) -> str | None:
    return None if text is None else to_stored(text)


def _shard_record(row: Row[Any]) -> ShardRecord:
    m = row._mapping
    return ShardRecord(
        scan_id=m["scan_id"],
        vantage=m["vantage"],
        number=m["number"],
        shard_json=m["shard_json"],
        size=m["size"],
        status=m["status"],
        attempts=m["attempts"],
        reason=m["reason"],
        worker=m["worker"],
        stats=json.loads(m["stats_json"] or "{}"),
        footing=json.loads(m["footing_json"]) if m["footing_json"] else None,
        updated=m["updated"],
    )


def _record(row: Row[Any]) -> ScanRecord:
    m = row._mapping
    return ScanRecord(
        id=m["id"],
        started=m["started"],
        finished=m["finished"],
        status=m["status"],
        kind=m["kind"],
        source_scan=m["source_scan"],
        profile=m["profile"],
        inventory_path=m["inventory_path"],
        inventory_name=m["inventory_name"],
        inventory=json.loads(m["inventory_json"]),
        options=json.loads(m["options_json"]),
        tool_version=m["tool_version"],
        stats=json.loads(m["stats_json"] or "{}"),
    )


class SqlStore:
    """A :class:`~auditor.store.Store` in a SQL database: SQLite or PostgreSQL."""

    def __init__(self, location: StoreLocation, *, create: bool = True) -> None:
        self._location = location
        self._create = create
        if location.backend == "sqlite":
            self._engine = self._sqlite_engine(location, create)
        elif location.backend == "postgresql":
            self._engine = self._postgresql_engine(location)
        else:
            raise StoreError(f"{location.display}: no SQL backend for {location.backend}")
        try:
            self._conn = self._connect()
            self._st = _Statements(self._engine.dialect)
            self._set_up()
        except DBAPIError as exc:
            self._engine.dispose()
            if location.backend == "postgresql":
                raise self._unreachable(exc) from None
            raise _unwrapped(exc) from None
        except BaseException:
            self._engine.dispose()
            raise

    @staticmethod
    def _sqlite_engine(location: StoreLocation, create: bool) -> sa.Engine:
        if not location.in_memory:
            path = Path(location.database)
            if not create and not path.is_file():
                raise StoreNotFound(f"no store at {location.database}")
            path.parent.mkdir(parents=True, exist_ok=True)
        # One connection for the store's life (StaticPool), in autocommit: transactions are
        # begun here, one per write.
        engine = sa.create_engine(
            sa.URL.create("sqlite", database=location.database),
            poolclass=StaticPool,
            connect_args={"timeout": 30.0},
            isolation_level="AUTOCOMMIT",
        )

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: DBAPIConnection, _record: object) -> None:
            # Foreign keys as PostgreSQL enforces them: a path that breaks one fails on
            # both backends, not only on the one most tests do not run.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine

    @staticmethod
    def _postgresql_engine(location: StoreLocation) -> sa.Engine:
        # Unset parts (user, host, port, password) are left to libpq: PGUSER, PGHOST,
        # PGPORT, PGPASSWORD, ~/.pgpass. The URL's options are libpq's, and win.
        options = dict(location.options)
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in options:
            connect_args["connect_timeout"] = _CONNECT_TIMEOUT_S
        if "application_name" not in options:
            connect_args["application_name"] = "auditor"
        url = sa.URL.create(
            "postgresql+psycopg",
            username=location.user or None,
            password=location.password,
            host=location.host or None,
            port=location.port,
            database=location.database,
            query=options,
        )
        # One connection for the store's life, in autocommit, as for SQLite.
        try:
            return sa.create_engine(
                url, poolclass=StaticPool, connect_args=connect_args, isolation_level="AUTOCOMMIT"
            )
        except ImportError:
            raise StoreError(
                f"{location.display}: the PostgreSQL store needs psycopg 3: "
                "pip install 'ipv6-gov-auditor[distributed]'"
            ) from None

    def _unreachable(self, exc: DBAPIError) -> StoreError:
        """A PostgreSQL store that cannot be opened (refused, unknown host, no such database,
        bad password, no right to create the tables), in one line, without the password."""
        reason = " ".join(str(exc.orig).split())
        password = self._location.password
        if password:
            reason = reason.replace(password, "***")
        where = self._location.display
        if "does not exist" in reason and "database" in reason:
            return StoreNotFound(
                f"no store at {where}: {reason} (create the database first: createdb, or "
                "CREATE DATABASE; the auditor creates its tables in it)"
            )
        return StoreError(f"{where}: cannot open the store: {reason}")

    # -- opening ----------------------------------------------------------------------
    def _connect(self) -> Connection:
        conn = self._engine.connect()
        if self._location.backend == "postgresql":
            encoding = conn.exec_driver_sql("SHOW server_encoding").scalar()
            if encoding != "UTF8":
                conn.close()
                raise StoreError(
                    f"{self._location.display}: the database's encoding is {encoding}, not "
                    "UTF8 (Vietnamese names and remote strings need it): CREATE DATABASE ... "
                    "ENCODING 'UTF8'"
                )
            conn.exec_driver_sql(f"SET lock_timeout = '{_LOCK_TIMEOUT_S}s'")
            return conn
        conn.exec_driver_sql("PRAGMA busy_timeout=30000")
        mode = _retry(lambda: conn.exec_driver_sql("PRAGMA journal_mode").scalar())
        if mode != "wal":
            _retry(lambda: conn.exec_driver_sql("PRAGMA journal_mode=WAL").scalar())
        conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
        return conn

    def _set_up(self) -> None:
        """Check the schema revision; create or migrate the schema when it is not HEAD."""
        current = self._revision()
        if current == schema.HEAD:
            return  # the usual case: one query, Alembic not even loaded
        if (
            current is None
            and not self._create
            and self._location.backend == "postgresql"
            and self._legacy_revision() is None
        ):
            # The database exists (the server said so when connecting) but holds no store.
            raise StoreNotFound(f"no store at {self._location.display}: the database is empty")
        _retry(self._migrate)

    def _revision(self) -> str | None:
        if not sa.inspect(self._conn).has_table(schema.REVISION_TABLE):
            return None
        found = list(self._conn.execute(sa.select(schema.revision.c.version_num)).scalars())
        if len(found) != 1:
            raise SchemaError(
                f"{self.url}: {len(found)} schema revisions recorded ({', '.join(found)}); "
                "this auditor knows one line of revisions"
            )
        return str(found[0])

    def _legacy_revision(self) -> str | None:
        """The revision of a store the previous release wrote (tables and a ``meta`` version,
        no revision table); None for a new, empty store."""
        tables = set(sa.inspect(self._conn).get_table_names())
        if "scans" not in tables:
            return None
        version = None
        if "meta" in tables:
            version = self._conn.execute(
                sa.select(schema.meta.c.value).where(schema.meta.c.key == schema.LEGACY_VERSION_KEY)
            ).scalar()
        if version not in schema.LEGACY_REVISIONS:
            raise SchemaError(
                f"{self.url}: a 'scans' table with schema version {version!r}, which this "
                f"auditor does not know (it reads revision {schema.HEAD} and the previous "
                f"release's version {', '.join(schema.LEGACY_REVISIONS)})"
            )
        return schema.LEGACY_REVISIONS[str(version)]

    def _migrate(self) -> None:
        # In one write transaction: several processes opening a new store at once create it
        # once (the others wait, then find HEAD); a newer store is left exactly as it was.
        from alembic import command
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        with self._transaction():
            if self._location.backend == "postgresql":
                self._conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            current = self._revision()
            if current == schema.HEAD:
                return
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = self._conn
            if current is None:
                current = self._legacy_revision()
                if current is not None:
                    command.stamp(config, current)
            known = {s.revision for s in ScriptDirectory.from_config(config).walk_revisions()}
            if current is not None and current not in known:
                raise SchemaError(
                    f"{self.url}: schema revision {current} is newer than this auditor "
                    f"(it knows up to {schema.HEAD}); open it with a newer auditor"
                )
            command.upgrade(config, schema.HEAD)

    # -- the Store interface ------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._location.url

    @property
    def shared(self) -> bool:
        return not self._location.in_memory

    def close(self) -> None:
        self._conn.close()
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        conn = self._conn
        conn.exec_driver_sql(self._st.begin)
        try:
            yield conn
        except BaseException:
            # A connection lost mid-transaction cannot roll back either: the error that
            # says what happened is the first one.
            with contextlib.suppress(DBAPIError):
                conn.exec_driver_sql("ROLLBACK")
            raise
        conn.exec_driver_sql("COMMIT")

    # scans
    @_driver_errors
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
        result = self._conn.execute(
            self._st.insert_scan,
            {
                "started": _now(),
                "status": "running",
                "kind": kind,
                "source_scan": source_scan,
                "profile": profile,
                "inventory_path": inventory_path,
                "inventory_name": inventory_name,
                "inventory_json": json.dumps(inventory, ensure_ascii=False, default=str),
                "options_json": json.dumps(options, ensure_ascii=False, default=str),
                "tool_version": __version__,
            },
        )
        key = result.inserted_primary_key
        assert key is not None and key[0] is not None
        return int(key[0])

    @_driver_errors
    def finish_scan(self, scan_id: int, status: str, stats: dict[str, Any] | None = None) -> None:
        self._conn.execute(
            self._st.finish_scan,
            {
                "b_id": scan_id,
                "b_finished": _now(),
                "b_status": status,
                "b_stats": json.dumps(stats or {}),
            },
        )

    @_driver_errors
    def reopen_scan(self, scan_id: int) -> None:
        self._conn.execute(self._st.reopen_scan, {"b_id": scan_id})

    @_driver_errors
    def scan(self, scan_id: int) -> ScanRecord:
        row = self._conn.execute(sa.select(S).where(S.c.id == scan_id)).first()
        if row is None:
            raise KeyError(f"no scan with id {scan_id} in {self._where()}")
        return _record(row)

    @_driver_errors
    def scans(self, kind: str | None = None) -> list[ScanRecord]:
        query = sa.select(S).order_by(S.c.id)
        if kind:
            query = query.where(S.c.kind == kind)
        return [_record(r) for r in self._conn.execute(query)]

    @_driver_errors
    def latest_scan(
        self, *, status: str | None = "complete", kind: str | None = None
    ) -> ScanRecord | None:
        query = sa.select(S).order_by(S.c.id.desc()).limit(1)
        if status:
            query = query.where(S.c.status == status)
        if kind:
            query = query.where(S.c.kind == kind)
        return self._first(query)

    @_driver_errors
    def unfinished_scan(self, inventory_path: str) -> ScanRecord | None:
        return self._first(
            sa.select(S)
            .where(
                S.c.inventory_path == inventory_path,
                S.c.kind == "scan",
                S.c.status.in_(("running", "interrupted", "failed")),
            )
            .order_by(S.c.id.desc())
            .limit(1)
        )

    @_driver_errors
    def previous_scan(self, scan_id: int) -> ScanRecord | None:
        current = self.scan(scan_id)
        return self._first(
            sa.select(S)
            .where(
                S.c.id < scan_id,
                S.c.inventory_path == current.inventory_path,
                S.c.status == "complete",
            )
            .order_by(S.c.id.desc())
            .limit(1)
        )

    def _first(self, query: sa.Select[Any]) -> ScanRecord | None:
        row = self._conn.execute(query).first()
        return _record(row) if row else None

    def _where(self) -> str:
        return self._location.display

    # targets
    @staticmethod
    def _finding_rows(
        scan_id: int, findings: Iterable[Finding], vantage: str | None = None
    ) -> list[tuple[Any, ...]]:
        # Serialised before the transaction begins: the write lock is held for writing only,
        # and evidence that cannot be serialised fails the target before anything is written.
        # The executemany bypasses the columns' types: their text escape is applied here.
        return [
            (
                scan_id,
                f.target_kind.value,
                _stored(f.target),
                _stored(f.address),
                _stored(f.check),
                f.status.value,
                _stored(f.message),
                to_stored(json.dumps(f.evidence, ensure_ascii=False, sort_keys=True, default=str)),
                f.score,
                vantage or f.vantage,
            )
            for f in findings
        ]

    def _insert_findings(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            insert = self._st.insert_findings
            conn.exec_driver_sql(insert.sql, insert.params(rows))

    @_driver_errors
    def save_target(
        self,
        scan_id: int,
        kind: TargetKind,
        name: str,
        observation_json: str,
        findings: Iterable[Finding],
        started: str,
        vantage: str = LOCAL_VANTAGE,
    ) -> None:
        rows = self._finding_rows(scan_id, findings, vantage)
        st = self._st
        with self._transaction() as conn:
            # The observation row first: its lock makes a concurrent delivery of the same
            # target wait here, before it deletes findings (see the module's docstring).
            conn.execute(
                st.upsert_observation,
                {
                    "scan_id": scan_id,
                    "vantage": vantage,
                    "kind": kind.value,
                    "name": name,
                    "json": observation_json,
                },
            )
            conn.execute(
                st.delete_target_findings,
                {"b_scan": scan_id, "b_kind": kind.value, "b_name": name, "b_vantage": vantage},
            )
            self._insert_findings(conn, rows)
            conn.execute(
                st.upsert_target,
                {
                    "scan_id": scan_id,
                    "vantage": vantage,
                    "kind": kind.value,
                    "name": name,
                    "started": started,
                    "finished": _now(),
                },
            )

    @_driver_errors
    def replace_findings(
        self, scan_id: int, findings: Iterable[Finding], vantage: str | None = None
    ) -> None:
        rows = self._finding_rows(scan_id, findings, vantage)
        with self._transaction() as conn:
            if vantage is None:
                conn.execute(self._st.delete_scan_findings, {"b_scan": scan_id})
            else:
                conn.execute(
                    self._st.delete_vantage_findings, {"b_scan": scan_id, "b_vantage": vantage}
                )
            self._insert_findings(conn, rows)

    @_driver_errors
    def copy_observations(self, from_scan: int, to_scan: int) -> None:
        with self._transaction() as conn:
            conn.execute(self._st.copy_observations, {"b_from": from_scan, "b_to": to_scan})
            conn.execute(self._st.copy_targets, {"b_from": from_scan, "b_to": to_scan})
            conn.execute(self._st.copy_vantages, {"b_from": from_scan, "b_to": to_scan})

    @_driver_errors
    def done_targets(self, scan_id: int, vantage: str = LOCAL_VANTAGE) -> set[tuple[str, str]]:
        rows = self._conn.execute(
            sa.select(T.c.kind, T.c.name).where(T.c.scan_id == scan_id, T.c.vantage == vantage)
        )
        return {(k, n) for k, n in rows}

    @_driver_errors
    def vantages(self, scan_id: int) -> list[str]:
        held = sa.select(T.c.vantage).where(T.c.scan_id == scan_id).distinct()
        recorded = sa.select(V.c.vantage).where(V.c.scan_id == scan_id)
        found = set(self._conn.execute(held).scalars()) | set(
            self._conn.execute(recorded).scalars()
        )
        return sorted(found)

    @_driver_errors
    def record_vantage(self, scan_id: int, vantage: str, footing: dict[str, Any]) -> None:
        self._conn.execute(
            self._st.upsert_vantage,
            {
                "scan_id": scan_id,
                "vantage": vantage,
                "footing_json": json.dumps(footing, ensure_ascii=False, default=str),
                "updated": _now(),
            },
        )

    @_driver_errors
    def vantage_footings(self, scan_id: int) -> dict[str, dict[str, Any]]:
        rows = self._conn.execute(
            sa.select(V.c.vantage, V.c.footing_json).where(V.c.scan_id == scan_id)
        )
        return {v: json.loads(text) for v, text in rows}

    # shards of a distributed scan
    @staticmethod
    def _shard_key(scan_id: int, vantage: str, number: int) -> Any:
        return sa.and_(SH.c.scan_id == scan_id, SH.c.vantage == vantage, SH.c.number == number)

    @_driver_errors
    def add_shards(
        self, scan_id: int, vantage: str, shards: Iterable[tuple[int, str, int]]
    ) -> None:
        now = _now()
        rows = [
            {
                "scan_id": scan_id,
                "vantage": vantage,
                "number": number,
                "shard_json": text,
                "size": size,
                "status": "pending",
                "attempts": 0,
                "reason": "",
                "worker": "",
                "stats_json": "{}",
                "footing_json": None,
                "updated": now,
            }
            for number, text, size in shards
        ]
        if not rows:
            return
        with self._transaction() as conn:
            conn.execute(self._st.upsert_shard, rows)

    @_driver_errors
    def drop_open_shards(self, scan_id: int, vantage: str) -> int:
        result = self._conn.execute(
            sa.delete(SH).where(
                SH.c.scan_id == scan_id, SH.c.vantage == vantage, SH.c.status != "done"
            )
        )
        return int(result.rowcount or 0)

    @_driver_errors
    def shard_started(self, scan_id: int, vantage: str, number: int, worker: str) -> ShardRecord:
        key = self._shard_key(scan_id, vantage, number)
        with self._transaction() as conn:
            # One UPDATE: two workers starting the same shard at once count two attempts.
            conn.execute(
                sa.update(SH)
                .where(key)
                .values(
                    attempts=SH.c.attempts + 1,
                    status=sa.case((SH.c.status == "done", "done"), else_="running"),
                    worker=worker,
                    updated=_now(),
                )
            )
            row = conn.execute(sa.select(SH).where(key)).first()
        if row is None:
            raise KeyError(f"no shard {number} of vantage {vantage} in scan {scan_id}")
        return _shard_record(row)

    @_driver_errors
    def shard_ended(
        self,
        scan_id: int,
        vantage: str,
        number: int,
        status: str,
        *,
        reason: str = "",
        stats: dict[str, Any] | None = None,
        footing: dict[str, Any] | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "reason": reason, "updated": _now()}
        if stats is not None:
            values["stats_json"] = json.dumps(stats, default=str)
        if footing is not None:
            values["footing_json"] = json.dumps(footing, ensure_ascii=False, default=str)
        self._conn.execute(
            sa.update(SH).where(self._shard_key(scan_id, vantage, number)).values(**values)
        )

    @_driver_errors
    def shards(self, scan_id: int, vantage: str | None = None) -> list[ShardRecord]:
        query = sa.select(SH).where(SH.c.scan_id == scan_id).order_by(SH.c.vantage, SH.c.number)
        if vantage is not None:
            query = query.where(SH.c.vantage == vantage)
        return [_shard_record(r) for r in self._conn.execute(query)]

    @_driver_errors
    def target_counts(self, scan_id: int) -> dict[str, int]:
        rows = self._conn.execute(
            sa.select(T.c.vantage, sa.func.count())
            .where(T.c.scan_id == scan_id)
            .group_by(T.c.vantage)
        )
        return {v: int(n) for v, n in rows}

    def observations(
        self, scan_id: int, vantage: str = LOCAL_VANTAGE
    ) -> Iterator[tuple[TargetKind, str, str]]:
        key = (O.c.kind, O.c.name)  # the order, and the page boundary
        query = (
            sa.select(*key, O.c.json)
            .where(O.c.scan_id == scan_id, O.c.vantage == vantage)
            .order_by(*key)
            .limit(_OBSERVATION_PAGE)
        )
        page = query
        try:
            while True:
                rows = self._conn.execute(page).all()
                for kind, name, text in rows:
                    yield TargetKind(kind), name, text
                if len(rows) < _OBSERVATION_PAGE:
                    return
                last = rows[-1]
                after = [sa.bindparam(None, last[i], type_=c.type) for i, c in enumerate(key)]
                page = query.where(sa.tuple_(*key) > sa.tuple_(*after))
        except DBAPIError as exc:
            raise _unwrapped(exc) from None

    @_driver_errors
    def status_counts(self, scan_id: int) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        rows = self._conn.execute(
            sa.select(F.c.status, sa.func.count())
            .where(F.c.scan_id == scan_id)
            .group_by(F.c.status)
        )
        for status, n in rows:
            counts[status] = counts.get(status, 0) + n
        return counts

    @_driver_errors
    def findings(self, scan_id: int, vantage: str | None = None) -> list[Finding]:
        return list(self.iter_findings(scan_id, vantage))

    def iter_findings(
        self, scan_id: int, vantage: str | None = None, *, evidence: bool = True
    ) -> Iterator[Finding]:
        query = (
            sa.select(
                F.c.check_id,
                F.c.kind,
                F.c.target,
                F.c.address,
                F.c.status,
                F.c.message,
                F.c.evidence_json if evidence else sa.null(),
                F.c.score,
                F.c.vantage,
            )
            .where(F.c.scan_id == scan_id)
            # NULLS FIRST is SQLite's order already; said so it holds where it is not. The
            # row id last: two findings alike in all five come out in the order written.
            .order_by(
                F.c.kind,
                F.c.target,
                F.c.check_id,
                F.c.address.asc().nulls_first(),
                F.c.vantage,
                F.c.id,
            )
        )
        if vantage is not None:
            query = query.where(F.c.vantage == vantage)
        # Streamed a page at a time, by keyset on (kind, target) as the observations are
        # (a server-side cursor would need a transaction of its own): a page holds whole
        # targets (the last, cut short, is read again with the next page), so a render
        # holds one page of findings, not the scan's, and the connection is free between
        # pages for the other streams of the render.
        key = (F.c.kind, F.c.target)
        intern = sys.intern  # names and messages recur on every host: one string each
        after: tuple[str, str] | None = None
        try:
            while True:
                page = query
                if after is not None:
                    bound = [sa.bindparam(None, after[i], type_=c.type) for i, c in enumerate(key)]
                    page = query.where(sa.tuple_(*key) > sa.tuple_(*bound))
                rows = self._conn.execute(page.limit(_FINDINGS_PAGE)).all()
                more = len(rows) == _FINDINGS_PAGE
                if more:
                    last = (rows[-1][1], rows[-1][2])
                    whole = [r for r in rows if (r[1], r[2]) != last]
                    if whole:
                        last = (whole[-1][1], whole[-1][2])
                    else:  # one target with more findings than a page: read it whole
                        whole = list(
                            self._conn.execute(
                                query.where(F.c.kind == last[0], F.c.target == last[1])
                            ).all()
                        )
                    rows, after = whole, last
                for r in rows:
                    yield Finding(
                        check=intern(r[0]),
                        target_kind=TargetKind(r[1]),
                        target=intern(r[2]),
                        address=None if r[3] is None else intern(r[3]),
                        status=Status(r[4]),
                        message=intern(r[5]),
                        evidence=json.loads(r[6]) if evidence else _NO_EVIDENCE,
                        score=r[7],
                        vantage=intern(r[8]),
                    )
                if not more:
                    return
        except DBAPIError as exc:
            raise _unwrapped(exc) from None

    @_driver_errors
    def target_findings(self, scan_id: int, kind: str, name: str) -> list[Finding]:
        rows = self._conn.execute(
            sa.select(
                F.c.check_id,
                F.c.address,
                F.c.status,
                F.c.message,
                F.c.evidence_json,
                F.c.score,
                F.c.vantage,
            )
            .where(F.c.scan_id == scan_id, F.c.kind == kind, F.c.target == name)
            .order_by(F.c.check_id, F.c.address.asc().nulls_first(), F.c.vantage, F.c.id)
        )
        return [
            Finding(c, TargetKind(kind), name, a, Status(st), m, json.loads(ev), sc, v)
            for c, a, st, m, ev, sc, v in rows
        ]

    @_driver_errors
    def target_observation(
        self, scan_id: int, kind: str, name: str, vantage: str = LOCAL_VANTAGE
    ) -> str | None:
        text = self._conn.execute(
            sa.select(O.c.json).where(
                O.c.scan_id == scan_id, O.c.vantage == vantage, O.c.kind == kind, O.c.name == name
            )
        ).scalar()
        return None if text is None else str(text)

    # accounts (auditor serve)
    def _users_query(self) -> sa.Select[Any]:
        live = (
            sa.select(sa.func.count())
            .where(TK.c.user_id == U.c.id, TK.c.revoked.is_(None))
            .scalar_subquery()
        )
        return sa.select(U, live.label("tokens")).order_by(U.c.name)

    @staticmethod
    def _user(row: Row[Any] | None) -> UserRecord | None:
        if row is None:
            return None
        m = row._mapping
        return UserRecord(
            id=m["id"],
            name=m["name"],
            role=m["role"],
            agency=m["agency"],
            password_hash=m["password_hash"],
            disabled=bool(m["disabled"]),
            created=m["created"],
            updated=m["updated"],
            tokens=int(m["tokens"] or 0),
        )

    @_driver_errors
    def add_user(self, name: str, role: str, agency: str | None, password_hash: str) -> int:
        with self._transaction() as conn:
            if conn.execute(sa.select(U.c.id).where(U.c.name == name)).first() is not None:
                raise StoreError(f"a user named {name!r} exists already")
            now = _now()
            return int(
                conn.execute(
                    sa.insert(U)
                    .values(
                        name=name,
                        role=role,
                        agency=agency,
                        password_hash=password_hash,
                        disabled=0,
                        created=now,
                        updated=now,
                    )
                    .returning(U.c.id)
                ).scalar_one()
            )

    @_driver_errors
    def user(self, name: str) -> UserRecord | None:
        return self._user(self._conn.execute(self._users_query().where(U.c.name == name)).first())

    @_driver_errors
    def user_by_id(self, user_id: int) -> UserRecord | None:
        return self._user(self._conn.execute(self._users_query().where(U.c.id == user_id)).first())

    @_driver_errors
    def users(self) -> list[UserRecord]:
        return [u for r in self._conn.execute(self._users_query()) if (u := self._user(r))]

    @_driver_errors
    def update_user(
        self, name: str, *, password_hash: str | None = None, disabled: bool | None = None
    ) -> bool:
        values: dict[str, Any] = {"updated": _now()}
        if password_hash is not None:
            values["password_hash"] = password_hash
        if disabled is not None:
            values["disabled"] = int(disabled)
        with self._transaction() as conn:
            done = conn.execute(sa.update(U).where(U.c.name == name).values(**values))
            return bool(done.rowcount)

    @_driver_errors
    def add_token(self, name: str, digest: str) -> int:
        with self._transaction() as conn:
            user_id = conn.execute(sa.select(U.c.id).where(U.c.name == name)).scalar()
            if user_id is None:
                raise StoreError(f"no user named {name!r}")
            return int(
                conn.execute(
                    sa.insert(TK)
                    .values(user_id=user_id, digest=digest, created=_now())
                    .returning(TK.c.id)
                ).scalar_one()
            )

    @_driver_errors
    def revoke_tokens(self, name: str, token_id: int | None = None) -> int:
        with self._transaction() as conn:
            user_id = conn.execute(sa.select(U.c.id).where(U.c.name == name)).scalar()
            if user_id is None:
                raise StoreError(f"no user named {name!r}")
            query = sa.update(TK).where(TK.c.user_id == user_id, TK.c.revoked.is_(None))
            if token_id is not None:
                query = query.where(TK.c.id == token_id)
            return int(conn.execute(query.values(revoked=_now())).rowcount)

    @_driver_errors
    def token_user(self, digest: str) -> UserRecord | None:
        user_id = self._conn.execute(
            sa.select(TK.c.user_id).where(TK.c.digest == digest, TK.c.revoked.is_(None))
        ).scalar()
        return None if user_id is None else self.user_by_id(int(user_id))

    @_driver_errors
    def audit(self, event: str, username: str, client: str, detail: str = "") -> None:
        with self._transaction() as conn:
            conn.execute(
                sa.insert(AL).values(
                    at=_now(), event=event, username=username, client=client, detail=detail
                )
            )

    @_driver_errors
    def audit_log(self, limit: int = 100) -> list[AuditRecord]:
        rows = self._conn.execute(
            sa.select(AL.c.at, AL.c.event, AL.c.username, AL.c.client, AL.c.detail)
            .order_by(AL.c.id.desc())
            .limit(limit)
        )
        return [AuditRecord(*r) for r in rows]

    @_driver_errors
    def setting(self, key: str, default: str) -> str:
        M = schema.meta
        with self._transaction() as conn:
            found = conn.execute(sa.select(M.c.value).where(M.c.key == key)).scalar()
            if found is not None:
                return str(found)
            conn.execute(sa.insert(M).values(key=key, value=default))
            return default

    # -- scheduled runs -------------------------------------------------------------------
    @staticmethod
    def _run_status(status: str) -> str:
        if status not in SCHEDULE_RUN_STATUSES:
            raise ValueError(f"schedule run status {status!r}: not one of {SCHEDULE_RUN_STATUSES}")
        return status

    @_driver_errors
    def begin_schedule_run(
        self, schedule: str, due: str, status: str = "running", detail: str = ""
    ) -> int:
        now = _now()
        with self._transaction() as conn:
            return int(
                conn.execute(
                    sa.insert(SR)
                    .values(
                        schedule=schedule,
                        due=due,
                        started=now,
                        finished=None if status == "running" else now,
                        status=self._run_status(status),
                        scan_id=None,
                        detail=detail,
                    )
                    .returning(SR.c.id)
                ).scalar_one()
            )

    @_driver_errors
    def end_schedule_run(
        self, run_id: int, status: str, scan_id: int | None = None, detail: str = ""
    ) -> None:
        with self._transaction() as conn:
            conn.execute(
                sa.update(SR)
                .where(SR.c.id == run_id)
                .values(
                    finished=_now(),
                    status=self._run_status(status),
                    scan_id=scan_id,
                    detail=detail,
                )
            )

    _RUN_COLUMNS = (
        SR.c.id,
        SR.c.schedule,
        SR.c.due,
        SR.c.started,
        SR.c.finished,
        SR.c.status,
        SR.c.scan_id,
        SR.c.detail,
    )

    @_driver_errors
    def schedule_runs(
        self, schedule: str | None = None, limit: int = 50
    ) -> list[ScheduleRunRecord]:
        query = sa.select(*self._RUN_COLUMNS).order_by(SR.c.id.desc()).limit(limit)
        if schedule is not None:
            query = query.where(SR.c.schedule == schedule)
        return [ScheduleRunRecord(*r) for r in self._conn.execute(query)]

    @_driver_errors
    def last_schedule_runs(self) -> dict[str, ScheduleRunRecord]:
        latest = sa.select(sa.func.max(SR.c.id)).group_by(SR.c.schedule).scalar_subquery()
        query = sa.select(*self._RUN_COLUMNS).where(SR.c.id.in_(latest))
        return {
            r.schedule: r for r in (ScheduleRunRecord(*row) for row in self._conn.execute(query))
        }

    @_driver_errors
    def abandon_schedule_runs(self, schedules: Iterable[str], detail: str) -> int:
        names = list(schedules)
        if not names:
            return 0
        with self._transaction() as conn:
            result = conn.execute(
                sa.update(SR)
                .where(SR.c.schedule.in_(names), SR.c.status == "running")
                .values(status="abandoned", finished=_now(), detail=detail)
            )
            return int(result.rowcount or 0)

    @_driver_errors
    def light_findings(self, scan_id: int, vantage: str | None = None) -> list[Finding]:
        query = sa.select(
            F.c.check_id, F.c.kind, F.c.target, F.c.address, F.c.status, F.c.score, F.c.vantage
        ).where(F.c.scan_id == scan_id)
        if vantage is not None:
            query = query.where(F.c.vantage == vantage)
        return [
            Finding(c, TargetKind(k), t, a, Status(s), "", {}, sc, v)
            for c, k, t, a, s, sc, v in self._conn.execute(query)
        ]
