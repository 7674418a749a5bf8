"""The probe's lean HTTP/1.1 client (auditor/probes/http1.py) and its connection reuse:
keep-alive, the reachability probe's spare connection, and the retry when a kept
connection turns out dead. Real asyncio servers on 127.0.0.1; each test counts the
connections the server accepted and records the request lines it got.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from auditor.obs.core import Outcome, TcpProbe
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.http import _Fetcher, probe_http
from auditor.probes.session import AddressSession
from auditor.probes.tcp import tcp_connect

HOST = "keep.test"


def _ctx(**kw: object) -> ProbeContext:
    return ProbeContext(ScanOptions(allow_nets=("127.0.0.0/8",), timeout=2.0, **kw))  # type: ignore[arg-type]


@dataclass
class Server:
    """Counts accepted connections and records request lines; ``policy(n, i)`` says what
    connection n (0-based) does with its i-th request: "answer", "answer-close" (answer
    and close), "drop" (close without answering), or "close-at-once" (before reading)."""

    policy: Callable[[int, int], str]
    body: bytes = b"<html>hello</html>"
    location: str = ""
    accepted: int = 0
    requests: list[str] = field(default_factory=list)
    eofs: int = 0
    server: asyncio.Server | None = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        n = self.accepted
        self.accepted += 1
        i = 0
        try:
            if self.policy(n, 0) == "close-at-once":
                return
            while True:
                try:
                    head = await r.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    self.eofs += 1
                    return
                self.requests.append(head.split(b"\r\n", 1)[0].decode())
                action = self.policy(n, i)
                if action == "drop":
                    return
                if self.location and head.startswith(b"GET / "):
                    w.write(
                        b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n"
                        % self.location.encode()
                    )
                else:
                    w.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"
                        % len(self.body)
                        + self.body
                    )
                await w.drain()
                if action == "answer-close":
                    return
                i += 1
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.writers.append(w)
            w.close()

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def _always(action: str) -> Callable[[int, int], str]:
    return lambda n, i: action


async def _get_twice(ctx: ProbeContext, port: int, gap: float = 0.0) -> list[object]:
    fetcher = _Fetcher(ctx, HOST, "127.0.0.1")
    try:
        first = await fetcher.request(f"http://{HOST}:{port}/a", 4096)
        await asyncio.sleep(gap)
        second = await fetcher.request(f"http://{HOST}:{port}/b", 4096)
    finally:
        await fetcher.aclose()
    return [first, second]


@pytest.mark.asyncio
async def test_keep_alive_reuses_one_connection() -> None:
    srv = Server(_always("answer"))
    async with srv as port:
        ctx = _ctx()
        results = await _get_twice(ctx, port)
    assert [r.response.status for r in results] == [200, 200]  # type: ignore[attr-defined]
    assert srv.accepted == 1 and len(srv.requests) == 2
    assert ctx.stats["connections"] == 1 and ctx.stats["http_requests"] == 2


@pytest.mark.asyncio
async def test_connection_closed_by_the_server_is_not_reused() -> None:
    srv = Server(_always("answer-close"))  # keep-alive not refused, yet closed after
    async with srv as port:
        results = await _get_twice(_ctx(), port, gap=0.05)
    assert [r.response.status for r in results] == [200, 200]  # type: ignore[attr-defined]
    assert srv.accepted == 2


@pytest.mark.asyncio
async def test_kept_connection_dying_on_the_next_request_is_retried_once() -> None:
    # The race a keep-alive timeout causes: the server drops the connection when the
    # second request arrives, without answering. A GET is idempotent: once more, new.
    srv = Server(lambda n, i: "drop" if (n, i) == (0, 1) else "answer")
    async with srv as port:
        results = await _get_twice(_ctx(), port)
    assert [r.response.status for r in results] == [200, 200]  # type: ignore[attr-defined]
    assert srv.accepted == 2
    assert srv.requests == ["GET /a HTTP/1.1", "GET /b HTTP/1.1", "GET /b HTTP/1.1"]


@pytest.mark.asyncio
async def test_a_new_connection_that_dies_is_reported_not_retried() -> None:
    srv = Server(_always("drop"))
    async with srv as port:
        ctx = _ctx()
        fetcher = _Fetcher(ctx, HOST, "127.0.0.1")
        res = await fetcher.request(f"http://{HOST}:{port}/", 4096)
        await fetcher.aclose()
    assert res.response is None and res.outcome == Outcome.RESET
    assert srv.accepted == 1


@pytest.mark.asyncio
async def test_reachability_connection_is_handed_to_the_http_probe() -> None:
    srv = Server(_always("answer"))
    async with srv as port:
        ctx = _ctx()
        session = AddressSession(HOST, "127.0.0.1")
        tcp = await tcp_connect(ctx, "127.0.0.1", port, session=session)
        assert tcp.open
        obs = await probe_http(ctx, HOST, "127.0.0.1", tcp, None, session=session)
        await session.aclose()
    assert obs.http is not None and [h.status for h in obs.http.hops] == [200]
    assert srv.accepted == 1  # the probe's connection carried the request
    assert ctx.stats["connections"] == 1


@pytest.mark.asyncio
async def test_a_spare_closed_by_the_server_is_replaced() -> None:
    # Servers close idle connections (here: at once). The HTTP probe sees it and
    # connects anew instead of reporting a reset.
    srv = Server(lambda n, i: "close-at-once" if n == 0 else "answer")
    async with srv as port:
        ctx = _ctx()
        session = AddressSession(HOST, "127.0.0.1")
        tcp = await tcp_connect(ctx, "127.0.0.1", port, session=session)
        await asyncio.sleep(0.05)
        obs = await probe_http(ctx, HOST, "127.0.0.1", tcp, None, session=session)
        await session.aclose()
    assert obs.http is not None and obs.http.outcome == Outcome.OK
    assert [h.status for h in obs.http.hops] == [200]
    assert srv.accepted == 2


@pytest.mark.asyncio
async def test_unused_spares_are_closed_with_their_host() -> None:
    srv = Server(_always("answer"))
    async with srv as port:
        ctx = _ctx()
        session = AddressSession(HOST, "127.0.0.1")
        await tcp_connect(ctx, "127.0.0.1", port, session=session)
        await session.aclose()
        for _ in range(50):
            if srv.eofs:
                break
            await asyncio.sleep(0.01)
        assert session.take_spare(port) is None
    assert srv.eofs == 1 and srv.requests == []


@pytest.mark.asyncio
async def test_a_stale_spare_is_not_used() -> None:
    from auditor.probes import session as context

    srv = Server(_always("answer"))
    async with srv as port:
        ctx = _ctx()
        session = AddressSession(HOST, "127.0.0.1")
        await tcp_connect(ctx, "127.0.0.1", port, session=session)
        ttl = context.SPARE_TTL
        context.SPARE_TTL = 0.0  # as if the HTTP probe came much later
        try:
            await asyncio.sleep(0.01)
            assert session.take_spare(port) is None
        finally:
            context.SPARE_TTL = ttl
        await session.aclose()


@pytest.mark.asyncio
async def test_redirect_target_is_percent_encoded() -> None:
    srv = Server(_always("answer"), location="/tin tức/a b?q=x y")
    async with srv as port:
        ctx = _ctx()
        obs = await probe_http(ctx, HOST, "127.0.0.1", TcpProbe("127.0.0.1", port, "open"), None)
    assert obs.http is not None and [h.status for h in obs.http.hops] == [302, 200]
    assert srv.requests[1] == "GET /tin%20t%E1%BB%A9c/a%20b?q=x%20y HTTP/1.1"  # UTF-8 bytes
