"""The store's tables, one description for every database (SQLAlchemy Core).

Revision ``0001`` is exactly the schema the SQLite store of the previous release created
with its own DDL (same tables, columns, types, keys and index), so a store it wrote is that
revision already and is only stamped when first opened (:mod:`auditor.store.sql`).

A schema change is a new Alembic revision in ``migrations/versions`` plus the same change
here; ``tests/integration/test_store.py`` fails when the two disagree.

Text, the same on every backend (:class:`StoreText`, every text column):

- Order is code-point order (byte order of UTF-8), as SQLite's BINARY collation: on
  PostgreSQL every text column is ``COLLATE "C"``, so ``findings()`` and ``observations()``
  come out in the same order whatever locale the database was created with.
- NUL (U+0000) round-trips. PostgreSQL's TEXT cannot hold it, and remote strings (a banner, a
  header, a certificate field) may carry one, so it is stored as U+FFFF "0" on every backend
  (and U+FFFF itself as U+FFFF U+FFFF): U+FFFF is a noncharacter (Unicode 15.0 sec. 23.7), no
  text a server sends should hold it, and a store written before has none. The stored form
  is one consistent escape, so equality and order agree on both backends.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    REAL,
    BigInteger,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

HEAD = "0005"  # the newest revision this release knows, and writes

# How the previous release marked its schema (``meta.schema_version``), and the revision
# that schema is.
LEGACY_VERSION_KEY = "schema_version"
LEGACY_REVISIONS = {"1": "0001"}

metadata = MetaData()

ESCAPE = "\uffff"
_UNESCAPED = {"0": "\x00", ESCAPE: ESCAPE}


def to_stored(text: str) -> str:
    """Text as a store keeps it: NUL and U+FFFF escaped (see the module's docstring)."""
    if "\x00" not in text and ESCAPE not in text:
        return text
    return text.replace(ESCAPE, ESCAPE + ESCAPE).replace("\x00", ESCAPE + "0")


def from_stored(text: str) -> str:
    """The inverse of :func:`to_stored`; a lone U+FFFF (not written by it) is kept as it is."""
    if ESCAPE not in text:
        return text
    out: list[str] = []
    i = 0
    while (j := text.find(ESCAPE, i)) >= 0:
        out.append(text[i:j])
        following = text[j + 1 : j + 2]
        if following in _UNESCAPED:
            out.append(_UNESCAPED[following])
            i = j + 2
        else:
            out.append(ESCAPE)
            i = j + 1
    out.append(text[i:])
    return "".join(out)


# Text in byte order on PostgreSQL (SQLite's TEXT compares bytes already).
_COLLATED = Text(collation="C")


class StoreText(TypeDecorator[str]):
    """A text column: :func:`to_stored` on the way in, :func:`from_stored` on the way out.
    Its DDL is plain TEXT (``COLLATE "C"`` on PostgreSQL)."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # The generic type, not the dialect's adaptation of it (PostgreSQL's adapts Text to
        # its VARCHAR class): DDL and Alembic's comparison compile this one.
        return _COLLATED if dialect.name == "postgresql" else Text()

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else to_stored(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else from_stored(value)


# Scores are doubles. SQLite keeps "REAL" (what the previous release declared, 8 bytes
# there); elsewhere REAL would be 4 bytes, so a double precision type.
_SCORE: TypeEngine[float] = Double().with_variant(REAL(), "sqlite")
# A finding id counts every finding of every scan ever kept: 64 bits where the database
# has them as a type; SQLite's rowid alias must be declared INTEGER exactly.
_FINDING_ID: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")

# Key/value facts about the store. The previous release wrote schema_version=1 here and
# refuses any other value; revision 0001 kept 1 (same schema, that release could read it),
# 0002 writes 2 (the keys changed: its writes would fail).
meta = Table(
    "meta",
    metadata,
    Column("key", StoreText(), primary_key=True),
    Column("value", StoreText(), nullable=False),
)

scans = Table(
    "scans",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started", StoreText(), nullable=False),
    Column("finished", StoreText()),
    Column("status", StoreText(), nullable=False),  # running | complete | interrupted | failed
    Column("kind", StoreText(), nullable=False, server_default="scan"),  # scan | evaluation | gate
    Column("source_scan", Integer),  # evaluations: the scan whose observations were used
    Column("profile", StoreText(), nullable=False),
    Column("inventory_path", StoreText(), nullable=False),
    Column("inventory_name", StoreText(), nullable=False),
    Column("inventory_json", StoreText(), nullable=False),
    Column("options_json", StoreText(), nullable=False),
    Column("tool_version", StoreText(), nullable=False),
    Column("stats_json", StoreText(), nullable=False, server_default="{}"),
    # Ids are never reused, even after the latest scan is deleted by hand: reports and
    # `auditor diff` name scans by id.
    sqlite_autoincrement=True,
)


# Where the scanner stood; "local" for a one-machine scan (revision 0002).
def _vantage_key() -> Column[str]:
    return Column("vantage", StoreText(), primary_key=True, server_default="local")


targets = Table(
    "targets",
    metadata,
    Column("scan_id", Integer, ForeignKey("scans.id"), primary_key=True),
    _vantage_key(),
    Column("kind", StoreText(), primary_key=True),
    Column("name", StoreText(), primary_key=True),
    Column("started", StoreText(), nullable=False),
    Column("finished", StoreText(), nullable=False),
)

observations = Table(
    "observations",
    metadata,
    Column("scan_id", Integer, ForeignKey("scans.id"), primary_key=True),
    _vantage_key(),
    Column("kind", StoreText(), primary_key=True),
    Column("name", StoreText(), primary_key=True),
    Column("json", StoreText(), nullable=False),
)

findings = Table(
    "findings",
    metadata,
    Column("id", _FINDING_ID, primary_key=True),
    Column("scan_id", Integer, ForeignKey("scans.id"), nullable=False),
    Column("kind", StoreText(), nullable=False),
    Column("target", StoreText(), nullable=False),
    Column("address", StoreText()),
    Column("check_id", StoreText(), nullable=False),
    Column("status", StoreText(), nullable=False),
    Column("message", StoreText(), nullable=False),
    Column("evidence_json", StoreText(), nullable=False),
    Column("score", _SCORE),
    Column("vantage", StoreText(), nullable=False, server_default="local"),
    Index("findings_scan", "scan_id", "kind", "target"),
    sqlite_autoincrement=True,
)

# Each vantage of a scan and the scanner's footing there (auditor.selfcheck), which its
# findings were judged with. A one-machine scan keeps its footing in the scan's stats.
scan_vantages = Table(
    "scan_vantages",
    metadata,
    Column("scan_id", Integer, ForeignKey("scans.id"), primary_key=True),
    Column("vantage", StoreText(), primary_key=True),
    Column("footing_json", StoreText(), nullable=False, server_default="{}"),
    Column("updated", StoreText(), nullable=False),
)

# The shards of a distributed scan, per vantage, and how each went (revision 0003):
# ``auditor status`` and ``scan --resume`` read them from the database alone.
scan_shards = Table(
    "scan_shards",
    metadata,
    Column("scan_id", Integer, ForeignKey("scans.id"), primary_key=True),
    Column("vantage", StoreText, primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("shard_json", StoreText, nullable=False),
    Column("size", Integer, nullable=False),
    Column("status", StoreText, nullable=False),  # pending | running | done | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("reason", StoreText, nullable=False, server_default=""),
    Column("worker", StoreText, nullable=False, server_default=""),
    Column("stats_json", StoreText, nullable=False, server_default="{}"),
    Column("footing_json", StoreText),
    Column("updated", StoreText, nullable=False),
)

# The dashboard's accounts (``auditor serve``, revision 0004): users, their API tokens and the
# audit log of logins. Passwords are argon2id hashes (auditor.serve.auth), tokens SHA-256
# digests of a 256-bit random secret: neither can be read back from the database.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", StoreText(), nullable=False, unique=True),
    Column("role", StoreText(), nullable=False),  # admin | agency
    Column("agency", StoreText()),  # the agency id of an agency account
    Column("password_hash", StoreText(), nullable=False),
    Column("disabled", Integer, nullable=False, server_default="0"),
    Column("created", StoreText(), nullable=False),
    Column("updated", StoreText(), nullable=False),
    sqlite_autoincrement=True,
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("digest", StoreText(), nullable=False, unique=True),
    Column("created", StoreText(), nullable=False),
    Column("revoked", StoreText()),
    sqlite_autoincrement=True,
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _FINDING_ID, primary_key=True),
    Column("at", StoreText(), nullable=False),
    Column("event", StoreText(), nullable=False),  # login | login_failed | logout | ...
    Column("username", StoreText(), nullable=False),
    Column("client", StoreText(), nullable=False),
    Column("detail", StoreText(), nullable=False, server_default=""),
    sqlite_autoincrement=True,
)

# The runs of the schedule file's schedules (``auditor serve --scheduler``, ``auditor beat``;
# revision 0005): which cron time each run was due for, how it ended and its scan. The
# latest row of a schedule is what a restarted scheduler compares with the cron to run a
# missed run once, and what the dashboard shows as its last run; a run skipped because the
# previous one was still going is a row too ("skipped").
schedule_runs = Table(
    "schedule_runs",
    metadata,
    Column("id", _FINDING_ID, primary_key=True),
    Column("schedule", StoreText(), nullable=False),
    Column("due", StoreText(), nullable=False),  # ISO 8601, UTC: the cron time it is for
    Column("started", StoreText(), nullable=False),
    Column("finished", StoreText()),
    # running | complete | interrupted | failed | error | skipped | abandoned
    Column("status", StoreText(), nullable=False),
    Column("scan_id", Integer),
    Column("detail", StoreText(), nullable=False, server_default=""),
    Index("schedule_runs_by_schedule", "schedule", "id"),
    sqlite_autoincrement=True,
)

# Alembic's own record of the revision a store is at. Described here (in its own MetaData:
# it is not part of the schema Alembic compares) so opening a store reads it with one query,
# without loading Alembic, when the store is at HEAD already.
REVISION_TABLE = "alembic_version"
revision_metadata = MetaData()
revision = Table(
    REVISION_TABLE,
    revision_metadata,
    Column("version_num", String(32), primary_key=True),
)
