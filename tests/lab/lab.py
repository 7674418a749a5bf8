"""The Lab: brings the whole lab up and down, and runs commands in the client namespace.

    lab = Lab("main")
    lab.up()            # namespaces, PKI, zones, Knot, Unbound, nginx, nftables, inventory
    lab.run_in_client(["dig", "www.good.gov.vn", "AAAA"])
    lab.scan()          # `auditor scan` of the lab inventory, in the client namespace
    lab.down()          # stops every daemon by its PID, deletes the namespaces

All state lives in one directory (default /tmp/auditor-lab-<tag>) with a state.json that
`python -m tests.lab down` reads, so a lab brought up by hand can be torn down by hand.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import yaml

from . import postfix
from .dns import Dns, zone_of
from .netns import Netns, netns_list, netns_pids
from .pki import Pki
from .scenarios import (
    ALLOW_NETS,
    NAME_SERVERS,
    RESOLVER_V4,
    RESOLVER_V6,
    SCENARIOS,
    NameServer,
    Scenario,
    Web,
    Zone,
)
from .web import MODULES, Placed, nginx_conf

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIRED_BINARIES = (
    "ip", "nft", "nginx", "knotd", "keymgr", "knotc", "unbound", "unbound-control",
    "openssl", "dig", "curl", "dnssec-keygen", "dnssec-signzone", "dnssec-dsfromkey",
)  # fmt: skip
START_TIMEOUT = 30.0
# Per-step network timeout of the lab scans (`auditor scan --timeout`). Every lab answer takes
# milliseconds; AUDITOR_LAB_TIMEOUT exists to tell a slow scanner from a broken lab.
SCAN_TIMEOUT = os.environ.get("AUDITOR_LAB_TIMEOUT", "2")


def missing_prerequisites() -> list[str]:
    """Why the lab cannot run here (empty list: it can)."""
    why: list[str] = []
    if platform.system() != "Linux":
        why.append(f"not Linux ({platform.system()})")
        return why
    if os.geteuid() != 0:
        why.append("not root (network namespaces need CAP_NET_ADMIN)")
    missing = [b for b in REQUIRED_BINARIES if shutil.which(b) is None]
    if missing:
        why.append("missing programs: " + ", ".join(missing) + " (see tests/lab/apt-packages.txt)")
    mods = [m for m in MODULES if not Path(m).exists()]
    if mods:
        why.append("missing nginx modules: " + ", ".join(mods))
    return why


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # a zombie (state Z) is dead; it waits for its (re)parent to reap it
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _stop_pids(pids: dict[str, int], expect: dict[str, str], timeout: float = 5.0) -> None:
    """SIGTERM each PID (only if it still runs the program we started), wait, then SIGKILL."""
    live = {}
    for name, pid in pids.items():
        if _alive(pid) and expect.get(name, "") in _cmdline(pid):
            try:
                os.kill(pid, signal.SIGTERM)
                live[name] = pid
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    while live and time.monotonic() < deadline:
        for name, pid in list(live.items()):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap if it is our child
            if not _alive(pid):
                del live[name]
        time.sleep(0.05)
    for pid in live.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _v4(ns: NameServer) -> str:
    """The IPv4 address of a lab name server that has one (dig is pointed at it)."""
    if ns.v4 is None:
        raise RuntimeError(f"lab name server {ns.name} has no IPv4 address")
    return ns.v4


def _dane_data(p: Placed, kind: str) -> str:
    """The TLSA record "<usage> <selector> <mtype> <hex>" of a lab host's certificate:
    usage 3 the leaf, usage 2 its issuer (the chain's second certificate, RFC 6698 2.1)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    assert p.cert is not None, f"{p.host.name} has no certificate for its TLSA record"
    usage, selector, mtype = (int(x) for x in kind.split())
    certs = x509.load_pem_x509_certificates(p.cert.chain.read_bytes())
    cert = certs[0] if usage == 3 else certs[1]
    data = (
        cert.public_bytes(Encoding.DER)
        if selector == 0
        else cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    if mtype == 1:
        data = hashlib.sha256(data).digest()
    elif mtype == 2:
        data = hashlib.sha512(data).digest()
    return f"{kind} {data.hex()}"


def dane_records(z: Zone, placed: dict[str, Placed]) -> Zone:
    """The zone with each "{dane:<host>:<u s m>}" (scenarios.dane) replaced by the record
    data of that host's lab certificate."""
    if not any("{dane:" in r for r in z.records):
        return z

    def one(m: re.Match[str]) -> str:
        return _dane_data(placed[m[1]], m[2])

    return replace(
        z, records=tuple(re.sub(r"\{dane:([^:}]+):([^}]+)\}", one, r) for r in z.records)
    )


class LabError(RuntimeError):
    pass


class Lab:
    def __init__(
        self,
        tag: str = "main",
        base_dir: Path | None = None,
        scenarios: tuple[Scenario, ...] = SCENARIOS,
    ) -> None:
        if not tag.isalnum() or len(tag) > 11:
            raise ValueError("tag: up to 11 letters/digits (interface names are short)")
        self.tag = tag
        self.dir = Path(base_dir or f"/tmp/auditor-lab-{tag}")
        self.scenarios = scenarios
        self.netns = Netns(tag)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.pids: dict[str, int] = {}
        self.postfix_listeners: list[postfix.Listener] = []
        self.placed: dict[str, Placed] = {}
        self.started_in: float | None = None
        self.timings: dict[str, float] = {}  # seconds per start-up phase
        self.stopped_pids: dict[str, int] = {}  # what down() stopped (for leftovers())
        self._t_last = 0.0
        self._atexit = False

    # -- paths and facts tests use ----------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    @property
    def inventory(self) -> Path:
        return self.dir / "inventory.yaml"

    @property
    def ca_file(self) -> Path:
        return self.dir / "pki" / "ca.pem"

    @property
    def resolver(self) -> str:
        return RESOLVER_V4

    @property
    def resolvers(self) -> tuple[str, str]:
        return (RESOLVER_V4, RESOLVER_V6)

    @property
    def allow_nets(self) -> tuple[str, ...]:
        return ALLOW_NETS

    @property
    def client_ns(self) -> str:
        return self.netns.cli

    @property
    def server_ns(self) -> str:
        return self.netns.srv

    def addresses(self, host: str) -> dict[str, str]:
        p = self.placed[host]
        return {f: a for f, a in p.families()}

    # -- address plan -----------------------------------------------------------------------
    def place(self) -> dict[str, Placed]:
        """Give every host its addresses (deterministic; see README.md for the plan)."""
        reserved = {ns.v4 for ns in NAME_SERVERS} | {RESOLVER_V4}
        web_octets = (o for o in range(10, 250) if f"192.0.2.{o}" not in reserved)
        mail_octets = iter(range(100, 250))
        zones = [z.name for s in self.scenarios for z in s.zones]
        placed: dict[str, Placed] = {}
        later = []
        for s in self.scenarios:
            for h in s.hosts:
                zone = zone_of(h.name, zones)
                if h.share_with or h.cname:
                    later.append((h, zone))
                    continue
                if h.smtp is not None:
                    o = next(mail_octets)
                    v4, v6 = f"198.51.100.{o}", f"2001:db8:25::{o}"
                else:
                    o = next(web_octets)
                    v4, v6 = f"192.0.2.{o}", f"2001:db8:80::{o}"
                placed[h.name] = Placed(h, v4 if h.v4 else None, v6 if h.v6 else None, None, zone)
        for h, zone in later:
            if h.share_with:
                other = placed[h.share_with]
                placed[h.name] = Placed(h, other.v4, other.v6, None, zone)
            else:
                placed[h.name] = Placed(h, None, None, None, zone)
        return placed

    def service_addresses(self) -> list[str]:
        addrs: list[str] = []
        for ns in NAME_SERVERS:
            addrs += [a for a in (ns.v4, ns.v6) if a]
        addrs += [RESOLVER_V4, RESOLVER_V6]
        for p in self.placed.values():
            if p.host.share_with:
                continue
            addrs += [a for _, a in p.families()]
        return list(dict.fromkeys(addrs))

    # -- bring up ---------------------------------------------------------------------------
    def up(self) -> Lab:
        why = missing_prerequisites()
        if why:
            raise LabError("; ".join(why))
        t0 = time.monotonic()
        if self.state_file.exists() or self.netns.exists():
            Lab.down_from_state(self.dir, self.tag)  # a stale lab with the same tag
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True)
        if not self._atexit:
            atexit.register(self._atexit_down)
            self._atexit = True
        try:
            self._up()
        except BaseException:
            self.down()
            raise
        self.started_in = time.monotonic() - t0
        self._save_state()
        return self

    def _mark(self, phase: str) -> None:
        now = time.monotonic()
        self.timings[phase] = round(now - self._t_last, 3)
        self._t_last = now

    def _up(self) -> None:
        self._t_last = time.monotonic()
        self.placed = self.place()
        self._save_state()  # so a half-started lab can be torn down from another process
        mark = self._mark
        self.netns.create(self.service_addresses(), [RESOLVER_V4, RESOLVER_V6])
        mark("netns")
        self._save_state()
        # PKI: root + intermediate, then every leaf in parallel
        self.pki = Pki(self.dir / "pki")
        self.pki.make_ca()
        jobs = {
            name: (p.host.cert, name)
            for name, p in self.placed.items()
            if (p.serves_web or p.host.smtp) and not p.host.dns_only
        }
        issued = self.pki.issue_many(jobs)
        mark("pki")
        self.placed = {n: replace(p, cert=issued.get(n)) for n, p in self.placed.items()}
        # DNS (TLSA records derived from the certificates just issued: dane_records)
        zones = [dane_records(z, self.placed) for s in self.scenarios for z in s.zones]
        self.dns = Dns(self.dir / "dns", zones)
        self.dns.add_ns_addresses()
        for p in self.placed.values():
            if p.host.cname:
                self.dns.add(p.host.name, "CNAME", p.host.cname + ".")
            if p.v4:
                self.dns.add(p.host.name, "A", p.v4)
            if p.v6:
                self.dns.add(p.host.name, "AAAA", p.v6)
        self.dns.write_knot_conf()
        self.dns.generate_keys()
        self.dns.write_zones()
        self.dns.write_unbound_conf()
        mark("dns-keys-zones")
        # web + mail
        self.nginx_dir = self.dir / "nginx"
        self.nginx_dir.mkdir()
        self._write_nginx_conf()
        self.postfix_listeners = postfix.write_config(self.postfix_dir, list(self.placed.values()))
        self._load_nft()
        self._start_daemons()
        mark("configs-started")
        self._wait_ready()
        mark("ready")
        self.write_inventory()

    def _start_daemons(self) -> None:
        """Start Knot, Unbound and nginx on the configs written so far; record their PIDs."""
        self._start("knotd", self.dns.knot_cmd(), self.dns.kdir / "knotd.out")
        self._start("unbound", self.dns.unbound_cmd(), self.dns.udir / "unbound.out")
        self._start(
            "nginx",
            ["nginx", "-e", str(self.nginx_dir / "error.log"), "-c", str(self.nginx_conf)],
            self.nginx_dir / "nginx.out",
        )
        if self.postfix_listeners:  # issue #20: the STARTTLS scenarios' MX (tests/lab/postfix.py)
            self._start(
                "postfix", postfix.master_cmd(self.postfix_dir), self.postfix_dir / "master.out"
            )
        scripted = [p for p in self.placed.values() if p.host.tls_server and p.cert is not None]
        for p in scripted:  # one process per host: each serves its own certificate
            assert p.cert is not None
            specs = [f"{p.host.tls_server}@{a}" for _, a in p.families()]
            self._start(
                f"depth_server:{p.host.name}",
                [sys.executable, "-m", "tests.lab.depth_server", "--chain", str(p.cert.chain),
                 "--key", str(p.cert.key), *specs],
                self.dir / f"depth_server-{p.host.name}.log",
                cwd=REPO_ROOT,
            )  # fmt: skip
        self._save_state()

    def _mx_of_zone(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for s in self.scenarios:
            for z in s.zones:
                for rec in z.records:
                    parts = rec.split()
                    if len(parts) >= 4 and parts[0] == "@" and parts[1] == "MX" and parts[3] != ".":
                        out.setdefault(z.name, []).append(parts[3].rstrip("."))
        return out

    @property
    def nginx_conf(self) -> Path:
        return self.dir / "nginx" / "nginx.conf"

    def _write_nginx_conf(self) -> None:
        text = nginx_conf(self.nginx_dir, list(self.placed.values()), self._mx_of_zone())
        self.nginx_conf.write_text(text)

    def _load_nft(self) -> None:
        rules = []
        for p in self.placed.values():
            for family, addr in p.families():
                w = p.web_for(family)
                if p.host.smtp is not None or not w.block:
                    continue
                match = "ip6 daddr" if family == "v6" else "ip daddr"
                if w.block == "drop":
                    rules.append(f"    {match} {addr} drop")
                elif w.block == "reset":
                    rules.append(f"    {match} {addr} meta l4proto tcp reject with tcp reset")
        for ns in NAME_SERVERS:
            if ns.blackhole:
                rules += [f"    ip daddr {ns.v4} drop"] if ns.v4 else []
                rules += [f"    ip6 daddr {ns.v6} drop"] if ns.v6 else []
        ruleset = (
            "table inet auditorlab {\n  chain input {\n"
            "    type filter hook input priority 0; policy accept;\n"
            + "\n".join(rules)
            + "\n  }\n}\n"
        )
        (self.dir / "nft.conf").write_text(ruleset)
        self.netns.nft(ruleset)

    def _start(self, name: str, cmd: list[str], log: Path, cwd: Path | None = None) -> None:
        with open(log, "wb") as out:
            p = subprocess.Popen(
                self.netns.exec_srv(cmd),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,  # survives Ctrl-C in the shell that ran `up`
            )
        # `ip netns exec` execs the command: this PID is the daemon's own.
        self.procs[name] = p
        self.pids[name] = p.pid

    def _check_procs(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                logs = {
                    "knotd": [self.dns.kdir / "knotd.out", self.dns.kdir / "knot.log"],
                    "unbound": [self.dns.udir / "unbound.out", self.dns.udir / "unbound.log"],
                    "nginx": [self.nginx_dir / "nginx.out", self.nginx_dir / "error.log"],
                    "postfix": [self.postfix_dir / "master.out"],
                }.get(name, [self.dir / f"{name.replace(':', '-')}.log"])
                text = "".join(f.read_text()[-3000:] for f in logs if f.exists())
                raise LabError(f"{name} exited with {p.returncode}:\n{text}")

    def _wait_ready(self, extra_seconds: float = 0.0, probe_zone: str = "good.gov.vn") -> None:
        """Until Knot serves every signed zone, Unbound validates ``probe_zone`` (AD bit)
        and nginx has written its PID."""
        deadline = time.monotonic() + START_TIMEOUT + extra_seconds
        signed = self.dns.signed_zones()
        knot_ok = unbound_ok = nginx_ok = False
        while time.monotonic() < deadline:
            self._check_procs()
            if not knot_ok:
                args = ["dig", "@" + _v4(NAME_SERVERS[3]), "+norec", "+dnssec", "+noall",
                        "+answer", "+time=1", "+tries=1"]  # fmt: skip
                for z in signed:
                    args += ["DNSKEY", z if z == "." else z + "."]
                out = subprocess.run(
                    self.netns.exec_srv(args), capture_output=True, text=True, check=False
                ).stdout
                knot_ok = out.count("\tRRSIG\tDNSKEY") >= len(signed)
            if knot_ok and not unbound_ok:
                probe = ["dig", "@" + RESOLVER_V4, "+dnssec", "+time=1", "+tries=1", "SOA"]
                r = subprocess.run(
                    self.netns.exec_cli([*probe, probe_zone]),
                    capture_output=True,
                    text=True,
                    check=False,
                )
                unbound_ok = " ad;" in r.stdout or " ad " in r.stdout
            if not nginx_ok:
                nginx_ok = (self.nginx_dir / "nginx.pid").exists() and self._postfix_listening()
            if knot_ok and unbound_ok and nginx_ok:
                return
            time.sleep(0.1)
        raise LabError(
            f"{type(self).__name__} not ready after {START_TIMEOUT + extra_seconds:.0f}s: "
            f"knot={knot_ok} unbound={unbound_ok} nginx={nginx_ok}; logs in {self.dir}"
        )

    @property
    def postfix_dir(self) -> Path:
        return self.dir / "postfix"

    def _postfix_listening(self) -> bool:
        """Every Postfix listen address has its port 25 open (master binds them all)."""
        if not self.postfix_listeners:
            return True
        out = subprocess.run(
            self.netns.exec_srv(["ss", "-ltnH"]), capture_output=True, text=True, check=False
        ).stdout
        return all(
            (f"[{x.address}]:25" if ":" in x.address else f"{x.address}:25") in out
            for x in self.postfix_listeners
        )

    # -- inventory --------------------------------------------------------------------------
    def write_inventory(self, path: Path | None = None) -> Path:
        agencies = []
        for s in self.scenarios:
            if not s.inventory_domains and not s.inventory_hosts:
                continue
            agencies.append(
                {
                    "id": s.agency_id,
                    "name": f"Lab: {s.description}",
                    "domains": list(s.inventory_domains),
                    "hosts": list(s.inventory_hosts),
                }
            )
        inv = {
            "version": 1,
            "name": "Auditor lab",
            "as_of": dt.date.today(),
            "agencies": agencies,
        }
        path = path or self.inventory
        path.write_text(yaml.safe_dump(inv, sort_keys=False, allow_unicode=True))
        return path

    # -- running things in the client namespace ----------------------------------------------
    def client_cmd(self, cmd: list[str]) -> list[str]:
        return self.netns.exec_cli(cmd)

    def run_in_client(
        self, cmd: list[str], timeout: float = 120, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        return subprocess.run(self.netns.exec_cli(cmd), timeout=timeout, check=False, **kw)

    def auditor_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        return env

    def scan_args(self, out_dir: Path, *extra: str) -> list[str]:
        args = [
            sys.executable, "-m", "auditor", "scan", str(self.inventory),
            "--db", str(out_dir / "lab.db"), "--json", str(out_dir / "scan.json"),
            "--out", str(out_dir / "html"), "--ca-file", str(self.ca_file),
            "--timeout", SCAN_TIMEOUT,
        ]  # fmt: skip
        for net in self.allow_nets:
            args += ["--allow-net", net]
        return args + list(extra)

    def run_auditor_v4only(
        self, args: list[str], timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        """``auditor ARGS`` in the IPv4-only client namespace (Netns.v4_client_create)."""
        return subprocess.run(
            self.netns.exec_cli4([sys.executable, "-m", "auditor", *args]),
            timeout=timeout,
            check=False,
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=self.auditor_env(),
        )

    def run_auditor(
        self, args: list[str], timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        return self.run_in_client(
            [sys.executable, "-m", "auditor", *args],
            timeout=timeout,
            cwd=REPO_ROOT,
            env=self.auditor_env(),
        )

    def scan(
        self, out_dir: Path | None = None, *extra: str, timeout: float = 900
    ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
        out_dir = out_dir or (self.dir / "scan")
        out_dir.mkdir(parents=True, exist_ok=True)
        r = self.run_in_client(
            self.scan_args(out_dir, *extra), timeout=timeout, cwd=REPO_ROOT,
            env=self.auditor_env(),
        )  # fmt: skip
        js = out_dir / "scan.json"
        data = json.loads(js.read_text()) if js.exists() else None
        return r, data

    # -- changing a scenario between two scans (for `auditor diff` tests) --------------------
    def reconfigure_web(self, host: str, **changes: Any) -> None:
        """Change a host's Web settings (v4 and v6) and reload nginx. Packet-filter
        (`block`) changes are not supported here."""
        p = self.placed[host]
        h = replace(p.host, web=replace(p.host.web, **changes))
        if p.host.web6 is not None:
            h = replace(h, web6=replace(p.host.web6, **changes))
        self.placed[host] = replace(p, host=h)
        self.reload_nginx()

    def set_web(self, host: str, web: Web, web6: Web | None = None) -> None:
        p = self.placed[host]
        self.placed[host] = replace(p, host=replace(p.host, web=web, web6=web6))
        self.reload_nginx()

    reconfigure_nginx = reconfigure_web

    def change_dns(
        self,
        zone: str,
        add: Sequence[str] = (),
        remove: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Change records of a lab zone between two scans, e.g.
        `lab.change_dns("v4only.gov.vn", add=["www.v4only.gov.vn. AAAA 2001:db8:80::99"])`
        or `remove=[("www.good.gov.vn", "AAAA")]`. Knot reloads (and re-signs) the zone and
        Unbound forgets what it cached under it. (An added address gets no listener.)"""
        self.dns.edit_zone(zone, add, remove)
        for cmd in (self.dns.knotc_reload_cmd(zone), self.dns.unbound_flush_cmd(zone)):
            r = subprocess.run(
                self.netns.exec_srv(cmd), capture_output=True, text=True, check=False
            )
            if r.returncode != 0:
                raise LabError(f"{' '.join(cmd)}: {r.stdout}{r.stderr}")
        want = str(self.dns.serial)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            r = subprocess.run(
                self.netns.exec_srv(
                    ["dig", "@" + _v4(NAME_SERVERS[3]), "+short", "+norec", "SOA", zone + "."]
                ),
                capture_output=True,
                text=True,
                check=False,
            )
            serial = r.stdout.split()[2] if len(r.stdout.split()) > 2 else ""
            if serial.isdigit() and int(serial) >= int(want):
                break
            time.sleep(0.1)
        else:
            raise LabError(f"{zone}: Knot did not serve serial {want}")
        subprocess.run(
            self.netns.exec_srv(self.dns.unbound_flush_cmd(zone)), capture_output=True, check=False
        )

    def reload_nginx(self) -> None:
        self._write_nginx_conf()
        r = subprocess.run(
            self.netns.exec_srv(["nginx", "-t", "-q", "-c", str(self.nginx_conf),
                                 "-e", str(self.nginx_dir / "error.log")]),
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if r.returncode != 0:
            raise LabError(f"new nginx config rejected: {r.stderr}")
        os.kill(self.pids["nginx"], signal.SIGHUP)
        time.sleep(1.0)  # old workers finish, new ones take over

    # -- state and teardown ------------------------------------------------------------------
    def _save_state(self) -> None:
        if not self.dir.exists():
            return
        state = {
            "tag": self.tag,
            "dir": str(self.dir),
            "server_ns": self.netns.srv,
            "client_ns": self.netns.cli,
            "pids": self.pids,
            "inventory": str(self.inventory),
            "ca_file": str(self.ca_file),
            "resolvers": list(self.resolvers),
            "allow_nets": list(self.allow_nets),
            "started_in": self.started_in,
            "timings": self.timings,
        }
        self.state_file.write_text(json.dumps(state, indent=2))

    EXPECT_CMD: ClassVar[dict[str, str]] = {
        "knotd": "knotd",
        "unbound": "unbound",
        "nginx": "nginx",
        "postfix": "postfix/sbin/master",
    }

    @staticmethod
    def expect_cmd(pids: dict[str, int]) -> dict[str, str]:
        """What each started PID must still run to be stopped (a reused PID is left alone)."""
        names = [n for n in pids if n.startswith("depth_server:")]
        return {**Lab.EXPECT_CMD, **dict.fromkeys(names, "tests.lab.depth_server")}

    def down(self, keep_dir: bool = False) -> None:
        """Idempotent; works on a half-started lab."""
        _stop_pids(self.pids, Lab.expect_cmd(self.pids))
        for p in self.procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs.clear()
        _kill_namespace_leftovers(self.netns)
        self.netns.delete()
        self.stopped_pids.update(self.pids)
        self.pids = {}
        if not keep_dir and self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    def _atexit_down(self) -> None:
        if self.procs or self.netns.exists():
            self.down(keep_dir=True)

    @staticmethod
    def down_from_state(dir: Path, tag: str | None = None, keep_dir: bool = False) -> None:
        state_file = dir / "state.json"
        pids: dict[str, int] = {}
        if state_file.exists():
            st = json.loads(state_file.read_text())
            tag = st["tag"]
            pids = {k: int(v) for k, v in st.get("pids", {}).items()}
        if tag is None:
            raise LabError(f"no lab state in {dir}")
        _stop_pids(pids, Lab.expect_cmd(pids))
        ns = Netns(tag)
        _kill_namespace_leftovers(ns)
        ns.delete()
        if not keep_dir and dir.exists():
            shutil.rmtree(dir, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """What of this lab still exists (empty after a clean down)."""
        out = []
        names = netns_list()
        out += [
            f"netns {n}"
            for n in (self.netns.srv, self.netns.cli, self.netns.cli4, self.netns.cli2)
            if n in names
        ]
        pids = {**self.stopped_pids, **self.pids}
        out += [f"pid {n}={p}" for n, p in pids.items() if _alive(p)]
        for etc in (self.netns.etc_dir, self.netns.etc4_dir, self.netns.etc2_dir):
            if etc.exists():
                out.append(str(etc))
        return out


def _kill_namespace_leftovers(ns: Netns) -> None:
    """Anything still running inside our own namespaces (e.g. a shell or a scan left behind
    by a test) is ours: stop it by PID before deleting the namespaces."""
    names = netns_list()
    pids = {}
    for n in (ns.srv, ns.cli, ns.cli4, ns.cli2):
        if n in names:
            for pid in netns_pids(n):
                if pid != os.getpid():
                    pids[f"{n}:{pid}"] = pid
    if pids:
        _stop_pids(pids, {}, timeout=3.0)


def reap_stale_test_labs() -> list[str]:
    """Tear down labs left by test sessions that died (SIGKILL, power loss): their tags are
    t<pid>/u<pid>/c<pid>/s<pid> (s: scale lab) and that pid no longer runs. Labs brought up
    by hand (other tags) and labs of live sessions are never touched."""
    reaped = []
    tags = set()
    for ns in netns_list():
        m = re.fullmatch(r"auditor-lab-([tucs]\d+)-(srv|cli|c4|c2)", ns)
        if m:
            tags.add(m[1])
    for tag in sorted(tags):
        if not _alive(int(tag[1:])):
            Lab.down_from_state(Path(f"/tmp/auditor-lab-{tag}"), tag)
            reaped.append(tag)
    return reaped
