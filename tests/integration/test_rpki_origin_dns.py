"""``--bgp-origin-dns``: prefix-to-origin asked of a DNS origin service in Team Cymru's TXT
format, through the scan's resolver (a real DNS server on 127.0.0.1, tests/support/
dnsserver.py), judged against a VRP file by the rpki.* checks: valid, invalid AS, invalid
length (two covering prefixes), two origins, NXDOMAIN (in no announced prefix), SERVFAIL
and a silent server (not tested with the reason), a record for another network (refused),
and one query per address per scan."""

from __future__ import annotations

from pathlib import Path

import anyio

from auditor.model import Status
from auditor.obs.routing import RoutingObservation
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.routing import routing_async
from auditor.protocol.rpki import INVALID_AS, INVALID_LENGTH, VALID, origin_qname
from tests.support.dnsserver import DnsServer, Zone
from tests.support.factories import NOW, run
from tests.unit.test_rpki import (
    BAD_AS_ADDR,
    BAD_LEN_ADDR,
    MOAS_ADDR,
    UNROUTED_ADDR,
    VALID_ADDR,
    _host,
    rpki_client_json,
)

ZONES = ("origin.example.test", "origin6.example.test")
SERVFAIL_ADDR = "192.0.2.77"  # the service fails for it
SILENT_ADDR = "192.0.2.78"  # the service never answers for it
FOREIGN_ADDR = "192.0.2.79"  # the service names a prefix that does not cover it


def txt(*fields: str) -> str:
    return '"' + " | ".join(fields) + '"'


def origin_zone() -> Zone:
    zone = Zone()

    def add(address: str, *records: str) -> None:
        zone.add(origin_qname(address, ZONES), "TXT", list(records))

    add(VALID_ADDR, txt("64500", "192.0.2.0/24", "VN", "apnic", "2010-01-01"))
    add(BAD_AS_ADDR, txt("64666", "198.51.100.0/24", "VN", "apnic", "2010-01-01"))
    # the /24 aggregate and the /25 carved from it, the less specific listed first
    add(
        BAD_LEN_ADDR,
        txt("64502", "203.0.113.0/24", "VN", "apnic", ""),
        txt("64502", "203.0.113.128/25", "VN", "apnic", ""),
    )
    add(MOAS_ADDR, txt("64504 64505", "2001:db8:2::/48", "VN", "apnic", "2012-01-01"))
    add(FOREIGN_ADDR, txt("64500", "10.0.0.0/8", "ZZ", "x", ""))
    zone.servfail.add(origin_qname(SERVFAIL_ADDR, ZONES))
    zone.silent.add(origin_qname(SILENT_ADDR, ZONES))
    return zone


def observe(
    tmp_path: Path, server: DnsServer, members: list[tuple[str, str, str]]
) -> RoutingObservation:
    vrps = tmp_path / "vrps.json"
    vrps.write_text(rpki_client_json())
    opts = ScanOptions(
        resolver=server.spec, timeout=0.5, rpki_vrps_file=str(vrps), bgp_origin_dns=ZONES
    )
    ctx = ProbeContext(opts)

    async def main() -> RoutingObservation:
        return await routing_async(ctx, members, NOW)

    return anyio.run(main)


def verdict(obs: RoutingObservation, address: str) -> tuple[Status, str]:
    one = RoutingObservation(obs.data, tuple(a for a in obs.addresses if a.address == address))
    v = run("rpki.web.valid", _host((address,), one))
    return v.status, v.message


def test_origin_service_judged_per_route(tmp_path: Path) -> None:
    from auditor.protocol.rpki import validate_route

    zone = origin_zone()
    addrs = [VALID_ADDR, BAD_AS_ADDR, BAD_LEN_ADDR, MOAS_ADDR, UNROUTED_ADDR]
    addrs += [SERVFAIL_ADDR, SILENT_ADDR, FOREIGN_ADDR]
    members = [(a, "web", "www") for a in addrs]
    members.append((VALID_ADDR, "ns", "ns1"))  # a second role: no second query
    with DnsServer(zone) as server:
        obs = observe(tmp_path, server, members)
    assert not obs.data.error, obs.data.error
    assert obs.data.bgp_format == "cymru-origin-txt"
    assert obs.data.bgp_date == obs.data.looked_up  # live data, dated at the lookup
    by = {a.address: a for a in obs.addresses if a.role == "web"}

    def states(addr: str) -> list[tuple[str, str, str]]:
        a = by[addr]
        return [
            (r.prefix, r.origin_text, validate_route(r.prefix, r.origin, a.vrps).state)
            for r in a.routes
        ]

    assert states(VALID_ADDR) == [("192.0.2.0/24", "AS64500", VALID)]
    assert states(BAD_AS_ADDR) == [("198.51.100.0/24", "AS64666", INVALID_AS)]
    # most specific first, whatever order the service listed them in
    assert states(BAD_LEN_ADDR) == [
        ("203.0.113.128/25", "AS64502", INVALID_LENGTH),
        ("203.0.113.0/24", "AS64502", VALID),
    ]
    assert by[BAD_LEN_ADDR].less_specific == ("203.0.113.0/24",)
    assert states(MOAS_ADDR) == [
        ("2001:db8:2::/48", "AS64504", VALID),
        ("2001:db8:2::/48", "AS64505", INVALID_AS),
    ]
    assert verdict(obs, VALID_ADDR)[0] == Status.PASS
    assert verdict(obs, BAD_AS_ADDR)[0] == Status.FAIL
    assert verdict(obs, BAD_LEN_ADDR)[0] == Status.FAIL
    assert verdict(obs, MOAS_ADDR)[0] == Status.FAIL
    # NXDOMAIN: in no announced prefix (the ROA is still seen)
    assert by[UNROUTED_ADDR].routes == () and not by[UNROUTED_ADDR].lookup_error
    assert by[UNROUTED_ADDR].vrps
    status, message = verdict(obs, UNROUTED_ADDR)
    assert status == Status.NOT_TESTED and "not routed" in message
    # SERVFAIL, no answer, an answer about another network: unknown, never "not routed"
    for addr, why in (
        (SERVFAIL_ADDR, "servfail"),
        (SILENT_ADDR, "timeout"),
        (FOREIGN_ADDR, "does not cover"),
    ):
        status, message = verdict(obs, addr)
        assert status == Status.NOT_TESTED and "routes not known" in message, message
        assert why in message.lower(), message
    # one query per address per scan, the second role included
    asked = [q for q in zone.queries if q == (origin_qname(VALID_ADDR, ZONES), "TXT")]
    assert len(asked) == 1
    assert len({a for a, _ in zone.queries}) == len(addrs)


def test_origin_service_without_vrps_is_not_tested(tmp_path: Path) -> None:
    with DnsServer(origin_zone()) as server:
        opts = ScanOptions(resolver=server.spec, timeout=0.5, bgp_origin_dns=ZONES)

        async def main() -> RoutingObservation:
            return await routing_async(ProbeContext(opts), [(VALID_ADDR, "web", "www")], NOW)

        obs = anyio.run(main)
    v = run("rpki.web.valid", _host((VALID_ADDR,), obs))
    assert v.status == Status.NOT_TESTED and "--rpki-vrps not given" in v.message
    assert not server.zone.queries  # nothing asked when nothing can be judged
