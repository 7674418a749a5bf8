"""The demo's certificates, made on the fly with ``cryptography``: a demo root CA (trusted by
the demo scan only, through ``--ca-file``) and one leaf per host, valid or expired."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Validity of a "valid" demo leaf: comfortably above the 30 days under which
# tls.cert.expiry warns (its default threshold).
VALID_DAYS = 90
# TLS 1.2 suites offered (TLS 1.3 suites are OpenSSL's, all AEAD): ECDHE with AES-GCM or
# ChaCha20-Poly1305 ("good" in NCSC-NL 2025-05), and for the deviating host the ECDHE CBC
# suites with SHA-2 ("phase-out").
AEAD = "ECDHE+AESGCM:ECDHE+CHACHA20"
CBC = "ECDHE+AES+SHA256:ECDHE+AES+SHA384"


@dataclass(frozen=True)
class DemoPki:
    ca_file: Path  # the root certificate (PEM): what the scan gets as --ca-file
    chains: dict[str, tuple[Path, Path]]  # host -> (certificate PEM, key PEM)

    def context(self, host: str, cbc: bool = False) -> ssl.SSLContext:
        """A server context serving ``host``'s certificate, TLS 1.2 and 1.3 only, with
        forward-secret AEAD suites (NCSC-NL 2025-05 "good"), plus the phase-out CBC-SHA2
        suites when ``cbc``."""
        cert, key = self.chains[host]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # TLS 1.2 minimum: NCSC-NL 2025 / tls.protocols.legacy (SSL 3.0-TLS 1.1 refused).
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(AEAD + (":" + CBC if cbc else ""))
        ctx.load_cert_chain(str(cert), str(key))
        return ctx


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "auditor demo (not a real CA)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_pki(directory: Path, hosts: Iterable[tuple[str, str]]) -> DemoPki:
    """Write the CA and a leaf per ``(host, "valid" | "expired")`` under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("auditor demo root CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now + dt.timedelta(days=400))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "demo-ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chains: dict[str, tuple[Path, Path]] = {}
    for host, kind in hosts:
        key = ec.generate_private_key(ec.SECP256R1())
        if kind == "expired":
            start, end = now - dt.timedelta(days=120), now - dt.timedelta(days=3)
        else:
            start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=VALID_DAYS)
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_name(host))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        cert_path = directory / f"{host}.pem"
        key_path = directory / f"{host}.key"
        cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(_pem_key(key))
        key_path.chmod(0o600)
        chains[host] = (cert_path, key_path)
    return DemoPki(ca_file, chains)
