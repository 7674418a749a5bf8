"""Shared test data, built in-process (no network, no servers): one copy for every suite.

Reports, profiles and history: ``CATALOGUE`` is the check list of /work/shared/CHECKS.md
with each check's scope and category. ``full_registry`` registers a stub for every id the
check families have not registered yet (restored after the test), so the bundled profiles
load while the families land. ``make_store`` writes a synthetic scan with findings for every
catalogue id, hostile strings included.

Zone checks (DNS, mail, IPv6 name servers and MX): ``good_zone`` is a zone where every check
passes; ``ans``, ``txt``, ``server`` build its parts; ``run`` runs one check on observations.

Certificates: ``Pki`` (a root and an intermediate) and ``make_cert``/``make_key`` for leaves.

Servers built from these (nginx with a ``Pki`` leaf, a DNS server) are tests/support/servers.py.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from auditor import registry
from auditor.guard import AddressGuard
from auditor.model import Category, Finding, Level, Scope, Status, TargetKind, Verdict
from auditor.obs.core import DnsAnswer, Outcome
from auditor.obs.zone import (
    DnssecStatus,
    MtaStsFetch,
    MtaStsObservation,
    NsQuery,
    ServerHost,
    SmtpProbe,
    ZoneObservations,
)
from auditor.registry import CheckContext, CheckSpec, get_check

H, A, Z = Scope.HOST, Scope.ADDRESS, Scope.ZONE
CATALOGUE: dict[str, tuple[Scope, Category]] = {
    "ipv6.web.aaaa": (H, Category.IPV6_WEB),
    "ipv6.web.reach": (H, Category.IPV6_WEB),
    "ipv6.web.https": (H, Category.IPV6_WEB),
    "ipv6.web.parity": (H, Category.IPV6_WEB),
    "ipv6.web.icmp": (H, Category.IPV6_WEB),
    "ipv6.web.only": (H, Category.IPV6_WEB),
    "ipv6.ns.aaaa": (Z, Category.IPV6_DNS),
    "ipv6.ns.reach": (Z, Category.IPV6_DNS),
    "ipv6.mx.aaaa": (Z, Category.IPV6_MAIL),
    "ipv6.mx.reach": (Z, Category.IPV6_MAIL),
    "dns.resolve": (H, Category.DNS),
    "dns.dnssec": (Z, Category.DNSSEC),
    "dns.ns.count": (Z, Category.DNS),
    "dns.caa": (Z, Category.DNS),
    "tls.available": (A, Category.TLS),
    "tls.protocols.legacy": (A, Category.TLS),
    "tls.protocols.modern": (A, Category.TLS),
    "tls.ciphers": (A, Category.TLS),
    "tls.forward_secrecy": (A, Category.TLS),
    "tls.cert.trusted": (A, Category.TLS),
    "tls.cert.hostname": (A, Category.TLS),
    "tls.cert.expiry": (A, Category.TLS),
    "tls.cert.key": (A, Category.TLS),
    "tls.cert.signature": (A, Category.TLS),
    "tls.ocsp_stapling": (A, Category.TLS),
    "tls.cert.chain": (A, Category.TLS),  # issue #19
    "tls.cert.sct": (A, Category.TLS),
    "http.compression": (A, Category.HTTP),
    "http.https_redirect": (A, Category.HTTP),
    "http.hsts": (A, Category.HTTP),
    "http.csp": (A, Category.HTTP),
    "http.xcto": (A, Category.HTTP),
    "http.frame": (A, Category.HTTP),
    "http.referrer_policy": (A, Category.HTTP),
    "http.security_txt": (A, Category.HTTP),
    "http.cookies": (A, Category.HTTP),
    "http.disclosure": (A, Category.HTTP),
    "mail.spf": (Z, Category.MAIL),
    "mail.dmarc": (Z, Category.MAIL),
    "mail.starttls": (Z, Category.MAIL),
    "mail.mta_sts": (Z, Category.MAIL),
    # Mail and routing (second wave): the DNS- and data-only part
    "mail.dane.exists": (Z, Category.MAIL),
    "mail.dane.rollover": (Z, Category.MAIL),
    "mail.dkim": (Z, Category.MAIL),
    "dns.dnssec.mx": (Z, Category.DNSSEC),
    "rpki.web.valid": (H, Category.ROUTING),
    "rpki.web.roa": (H, Category.ROUTING),
    "rpki.ns.valid": (Z, Category.ROUTING),
    "rpki.ns.roa": (Z, Category.ROUTING),
    "rpki.mx.valid": (Z, Category.ROUTING),
    "rpki.mx.roa": (Z, Category.ROUTING),
}
# Registered beyond CHECKS.md (the bundled profiles use them).
EXTRA: dict[str, tuple[Scope, Category]] = {
    "dns.dnssec.host": (H, Category.DNSSEC),
    # the name servers of the MX targets' zones (issue #20: MX-name-server addresses)
    "rpki.mx_ns.valid": (Z, Category.ROUTING),
    "rpki.mx_ns.roa": (Z, Category.ROUTING),
    # TLS handshake depth (issue 19, checks/tls_depth.py)
    **{
        cid: (A, Category.TLS)
        for cid in (
            "tls.kex_params",
            "tls.kex_hash",
            "tls.cipher_order",
            "tls.compression",
            "tls.renegotiation.secure",
            "tls.ems",
            "tls.fallback_scsv",
            "tls.vuln.heartbleed",
            "tls.vuln.ccs_injection",
            "tls.renegotiation.client",
            "tls.zero_rtt",
            "tls.vuln.robot",
        )
    },
}
ALL = {**CATALOGUE, **EXTRA}

HOSTILE = "<script>alert(1)</script>"


def _stub(obs: Any, ctx: CheckContext) -> Verdict:
    return Verdict.not_tested("stub")


@pytest.fixture
def full_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every CHECKS.md id registered (stubs for the ones not landed yet); restored after."""
    registry.load_checks()
    patched = dict(registry._REGISTRY)
    for cid, (scope, category) in ALL.items():
        if cid not in patched and cid not in registry._ALIASES:
            patched[cid] = CheckSpec(
                id=cid,
                fn=_stub,
                title=f"Stub {cid}",
                category=category,
                scope=scope,
                level_hint=Level.RECOMMENDED,
                needs=(),
                params={"threshold": 30, "enabled": True} if cid == "tls.cert.expiry" else {},
            )
    monkeypatch.setattr(registry, "_REGISTRY", patched)
    from auditor import profiles

    monkeypatch.setattr(profiles, "_CACHE", {})
    yield


