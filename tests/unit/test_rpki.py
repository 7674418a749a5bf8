"""RPKI route origin validation: the loaders of both VRP formats and both BGP dump
formats (through the real file loaders, gzip included), RFC 6811 judgement and the rpki.*
checks (pure; files are written to tmp_path, no network)."""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from auditor.model import Status
from auditor.obs import HostObservations
from auditor.obs.core import HostDns
from auditor.obs.routing import AddressRouting, Route, RoutingData, RoutingObservation, Vrp
from auditor.options import ScanOptions
from auditor.probes.routing import NO_DATA, load_tables, routing_for
from auditor.protocol.rpki import (
    INVALID_AS,
    INVALID_LENGTH,
    NOT_FOUND,
    VALID,
    RpkiDataError,
    parse_bgp,
    parse_vrps,
    validate_route,
)
from tests.support.factories import MX1, NOW, ans, good_zone, run

GEN = "2026-11-27T10:00:00Z"  # two hours before the fixtures' NOW
# Each case's address, in the prefix the BGP table announces for it:
VALID_ADDR = "192.0.2.10"  # 192.0.2.0/24 AS64500, ROA 192.0.2.0/24-24 AS64500
BAD_AS_ADDR = "198.51.100.10"  # 198.51.100.0/24 AS64666, ROA for AS64501
BAD_LEN_ADDR = "203.0.113.200"  # 203.0.113.128/25 AS64502, ROA 203.0.113.0/24-24
NOT_FOUND_ADDR = "2001:db8:1::10"  # 2001:db8:1::/48 AS64503, no ROA
MOAS_ADDR = "2001:db8:2::10"  # 2001:db8:2::/48 AS64504 and AS64505, ROA for AS64504 only
UNROUTED_ADDR = "2001:db8:ffff::1"  # in no announced prefix (ROA for 2001:db8:ff00::/40)
MAXLEN_ADDR = "2001:db8:3:4::1"  # 2001:db8:3:4::/64 AS64506, ROA 2001:db8:3::/48-64

ROAS = [
    ("AS64500", "192.0.2.0/24", 24),
    ("AS64501", "198.51.100.0/24", 24),
    ("AS64502", "203.0.113.0/24", 24),
    ("AS64504", "2001:db8:2::/48", 48),
    ("AS64507", "2001:db8:ff00::/40", 48),
    ("AS64506", "2001:db8:3::/48", 64),
]
ROUTES = [
    ("192.0.2.0", 24, "64500"),
    ("198.51.100.0", 24, "64666"),
    ("203.0.113.128", 25, "64502"),
    ("203.0.113.0", 24, "64502"),  # the less specific aggregate, also announced
    ("2001:db8:1::", 48, "64503"),
    ("2001:db8:2::", 48, "64504_64505"),  # two origins (MOAS)
    ("2001:db8:3:4::", 64, "64506"),
]


def rpki_client_json(gen: str = GEN) -> str:
    roas = [{"asn": int(a[2:]), "prefix": p, "maxLength": m, "ta": "apnic"} for a, p, m in ROAS]
    return json.dumps({"metadata": {"buildmachine": "lab", "buildtime": gen}, "roas": roas})


def routinator_jsonext(gen: str = GEN) -> str:
    roas = [
        {"asn": a, "prefix": p, "maxLength": m, "source": [{"type": "roa", "uri": "rsync://x"}]}
        for a, p, m in ROAS
    ]
    return json.dumps({"metadata": {"generated": 1, "generatedTime": gen}, "roas": roas})


def pfx2as() -> str:
    return "".join(f"{n}\t{ln}\t{o}\n" for n, ln, o in ROUTES)


def ris_whois() -> str:
    lines = ["% RIS whois dump (lab)", "% origin prefix peers"]
    for n, ln, origins in ROUTES:
        for o in origins.split("_"):
            lines.append(f"{o}\t{n}/{ln}\t120")
    return "\n".join(lines) + "\n"


