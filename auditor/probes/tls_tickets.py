"""The TLS 1.3 session tickets an HTTPS connection of the HTTP probe received (issue 19).

Why: tls.zero_rtt asks first whether the server's tickets allow early data at all
(``max_early_data_size`` in the ticket's early_data extension, RFC 8446 sec. 4.6.1). The
HTTP probe's TLS 1.3 connection to the same address with the same SNI receives those
tickets anyway, so reading them there spares the 0-RTT probe its first connection, a whole
OpenSSL handshake, on every server that allows no early data (nearly all): issue #19's CPU
and politeness budget (bench/README.md). Only when a ticket allows early data does the
0-RTT probe open its own connections (it needs a session it can resume).

How: Python's ``ssl`` has no API for the tickets' contents. OpenSSL's message callback
(``SSL_CTX_set_msg_callback``), which CPython exposes on ``_ssl._SSLContext`` as the
private ``_msg_callback`` (the one ``ssl.SSLContext._msg_callback`` wraps, since 3.8),
hands over each handshake message after decryption, NewSessionTicket included. Where the
attribute is missing (another Python), nothing is recorded and the 0-RTT probe makes its
first connection as before: the fallback is the measured path of the lab tests, so the
optimisation can only save a connection, never change a verdict.

The callback is called for every record of every connection made with a watched context:
it returns at its first comparison for all but NewSessionTicket messages and never raises
(an exception there would surface in the connection's next read).
"""

from __future__ import annotations

import ssl
import weakref
from dataclasses import dataclass
from typing import Any

_HANDSHAKE = 22  # content type (RFC 8446 sec. 5.1)
_NEW_SESSION_TICKET = 4  # handshake type (RFC 8446 sec. 4)
_TLS13 = 0x0304
_EXT_EARLY_DATA = 42  # RFC 8446 sec. 4.2.10

# SSLObject -> [tickets, largest max_early_data]; gone with the connection
_SEEN: weakref.WeakKeyDictionary[Any, list[int]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class TicketsSeen:
    """TLS 1.3 NewSessionTicket messages one connection received, and the largest early
    data allowance among them (0: none allows early data)."""

    count: int
    max_early_data: int


def max_early_data(message: bytes) -> int:
    """``max_early_data_size`` of a NewSessionTicket handshake message (with its 4-byte
    header), 0 without the early_data extension; ValueError when it does not parse."""
    if len(message) < 4 or message[0] != _NEW_SESSION_TICKET:
        raise ValueError("not a NewSessionTicket")
    body = message[4 : 4 + int.from_bytes(message[1:4], "big")]
    at = 8  # ticket_lifetime (4), ticket_age_add (4)
    if len(body) < at + 1:
        raise ValueError("short NewSessionTicket")
    at += 1 + body[at]  # ticket_nonce<0..255>
    if len(body) < at + 2:
        raise ValueError("short NewSessionTicket")
    at += 2 + int.from_bytes(body[at : at + 2], "big")  # ticket<1..2^16-1>
    if len(body) < at + 2:
        raise ValueError("short NewSessionTicket")
    end = at + 2 + int.from_bytes(body[at : at + 2], "big")  # extensions<0..2^16-2>
    if end > len(body):
        raise ValueError("NewSessionTicket extensions overrun")
    at += 2
    while at + 4 <= end:
        kind = int.from_bytes(body[at : at + 2], "big")
        size = int.from_bytes(body[at + 2 : at + 4], "big")
        data = body[at + 4 : at + 4 + size]
        if at + 4 + size > end:
            raise ValueError("NewSessionTicket extension overruns")
        if kind == _EXT_EARLY_DATA:
            if size != 4:
                raise ValueError("early_data extension is not a uint32")
            return int.from_bytes(data, "big")
        at += 4 + size
    return 0


def _on_message(
    conn: Any, direction: str, version: int, content_type: int, msg_type: int, data: bytes
) -> None:
    if msg_type != _NEW_SESSION_TICKET or content_type != _HANDSHAKE or version != _TLS13:
        return
    if direction != "read":
        return
    try:
        allowed = max_early_data(data)
    except ValueError:
        allowed = -1  # a ticket that does not parse: the 0-RTT probe decides itself
    except Exception:  # pragma: no cover - never raise into OpenSSL's read
        return
    try:
        entry = _SEEN.setdefault(conn, [0, 0])
    except TypeError:  # pragma: no cover - an owner that takes no weak reference
        return
    entry[0] += 1
    entry[1] = allowed if allowed < 0 or entry[1] < 0 else max(entry[1], allowed)


def watch_tickets(ctx: ssl.SSLContext) -> bool:
    """Record the TLS 1.3 tickets of ``ctx``'s connections; False where Python offers no
    message callback (nothing is recorded then)."""
    import _ssl

    attr = getattr(getattr(_ssl, "_SSLContext", None), "_msg_callback", None)
    if attr is None or not hasattr(attr, "__set__"):
        return False
    try:
        attr.__set__(ctx, _on_message)
    except (AttributeError, TypeError):
        return False
    return True


def tickets_seen(sslobj: Any) -> TicketsSeen | None:
    """What the connection of ``sslobj`` received so far: None when no TLS 1.3 ticket
    came (not watched, not TLS 1.3, or not yet), or one did not parse."""
    try:
        entry = _SEEN.get(sslobj)
    except TypeError:
        return None
    if entry is None or entry[0] == 0 or entry[1] < 0:
        return None
    return TicketsSeen(entry[0], entry[1])


__all__ = ["TicketsSeen", "max_early_data", "tickets_seen", "watch_tickets"]
