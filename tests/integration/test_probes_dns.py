"""DNS probes against a small DNS server the test starts on 127.0.0.1 (UDP + TCP, one port).

The server plays both roles: a "validating resolver" (AD bit, SERVFAIL unless CD) for
DnsClient, resolve_host, the DNSSEC status and the zone probe, and an authoritative server
(AA bit) for the direct NS queries. No traffic leaves loopback.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from auditor.model import Probe
from auditor.obs.core import Outcome
from auditor.obs.zone import Dnssec, NsOutcome
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.dns import DnsClient, query_authoritative, resolve_host
from auditor.probes.dnssec import (
    auditor_status,
    chain_status,
    load_trust_anchors,
    resolver_status,
)
from auditor.probes.zone import probe_zone
from auditor.protocol.txt import txt_texts
from tests.support.servers import FakeDns, Rule, fake

__all__ = ["fake"]  # a fixture, used by name


def client(fake: FakeDns, timeout: float = 1.0) -> DnsClient:
    from collections import Counter

    return DnsClient(ScanOptions(resolver=f"127.0.0.1:{fake.port}", timeout=timeout), Counter())


@pytest.mark.asyncio
async def test_query_outcomes_are_distinct(fake: FakeDns) -> None:
    fake.add("www.x.vn", "A", "www.x.vn. 60 IN A 192.0.2.1", ad=True)
    fake.add("www.x.vn", "AAAA")  # owner exists, no data
    fake.add("sf.x.vn", "A", rcode=dns.rcode.SERVFAIL)
    fake.add("rf.x.vn", "A", rcode=dns.rcode.REFUSED)
    fake.add("slow.x.vn", "A", drop=True)
    c = client(fake, timeout=2)
    ok = await c.query("www.x.vn", "A")
    assert ok.outcome == Outcome.OK and ok.records == ("192.0.2.1",) and ok.authenticated
    assert (await c.query("www.x.vn", "AAAA")).outcome == Outcome.NODATA
    assert (await c.query("none.x.vn", "A")).outcome == Outcome.NXDOMAIN
    assert (await c.query("sf.x.vn", "A")).outcome == Outcome.SERVFAIL
    assert (await c.query("rf.x.vn", "A")).outcome == Outcome.DNS_REFUSED
    assert (await client(fake, timeout=0.3).query("slow.x.vn", "A")).outcome == Outcome.TIMEOUT


@pytest.mark.asyncio
async def test_cname_chain_recorded(fake: FakeDns) -> None:
    fake.add(
        "www.x.vn",
        "AAAA",
        "www.x.vn. 60 IN CNAME web.cdn.vn.",
        "web.cdn.vn. 60 IN CNAME edge.cdn.vn.",
        "edge.cdn.vn. 60 IN AAAA 2001:db8::1",
    )
    ans = await client(fake).query("www.x.vn", "AAAA")
    assert ans.cname_chain == ("web.cdn.vn", "edge.cdn.vn")
    assert ans.records == ("2001:db8::1",)


@pytest.mark.asyncio
async def test_truncated_answer_falls_back_to_tcp(fake: FakeDns) -> None:
    fake.add("big.x.vn", "TXT", 'big.x.vn. 60 IN TXT "' + "a" * 200 + '"', tc_udp=True)
    raw = await client(fake).message("big.x.vn", "TXT")
    assert raw.outcome == Outcome.OK
    assert ("big.x.vn", "TXT", "tcp") in fake.seen


@pytest.mark.asyncio
async def test_resolve_host_marks_lame_timeouts(fake: FakeDns) -> None:
    fake.add("www.lame.gov.vn", "A", drop=True)
    fake.add("www.lame.gov.vn", "AAAA", drop=True)
    fake.add("gov.vn", "SOA", "gov.vn. 60 IN SOA ns. h. 1 2 3 4 5")
    hd = await resolve_host(client(fake, timeout=0.5), "www.lame.gov.vn")
    assert hd.a.outcome == Outcome.TIMEOUT and hd.a.resolver_ok is True
    assert hd.aaaa.resolver_ok is True


@pytest.mark.asyncio
async def test_resolve_host_dead_resolver_is_not_blamed_on_the_name(fake: FakeDns) -> None:
    fake.add("www.x.gov.vn", "A", drop=True)
    fake.add("www.x.gov.vn", "AAAA", drop=True)
    fake.add("gov.vn", "SOA", drop=True)
    hd = await resolve_host(client(fake, timeout=0.2), "www.x.gov.vn")
    assert hd.a.resolver_ok is False


@pytest.mark.asyncio
async def test_dnssec_secure(fake: FakeDns) -> None:
    fake.add("s.vn", "SOA", "s.vn. 60 IN SOA ns. h. 1 2 3 4 5", ad=True)
    fake.add("s.vn", "DS", "s.vn. 60 IN DS 12345 13 2 " + "ab" * 32, ad=True)
    fake.add("s.vn", "DNSKEY", "s.vn. 60 IN DNSKEY 257 3 13 " + "AAAA" * 16, ad=True)
    st = await resolver_status(client(fake), "s.vn")
    assert st.status == Dnssec.SECURE and st.ds_present is True and st.dnskey_algorithms == (13,)


@pytest.mark.asyncio
async def test_dnssec_insecure(fake: FakeDns) -> None:
    fake.add("u.vn", "SOA", "u.vn. 60 IN SOA ns. h. 1 2 3 4 5")
    fake.add("u.vn", "DS")
    st = await resolver_status(client(fake), "u.vn")
    assert st.status == Dnssec.INSECURE and st.ds_present is False


@pytest.mark.asyncio
async def test_dnssec_bogus_told_from_broken(fake: FakeDns) -> None:
    fake.add("b.vn", "SOA", "b.vn. 60 IN SOA ns. h. 1 2 3 4 5", bogus=True)
    st = await resolver_status(client(fake), "b.vn")
    assert st.status == Dnssec.BOGUS
    fake.add("broken.vn", "SOA", rcode=dns.rcode.SERVFAIL)
    st = await resolver_status(client(fake), "broken.vn")
    assert st.status == Dnssec.INDETERMINATE


@pytest.mark.asyncio
async def test_dnssec_non_validating_resolver_is_not_insecure(fake: FakeDns) -> None:
    fake.add("s.vn", "SOA", "s.vn. 60 IN SOA ns. h. 1 2 3 4 5")
    fake.add("s.vn", "DS", "s.vn. 60 IN DS 12345 13 2 " + "ab" * 32)
    st = await resolver_status(client(fake), "s.vn")
    assert st.status == Dnssec.UNVALIDATED


@pytest.mark.asyncio
async def test_cname_chain_status(fake: FakeDns) -> None:
    fake.add("www.s.vn", "A", "www.s.vn. 60 IN CNAME web.cdn.vn.", "web.cdn.vn. 60 IN A 192.0.2.1")
    st = await chain_status(client(fake), "www.s.vn", resolver_validates=True)
    assert st is not None and st.status == Dnssec.INSECURE and st.cname_chain == ("web.cdn.vn",)
    fake.add("s.vn", "A", "s.vn. 60 IN A 192.0.2.2")
    assert await chain_status(client(fake), "s.vn", resolver_validates=True) is None


@pytest.mark.asyncio
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_authoritative_query(fake: FakeDns, transport: str) -> None:
    fake.add("z.vn", "SOA", "z.vn. 60 IN SOA ns. h. 1 2 3 4 5")
    q = await query_authoritative(
        None, "ns1.z.vn", "127.0.0.1", "z.vn", transport, timeout=1, port=fake.port
    )
    assert q.outcome == NsOutcome.ANSWERED and q.aa is True and q.rtt_ms is not None
    assert fake.seen[-1] == ("z.vn", "SOA", transport)


@pytest.mark.asyncio
async def test_authoritative_query_failures(fake: FakeDns) -> None:
    fake.add("lame.vn", "SOA", "lame.vn. 60 IN SOA ns. h. 1 2 3 4 5", aa=False)
    fake.add("ref.vn", "SOA", rcode=dns.rcode.REFUSED)
    fake.add("drop.vn", "SOA", drop=True)

    async def ask(zone: str, transport: str = "udp", port: int | None = None) -> str:
        q = await query_authoritative(
            None, "ns", "127.0.0.1", zone, transport, timeout=0.3, port=port or fake.port
        )
        return q.outcome

    assert await ask("lame.vn") == NsOutcome.NOT_AUTHORITATIVE
    assert await ask("ref.vn") == Outcome.DNS_REFUSED
    assert await ask("drop.vn") == Outcome.TIMEOUT
    # nothing listens on that TCP port: a refusal, told apart from a timeout
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    assert await ask("z.vn", "tcp", closed) == Outcome.REFUSED
    blocked = await query_authoritative("guard says no", "ns", "10.0.0.1", "z.vn", "udp", timeout=1)
    assert blocked.outcome == Outcome.BLOCKED


@pytest.mark.asyncio
async def test_probe_zone_end_to_end(fake: FakeDns) -> None:
    z = "agency.gov.vn"
    fake.add(z, "SOA", f"{z}. 60 IN SOA ns1.{z}. h. 1 2 3 4 5", ad=True)
    fake.add(z, "NS", f"{z}. 60 IN NS ns1.{z}.", f"{z}. 60 IN NS ns2.other.vn.", ad=True)
    fake.add(z, "DS", f"{z}. 60 IN DS 1 13 2 " + "ab" * 32, ad=True)
    fake.add(f"ns1.{z}", "A", f"ns1.{z}. 60 IN A 192.0.2.53")
    fake.add(f"ns1.{z}", "AAAA", f"ns1.{z}. 60 IN AAAA 2001:db8::53")
    fake.add("ns2.other.vn", "A", "ns2.other.vn. 60 IN A 198.51.100.53")
    fake.add(z, "MX", f"{z}. 60 IN MX 10 mx.{z}.")
    fake.add(f"mx.{z}", "A", f"mx.{z}. 60 IN A 192.0.2.25")
    fake.add(z, "TXT", f'{z}. 60 IN TXT "v=spf1 include:_spf.{z} mx -all"')
    fake.add(f"_spf.{z}", "TXT", f'_spf.{z}. 60 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"')
    fake.add(f"_dmarc.{z}", "TXT", f'_dmarc.{z}. 60 IN TXT "v=DMARC1; p=reject"')
    fake.add(f"www.{z}", "A", f"www.{z}. 60 IN CNAME web.cdn.vn.", "web.cdn.vn. 60 IN A 192.0.2.8")
    ctx = ProbeContext(ScanOptions(resolver=f"127.0.0.1:{fake.port}", timeout=1))
    obs = await probe_zone(ctx, z, frozenset({Probe.ZONE}))
    assert obs.apex == z and obs.outcome == Outcome.OK
    assert [h.name for h in obs.ns_hosts] == [f"ns1.{z}", "ns2.other.vn"]
    assert obs.ns_hosts[0].aaaa.records == ("2001:db8::53",)
    assert obs.dnssec is not None and obs.dnssec.status == Dnssec.SECURE
    # www is a CNAME into a zone the resolver did not validate: counted for dns.dnssec
    assert [c.name for c in obs.cname_dnssec] == [f"www.{z}"]
    assert obs.cname_dnssec[0].status == Dnssec.INSECURE
    assert [h.name for h in obs.mx_hosts] == [f"mx.{z}"]
    assert obs.spf is not None and "v=spf1 include:_spf.agency.gov.vn mx -all" in txt_texts(
        obs.spf.records
    )
    looked = {(a.qname, a.rdtype) for a in obs.spf_lookups}
    assert (f"_spf.{z}", "TXT") in looked and (z, "MX") in looked
    # the probe drove check_host() for unlisted IPv4 and IPv6 senders: A and AAAA of the MX
    assert {(f"mx.{z}", "A"), (f"mx.{z}", "AAAA")} <= looked
    # ... and mail.spf replays it over the stored answers alone
    from datetime import UTC, datetime

    from auditor.model import Status
    from auditor.registry import CheckContext, get_check

    spec = get_check("mail.spf")
    verdict = spec.run(obs, CheckContext(z, dict(spec.params), datetime.now(UTC)))
    assert verdict.status == Status.PASS, verdict.message
    assert verdict.evidence["lookups"] == 2
    assert obs.dmarc is not None and obs.dmarc.outcome == Outcome.OK
    assert obs.org_domain == z
    # CAA climbed from the zone and stopped before the public suffix gov.vn
    assert [a.qname for a in obs.caa] == [z]
    assert not any(name == "gov.vn" and t == "CAA" for name, t, _ in fake.seen)


@pytest.mark.asyncio
async def test_probe_zone_subdomain_climbs_and_falls_back_for_dmarc(fake: FakeDns) -> None:
    org = "agency.gov.vn"
    sub = f"so.{org}"
    fake.add(sub, "SOA")
    fake.add(sub, "NS")  # not a zone cut
    fake.add(org, "NS", f"{org}. 60 IN NS ns1.{org}.", ad=True)
    fake.add(f"_dmarc.{org}", "TXT", f'_dmarc.{org}. 60 IN TXT "v=DMARC1; p=none; sp=reject"')
    fake.add(org, "CAA", f'{org}. 60 IN CAA 0 issue "ca.vn"')
    ctx = ProbeContext(ScanOptions(resolver=f"127.0.0.1:{fake.port}", timeout=1))
    obs = await probe_zone(ctx, sub, frozenset({Probe.ZONE}))
    assert obs.apex == org
    assert obs.dmarc is not None and obs.dmarc.outcome == Outcome.NXDOMAIN
    assert obs.dmarc_org is not None and obs.dmarc_org.qname == f"_dmarc.{org}"
    assert [a.qname for a in obs.caa] == [sub, org]


_BIND_TOOLS = ("dnssec-keygen", "dnssec-signzone", "dnssec-dsfromkey")


def _signed_zones(d: Path) -> tuple[dict[str, Any], str]:
    """A root and a child zone ``test.`` signed by BIND's tools (independent of our code)."""

    def run(*cmd: str) -> str:
        return subprocess.run(cmd, cwd=d, check=True, capture_output=True, text=True).stdout

    root_key = run("dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", "-n", "ZONE", ".").strip()
    test_key = run("dnssec-keygen", "-q", "-a", "ECDSAP256SHA256", "-n", "ZONE", "test").strip()
    child_ds = run("dnssec-dsfromkey", "-2", f"{test_key}.key")
    (d / "root.db").write_text(
        "$TTL 60\n. IN SOA a.root. h.root. 1 60 60 600 60\n. IN NS a.root.\n"
        "a.root. IN A 192.0.2.1\ntest. IN NS ns.test.\nns.test. IN A 192.0.2.2\n"
        f"$INCLUDE {root_key}.key\n{child_ds}"
    )
    (d / "test.db").write_text(
        "$TTL 60\ntest. IN SOA ns.test. h.test. 1 60 60 600 60\ntest. IN NS ns.test.\n"
        f"ns.test. IN A 192.0.2.2\n$INCLUDE {test_key}.key\n"
    )
    run("dnssec-signzone", "-q", "-z", "-o", ".", "-f", "root.signed", "root.db", root_key)
    run("dnssec-signzone", "-q", "-z", "-o", "test", "-f", "test.signed", "test.db", test_key)
    anchor = run("dnssec-dsfromkey", "-2", f"{root_key}.key")
    zones = {
        ".": dns.zone.from_file(str(d / "root.signed"), ".", relativize=False),
        "test": dns.zone.from_file(str(d / "test.signed"), "test.", relativize=False),
    }
    return zones, anchor