def inventory(waivers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An inventory snapshot (the shape of Inventory.to_dict())."""
    return {
        "path": "/tmp/inv.yaml",
        "version": 1,
        "name": "Tỉnh Thử nghiệm",
        "as_of": None,
        "profile": None,
        "defaults": {"paths": ["/"], "ports": [80, 443]},
        "agencies": [
            {
                "id": "so-noi-vu",
                "name": "Sở Nội vụ",
                "name_en": "Department of Home Affairs",
                "parent": None,
                "contact": None,
                "tags": [],
                "domains": ["snv.example.gov.vn"],
                "hosts": [
                    {"host": "snv.example.gov.vn", "display": "snv.example.gov.vn", "paths": ["/"]},
                    {"host": "portal.example.gov.vn", "display": "portal.example.gov.vn"},
                ],
                "waivers": waivers or [],
                "line": 3,
            },
            {
                "id": "ubnd",
                "name": f"UBND {HOSTILE}",
                "name_en": None,
                "parent": None,
                "contact": None,
                "tags": [],
                "domains": ["ubnd.example.gov.vn"],
                "hosts": [{"host": "portal.example.gov.vn", "display": "portal.example.gov.vn"}],
                "waivers": [],
                "line": 20,
            },
            {
                "id": "empty",
                "name": "Không có máy chủ",
                "name_en": None,
                "parent": None,
                "contact": None,
                "tags": [],
                "domains": [],
                "hosts": [],
                "waivers": [],
                "line": 30,
            },
        ],
    }


V4 = "192.0.2.10"
V6 = "2001:db8::10"


def findings_for(
    statuses: dict[tuple[str, str], Status] | None = None, default: Status = Status.PASS
) -> list[Finding]:
    """A finding for every catalogue check on every target (per address where it applies)."""
    statuses = statuses or {}
    out: list[Finding] = []
    hosts = ["snv.example.gov.vn", "portal.example.gov.vn"]
    zones = ["snv.example.gov.vn", "ubnd.example.gov.vn"]
    for cid, (scope, _cat) in ALL.items():
        if scope == Z:
            for z in zones:
                st = statuses.get((z, cid), default)
                out.append(
                    Finding(cid, TargetKind.ZONE, z, None, st, f"{cid} {st.value} {HOSTILE}")
                )
            continue
        for h in hosts:
            st = statuses.get((h, cid), default)
            if scope == A:
                for addr in (V4, V6):
                    st_a = statuses.get((f"{h}@{addr}", cid), st)
                    out.append(
                        Finding(
                            cid,
                            TargetKind.HOST,
                            h,
                            addr,
                            st_a,
                            f"{cid} {st_a.value} {HOSTILE}",
                            {"header": HOSTILE, "list": [HOSTILE, 1]},
                        )
                    )
            else:
                out.append(
                    Finding(cid, TargetKind.HOST, h, None, st, f"{cid} {st.value}", {"x": HOSTILE})
                )
    return out


def host_observation(host: str) -> dict[str, Any]:
    """A stored host observation (JSON) with hostile text in headers and certificate fields."""
    return {
        "host": host,
        "dns": {
            "name": host,
            "a": {"qname": host, "rdtype": "A", "outcome": "ok", "records": [V4]},
            "aaaa": {"qname": host, "rdtype": "AAAA", "outcome": "ok", "records": [V6]},
        },
        "tcp": [
            {"address": V4, "port": 443, "outcome": "open", "rtt_ms": 1.5},
            {"address": V6, "port": 443, "outcome": "timeout", "detail": HOSTILE},
        ],
        "tls": [
            {
                "address": V4,
                "port": 443,
                "outcome": "ok",
                "versions": [
                    {"version": "TLSv1.0", "outcome": "rejected", "detail": "alert"},
                    {
                        "version": "TLSv1.3",
                        "outcome": "accepted",
                        "cipher": "TLS_AES_128_GCM_SHA256",
                    },
                ],
                "ciphers": [{"version": "TLSv1.3", "code": 4865, "name": "TLS_AES_128_GCM_SHA256"}],
                "chain": [
                    {
                        "subject": f"CN={HOSTILE}",
                        "issuer": f"O={HOSTILE}",
                        "serial": "01",
                        "san": [HOSTILE, host],
                        "key_type": "EC",
                        "key_bits": 256,
                    }
                ],
                "trust": "trusted",
            }
        ],
        "http": [
            {
                "address": V4,
                "outcome": "ok",
                "https": {
                    "start_url": f"https://{host}/",
                    "outcome": "ok",
                    "hops": [
                        {
                            "url": f"https://{host}/",
                            "status": 200,
                            "headers": [["server", HOSTILE], [HOSTILE, "x"]],
                        }
                    ],
                },
                "security_txt": {"url": "u", "outcome": "ok", "text": HOSTILE},
            }
        ],
        "icmp": [],
        "subresources": None,
    }


def raw_sql(store: Any, statement: str, params: tuple[Any, ...] = ()) -> None:
    """Change a SQLite store behind the store's back: a state the product never writes."""
    with closing(sqlite3.connect(unquote(store.url.removeprefix("sqlite:///")))) as db, db:
        db.execute(statement, params)


def make_store(
    path: Path,
    *,
    profile: str = "vn-gov",
    scans: list[dict[tuple[str, str], Status]] | None = None,
    waivers: list[dict[str, Any]] | None = None,
    started: str | None = None,
) -> tuple[Any, list[int]]:
    """A store with one complete scan per entry of ``scans`` (status overrides)."""
    from auditor.store import open_store

    store = open_store(path)
    return store, fill_store(store, profile=profile, scans=scans, waivers=waivers, started=started)


def fill_store(
    store: Any,
    *,
    profile: str = "vn-gov",
    scans: list[dict[tuple[str, str], Status]] | None = None,
    waivers: list[dict[str, Any]] | None = None,
    started: str | None = None,
) -> list[int]:
    """What :func:`make_store` writes, into an open store of any backend; the scan ids."""
    ids = []
    for overrides in scans or [{}]:
        scan_id = store.begin_scan(
            profile=profile,
            inventory_path="/tmp/inv.yaml",
            inventory_name="Tỉnh Thử nghiệm",
            inventory=inventory(waivers),
            options={},
        )
        if started:
            raw_sql(store, "UPDATE scans SET started = ? WHERE id = ?", (started, scan_id))
        fs = findings_for(overrides)
        by_target: dict[tuple[TargetKind, str], list[Finding]] = {}
        for f in fs:
            by_target.setdefault((f.target_kind, f.target), []).append(f)
        for (kind, name), items in by_target.items():
            obs = (
                host_observation(name)
                if kind == TargetKind.HOST
                else {
                    "zone": name,
                    "outcome": "ok",
                    "detail": HOSTILE,
                    "spf": {"qname": name, "rdtype": "TXT", "outcome": "ok", "records": [HOSTILE]},
                    "mx_hosts": [
                        {
                            "name": HOSTILE,
                            "a": {"qname": "x", "rdtype": "A", "outcome": "ok", "records": []},
                            "aaaa": {"qname": "x", "rdtype": "AAAA", "outcome": "nodata"},
                            "preference": 10,
                        }
                    ],
                    "smtp": [{"mx": "mx", "address": V6, "outcome": "ok", "banner": HOSTILE}],
                }
            )
            store.save_target(
                scan_id, kind, name, json.dumps(obs), items, "2026-01-01T00:00:00+00:00"
            )
        store.finish_scan(scan_id, "complete", {})
        ids.append(scan_id)
    return ids


# Zone observations ----------------------------------------------------------------------

ZONE = "example.gov.vn"
# The fixtures use documentation addresses, as the lab does, so they are "opened" the way
# the lab opens them (--allow-net): otherwise no fixture address would count as usable.
LAB_NETS = ("2001:db8::/32", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
LAB_GUARD = AddressGuard.build(LAB_NETS)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def ans(qname: str, rdtype: str, *records: str, outcome: str | None = None) -> DnsAnswer:
    if outcome is None:
        outcome = Outcome.OK if records else Outcome.NODATA
    return DnsAnswer(qname, rdtype, outcome, tuple(records))


def txt(qname: str, *texts: str, outcome: str | None = None) -> DnsAnswer:
    return ans(qname, "TXT", *(f'"{t}"' for t in texts), outcome=outcome)


def server(
    name: str,
    v4: tuple[str, ...] = (),
    v6: tuple[str, ...] = (),
    pref: int | None = None,
    aaaa_outcome: str | None = None,
) -> ServerHost:
    return ServerHost(name, ans(name, "A", *v4), ans(name, "AAAA", *v6, outcome=aaaa_outcome), pref)


NS1 = server("ns1.example.gov.vn", ("192.0.2.53",), ("2001:db8:53::53",))
NS2 = server("ns2.example.net.vn", ("198.51.100.53",), ("2001:db8:153::53",))
MX1 = server("mx1.example.gov.vn", ("192.0.2.25",), ("2001:db8:25::25",), pref=10)


def ns_queries(*hosts: ServerHost, outcome: str = "answered") -> tuple[NsQuery, ...]:
    return tuple(
        NsQuery(h.name, a, t, outcome, "NOERROR", True, 1.0)
        for h in hosts
        for a in h.aaaa.records
        for t in ("udp", "tcp")
    )


def smtp_ok(*hosts: ServerHost, starttls: bool = True) -> tuple[SmtpProbe, ...]:
    return tuple(
        SmtpProbe(h.name, a, Outcome.OK, 220, f"{h.name} ESMTP", True, starttls, 1.0)
        for h in hosts
        for a in h.addresses
    )


GOOD_POLICY = "version: STSv1\nmode: enforce\nmx: mx1.example.gov.vn\nmax_age: 604800\n"


def good_zone(**changes: Any) -> ZoneObservations:
    """A zone where every check passes."""
    z = ZoneObservations(
        zone=ZONE,
        soa=ans(ZONE, "SOA", "ns1.example.gov.vn. hostmaster.example.gov.vn. 1 2 3 4 5"),
        apex=ZONE,
        ns=ans(ZONE, "NS", "ns1.example.gov.vn.", "ns2.example.net.vn."),
        ns_hosts=(NS1, NS2),
        ns_queries=ns_queries(NS1, NS2),
        dnssec=DnssecStatus(
            ZONE,
            "secure",
            ds_present=True,
            dnskey_algorithms=(13,),
            rrsig_expiry="2026-12-20T00:00:00+00:00",
            detail="AD",
        ),
        caa=(ans(ZONE, "CAA", '0 issue "letsencrypt.org"'),),
        mx=ans(ZONE, "MX", "10 mx1.example.gov.vn."),
        mx_hosts=(MX1,),
        smtp=smtp_ok(MX1),
        spf=txt(ZONE, "v=spf1 mx -all", "some-verification=1"),
        spf_lookups=(ans(ZONE, "MX", "10 mx1.example.gov.vn."),),
        dmarc=txt(f"_dmarc.{ZONE}", f"v=DMARC1; p=reject; rua=mailto:d@{ZONE}"),
        org_domain=ZONE,
        mta_sts=MtaStsObservation(
            txt(f"_mta-sts.{ZONE}", "v=STSv1; id=1"),
            f"mta-sts.{ZONE}",
            None,
            MtaStsFetch("2001:db8::443", Outcome.OK, 200, "text/plain", GOOD_POLICY),
        ),
    )
    return replace(z, **changes)


def run(check_id: str, obs: Any, **params: Any) -> Verdict:
    spec = get_check(check_id)
    merged = {**spec.params, **params}
    target = getattr(obs, "zone", getattr(obs, "host", ""))
    return spec.run(obs, CheckContext(target, merged, NOW, guard=LAB_GUARD))


# Certificates ---------------------------------------------------------------------------

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
