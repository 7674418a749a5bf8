"""Alembic revisions, one file each, named after the revision (0001, 0002, ...)."""
