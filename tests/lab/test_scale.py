"""The scale lab (tests/lab/scale.py, used by bench/run) at small N: it comes up, `auditor
scan` of it (default profile, every check) passes every host and zone check on every host and
both addresses, and it tears down leaving nothing. Speed is the benchmark's business
(bench/run), never asserted here."""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator

import pytest

from .conftest import require_lab
from .scale import ScaleLab, host_name, zone_name
from .scenarios import HOST_CHECKS, ZONE_CHECKS

pytestmark = pytest.mark.lab

HOSTS = 50
PER_ZONE = 20  # 3 agency zones, the last one partly filled


@pytest.fixture(scope="module")
def scale_lab() -> Iterator[ScaleLab]:
    require_lab()
    lab = ScaleLab(f"s{os.getpid()}"[:11], hosts=HOSTS, per_zone=PER_ZONE)
    try:
        lab.up()
    except Exception as e:
        lab.down()
        pytest.fail(f"the scale lab failed to start: {e}", pytrace=False)
    try:
        yield lab
    finally:
        lab.down()
        assert lab.leftovers() == []


def test_address_plan() -> None:
    lab = ScaleLab("plan", hosts=2000, per_zone=20)
    hosts = lab.plan()
    assert len({h.name for h in hosts}) == 2000
    assert len({h.v6 for h in hosts}) == 2000  # every host its own AAAA
    pool = ScaleLab.v4_pool()
    assert len(pool) > 700 and lab.mx_v4() not in {h.v4 for h in hosts}
    assert len({h.v4 for h in hosts}) == len(pool) - 1  # shared round-robin beyond the pool
    assert hosts[0].name == host_name(0, 20) == "h00000.b0000.gov.vn"
    assert hosts[-1].zone == zone_name(99)


# A good scale host accepts only good suites: there is no phase-out suite to order
# (CHECKS.md tls.cipher_order: not_applicable then), and no RSA key exchange for ROBOT.
NOT_APPLICABLE_OK = {
    ("tls.cipher_order", "not_applicable"),
    ("tls.vuln.robot", "not_applicable"),
    ("mail.tls.cipher_order", "not_applicable"),  # only good suites: nothing to order
}


def test_scan_of_the_scale_lab_passes_everything(scale_lab: ScaleLab) -> None:
    inv = scale_lab.write_inventory(scale_lab.dir / "inventory.yaml")
    out = scale_lab.dir / "scan"
    proc, data = scale_lab.scan(out, "-q")
    assert data is not None, f"no JSON (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    assert inv.exists()
    by_target: dict[str, list[dict[str, object]]] = collections.defaultdict(list)
    for f in data["findings"]:
        by_target[str(f["target"])].append(f)
    hosts = [h.name for h in scale_lab.targets()]
    zones = scale_lab.zones
    assert set(by_target) == set(hosts) | set(zones)
    bad = [
        f"{f['target']} {f['check']}@{f.get('address') or '-'}: {f['status']} {f['message']}"
        for f in data["findings"]
        if f["status"] != "pass" and (f["check"], f["status"]) not in NOT_APPLICABLE_OK
    ]
    assert not bad, "\n".join(bad[:30])
    for h in hosts:
        checks = {str(f["check"]) for f in by_target[h]}
        assert set(HOST_CHECKS) <= checks, f"{h}: missing {set(HOST_CHECKS) - checks}"
        addrs = {f.get("address") for f in by_target[h] if f["check"] == "tls.available"}
        assert addrs == set(scale_lab.addresses(h).values())
    for z in zones:
        checks = {str(f["check"]) for f in by_target[z]}
        assert set(ZONE_CHECKS) <= checks, f"{z}: missing {set(ZONE_CHECKS) - checks}"
