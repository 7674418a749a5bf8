"""The DNS origin service's format (Team Cymru's TXT): query names, the zones option and
the record parser over hostile strings (pure; the lookups through a real resolver are in
tests/integration/test_rpki_origin_dns.py)."""

from __future__ import annotations

import argparse

import pytest

from auditor.obs.routing import Route
from auditor.protocol.rpki import (
    MAX_ORIGINS_PER_RECORD,
    origin_qname,
    origin_zones,
    parse_origin_txt,
)

ZONES = ("origin.asn.cymru.com", "origin6.asn.cymru.com")


def test_query_names_and_zones() -> None:
    assert origin_qname("192.0.2.10", ZONES) == "10.2.0.192.origin.asn.cymru.com"
    six = origin_qname("2001:db8::1", ZONES)
    assert six == "1." + "0." * 23 + "8.b.d.0.1.0.0.2.origin6.asn.cymru.com"
    assert origin_zones("origin.asn.cymru.com") == ZONES  # the IPv6 twin by Cymru's naming
    assert origin_zones("Origin.Example.VN.,o6.example.vn") == (
        "origin.example.vn",
        "o6.example.vn",
    )
    assert origin_zones("asn.example.vn") == ("asn.example.vn", "asn.example.vn")
    for bad in ("", ",", "a,b,c", "bad zone.vn", "x" * 64 + ".vn", "a..vn"):
        with pytest.raises(ValueError):
            origin_zones(bad)


def test_records_read() -> None:
    routes, why = parse_origin_txt("64500 | 192.0.2.0/24 | VN | apnic | 2010-01-01", "192.0.2.10")
    assert (routes, why) == ([Route("192.0.2.0/24", 64500, "AS64500")], "")
    # several origins in one record (MOAS), an "AS" prefix, no trailing fields
    routes, why = parse_origin_txt("AS64504 64505|2001:db8:2::/48", "2001:db8:2::10")
    assert [r.origin for r in routes] == [64504, 64505] and not why


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not 'AS | prefix"),
        ("64500", "not 'AS | prefix"),
        ("64500 | not-a-prefix | VN", "not a prefix"),
        ("64500 | 192.0.2.1/24 | VN", "not a prefix"),  # host bits set: not a network
        ("64500 | 10.0.0.0/8 | VN", "does not cover"),  # names another network
        ("64500 | 2001:db8::/32 | VN", "does not cover"),  # the other family
        (" | 192.0.2.0/24 | VN", "no origin AS"),
        ("64500 x | 192.0.2.0/24", "not an AS number"),
        ("4294967296 | 192.0.2.0/24", "not an AS number"),  # 2**32: beyond 4-octet ASNs
        ("-1 | 192.0.2.0/24", "not an AS number"),
        ("64500\x00 | 192.0.2.0/24", "not an AS number"),
        ("٦٤٥٠٠ | 192.0.2.0/24", "not an AS number"),  # non-ASCII digits
        (" ".join(["1"] * (MAX_ORIGINS_PER_RECORD + 1)) + " | 192.0.2.0/24", "origins in one"),
        ("64500 | " + "1" * 10_000, "not a prefix"),  # long text: cut, then refused
    ],
)
def test_hostile_records_refused(text: str, reason: str) -> None:
    routes, why = parse_origin_txt(text, "192.0.2.10")
    assert routes == [] and reason in why, why
    assert len(why) < 200  # the reason quotes a bounded part of the record


def test_cli_option() -> None:
    from auditor.cli.common import UsageError, add_network_options, options_from_args

    p = argparse.ArgumentParser()
    add_network_options(p)
    opts = options_from_args(p.parse_args(["--bgp-origin-dns", "origin.asn.cymru.com"]))
    assert opts.bgp_origin_dns == ZONES
    with pytest.raises(UsageError, match="one prefix-to-origin source"):
        options_from_args(
            p.parse_args(["--bgp-origin-dns", "origin.asn.cymru.com", "--bgp-table", "x"])
        )
    with pytest.raises(UsageError, match="--bgp-origin-dns"):
        options_from_args(p.parse_args(["--bgp-origin-dns", "bad zone"]))
