"""Hostile inventories and profiles fed to the real CLI process (tests/unit/test_fuzz_cli.py
holds the cases and the in-process half)."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.servers import run_auditor
from tests.unit.test_fuzz_cli import (
    BAD_INVENTORIES,
    BAD_PROFILES,
    GOOD_INVENTORY,
    ROOT,
    _assert_clear_error,
    _workdir,
    _write,
)


def _auditor(*args: str) -> subprocess.CompletedProcess[str]:
    return run_auditor(*args, env=dict(os.environ, PYTHONPATH=str(ROOT)))


@pytest.mark.parametrize(
    "case",
    [
        "binary garbage",
        "alias bomb (billion laughs)",
        "name longer than 253",
        "IDN: disallowed code point (emoji)",
        "duplicate agency key",
        "deep nesting",
    ],
)
def test_bad_inventory_process(case: str) -> None:
    suffix, content = BAD_INVENTORIES[case]
    with _workdir() as d:
        p = _write(d, suffix, content)
        for args in (
            ["inventory", "validate", str(p)],
            ["scan", str(p), "--db", str(d / "s.db"), "-q"],
        ):
            r = _auditor(*args)
            _assert_clear_error(r.returncode, r.stderr, p)


@pytest.mark.parametrize("case", ["binary garbage", "alias bomb", "unknown check id"])
def test_bad_profile_process(case: str) -> None:
    with _workdir() as d:
        p = _write(d, ".yaml", BAD_PROFILES[case], stem="profile")
        r = _auditor("scan", str(GOOD_INVENTORY), "--profile", str(p), "--db", str(d / "s.db"))
        _assert_clear_error(r.returncode, r.stderr, p)
        assert not (d / "s.db").exists()
