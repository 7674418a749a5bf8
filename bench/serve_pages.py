"""How fast ``auditor serve`` answers its pages from a big store (issue #17: the index of a
2,000-host store in under 300 ms, an agency page in under 100 ms).

A synthetic store (no network): ``--hosts`` hosts in agencies of ``--per-agency``, one zone
per agency, a finding for every catalogue check on every target (per address for the
address-scope checks, a v4 and a v6 address each), every host with a stored observation.
The app is driven in process (Starlette's TestClient, logged in as an admin): the scan is
loaded and scored first (what the first request after a new scan pays, timed alone), then
each page is asked ``--repeat`` times and the median and the worst are printed. A measure,
not a test.

    PYTHONPATH=$PWD python3 -m bench.serve_pages --hosts 2000
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from auditor.model import Finding, Scope, Status, TargetKind
from auditor.serve.auth import hash_password
from auditor.store import Store, open_store

V4, V6 = "192.0.2.10", "2001:db8::10"
# A later scan changes these checks on one host in CHANGED_EVERY (a week's worth of changes:
# 2,000 hosts in 100 agencies: 500 changed findings on 100 hosts).
CHANGED_EVERY = 20
CHANGED_CHECKS = frozenset({"ipv6.web.reach", "http.hsts", "tls.cert.expiry"})


def catalogue() -> list[tuple[str, Scope]]:
    from auditor import registry

    registry.load_checks()
    return [(spec.id, spec.scope) for spec in registry.all_checks()]


def build(path: Path | str, hosts: int, per_agency: int, scans: int = 1) -> tuple[Store, str, str]:
    """The store (a path or a URL): ``scans`` complete scans of one inventory, each later
    one with other checks failing (a diff between two has regressions and improvements)."""
    checks = catalogue()
    agencies: list[dict[str, Any]] = []
    for i in range(0, hosts, per_agency):
        n = i // per_agency
        zone = f"a{n}.example.gov.vn"
        agencies.append(
            {
                "id": f"agency-{n}",
                "name": f"Cơ quan {n}",
                "name_en": None,
                "parent": None,
                "contact": None,
                "tags": [],
                "domains": [zone],
                "hosts": [
                    {"host": f"h{j}.{zone}", "display": f"h{j}.{zone}"}
                    for j in range(i, min(i + per_agency, hosts))
                ],
                "waivers": [],
                "line": n + 1,
            }
        )
    inventory = {
        "path": "/tmp/bench.yaml",
        "version": 1,
        "name": "Bench",
        "as_of": None,
        "profile": None,
        "defaults": {"paths": ["/"], "ports": [80, 443]},
        "agencies": agencies,
    }
    store = open_store(path)
    for number in range(scans):
        _scan(store, inventory, agencies, checks, number)
    return store, agencies[0]["id"], agencies[0]["hosts"][0]["host"]


def _scan(
    store: Store,
    inventory: dict[str, Any],
    agencies: list[dict[str, Any]],
    checks: list[tuple[str, Scope]],
    number: int,
) -> None:
    from tests.support.factories import host_observation

    scan = store.begin_scan(
        profile="vn-gov",
        inventory_path="/tmp/bench.yaml",
        inventory_name="Bench",
        inventory=inventory,
        options={},
    )
    stamp = "2026-01-01T00:00:00+00:00"
    for k, agency in enumerate(agencies):
        zone = agency["domains"][0]
        zone_findings = [
            Finding(c, TargetKind.ZONE, zone, None, Status.PASS, "ok")
            for c, scope in checks
            if scope == Scope.ZONE
        ]
        store.save_target(
            scan, TargetKind.ZONE, zone, json.dumps({"zone": zone}), zone_findings, stamp
        )
        for j, h in enumerate(agency["hosts"]):
            name = h["host"]
            found: list[Finding] = []
            for c, scope in checks:
                if scope == Scope.ZONE:
                    continue
                status = Status.FAIL if (k + len(c)) % 7 == 0 else Status.PASS
                if number and j % CHANGED_EVERY == 0 and c in CHANGED_CHECKS:
                    status = Status.PASS if status == Status.FAIL else Status.FAIL
                if scope == Scope.ADDRESS:
                    found += [
                        Finding(c, TargetKind.HOST, name, a, status, "m", {"x": 1})
                        for a in (V4, V6)
                    ]
                else:
                    found.append(Finding(c, TargetKind.HOST, name, None, status, "m", {"x": 1}))
            store.save_target(
                scan, TargetKind.HOST, name, json.dumps(host_observation(name)), found, stamp
            )
    store.finish_scan(scan, "complete", {})


def timed(client: Any, path: str, repeat: int) -> tuple[float, float]:
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        answer = client.get(path)
        seconds.append(time.perf_counter() - start)
        assert answer.status_code == 200, (path, answer.status_code)
    return statistics.median(seconds) * 1000, max(seconds) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--per-agency", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    from starlette.testclient import TestClient

    from auditor.serve.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        store, agency, host = build(Path(tmp) / "s.db", args.hosts, args.per_agency)
        built = time.perf_counter() - start
        with store:
            store.add_user("bench", "admin", None, hash_password("bench password"))
            app = create_app(store, secret="bench")
            start = time.perf_counter()
            app.state.dashboard.data()  # what the first request of a new scan pays
            first = (time.perf_counter() - start) * 1000
            with TestClient(app) as client:
                csrf = client.get("/login").text.split('name="csrf" value="')[1].split('"')[0]
                client.post(
                    "/login",
                    data={"username": "bench", "password": "bench password", "csrf": csrf},
                    follow_redirects=False,  # the first "/" is timed below
                )
                rows = [
                    ("index /", *timed(client, "/", args.repeat)),
                    (
                        f"agency /agencies/{agency}",
                        *timed(client, f"/agencies/{agency}", args.repeat),
                    ),
                    (f"host /hosts/{host}", *timed(client, f"/hosts/{host}", args.repeat)),
                    ("API /api/v1/agencies", *timed(client, "/api/v1/agencies", args.repeat)),
                ]
    print(f"store: {args.hosts} hosts, {args.per_agency} per agency, built in {built:.1f} s")
    print(f"loading and scoring the scan (once per scan, on its first request): {first:.0f} ms")
    print(f"{'page':<48} {'median ms':>10} {'worst ms':>10}")
    for name, median, worst in rows:
        print(f"{name:<48} {median:>10.1f} {worst:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
