"""ProbeContext limits: the per-address connection slots hold under contention and
cancellation (the politeness promise of the design: government firewalls drop bursts)."""

from __future__ import annotations

import anyio
import pytest

from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext


@pytest.mark.asyncio
async def test_per_address_slots_bound_concurrency_per_address_only() -> None:
    ctx = ProbeContext(ScanOptions(per_address=2))
    now: dict[str, int] = {"a": 0, "b": 0}
    peak: dict[str, int] = {"a": 0, "b": 0}

    async def use(address: str) -> None:
        async with ctx.address_slot(address):
            now[address] += 1
            peak[address] = max(peak[address], now[address])
            await anyio.sleep(0.01)
            now[address] -= 1

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(use, "a" if i % 2 else "b")
    assert peak == {"a": 2, "b": 2}


@pytest.mark.asyncio
async def test_a_cancelled_holder_gives_its_slot_back() -> None:
    ctx = ProbeContext(ScanOptions(per_address=1))
    with anyio.move_on_after(0.05):
        async with ctx.address_slot("a"):
            await anyio.sleep(10)
    with anyio.fail_after(1):  # would hang if the slot leaked
        async with ctx.address_slot("a"):
            pass