def _serve_zone(fake: FakeDns, zone: Any, names: list[tuple[str, str]]) -> None:
    for name, rdtype in names:
        node = zone.get_node(dns.name.from_text(name))
        want = dns.rdatatype.from_text(rdtype)
        lines = []
        for rds in node.rdatasets:
            if rds.rdtype == want or (rds.rdtype == dns.rdatatype.RRSIG and rds.covers == want):
                kind = dns.rdatatype.to_text(rds.rdtype)
                lines += [f"{name} {rds.ttl} IN {kind} {r.to_text()}" for r in rds]
        fake.add(name, rdtype, *lines)


@pytest.mark.asyncio
@pytest.mark.skipif(
    any(shutil.which(t) is None for t in _BIND_TOOLS), reason="BIND dnssec tools missing"
)
async def test_own_validation_against_bind_signed_zones(fake: FakeDns, tmp_path: Path) -> None:
    zones, anchor_line = _signed_zones(tmp_path)
    _serve_zone(fake, zones["."], [(".", "DNSKEY"), ("test.", "DS")])
    _serve_zone(fake, zones["test"], [("test.", "DNSKEY"), ("test.", "SOA")])
    (tmp_path / "anchor").write_text("; root KSK\n" + anchor_line)
    anchors = load_trust_anchors(str(tmp_path / "anchor"))
    st = await auditor_status(client(fake), "test", anchors)
    assert st.status == Dnssec.SECURE and st.method == "auditor", st.detail
    assert st.dnskey_algorithms == (13,)

    # the parent publishes no DS for the child apex: insecure
    ds_rule = fake.rules[("test", "DS")]
    fake.rules[("test", "DS")] = Rule(())
    st = await auditor_status(client(fake), "test", anchors)
    assert st.status == Dnssec.INSECURE and st.ds_present is False
    fake.rules[("test", "DS")] = ds_rule

    # a forged SOA signature: bogus
    soa_rule = fake.rules[("test", "SOA")]
    forged = tuple(
        line[:-8] + ("AAAAAAAA" if not line.endswith("AAAAAAAA") else "BBBBBBBB")
        if " RRSIG " in line
        else line
        for line in soa_rule.answer
    )
    fake.rules[("test", "SOA")] = Rule(forged)
    st = await auditor_status(client(fake), "test", anchors)
    assert st.status == Dnssec.BOGUS and "SOA" in st.detail

    # a wrong trust anchor: bogus at the root
    (tmp_path / "bad").write_text(". IN DS 1 13 2 " + "00" * 32 + "\n")
    st = await auditor_status(client(fake), "test", load_trust_anchors(str(tmp_path / "bad")))
    assert st.status == Dnssec.BOGUS and "matches" in st.detail


