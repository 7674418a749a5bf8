"""The lab's PKI, made with the openssl command line: root CA, intermediate, leaf certificates
(including deliberately weak ones), and OCSP responses for stapling."""

from __future__ import annotations

import datetime as dt
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .scenarios import CertSpec


@dataclass(frozen=True)
class Issued:
    key: Path
    cert: Path  # leaf only
    chain: Path  # what the server sends: leaf (+ intermediate)
    ocsp: Path | None


def _run(*args: str | Path, cwd: Path | None = None) -> None:
    r = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed: {r.stderr.strip()}")


def _keygen_args(kind: str) -> list[str]:
    if kind == "ec":
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    if kind == "rsa1024":
        return ["-newkey", "rsa:1024"]
    if kind == "rsa2048":
        return ["-newkey", "rsa:2048"]
    raise ValueError(kind)


def _subj_escape(v: str) -> str:
    # In `-subj`, "/" separates RDNs; backslash escapes it (values like "<b>x</b>").
    return v.replace("\\", "\\\\").replace("/", "\\/").replace("+", "\\+")


def _stamp(days: int) -> str:
    t = dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    return t.strftime("%Y%m%d%H%M%SZ")


class Pki:
    def __init__(self, root: Path) -> None:
        self.dir = root
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_key = self.dir / "ca.key"
        self.ca_cert = self.dir / "ca.pem"  # what --ca-file gets
        self.inter_key = self.dir / "inter.key"
        self.inter_cert = self.dir / "inter.pem"

    def make_ca(self) -> None:
        d = self.dir
        _run(
            "openssl", "req", "-x509", *_keygen_args("ec"), "-nodes",
            "-keyout", self.ca_key, "-out", self.ca_cert, "-days", "3650",
            "-subj", "/C=VN/O=Auditor Lab/CN=Auditor Lab Root CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
        _run(
            "openssl", "req", "-new", *_keygen_args("ec"), "-nodes",
            "-keyout", self.inter_key, "-out", d / "inter.csr",
            "-subj", "/C=VN/O=Auditor Lab/CN=Auditor Lab Issuing CA 1",
        )  # fmt: skip
        (d / "inter.ext").write_text(
            "basicConstraints=critical,CA:TRUE,pathlen:0\n"
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
        )
        _run(
            "openssl", "x509", "-req", "-in", d / "inter.csr", "-CA", self.ca_cert,
            "-CAkey", self.ca_key, "-CAcreateserial", "-days", "1825", "-sha256",
            "-extfile", d / "inter.ext", "-out", self.inter_cert,
        )  # fmt: skip

    def issue(self, name: str, spec: CertSpec, host: str) -> Issued:
        d = self.dir / name
        d.mkdir(parents=True, exist_ok=True)
        names = spec.names or (host,)
        cn = spec.cn if spec.cn is not None else names[0]
        subj = f"/C=VN/O={_subj_escape(spec.org)}/CN={_subj_escape(cn)}"
        key, csr, cert, chain = d / "key.pem", d / "req.csr", d / "cert.pem", d / "chain.pem"
        san = ",".join(f"DNS:{n}" for n in names)
        if spec.issuer == "self":
            _run(
                "openssl", "req", "-x509", *_keygen_args(spec.key), "-nodes", "-keyout", key,
                "-out", cert, "-days", str(spec.not_after_days), "-subj", subj,
                "-addext", f"subjectAltName={san}",
                "-addext", "basicConstraints=critical,CA:FALSE",
                "-addext", "extendedKeyUsage=serverAuth",
                "-sha1" if spec.sha1 else "-sha256",
            )  # fmt: skip
            chain.write_bytes(cert.read_bytes())
            return Issued(key, cert, chain, None)
        _run(
            "openssl", "req", "-new", *_keygen_args(spec.key), "-nodes", "-keyout", key,
            "-out", csr, "-subj", subj,
        )  # fmt: skip
        (d / "index.txt").write_text("")
        (d / "ca.cnf").write_text(
            f"""[ca]
default_ca = lab
[lab]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}
certificate = {self.inter_cert}
private_key = {self.inter_key}
rand_serial = yes
default_md = sha256
policy = pol
unique_subject = no
email_in_dn = no
preserve = yes
[pol]
countryName = optional
organizationName = optional
commonName = optional
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = {san}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
        )
        _run(
            "openssl", "ca", "-batch", "-config", d / "ca.cnf", "-in", csr, "-out", cert,
            "-notext", "-extensions", "ext", "-md", "sha1" if spec.sha1 else "sha256",
            "-startdate", _stamp(spec.not_before_days), "-enddate", _stamp(spec.not_after_days),
        )  # fmt: skip
        data = cert.read_bytes()
        if spec.send_chain:
            data += self.inter_cert.read_bytes()
        chain.write_bytes(data)
        ocsp = None
        if spec.stapling:
            ocsp = d / "ocsp.der"
            _run(
                "openssl", "ocsp", "-issuer", self.inter_cert, "-cert", cert,
                "-no_nonce", "-reqout", d / "ocsp-req.der",
            )  # fmt: skip
            _run(
                "openssl", "ocsp", "-index", d / "index.txt", "-rsigner", self.inter_cert,
                "-rkey", self.inter_key, "-CA", self.inter_cert, "-reqin", d / "ocsp-req.der",
                "-respout", ocsp, "-ndays", "7",
            )  # fmt: skip
        return Issued(key, cert, chain, ocsp)

    def issue_many(self, jobs: dict[str, tuple[CertSpec, str]]) -> dict[str, Issued]:
        with ThreadPoolExecutor(max_workers=16) as ex:
            futs = {k: ex.submit(self.issue, k, spec, host) for k, (spec, host) in jobs.items()}
            return {k: f.result() for k, f in futs.items()}
