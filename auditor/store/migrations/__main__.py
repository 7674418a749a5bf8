"""Developers' entry to the store's migrations: ``python -m auditor.store.migrations``.

revision -m MSG [--autogenerate]   a new revision file in versions/ (numbered 0002, ...);
                                   --autogenerate diffs auditor/store/schema.py against a
                                   scratch SQLite store at the current HEAD
history | heads | current URL      Alembic's own views
upgrade URL [REV]                  migrate a store by hand (opening it does this anyway)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from auditor.store.sql import MIGRATIONS


def _config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def _next_id(config: Config) -> str:
    revisions = [s.revision for s in ScriptDirectory.from_config(config).walk_revisions()]
    return f"{max((int(r) for r in revisions if r.isdigit()), default=0) + 1:04d}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m auditor.store.migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("revision", help="write a new revision file")
    p.add_argument("-m", "--message", required=True)
    p.add_argument("--autogenerate", action="store_true")
    sub.add_parser("history")
    sub.add_parser("heads")
    p = sub.add_parser("current")
    p.add_argument("url")
    p = sub.add_parser("upgrade")
    p.add_argument("url")
    p.add_argument("revision", nargs="?", default="head")
    args = parser.parse_args(argv)

    if args.command == "revision":
        if not args.autogenerate:
            config = _config()
            command.revision(config, message=args.message, rev_id=_next_id(config))
            return 0
        # Autogenerate compares the schema with a database: a scratch store at HEAD.
        from auditor.store import open_store

        with tempfile.TemporaryDirectory() as tmp:
            scratch = Path(tmp) / "head.db"
            open_store(scratch).close()
            config = _config(f"sqlite:///{scratch}")
            command.revision(
                config, message=args.message, autogenerate=True, rev_id=_next_id(config)
            )
        return 0
    if args.command in ("history", "heads"):
        getattr(command, args.command)(_config())
        return 0
    if args.command == "current":
        command.current(_config(args.url))
        return 0
    command.upgrade(_config(args.url), args.revision)
    return 0


if __name__ == "__main__":
    sys.exit(main())
