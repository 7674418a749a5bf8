"""ICMPv6 echo: parsing of answers and the guard. Pinging ::1 (raw sockets, and a process
without the privilege) is tests/integration/test_probes_icmp.py.
"""

from __future__ import annotations

import ipaddress
import struct

import pytest

from auditor.obs.core import Outcome
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.icmp import _match, _observation, ping


@pytest.mark.asyncio
async def test_guard_blocks() -> None:
    obs = await ping(ProbeContext(ScanOptions(timeout=1)), "::1")
    assert obs.outcome == Outcome.BLOCKED


TARGET = ipaddress.IPv6Address("2001:db8::80")


def test_match_echo_reply_only_ours() -> None:
    reply = struct.pack("!BBHHH", 129, 0, 0, 0x1234, 1) + b"payload"
    assert _match(reply, "2001:db8::80", TARGET, 0x1234, 1) == (129, 0)
    assert _match(reply, "2001:db8::81", TARGET, 0x1234, 1) is None  # another host
    assert _match(reply, "2001:db8::80", TARGET, 0x9999, 1) is None  # another ping
    assert _match(b"\x81", "2001:db8::80", TARGET, 0x1234, 1) is None  # truncated


def test_match_destination_unreachable_carrying_our_echo() -> None:
    inner_ip = bytes(8) + ipaddress.IPv6Address("2001:db8::2").packed + TARGET.packed
    inner_echo = struct.pack("!BBHHH", 128, 0, 0, 0x1234, 1)
    unreach = struct.pack("!BBHI", 1, 3, 0, 0) + inner_ip + inner_echo
    seen = _match(unreach, "2001:db8::1", TARGET, 0x1234, 1)
    assert seen == (1, 3)
    obs = _observation("2001:db8::80", seen, 3.0)
    assert obs.outcome == Outcome.UNREACHABLE and "address unreachable" in obs.detail
