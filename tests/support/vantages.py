"""A real scan from two vantages, in-process (issue #16), for the store and report tests.

Both shards run in this process against a loopback DNS server (hosts resolve to 127.0.0.1,
whose ports 80/443 refuse, or to documentation addresses the guard refuses), into one real
SQLite store; vantage "b" has IPv6 unusable for the scanner (its footing says so, as
selfcheck records it), so its IPv6 verdicts are not_tested where "a" decided.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from auditor.inventory import Inventory, load_inventory
from auditor.options import ScanOptions
from auditor.profiles import Profile, load_profile
from auditor.selfcheck import IPV6, FamilyFooting, Footing, FootStatus, footing_sync
from auditor.service import ScanService, options_record, profile_ref
from auditor.shards import ScanSpec, run_shard, whole
from auditor.store import Store, open_store
from tests.support.dnsserver import DnsServer, Zone

HOSTS = ["www.v.example.vn", "dv.v.example.vn", "lo.v.example.vn"]
ZONE = "v.example.vn"
# An agency name with markup: every report must escape it.
AGENCY_NAME = "Sở V <b>&amp;</b>"


def vantage_zone() -> Zone:
    zone = Zone()
    z = ZONE
    zone.add(z, "SOA", [f"ns1.{z}. hostmaster.{z}. 1 3600 600 86400 300"])
    zone.add(z, "NS", [f"ns1.{z}."])
    zone.add(f"ns1.{z}", "A", ["192.0.2.53"])
    zone.add(f"ns1.{z}", "AAAA", ["2001:db8::53"])
    zone.add("www.v.example.vn", "A", ["203.0.113.10"])
    zone.add("www.v.example.vn", "AAAA", ["2001:db8::10"])
    zone.add("dv.v.example.vn", "AAAA", ["2001:db8::11"])
    zone.add("lo.v.example.vn", "A", ["127.0.0.1"])
    return zone


def vantage_inventory(tmp_path: Path, name: str = "Sở V") -> Path:
    inv = tmp_path / "inv.yaml"
    hosts = "".join(f"      - {h}\n" for h in HOSTS)
    inv.write_text(
        f"version: 1\nname: Vantage lab\nagencies:\n  - id: so-v\n    name: '{name}'\n"
        f"    domains: [{ZONE}]\n    hosts:\n{hosts}",
        encoding="utf-8",
    )
    return inv


def no_ipv6(footing: Footing) -> Footing:
    """The footing of a vantage whose network has no IPv6 (as selfcheck records it)."""
    ipv6 = FamilyFooting(IPV6, FootStatus.DOWN, "the scanner has no global IPv6 address")
    return replace(footing, ipv6=ipv6)


@dataclass(frozen=True)
class VantageScan:
    store: Store
    scan_id: int
    service: ScanService
    inventory: Inventory
    profile: Profile
    inventory_path: Path


def scan_from(
    tmp_path: Path,
    dns: DnsServer,
    vantages: tuple[str, ...] = ("a", "b"),
    *,
    dark: tuple[str, ...] = ("b",),
    store: Store | None = None,
    name: str = "Sở V",
) -> VantageScan:
    """One complete scan of the lab inventory from each of ``vantages`` (those in ``dark``
    without IPv6), in the store (a new one in tmp_path unless given)."""
    inv_path = vantage_inventory(tmp_path, name)
    inventory = load_inventory(str(inv_path))
    profile = load_profile("vn-gov")
    options = ScanOptions(
        resolver=dns.spec, timeout=5, allow_nets=("127.0.0.0/8",), icmp=False, concurrency=8
    )
    store = store or open_store(tmp_path / "s.db")
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
    for vantage in vantages:
        seen = no_ipv6(footing) if vantage in dark else footing
        store.record_vantage(scan_id, vantage, seen.to_record())
        spec = ScanSpec.of(plan, store=store.url, scan_id=scan_id, options=options, footing=seen)
        result = run_shard(spec, whole(plan), store, vantage=vantage)
        assert result.vantage == vantage and not result.stopped
    store.finish_scan(scan_id, "complete", {})
    return VantageScan(store, scan_id, service, inventory, profile, inv_path)
