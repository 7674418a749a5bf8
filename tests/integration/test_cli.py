"""The CLI end to end: real processes, a real DNS server on loopback, a real SQLite file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.dnsserver import DnsServer, Zone
from tests.support.servers import run_auditor


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return run_auditor(*args, timeout=timeout)


INVENTORY = """\
version: 1
name: "Thử nghiệm"
as_of: 2026-11-01
agencies:
  - id: so-a
    name: "Sở A"
    domains: [example.vn]
    hosts:
      - www.example.vn
      - {host: cổng.example.vn, paths: ["/"]}
  - id: so-b
    name: "Sở B"
    parent: so-a
    hosts: [www.example.vn, missing.example.vn]
"""


def test_validate_broken_inventory_names_file_line_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(INVENTORY.replace("parent: so-a", "parent: nobody"), encoding="utf-8")
    result = run("inventory", "validate", str(bad))
    assert result.returncode == 2
    assert f"{bad}:13: agencies[1].parent:" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_good_inventory(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(INVENTORY, encoding="utf-8")
    result = run("inventory", "validate", str(good))
    assert result.returncode == 0, result.stderr
    assert "2 agencies, 3 hosts, 1 zones" in result.stdout


def test_checks_catalogue_json() -> None:
    result = run("checks", "--json")
    assert result.returncode == 0
    ids = {c["id"] for c in json.loads(result.stdout)}
    assert {"dns.resolve", "ipv6.web.aaaa"} <= ids
    assert "dns.resolve" in run("checks").stdout


def test_scan_then_evaluate(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY, encoding="utf-8")
    zone = Zone()
    zone.add("www.example.vn", "A", ["127.0.0.1"])
    zone.add("www.example.vn", "AAAA", ["::1"])  # loopback: usable only when opened
    zone.add("xn--cng-qmz.example.vn", "A", ["127.0.0.1"])
    with DnsServer(zone) as server:
        result = run(
            "scan",
            str(inv),
            "--resolver",
            server.spec,
            "--timeout",
            "1",
            "--allow-net",
            "127.0.0.0/8",
            "--allow-net",
            "::1/128",
            "--json",
            str(tmp_path / "scan.json"),
            "--out",
            str(tmp_path / "html"),
            "--no-icmp",
        )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "auditor.db").is_file(), "default store lives beside the inventory"
    assert (tmp_path / "html" / "index.html").is_file()
    doc = json.loads((tmp_path / "scan.json").read_text(encoding="utf-8"))
    assert set(doc["scan"]) >= {"id", "started", "finished", "profile", "inventory"}
    rows = {(f["agency"], f["target"], f["check"]): f for f in doc["findings"]}
    # A shared host is probed once and attributed to each of its agencies.
    assert rows[("so-a", "www.example.vn", "dns.resolve")]["status"] == "pass"
    assert rows[("so-b", "www.example.vn", "dns.resolve")]["status"] == "pass"
    assert rows[("so-a", "xn--cng-qmz.example.vn", "ipv6.web.aaaa")]["status"] == "fail"
    # ::1 counts as usable because --allow-net opened it, and the evidence says so
    aaaa = rows[("so-a", "www.example.vn", "ipv6.web.aaaa")]
    assert aaaa["status"] == "pass" and "--allow-net ::1/128" in aaaa["evidence"]["opened"]["::1"]
    assert rows[("so-b", "missing.example.vn", "dns.resolve")]["status"] == "fail"
    for f in doc["findings"]:
        assert set(f) >= {"agency", "target", "address", "check", "status", "message", "evidence"}

    result = run(
        "evaluate", "--db", str(tmp_path / "auditor.db"), "--json", str(tmp_path / "eval.json")
    )
    assert result.returncode == 0, result.stderr
    again = json.loads((tmp_path / "eval.json").read_text(encoding="utf-8"))

    def strip(fs: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
        return sorted((f["agency"], f["target"], f["check"], f["status"]) for f in fs)

    # re-evaluated against what the source scan was allowed to reach (its --allow-net)
    assert strip(again["findings"]) == strip(doc["findings"])
    assert again["scan"]["id"] != doc["scan"]["id"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--timeout", "-1"], "--timeout"),
        (["--allow-net", "nonsense"], "--allow-net"),
        (["--resolver", "dns.google"], "--resolver"),
        (["--only", "nobody"], "--only"),
        (["--ca-file", "/nonexistent.pem"], "--ca-file"),
        (["--reference", "not a host!"], "--reference"),
    ],
)
def test_bad_options_are_clear_errors(tmp_path: Path, args: list[str], needle: str) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY, encoding="utf-8")
    result = run("scan", str(inv), "--db", str(tmp_path / "x.db"), *args)
    assert result.returncode == 2
    assert needle in result.stderr and "Traceback" not in result.stderr


def test_missing_inventory_file(tmp_path: Path) -> None:
    result = run("scan", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr and "Traceback" not in result.stderr


CUSTOM_PROFILE = """\
name: tinh-rieng
title: A province's own profile
grades:
  - {grade: A, min: 90}
  - {grade: E, min: 0}
requirements:
  - id: resolves
    title: Resolves
    level: mandatory
    weight: 1
    checks: [dns.resolve]
"""


def test_scan_with_own_profile_file_is_reported_with_it_later(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY, encoding="utf-8")
    prof = tmp_path / "own.yaml"
    prof.write_text(CUSTOM_PROFILE, encoding="utf-8")
    zone = Zone()
    zone.add("www.example.vn", "A", ["127.0.0.1"])
    with DnsServer(zone) as server:
        result = run(
            "scan",
            str(inv),
            "--profile",
            str(prof),
            "--resolver",
            server.spec,
            "--timeout",
            "1",
            "--no-icmp",
            "-q",
        )
    assert result.returncode == 0, result.stderr
    db = tmp_path / "auditor.db"
    report = run("report", "--db", str(db), "--json", str(tmp_path / "r.json"))
    assert report.returncode == 0, report.stderr
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert doc["profile"]["name"] == "tinh-rieng"
    assert {f["check"] for f in doc["findings"]} == {"dns.resolve"}
