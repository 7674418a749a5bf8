"""Servers and processes for the integration tests: loopback only, stopped afterwards.

nginx serving certificates from tests/support/factories.py's ``Pki``; the ``auditor`` CLI
run as a real process; the questions a test asks before it starts a server (is there a
``::1``? must a missing prerequisite fail, as in CI, or skip?). The DNS server is
tests/support/dnsserver.py (the lab also runs it as a program, so it stays a module of its
own).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import pytest_asyncio

ROOT = Path(__file__).resolve().parents[2]


def in_ci() -> bool:
    """CI=true: a missing prerequisite (nginx, root, ::1) fails the test instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def has_ipv6_loopback() -> bool:
    """Whether ``::1`` exists here (containers often run without IPv6)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def run_auditor(
    *args: str, timeout: float = 120, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m auditor ARGS`` from the repository root, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "auditor", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=None if env is None else dict(env),
        check=False,
    )


def stored_target_names(db: Path) -> set[str]:
    """Names of the targets a (running) scan has committed to the SQLite store at ``db``:
    read with the standard library while the scan's own process writes (WAL), so a test can
    wait for "the fast targets are done" without opening the store through the product."""
    import sqlite3

    if not db.exists():
        return set()
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return {r[0] for r in conn.execute("SELECT name FROM targets")}
    except sqlite3.OperationalError:
        return set()


def free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    name: str
    port: int
    protocols: str
    ciphers: str
    chain_pem: bytes
    key_pem: bytes
    stapling_file: str | None = None
    extra: str = ""  # more server-block directives (e.g. "ssl_early_data on;")
    location: str = 'return 200 "ok";'  # the body of `location /`


def nginx_available() -> bool:
    return shutil.which("nginx") is not None or os.path.exists("/usr/sbin/nginx")


def run_nginx(workdir: Path, sites: list[Site]) -> Iterator[None]:
    """Start nginx with one server block per site on 127.0.0.1 and [::1]; stop it after."""
    blocks = []
    for s in sites:
        cert = workdir / f"{s.name}.crt"
        key = workdir / f"{s.name}.key"
        cert.write_bytes(s.chain_pem)
        key.write_bytes(s.key_pem)
        staple = ""
        if s.stapling_file:
            staple = f"ssl_stapling on; ssl_stapling_file {s.stapling_file};"
        blocks.append(
            f"""
    server {{
        listen 127.0.0.1:{s.port} ssl;
        listen [::1]:{s.port} ssl;
        server_name {s.name};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols {s.protocols};
        ssl_ciphers {s.ciphers};
        {staple}
        {s.extra}
        location / {{ {s.location} }}
    }}"""
        )
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
master_process off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/tmp;
    proxy_temp_path {workdir}/tmp;
    fastcgi_temp_path {workdir}/tmp;
    uwsgi_temp_path {workdir}/tmp;
    scgi_temp_path {workdir}/tmp;
{"".join(blocks)}
}}
"""
    )
    (workdir / "tmp").mkdir(exist_ok=True)
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen(
        [binary, "-c", str(conf), "-p", str(workdir), "-e", str(workdir / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        ports = [s.port for s in sites]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"nginx exited: {err} {(workdir / 'error.log').read_text()}")
            if all(_listening(p) for p in ports):
                break
            time.sleep(0.05)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# PostgreSQL: a throwaway cluster of Debian's server on 127.0.0.1 ----------------------------

POSTGRESQL_VERSION = "15"  # Debian 12's; any other installed version is used if it is missing


def postgresql_bindir() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl`` (Debian keeps them out of PATH)."""
    root = Path("/usr/lib/postgresql")
    found = [root / POSTGRESQL_VERSION / "bin"]
    if root.is_dir():
        found += sorted(root.glob("*/bin"), reverse=True)
    for bindir in found:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def postgresql_missing() -> str | None:
    """Why a PostgreSQL server cannot be started here (None: it can)."""
    if postgresql_bindir() is None:
        return "no PostgreSQL server binaries (apt-get install postgresql)"
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user for initdb"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install '.[distributed]')"
    return None


def _loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """One PostgreSQL cluster: its own data directory (also its socket directory) and its own
    port on 127.0.0.1, trust authentication for the superuser ``postgres``. ``durable=False``
    turns fsync off (tests: nothing is kept); a benchmark keeps the defaults."""

    root: Path
    port: int = 0
    durable: bool = False
    bindir: Path = field(default_factory=lambda: postgresql_bindir() or Path("/nonexistent"))
    _databases: int = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, *argv: str, timeout: float = 60) -> None:
        """Run a server program as the cluster's owner: initdb refuses to run as root."""
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            import shlex

            command = ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{argv[0]} exited {done.returncode}: {done.stderr.strip()} {log}".strip()
            )

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._as_owner(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        settings = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        for attempt in range(3):  # the free port may be taken before the server binds it
            self.port = self.port if attempt == 0 and self.port else _loopback_port()
            options = (
                f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 "
                f"-c max_connections=200 {'' if self.durable else settings}"
            )
            try:
                self._as_owner(
                    "pg_ctl",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                    timeout=90,
                )
                return
            except RuntimeError:
                if attempt == 2:
                    raise

    def stop(self) -> None:
        """Stop at once (nothing here is kept) and remove the cluster's directory."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._as_owner("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def execute(self, sql: str, database: str = "postgres") -> None:
        """One statement as the superuser, outside a transaction (CREATE DATABASE)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.encode())

    def add_password_user(self, user: str, password: str) -> None:
        """A role that must give its password (SCRAM) from 127.0.0.1; everyone else keeps
        trust authentication. pg_hba.conf is read top-down: the role's line goes first."""
        self.execute(f"CREATE ROLE \"{user}\" LOGIN SUPERUSER PASSWORD '{password}'")
        hba = self.data / "pg_hba.conf"
        line = f"host all {user} 127.0.0.1/32 scram-sha-256\n"
        hba.write_text(line + hba.read_text())
        self.execute("SELECT pg_reload_conf()")
        # The postmaster rereads the file on the signal, not before the call returns: wait
        # until a wrong password is refused.
        import psycopg

        deadline = time.monotonic() + 10
        while True:
            try:
                psycopg.connect(self.url(user=f"{user}:not-{password}"), connect_timeout=5).close()
            except psycopg.OperationalError:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("pg_hba.conf was not reloaded")
            time.sleep(0.05)

    def create_database(self, prefix: str = "t") -> str:
        """A new, empty database; returns its name."""
        self._databases += 1
        name = f"{prefix}{self._databases}"
        # Vietnamese collation (ICU): what an agency's database may well use; the store must
        # not depend on it (its text columns are COLLATE "C").
        self.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
            "LOCALE_PROVIDER icu ICU_LOCALE 'vi-VN' LOCALE 'C.UTF-8'"
        )
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_postgresql(durable: bool = False) -> Iterator[PostgresServer]:
    """A cluster under a new directory in /tmp (the postgres user must reach it: pytest's own
    temporary directories are private to root), stopped and removed afterwards, also when
    it fails to start or the code using it fails."""
    import tempfile

    server = PostgresServer(Path(tempfile.mkdtemp(prefix="auditor-pg-")), durable=durable)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# A scriptable DNS server (asyncio, UDP and TCP on one port) ------------------------------


