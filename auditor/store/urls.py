"""Store URLs: ``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``sqlite://`` (in
memory), or a plain file path (what ``--db`` always accepted).

Parsed here, without SQLAlchemy (whose import costs a fifth of a second), so commands that
never open a store do not pay for it. The spelling is SQLAlchemy's, so a URL that works here
means the same thing in its tools (Alembic, a SQL console).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from auditor.store.base import StoreError

MEMORY = ":memory:"
MEMORY_URL = "sqlite:///:memory:"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)
_SQLITE_DRIVERS = ("sqlite", "sqlite+pysqlite")
_USE = "use sqlite:///PATH or a file path"


@dataclass(frozen=True)
class StoreLocation:
    backend: str  # "sqlite" (the only one in this release)
    database: str  # an absolute file path, or ":memory:"

    @property
    def url(self) -> str:
        """The canonical URL: absolute, so another process (a worker) opens the same store
        whatever its working directory."""
        if self.database == MEMORY:
            return MEMORY_URL
        # '%', '?' and '#' would read as escapes, options or a fragment.
        quoted = self.database.replace("%", "%25").replace("?", "%3F").replace("#", "%23")
        return f"sqlite:///{quoted}"

    @property
    def in_memory(self) -> bool:
        return self.database == MEMORY


def locate(path_or_url: str | Path) -> StoreLocation:
    """Where a store lives, from a URL or a plain path; StoreError when this release cannot
    keep a store there."""
    text = os.fspath(path_or_url)
    match = None if isinstance(path_or_url, Path) else _SCHEME.match(text)
    if match is None:
        if not text:
            raise StoreError(f"empty store path: {_USE}")
        return StoreLocation("sqlite", text if text == MEMORY else os.path.abspath(text))
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme in _SQLITE_DRIVERS:
        return StoreLocation("sqlite", _sqlite_database(text, rest))
    if scheme.split("+")[0] in ("postgresql", "postgres"):
        raise StoreError(
            f"{_redacted(text)}: PostgreSQL stores arrive with the distributed extra, not in "
            f"this release; {_USE}"
        )
    raise StoreError(f"{_redacted(text)}: no store backend for {scheme}://; {_USE}")


def store_url(path_or_url: str | Path) -> str:
    """The canonical URL of a store given by URL or plain path (absolute for a file)."""
    return locate(path_or_url).url


def _sqlite_database(url: str, rest: str) -> str:
    # SQLAlchemy's sqlite URLs: sqlite:// + host (always empty) + / + path; no path is memory.
    if rest == "":
        return MEMORY
    if not rest.startswith("/"):
        raise StoreError(f"{url}: a SQLite URL has no host; {_USE}")
    if "?" in rest or "#" in rest:
        raise StoreError(f"{url}: store URL options are not supported; {_USE}")
    database = unquote(rest[1:])
    if database in ("", MEMORY):
        return MEMORY
    return os.path.abspath(database)


def _redacted(url: str) -> str:
    """The URL without its password (it is printed in an error message)."""
    return re.sub(r"^([^:/]+://[^:/@]*):[^@/]*@", r"\1:***@", url)
