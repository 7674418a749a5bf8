"""The vantage dimension (issue #16): one scan, its targets probed from two vantages.

The scan (tests/support/vantages.py): both shards run in this process against the loopback
DNS server (hosts resolve to 127.0.0.1, whose ports 80/443 refuse, or to documentation
addresses the guard refuses), into one real SQLite store, the one from vantage "b" with
IPv6 unusable for the scanner (its footing says so): the store keeps each target twice, the
findings carry their vantage and differ where the footing does, and ``auditor evaluate``
judges each vantage with its own footing, giving back exactly the stored findings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.model import Finding, Status
from tests.support.dnsserver import DnsServer
from tests.support.vantages import HOSTS, scan_from, vantage_zone


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with DnsServer(vantage_zone()) as server:
        yield server


def test_two_vantages_keep_their_own_findings_and_evaluate_gives_them_back(
    tmp_path: Path, dns: DnsServer
) -> None:
    made = scan_from(tmp_path, dns)
    store, scan_id, service = made.store, made.scan_id, made.service
    assert store.vantages(scan_id) == ["a", "b"]
    for vantage in ("a", "b"):
        assert store.done_targets(scan_id, vantage) == {
            *(("host", h) for h in HOSTS),
            ("zone", "v.example.vn"),
        }
    stored = store.findings(scan_id)
    by = {v: {(f.target, f.check, f.address): f for f in stored if f.vantage == v} for v in "ab"}
    assert by["a"].keys() == by["b"].keys()
    # from "b" the scanner has no IPv6: IPv6 verdicts it could not make are not_tested
    # there (never a fail), and every other verdict agrees with "a"'s
    differ = {k for k in by["a"] if by["a"][k].status != by["b"][k].status}
    assert differ and all(check.startswith("ipv6.") for _t, check, _a in differ), differ
    assert {by["b"][k].status for k in differ} == {Status.NOT_TESTED}
    assert ("v.example.vn", "ipv6.ns.reach", None) in differ
    for key in by["a"].keys() - differ:
        assert by["a"][key].status == by["b"][key].status

    evaluation = service.evaluate(scan_id, None)
    again = store.findings(evaluation.scan_id)
    assert {f.vantage for f in again} == {"a", "b"}

    def strip(found: list[Finding]) -> list[str]:
        return sorted(repr(f) for f in found)

    assert strip(again) == strip(stored)
    store.close()