@dataclass
class Rule:
    answer: tuple[str, ...] = ()  # RR lines "name ttl IN TYPE rdata"
    rcode: dns.rcode.Rcode = dns.rcode.NOERROR
    ad: bool = False
    aa: bool = True
    drop: bool = False  # never answer (timeout)
    tc_udp: bool = False  # truncated over UDP (forces TCP)
    bogus: bool = False  # SERVFAIL unless CD is set, then the data


@dataclass
class FakeDns:
    rules: dict[tuple[str, str], Rule] = field(default_factory=dict)
    port: int = 0
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, name: str, rdtype: str, *rrs: str, **kw: Any) -> None:
        self.rules[(name.rstrip(".").lower(), rdtype)] = Rule(tuple(rrs), **kw)

    def respond(self, wire: bytes, transport: str) -> bytes | None:
        query = dns.message.from_wire(wire)
        q = query.question[0]
        name = q.name.to_text().rstrip(".").lower()
        rdtype = dns.rdatatype.to_text(q.rdtype)
        self.seen.append((name, rdtype, transport))
        rule = self.rules.get((name, rdtype))
        response = dns.message.make_response(query)
        if rule is None:
            # an NXDOMAIN for unknown names, NODATA for known owners
            owners = {n for n, _ in self.rules}
            response.set_rcode(dns.rcode.NOERROR if name in owners else dns.rcode.NXDOMAIN)
            return response.to_wire()
        if rule.drop:
            return None
        cd = bool(query.flags & dns.flags.CD)
        if rule.bogus and not cd:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        response.set_rcode(rule.rcode)
        if rule.aa:
            response.flags |= dns.flags.AA
        if rule.ad and not cd:
            response.flags |= dns.flags.AD
        if transport == "udp" and rule.tc_udp:
            response.flags |= dns.flags.TC
            return response.to_wire()
        for line in rule.answer:
            name, ttl, cls, rdtype, rdata = _split(line)
            rrset = dns.rrset.from_text(name, int(ttl), cls, rdtype, rdata)
            response.answer.append(rrset)
        return response.to_wire()


def _split(line: str) -> list[str]:
    name, ttl, cls, rdtype, rdata = line.split(None, 4)
    return [name, ttl, cls, rdtype, rdata]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: FakeDns) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        out = self.server.respond(data, "udp")
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)


async def _tcp_handler(
    server: FakeDns, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        while True:
            head = await reader.readexactly(2)
            wire = await reader.readexactly(int.from_bytes(head, "big"))
            out = server.respond(wire, "tcp")
            if out is None:
                await asyncio.sleep(30)
                return
            writer.write(len(out).to_bytes(2, "big") + out)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDns]:
    server = FakeDns()
    loop = asyncio.get_running_loop()
    for _ in range(20):  # UDP and TCP on the same free port
        udp, _proto = await loop.create_datagram_endpoint(
            lambda: _Udp(server), local_addr=("127.0.0.1", 0)
        )
        port = udp.get_extra_info("sockname")[1]
        try:
            tcp = await asyncio.start_server(
                lambda r, w: _tcp_handler(server, r, w), "127.0.0.1", port
            )
        except OSError:
            udp.close()
            continue
        server.port = port
        try:
            yield server
        finally:
            udp.close()
            tcp.close()
        return
    pytest.skip("no free port for the test DNS server")
