"""The dashboard's accounts: users, API tokens and the audit log (issue #17).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

``auditor serve`` shows each agency its own results and nobody else's: its users (an
admin or an agency's account, made by ``auditor users add``), their API tokens (stored as
SHA-256 digests, revocable) and every login and failed login live in the same database as
the scans, on SQLite and PostgreSQL alike.

Only tables are added: the previous revision's readers and writers are unaffected, so
``meta.schema_version`` stays 2.

Also changed: auditor/store/schema.py (tests/integration/test_store.py compares the two).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.types import TypeEngine

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# As in 0002: text compares byte by byte on PostgreSQL too (schema.StoreText).
_TEXT: TypeEngine[str] = sa.Text().with_variant(sa.Text(collation="C"), "postgresql")
_BIG_ID: TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", _TEXT, nullable=False, unique=True),
        sa.Column("role", _TEXT, nullable=False),  # admin | agency
        sa.Column("agency", _TEXT),
        sa.Column("password_hash", _TEXT, nullable=False),  # argon2id
        sa.Column("disabled", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created", _TEXT, nullable=False),
        sa.Column("updated", _TEXT, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("digest", _TEXT, nullable=False, unique=True),  # SHA-256 of the token
        sa.Column("created", _TEXT, nullable=False),
        sa.Column("revoked", _TEXT),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "audit_log",
        sa.Column("id", _BIG_ID, primary_key=True),
        sa.Column("at", _TEXT, nullable=False),
        sa.Column("event", _TEXT, nullable=False),
        sa.Column("username", _TEXT, nullable=False),
        sa.Column("client", _TEXT, nullable=False),
        sa.Column("detail", _TEXT, nullable=False, server_default=""),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("api_tokens")
    op.drop_table("users")
