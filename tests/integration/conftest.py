"""tests/integration: tests that start servers on loopback or run processes (no root).

Every test here carries the ``integration`` marker (``-m "not integration"`` leaves them out);
tests/unit/conftest.py keeps such tests from living in tests/unit.

Store backends: every backend in BACKENDS runs the whole store suite
(test_store_backends.py). PostgreSQL: one throwaway cluster of Debian's server per test
session (``postgresql_server``: its own data directory and port on 127.0.0.1, stopped at the
end, also on failure) and a new database per test, created with a Vietnamese ICU locale so
that an order which depended on the database's collation would show. Without the server
binaries the PostgreSQL cases skip with the reason; with CI=true they fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor.store import Store, open_store, store_url
from tests.support.servers import PostgresServer, in_ci, postgresql_missing, run_postgresql

_HERE = Path(__file__).parent

BACKENDS = ["sqlite", "postgresql"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)


@dataclass(frozen=True)
class Backend:
    name: str
    url: str  # a new, empty store of its own for each test

    def open(self, *, create: bool = True) -> Store:
        return open_store(self.url, create=create)


def require_postgresql() -> None:
    """Skip (fail with CI=true) when no PostgreSQL server can be started here."""
    why = postgresql_missing()
    if why is None:
        return
    if in_ci():
        pytest.fail(f"CI=true but PostgreSQL is unavailable: {why}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {why}")


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PostgresServer]:
    require_postgresql()
    servers = run_postgresql()
    try:
        server = next(servers)
    except Exception as e:  # a server that cannot start is a failure, in CI and outside it
        pytest.fail(f"PostgreSQL failed to start: {e}", pytrace=False)
    yield server
    next(servers, None)  # stop it and remove its directory


@pytest.fixture
def postgresql_url(postgresql_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database of its own; dropped afterwards."""
    name = postgresql_server.create_database()
    yield postgresql_server.url(name)
    postgresql_server.drop_database(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    name = str(request.param)
    if name == "sqlite":
        return Backend(name, store_url(tmp_path / "store.db"))
    if name == "postgresql":
        return Backend(name, str(request.getfixturevalue("postgresql_url")))
    raise AssertionError(f"no fixture for the {name} backend")


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    with backend.open() as opened:
        yield opened