@pytest.mark.asyncio
async def test_probe_zone_deadline_keeps_partial_observations(fake: FakeDns) -> None:
    z = "slow.gov.vn"
    fake.add(z, "SOA", f"{z}. 60 IN SOA ns. h. 1 2 3 4 5")
    fake.add(z, "NS", f"{z}. 60 IN NS ns1.{z}.")
    fake.add(z, "MX", f"{z}. 60 IN MX 10 mx.{z}.")
    fake.add(f"ns1.{z}", "A", drop=True)  # the NS address lookups never answer
    fake.add(f"ns1.{z}", "AAAA", drop=True)
    opts = ScanOptions(resolver=f"127.0.0.1:{fake.port}", timeout=5, target_deadline=1.0)
    obs = await probe_zone(ProbeContext(opts), z, frozenset({Probe.ZONE}))
    assert obs.outcome == Outcome.TIMEOUT and "deadline" in obs.detail
    assert obs.soa is not None and obs.soa.outcome == Outcome.OK  # what was seen is kept
    assert obs.mx is not None and obs.mx.records == (f"10 mx.{z}.",)
    assert obs.ns_hosts == ()


@pytest.mark.asyncio
async def test_probe_zone_of_a_missing_domain_asks_only_whether_it_exists(fake: FakeDns) -> None:
    # gov.vn answers; ghost.gov.vn does not exist: NXDOMAIN for its SOA, and nothing else
    # is asked about it (its MX, TXT, CAA, _dmarc would all be NXDOMAIN, then judged)
    fake.add("gov.vn", "SOA", "gov.vn. 60 IN SOA a.dns.vn. h. 1 2 3 4 5")
    ctx = ProbeContext(ScanOptions(resolver=f"127.0.0.1:{fake.port}", timeout=1))
    obs = await probe_zone(ctx, "ghost.gov.vn", frozenset({Probe.ZONE, Probe.SMTP}))
    assert obs.soa is not None and obs.soa.outcome == Outcome.NXDOMAIN
    assert obs.suffix_soa is not None and obs.suffix_soa.qname == "gov.vn"
    assert obs.does_not_exist
    assert {(n, t) for n, t, _ in fake.seen} == {("ghost.gov.vn", "SOA"), ("gov.vn", "SOA")}
    assert obs.mx is None and obs.spf is None and obs.dnssec is None and not obs.caa


