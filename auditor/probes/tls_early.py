"""TLS 1.3 early data (0-RTT) on one address (tls.zero_rtt; issue 19), by OpenSSL (ctypes).

Method, as Internet.nl's zero_rtt subtest: complete a TLS 1.3 handshake and read the
server's NewSessionTicket (no request is sent on it); if the ticket advertises
``max_early_data_size`` (RFC 8446 sec. 4.6.1), resume with it and send the same GET as
early data. OpenSSL's ``SSL_get_early_data_status`` says whether the server accepted it
(its EncryptedExtensions carry early_data, RFC 8446 sec. 4.2.10); an early request the
server then answers with anything but 425 Too Early (RFC 8470 sec. 5.2) is replayable.

Why a library, and why this way: early data needs a completed TLS 1.3 handshake, the
ticket from it and a PSK resumption with the binder and the early traffic keys derived
from it: a whole TLS 1.3 client, too big to hand-build next to auditor/probes/tls_hello.py.
Python's ``ssl`` cannot send early data. pyOpenSSL (used for renegotiation) has no API for
it; the cryptography bindings under it (``OpenSSL._util.lib``) expose
``SSL_write_early_data`` and ``SSL_SESSION_get_max_early_data`` but not
``SSL_get_early_data_status``, so acceptance would have to be dug out of the
EncryptedExtensions through a message callback. The system OpenSSL (``libssl.so.3``, the
one Python's ``ssl`` links) has the whole public early-data API, so it is called through
``ctypes`` (public, stable functions only, declared in ``_SIGNATURES``). Without it the
check reads not_tested. One OpenSSL pitfall is handled in ``_Conn.close``: freeing a
connection that was not shut down marks its session not resumable.

Bounds: two connections at most (the caller opens each under its address slot and the
depth budget); every wait for the socket is bounded by one deadline per connection; at
most ``MAX_READ`` bytes are read from each answer. The OpenSSL calls are non-blocking and
run on the event loop, which does the waiting (``anyio.wait_readable``): a worker thread
per probe cost a quarter of its CPU (issue #19's budget, bench/README.md). One SSL_CTX
serves every connection of the process (OpenSSL resumes a session only under the context
that made it; one context for all keeps that true without one context per probe).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio

from auditor.obs.tls import Depth
from auditor.probes.sockets import wait_socket

MAX_READ = 16384  # bytes of an HTTP answer read at most (the status line is enough)
# After the early data the probe holds its Finished back, as a replayed flight never has
# one, until the server's flight and its answer to the early request stop arriving (quiet
# for EARLY_QUIET) or EARLY_WAIT passed. Otherwise a server that answers 425 only while
# the handshake is incomplete (nginx `if ($ssl_early_data) { return 425; }`) would see the
# handshake finished first on a fast network and answer 200: a false fail.
EARLY_WAIT = 1.5
EARLY_QUIET = 0.3
_TLS1_3_VERSION = 0x0304
_SSL_CTRL_SET_TLSEXT_HOSTNAME = 55  # ssl.h (SSL_set_tlsext_host_name is a macro)
_SSL_CTRL_SET_MIN_PROTO_VERSION = 123
_SSL_CTRL_SET_MAX_PROTO_VERSION = 124
_SSL_ERROR_WANT_READ, _SSL_ERROR_WANT_WRITE = 2, 3
_SSL_EARLY_DATA_ACCEPTED = 2  # SSL_get_early_data_status (1 = rejected, 0 = not sent)
_SSL_SENT_SHUTDOWN, _SSL_RECEIVED_SHUTDOWN = 1, 2
_P = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "TLS_client_method": (_P, []),
    "SSL_CTX_new": (_P, [_P]),
    "SSL_CTX_free": (None, [_P]),
    "SSL_CTX_ctrl": (ctypes.c_long, [_P, ctypes.c_int, ctypes.c_long, _P]),
    "SSL_new": (_P, [_P]),
    "SSL_free": (None, [_P]),
    "SSL_set_fd": (ctypes.c_int, [_P, ctypes.c_int]),
    "SSL_ctrl": (ctypes.c_long, [_P, ctypes.c_int, ctypes.c_long, _P]),
    "SSL_connect": (ctypes.c_int, [_P]),
    "SSL_write": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
    "SSL_read": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
    "SSL_get_error": (ctypes.c_int, [_P, ctypes.c_int]),
    "SSL_get1_session": (_P, [_P]),
    "SSL_set_session": (ctypes.c_int, [_P, _P]),
    "SSL_SESSION_free": (None, [_P]),
    "SSL_SESSION_get_max_early_data": (ctypes.c_uint32, [_P]),
    "SSL_write_early_data": (
        ctypes.c_int,
        [_P, ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)],
    ),
    "SSL_get_early_data_status": (ctypes.c_int, [_P]),
    "SSL_session_reused": (ctypes.c_int, [_P]),
    "SSL_set_shutdown": (None, [_P, ctypes.c_int]),
    "SSL_get_session": (_P, [_P]),
    "SSL_SESSION_is_resumable": (ctypes.c_int, [_P]),
}


@functools.cache
def _libssl() -> Any:
    """The system libssl (OpenSSL >= 1.1.1 has early data), or None."""
    for name in ("libssl.so.3", ctypes.util.find_library("ssl")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            for fn, (res, args) in _SIGNATURES.items():
                f = getattr(lib, fn)
                f.restype, f.argtypes = res, args
        except (OSError, AttributeError):
            continue
        return lib
    return None


def early_data_supported() -> bool:
    return _libssl() is not None


@functools.cache
def _context() -> int | None:
    """The process's TLS 1.3-only client SSL_CTX* (never freed), or None."""
    lib = _libssl()
    ctx = lib.SSL_CTX_new(lib.TLS_client_method())
    if not ctx:
        return None
    # TLS 1.3 only: early data exists only there (RFC 8446 sec. 2.3)
    for ctrl in (_SSL_CTRL_SET_MIN_PROTO_VERSION, _SSL_CTRL_SET_MAX_PROTO_VERSION):
        lib.SSL_CTX_ctrl(ctx, ctrl, _TLS1_3_VERSION, None)
    return int(ctx)


