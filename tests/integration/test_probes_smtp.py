"""SMTP probe against small SMTP-like servers the test starts on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import anyio
import pytest
import pytest_asyncio

from auditor.obs.core import Outcome
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.smtp import probe_smtp

ALLOW = ("127.0.0.0/8", "::1/128")


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def ctx(timeout: float = 1.0) -> ProbeContext:
    return ProbeContext(ScanOptions(timeout=timeout, allow_nets=ALLOW))


async def esmtp(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    greeting: bytes = b"220-mx.example.vn ESMTP\r\n220 welcome\r\n",
    starttls: bool = True,
) -> None:
    writer.write(greeting)
    await writer.drain()
    while line := await reader.readline():
        verb = line.split(b" ", 1)[0].strip().upper()
        if verb == b"EHLO":
            ext = b"250-mx.example.vn\r\n250-PIPELINING\r\n"
            ext += b"250-STARTTLS\r\n250 8BITMIME\r\n" if starttls else b"250 8BITMIME\r\n"
            writer.write(ext)
        elif verb == b"QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            break
        else:
            writer.write(b"502 no\r\n")
        await writer.drain()
    writer.close()


@dataclass
class Server:
    port: int
    active: int = 0
    peak: int = 0
    accepted: int = 0


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler, hosts: tuple[str, ...] = ("127.0.0.1",)) -> Server:
        state = Server(0)

        async def wrapped(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            state.accepted += 1
            state.active += 1
            state.peak = max(state.peak, state.active)
            try:
                await handler(r, w)
            finally:
                state.active -= 1

        first = await asyncio.start_server(wrapped, hosts[0], 0)
        servers.append(first)
        state.port = first.sockets[0].getsockname()[1]
        for h in hosts[1:]:
            servers.append(await asyncio.start_server(wrapped, h, state.port))
        return state

    yield start
    for s in servers:
        s.close()


@pytest.mark.asyncio
async def test_starttls_offered(serve: Callable[..., Awaitable[Server]]) -> None:
    srv = await serve(esmtp)
    p = await probe_smtp(ctx(), "mx.example.vn", "127.0.0.1", srv.port)
    assert p.outcome == Outcome.OK and p.greeting_code == 220
    assert p.ehlo_ok is True and p.starttls is True
    assert p.banner == "mx.example.vn ESMTP"


@pytest.mark.asyncio
async def test_no_starttls(serve: Callable[..., Awaitable[Server]]) -> None:
    async def plain(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await esmtp(r, w, starttls=False)

    srv = await serve(plain)
    p = await probe_smtp(ctx(), "mx.example.vn", "127.0.0.1", srv.port)
    assert p.greeting_code == 220 and p.starttls is False


@pytest.mark.asyncio
async def test_554_greeting_is_recorded(serve: Callable[..., Awaitable[Server]]) -> None:
    async def busy(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await esmtp(r, w, greeting=b"554 go away\r\n")

    srv = await serve(busy)
    p = await probe_smtp(ctx(), "mx.example.vn", "127.0.0.1", srv.port)
    assert p.outcome == Outcome.PROTOCOL_ERROR and p.greeting_code == 554


@pytest.mark.asyncio
async def test_garbage_and_huge_lines(serve: Callable[..., Awaitable[Server]]) -> None:
    async def garbage(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await w.drain()
        w.close()

    async def huge(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.write(b"220 " + b"x" * 100_000 + b"\r\n")
        await w.drain()
        await asyncio.sleep(1)
        w.close()

    g = await serve(garbage)
    assert (await probe_smtp(ctx(), "a", "127.0.0.1", g.port)).outcome == Outcome.PROTOCOL_ERROR
    h = await serve(huge)
    assert (await probe_smtp(ctx(), "b", "127.0.0.1", h.port)).outcome == Outcome.TOO_LARGE


@pytest.mark.asyncio
async def test_silent_server_times_out_refused_port_is_refused(
    serve: Callable[..., Awaitable[Server]],
) -> None:
    async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        w.close()

    srv = await serve(silent)
    p = await probe_smtp(ctx(timeout=0.2), "mx.example.vn", "127.0.0.1", srv.port)
    assert p.outcome == Outcome.TIMEOUT and p.greeting_code is None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    p = await probe_smtp(ctx(), "mx.example.vn", "127.0.0.1", closed)
    assert p.outcome == Outcome.REFUSED


@pytest.mark.asyncio
async def test_one_connection_at_a_time_per_mx(serve: Callable[..., Awaitable[Server]]) -> None:
    async def slow(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)
        await esmtp(r, w)

    srv = await serve(slow, ("127.0.0.1", "127.0.0.2"))
    c = ctx()
    results = []

    async def one(address: str) -> None:
        results.append(await probe_smtp(c, "mx.example.vn", address, srv.port))

    async with anyio.create_task_group() as tg:
        for address in ("127.0.0.1", "127.0.0.2", "127.0.0.1"):
            tg.start_soon(one, address)
    assert all(r.starttls for r in results)
    assert srv.peak == 1  # the two addresses of one MX were never talked to at once
    assert srv.accepted == 2  # and each address once per scan
