"""Scale mode of the lab: N synthetic, fully good agency hosts for benchmarks (bench/run).

    lab = ScaleLab("bench", hosts=2000)
    lab.up()            # namespaces, PKI, zones, Knot, Unbound, one nginx; inventory
    ...                 # lab.inventory, lab.ca_file, lab.client_cmd([...])
    lab.down()

The layout, like a province's catalogue: agencies of `per_zone` hosts (default 20), each
agency with its own signed zone `bNNNN.gov.vn` (2 name servers with AAAA, CAA, MX with AAAA
and STARTTLS, SPF -all, DMARC reject, MTA-STS) and hosts `hNNNNN.bNNNN.gov.vn`:
dual-stack, valid TLS 1.2/1.3 (EC P-256, a wildcard certificate per zone from the lab CA,
OCSP stapled), HTTP -> HTTPS redirect, HSTS and every header, security.txt.

Addresses: every host has its own AAAA (2001:db8:b000::/48, on the server namespace's lo).
IPv4 has only the documentation space: 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24
minus the lab's name servers, resolver and veth link, about 730 addresses; beyond that hosts
share their A round-robin (several hosts per IPv4 address, told apart by SNI/Host, as on
shared hosting). `ScaleLab.v4_pool()` is the list.

nginx does not open a socket per address (the open-files hard limit is 20000): it listens on
the wildcard `0.0.0.0`/`[::]` ports 80 and 443 of the server namespace, where every service
address is local, and picks the server block by SNI (`server_name *.bNNNN.gov.vn`). The
main lab (`Lab`) is unchanged; this class reuses its namespaces, PKI, DNS and teardown.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import time
from pathlib import Path

import yaml

from .dns import Dns
from .lab import Lab
from .pki import Pki
from .scenarios import (
    ALLOW_NETS,
    GOOD_CIPHERS_EC,
    GOOD_PROTOCOLS,
    LINK_V4_CLI,
    LINK_V4_SRV,
    MAIL_SIGALGS,
    NAME_SERVERS,
    RESOLVER_V4,
    RESOLVER_V6,
    CertSpec,
    Host,
    Zone,
    security_txt,
)
from .web import MODULES, Placed, page

# SHA-256 and up only, for the key exchange signature (a hardened server: tls.kex_hash)
SHA2_SIGALGS = "ECDSA+SHA256:ECDSA+SHA384:RSA-PSS+SHA256:RSA+SHA256:RSA+SHA384"
V6_PREFIX = "2001:db8:b000::"  # host i -> 2001:db8:b000::<i+1 in hex>
MX_V6 = "2001:db8:b025::25"
MAX_HOSTS = 50_000  # bounded: a bench brings up at most this many hosts


def zone_name(z: int) -> str:
    return f"b{z:04d}.gov.vn"


def host_name(i: int, per_zone: int) -> str:
    return f"h{i:05d}.{zone_name(i // per_zone)}"


# an Ed25519 public key (RFC 8463), base64: what a DKIM selector publishes
DKIM_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="


def mx_name() -> str:
    return f"mx.{zone_name(0)}"


@dataclasses.dataclass(frozen=True)
class ScaleHost:
    name: str
    zone: str
    v4: str
    v6: str


class ScaleLab(Lab):
    """The lab with N synthetic good hosts instead of the scenarios (see the module doc)."""

    def __init__(
        self,
        tag: str = "bench",
        hosts: int = 2000,
        per_zone: int = 20,
        base_dir: Path | None = None,
    ) -> None:
        if not 1 <= hosts <= MAX_HOSTS:
            raise ValueError(f"hosts: 1..{MAX_HOSTS}")
        if per_zone < 1:
            raise ValueError("per_zone must be at least 1")
        super().__init__(tag, base_dir=base_dir, scenarios=())
        self.n = hosts
        self.per_zone = per_zone
        self.n_zones = (hosts + per_zone - 1) // per_zone
        self.hosts: list[ScaleHost] = []
        self.zone_certs: dict[str, Path] = {}

    # -- address plan -----------------------------------------------------------------------
    @staticmethod
    def v4_pool() -> list[str]:
        """IPv4 addresses free for hosts: the three documentation /24s minus the lab's own
        (name servers, resolver, veth link ends) and network/broadcast addresses."""
        reserved = {ns.v4 for ns in NAME_SERVERS} | {RESOLVER_V4, LINK_V4_SRV, LINK_V4_CLI}
        out = []
        for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"):
            for a in ipaddress.ip_network(net).hosts():
                if str(a) not in reserved and int(str(a).rsplit(".", 1)[1]) >= 3:
                    out.append(str(a))
        return out

    def mx_v4(self) -> str:
        return self.v4_pool()[0]  # the MX keeps the first address to itself

    def plan(self) -> list[ScaleHost]:
        pool = self.v4_pool()[1:]
        base = int(ipaddress.IPv6Address(V6_PREFIX))
        out = []
        for i in range(self.n):
            out.append(
                ScaleHost(
                    name=host_name(i, self.per_zone),
                    zone=zone_name(i // self.per_zone),
                    v4=pool[i % len(pool)],
                    v6=str(ipaddress.IPv6Address(base + i + 1)),
                )
            )
        return out

    def addresses(self, host: str) -> dict[str, str]:
        h = next(x for x in self.hosts if x.name == host)
        return {"v4": h.v4, "v6": h.v6}

    @property
    def zones(self) -> list[str]:
        return [zone_name(z) for z in range(self.n_zones)]

    def service_addresses(self) -> list[str]:
        addrs: list[str] = []
        for ns in NAME_SERVERS:
            addrs += [a for a in (ns.v4, ns.v6) if a]
        addrs += [RESOLVER_V4, RESOLVER_V6, self.mx_v4(), MX_V6]
        for h in self.hosts:
            addrs += [h.v4, h.v6]
        return [a for a in dict.fromkeys(addrs) if a not in (LINK_V4_SRV, LINK_V4_CLI)]

    # -- bring up ---------------------------------------------------------------------------
    def _zone_spec(self, zone: str) -> Zone:
        mx = mx_name()
        # the MX (nginx's mail module, zone 0's wildcard certificate) publishes DANE-EE
        # "3 1 1" (RFC 7671 sec. 5.1: SHA-256 of the SubjectPublicKeyInfo) in its own zone,
        # with the next key's record beside it (the rollover scheme of RFC 7671 sec. 8.1)
        tlsa: tuple[str, ...] = ()
        if zone == zone_name(0):
            label = f"_25._tcp.{mx.split('.')[0]}"
            tlsa = tuple(f"{label} TLSA 3 1 1 {h}" for h in self._mx_spki_sha256())
        return Zone(
            zone,
            caa=True,
            records=(
                *tlsa,
                # a DKIM selector (RFC 6376 sec. 3.6.2.1): _domainkey exists (mail.dkim)
                f'lab._domainkey TXT "v=DKIM1; k=ed25519; p={DKIM_KEY}"',
                f"@ MX 10 {mx}.",
                '@ TXT "v=spf1 mx -all"',
                f'_dmarc TXT "v=DMARC1; p=reject; rua=mailto:dmarc@{zone}"',
                '_mta-sts TXT "v=STSv1; id=20261101T000000"',
                f'_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@{zone}"',
            ),
        )

    def _mx_spki_sha256(self) -> tuple[str, str]:
        """The SHA-256 of the MX certificate's SubjectPublicKeyInfo, and of the next key's."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        leaf = x509.load_pem_x509_certificate(self.issued[zone_name(0)].cert.read_bytes())
        out = []
        for key in (leaf.public_key(), ec.generate_private_key(ec.SECP256R1()).public_key()):
            spki = key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            digest = hashes.Hash(hashes.SHA256())
            digest.update(spki)
            out.append(digest.finalize().hex())
        return out[0], out[1]

    @property
    def rpki_files(self) -> tuple[Path, Path]:
        """VRPs (rpki-client JSON) and a BGP table (pfx2as) where every lab address is
        announced by AS64500 with a ROA for it: every rpki.* check passes."""
        return self.dir / "vrps.json", self.dir / "bgp-table.txt"

    def _write_rpki_files(self) -> None:
        prefixes = [(n, int(n.split("/")[1])) for n in ALLOW_NETS]
        vrps, table = self.rpki_files
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        roas = [{"asn": 64500, "prefix": n, "maxLength": ln, "ta": "lab"} for n, ln in prefixes]
        vrps.write_text(json.dumps({"metadata": {"buildtime": stamp}, "roas": roas}))
        table.write_text("".join(f"{n.split('/')[0]}\t{ln}\t64500\n" for n, ln in prefixes))

    def scan_args(self, out_dir: Path, *extra: str) -> list[str]:
        vrps, table = self.rpki_files
        return super().scan_args(
            out_dir, "--rpki-vrps", str(vrps), "--bgp-table", str(table), *extra
        )

    def _up(self) -> None:
        self._t_last = time.monotonic()
        mark = self._mark
        self.hosts = self.plan()
        self._save_state()
        self.netns.create(self.service_addresses(), [RESOLVER_V4, RESOLVER_V6])
        mark("netns")
        self._save_state()
        # PKI: one wildcard certificate per agency zone (OCSP stapled, SCTs embedded as a
        # public CA embeds them: a good host passes tls.cert.sct too)
        self.pki = Pki(self.dir / "pki")
        self.pki.make_ca()
        jobs = {
            z: (CertSpec(names=(f"*.{z}", z), stapling=True, sct=True), f"*.{z}")
            for z in self.zones
        }
        self.issued = self.pki.issue_many(jobs)
        self._write_rpki_files()
        mark("pki")
        # DNS: one signed zone per agency
        self.dns = Dns(self.dir / "dns", [self._zone_spec(z) for z in self.zones])
        self.dns.add_ns_addresses()
        self.dns.add(mx_name(), "A", self.mx_v4())
        self.dns.add(mx_name(), "AAAA", MX_V6)
        first: dict[str, ScaleHost] = {}
        for h in self.hosts:
            self.dns.add(h.name, "A", h.v4)
            self.dns.add(h.name, "AAAA", h.v6)
            first.setdefault(h.zone, h)
        for z, h in first.items():  # mta-sts.<zone> is served by the zone's first host
            self.dns.add(f"mta-sts.{z}", "A", h.v4)
            self.dns.add(f"mta-sts.{z}", "AAAA", h.v6)
        self.dns.write_knot_conf()
        self.dns.generate_keys()
        self.dns.write_zones()
        self.dns.write_unbound_conf()
        mark("dns-keys-zones")
        self.nginx_dir = self.dir / "nginx"
        self.nginx_dir.mkdir()
        self.nginx_conf.write_text(self.nginx_text())
        self._start_daemons()
        mark("configs-started")
        self._wait_ready()
        mark("ready")
        self.write_inventory()

    def nginx_text(self) -> str:
        d = self.nginx_dir
        tmp = d / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        root = d / "www"
        (root / ".well-known").mkdir(parents=True, exist_ok=True)
        sample = Placed(Host(name="agency portal"), None, None, None, "")
        (root / "index.html").write_text(page(sample, "main"))
        st = security_txt("valid")
        assert st is not None
        (root / ".well-known" / "security.txt").write_text(st)
        (root / ".well-known" / "mta-sts.txt").write_text(
            f"version: STSv1\r\nmode: enforce\r\nmx: {mx_name()}\r\nmax_age: 86400\r\n"
        )
        headers = [
            "    add_header Strict-Transport-Security 'max-age=31536000; includeSubDomains' "
            "always;",
            "    add_header Content-Security-Policy \"default-src 'self'; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'\" always;",
            "    add_header X-Content-Type-Options nosniff always;",
            "    add_header X-Frame-Options DENY always;",
            "    add_header Referrer-Policy strict-origin-when-cross-origin always;",
            "    add_header Set-Cookie 'sid=lab; Path=/; Secure; HttpOnly; SameSite=Lax' always;",
        ]
        lines = [f"load_module {m};" for m in MODULES]
        lines += [
            "user root;",
            "worker_processes 1;",  # the machine is the scanner's too: leave it CPU
            "daemon off;",
            f"pid {d}/nginx.pid;",
            f"error_log {d}/error.log warn;",
            "worker_rlimit_nofile 16384;",
            "events { worker_connections 8192; }",
            "http {",
            "  include /etc/nginx/mime.types;",
            "  default_type application/octet-stream;",
            "  access_log off;",
            f"  client_body_temp_path {tmp}/body;",
            f"  proxy_temp_path {tmp}/proxy;",
            f"  fastcgi_temp_path {tmp}/fastcgi;",
            f"  uwsgi_temp_path {tmp}/uwsgi;",
            f"  scgi_temp_path {tmp}/scgi;",
            "  server_names_hash_bucket_size 128;",
            "  server_names_hash_max_size 65536;",
            "  keepalive_timeout 5;",
            "  server_tokens off;",
            "  ssl_session_cache shared:SSL:20m;",
            # port 80: one server for every host, redirect to HTTPS on the same name
            "  server {",
            "    listen 0.0.0.0:80 default_server;",
            "    listen [::]:80 default_server ipv6only=on;",
            "    server_name _;",
            "    location / { return 301 https://$host$request_uri; }",
            "  }",
        ]
        for i, z in enumerate(self.zones):
            c = self.issued[z]
            ds = " default_server" if i == 0 else ""
            v6opt = " ipv6only=on" if i == 0 else ""
            lines += [
                "  server {",
                f"    listen 0.0.0.0:443 ssl{ds};",
                f"    listen [::]:443 ssl{ds}{v6opt};",
                f"    server_name *.{z};",
                f"    ssl_certificate {c.chain};",
                f"    ssl_certificate_key {c.key};",
                f"    ssl_protocols {GOOD_PROTOCOLS};",
                f"    ssl_ciphers '{GOOD_CIPHERS_EC}';",
                "    ssl_prefer_server_ciphers on;",
                # SHA-256 and up for the key exchange signature (tls.kex_hash: OpenSSL's
                # default list still signs with SHA-224 when a client offers nothing better)
                f"    ssl_conf_command SignatureAlgorithms {SHA2_SIGALGS};",
                f"    root {root};",
                "    index index.html;",
            ]
            if c.ocsp is not None:
                lines += ["    ssl_stapling on;", f"    ssl_stapling_file {c.ocsp};"]
            lines += headers
            lines.append(
                "    location /.well-known/ { default_type text/plain; charset utf-8; "
                "charset_types text/plain; }"
            )
            lines.append("  }")
        lines.append("}")
        mx = self.issued[zone_name(0)]
        lines += [
            "mail {",
            "  auth_http 127.0.0.1:9/auth;",  # never reached: the auditor does not send mail
            "  smtp_auth none;",
            '  smtp_capabilities "SIZE 10485760" "8BITMIME" "PIPELINING";',
            "  server {",
            f"    listen {self.mx_v4()}:25;",
            f"    listen [{MX_V6}]:25;",
            f"    server_name {mx_name()};",
            "    protocol smtp;",
            "    starttls on;",
            f"    ssl_certificate {mx.chain};",
            f"    ssl_certificate_key {mx.key};",
            "    ssl_protocols TLSv1.2 TLSv1.3;",
            # issue #20 (mail.tls.*): good suites in the server's order, no SHA-1 signatures
            f"    ssl_ciphers {GOOD_CIPHERS_EC};",
            "    ssl_prefer_server_ciphers on;",
            f"    ssl_conf_command SignatureAlgorithms {MAIL_SIGALGS};",
            "  }",
            "}",
        ]
        return "\n".join(lines) + "\n"

    def _wait_ready(self, extra_seconds: float = 0.0, probe_zone: str = "") -> None:
        # Knot signs every zone at start: allow for it; the first agency zone is probed.
        super()._wait_ready(extra_seconds + self.n_zones * 0.05, probe_zone or zone_name(0))

    # -- inventory --------------------------------------------------------------------------
    def write_inventory(self, path: Path | None = None, hosts: int | None = None) -> Path:
        """The inventory: one agency per zone (its domain and its hosts). `hosts` limits it
        to the first hosts (a sample on the same lab)."""
        chosen = self.hosts[: hosts if hosts is not None else len(self.hosts)]
        by_zone: dict[str, list[str]] = {}
        for h in chosen:
            by_zone.setdefault(h.zone, []).append(h.name)
        agencies = [
            {
                "id": z.split(".")[0],
                "name": f"Bench agency {z}",
                "domains": [z],
                "hosts": names,
            }
            for z, names in by_zone.items()
        ]
        inv = {"version": 1, "name": f"Scale lab ({len(chosen)} hosts)", "agencies": agencies}
        path = path or self.inventory
        path.write_text(yaml.safe_dump(inv, sort_keys=False, allow_unicode=True))
        return path

    def targets(self, hosts: int | None = None) -> list[ScaleHost]:
        return self.hosts[: hosts if hosts is not None else len(self.hosts)]

    def _save_state(self) -> None:
        super()._save_state()
        if self.state_file.exists():
            st = json.loads(self.state_file.read_text())
            st.update({"scale_hosts": self.n, "per_zone": self.per_zone})
            self.state_file.write_text(json.dumps(st, indent=2))