class _Session:
    """An owned SSL_SESSION* (of the shared context); freed once."""

    def __init__(self, ptr: int) -> None:
        self.ptr: int | None = ptr

    def free(self) -> None:
        if self.ptr:
            _libssl().SSL_SESSION_free(self.ptr)
        self.ptr = None


@dataclass(frozen=True)
class Ticket:
    """What the first connection left: the session to resume and its early-data limit."""

    session: _Session | None
    max_early_data: int
    detail: str


@dataclass(frozen=True)
class EarlyResult:
    outcome: str  # Depth.ACCEPTED / REFUSED / TOO_EARLY / "" (could not tell)
    status: int  # HTTP status answered to the early request (0 = none read)
    detail: str


class _Failed(Exception):
    pass


def http_request(host: str) -> bytes:
    """A GET of the landing page; safe (RFC 9110 sec. 9.2.1), as an early request must be."""
    return (
        f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: auditor-0rtt\r\nConnection: close\r\n\r\n"
    ).encode("ascii", "replace")


def http_status(answer: bytes) -> int:
    """The status code of an HTTP/1.x status line, 0 when there is none."""
    line = answer.split(b"\r\n", 1)[0].split()
    if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1][:3].isdigit():
        return int(line[1][:3])
    return 0


class _Conn:
    """One client SSL* on a connected non-blocking socket; every call bounded by deadline."""

    def __init__(self, sock: socket.socket, sni: str, deadline: float) -> None:
        self.lib = _libssl()
        self.sock, self.deadline = sock, deadline
        ctx = _context()
        self.ssl = self.lib.SSL_new(ctx) if ctx else None
        if not self.ssl:
            raise _Failed("OpenSSL could not make a context")
        self.lib.SSL_set_fd(self.ssl, sock.fileno())
        if sni:
            name = ctypes.c_char_p(sni.encode("idna"))
            self.lib.SSL_ctrl(self.ssl, _SSL_CTRL_SET_TLSEXT_HOSTNAME, 0, name)

    def close(self) -> None:  # never closes the socket (the caller's)
        if self.ssl:
            # marked shut down, or SSL_free makes the session not resumable (OpenSSL
            # ssl_clear_bad_session): the ticket must survive for the early-data connection
            self.lib.SSL_set_shutdown(self.ssl, _SSL_SENT_SHUTDOWN | _SSL_RECEIVED_SHUTDOWN)
            self.lib.SSL_free(self.ssl)
        self.ssl = None

    async def drive(self, call: Callable[[], int], what: str) -> int:
        """Repeat ``call`` (an SSL_* returning > 0 on success) until done or the deadline."""
        while True:
            ret = call()
            if ret > 0:
                return ret
            err = self.lib.SSL_get_error(self.ssl, ret)
            if err not in (_SSL_ERROR_WANT_READ, _SSL_ERROR_WANT_WRITE):
                raise _Failed(f"{what}: OpenSSL error {err}")
            await wait_socket(self.sock, err == _SSL_ERROR_WANT_READ, self.deadline, what)

    async def read_answer(self) -> bytes:
        """Up to MAX_READ bytes, until the status line is in, the peer closes or the deadline."""
        got = b""
        buf = ctypes.create_string_buffer(MAX_READ)
        while len(got) < MAX_READ and b"\r\n" not in got:
            want = MAX_READ - len(got)
            try:
                n = await self.drive(
                    lambda want=want: int(self.lib.SSL_read(self.ssl, buf, want)),  # type: ignore[misc]
                    "answer",
                )
            except (_Failed, TimeoutError):
                break
            got += buf.raw[:n]
        return got


