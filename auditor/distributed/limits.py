"""The per-address politeness limit shared by every worker of a vantage, in Redis.

Hand-written (no library offers it): a counting semaphore across machines whose slots are
*leases*. Each address of each vantage is one sorted set, ``auditor:slots:VANTAGE:ADDRESS``,
whose members are the leases held (a random token each) scored by when they expire, in the
Redis server's own clock (``TIME`` inside the scripts: the workers' clocks may disagree).
Taking a slot is one Lua script, atomic on the server: drop the expired leases, and add one
if fewer than ``per_address`` are left. Giving it back removes the token.

Why leases: a worker killed mid-probe (SIGKILL, a machine lost) never gives its slots back;
its leases expire and the slots come back by themselves. A slot is held for one connection
or request, which the target's deadline bounds (``ScanOptions.target_deadline``: the engine
cancels a target when it passes), so a lease of the deadline plus LEASE_MARGIN never expires
under a live holder.

Every Redis call has a timeout (CALL_TIMEOUT). If Redis cannot be reached (mid-scan too),
the limiter says so once through ``report`` and counts in this process from then on
(auditor.probes.limits.LocalAddressLimiter, which it always takes first anyway): failure is
data, the scan goes on, each worker polite on its own.
"""

from __future__ import annotations

import contextlib
import random
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio

from auditor.probes.limits import LocalAddressLimiter

# Seconds a lease outlives the target deadline (a slot is never held past it).
LEASE_MARGIN = 15.0
# Seconds for any one Redis call (connect included): a dead Redis costs a scan this, once.
CALL_TIMEOUT = 2.0
# Seconds between two attempts at a full address: short first, then backing off to the
# longest, with jitter so the workers waiting for one address do not ask in step.
WAIT_FIRST = 0.01
WAIT_LONGEST = 0.25

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
"""


def slot_key(vantage: str, address: str) -> str:
    return f"auditor:slots:{vantage}:{address}"


class RedisAddressLimiter:
    """``per_address`` slots per address for every process of ``vantage`` sharing ``url``.

    Built outside the event loop; its connection is made in the loop on first use and
    closed by :meth:`aclose`."""

    def __init__(
        self,
        url: str,
        vantage: str,
        per_address: int,
        *,
        lease: float,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.vantage = vantage
        self.per_address = per_address
        self.lease_ms = int(lease * 1000)
        self.local = LocalAddressLimiter(per_address)
        self.report = report
        self.down: str | None = None  # why Redis is no longer used, once it failed
        self._client: Any = None
        self._script: Any = None

    def slot(self, address: str) -> AbstractAsyncContextManager[object]:
        return self._slot(address)

    @asynccontextmanager
    async def _slot(self, address: str) -> AsyncIterator[object]:
        async with self.local.slot(address):
            token = await self._acquire(address) if self.down is None else None
            try:
                yield token
            finally:
                if token is not None:
                    with anyio.CancelScope(shield=True):
                        await self._release(address, token)

    async def _acquire(self, address: str) -> str | None:
        """A lease on one of the address's shared slots (its token), waiting while they are
        all held; None once Redis failed (this process's own count holds then)."""
        key = slot_key(self.vantage, address)
        token = secrets.token_hex(8)
        wait = WAIT_FIRST
        while True:
            try:
                got = await self._call(
                    lambda s: s(keys=[key], args=[self.per_address, self.lease_ms, token])
                )
            except anyio.get_cancelled_exc_class():
                # The reply may have been lost with the lease taken: give it back.
                with anyio.CancelScope(shield=True):
                    await self._release(address, token)
                raise
            except Exception as exc:
                self._fail(exc)
                return None
            if got == 1:
                return token
            await anyio.sleep(wait * (0.5 + random.random()))
            wait = min(WAIT_LONGEST, wait * 2)

    async def _release(self, address: str, token: str) -> None:
        if self.down is not None or self._client is None:
            return  # the lease expires by itself
        try:
            with anyio.fail_after(CALL_TIMEOUT):
                await self._client.zrem(slot_key(self.vantage, address), token)
        except Exception as exc:
            self._fail(exc)

    async def _call(self, run: Callable[[Any], Any]) -> Any:
        with anyio.fail_after(CALL_TIMEOUT):
            if self._client is None:
                import redis.asyncio

                self._client = redis.asyncio.Redis.from_url(
                    self.url,
                    socket_timeout=CALL_TIMEOUT,
                    socket_connect_timeout=CALL_TIMEOUT,
                )
                self._script = self._client.register_script(_ACQUIRE)
            return await run(self._script)

    def _fail(self, exc: BaseException) -> None:
        if self.down is not None:
            return
        text = str(exc) or type(exc).__name__
        self.down = f"{type(exc).__name__}: {text}"
        if self.report is not None:
            self.report(
                f"the shared per-address limit (Redis {_without_password(self.url)}) failed "
                f"({self.down}): this worker counts its own connections from now on"
            )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with anyio.move_on_after(CALL_TIMEOUT, shield=True):
                with contextlib.suppress(Exception):  # a connection that is gone already
                    await client.aclose()


def _without_password(url: str) -> str:
    """The URL to show: a password never goes into a message."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + '@' if user else ''}{host}"


__all__ = ["RedisAddressLimiter", "slot_key"]
