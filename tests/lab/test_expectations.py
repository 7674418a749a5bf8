"""The scenario-table matcher itself (pure: no lab, no root, runs everywhere)."""

from __future__ import annotations

from typing import Any

from .scenarios import SCENARIOS, Scenario
from .test_scenarios import check_expectations


class FakeLab:
    def __init__(self, addrs: dict[str, dict[str, str]]) -> None:
        self._addrs = addrs

    def addresses(self, host: str) -> dict[str, str]:
        return self._addrs[host]


def f(target: str, check: str, status: str, address: str | None = None) -> dict[str, Any]:
    return {"agency": "lab-x", "target": target, "address": address, "check": check,
            "status": status, "message": "m", "evidence": {}}  # fmt: skip


SCN = Scenario(
    name="x",
    description="x",
    expected={
        "www.x.gov.vn": {
            "ipv6.web.reach": "fail",
            "tls.protocols.legacy": {"v4": "pass", "v6": "fail"},
            "http.disclosure": ("fail", "warn", "info"),
        }
    },
)
LAB: Any = FakeLab({"www.x.gov.vn": {"v4": "192.0.2.9", "v6": "2001:db8:80::9"}})
ALL = {"ipv6.web.reach", "tls.protocols.legacy", "http.disclosure"}


def test_all_expectations_met() -> None:
    findings = [
        f("www.x.gov.vn.", "ipv6.web.reach", "fail"),
        f("www.x.gov.vn", "tls.protocols.legacy", "pass", "192.0.2.9"),
        f("www.x.gov.vn", "tls.protocols.legacy", "fail", "2001:DB8:80:0::9"),
        f("www.x.gov.vn", "http.disclosure", "info", "192.0.2.9"),
    ]
    assert check_expectations(LAB, SCN, findings, ALL) == []


def test_mismatches_are_named() -> None:
    findings = [
        f("www.x.gov.vn", "ipv6.web.reach", "pass"),
        f("www.x.gov.vn", "tls.protocols.legacy", "fail", "192.0.2.9"),
        f("www.x.gov.vn", "http.disclosure", "pass"),
    ]
    problems = check_expectations(LAB, SCN, findings, ALL - {"http.disclosure"})
    text = "\n".join(problems)
    assert "ipv6.web.reach: expected fail, got pass" in text
    assert "[v4 192.0.2.9]: expected pass, got fail" in text
    assert "no finding naming the v6 address 2001:db8:80::9" in text
    assert "check http.disclosure not implemented" in text


def test_worst_status_wins() -> None:
    scn = Scenario(name="x", description="x", expected={"www.x.gov.vn": {"tls.ciphers": "warn"}})
    findings = [
        f("www.x.gov.vn", "tls.ciphers", "pass", "192.0.2.9"),
        f("www.x.gov.vn", "tls.ciphers", "warn", "2001:db8:80::9"),
    ]
    assert check_expectations(LAB, scn, findings, {"tls.ciphers"}) == []


def test_scenario_names_unique_and_targets_are_a_labels() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))
    for s in SCENARIOS:
        for t in (*s.inventory_hosts, *s.inventory_domains, *s.expected):
            assert t.isascii() and t == t.lower() and not t.endswith("."), t


def test_readme_tables_are_current() -> None:
    from pathlib import Path

    from .__main__ import markdown_table

    readme = (Path(__file__).parent / "README.md").read_text()
    stale = [line for line in markdown_table().splitlines() if line and line not in readme]
    assert not stale, (
        "README.md is stale: run `python -m tests.lab table -- --write`:\n" + "\n".join(stale)
    )


def test_evidence_words() -> None:
    scn = Scenario(
        name="x",
        description="x",
        expected={"www.x.gov.vn": {"ipv6.web.reach": "fail"}},
        evidence={"www.x.gov.vn": {"ipv6.web.reach": ("timeout",)}},
    )
    refused = [f("www.x.gov.vn", "ipv6.web.reach", "fail")]
    refused[0]["evidence"] = {"v6": {"2001:db8:80::9": {"443": "refused"}}}
    assert (
        "mentions any of ('timeout',)"
        in check_expectations(LAB, scn, refused, {"ipv6.web.reach"})[0]
    )
    refused[0]["evidence"] = {"v6": {"2001:db8:80::9": {"443": "timeout"}}}
    assert check_expectations(LAB, scn, refused, {"ipv6.web.reach"}) == []
