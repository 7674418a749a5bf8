"""A tiny DNS server on loopback for tests (real UDP and TCP), standing in for a resolver.

Not a mock: the auditor talks to it over real sockets. It answers from a dict of
``{(name, rdtype): [rdata text, ...]}``; unknown names get NXDOMAIN, known names
with another type NODATA; names in ``servfail`` get SERVFAIL; names in ``silent``
are never answered (timeouts). Like a real resolver it knows that the root ``.`` exists
(it has an SOA) and that the parents of its names exist (empty non-terminals: NODATA,
RFC 8020), so the auditor's footing check (auditor.selfcheck) finds a working resolver.

``everything`` makes it a broken resolver for every name, the root included: "nxdomain",
"servfail", "refused" (rcode REFUSED) or "silent" (never answers).

Run as a program (the lab starts one inside a network namespace):
``python -m tests.support.dnsserver --host 127.0.0.1 --everything nxdomain`` prints its port.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset


@dataclass
class Zone:
    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    servfail: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)
    queries: list[tuple[str, str]] = field(default_factory=list)
    everything: str | None = None  # nxdomain | servfail | refused | silent: for every name

    def add(self, name: str, rdtype: str, values: Iterable[str]) -> None:
        self.records[(_norm(name), rdtype.upper())] = list(values)

    def answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        q = query.question[0]
        name = _norm(q.name.to_text())
        rdtype = dns.rdatatype.to_text(q.rdtype)
        self.queries.append((name, rdtype))
        if name in self.silent or self.everything == "silent":
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        broken = {"nxdomain": dns.rcode.NXDOMAIN, "servfail": dns.rcode.SERVFAIL}
        broken["refused"] = dns.rcode.REFUSED
        if self.everything in broken:
            response.set_rcode(broken[self.everything])
            return response.to_wire()
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        if name == "" and (name, rdtype) not in self.records:
            if rdtype == "SOA":
                response.answer.append(
                    dns.rrset.from_text(".", 60, "IN", "SOA", "a.root. h.root. 1 60 30 60 30")
                )
            return response.to_wire()  # the root exists: its SOA, or NODATA
        current = name
        for _ in range(8):  # follow CNAMEs inside our data, like an authoritative server
            cname = self.records.get((current, "CNAME"))
            if cname and rdtype != "CNAME":
                response.answer.append(
                    dns.rrset.from_text(current + ".", 60, "IN", "CNAME", *cname)
                )
                current = _norm(cname[0])
                continue
            break
        values = self.records.get((current, rdtype))
        if values:
            response.answer.append(dns.rrset.from_text(current + ".", 60, "IN", rdtype, *values))
        elif not any(n == current or n.endswith("." + current) for n, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()


def _norm(name: str) -> str:
    return name.lower().rstrip(".")


class DnsServer:
    """Serve ``zone`` on 127.0.0.1 (UDP and TCP, same ephemeral port)."""

    def __init__(
        self, zone: Zone, host: str = "127.0.0.1", hold: threading.Event | None = None
    ) -> None:
        """``hold``: no answer leaves before the event is set (at most 60 s), so a test can
        keep scans in flight until it has seen what it waits for."""
        self.zone = zone
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        zone_ref = zone

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                if hold is not None:
                    hold.wait(60)
                reply = zone_ref.answer(data)
                if reply is not None:
                    sock.sendto(reply, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = self.request.recv(2)
                if len(head) < 2:
                    return
                (length,) = struct.unpack("!H", head)
                data = b""
                while len(data) < length:
                    chunk = self.request.recv(length - len(data))
                    if not chunk:
                        return
                    data += chunk
                if hold is not None:
                    hold.wait(60)
                reply = zone_ref.answer(data)
                if reply is not None:
                    self.request.sendall(struct.pack("!H", len(reply)) + reply)

        class UdpServer(socketserver.ThreadingUDPServer):
            address_family = family
            allow_reuse_address = True
            daemon_threads = True

        class TcpServer(socketserver.ThreadingTCPServer):
            address_family = family
            allow_reuse_address = True
            daemon_threads = True

        # UDP and TCP on the same port number: take a random UDP port and retry when that
        # number is already taken for TCP by something else on the machine.
        for attempt in range(50):
            self.udp = UdpServer((host, 0), Udp)
            port = self.udp.server_address[1]
            try:
                self.tcp = TcpServer((host, port), Tcp)
            except OSError:
                self.udp.server_close()
                if attempt == 49:
                    raise
                continue
            break
        self.port = port
        self._threads = [
            threading.Thread(target=s.serve_forever, daemon=True) for s in (self.udp, self.tcp)
        ]

    @property
    def spec(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __enter__(self) -> DnsServer:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for s in (self.udp, self.tcp):
            s.shutdown()
            s.server_close()


def main() -> None:
    """Serve until killed; print the port on the first line of stdout."""
    import argparse
    import sys
    import time

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--everything", choices=("nxdomain", "servfail", "refused", "silent"))
    args = p.parse_args()
    with DnsServer(Zone(everything=args.everything), host=args.host) as server:
        print(server.port, flush=True)
        sys.stdout.close()
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
