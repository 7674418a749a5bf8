"""Observation fixtures for zone checks (DNS, mail, IPv6 name servers and MX)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from auditor.guard import AddressGuard
from auditor.model import Verdict
from auditor.obs.core import DnsAnswer, Outcome
from auditor.obs.zone import (
    DnssecStatus,
    MtaStsFetch,
    MtaStsObservation,
    NsQuery,
    ServerHost,
    SmtpProbe,
    ZoneObservations,
)
from auditor.registry import CheckContext, get_check

ZONE = "example.gov.vn"
# The fixtures use documentation addresses, as the lab does, so they are "opened" the way
# the lab opens them (--allow-net): otherwise no fixture address would count as usable.
LAB_NETS = ("2001:db8::/32", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
LAB_GUARD = AddressGuard.build(LAB_NETS)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def ans(qname: str, rdtype: str, *records: str, outcome: str | None = None) -> DnsAnswer:
    if outcome is None:
        outcome = Outcome.OK if records else Outcome.NODATA
    return DnsAnswer(qname, rdtype, outcome, tuple(records))


def txt(qname: str, *texts: str, outcome: str | None = None) -> DnsAnswer:
    return ans(qname, "TXT", *(f'"{t}"' for t in texts), outcome=outcome)


def server(
    name: str,
    v4: tuple[str, ...] = (),
    v6: tuple[str, ...] = (),
    pref: int | None = None,
    aaaa_outcome: str | None = None,
) -> ServerHost:
    return ServerHost(name, ans(name, "A", *v4), ans(name, "AAAA", *v6, outcome=aaaa_outcome), pref)


NS1 = server("ns1.example.gov.vn", ("192.0.2.53",), ("2001:db8:53::53",))
NS2 = server("ns2.example.net.vn", ("198.51.100.53",), ("2001:db8:153::53",))
MX1 = server("mx1.example.gov.vn", ("192.0.2.25",), ("2001:db8:25::25",), pref=10)


def ns_queries(*hosts: ServerHost, outcome: str = "answered") -> tuple[NsQuery, ...]:
    return tuple(
        NsQuery(h.name, a, t, outcome, "NOERROR", True, 1.0)
        for h in hosts
        for a in h.aaaa.records
        for t in ("udp", "tcp")
    )


def smtp_ok(*hosts: ServerHost, starttls: bool = True) -> tuple[SmtpProbe, ...]:
    return tuple(
        SmtpProbe(h.name, a, Outcome.OK, 220, f"{h.name} ESMTP", True, starttls, 1.0)
        for h in hosts
        for a in h.addresses
    )


GOOD_POLICY = "version: STSv1\nmode: enforce\nmx: mx1.example.gov.vn\nmax_age: 604800\n"


def good_zone(**changes: Any) -> ZoneObservations:
    """A zone where every check passes."""
    z = ZoneObservations(
        zone=ZONE,
        soa=ans(ZONE, "SOA", "ns1.example.gov.vn. hostmaster.example.gov.vn. 1 2 3 4 5"),
        apex=ZONE,
        ns=ans(ZONE, "NS", "ns1.example.gov.vn.", "ns2.example.net.vn."),
        ns_hosts=(NS1, NS2),
        ns_queries=ns_queries(NS1, NS2),
        dnssec=DnssecStatus(
            ZONE,
            "secure",
            ds_present=True,
            dnskey_algorithms=(13,),
            rrsig_expiry="2026-12-20T00:00:00+00:00",
            detail="AD",
        ),
        caa=(ans(ZONE, "CAA", '0 issue "letsencrypt.org"'),),
        mx=ans(ZONE, "MX", "10 mx1.example.gov.vn."),
        mx_hosts=(MX1,),
        smtp=smtp_ok(MX1),
        spf=txt(ZONE, "v=spf1 mx -all", "some-verification=1"),
        spf_lookups=(ans(ZONE, "MX", "10 mx1.example.gov.vn."),),
        dmarc=txt(f"_dmarc.{ZONE}", f"v=DMARC1; p=reject; rua=mailto:d@{ZONE}"),
        org_domain=ZONE,
        mta_sts=MtaStsObservation(
            txt(f"_mta-sts.{ZONE}", "v=STSv1; id=1"),
            f"mta-sts.{ZONE}",
            None,
            MtaStsFetch("2001:db8::443", Outcome.OK, 200, "text/plain", GOOD_POLICY),
        ),
    )
    return replace(z, **changes)


def run(check_id: str, obs: Any, **params: Any) -> Verdict:
    spec = get_check(check_id)
    merged = {**spec.params, **params}
    target = getattr(obs, "zone", getattr(obs, "host", ""))
    return spec.run(obs, CheckContext(target, merged, NOW, guard=LAB_GUARD))