async def _hold_back(sock: socket.socket, until: float) -> None:
    """Wait, reading nothing, until the bytes waiting on ``sock`` stop growing (MSG_PEEK)."""
    try:
        await wait_socket(sock, True, until, "hold back")
    except TimeoutError:
        return
    seen = -1
    while time.monotonic() < until:
        try:
            now = len(sock.recv(MAX_READ * 4, socket.MSG_PEEK))
        except (BlockingIOError, InterruptedError):
            now = max(seen, 0)
        except OSError:
            return
        if now == 0 and seen < 0:
            return  # closed before anything: the handshake will tell
        if now == seen:
            return  # quiet: the server sent what it sends before our Finished
        seen = now
        await anyio.sleep(min(EARLY_QUIET, max(0.0, until - time.monotonic())))


async def _await_ticket(conn: _Conn, until: float) -> None:
    """Process what the server sends after the handshake (NewSessionTicket, RFC 8446 sec.
    4.6.1) until the session is resumable or ``until``; no request is sent."""
    buf = ctypes.create_string_buffer(64)
    while time.monotonic() < until:
        sess = conn.lib.SSL_get_session(conn.ssl)
        if sess and conn.lib.SSL_SESSION_is_resumable(sess):
            return
        try:
            await wait_socket(conn.sock, True, until, "ticket")
        except TimeoutError:
            return
        ret = conn.lib.SSL_read(conn.ssl, buf, len(buf))  # a ticket: WANT_READ, no data
        if ret <= 0 and conn.lib.SSL_get_error(conn.ssl, ret) != _SSL_ERROR_WANT_READ:
            return


async def first_connection(sock: socket.socket, sni: str, timeout: float) -> Ticket:
    """On the connected non-blocking ``sock``: a TLS 1.3 handshake, then the session
    tickets read (no request). Never closes ``sock``."""
    if _libssl() is None:
        return Ticket(None, 0, "no system OpenSSL (libssl.so.3) to send early data with")
    try:
        conn = _Conn(sock, sni, time.monotonic() + timeout)
    except _Failed as exc:
        return Ticket(None, 0, str(exc))
    try:
        await conn.drive(lambda: int(conn.lib.SSL_connect(conn.ssl)), "TLS 1.3 handshake")
        await _await_ticket(conn, min(conn.deadline, time.monotonic() + EARLY_WAIT))
        sess = conn.lib.SSL_get_session(conn.ssl)
        if not sess or not conn.lib.SSL_SESSION_is_resumable(sess):
            return Ticket(None, 0, "TLS 1.3 handshake done; no session ticket received")
        ptr = conn.lib.SSL_get1_session(conn.ssl)
        if not ptr:
            return Ticket(None, 0, "no session after the TLS 1.3 handshake")
        max_early = int(conn.lib.SSL_SESSION_get_max_early_data(ptr))
        return Ticket(_Session(ptr), max_early, "session ticket received")
    except (_Failed, TimeoutError, OSError) as exc:
        return Ticket(None, 0, f"TLS 1.3 handshake failed: {exc}"[:200])
    finally:
        conn.close()


async def early_connection(
    sock: socket.socket, sni: str, host: str, ticket: Ticket, timeout: float
) -> EarlyResult:
    """Resume ``ticket`` on ``sock`` with the GET sent as early data."""
    if ticket.session is None or not ticket.session.ptr:
        return EarlyResult("", 0, "no session to resume")
    try:
        conn = _Conn(sock, sni, time.monotonic() + timeout)
    except _Failed as exc:
        return EarlyResult("", 0, str(exc))
    request = http_request(host)
    written = ctypes.c_size_t()
    try:
        conn.lib.SSL_set_session(conn.ssl, ticket.session.ptr)
        # sends the ClientHello with the early data after it (RFC 8446 sec. 2.3)
        await conn.drive(
            lambda: int(
                conn.lib.SSL_write_early_data(
                    conn.ssl, request, len(request), ctypes.byref(written)
                )
            ),
            "early data",
        )
        await _hold_back(sock, min(conn.deadline, time.monotonic() + EARLY_WAIT))
        await conn.drive(lambda: int(conn.lib.SSL_connect(conn.ssl)), "resumption")
        early = conn.lib.SSL_get_early_data_status(conn.ssl)
        resumed = bool(conn.lib.SSL_session_reused(conn.ssl))
        if early != _SSL_EARLY_DATA_ACCEPTED:
            how = "resumed" if resumed else "full handshake, ticket not taken"
            return EarlyResult(Depth.REFUSED, 0, f"early data refused ({how})")
        status = http_status(await conn.read_answer())
    except (_Failed, TimeoutError, OSError) as exc:
        return EarlyResult("", 0, f"resumption with early data failed: {exc}"[:200])
    finally:
        conn.close()
    if status == 425:  # RFC 8470 sec. 5.2
        return EarlyResult(Depth.TOO_EARLY, status, "early data accepted, answered 425 Too Early")
    if status == 0:
        return EarlyResult("", 0, "early data accepted, but no HTTP answer to it was read")
    return EarlyResult(
        Depth.ACCEPTED, status, f"early data accepted; the early GET was answered {status}"
    )


__all__ = [
    "MAX_READ",
    "EarlyResult",
    "Ticket",
    "early_connection",
    "early_data_supported",
    "first_connection",
    "http_status",
]
