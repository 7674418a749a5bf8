"""ICMPv6 echo to ::1 with raw-socket privilege; without it, skipped, not failed (a real process
without CAP_NET_RAW). Parsing of answers and the guard are tests/unit/test_probes_icmp.py."""

from __future__ import annotations

import socket

import pytest

from auditor.obs.core import Outcome
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.icmp import ping
from tests.support.servers import has_ipv6_loopback


def _can_raw() -> bool:
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6).close()
    except OSError:
        return False
    return True


@pytest.mark.asyncio
@pytest.mark.skipif(not _can_raw(), reason="no raw-socket privilege (needs root/CAP_NET_RAW)")
@pytest.mark.skipif(not has_ipv6_loopback(), reason="no ::1")
async def test_ping_loopback() -> None:
    ctx = ProbeContext(ScanOptions(timeout=2, allow_nets=("::1/128",)))
    obs = await ping(ctx, "::1")
    assert obs.outcome == Outcome.OK and obs.icmp_type == 129 and obs.rtt_ms is not None
    assert ctx.stats["icmp_echo"] == 1
    assert await ping(ctx, "::1") is obs  # once per scan


_NO_RAW_SCRIPT = """
import anyio
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.icmp import ping

async def main():
    obs = await ping(ProbeContext(ScanOptions(timeout=1, allow_nets=("::1/128",))), "::1")
    print(obs.outcome, obs.detail)

anyio.run(main)
"""


def test_no_privilege_is_skipped_not_failed() -> None:
    """Without CAP_NET_RAW the probe says so (skipped), never fails: run in a child process
    whose capability bounding set lacks net_raw (works as root too, so it runs in CI)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    if _can_raw():
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv (util-linux) is needed to drop CAP_NET_RAW")
        cmd = [setpriv, "--bounding-set", "-net_raw", sys.executable, "-c", _NO_RAW_SCRIPT]
    else:
        cmd = [sys.executable, "-c", _NO_RAW_SCRIPT]
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    outcome, _, detail = result.stdout.strip().partition(" ")
    assert outcome == Outcome.SKIPPED and "privilege" in detail
