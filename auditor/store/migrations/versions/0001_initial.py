"""The store as the first SQLite release made it: scans, targets, observations, findings.

Revision ID: 0001
Revises:
Create Date: 2026-12-10

A store that release wrote has exactly these tables already; it is stamped 0001 when first
opened, not migrated (auditor/store/sql.py).

On PostgreSQL every text column is ``COLLATE "C"`` (byte order, as SQLite's TEXT compares):
PostgreSQL stores were first created by this revision with it, so no store differs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.types import TypeEngine

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# As in auditor/store/schema.py (a revision keeps its own copy: it must not change later).
_SCORE: TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")
_FINDING_ID: TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TEXT: TypeEngine[str] = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    meta = op.create_table(
        "meta",
        sa.Column("key", _TEXT, primary_key=True),
        sa.Column("value", _TEXT, nullable=False),
    )
    op.create_table(
        "scans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started", _TEXT, nullable=False),
        sa.Column("finished", _TEXT),
        sa.Column("status", _TEXT, nullable=False),
        sa.Column("kind", _TEXT, nullable=False, server_default="scan"),
        sa.Column("source_scan", sa.Integer()),
        sa.Column("profile", _TEXT, nullable=False),
        sa.Column("inventory_path", _TEXT, nullable=False),
        sa.Column("inventory_name", _TEXT, nullable=False),
        sa.Column("inventory_json", _TEXT, nullable=False),
        sa.Column("options_json", _TEXT, nullable=False),
        sa.Column("tool_version", _TEXT, nullable=False),
        sa.Column("stats_json", _TEXT, nullable=False, server_default="{}"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "targets",
        sa.Column("scan_id", sa.Integer(), sa.ForeignKey("scans.id"), primary_key=True),
        sa.Column("kind", _TEXT, primary_key=True),
        sa.Column("name", _TEXT, primary_key=True),
        sa.Column("started", _TEXT, nullable=False),
        sa.Column("finished", _TEXT, nullable=False),
    )
    op.create_table(
        "observations",
        sa.Column("scan_id", sa.Integer(), sa.ForeignKey("scans.id"), primary_key=True),
        sa.Column("kind", _TEXT, primary_key=True),
        sa.Column("name", _TEXT, primary_key=True),
        sa.Column("json", _TEXT, nullable=False),
    )
    op.create_table(
        "findings",
        sa.Column("id", _FINDING_ID, primary_key=True),
        sa.Column("scan_id", sa.Integer(), sa.ForeignKey("scans.id"), nullable=False),
        sa.Column("kind", _TEXT, nullable=False),
        sa.Column("target", _TEXT, nullable=False),
        sa.Column("address", _TEXT),
        sa.Column("check_id", _TEXT, nullable=False),
        sa.Column("status", _TEXT, nullable=False),
        sa.Column("message", _TEXT, nullable=False),
        sa.Column("evidence_json", _TEXT, nullable=False),
        sa.Column("score", _SCORE),
        sqlite_autoincrement=True,
    )
    op.create_index("findings_scan", "findings", ["scan_id", "kind", "target"])
    # The previous release's version marker, so that release still reads this store.
    op.bulk_insert(meta, [{"key": "schema_version", "value": "1"}])


def downgrade() -> None:
    op.drop_index("findings_scan", table_name="findings")
    for name in ("findings", "observations", "targets", "scans", "meta"):
        op.drop_table(name)
