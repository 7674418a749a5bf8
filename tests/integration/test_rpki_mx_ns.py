"""rpki.mx_ns.*: the name servers of the zone holding a domain's MX target, found by the
zone probe through a real DNS server on 127.0.0.1 (tests/support/servers.py FakeDns: the
scan's resolver), then looked up by the engine in VRP and BGP files read by the real
loaders. The MX is in a provider's zone whose second name server's IPv6 prefix is
announced by an AS no ROA names: invalid-AS, every address of both servers judged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.engine import probe_zone
from auditor.model import Probe, Status
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from tests.support.factories import run
from tests.support.servers import FakeDns, fake

__all__ = ["fake"]  # the fixture

ORG = "agency.gov.vn"
PROVIDER = "provider.vn"


def _files(tmp: Path) -> tuple[str, str]:
    from datetime import UTC, datetime

    gen = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    roas = [
        {"asn": 64500, "prefix": "192.0.2.0/24", "maxLength": 24},
        {"asn": 64500, "prefix": "2001:db8::/32", "maxLength": 48},
    ]
    vrps = tmp / "vrps.json"
    vrps.write_text(json.dumps({"metadata": {"buildtime": gen}, "roas": roas}))
    table = tmp / "table.pfx2as"
    table.write_text(
        "192.0.2.0\t24\t64500\n2001:db8:4::\t48\t64500\n2001:db8:5::\t48\t64666\n"
        "2001:db8:25::\t48\t64500\n"
    )
    return str(vrps), str(table)


@pytest.mark.asyncio
async def test_mx_zone_name_servers_are_found_and_judged(fake: FakeDns, tmp_path: Path) -> None:
    fake.add(ORG, "SOA", f"{ORG}. 60 IN SOA ns1.{ORG}. h. 1 2 3 4 5")
    fake.add(ORG, "NS", f"{ORG}. 60 IN NS ns1.{ORG}.")
    fake.add(f"ns1.{ORG}", "A", f"ns1.{ORG}. 60 IN A 192.0.2.53")
    fake.add(ORG, "MX", f"{ORG}. 60 IN MX 10 mx1.{PROVIDER}.")
    fake.add(f"mx1.{PROVIDER}", "A", f"mx1.{PROVIDER}. 60 IN A 192.0.2.25")
    fake.add(f"mx1.{PROVIDER}", "AAAA", f"mx1.{PROVIDER}. 60 IN AAAA 2001:db8:25::25")
    # the MX's zone: its SOA owner, its two name servers with both families
    fake.add(f"mx1.{PROVIDER}", "SOA", f"{PROVIDER}. 60 IN SOA ns1.{PROVIDER}. h. 1 2 3 4 5")
    fake.add(
        PROVIDER,
        "NS",
        f"{PROVIDER}. 60 IN NS ns1.{PROVIDER}.",
        f"{PROVIDER}. 60 IN NS ns2.{PROVIDER}.",
    )
    fake.add(f"ns1.{PROVIDER}", "A", f"ns1.{PROVIDER}. 60 IN A 192.0.2.4")
    fake.add(f"ns1.{PROVIDER}", "AAAA", f"ns1.{PROVIDER}. 60 IN AAAA 2001:db8:4::4")
    fake.add(f"ns2.{PROVIDER}", "A", f"ns2.{PROVIDER}. 60 IN A 192.0.2.5")
    fake.add(f"ns2.{PROVIDER}", "AAAA", f"ns2.{PROVIDER}. 60 IN AAAA 2001:db8:5::5")
    vrps, table = _files(tmp_path)
    options = ScanOptions(
        resolver=f"127.0.0.1:{fake.port}",
        timeout=1,
        rpki_vrps_file=vrps,
        bgp_table_file=table,
    )
    obs = await probe_zone(ProbeContext(options), ORG, frozenset({Probe.ZONE, Probe.ROUTING}))
    assert [(z.zone, z.mx) for z in obs.mx_zone_ns] == [(PROVIDER, (f"mx1.{PROVIDER}",))]
    assert [h.name for h in obs.mx_zone_ns[0].ns_hosts] == [f"ns1.{PROVIDER}", f"ns2.{PROVIDER}"]
    assert obs.routing is not None
    roles = {(a.role, a.address) for a in obs.routing.addresses}
    assert {
        ("mx_ns", a) for a in ("192.0.2.4", "2001:db8:4::4", "192.0.2.5", "2001:db8:5::5")
    } <= roles
    v = run("rpki.mx_ns.valid", obs)
    assert v.status == Status.FAIL, v.message
    assert f"ns2.{PROVIDER} [2001:db8:5::5]" in v.message and "invalid-as" in v.message
    assert len(v.evidence["addresses"]) == 4
    assert run("rpki.mx_ns.roa", obs).status == Status.PASS
    # the agency's own name server and the mail exchanger are valid: only the MX zone's
    # name server is the problem
    assert run("rpki.ns.valid", obs).status == Status.PASS
    assert run("rpki.mx.valid", obs).status == Status.PASS


@pytest.mark.asyncio
async def test_without_routing_the_mx_zones_are_not_looked_up(fake: FakeDns) -> None:
    fake.add(ORG, "SOA", f"{ORG}. 60 IN SOA ns1.{ORG}. h. 1 2 3 4 5")
    fake.add(ORG, "MX", f"{ORG}. 60 IN MX 10 mx1.{PROVIDER}.")
    fake.add(f"mx1.{PROVIDER}", "A", f"mx1.{PROVIDER}. 60 IN A 192.0.2.25")
    options = ScanOptions(resolver=f"127.0.0.1:{fake.port}", timeout=1)
    obs = await probe_zone(ProbeContext(options), ORG, frozenset({Probe.ZONE}))
    assert obs.mx_zone_ns == () and obs.routing is None
    assert not any(t == "NS" and n == PROVIDER for n, t, _ in fake.seen)
    assert run("rpki.mx_ns.valid", obs).status == Status.NOT_TESTED
