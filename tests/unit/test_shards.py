"""Shards (auditor.shards): how a plan is cut for ``--workers N``. Pure.

Adapted from the sharding tests of tests/unit/test_workers.py: a shard used to be "zones
with all their hosts"; now hosts are spread freely and each shard carries, for its zones,
the names of the zones' hosts in the whole plan (what the zone probe needs of them).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from auditor.engine import Plan, hosts_by_zone, make_plan
from auditor.model import TargetKind
from auditor.options import ScanOptions
from auditor.registry import get_check
from auditor.selfcheck import Footing
from auditor.shards import HOST_WEIGHT, ZONE_WEIGHT, ScanSpec, Shard, split, whole

HOST, ZONE = TargetKind.HOST.value, TargetKind.ZONE.value


def _targets(shards: list[Shard]) -> tuple[Counter[str], Counter[str]]:
    hosts: Counter[str] = Counter(h for s in shards for h in s.hosts)
    zones: Counter[str] = Counter(z for s in shards for z in s.zones)
    return hosts, zones


def _province() -> tuple[list[str], list[str]]:
    zones = [f"z{i}.gov.vn" for i in range(7)]
    hosts = [f"h{j}.z{i}.gov.vn" for i in range(7) for j in range(i + 1)]  # 1..7 hosts a zone
    hosts += [f"www.free{k}.vn" for k in range(5)]  # in no zone of the plan
    return hosts, zones


def _plan(hosts: list[str], zones: list[str]) -> Plan:
    return make_plan(hosts, zones, [get_check("dns.resolve")])


def test_every_host_and_zone_exactly_once_zones_know_all_their_hosts() -> None:
    hosts, zones = _province()
    plan = _plan(hosts, zones)
    shards = split(plan, 3)
    assert len(shards) == 3
    assert [s.number for s in shards] == [1, 2, 3]
    got_hosts, got_zones = _targets(shards)
    assert got_hosts == Counter(hosts) and got_zones == Counter(zones)
    everyone = hosts_by_zone(plan.zones, plan.hosts)
    for shard in shards:
        # a zone sees the hosts of the whole plan, wherever they are probed
        assert shard.zone_hosts == {z: everyone[z] for z in shard.zones}
        # plan order inside a shard (run order as close to a one-process scan as possible)
        assert list(shard.hosts) == [h for h in hosts if h in shard.hosts]
        assert list(shard.zones) == [z for z in zones if z in shard.zones]


def test_one_zone_with_all_the_hosts_is_split() -> None:
    """The case a zone-with-its-hosts shard could not split: a province under one zone."""
    hosts = [f"h{i}.quangninh.gov.vn" for i in range(2000)]
    plan = _plan(hosts, ["quangninh.gov.vn"])
    one, two = split(plan, 2)
    assert abs(one.weight - two.weight) <= ZONE_WEIGHT
    assert one.zones == ("quangninh.gov.vn",) and two.zones == ()
    assert one.zone_hosts["quangninh.gov.vn"] == tuple(hosts)
    assert len(one.hosts) + len(two.hosts) == 2000 and set(one.hosts).isdisjoint(two.hosts)


def test_shards_are_balanced_by_weight_and_deterministic() -> None:
    hosts, zones = _province()
    plan = _plan(hosts, zones)
    shards = split(plan, 3)
    assert sum(s.size for s in shards) == len(hosts) + len(zones) == 40
    total = HOST_WEIGHT * len(hosts) + ZONE_WEIGHT * len(zones)
    assert sum(s.weight for s in shards) == total
    loads = sorted(s.weight for s in shards)
    assert loads[-1] - loads[0] <= 1, loads  # the hosts fill the gaps the zones leave
    assert split(plan, 3) == shards


def test_nested_zones_both_see_the_shared_host() -> None:
    # hosts_by_zone puts www.sub.a.vn in both a.vn and sub.a.vn: a host can be in two zones
    hosts = ["www.a.vn", "www.sub.a.vn", "www.b.vn", "www.c.vn"]
    zones = ["a.vn", "sub.a.vn", "b.vn", "c.vn"]
    shards = split(make_plan(hosts, zones, []), 4)
    assert len(shards) == 4
    seen = {z: s.zone_hosts[z] for s in shards for z in s.zones}
    assert "www.sub.a.vn" in seen["a.vn"] and "www.sub.a.vn" in seen["sub.a.vn"]
    assert _targets(shards) == (Counter(hosts), Counter(zones))


def test_skip_leaves_done_targets_out_but_zones_still_know_their_hosts() -> None:
    hosts, zones = _province()
    plan = make_plan(hosts, zones, [])
    done = {(ZONE, "z6.gov.vn")} | {(HOST, f"h{j}.z6.gov.vn") for j in range(7)}  # all of z6
    done |= {(HOST, "h0.z5.gov.vn"), (HOST, "www.free0.vn")}  # one of z5's hosts, a free host
    shards = split(plan, 2, done)
    got_hosts, got_zones = _targets(shards)
    assert "z6.gov.vn" not in got_zones and not any(h.endswith(".z6.gov.vn") for h in got_hosts)
    assert "www.free0.vn" not in got_hosts and "h0.z5.gov.vn" not in got_hosts
    # z5 still runs and still follows its finished host's CNAME chain
    (z5,) = [s for s in shards if "z5.gov.vn" in s.zones]
    assert "h0.z5.gov.vn" in z5.zone_hosts["z5.gov.vn"]
    assert sum(s.size for s in shards) == 40 - len(done)
    assert max(got_hosts.values()) == 1 and max(got_zones.values()) == 1
    # everything done: nothing to start
    everything = {(HOST, h) for h in hosts} | {(ZONE, z) for z in zones}
    assert split(plan, 4, everything) == []
    assert whole(plan, everything).size == 0


def test_more_workers_than_targets_uses_fewer_shards() -> None:
    plan = make_plan(["www.a.vn", "mail.a.vn", "www.b.vn"], ["a.vn", "b.vn"], [])
    assert len(split(plan, 16)) == 5
    (only,) = split(plan, 1)
    assert only == whole(plan)
    assert only.hosts == ("www.a.vn", "mail.a.vn", "www.b.vn") and only.zones == ("a.vn", "b.vn")


def test_no_zones_at_all_spreads_hosts() -> None:
    hosts = [f"h{i}.example.vn" for i in range(10)]
    shards = split(make_plan(hosts, [], []), 3)
    assert [s.size for s in shards] == [4, 3, 3]
    assert all(not s.zones for s in shards)
    assert _targets(shards)[0] == Counter(hosts)
    assert split(make_plan([], [], []), 3) == []
    with pytest.raises(ValueError):
        split(make_plan(hosts, [], []), 0)


def test_spec_and_shard_survive_json_and_rebuild_the_plan() -> None:
    """What a remote worker gets: two JSON texts, from which the same plan comes back."""
    hosts, zones = _province()
    plan = make_plan(
        hosts,
        zones,
        [get_check("dns.resolve"), get_check("dns.dnssec")],
        {"dns.resolve": {"x": 1}},
        allow_nets=("127.0.0.0/8",),
    )
    options = ScanOptions(
        timeout=2.5,
        pins={"www.a.vn": ("192.0.2.1",)},
        port_map={"*": {443: 8443}},
        allow_nets=("127.0.0.0/8",),
    )
    spec = ScanSpec.of(plan, store="/tmp/x.db", scan_id=7, options=options, profile="vn-gov")
    shard = split(plan, 2)[1]
    spec2 = ScanSpec.from_json(json.loads(json.dumps(spec.to_json())))
    shard2 = Shard.from_json(shard.to_json())
    assert spec2 == spec and shard2 == shard
    rebuilt = spec2.plan(shard2)
    assert rebuilt.hosts == shard.hosts and rebuilt.zones == shard.zones
    assert [c.id for c in rebuilt.checks] == ["dns.resolve", "dns.dnssec"]
    assert rebuilt.params_for(get_check("dns.resolve"))["x"] == 1
    assert rebuilt.guard == plan.guard


def test_spec_carries_the_footing() -> None:
    from tests.unit.test_selfcheck import footing

    f: Footing = footing()
    plan = make_plan(["www.a.vn"], [], [get_check("dns.resolve")])
    spec = ScanSpec.of(plan, store="s.db", scan_id=1, options=ScanOptions(), footing=f)
    assert ScanSpec.from_json(spec.to_json()).footing == f


def test_a_redelivered_shard_probes_only_what_was_not_stored() -> None:
    hosts, zones = _province()
    plan = make_plan(hosts, zones, [])
    (first, *_rest) = split(plan, 2)
    done = {(HOST, first.hosts[0]), (ZONE, first.zones[0]), (HOST, "not.in.this.shard")}
    rest = first.without(done)
    assert rest.number == first.number and rest.zone_hosts == first.zone_hosts
    assert rest.hosts == first.hosts[1:] and rest.zones == first.zones[1:]
    assert rest.size == first.size - 2
    everything = {(HOST, h) for h in first.hosts} | {(ZONE, z) for z in first.zones}
    assert first.without(everything).size == 0
