"""The lab's PKI, made with the openssl command line: root CA, intermediate, leaf certificates
(including deliberately weak ones), and OCSP responses for stapling."""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp as x509_ocsp

from auditor.protocol.sct import sct_list

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


_INTER_LOCK = threading.Lock()

# Log IDs of the SCTs carried in the handshake (tests/lab/depth_server.py kind sct) and in
# the stapled OCSP response: other logs than the certificate's (0x11, 0x22), so a finding
# tells the three places apart.
TLS_SCT_LOGS = (bytes([0x33]) * 32, bytes([0x44]) * 32)
OCSP_SCT_LOGS = (bytes([0x55]) * 32, bytes([0x66]) * 32)
# id-ce-... SCT list as an OCSP single extension (RFC 6962 sec. 3.3): 1.3.6.1.4.1.11129.2.4.5
_OID_OCSP_SCT = bytes.fromhex("060a2b06010401d679020405")


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + content


def _elements(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(tag, content, whole element) of the DER elements laid end to end in ``data``."""
    out, i = [], 0
    while i < len(data):
        tag, n, j = data[i], data[i + 1], i + 2
        if n & 0x80:
            k = n & 0x7F
            n, j = int.from_bytes(data[j : j + k], "big"), j + k
        out.append((tag, data[j : j + n], data[i : j + n]))
        i = j + n
    return out


def with_single_sct(resp_der: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """``resp_der`` with an SCT list added as the single response's extension and the
    response signed again (RFC 6960 4.2.1: singleExtensions [1] EXPLICIT Extensions). The
    cryptography package builds no single extensions and `openssl ocsp` neither."""
    ((_, outer, _),) = _elements(resp_der)  # OCSPResponse
    status, (_, rbytes, _) = _elements(outer)[:2]  # responseStatus, [0] responseBytes
    ((_, rb, _),) = _elements(rbytes)
    oid, (_, basic_der, _) = _elements(rb)[:2]  # responseType, response OCTET STRING
    ((_, basic, _),) = _elements(basic_der)
    (_, tbs, _), (_, _, sigalg), _sig, *certs = _elements(basic)
    parts = []
    for tag, content, whole in _elements(tbs):
        if tag == 0x30:  # responses: SEQUENCE OF SingleResponse (one here)
            ((_, single, _),) = _elements(content)
            lst = sct_list(list(OCSP_SCT_LOGS))
            ext = _der(0x30, _OID_OCSP_SCT + _der(0x04, _der(0x04, lst)))
            single += _der(0xA1, _der(0x30, ext))
            whole = _der(0x30, _der(0x30, single))
        parts.append(whole)
    new_tbs = _der(0x30, b"".join(parts))
    sig = key.sign(new_tbs, ec.ECDSA(hashes.SHA256()))  # the algorithm sigalg names
    basic = _der(0x30, new_tbs + sigalg + _der(0x03, b"\x00" + sig) + b"".join(c[2] for c in certs))
    rb2 = _der(0x30, oid[2] + _der(0x04, basic))
    return _der(0x30, status[2] + _der(0xA0, rb2))


def made_staple(kind: str, cert: Path, inter_cert: Path, inter_key: Path) -> bytes:
    """A stapled OCSP response made with the cryptography package (CertSpec.staple_content):
    sct = good, with 2 SCTs in the single response (RFC 6962 sec. 3.3); stale = good, but
    nextUpdate 3 days ago (RFC 6960 sec. 4.2.2.1); other = good, for another serial
    number of the same issuer (sec. 4.1.1 CertID: a staple for another certificate)."""
    leaf = x509.load_pem_x509_certificate(cert.read_bytes())
    issuer = x509.load_pem_x509_certificate(inter_cert.read_bytes())
    key = serialization.load_pem_private_key(inter_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the lab's intermediates have EC keys")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    this, nxt = now - dt.timedelta(hours=1), now + dt.timedelta(days=7)
    if kind == "stale":
        this, nxt = now - dt.timedelta(days=10), now - dt.timedelta(days=3)
    b = x509_ocsp.OCSPResponseBuilder()
    good = x509_ocsp.OCSPCertStatus.GOOD
    if kind == "other":
        req = x509_ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
        b = b.add_response_by_hash(
            req.issuer_name_hash, req.issuer_key_hash, leaf.serial_number ^ 1, hashes.SHA1(),
            good, this, nxt, None, None,
        )  # fmt: skip
    elif kind in ("sct", "stale"):
        b = b.add_response(leaf, issuer, hashes.SHA1(), good, this, nxt, None, None)
    else:
        raise ValueError(f"staple_content {kind!r}")
    b = b.responder_id(x509_ocsp.OCSPResponderEncoding.HASH, issuer)
    der = b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    return with_single_sct(der, key) if kind == "sct" else der


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

    def make_inter(self, kind: str) -> tuple[Path, Path]:
        """(key, cert) of the issuing intermediate ``kind`` (CertSpec.inter), made once."""
        if kind == "inter":
            return self.inter_key, self.inter_cert
        with _INTER_LOCK:  # issue_many runs leaves in threads; one intermediate per kind
            return self._make_inter(kind)

    def _make_inter(self, kind: str) -> tuple[Path, Path]:
        key, cert = self.dir / f"inter-{kind}.key", self.dir / f"inter-{kind}.pem"
        if cert.exists():
            return key, cert
        d = self.dir
        _run(
            "openssl", "req", "-new", *_keygen_args("ec"), "-nodes", "-keyout", key,
            "-out", d / f"inter-{kind}.csr",
            "-subj", f"/C=VN/O=Auditor Lab/CN=Auditor Lab Issuing CA {kind}",
        )  # fmt: skip
        ext = d / f"inter-{kind}.ext"
        lines = (d / "inter.ext").read_text()
        if kind == "nc":  # RFC 5280 4.2.1.10: this CA may only issue for example.org
            lines += "nameConstraints=critical,permitted;DNS:example.org\n"
        ext.write_text(lines)
        _run(
            "openssl", "x509", "-req", "-in", d / f"inter-{kind}.csr", "-CA", self.ca_cert,
            "-CAkey", self.ca_key, "-CAcreateserial", "-days", "1825",
            "-sha1" if kind == "sha1" else "-sha256", "-extfile", ext, "-out", cert,
        )  # fmt: skip
        return key, cert

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
        inter_key, inter_cert = self.make_inter(spec.inter)
        extra = ""
        if spec.ocsp_uri:
            extra += "authorityInfoAccess = OCSP;URI:http://ocsp.lab.gov.vn/\n"
        if spec.must_staple:
            extra += "tlsfeature = status_request\n"
        if spec.sct:  # precertificate SCT list (RFC 6962 3.3), an OCTET STRING in DER
            lst = sct_list([bytes([i]) * 32 for i in (0x11, 0x22)])
            octet = b"\x04" + bytes([len(lst)]) + lst
            extra += f"1.3.6.1.4.1.11129.2.4.2 = DER:{octet.hex(':')}\n"
        eku = f"extendedKeyUsage = {spec.eku}\n" if spec.eku else ""
        (d / "ca.cnf").write_text(
            f"""[ca]
default_ca = lab
[lab]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}
certificate = {inter_cert}
private_key = {inter_key}
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
{eku}subjectAltName = {san}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
{extra}"""
        )
        _run(
            "openssl", "ca", "-batch", "-config", d / "ca.cnf", "-in", csr, "-out", cert,
            "-notext", "-extensions", "ext", "-md", "sha1" if spec.sha1 else "sha256",
            "-startdate", _stamp(spec.not_before_days), "-enddate", _stamp(spec.not_after_days),
        )  # fmt: skip
        data = cert.read_bytes()
        if spec.send_chain:
            data += inter_cert.read_bytes()
        chain.write_bytes(data)
        ocsp = None
        if spec.stapling and spec.staple_content:
            ocsp = d / "ocsp.der"
            ocsp.write_bytes(made_staple(spec.staple_content, cert, inter_cert, inter_key))
        elif spec.stapling:
            ocsp = d / "ocsp.der"
            signer, signer_key = (
                (self.ca_cert, self.ca_key)
                if spec.staple_signer == "root"
                else (inter_cert, inter_key)
            )
            _run(
                "openssl", "ocsp", "-issuer", inter_cert, "-cert", cert,
                "-no_nonce", "-reqout", d / "ocsp-req.der",
            )  # fmt: skip
            _run(
                "openssl", "ocsp", "-index", d / "index.txt", "-rsigner", signer,
                "-rkey", signer_key, "-CA", inter_cert, "-reqin", d / "ocsp-req.der",
                "-respout", ocsp, "-ndays", "7",
            )  # fmt: skip
        return Issued(key, cert, chain, ocsp)

    def issue_many(self, jobs: dict[str, tuple[CertSpec, str]]) -> dict[str, Issued]:
        with ThreadPoolExecutor(max_workers=16) as ex:
            futs = {k: ex.submit(self.issue, k, spec, host) for k, (spec, host) in jobs.items()}
            return {k: f.result() for k, f in futs.items()}
