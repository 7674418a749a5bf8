"""Shared fixtures for the profile, scoring, history and report tests (no network).

``CATALOGUE`` is the check list of /work/shared/CHECKS.md with each check's scope and
category. ``full_registry`` registers a stub for every id the check families have not
registered yet (restored after the test), so the bundled profiles load while the families
land. ``make_store`` writes a synthetic scan with findings for every catalogue id, hostile
strings included.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from auditor import registry
from auditor.model import Category, Finding, Level, Scope, Status, TargetKind, Verdict
from auditor.registry import CheckContext, CheckSpec

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
}
# Registered beyond CHECKS.md (the bundled profiles use them).
EXTRA: dict[str, tuple[Scope, Category]] = {
    "dns.dnssec.host": (H, Category.DNSSEC),
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
    return store, ids