def files(tmp_path: Path, vrps: str, bgp: str, bgp_name: str, gz: bool = False) -> ScanOptions:
    v = tmp_path / "vrps.json"
    v.write_text(vrps)
    b = tmp_path / bgp_name
    if gz:
        b.write_bytes(gzip.compress(bgp.encode()))
    else:
        b.write_text(bgp)
    return ScanOptions(rpki_vrps_file=str(v), bgp_table_file=str(b))


FORMATS = [
    ("rpki-client", rpki_client_json, pfx2as, "routeviews-rv2-20261127-0800.pfx2as", False),
    ("routinator", routinator_jsonext, ris_whois, "riswhoisdump.IPv6.gz", True),
]


@pytest.mark.parametrize(("name", "vrps", "bgp", "bgp_name", "gz"), FORMATS)
def test_loaders_and_judgement_of_every_case(
    tmp_path: Path, name: str, vrps: object, bgp: object, bgp_name: str, gz: bool
) -> None:
    opts = files(tmp_path, vrps(), bgp(), bgp_name, gz)  # type: ignore[operator]
    tables = load_tables(opts.rpki_vrps_file, opts.bgp_table_file)
    assert not tables.data.error, tables.data.error
    assert tables.data.vrps_count == len(ROAS) and tables.data.vrps_date == GEN
    if name == "rpki-client":
        assert tables.data.vrps_format == "rpki-client-json"
        assert tables.data.bgp_format == "caida-pfx2as"
        assert tables.data.bgp_date == "2026-11-27T08:00:00Z"  # from the file name
    else:
        assert tables.data.vrps_format == "routinator-jsonext"
        assert tables.data.bgp_format == "ris-whois"
        assert tables.data.bgp_date_source == "file mtime"
    addrs = [VALID_ADDR, BAD_AS_ADDR, BAD_LEN_ADDR, NOT_FOUND_ADDR, MOAS_ADDR, UNROUTED_ADDR]
    obs = routing_for(opts, [(a, "web", "www") for a in [*addrs, MAXLEN_ADDR]], NOW)
    by = {a.address: a for a in obs.addresses}

    def states(addr: str) -> list[str]:
        a = by[addr]
        return [validate_route(r.prefix, r.origin, a.vrps).state for r in a.routes]

    assert states(VALID_ADDR) == [VALID]
    assert states(BAD_AS_ADDR) == [INVALID_AS]
    # every covering prefix is judged, the most specific (the /25) first: the /25 is too
    # long for the ROA, the /24 aggregate it is carved from is valid
    assert states(BAD_LEN_ADDR) == [INVALID_LENGTH, VALID]
    assert [r.prefix for r in by[BAD_LEN_ADDR].routes] == ["203.0.113.128/25", "203.0.113.0/24"]
    assert by[BAD_LEN_ADDR].less_specific == ("203.0.113.0/24",)
    assert states(NOT_FOUND_ADDR) == [NOT_FOUND]
    assert sorted(states(MOAS_ADDR)) == sorted([VALID, INVALID_AS])  # per prefix AND origin
    assert by[UNROUTED_ADDR].routes == () and by[UNROUTED_ADDR].vrps  # ROA but not routed
    assert states(MAXLEN_ADDR) == [VALID]  # maxLength 64 honoured for the /64


def test_rfc6811_rules() -> None:
    v = [Vrp("192.0.2.0/24", 24, 64500), Vrp("192.0.2.0/24", 24, 0)]
    assert validate_route("192.0.2.0/24", 64500, v).state == VALID
    assert validate_route("192.0.2.0/25", 64500, v).state == INVALID_LENGTH
    assert validate_route("192.0.2.0/24", 64999, v).state == INVALID_AS
    # AS 0 never matches (RFC 6483 section 4), an AS_SET origin neither (RFC 6811: NONE)
    assert validate_route("192.0.2.0/24", 0, v).state == INVALID_AS
    assert validate_route("192.0.2.0/24", None, v).state == INVALID_AS
    assert validate_route("198.51.100.0/24", 64500, v).state == NOT_FOUND


