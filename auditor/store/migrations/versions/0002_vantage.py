"""The vantage point: where the scanner stood, a dimension of every target, observation and
finding, and each vantage's footing (issue #16).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Every row a store already has was observed from one machine: vantage ``local`` (the column's
default, so a writer that says nothing about vantages writes ``local`` as before). The keys
of ``targets`` and ``observations`` gain the vantage: a scan from two vantages keeps one row
per (scan, vantage, kind, name), and a re-delivered shard still replaces its own rows only.

``meta.schema_version`` becomes 2: the SQLite-only release before revisions existed reads
version 1 and refuses anything else, and its writes (upserts on the old keys) would fail here.

On PostgreSQL the new text columns are ``COLLATE "C"``, as 0001's (byte order).

Also changed: auditor/store/schema.py (tests/integration/test_store.py compares the two).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.types import TypeEngine

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_KEYED = ("targets", "observations")
# As in auditor/store/schema.py, a copy of its own (0001 has the same).
_TEXT: TypeEngine[str] = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")


def _rekey(table: str, columns: list[str]) -> None:
    if op.get_context().dialect.name != "sqlite":
        # PostgreSQL names an unnamed primary key <table>_pkey (revision 0001's were unnamed).
        op.drop_constraint(f"{table}_pkey", table, type_="primary")
        op.create_primary_key(f"{table}_pkey", table, columns)
        return
    # SQLite cannot change a primary key in place: copy the table under the new key (what
    # Alembic's batch mode would do, said plainly; batch mode warns when the key changes).
    conn = op.get_bind()
    meta = sa.MetaData()
    sa.Table("scans", meta, autoload_with=conn)  # what the foreign key refers to
    old = sa.Table(table, meta, autoload_with=conn)
    new = sa.Table(f"_new_{table}", meta)
    for column in old.columns:
        copy = sa.Column(
            column.name,
            column.type,
            nullable=column.nullable and column.name not in columns,
            server_default=column.server_default,
        )
        new.append_column(copy)
    new.append_constraint(sa.PrimaryKeyConstraint(*columns))
    new.append_constraint(sa.ForeignKeyConstraint(["scan_id"], ["scans.id"]))
    new.create(conn)
    names = [c.name for c in old.columns]
    conn.execute(sa.insert(new).from_select(names, sa.select(*old.columns)))
    op.drop_table(table)
    op.rename_table(f"_new_{table}", table)


def upgrade() -> None:
    for table in (*_KEYED, "findings"):
        op.add_column(table, sa.Column("vantage", _TEXT, nullable=False, server_default="local"))
    for table in _KEYED:
        _rekey(table, ["scan_id", "vantage", "kind", "name"])
    op.create_table(
        "scan_vantages",
        sa.Column("scan_id", sa.Integer(), sa.ForeignKey("scans.id"), primary_key=True),
        sa.Column("vantage", _TEXT, primary_key=True),
        # The footing of the scanner at that vantage (auditor.selfcheck), as JSON.
        sa.Column("footing_json", _TEXT, nullable=False, server_default="{}"),
        sa.Column("updated", _TEXT, nullable=False),
    )
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")


def downgrade() -> None:
    op.drop_table("scan_vantages")
    op.execute("DELETE FROM findings WHERE vantage <> 'local'")
    for table in _KEYED:
        op.execute(f"DELETE FROM {table} WHERE vantage <> 'local'")
        _rekey(table, ["scan_id", "kind", "name"])
    for table in (*_KEYED, "findings"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("vantage")
    op.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
