"""A closed stdout pipe ends the CLI quietly: a real process (the rest of the defaults, and the
store this uses, are tests/unit/test_cli_defaults.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.factories import full_registry
from tests.unit.test_cli_defaults import ROOT, db

__all__ = ["db", "full_registry"]  # fixtures, used by name


def _closed_pipe_run(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI with a stdout whose reader is already gone (``... | head -0``)."""
    r, w = os.pipe()
    os.close(r)  # every write to w now fails with EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "auditor", *args],
            stdout=w,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
    finally:
        os.close(w)
    return proc


def test_closed_stdout_pipe_ends_quietly(db: Path) -> None:
    for args in (["checks"], ["diff", "--db", str(db)], ["checks", "--json"]):
        proc = _closed_pipe_run(args)
        assert b"Traceback" not in proc.stderr, proc.stderr.decode()
        assert b"BrokenPipe" not in proc.stderr
        assert proc.returncode == 141, (args, proc.returncode, proc.stderr.decode())
