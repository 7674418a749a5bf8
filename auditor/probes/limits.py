"""The per-address politeness limit, behind an interface.

Government firewalls drop bursts, so the scanner never holds more than
``ScanOptions.per_address`` connections to one remote address at a time. Every probe takes
a slot (``ProbeContext.address_slot``) for each connection or request. Today the slots are
counted in this process (:class:`LocalAddressLimiter`); a scan spread over several processes
or machines needs the count to hold across them, which another :class:`AddressLimiter`
(backed by a shared store) provides without the probes changing.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

import anyio


class AddressLimiter(Protocol):
    """Hands out per-address slots: ``async with limiter.slot(address): ...`` holds one
    while talking to ``address``; it is given back on exit, also on cancellation."""

    def slot(self, address: str) -> AbstractAsyncContextManager[object]: ...


class LocalAddressLimiter:
    """``per_address`` slots per address, counted in this process (one semaphore each)."""

    def __init__(self, per_address: int) -> None:
        if per_address < 1:
            raise ValueError(f"per_address must be at least 1, not {per_address}")
        self.per_address = per_address
        self._semaphores: dict[str, anyio.Semaphore] = {}

    def slot(self, address: str) -> anyio.Semaphore:
        semaphore = self._semaphores.get(address)
        if semaphore is None:
            # fast_acquire: no scheduling checkpoint when a slot is free (the caller does
            # I/O right away); ~20 slots are taken per host, so the checkpoint showed.
            semaphore = anyio.Semaphore(self.per_address, fast_acquire=True)
            self._semaphores[address] = semaphore
        return semaphore


__all__ = ["AddressLimiter", "LocalAddressLimiter"]
