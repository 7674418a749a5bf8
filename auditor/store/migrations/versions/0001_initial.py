"""The store as the first SQLite release made it: scans, targets, observations, findings.

Revision ID: 0001
Revises:
Create Date: 2026-12-10

A store that release wrote has exactly these tables already; it is stamped 0001 when first
opened, not migrated (auditor/store/sql.py).
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


def upgrade() -> None:
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "scans",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started", sa.Text(), nullable=False),
        sa.Column("finished", sa.Text()),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False, server_default="scan"),
        sa.Column("source_scan", sa.Integer()),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("inventory_path", sa.Text(), nullable=False),
        sa.Column("inventory_name", sa.Text(), nullable=False),
        sa.Column("inventory_json", sa.Text(), nullable=False),
        sa.Column("options_json", sa.Text(), nullable=False),
        sa.Column("tool_version", sa.Text(), nullable=False),
        sa.Column("stats_json", sa.Text(), nullable=False, server_default="{}"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "targets",
        sa.Column("scan_id", sa.Integer(), sa.ForeignKey("scans.id"), primary_key=True),
        sa.Column("kind", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("started", sa.Text(), nullable=False),
        sa.Column("finished", sa.Text(), nullable=False),
    )
    op.create_table(
        "observations",
        sa.Column("scan_id", sa.Integer(), sa.ForeignKey("scans.id"), primary_key=True),
        sa.Column("kind", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("json", sa.Text(), nullable=False),
    )
    op.create_table(
        "findings",
        sa.Column("id", _FINDING_ID, primary_key=True),
        sa.Column("scan_id", sa.Integer(), sa.ForeignKey("scans.id"), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("address", sa.Text()),
        sa.Column("check_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence_json", sa.Text(), nullable=False),
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