def test_parsers_refuse_other_formats_and_skip_bad_entries() -> None:
    with pytest.raises(RpkiDataError):
        parse_vrps('{"roas": []}')
    with pytest.raises(RpkiDataError):
        parse_vrps("not json")
    with pytest.raises(RpkiDataError):
        parse_bgp("hello world\n")
    doc = json.loads(rpki_client_json())
    doc["roas"] += [{"asn": "ASx", "prefix": "192.0.2.0/24"}, {"asn": 1, "prefix": "10.0.0.0/8",
                                                              "maxLength": 4}]  # fmt: skip
    vs = parse_vrps(json.dumps(doc))
    assert len(vs.vrps) == len(ROAS) and vs.skipped == 2
    assert parse_bgp("192.0.2.0\t24\t64500,64501\n").routes[0].origin is None  # AS_SET


def test_missing_or_incomplete_data_is_reported(tmp_path: Path) -> None:
    assert load_tables(None, None).data.error == NO_DATA
    assert "--bgp-table" in load_tables("x.json", None).data.error
    bad = tmp_path / "v.json"
    bad.write_text("{}")
    table = tmp_path / "t"
    table.write_text(pfx2as())
    assert "unreadable" in load_tables(str(bad), str(table)).data.error
    # a path that does not exist here (a distributed worker without the client's files)
    gone = load_tables(str(tmp_path / "absent.json"), str(table)).data.error
    assert gone.startswith("RPKI data unreadable") and "absent.json" in gone


# ---------------------------------------------------------------- the checks


def _host(addresses: tuple[str, ...], routing: RoutingObservation | None) -> HostObservations:
    v4 = tuple(a for a in addresses if ":" not in a)
    v6 = tuple(a for a in addresses if ":" in a)
    dns = HostDns("www.example.gov.vn", ans("www", "A", *v4), ans("www", "AAAA", *v6))
    return HostObservations("www.example.gov.vn", dns, routing=routing)


def _obs(tmp_path: Path, *addresses: str, gen: str = GEN) -> HostObservations:
    opts = files(tmp_path, rpki_client_json(gen), pfx2as(), "table-20261127.pfx2as")
    return _host(addresses, routing_for(opts, [(a, "web", "www") for a in addresses], NOW))


def test_rpki_web_valid_pass_and_every_address_judged(tmp_path: Path) -> None:
    v = run("rpki.web.valid", _obs(tmp_path, VALID_ADDR, MAXLEN_ADDR))
    assert v.status == Status.PASS, v.message
    assert v.evidence["data"]["vrps"]["date"] == GEN
    # the second address is invalid: not only the first is looked at
    v = run("rpki.web.valid", _obs(tmp_path, VALID_ADDR, BAD_AS_ADDR))
    assert v.status == Status.FAIL and v.score == 0.0 and BAD_AS_ADDR in v.message


def test_rpki_web_valid_fail_cases(tmp_path: Path) -> None:
    v = run("rpki.web.valid", _obs(tmp_path, BAD_LEN_ADDR))
    assert v.status == Status.FAIL and "invalid-length" in v.message
    v = run("rpki.web.valid", _obs(tmp_path, NOT_FOUND_ADDR))
    assert v.status == Status.FAIL and v.score == 0.5 and "not found" in v.message
    v = run("rpki.web.valid", _obs(tmp_path, MOAS_ADDR))
    assert v.status == Status.FAIL and "AS64505" in v.message


def test_rpki_unrouted_stale_and_no_data_not_tested(tmp_path: Path) -> None:
    v = run("rpki.web.valid", _obs(tmp_path, UNROUTED_ADDR))
    assert v.status == Status.NOT_TESTED and "not routed" in v.message
    v = run("rpki.web.valid", _obs(tmp_path, VALID_ADDR, gen="2026-11-20T00:00:00Z"))
    assert v.status == Status.NOT_TESTED and "hours old" in v.message
    # a stricter profile parameter makes two-hour-old data stale too
    v = run("rpki.web.valid", _obs(tmp_path, VALID_ADDR), max_data_age_hours=1)
    assert v.status == Status.NOT_TESTED
    none = _host((VALID_ADDR,), routing_for(ScanOptions(), [(VALID_ADDR, "web", "www")], NOW))
    v = run("rpki.web.valid", none)
    assert v.status == Status.NOT_TESTED and v.message == NO_DATA


