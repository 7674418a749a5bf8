"""Client-initiated renegotiation (tls.renegotiation.client; issue 19), by pyOpenSSL.

Why a library here, when every other TLS probe builds its hellos by hand: renegotiation
needs a *completed* handshake first (keys derived, Finished verified) and then a second
handshake inside the encrypted channel, with the RFC 5746 renegotiation_info binding to
the first one. That is a whole TLS 1.2 client, which OpenSSL implements correctly; Python's
``ssl`` module has no API to start a renegotiation (it was never exposed), so pyOpenSSL's
``Connection.renegotiate()`` is the smallest correct tool.

Bounds: one connection (opened by the caller under its address slot and connection
budget), at most ``MAX_RENEGOTIATIONS`` renegotiations on it, every wait for the socket
bounded by one overall deadline. The non-blocking OpenSSL calls run on the event loop and
the waits are the loop's (``anyio.wait_readable``), not a worker thread's ``select``: a
thread hop cost a third of this probe's CPU (bench/README.md, issue #19's budget), and a
cancelled scan now cancels the wait itself.
"""

from __future__ import annotations

import functools
import socket
import time
from dataclasses import dataclass

from OpenSSL import SSL

from auditor.obs.tls import TLS10, TLS11, TLS12, Depth
from auditor.probes.sockets import wait_socket

# Internet.nl reports how many client renegotiations were accepted; two show that it is
# not a one-off, and more would only load the server (CVE-2011-1473 is a CPU DoS).
MAX_RENEGOTIATIONS = 2
_MAX_VERSION = {TLS10: SSL.TLS1_VERSION, TLS11: SSL.TLS1_1_VERSION, TLS12: SSL.TLS1_2_VERSION}


@dataclass(frozen=True)
class RenegResult:
    outcome: str  # Depth.ACCEPTED / Depth.REFUSED / "" (could not tell)
    accepted: int  # renegotiations completed
    detail: str


async def _step(conn: SSL.Connection, sock: socket.socket, deadline: float, what: str) -> None:
    """Drive one non-blocking pyOpenSSL call (do_handshake) to its end, or TimeoutError."""
    while True:
        try:
            conn.do_handshake()
            return
        except SSL.WantReadError:
            readable = True
        except SSL.WantWriteError:
            readable = False
        await wait_socket(sock, readable, deadline, what)


@functools.cache
def _context(version: str) -> SSL.Context:
    """One client context per highest version, made once: an SSL_CTX is safe to share
    between connections once configured, and making one costs about as much as the
    hand-built hello of another probe."""
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_verify(SSL.VERIFY_NONE)  # the certificate is judged elsewhere
    ctx.set_min_proto_version(SSL.TLS1_VERSION)
    ctx.set_max_proto_version(_MAX_VERSION[version])
    # weak servers are observed, not hidden (as the full handshake in probes/tls.py)
    ctx.set_cipher_list(b"ALL:@SECLEVEL=0")
    return ctx


async def client_renegotiation(
    sock: socket.socket, sni: str, version: str, timeout: float
) -> RenegResult:
    """Handshake at ``version`` (<= TLS 1.2) on the connected non-blocking ``sock``, then
    renegotiate up to MAX_RENEGOTIATIONS times.

    Never raises for what the peer does; never closes ``sock`` (the caller owns it)."""
    deadline = time.monotonic() + timeout
    conn = SSL.Connection(_context(version), sock)
    if sni:
        conn.set_tlsext_host_name(sni.encode("idna"))
    conn.set_connect_state()
    try:
        await _step(conn, sock, deadline, "first handshake")
    except (SSL.Error, TimeoutError, OSError) as exc:
        return RenegResult("", 0, f"first {version} handshake failed: {_err(exc)}")
    got = conn.get_protocol_version_name()
    done = 0
    while done < MAX_RENEGOTIATIONS:
        try:
            if not conn.renegotiate():
                return RenegResult("", done, f"OpenSSL would not start a renegotiation ({got})")
            await _step(conn, sock, deadline, "renegotiation")
        except SSL.ZeroReturnError:
            return _refused(done, got, "connection closed (close_notify)")
        except SSL.SysCallError as exc:
            return _refused(done, got, f"connection closed ({_err(exc)})")
        except SSL.Error as exc:
            # OpenSSL >= 3 servers answer a no_renegotiation alert (RFC 5246 sec. 7.2.2),
            # which the client turns into the error "no renegotiation"
            return _refused(done, got, _err(exc))
        except TimeoutError as exc:
            if done:
                return _refused(done, got, str(exc))
            return RenegResult("", 0, f"{got}: {exc}")
        except OSError as exc:
            return _refused(done, got, f"connection closed ({_err(exc)})")
        done += 1
    return RenegResult(Depth.ACCEPTED, done, f"{got}: {done} client renegotiations accepted")


def _refused(done: int, got: str, why: str) -> RenegResult:
    if done:  # some were accepted, then the server stopped (a rate limit): still accepted
        return RenegResult(Depth.ACCEPTED, done, f"{got}: {done} accepted, then refused ({why})")
    return RenegResult(Depth.REFUSED, 0, f"{got}: renegotiation refused ({why})")


def _err(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


__all__ = ["MAX_RENEGOTIATIONS", "RenegResult", "client_renegotiation"]