@pytest.mark.asyncio
async def test_probe_zone_resolver_denying_everything_is_not_the_domains_fault(
    fake: FakeDns,
) -> None:
    # nothing known: the suffix is NXDOMAIN too (a resolver that denies everything)
    ctx = ProbeContext(ScanOptions(resolver=f"127.0.0.1:{fake.port}", timeout=1))
    obs = await probe_zone(ctx, "agency.gov.vn", frozenset({Probe.ZONE}))
    assert obs.soa is not None and obs.soa.outcome == Outcome.NXDOMAIN
    assert obs.suffix_soa is not None and obs.suffix_soa.outcome == Outcome.NXDOMAIN
    assert not obs.does_not_exist


@pytest.mark.asyncio
async def test_probe_zone_mail_dns_lookups(fake: FakeDns) -> None:
    """The mail DNS part of the zone probe (issue #20): TLSA at _25._tcp.<mx> with its AD
    bit, a bogus TLSA told by the CD retry, each MX zone's DNSSEC status, _domainkey of
    the domain itself (a subdomain below the zone cut: not of the apex) asked of the
    resolver and of the zone's name server directly, and the authorisation record of an
    external DMARC report destination. The fake server is the resolver and, on
    127.0.0.1, the zone's name server."""
    org = "agency.gov.vn"
    sub = f"so.{org}"
    fake.add(sub, "SOA")
    fake.add(sub, "NS")  # not a zone cut: the apex is org
    fake.add(org, "NS", f"{org}. 60 IN NS ns1.{org}.", ad=True, aa=True)
    fake.add(org, "SOA", f"{org}. 60 IN SOA ns1.{org}. h. 1 2 3 4 5", ad=True, aa=True)
    fake.add(org, "DS", f"{org}. 60 IN DS 1 13 2 " + "ab" * 32, ad=True)
    fake.add(f"ns1.{org}", "A", f"ns1.{org}. 60 IN A 127.0.0.1")
    fake.add(sub, "MX", f"{sub}. 60 IN MX 10 mx1.{org}.", f"{sub}. 60 IN MX 20 mx2.{org}.")
    fake.add(f"mx1.{org}", "A", f"mx1.{org}. 60 IN A 192.0.2.25")
    fake.add(f"mx2.{org}", "A", f"mx2.{org}. 60 IN A 192.0.2.26")
    for mx in ("mx1", "mx2"):  # the zone holding the MX (a real server puts it in authority)
        fake.add(f"{mx}.{org}", "SOA", f"{org}. 60 IN SOA ns1.{org}. h. 1 2 3 4 5")
    tlsa = "3 1 1 " + "a1" * 32
    fake.add(f"_25._tcp.mx1.{org}", "TLSA", f"_25._tcp.mx1.{org}. 60 IN TLSA {tlsa}", ad=True)
    fake.add(f"_25._tcp.mx2.{org}", "TLSA", f"_25._tcp.mx2.{org}. 60 IN TLSA {tlsa}", bogus=True)
    # _domainkey.<sub> exists (a selector below it): NOERROR, no data, from both roles
    fake.add(f"sel1._domainkey.{sub}", "TXT", f'sel1._domainkey.{sub}. 60 IN TXT "v=DKIM1; p="')
    fake.add(f"_domainkey.{sub}", "A")  # an owner: its TXT is NODATA
    rua = "mailto:agg@dmarc-reports.vn"
    fake.add(f"_dmarc.{sub}", "TXT", f'_dmarc.{sub}. 60 IN TXT "v=DMARC1; p=reject; rua={rua}"')
    fake.add(f"{sub}._report._dmarc.dmarc-reports.vn", "TXT",
             f'{sub}._report._dmarc.dmarc-reports.vn. 60 IN TXT "v=DMARC1"')  # fmt: skip
    options = ScanOptions(
        resolver=f"127.0.0.1:{fake.port}",
        timeout=1,
        allow_nets=("127.0.0.0/8",),
        port_map={sub: {53: fake.port}},
    )
    obs = await probe_zone(ProbeContext(options), sub, frozenset({Probe.ZONE}))
    assert obs.apex == org
    by_mx = {t.mx: t for t in obs.tlsa}
    assert by_mx[f"mx1.{org}"].records == (tlsa,) and by_mx[f"mx1.{org}"].authenticated
    assert by_mx[f"mx2.{org}"].bogus and by_mx[f"mx2.{org}"].authenticated is False
    assert {s.name: s.status for s in obs.mx_dnssec} == {
        f"mx1.{org}": Dnssec.SECURE,
        f"mx2.{org}": Dnssec.SECURE,
    }
    assert obs.dkim is not None
    assert obs.dkim.answer.qname == f"_domainkey.{sub}"
    assert obs.dkim.answer.outcome == Outcome.NODATA
    assert [(q.ns, q.address, q.outcome) for q in obs.dkim.authoritative] == [
        (f"ns1.{org}", "127.0.0.1", Outcome.NODATA)
    ]
    asked = [n for n, t, _ in fake.seen if t == "TXT" and n.startswith("_domainkey.")]
    assert asked == [f"_domainkey.{sub}"] * 2  # the resolver, then the name server
    assert [(a.qname, a.outcome) for a in obs.dmarc_report_auth] == [
        (f"{sub}._report._dmarc.dmarc-reports.vn", Outcome.OK)
    ]
    # and the checks judge those stored answers
    from datetime import UTC, datetime

    from auditor.model import Status
    from auditor.registry import CheckContext, get_check

    def judge(check_id: str) -> Any:
        spec = get_check(check_id)
        return spec.run(obs, CheckContext(sub, dict(spec.params), datetime.now(UTC)))

    assert judge("mail.dkim").status == Status.PASS
    dane = judge("mail.dane.exists")
    assert dane.status == Status.FAIL and "bogus" in dane.message and dane.score == 0.5
    assert judge("dns.dnssec.mx").status == Status.PASS
    dmarc = judge("mail.dmarc")
    assert dmarc.evidence["external_report_destinations"] == {"dmarc-reports.vn": "authorised"}
