"""The runs of scheduled scans (issue #17): one row per run of a schedule.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

``auditor serve --scheduler`` and ``auditor beat`` run the schedule file's schedules
(auditor.schedules). Each run is a row: the cron time it was due for, when it started and
ended, how (complete, interrupted, failed, error, or skipped because the previous run was
still going) and its scan. A restarted scheduler compares a schedule's latest row with the
cron to run a run missed while the machine was down once; the dashboard shows it as the
last run. In the database, not a file beside the scheduler, so the dashboard of another
process and a scheduler on another machine read the same, on SQLite and PostgreSQL alike.

Only a table is added: the previous revision's readers and writers are unaffected, so
``meta.schema_version`` stays 2.

Also changed: auditor/store/schema.py (tests/integration/test_store.py compares the two).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.types import TypeEngine

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


# As in 0002: text compares byte by byte on PostgreSQL too (schema.StoreText).
_TEXT: TypeEngine[str] = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
_BIG_ID: TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "schedule_runs",
        sa.Column("id", _BIG_ID, primary_key=True),
        sa.Column("schedule", _TEXT, nullable=False),
        sa.Column("due", _TEXT, nullable=False),
        sa.Column("started", _TEXT, nullable=False),
        sa.Column("finished", _TEXT),
        sa.Column("status", _TEXT, nullable=False),
        sa.Column("scan_id", sa.Integer()),
        sa.Column("detail", _TEXT, nullable=False, server_default=""),
        sqlite_autoincrement=True,
    )
    op.create_index("schedule_runs_by_schedule", "schedule_runs", ["schedule", "id"])


def downgrade() -> None:
    op.drop_index("schedule_runs_by_schedule", "schedule_runs")
    op.drop_table("schedule_runs")
