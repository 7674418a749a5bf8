"""Test PKI and a throw-away nginx for the TLS probe tests (loopback only)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_key(kind: str = "ec") -> Key:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(65537, int(kind.removeprefix("rsa")))


def make_cert(
    subject: str,
    key: Key,
    issuer: x509.Certificate | None,
    issuer_key: Key,
    *,
    ca: bool = False,
    sans: tuple[str, ...] = (),
    days: tuple[int, int] = (-1, 365),
    algo: hashes.HashAlgorithm | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer.subject if issuer else _name(subject))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days[0]))
        .not_valid_after(now + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if issuer is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),  # type: ignore[arg-type]
            False,
        )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), False)
    return b.sign(issuer_key, algo or hashes.SHA256())  # type: ignore[arg-type]


@dataclass
class Pki:
    root: x509.Certificate
    root_key: Key
    inter: x509.Certificate
    inter_key: Key

    @classmethod
    def create(cls) -> Pki:
        rk = make_key("ec")
        root = make_cert("Test Root CA", rk, None, rk, ca=True, days=(-10, 3650))
        ik = make_key("ec")
        inter = make_cert("Test Intermediate CA", ik, root, rk, ca=True, days=(-10, 1825))
        return cls(root, rk, inter, ik)

    def leaf(
        self, names: tuple[str, ...], kind: str = "ec", **kw: object
    ) -> tuple[x509.Certificate, Key]:
        k = make_key(kind)
        return make_cert(names[0], k, self.inter, self.inter_key, sans=names, **kw), k  # type: ignore[arg-type]


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: Key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


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
        location / {{ return 200 "ok"; }}
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
