"""tests/integration: tests that start servers on loopback or run processes (no root).

Every test here carries the ``integration`` marker (``-m "not integration"`` leaves them out);
tests/unit/conftest.py keeps such tests from living in tests/unit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.integration)
