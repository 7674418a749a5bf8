"""ProbeContext limits: the per-address connection slots hold under contention and
cancellation (the politeness promise of the design: government firewalls drop bursts)."""

from __future__ import annotations

import anyio
import pytest

from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.session import AddressSession


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


@pytest.mark.asyncio
async def test_shared_handshake_rendezvous() -> None:
    # one session per (host, address): the SNI is the session's host
    sessions = {a: AddressSession("h", a) for a in ("a", "b", "c")}
    other_sni = AddressSession("other-sni", "a")
    # nothing expected: the TLS probe makes its own handshake at once
    assert await sessions["a"].shared_handshake(443) is None

    sessions["a"].expect_handshake(443)
    other_sni.expect_handshake(443)
    got: list[object] = []

    async def tls_probe() -> None:
        got.append(await sessions["a"].shared_handshake(443))

    async with anyio.create_task_group() as tg:
        tg.start_soon(tls_probe)
        await anyio.sleep(0.01)
        assert got == []  # waits for the HTTP probe
        other_sni.offer_handshake(443, "TLSv1.2", "X")  # not this one
        sessions["a"].offer_handshake(443, "TLSv1.3", "TLS_AES_128_GCM_SHA256")
        sessions["a"].offer_handshake(443, "TLSv1.2", "late")  # the first one counts
    assert got == [("TLSv1.3", "TLS_AES_128_GCM_SHA256")]

    # the HTTP probe ends without a completed handshake: the TLS probe is released
    sessions["b"].expect_handshake(443)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: _collect(sessions["b"], got))
        await anyio.sleep(0.01)
        sessions["b"].abandon_handshake(443)
    assert got[-1] is None

    # forgotten (the address is done): no waiter hangs, and a later ask makes its own
    sessions["c"].expect_handshake(443)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: _collect(sessions["c"], got))
        await anyio.sleep(0.01)
        sessions["c"].forget_handshakes()
    assert got[-1] is None
    assert await sessions["c"].shared_handshake(443) is None


async def _collect(session: AddressSession, out: list[object]) -> None:
    with anyio.fail_after(2):
        out.append(await session.shared_handshake(443))
