"""The shards of a distributed scan and how each went, per vantage (issue #16).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-20

A scan run by Celery workers (auditor.distributed) is submitted as shards, each once per
vantage. Which of them are pending, running, done or failed (with the reason and the number
of attempts: a worker lost mid-shard delivers it again) must be in the store, so that
``auditor status`` works from the database alone, on any machine, and ``auditor scan
--resume`` knows what to submit again. A one-machine scan writes no row here.

Only a table is added: the previous revision's readers and writers are unaffected, so
``meta.schema_version`` stays 2.

Also changed: auditor/store/schema.py (tests/integration/test_store.py compares the two).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.types import TypeEngine

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# As in 0002: text compares byte by byte on PostgreSQL too (schema.StoreText).
_TEXT: TypeEngine[str] = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "scan_shards",
        sa.Column("scan_id", sa.Integer(), sa.ForeignKey("scans.id"), primary_key=True),
        sa.Column("vantage", _TEXT, primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
        # The shard (auditor.shards.Shard.to_json) and its number of targets.
        sa.Column("shard_json", _TEXT, nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", _TEXT, nullable=False),  # pending | running | done | failed
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("reason", _TEXT, nullable=False, server_default=""),
        sa.Column("worker", _TEXT, nullable=False, server_default=""),
        # The shard's counters and the final footing of the process that ran it (JSON).
        sa.Column("stats_json", _TEXT, nullable=False, server_default="{}"),
        sa.Column("footing_json", _TEXT),
        sa.Column("updated", _TEXT, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scan_shards")
