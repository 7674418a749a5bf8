"""A distributed scan from two vantage points (issue #16), with the real parts: two
``auditor worker`` processes, one in the lab's client namespace (vantage ``isp-a``) and one
in a second dual-stack client namespace (vantage ``isp-b``), a redis-server broker in the
server namespace, the PostgreSQL store (tests/lab/conftest.py ``distributed``), and the scan
client ``auditor scan --broker --vantage isp-a,isp-b`` as a user runs it.

From ``isp-b`` one portal's IPv6 address is dark: a packet filter in that namespace drops
what it sends there (broken transit at one upstream). The store, the JSON and the HTML show
the difference for that host and vantage only; every other verdict agrees between the two
vantages, and both vantages' own footing (their IPv6 self-check) is recorded.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.store import open_store
from tests.support.distributed import Worker
from tests.unit.test_vantage_reports import _row

from .conftest import Distributed
from .lab import SCAN_TIMEOUT, Lab
from .scenarios import RESOLVER_V4, RESOLVER_V6

pytestmark = pytest.mark.lab

DARK = "www.prelaunch.gov.vn"  # good from everywhere, but dark over IPv6 from isp-b
AGENCIES = ("lab-good", "lab-v4only", "lab-v6drop", "lab-prelaunch", "lab-tls10")
# what a dark IPv6 address changes for its host (and nothing else may differ)
V6_DEPENDENT = {
    "ipv6.web.reach",
    "ipv6.web.https",
    "ipv6.web.parity",
    "ipv6.web.icmp",
    "ipv6.web.only",
}


@pytest.fixture(scope="module")
def second_client(lab: Lab) -> Iterator[str]:
    """The second client namespace, with IPv6 to DARK's address dropped on the way out."""
    lab.netns.client2_create([RESOLVER_V4, RESOLVER_V6])
    try:
        v6 = lab.addresses(DARK)["v6"]
        lab.netns.nft_cli2(
            "table inet vantage {\n  chain out {\n"
            "    type filter hook output priority 0; policy accept;\n"
            f"    ip6 daddr {v6} drop\n  }}\n}}\n"
        )
        yield v6
    finally:
        lab.netns.client2_delete()


def _inventory(lab: Lab, path: Path) -> Path:
    """The lab inventory, AGENCIES only."""
    inv = yaml.safe_load(lab.inventory.read_text())
    inv["agencies"] = [a for a in inv["agencies"] if a["id"] in AGENCIES]
    assert len(inv["agencies"]) == len(AGENCIES)
    path.write_text(yaml.safe_dump(inv, sort_keys=False, allow_unicode=True))
    return path


def _key(f: dict[str, Any]) -> tuple[str, str, str]:
    addr = f.get("address") or ""
    return (f["target"], f["check"], str(ipaddress.ip_address(addr)) if addr else "")


def test_two_vantages_show_one_portal_dark_over_ipv6_from_one_of_them(
    lab: Lab, distributed: Distributed, second_client: str, tmp_path: Path
) -> None:
    inv = _inventory(lab, tmp_path / "two.yaml")
    env = lab.auditor_env()
    workers = [
        Worker(distributed.broker, distributed.db, "isp-a", 2,
               wrap=lab.netns.exec_cli([]), env=env),
        Worker(distributed.broker, distributed.db, "isp-b", 2,
               wrap=lab.netns.exec_cli2([]), env=env),
    ]  # fmt: skip
    try:
        for w in workers:
            w.wait_ready(120)
        args = ["scan", str(inv), "--db", distributed.db, "--broker", distributed.broker,
                "--vantage", "isp-a,isp-b", "--json", str(tmp_path / "scan.json"),
                "--out", str(tmp_path / "html"), "--lang", "en", "--ca-file", str(lab.ca_file),
                "--timeout", SCAN_TIMEOUT]  # fmt: skip
        for net in lab.allow_nets:
            args += ["--allow-net", net]
        done = lab.run_auditor(args, timeout=900)
    finally:
        for w in workers:
            w.stop()
    logs = "\n".join(w.text()[-3000:] for w in workers)
    assert "Traceback" not in done.stderr, done.stderr
    # some lab hosts fail by design: exit 1 is "findings fail", never 2 (could not test)
    assert done.returncode in (0, 1), done.stderr + logs
    doc = json.loads((tmp_path / "scan.json").read_text())
    scan_id = doc["scan"]["id"]

    # -- the JSON: every finding names its vantage; the two agree but on DARK's IPv6 --------
    by: dict[str, dict[tuple[str, str, str], str]] = {"isp-a": {}, "isp-b": {}}
    for f in doc["findings"]:
        by[f["vantage"]][_key(f)] = f["status"]
    a, b = by["isp-a"], by["isp-b"]
    assert a and a.keys() == b.keys(), set(a) ^ set(b)
    differ = {k for k in a if a[k] != b[k]}
    v6 = second_client
    assert a[(DARK, "ipv6.web.reach", "")] == "pass"
    assert b[(DARK, "ipv6.web.reach", "")] == "fail"
    for target, check, addr in differ:
        assert target == DARK, (target, check, addr)
        if addr:
            # what isp-b could not reach it could not test: never a false verdict
            assert addr == v6 and b[(target, check, addr)] == "not_tested", (check, addr)
        else:
            assert check in V6_DEPENDENT, check
    # the other hosts are seen alike, whatever their own verdicts (v6drop fails from both)
    v6drop = ("www.v6drop.gov.vn", "ipv6.web.reach", "")
    assert a[v6drop] == b[v6drop] == "fail"

    # -- the store: the same split per vantage, and each vantage's own footing ---------------
    store = open_store(distributed.db, create=False)
    try:
        assert store.vantages(scan_id) == ["isp-a", "isp-b"]
        stored = {
            v: {(f.target, f.check, f.address or ""): f.status.value
                for f in store.findings(scan_id, vantage=v)}
            for v in ("isp-a", "isp-b")
        }  # fmt: skip
        assert stored["isp-a"][(DARK, "ipv6.web.reach", "")] == "pass"
        assert stored["isp-b"][(DARK, "ipv6.web.reach", "")] == "fail"
        assert stored["isp-a"][(DARK, "tls.available", v6)] == "pass"
        assert stored["isp-b"][(DARK, "tls.available", v6)] == "not_tested"
        footings = store.vantage_footings(scan_id)
        assert set(footings) == {"isp-a", "isp-b"}
        for name, footing in footings.items():
            assert footing["ipv6"]["status"] == "ok", (name, footing)
        assert store.scan(scan_id).status == "complete"
    finally:
        store.close()

    # -- the HTML: the matrix on DARK's page, the KPI per vantage on its agency's page -------
    html = tmp_path / "html"
    page = (html / "hosts" / f"{DARK}.html").read_text(encoding="utf-8")
    reach = {v: s for v, (s, _why) in _row(page, "ipv6.web.reach").items()}
    assert reach == {"isp-a": "pass", "isp-b": "fail", "": "fail"}, reach
    good = (html / "hosts" / "www.good.gov.vn.html").read_text(encoding="utf-8")
    assert {v: s for v, (s, _w) in _row(good, "ipv6.web.reach").items()} == {
        "isp-a": "pass",
        "isp-b": "pass",
        "": "pass",
    }
    agency = (html / "agencies" / "lab-prelaunch.html").read_text(encoding="utf-8")
    assert re.search(r'data-vantage="isp-b" data-kpi="no"', agency), agency[:3000]
    assert re.search(r'data-vantage="isp-a" data-kpi="yes"', agency)
