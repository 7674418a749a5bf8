"""RawSocketStream (auditor/probes/sockets.py): the TLS probe's connection type behaves like an
anyio stream at EOF, after close, on a reset and under a timeout. Real sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import anyio
import pytest

from auditor.probes.sockets import RawSocketStream, classify_os_error, connect_raw


async def _server(behaviour: str) -> tuple[asyncio.Server, int]:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        data = await r.read(100)
        if behaviour == "echo":
            w.write(data.upper())
            await w.drain()
            w.close()
        elif behaviour == "reset":
            sock = w.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            w.transport.abort()
        elif behaviour == "silent":
            await asyncio.sleep(5)
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, int(server.sockets[0].getsockname()[1])


@pytest.mark.asyncio
async def test_exchange_then_eof_then_closed() -> None:
    server, port = await _server("echo")
    try:
        stream = await connect_raw("127.0.0.1", port)
        assert isinstance(stream, RawSocketStream)
        await stream.send(b"hello")
        assert await stream.receive() == b"HELLO"
        with pytest.raises(anyio.EndOfStream):
            await stream.receive()
        await stream.aclose()
        with pytest.raises(anyio.ClosedResourceError):
            await stream.receive()
        with pytest.raises(anyio.ClosedResourceError):
            await stream.send(b"x")
        await stream.aclose()  # twice is harmless
    finally:
        server.close()


@pytest.mark.asyncio
async def test_reset_is_an_os_error_classified_as_reset() -> None:
    server, port = await _server("reset")
    try:
        stream = await connect_raw("127.0.0.1", port)
        await stream.send(b"hello")
        with pytest.raises(OSError) as info:
            await stream.receive()
        assert classify_os_error(info.value)[0] == "reset"
        await stream.aclose()
    finally:
        server.close()


@pytest.mark.asyncio
async def test_timeout_cancels_a_pending_receive() -> None:
    server, port = await _server("silent")
    try:
        stream = await connect_raw("127.0.0.1", port)
        await stream.send(b"hello")
        with pytest.raises(TimeoutError):
            with anyio.fail_after(0.2):
                await stream.receive()
        # the cancelled read left no reader behind: the socket can be read again
        with anyio.move_on_after(0.1):
            await stream.receive()
        await stream.aclose()
    finally:
        server.close()


@pytest.mark.asyncio
async def test_refused_connect_is_an_os_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: the kernel answers RST
    with pytest.raises(OSError) as info:
        await connect_raw("127.0.0.1", port)
    assert classify_os_error(info.value)[0] == "refused"
