"""TLS 1.3 NewSessionTicket parsing and the ticket hand-over between the HTTP and 0-RTT
probes (auditor/probes/tls_tickets.py, AddressSession.offer_tickets/shared_tickets)."""

from __future__ import annotations

import anyio
import pytest

from auditor.probes.session import AddressSession
from auditor.probes.tls_tickets import TicketsSeen, _on_message, max_early_data, tickets_seen


def nst(extensions: bytes = b"", nonce: bytes = b"\x00", ticket: bytes = b"T" * 32) -> bytes:
    """A NewSessionTicket handshake message (RFC 8446 sec. 4.6.1), header included."""
    body = (
        (7200).to_bytes(4, "big")
        + b"\x01\x02\x03\x04"
        + bytes([len(nonce)])
        + nonce
        + len(ticket).to_bytes(2, "big")
        + ticket
        + len(extensions).to_bytes(2, "big")
        + extensions
    )
    return b"\x04" + len(body).to_bytes(3, "big") + body


def early_data(size: int) -> bytes:
    return b"\x00\x2a\x00\x04" + size.to_bytes(4, "big")  # extension 42, uint32


def test_a_ticket_without_early_data_allows_none() -> None:
    assert max_early_data(nst()) == 0


def test_the_early_data_extension_gives_the_allowance() -> None:
    assert max_early_data(nst(early_data(16384))) == 16384
    grease = b"\x0a\x0a\x00\x00"  # an unknown, empty extension before it is skipped
    assert max_early_data(nst(grease + early_data(1))) == 1


@pytest.mark.parametrize(
    "message",
    [
        b"",
        b"\x02\x00\x00\x00",  # a ServerHello, not a ticket
        nst()[:10],  # cut inside the nonce/ticket
        nst(b"\x00\x2a\x00\x02\x00\x01"),  # early_data that is not a uint32
        nst(b"\x00\x2a\x00\x08" + b"\x00" * 4),  # an extension overrunning the block
    ],
)
def test_hostile_tickets_do_not_parse(message: bytes) -> None:
    with pytest.raises(ValueError):
        max_early_data(message)


class _Owner:  # stands for the ssl.SSLObject the callback is given
    pass


def test_the_callback_counts_tls13_tickets_of_its_connection_only() -> None:
    a, b = _Owner(), _Owner()
    _on_message(a, "read", 0x0304, 22, 4, nst())
    _on_message(a, "read", 0x0304, 22, 4, nst(early_data(4096)))
    _on_message(a, "write", 0x0304, 22, 4, nst(early_data(9)))  # ours, not the server's
    _on_message(a, "read", 0x0303, 256, 22, b"\x16\x03\x03\x00\x10")  # a record header
    _on_message(b, "read", 0x0303, 22, 4, nst(early_data(7)))  # a TLS 1.2 ticket
    assert tickets_seen(a) == TicketsSeen(2, 4096)
    assert tickets_seen(b) is None


def test_a_ticket_that_does_not_parse_leaves_the_question_open() -> None:
    c = _Owner()
    _on_message(c, "read", 0x0304, 22, 4, nst())
    _on_message(c, "read", 0x0304, 22, 4, b"\x04\x00\x00\x02\x00")
    assert tickets_seen(c) is None  # the 0-RTT probe asks the server itself


@pytest.mark.asyncio
async def test_the_offered_handshakes_tickets_reach_the_waiter() -> None:
    s = AddressSession("www.example.gov.vn", "2001:db8::1")
    s.expect_handshake(443)
    got: list[TicketsSeen | None] = []

    async def waiter() -> None:
        got.append(await s.shared_tickets(443))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(0)
        assert s.offer_handshake(443, "TLSv1.3", "TLS_AES_128_GCM_SHA256")
        assert not s.offer_handshake(443, "TLSv1.2", "x")  # the first one counts
        await anyio.sleep(0)
        assert got == []  # still waiting for the tickets, not only the handshake
        s.offer_tickets(443, TicketsSeen(2, 0))
        s.offer_tickets(443, TicketsSeen(1, 99))  # the first word counts
    assert got == [TicketsSeen(2, 0)]


@pytest.mark.asyncio
async def test_a_waiter_is_released_without_tickets() -> None:
    s = AddressSession("www.example.gov.vn", "2001:db8::1")
    assert await s.shared_tickets(443) is None  # nothing expected: no wait
    s.expect_handshake(443)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(s.shared_tickets, 443)
            await anyio.sleep(0)
            s.abandon_handshake(443)  # the HTTP probe ended without a word
    s2 = AddressSession("www.example.gov.vn", "2001:db8::2")
    s2.expect_handshake(443)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(s2.shared_tickets, 443)
            await anyio.sleep(0)
            await s2.aclose()  # the host is done
    assert await s2.shared_tickets(443) is None
