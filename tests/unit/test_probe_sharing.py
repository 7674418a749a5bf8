"""What probes share, made explicit: AddressSession (spare connections, the TLS handshake),
the per-address limiter behind its interface, and the TLS observation saying whose
handshake it describes. Pure asyncio: no sockets (tests/integration/test_probe_sharing.py
drives the same through real servers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import pytest

from auditor import serde
from auditor.obs.tls import HandshakeBy, TlsObservation
from auditor.options import ScanOptions
from auditor.probes import session as session_module
from auditor.probes.context import ProbeContext
from auditor.probes.limits import AddressLimiter, LocalAddressLimiter
from auditor.probes.session import AddressSession


class FakeStream:
    """Stands in for a parked connection: knows whether it was closed."""

    def __init__(self, alive: bool = True) -> None:
        self.alive = alive
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


def _session() -> AddressSession:
    # FakeStream.alive stands for the socket check (auditor.probes.sockets.idle_stream_alive)
    return AddressSession("www.example.vn", "192.0.2.1", alive=lambda s: bool(s.alive))


# ---------------------------------------------------------------------------------------
# spare connections


@pytest.mark.asyncio
async def test_a_spare_is_handed_out_once_per_port() -> None:
    s = _session()
    a, b = FakeStream(), FakeStream()
    assert s.park_spare(80, a)
    assert not s.park_spare(80, b)  # one per port: the caller closes the second one
    assert s.park_spare(443, b)
    assert s.take_spare(80) is a
    assert s.take_spare(80) is None  # taken once
    assert s.take_spare(8080) is None  # nothing parked there
    assert s.take_spare(443) is b
    await s.aclose()
    assert a.closed == 0 and b.closed == 0  # taken spares belong to their taker


@pytest.mark.asyncio
async def test_a_spare_the_peer_closed_is_not_handed_out_and_is_closed_later() -> None:
    s = _session()
    dead = FakeStream(alive=False)
    assert s.park_spare(80, dead)
    assert s.take_spare(80) is None  # checked for EOF before use
    assert dead.closed == 0  # closed with the session, not in the caller's hot path
    await s.aclose()
    assert dead.closed == 1


@pytest.mark.asyncio
async def test_a_spare_older_than_its_ttl_is_not_handed_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = _session()
    old = FakeStream()
    assert s.park_spare(443, old)
    monkeypatch.setattr(session_module, "SPARE_TTL", -1.0)  # any age is too old
    assert s.take_spare(443) is None
    await s.aclose()
    assert old.closed == 1


@pytest.mark.asyncio
async def test_closing_the_session_closes_unused_spares_even_when_cancelled() -> None:
    s = _session()
    a, b = FakeStream(), FakeStream()
    s.park_spare(80, a)
    s.park_spare(443, b)
    with anyio.CancelScope() as scope:
        scope.cancel()  # the target deadline passed: the close still runs (shielded)
        await s.aclose()
    assert a.closed == 1 and b.closed == 1
    assert s.closed
    assert s.take_spare(80) is None
    late = FakeStream()
    assert not s.park_spare(80, late)  # nothing is parked in a closed session


# ---------------------------------------------------------------------------------------
# the shared TLS handshake


@pytest.mark.asyncio
async def test_nothing_expected_means_no_wait() -> None:
    s = _session()
    with anyio.fail_after(1):
        assert await s.shared_handshake(443) is None


@pytest.mark.asyncio
async def test_the_handshake_is_keyed_by_service_port() -> None:
    s = _session()
    s.expect_handshake(443)
    s.expect_handshake(8443)
    s.offer_handshake(8443, "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")
    s.abandon_handshake(443)
    with anyio.fail_after(1):
        assert await s.shared_handshake(8443) == ("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")
        assert await s.shared_handshake(443) is None


@pytest.mark.asyncio
async def test_closing_the_session_releases_a_waiting_tls_probe() -> None:
    s = _session()
    s.expect_handshake(443)
    got: list[object] = []

    async def tls_probe() -> None:
        with anyio.fail_after(2):
            got.append(await s.shared_handshake(443))

    async with anyio.create_task_group() as tg:
        tg.start_soon(tls_probe)
        await anyio.sleep(0.01)
        assert got == []  # waits for the HTTP probe
        await s.aclose()  # the host is done (or its deadline passed)
    assert got == [None]
    s.expect_handshake(443)  # expecting in a closed session: nothing to wait for
    with anyio.fail_after(1):
        assert await s.shared_handshake(443) is None


@pytest.mark.asyncio
async def test_an_offer_after_the_address_is_done_is_ignored() -> None:
    s = _session()
    s.expect_handshake(443)
    s.forget_handshakes()
    s.offer_handshake(443, "TLSv1.3", "TLS_AES_128_GCM_SHA256")  # no error, nobody waits
    with anyio.fail_after(1):
        assert await s.shared_handshake(443) is None


# ---------------------------------------------------------------------------------------
# the per-address limiter


@pytest.mark.asyncio
async def test_local_limiter_bounds_each_address_on_its_own() -> None:
    limiter = LocalAddressLimiter(2)
    now = {"a": 0, "b": 0}
    peak = {"a": 0, "b": 0}

    async def use(address: str) -> None:
        async with limiter.slot(address):
            now[address] += 1
            peak[address] = max(peak[address], now[address])
            await anyio.sleep(0.01)
            now[address] -= 1

    async with anyio.create_task_group() as tg:
        for i in range(12):
            tg.start_soon(use, "a" if i % 3 else "b")
    assert peak == {"a": 2, "b": 2}


@pytest.mark.asyncio
async def test_local_limiter_gives_a_free_slot_without_a_scheduling_point() -> None:
    # fast_acquire: a free slot is taken without yielding to other tasks (the caller's I/O
    # follows at once; ~20 slots per host made the extra checkpoint show in profiles)
    limiter = LocalAddressLimiter(1)
    ran: list[str] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: _note(ran))
        async with limiter.slot("a"):
            assert ran == []  # the other task did not get to run
        await anyio.sleep(0)
    assert ran == ["other"]


async def _note(ran: list[str]) -> None:
    ran.append("other")


@pytest.mark.asyncio
async def test_local_limiter_slot_comes_back_after_cancellation() -> None:
    limiter = LocalAddressLimiter(1)
    with anyio.move_on_after(0.01):
        async with limiter.slot("a"):
            await anyio.sleep(10)
    with anyio.fail_after(1):  # would hang if the slot leaked
        async with limiter.slot("a"):
            pass


def test_local_limiter_needs_at_least_one_slot() -> None:
    with pytest.raises(ValueError):
        LocalAddressLimiter(0)


class RecordingLimiter:
    """Another AddressLimiter (as a shared, cross-process one would be)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def slot(self, address: str) -> AbstractAsyncContextManager[object]:
        self.asked.append(address)
        return self._slot()

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        yield


