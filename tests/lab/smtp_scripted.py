"""A scripted SMTP server for the politeness test (tests/lab/test_mail_politeness.py):
on each listen address, the first ``--allow`` connections get a greeting, EHLO with
STARTTLS and a 220 to STARTTLS (then the ClientHello is read and the connection closed);
every later one is answered "421 4.7.0 too many connections" and closed, as a greylisting
or rate-limiting gateway does.

The server keeps its own record of what the client did, per address: connections, the
most connections open at once, connections made after a 421 was sent. "Open" is the
kernel's view of each connection the server has not closed itself: at every accept, the
older connections whose TCP state is still ESTABLISHED (the client has sent no FIN nor
RST) count. A client that closes before it connects again has its FIN in the server's
kernel before the new SYN (one path, in order), so this needs no clock. The record is
rewritten (atomically) after every change: ``--record FILE``.

    python -m tests.lab.smtp_scripted --record R.json --allow 2 ADDR [ADDR ...]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import struct
import threading
from pathlib import Path
from typing import Any

TCP_ESTABLISHED = 1  # include/net/tcp_states.h
MAX_LINE = 1024


class Record:
    def __init__(self, path: Path, addresses: list[str]) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.data: dict[str, dict[str, Any]] = {
            a: {"connections": 0, "max_open": 0, "after_421": 0, "sent_421": 0, "commands": []}
            for a in addresses
        }
        self.ready = False

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"ready": self.ready, "addresses": self.data}, indent=1))
        os.replace(tmp, self.path)


def _state(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    return int(struct.unpack("B", info[:1])[0])


class Listener:
    def __init__(self, address: str, allow: int, record: Record) -> None:
        self.address = address
        self.allow = allow
        self.record = record
        self.open: list[socket.socket] = []  # connections this server has not closed
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 25))
        self.sock.listen(16)

    def serve(self) -> None:
        while True:
            conn, _peer = self.sock.accept()
            with self.record.lock:
                r = self.record.data[self.address]
                still = [c for c in self.open if _state(c) == TCP_ESTABLISHED]
                r["connections"] += 1
                r["max_open"] = max(r["max_open"], len(still) + 1)
                if r["sent_421"]:
                    r["after_421"] += 1
                n = r["connections"]
                self.open.append(conn)
                self.record.write()
            threading.Thread(target=self.talk, args=(conn, n), daemon=True).start()

    def _close(self, conn: socket.socket) -> None:
        with self.record.lock:
            if conn in self.open:
                self.open.remove(conn)
        conn.close()

    def talk(self, conn: socket.socket, n: int) -> None:
        conn.settimeout(10)
        try:
            if n > self.allow:
                with self.record.lock:
                    self.record.data[self.address]["sent_421"] += 1
                    self.record.write()
                conn.sendall(b"421 4.7.0 mx1.pflimited.gov.vn too many connections, try later\r\n")
                return
            conn.sendall(b"220 mx1.pflimited.gov.vn ESMTP scripted\r\n")
            buf = b""
            while True:
                while b"\n" not in buf:
                    data = conn.recv(MAX_LINE)
                    if not data:
                        return
                    buf += data
                line, buf = buf.split(b"\n", 1)
                verb = line.strip().split(b" ", 1)[0].upper().decode("ascii", "replace")
                with self.record.lock:
                    self.record.data[self.address]["commands"].append(verb)
                if verb == "EHLO":
                    conn.sendall(b"250-mx1.pflimited.gov.vn\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
                elif verb == "STARTTLS":
                    conn.sendall(b"220 2.0.0 ready to start TLS\r\n")
                    conn.recv(16384)  # the ClientHello; no TLS here: hang up
                    return
                elif verb == "QUIT":
                    conn.sendall(b"221 2.0.0 bye\r\n")
                    return
                else:
                    conn.sendall(b"502 5.5.2 not implemented\r\n")
        except OSError:
            return
        finally:
            self._close(conn)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--record", type=Path, required=True)
    ap.add_argument("--allow", type=int, default=2)
    ap.add_argument("addresses", nargs="+")
    args = ap.parse_args()
    record = Record(args.record, args.addresses)
    listeners = [Listener(a, args.allow, record) for a in args.addresses]
    for x in listeners:
        threading.Thread(target=x.serve, daemon=True).start()
    with record.lock:
        record.ready = True
        record.write()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    main()
