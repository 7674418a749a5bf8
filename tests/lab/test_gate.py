"""`auditor gate` against the lab, as a CI pipeline runs it (issue: CI gate).

One gate run per case, each in the client namespace. Exit codes: 0 passed, 1 failed,
2 incomplete, 3 usage error.
"""

from __future__ import annotations

import json
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from lxml import etree

from .lab import Lab

pytestmark = pytest.mark.lab
XSD = Path(__file__).resolve().parents[1] / "data" / "junit.xsd"


def gate(lab: Lab, tmp: Path, *args: str) -> tuple[CompletedProcess[str], dict, etree._Element]:  # type: ignore[type-arg]
    cmd = ["gate", *args, "--ca-file", str(lab.ca_file), "--timeout", "2", "--quiet",
           "--junit", str(tmp / "gate.xml"), "--json", str(tmp / "gate.json"),
           "--markdown", str(tmp / "gate.md")]  # fmt: skip
    for net in lab.allow_nets:
        cmd += ["--allow-net", net]
    result = lab.run_auditor(cmd, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    junit = etree.parse(str(tmp / "gate.xml")).getroot()
    etree.XMLSchema(etree.parse(str(XSD))).assertValid(junit)
    return result, json.loads((tmp / "gate.json").read_text()), junit


def test_good_host_passes(lab: Lab, tmp_path: Path) -> None:
    result, doc, junit = gate(lab, tmp_path, "https://www.good.gov.vn/")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("GATE PASSED")
    assert junit.get("failures") == "0" and int(junit.get("tests")) > 10
    assert {f["target"] for f in doc["findings"]} >= {"www.good.gov.vn", "good.gov.vn"}
    assert "PASSED" in (tmp_path / "gate.md").read_text()


def test_tls10_host_fails_naming_the_requirement(lab: Lab, tmp_path: Path) -> None:
    result, _doc, junit = gate(lab, tmp_path, "www.tls10.gov.vn")
    assert result.returncode == 1, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("GATE FAILED")
    assert "tls-legacy" in result.stdout
    failures = [f.get("message") for f in junit.iter("failure")]
    assert any("tls.protocols.legacy" in (m or "") for m in failures)


def test_dropped_aaaa_fails_under_vn_gov(lab: Lab, tmp_path: Path) -> None:
    result, _doc, _junit = gate(lab, tmp_path, "www.v6drop.gov.vn", "--profile", "vn-gov")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ipv6-web-reach" in result.stdout and "timeout" in result.stdout


def test_unreachable_host_is_incomplete(lab: Lab, tmp_path: Path) -> None:
    # Both addresses are black holes in the lab (nftables drop): nothing answers at all,
    # so the scanner cannot tell a down host from its own network: no verdict.
    v6drop = lab.addresses("www.v6drop.gov.vn")["v6"]
    result, doc, _junit = gate(
        lab, tmp_path, "down.prelaunch.gov.vn",
        "--resolve", f"down.prelaunch.gov.vn:{v6drop}",
        "--resolve", "down.prelaunch.gov.vn:198.51.100.57",
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.startswith("GATE INCOMPLETE")
    reach = [f for f in doc["findings"] if f["check"] == "ipv6.web.reach"]
    assert reach and reach[0]["status"] == "not_tested"
    assert "unreachable from the scanner" in reach[0]["message"]


def test_resolve_gates_a_name_the_dns_does_not_know(lab: Lab, tmp_path: Path) -> None:
    name = "new.prelaunch.gov.vn"
    probe = lab.run_in_client(["dig", "+short", name, "A"])
    assert probe.stdout.strip() == "", "the lab DNS must not know the pre-launch name"
    addrs = lab.addresses("www.prelaunch.gov.vn")
    result, doc, _junit = gate(
        lab, tmp_path, name, "--resolve", f"{name}:{addrs['v4']}",
        "--resolve", f"{name}:[{addrs['v6']}]",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    host = [f for f in doc["findings"] if f["target"] == name]
    resolve = next(f for f in host if f["check"] == "dns.resolve")
    assert resolve["status"] == "not_applicable" and "--resolve" in resolve["message"]
    assert {f["address"] for f in host if f["address"]} == {addrs["v4"], addrs["v6"]}
    # The zone comes from the SOA in the NXDOMAIN answer: the real enclosing zone.
    assert any(f["target"] == "prelaunch.gov.vn" for f in doc["findings"])


def test_usage_error_exits_3(lab: Lab, tmp_path: Path) -> None:
    result = lab.run_auditor(["gate", "ftp://www.good.gov.vn/"])
    assert result.returncode == 3 and "http" in result.stderr
