"""Alembic migrations of the store schema (:mod:`auditor.store.schema`).

Stores migrate themselves when opened (:class:`auditor.store.sql.SqlStore`); developers make
a new revision with ``python -m auditor.store.migrations revision -m "what changes"``.
"""