def test_rpki_web_roa(tmp_path: Path) -> None:
    assert run("rpki.web.roa", _obs(tmp_path, VALID_ADDR, UNROUTED_ADDR)).status == Status.PASS
    v = run("rpki.web.roa", _obs(tmp_path, VALID_ADDR, NOT_FOUND_ADDR))
    assert v.status == Status.FAIL and v.score == 0.5


def _zone_routing(role: str, name: str, address: str, vrps: tuple[Vrp, ...]) -> RoutingObservation:
    routes = (Route("192.0.2.0/24", 64500, "AS64500"),)
    member = AddressRouting(address, role, name, routes, (), vrps)
    return RoutingObservation(RoutingData(vrps_date=GEN, bgp_date=GEN), (member,))


def test_rpki_ns_and_mx_checks() -> None:
    good = (Vrp("192.0.2.0/24", 24, 64500),)
    z = good_zone(routing=_zone_routing("ns", "ns1.example.gov.vn", "192.0.2.53", good))
    assert run("rpki.ns.valid", z).status == Status.PASS
    assert run("rpki.ns.roa", z).status == Status.PASS
    assert run("rpki.mx.valid", z).status == Status.NOT_TESTED  # no MX address in the data
    z = good_zone(
        routing=_zone_routing("mx", MX1.name, "192.0.2.25", (Vrp("192.0.2.0/24", 24, 1),))
    )
    assert run("rpki.mx.valid", z).status == Status.FAIL
    assert run("rpki.mx.roa", z).status == Status.PASS
    null = replace(z, mx=ans("example.gov.vn", "MX", "0 ."), mx_hosts=())
    for cid in ("rpki.mx.valid", "rpki.mx.roa", "rpki.mx_ns.valid", "rpki.mx_ns.roa"):
        assert run(cid, null).status == Status.NOT_APPLICABLE


def test_rpki_mx_ns_checks() -> None:
    """rpki.mx_ns.*: the routes to the name servers of the MX targets' zones, judged apart
    from the zone's own name servers (role mx_ns)."""
    good = (Vrp("192.0.2.0/24", 24, 64500),)
    # only the zone's own name servers in the data: the MX zones' are not known
    z = good_zone(routing=_zone_routing("ns", "ns1.example.gov.vn", "192.0.2.53", good))
    v = run("rpki.mx_ns.valid", z)
    assert v.status == Status.NOT_TESTED and "mail exchangers' zones" in v.message
    z = good_zone(routing=_zone_routing("mx_ns", "ns.mail.example.vn", "192.0.2.54", good))
    v = run("rpki.mx_ns.valid", z)
    assert v.status == Status.PASS, v.message
    assert "ns.mail.example.vn [192.0.2.54]" in v.evidence["addresses"]
    assert run("rpki.mx_ns.roa", z).status == Status.PASS
    # the MX zone's name server announced by an AS no ROA names: invalid, a fail; the
    # zone's own name server and mail exchanger checks do not see it
    bad = good_zone(
        routing=_zone_routing(
            "mx_ns", "ns.mail.example.vn", "192.0.2.54", ((Vrp("192.0.2.0/24", 24, 1),))
        )
    )
    v = run("rpki.mx_ns.valid", bad)
    assert v.status == Status.FAIL and "invalid-as" in v.message
    assert run("rpki.mx_ns.roa", bad).status == Status.PASS
    assert run("rpki.ns.valid", bad).status == Status.NOT_TESTED
    assert run("rpki.mx.valid", bad).status == Status.NOT_TESTED
    # no ROA at all covers it
    none = good_zone(routing=_zone_routing("mx_ns", "ns.mail.example.vn", "192.0.2.54", ()))
    assert run("rpki.mx_ns.roa", none).status == Status.FAIL
    v = run("rpki.mx_ns.valid", none)
    assert v.status == Status.FAIL and v.score == 0.5


