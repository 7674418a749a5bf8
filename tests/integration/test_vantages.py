"""The vantage dimension (issue #16): one scan, its targets probed from two vantages.

Both shards run in this process against the loopback DNS server (hosts resolve to
127.0.0.1, whose ports 80/443 refuse, or to documentation addresses the guard refuses), into
one real SQLite store, the one from vantage "b" with IPv6 unusable for the scanner (its
footing says so): the store keeps each target twice, the findings carry their vantage and
differ where the footing does, and ``auditor evaluate`` judges each vantage with its own
footing, giving back exactly the stored findings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from auditor.inventory import load_inventory
from auditor.model import Finding, Status
from auditor.options import ScanOptions
from auditor.profiles import load_profile
from auditor.selfcheck import IPV6, FamilyFooting, Footing, FootStatus, footing_sync
from auditor.service import ScanService, options_record, profile_ref
from auditor.shards import ScanSpec, run_shard, whole
from auditor.store import Store, open_store
from tests.support.dnsserver import DnsServer, Zone

HOSTS = ["www.v.example.vn", "dv.v.example.vn", "lo.v.example.vn"]


def _zone() -> Zone:
    zone = Zone()
    z = "v.example.vn"
    zone.add(z, "SOA", [f"ns1.{z}. hostmaster.{z}. 1 3600 600 86400 300"])
    zone.add(z, "NS", [f"ns1.{z}."])
    zone.add(f"ns1.{z}", "A", ["192.0.2.53"])
    zone.add(f"ns1.{z}", "AAAA", ["2001:db8::53"])
    zone.add("www.v.example.vn", "A", ["203.0.113.10"])
    zone.add("www.v.example.vn", "AAAA", ["2001:db8::10"])
    zone.add("dv.v.example.vn", "AAAA", ["2001:db8::11"])
    zone.add("lo.v.example.vn", "A", ["127.0.0.1"])
    return zone


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with DnsServer(_zone()) as server:
        yield server


def _inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "inv.yaml"
    hosts = "".join(f"      - {h}\n" for h in HOSTS)
    inv.write_text(
        "version: 1\nname: Vantage lab\nagencies:\n  - id: so-v\n    name: Sở V\n"
        f"    domains: [v.example.vn]\n    hosts:\n{hosts}",
        encoding="utf-8",
    )
    return inv


def _no_ipv6(footing: Footing) -> Footing:
    """The footing of a vantage whose network has no IPv6 (as selfcheck records it)."""
    ipv6 = FamilyFooting(IPV6, FootStatus.DOWN, "the scanner has no global IPv6 address")
    return replace(footing, ipv6=ipv6)


def test_two_vantages_keep_their_own_findings_and_evaluate_gives_them_back(
    tmp_path: Path, dns: DnsServer
) -> None:
    inv_path = _inventory(tmp_path)
    inventory = load_inventory(str(inv_path))
    profile = load_profile("vn-gov")
    options = ScanOptions(
        resolver=dns.spec, timeout=5, allow_nets=("127.0.0.0/8",), icmp=False, concurrency=8
    )
    store: Store = open_store(tmp_path / "s.db")
    service = ScanService(store)
    plan = service.plan(inventory, profile, options)
    scan_id = store.begin_scan(
        profile=profile_ref(profile),
        inventory_path=str(inv_path),
        inventory_name=inventory.name,
        inventory=inventory.to_dict(),
        options=options_record(options),
    )
    footing = footing_sync(options, (*plan.hosts, *plan.zones), lambda line: None, {})
    dark = _no_ipv6(footing)
    for vantage, seen in (("a", footing), ("b", dark)):
        store.record_vantage(scan_id, vantage, seen.to_record())
        spec = ScanSpec.of(plan, store=store.url, scan_id=scan_id, options=options, footing=seen)
        result = run_shard(spec, whole(plan), store, vantage=vantage)
        assert result.vantage == vantage and not result.stopped
    store.finish_scan(scan_id, "complete", {})

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
