"""The SMTP probe's pure parts. The probe against SMTP-like servers on loopback is
tests/integration/test_probes_smtp.py.
"""

from __future__ import annotations

import pytest

from auditor.obs.core import Outcome
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.smtp import probe_smtp


@pytest.mark.asyncio
async def test_guard_blocks_without_allow_net() -> None:
    p = await probe_smtp(ProbeContext(ScanOptions(timeout=1)), "mx", "127.0.0.1", 25)
    assert p.outcome == Outcome.BLOCKED