def test_mx_ns_members_through_the_real_loaders(tmp_path: Path) -> None:
    """The engine's mx_ns members looked up in files read by the real loaders."""
    opts = files(tmp_path, rpki_client_json(), pfx2as(), "table-20261127.pfx2as")
    routing = routing_for(
        opts,
        [
            (VALID_ADDR, "mx_ns", "ns.mail.example.vn"),
            (BAD_AS_ADDR, "mx_ns", "ns2.mail.example.vn"),
        ],
        NOW,
    )
    assert {a.role for a in routing.addresses} == {"mx_ns"}
    v = run("rpki.mx_ns.valid", good_zone(routing=routing))
    assert v.status == Status.FAIL and "ns2.mail.example.vn [198.51.100.10]" in v.message


def test_loader_size_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import auditor.probes.routing as routing

    monkeypatch.setattr(routing, "MAX_FILE_BYTES", 100)
    routing._load.cache_clear()
    opts = files(tmp_path, rpki_client_json(), pfx2as(), "t.pfx2as")
    err = load_tables(opts.rpki_vrps_file, opts.bgp_table_file).data.error
    routing._load.cache_clear()
    assert "cap" in err and os.path.exists(str(opts.rpki_vrps_file))


def test_less_specific_invalid_route_fails(tmp_path: Path) -> None:
    # 192.0.2.0/24 (valid) lies in a /23 aggregate announced by an AS no ROA names: each
    # covering (prefix, origin) is judged, so the invalid aggregate is not hidden
    roas = [("AS64500", "192.0.2.0/24", 24), ("AS64500", "192.0.2.0/23", 23)]
    doc = {"metadata": {"buildtime": GEN}, "roas": [
        {"asn": a, "prefix": p, "maxLength": m} for a, p, m in roas]}  # fmt: skip
    table = "192.0.2.0\t24\t64500\n192.0.2.0\t23\t64666\n"
    opts = files(tmp_path, json.dumps(doc), table, "table-20261127.pfx2as")
    obs = _host((VALID_ADDR,), routing_for(opts, [(VALID_ADDR, "web", "www")], NOW))
    v = run("rpki.web.valid", obs)
    assert v.status == Status.FAIL and "192.0.2.0/23" in v.message and "invalid-as" in v.message
    routes = v.evidence["addresses"][VALID_ADDR]["routes"]
    assert [(r["prefix"], r["state"]) for r in routes] == [
        ("192.0.2.0/24", VALID),
        ("192.0.2.0/23", INVALID_AS),
    ]


def test_data_age_is_judged_at_the_scan_not_at_a_re_evaluation(tmp_path: Path) -> None:
    from datetime import timedelta

    from auditor.registry import CheckContext, get_check

    obs = _obs(tmp_path, VALID_ADDR)  # data two hours old when looked up
    assert obs.routing is not None and obs.routing.data.looked_up == "2026-11-27T12:00:00Z"
    spec = get_check("rpki.web.valid")

    def judged_at(o: HostObservations, days: int) -> Status:
        ctx = CheckContext(o.host, dict(spec.params), NOW + timedelta(days=days))
        return spec.run(o, ctx).status

    # judged a month later (auditor evaluate of the stored scan): the same verdict
    assert judged_at(obs, 30) == Status.PASS
    assert run("rpki.web.valid", obs).evidence["data"]["looked_up"] == "2026-11-27T12:00:00Z"
    # an observation stored without the lookup time is judged at the evaluation time
    data = replace(obs.routing.data, looked_up=None)
    old = replace(obs, routing=replace(obs.routing, data=data))
    assert judged_at(old, 0) == Status.PASS
    assert judged_at(old, 30) == Status.NOT_TESTED


