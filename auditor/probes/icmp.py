"""ICMPv6 echo (raw ICMPv6 socket: root or CAP_NET_RAW; packets built with scapy).

The blocking send/receive runs in a worker thread (anyio.to_thread) while the caller
holds the per-address slot. Without raw-socket privilege the observation is SKIPPED
with the reason, which the check turns into not_tested: never a false failure.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import ipaddress
import random
import socket
import struct
import time

import anyio

from auditor.obs.core import Outcome
from auditor.obs.icmp import PingObservation
from auditor.probes.context import ProbeContext

ATTEMPTS = 2  # one lost echo is not a verdict
NO_PRIVILEGE = "no raw-socket privilege (run as root or grant CAP_NET_RAW)"
# ICMPv6 types (RFC 4443 section 2.1)
ECHO_REQUEST = 128
ECHO_REPLY = 129
DEST_UNREACH = 1
ICMP6_FILTER = 1  # <netinet/icmp6.h>, level IPPROTO_ICMPV6
PAYLOAD = b"ipv6-gov-auditor"
_UNREACH_CODES = {
    0: "no route to destination",
    1: "communication administratively prohibited",
    2: "beyond scope of source address",
    3: "address unreachable",
    4: "port unreachable",
    5: "source address failed ingress/egress policy",
    6: "reject route to destination",
}
_IDENT = random.randrange(1, 0xFFFF)  # echo identifier of this process, like ping's pid
THREADS = 8  # one raw socket and one blocking thread per echo in flight: keep them few


async def _threads(ctx: ProbeContext) -> anyio.CapacityLimiter:
    """The scan's limiter for ICMP worker threads (one per scan and event loop)."""

    async def make() -> anyio.CapacityLimiter:
        return anyio.CapacityLimiter(THREADS)

    limiter: anyio.CapacityLimiter = await ctx.once(("icmp-threads",), make)
    return limiter


async def ping(ctx: ProbeContext, address: str) -> PingObservation:
    """One ICMPv6 echo exchange with ``address`` (cached per scan)."""
    return await ctx.once(("icmp", address), lambda: _ping(ctx, address))


async def _ping(ctx: ProbeContext, address: str) -> PingObservation:
    refusal = ctx.guard.refusal(address)
    if refusal:
        return PingObservation(address, Outcome.BLOCKED, detail=refusal)
    unreachable = ctx.unreachable_family(address)
    if unreachable:
        return PingObservation(address, Outcome.SKIPPED, detail=unreachable)
    if not ctx.options.icmp:
        return PingObservation(address, Outcome.SKIPPED, detail="ICMPv6 probing disabled")
    timeout = ctx.options.timeout
    last = PingObservation(address, Outcome.TIMEOUT, detail="no echo reply before the timeout")
    threads = await _threads(ctx)
    # Built here, not in the worker threads: the first build imports scapy, and eight
    # threads waiting on the import lock at the start of a scan cost more than the import.
    for attempt in range(ATTEMPTS):
        _echo_request(_IDENT, attempt)
    async with ctx.address_slot(address):
        for attempt in range(ATTEMPTS):
            ctx.stats["icmp_echo"] += 1
            last = await anyio.to_thread.run_sync(
                _echo, address, timeout, attempt, limiter=threads, abandon_on_cancel=True
            )
            if last.outcome != Outcome.TIMEOUT:
                break
    return last


@functools.lru_cache(maxsize=8)
def _echo_request(ident: int, seq: int) -> bytes:
    """An ICMPv6 echo request built with scapy (the kernel fills in the checksum).

    Cached: the identifier is one per process (_IDENT) and the sequence the attempt
    number, so a scan builds two packets; building one with scapy per echo was ~3 % of a
    full scan's CPU. Replies are told apart by their source address, ident and seq."""
    try:
        from scapy.layers.inet6 import ICMPv6EchoRequest

        return bytes(ICMPv6EchoRequest(id=ident, seq=seq, cksum=0, data=PAYLOAD))
    except Exception:  # scapy missing or broken: the same 8-byte header by hand
        return struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, seq) + PAYLOAD


