"""The store's tables, one description for every database (SQLAlchemy Core).

Revision ``0001`` is exactly the schema the SQLite store of the previous release created
with its own DDL (same tables, columns, types, keys and index), so a store it wrote is that
revision already and is only stamped when first opened (:mod:`auditor.store.sql`).

A schema change is a new Alembic revision in ``migrations/versions`` plus the same change
here; ``tests/integration/test_store.py`` fails when the two disagree.
"""

from __future__ import annotations

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
from sqlalchemy.types import TypeEngine

HEAD = "0003"  # the newest revision this release knows, and writes

# How the previous release marked its schema (``meta.schema_version``), and the revision
# that schema is.
LEGACY_VERSION_KEY = "schema_version"
LEGACY_REVISIONS = {"1": "0001"}

metadata = MetaData()

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
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

scans = Table(
    "scans",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started", Text, nullable=False),
    Column("finished", Text),
    Column("status", Text, nullable=False),  # running | complete | interrupted | failed
    Column("kind", Text, nullable=False, server_default="scan"),  # scan | evaluation | gate
    Column("source_scan", Integer),  # evaluations: the scan whose observations were used
    Column("profile", Text, nullable=False),
    Column("inventory_path", Text, nullable=False),
    Column("inventory_name", Text, nullable=False),
    Column("inventory_json", Text, nullable=False),
    Column("options_json", Text, nullable=False),
    Column("tool_version", Text, nullable=False),
    Column("stats_json", Text, nullable=False, server_default="{}"),
    # Ids are never reused, even after the latest scan is deleted by hand: reports and
    # `auditor diff` name scans by id.
    sqlite_autoincrement=True,
)


# Where the scanner stood; "local" for a one-machine scan (revision 0002).
def _vantage_key() -> Column[str]:
    return Column("vantage", Text, primary_key=True, server_default="local")


targets = Table(
    "targets",
    metadata,
    Column("scan_id", Integer, ForeignKey("scans.id"), primary_key=True),
    _vantage_key(),
    Column("kind", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("started", Text, nullable=False),
    Column("finished", Text, nullable=False),
)

observations = Table(
    "observations",
    metadata,
    Column("scan_id", Integer, ForeignKey("scans.id"), primary_key=True),
    _vantage_key(),
    Column("kind", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("json", Text, nullable=False),
)

findings = Table(
    "findings",
    metadata,
    Column("id", _FINDING_ID, primary_key=True),
    Column("scan_id", Integer, ForeignKey("scans.id"), nullable=False),
    Column("kind", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("address", Text),
    Column("check_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("evidence_json", Text, nullable=False),
    Column("score", _SCORE),
    Column("vantage", Text, nullable=False, server_default="local"),
    Index("findings_scan", "scan_id", "kind", "target"),
    sqlite_autoincrement=True,
)

# Each vantage of a scan and the scanner's footing there (auditor.selfcheck), which its
# findings were judged with. A one-machine scan keeps its footing in the scan's stats.
scan_vantages = Table(
    "scan_vantages",
    metadata,
    Column("scan_id", Integer, ForeignKey("scans.id"), primary_key=True),
    Column("vantage", Text, primary_key=True),
    Column("footing_json", Text, nullable=False, server_default="{}"),
    Column("updated", Text, nullable=False),
)

# The shards of a distributed scan, per vantage, and how each went (revision 0003):
# ``auditor status`` and ``scan --resume`` read them from the database alone.
scan_shards = Table(
    "scan_shards",
    metadata,
    Column("scan_id", Integer, ForeignKey("scans.id"), primary_key=True),
    Column("vantage", Text, primary_key=True),
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("shard_json", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("status", Text, nullable=False),  # pending | running | done | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("reason", Text, nullable=False, server_default=""),
    Column("worker", Text, nullable=False, server_default=""),
    Column("stats_json", Text, nullable=False, server_default="{}"),
    Column("footing_json", Text),
    Column("updated", Text, nullable=False),
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
