"""tests/integration: tests that start servers on loopback or run processes (no root).

Every test here carries the ``integration`` marker (``-m "not integration"`` leaves them out);
tests/unit/conftest.py keeps such tests from living in tests/unit.

Store backends: every backend in BACKENDS runs the whole store suite
(test_store_backends.py). The PostgreSQL backend joins in the next issue: a server the
fixture starts on loopback (a throwaway cluster in tmp_path), its URL from here, and nothing
else in the suite changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor.store import Store, open_store, store_url

_HERE = Path(__file__).parent

BACKENDS = ["sqlite"]


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


def _backend(name: str, tmp_path: Path) -> Backend:
    if name == "sqlite":
        return Backend(name, store_url(tmp_path / "store.db"))
    raise AssertionError(f"no fixture for the {name} backend")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return _backend(str(request.param), tmp_path)


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    with backend.open() as opened:
        yield opened
