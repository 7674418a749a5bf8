"""The store: scans, targets, observations and findings, behind one interface.

``open_store(URL)`` picks the backend: ``sqlite:///path`` or a plain file path (SQLite, WAL
mode, one transaction per finished target, so an interrupted scan keeps every finished
result and a second process can read or write at the same time), or
``postgresql://USER@HOST[:PORT]/DATABASE`` (PostgreSQL with psycopg 3, for many workers
writing at once; the ``distributed`` extra). The schema revision is
checked on open and migrated forward; a store from a newer release is a SchemaError.

Only this package speaks SQL. The backend module (SQLAlchemy) is imported when a store is
opened, not with this package: commands that never open one do not pay for it.
"""

from __future__ import annotations

from pathlib import Path

from auditor.store.base import (
    SCHEDULE_RUN_STATUSES,
    SHARD_STATUSES,
    AuditRecord,
    ScanRecord,
    ScheduleRunRecord,
    SchemaError,
    ShardRecord,
    Sink,
    Store,
    StoreError,
    StoreNotFound,
    UserRecord,
)
from auditor.store.urls import display_url, locate, store_url

__all__ = [
    "SCHEDULE_RUN_STATUSES",
    "SHARD_STATUSES",
    "AuditRecord",
    "ScanRecord",
    "ScheduleRunRecord",
    "SchemaError",
    "ShardRecord",
    "Sink",
    "Store",
    "StoreError",
    "StoreNotFound",
    "UserRecord",
    "display_url",
    "open_store",
    "store_url",
]


def open_store(url: str | Path, *, create: bool = True) -> Store:
    """Open the store at ``url`` (a ``sqlite:///`` URL, a plain path, or a
    ``postgresql://`` URL).

    ``create=False``: the store must exist already (StoreNotFound otherwise); reading
    commands use it so a typo in ``--db`` is not a new empty store. Raises StoreError for a
    URL this release cannot open, SchemaError for a schema it does not know."""
    location = locate(url)
    from auditor.store.sql import SqlStore

    return SqlStore(location, create=create)