@pytest.mark.parametrize(
    ("gen", "status"),
    [
        ("2026-11-27T12:04:00Z", Status.PASS),  # 4 minutes ahead: within the clock allowance
        ("2026-11-27T12:05:00Z", Status.PASS),  # exactly the allowance
        ("2026-11-27T12:06:00Z", Status.NOT_TESTED),  # a minute past it
        ("2026-11-27T18:00:00Z", Status.NOT_TESTED),
        ("2027-11-27T12:00:00Z", Status.NOT_TESTED),  # a year ahead: never "fresh"
    ],
)
def test_future_dated_vrps_are_not_judged(tmp_path: Path, gen: str, status: Status) -> None:
    """VRP data dated after the lookup beyond MAX_CLOCK_SKEW_SECONDS: its age is unknown,
    so every rpki.* check is not_tested with the reason, never pass (nor fail)."""
    obs = _obs(tmp_path, VALID_ADDR, gen=gen)
    for cid in ("rpki.web.valid", "rpki.web.roa"):
        v = run(cid, obs)
        assert v.status == status, (cid, v.message)
        if status == Status.NOT_TESTED:
            assert "VRP data is dated in the future" in v.message and gen in v.message
            assert v.evidence["vrps"]["date"] == gen  # the dates stay in the evidence


def test_future_dated_bgp_table_and_zone_checks(tmp_path: Path) -> None:
    # the table's date from its file name, four days after the lookup; valid routes else
    opts = files(tmp_path, rpki_client_json(), pfx2as(), "table-20261201.pfx2as")
    routing = routing_for(
        opts,
        [(VALID_ADDR, "ns", "ns1"), (VALID_ADDR, "mx", MX1.name), (VALID_ADDR, "mx_ns", "ns")],
        NOW,
    )
    z = good_zone(routing=routing)
    for cid in ("rpki.ns.valid", "rpki.ns.roa", "rpki.mx.valid", "rpki.mx_ns.valid"):
        v = run(cid, z)
        assert v.status == Status.NOT_TESTED and "BGP table data is dated in the future" in (
            v.message
        ), (cid, v.message)
    # the same files dated today pass: the date alone made the difference
    opts = files(tmp_path, rpki_client_json(), pfx2as(), "table-20261127.pfx2as")
    routing = routing_for(opts, [(VALID_ADDR, "ns", "ns1")], NOW)
    assert run("rpki.ns.valid", good_zone(routing=routing)).status == Status.PASS


def test_future_dated_routinator_export(tmp_path: Path) -> None:
    doc = {
        "metadata": {"generated": 0, "generatedTime": "2026-11-28T12:00:00Z"},
        "roas": [{"asn": "AS64500", "prefix": "192.0.2.0/24", "maxLength": 24}],
    }
    opts = files(tmp_path, json.dumps(doc), pfx2as(), "table-20261127.pfx2as")
    obs = _host((VALID_ADDR,), routing_for(opts, [(VALID_ADDR, "web", "www")], NOW))
    v = run("rpki.web.valid", obs)
    assert v.status == Status.NOT_TESTED and "24 hours after the lookup" in v.message


def test_mx_zone_ns_round_trip() -> None:
    """The MX zones' name servers are stored with the scan (auditor evaluate re-judges
    rpki.mx_ns.* offline), and scans stored before the field load with none."""
    from auditor import serde
    from auditor.obs.zone import MxZoneNs, ZoneObservations
    from tests.support.factories import server

    z = good_zone(
        mx_zone_ns=(
            MxZoneNs(
                "mail.example.vn",
                ("mx1.mail.example.vn",),
                ans("mail.example.vn", "NS", "ns.mail.example.vn."),
                (server("ns.mail.example.vn", ("192.0.2.54",)),),
            ),
        )
    )
    assert serde.loads(serde.dumps(z), ZoneObservations) == z
    old = serde.to_jsonable(z)
    del old["mx_zone_ns"]
    assert serde.from_jsonable(old, ZoneObservations).mx_zone_ns == ()
