"""Session fixture `lab`: the whole lab, up once per test session.

Outside CI, without root, Linux or the Debian packages, lab tests skip with the reason.
With CI=true they must run: a missing prerequisite or a lab that cannot start is a failure.
Set AUDITOR_LAB_KEEP=1 to keep the lab's directory (configs, logs, scan output) afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .lab import Lab, missing_prerequisites, reap_stale_test_labs


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_lab() -> None:
    why = missing_prerequisites()
    if not why:
        return
    reason = "lab unavailable: " + "; ".join(why)
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    require_lab()
    reap_stale_test_labs()
    lab = Lab(f"t{os.getpid()}"[:11])
    try:
        lab.up()
    except Exception as e:  # a lab that cannot start is a bug, in CI and outside it
        pytest.fail(f"the lab failed to start: {e}", pytrace=False)
    try:
        yield lab
    finally:
        lab.down(keep_dir=os.environ.get("AUDITOR_LAB_KEEP") == "1")