@pytest.mark.asyncio
async def test_the_context_takes_its_slots_from_the_limiter_it_was_given() -> None:
    recording = RecordingLimiter()
    limiter: AddressLimiter = recording  # satisfies the interface (checked by mypy)
    ctx = ProbeContext(ScanOptions(), limiter=limiter)
    async with ctx.address_slot("2001:db8::1"):
        pass
    assert recording.asked == ["2001:db8::1"]
    default = ProbeContext(ScanOptions(per_address=3))
    assert isinstance(default.limiter, LocalAddressLimiter)
    assert default.limiter.per_address == 3


# ---------------------------------------------------------------------------------------
# whose handshake a TLS observation describes


def test_handshake_by_is_stored_and_old_observations_load() -> None:
    t = TlsObservation("192.0.2.1", 443, "ok", sni="www.example.vn", handshake_by="http")
    again = serde.loads(serde.dumps(t), TlsObservation)
    assert again == t and again.handshake_by == HandshakeBy.HTTP
    # stored before the field existed: loads, and says it does not know
    old = '{"address": "192.0.2.1", "port": 443, "outcome": "ok", "handshake_version": "TLSv1.3"}'
    loaded = serde.loads(old, TlsObservation)
    assert loaded.handshake_version == "TLSv1.3" and loaded.handshake_by == HandshakeBy.NONE == ""
