"""Store URLs: ``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``sqlite://`` (in
memory), a plain file path (what ``--db`` always accepted), or
``postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?LIBPQ_OPTION=VALUE&...]``
(also ``postgresql+psycopg://``, ``postgres://``).

Parsed here, without SQLAlchemy (whose import costs a fifth of a second), so commands that
never open a store do not pay for it. The spelling is SQLAlchemy's, so a URL that works here
means the same thing in its tools (Alembic, a SQL console).

A PostgreSQL password may be in the URL (percent-encoded) or left to libpq: ``PGPASSWORD``,
``~/.pgpass``, ``PGPASSFILE``. :attr:`StoreLocation.url` keeps it (another process, a worker,
opens the store from that URL); every message shows :attr:`StoreLocation.display`, or
:func:`redacted` of what the user typed, with the password as ``***``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from auditor.store.base import StoreError

MEMORY = ":memory:"
MEMORY_URL = "sqlite:///:memory:"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)
_SQLITE_DRIVERS = ("sqlite", "sqlite+pysqlite")
# postgres:// is what Heroku-style DATABASE_URLs say; psycopg 3 is the only driver used.
_POSTGRESQL_DRIVERS = ("postgresql", "postgresql+psycopg", "postgres")
POSTGRESQL_URL = "postgresql+psycopg"  # the canonical scheme: SQLAlchemy's name for psycopg 3
_USE = "use sqlite:///PATH, a file path or postgresql://USER@HOST[:PORT]/DATABASE"


@dataclass(frozen=True)
class StoreLocation:
    backend: str  # "sqlite" | "postgresql"
    database: str  # SQLite: an absolute file path, or ":memory:"; PostgreSQL: the database
    # PostgreSQL only: '' and None leave the value to libpq (PGHOST, PGPORT, PGUSER, its
    # defaults); options are libpq connection parameters (sslmode, connect_timeout, ...).
    host: str = ""
    port: int | None = None
    user: str = ""
    password: str | None = field(default=None, repr=False)
    options: tuple[tuple[str, str], ...] = ()

    @property
    def url(self) -> str:
        """The canonical URL: absolute, so another process (a worker) opens the same store
        whatever its working directory. It holds the password if one was given: never
        print it (:attr:`display` is the printable form)."""
        if self.backend == "postgresql":
            return self._postgresql_url(self.password)
        if self.database == MEMORY:
            return MEMORY_URL
        # '%', '?' and '#' would read as escapes, options or a fragment.
        quoted = self.database.replace("%", "%25").replace("?", "%3F").replace("#", "%23")
        return f"sqlite:///{quoted}"

    @property
    def display(self) -> str:
        """The URL for messages: the password, if any, as ``***``."""
        if self.backend == "postgresql":
            return self._postgresql_url(None if self.password is None else "***")
        return self.database

    @property
    def in_memory(self) -> bool:
        return self.backend == "sqlite" and self.database == MEMORY

    def _postgresql_url(self, password: str | None) -> str:
        auth = quote(self.user, safe="")
        if password is not None:
            auth += ":" + (password if password == "***" else quote(password, safe=""))
        host = f"[{self.host}]" if ":" in self.host else quote(self.host, safe="")
        netloc = (auth + "@" if auth else "") + host
        if self.port is not None:
            netloc += f":{self.port}"
        query = f"?{urlencode(self.options)}" if self.options else ""
        return f"{POSTGRESQL_URL}://{netloc}/{quote(self.database, safe='')}{query}"


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
    if scheme in _POSTGRESQL_DRIVERS:
        return _postgresql(text)
    if scheme.split("+")[0] in ("postgresql", "postgres"):
        raise StoreError(
            f"{redacted(text)}: the PostgreSQL store uses psycopg 3: "
            f"{POSTGRESQL_URL}:// or postgresql://"
        )
    raise StoreError(f"{redacted(text)}: no store backend for {scheme}://; {_USE}")


def store_url(path_or_url: str | Path) -> str:
    """The canonical URL of a store given by URL or plain path (absolute for a file)."""
    return locate(path_or_url).url


def display_url(path_or_url: str | Path) -> str:
    """How to name a store given by URL or path in a message: as given, the password of a
    PostgreSQL URL as ``***``."""
    text = os.fspath(path_or_url)
    try:
        location = locate(path_or_url)
    except StoreError:
        return redacted(text)
    return location.display if location.backend == "postgresql" else text


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


def _postgresql(url: str) -> StoreLocation:
    shown = redacted(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # its text may quote part of the password: not shown
        raise StoreError(
            f"{shown}: unreadable host or port (percent-encode '/', '@' and ':' in a "
            f"password); {_USE}"
        ) from None
    if parts.fragment:
        raise StoreError(f"{shown}: a store URL has no #fragment; {_USE}")
    database = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
    if not database or "/" in database:
        raise StoreError(f"{shown}: say which database: postgresql://USER@HOST[:PORT]/DATABASE")
    try:
        options = tuple(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise StoreError(f"{shown}: unreadable URL options ?{parts.query}") from None
    return StoreLocation(
        "postgresql",
        database,
        host=unquote(parts.hostname or ""),
        port=port,
        user=unquote(parts.username or ""),
        password=None if parts.password is None else unquote(parts.password),
        options=options,
    )


def redacted(url: str) -> str:
    """The URL without its password (it is printed in an error message). The password ends
    at the last '@' (one with a raw '/' or '@' in it still does not show)."""
    match = _SCHEME.match(url)
    if match is None:
        return url
    rest = match.group(2)
    at = rest.rfind("@")
    colon = rest.find(":", 0, max(at, 0))
    if at < 0 or colon < 0 or "/" in rest[:colon]:
        return url
    return f"{match.group(1)}://{rest[:colon]}:***{rest[at:]}"
