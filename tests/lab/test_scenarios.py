"""Every lab scenario through `auditor scan`, as a user runs it: ONE scan of the whole lab
inventory from the client namespace per session, then one test per scenario asserting each
expected verdict of scenarios.py against the JSON output."""

from __future__ import annotations

import ipaddress
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.distributed import Worker

from .conftest import Distributed
from .lab import REPO_ROOT, SCAN_TIMEOUT, Lab
from .scenarios import (
    HOST_CHECKS,
    SCENARIOS,
    STATUS_RANK,
    UNROUTED_AAAA,
    ZONE_CHECKS,
    Expect,
    Scenario,
)

pytestmark = pytest.mark.lab


@dataclass
class ScanResult:
    findings: list[dict[str, Any]]
    registered: set[str]
    stderr: str


@pytest.fixture(scope="session")
def scan(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> ScanResult:
    r = lab.run_auditor(["checks", "--json"], timeout=120)
    assert r.returncode == 0, f"`auditor checks --json` failed:\n{r.stderr}"
    registered = {c["id"] for c in json.loads(r.stdout)}
    out = tmp_path_factory.mktemp("lab-scan")
    proc, data = lab.scan(out)
    assert data is not None, (
        f"`auditor scan` wrote no JSON (exit {proc.returncode}):\n{proc.stderr[-5000:]}"
    )
    return ScanResult(data["findings"], registered, proc.stderr)


def _norm(name: str | None) -> str:
    return (name or "").rstrip(".").lower()


def _family(addr: str) -> str:
    return "v6" if ipaddress.ip_address(addr).version == 6 else "v4"


def _worst(findings: list[dict[str, Any]]) -> str:
    statuses: list[str] = [f["status"] for f in findings]
    return max(statuses, key=lambda s: STATUS_RANK.get(s, 99))


def _fmt(findings: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{f['status']}@{f.get('address') or '-'}: {str(f.get('message'))[:120]}" for f in findings
    )


def _ok(status: str, want: str | tuple[str, ...]) -> bool:
    return status in want if isinstance(want, tuple) else status == want


def check_expectations(
    lab: Lab, scn: Scenario, findings: list[dict[str, Any]], registered: set[str]
) -> list[str]:
    problems: list[str] = []
    for target, checks in scn.expected.items():
        for check, want in checks.items():
            if check not in registered:
                problems.append(f"check {check} not implemented")
                continue
            mine = [f for f in findings if f["check"] == check and _norm(f["target"]) == target]
            if not mine:
                # e.g. dns.dnssec of a host reported on the zone: the agency's findings count
                mine = [f for f in findings if f["check"] == check and f["agency"] == scn.agency_id]
            if not mine:
                problems.append(f"{target} {check}: no finding")
                continue
            problems += _compare(lab, target, check, want, mine)
            words = scn.evidence.get(target, {}).get(check)
            if words:
                problems += _evidence(target, check, words, mine)
    return problems


def _evidence(
    target: str, check: str, words: tuple[str, ...], mine: list[dict[str, Any]]
) -> list[str]:
    worst = _worst(mine)
    texts = [
        (str(f.get("message") or "") + " " + json.dumps(f.get("evidence"), default=str)).lower()
        for f in mine
        if f["status"] == worst
    ]
    if any(w.lower() in t for t in texts for w in words):
        return []
    return [f"{target} {check}: no {worst} finding mentions any of {words} ({_fmt(mine)})"]


def _compare(
    lab: Lab, target: str, check: str, want: Expect, mine: list[dict[str, Any]]
) -> list[str]:
    if not isinstance(want, dict):
        got = _worst(mine)
        if _ok(got, want):
            return []
        return [f"{target} {check}: expected {want}, got {got} ({_fmt(mine)})"]
    out = []
    addrs = lab.addresses(target)
    for fam, w in want.items():
        addr = addrs.get(fam)
        if addr is None:
            out.append(f"{target} {check}: lab has no {fam} address (scenario table bug)")
            continue
        per = [
            f for f in mine
            if f.get("address") and ipaddress.ip_address(f["address"]) == ipaddress.ip_address(addr)
        ]  # fmt: skip
        if not per:
            out.append(
                f"{target} {check}: no finding naming the {fam} address {addr} ({_fmt(mine)})"
            )
            continue
        got = _worst(per)
        if not _ok(got, w):
            out.append(f"{target} {check} [{fam} {addr}]: expected {w}, got {got} ({_fmt(per)})")
    return out


SCANNED = [s for s in SCENARIOS if s.expected]


@pytest.mark.parametrize("scn", SCANNED, ids=[s.name for s in SCANNED])
def test_scenario(lab: Lab, scan: ScanResult, scn: Scenario) -> None:
    problems = check_expectations(lab, scn, scan.findings, scan.registered)
    assert not problems, f"scenario {scn.name} ({scn.description}):\n  " + "\n  ".join(problems)


def test_every_inventory_target_was_scanned(scan: ScanResult) -> None:
    seen = {_norm(f["target"]) for f in scan.findings}
    targets = {t for s in SCENARIOS for t in (*s.inventory_hosts, *s.inventory_domains)}
    assert targets <= seen, f"targets without findings: {sorted(targets - seen)}"


def test_every_catalogue_check_has_pass_and_fail_scenarios() -> None:
    """The table itself: each check has a passing and a failing (or warning) scenario."""
    seen: dict[str, set[str]] = {}
    for s in SCENARIOS:
        for checks in s.expected.values():
            for check, want in checks.items():
                vals = (
                    list(want.values()) if isinstance(want, dict)
                    else list(want) if isinstance(want, tuple) else [want]
                )  # fmt: skip
                for v in vals:
                    for x in v if isinstance(v, tuple) else (v,):
                        seen.setdefault(check, set()).add(x)
    missing = [c for c, st in seen.items() if "pass" not in st or not st & {"fail", "warn"}]
    assert not missing, f"checks lacking a pass or a fail scenario: {missing}"
    absent = sorted(set(HOST_CHECKS + ZONE_CHECKS) - set(seen))
    assert not absent, f"catalogue checks without any scenario: {absent}"


def test_findings_never_name_addresses_outside_the_lab(scan: ScanResult) -> None:
    nets = [ipaddress.ip_network(n) for n in ("2001:db8::/32", "192.0.2.0/24",
                                               "198.51.100.0/24", "203.0.113.0/24")]  # fmt: skip
    for f in scan.findings:
        if f.get("address"):
            a = ipaddress.ip_address(f["address"])
            if a in {ipaddress.ip_address(u) for u in UNROUTED_AAAA}:
                # published in DNS on purpose, outside the lab's ranges: judged, never probed
                assert f["status"] in ("not_applicable", "not_tested"), f
                assert "connect" not in json.dumps(f["evidence"]).lower(), f
                continue
            assert any(a in n for n in nets), f


def test_auditor_importable_from_repo() -> None:
    assert (REPO_ROOT / "auditor").is_dir(), sys.path


def _verdicts(findings: list[dict[str, Any]]) -> dict[tuple[str, str, str], str]:
    out = {}
    for f in findings:
        addr = f.get("address") or ""
        key = (_norm(f["target"]), f["check"], str(ipaddress.ip_address(addr)) if addr else "")
        out[key] = f["status"]
    return out


def test_the_suite_through_celery_and_postgresql_gives_the_local_verdicts(
    lab: Lab, scan: ScanResult, distributed: Distributed, tmp_path: Path
) -> None:
    """The whole lab inventory as a distributed scan (issue #16): one worker of the vantage
    ``local`` in the client namespace, the Redis broker, the PostgreSQL store, small shards
    so several run at once; every verdict equals the local scan's, and every scenario's
    expectations hold."""
    worker = Worker(distributed.broker, distributed.db, "local", 2,
                    wrap=lab.netns.exec_cli([]), env=lab.auditor_env())  # fmt: skip
    try:
        worker.wait_ready(120)
        args = ["scan", str(lab.inventory), "--db", distributed.db,
                "--broker", distributed.broker, "--shard-size", "8",
                "--json", str(tmp_path / "scan.json"), "--ca-file", str(lab.ca_file),
                "--timeout", SCAN_TIMEOUT]  # fmt: skip
        for net in lab.allow_nets:
            args += ["--allow-net", net]
        done = lab.run_auditor(args, timeout=1200)
    finally:
        worker.stop()
    assert "Traceback" not in done.stderr + worker.text(), done.stderr + worker.text()[-5000:]
    assert (tmp_path / "scan.json").exists(), done.stderr[-5000:]
    doc = json.loads((tmp_path / "scan.json").read_text())
    assert doc["scan"]["status"] == "complete"
    # a one-vantage scan looks exactly like a local one: no vantage in the findings
    assert all("vantage" not in f for f in doc["findings"])
    local, remote = _verdicts(scan.findings), _verdicts(doc["findings"])
    assert local.keys() == remote.keys(), sorted(set(local) ^ set(remote))[:40]
    differ = sorted((k, local[k], remote[k]) for k in local if local[k] != remote[k])
    assert not differ, differ[:40]
    problems = [
        p for scn in SCANNED for p in check_expectations(lab, scn, doc["findings"], scan.registered)
    ]
    assert not problems, "\n".join(problems[:40])