def _filter_socket(sock: socket.socket) -> None:
    """ICMP6_FILTER (RFC 3542 section 3.2): only echo replies and unreachables reach us.

    Linux semantics: a set bit blocks the type. Without the filter we would still only
    see ICMPv6 (never all traffic, unlike a packet socket), so failure here is harmless.
    """
    words = [0xFFFFFFFF] * 8
    for t in (ECHO_REPLY, DEST_UNREACH):
        words[t >> 5] &= ~(1 << (t & 31))
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("8I", *words))


def _echo(address: str, timeout: float, seq: int) -> PingObservation:
    """Blocking: send one echo on a raw ICMPv6 socket and wait for its answer (worker thread).

    A raw ICMPv6 socket gets only ICMPv6 from the kernel; scapy's own sr1 would sniff every
    packet of the interface in Python, which starves the scan's event loop under load.
    """
    ident = _IDENT
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    except PermissionError:
        return PingObservation(address, Outcome.SKIPPED, detail=NO_PRIVILEGE)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            return PingObservation(address, Outcome.SKIPPED, detail=NO_PRIVILEGE)
        return PingObservation(address, Outcome.ERROR, detail=f"{type(exc).__name__}: {exc}")
    target = ipaddress.IPv6Address(address.split("%", 1)[0])
    request = _echo_request(ident, seq)
    with sock:
        _filter_socket(sock)
        start = time.perf_counter()
        deadline = start + timeout
        try:
            sock.sendto(request, (address, 0))
            while (left := deadline - time.perf_counter()) > 0:
                sock.settimeout(left)
                try:
                    data, peer = sock.recvfrom(2048)
                except TimeoutError:
                    break
                rtt = round((time.perf_counter() - start) * 1000, 2)
                seen = _match(data, str(peer[0]), target, ident, seq)
                if seen is not None:
                    return _observation(address, seen, rtt)
        except OSError as exc:
            from auditor.probes.sockets import classify_os_error

            outcome, detail = classify_os_error(exc)
            return PingObservation(address, outcome, detail=detail)
    return PingObservation(address, Outcome.TIMEOUT, detail="no echo reply before the timeout")


def _match(
    data: bytes, peer: str, target: ipaddress.IPv6Address, ident: int, seq: int
) -> tuple[int, int] | None:
    """(type, code) when ``data`` answers our echo, else None (someone else's packet)."""
    if len(data) < 8:
        return None
    icmp_type, code = data[0], data[1]
    if icmp_type == ECHO_REPLY:
        rid, rseq = struct.unpack("!HH", data[4:8])
        try:
            same = ipaddress.IPv6Address(peer.split("%", 1)[0]) == target
        except ValueError:
            same = False
        return (icmp_type, code) if same and rid == ident and rseq == seq else None
    if icmp_type == DEST_UNREACH and len(data) >= 8 + 40 + 8:
        # the invoking packet follows: IPv6 header (dst at 24..40), then our echo request
        inner = data[8:]
        dst = ipaddress.IPv6Address(inner[24:40])
        echo = inner[40:48]
        if dst == target and echo[0] == ECHO_REQUEST and struct.unpack("!H", echo[4:6])[0] == ident:
            return icmp_type, code
    return None


def _observation(address: str, seen: tuple[int, int], rtt: float) -> PingObservation:
    icmp_type, code = seen
    if icmp_type == ECHO_REPLY:
        return PingObservation(address, Outcome.OK, rtt, "", icmp_type, code)
    why = _UNREACH_CODES.get(code, f"code {code}")
    return PingObservation(
        address, Outcome.UNREACHABLE, rtt, f"ICMPv6 destination unreachable: {why}", icmp_type, code
    )
