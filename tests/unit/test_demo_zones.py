"""The demo's zones (pure, no network): real DNSSEC signatures that the auditor's own
validator accepts, DS records at the parents, the responder's answers and refusals."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from auditor.demo.dnszone import Responder, build_zones
from auditor.demo.scenario import PROVINCE_ZONE, SCENARIO
from auditor.probes.dnssec import _check_rrsig


def _ask(r: Responder, name: str, rdtype: str, *, dnssec: bool = True) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
    wire = r.answer(q.to_wire())
    assert wire is not None
    return dns.message.from_wire(wire)


def test_signed_zones_validate_with_the_auditors_own_validator() -> None:
    zones = {z.origin.to_text(omit_final_dot=True): z for z in build_zones(SCENARIO)}
    for name, zone in zones.items():
        want_signed = name == "test" or any(d.signed for d in SCENARIO.zones if d.name == name)
        assert zone.signed == want_signed, name
        if not zone.signed:
            assert not zone.sigs
            continue
        keys = zone.rrsets[(zone.origin, dns.rdatatype.DNSKEY)]
        for key, rrset in zone.rrsets.items():
            if key in zone.sigs:
                _check_rrsig(rrset, zone.sigs[key], keys)  # raises if a signature is bad
    # DS at the parents: for the signed child, none for the unsigned one.
    province = zones[PROVINCE_ZONE]
    ds_names = {n.to_text(omit_final_dot=True) for n, t in province.rrsets if t == dns.rdatatype.DS}
    assert ds_names == {f"soyte.{PROVINCE_ZONE}"}
    assert zones["soyte." + PROVINCE_ZONE].secure and not zones["sotttt." + PROVINCE_ZONE].secure


def test_responder_answers_demo_names_and_refuses_the_rest() -> None:
    r = Responder(build_zones(SCENARIO))
    a = _ask(r, f"www.{PROVINCE_ZONE}", "AAAA")
    assert a.rcode() == dns.rcode.NOERROR and a.flags & dns.flags.AD
    assert [rr.rdtype for rr in a.answer] == [dns.rdatatype.AAAA, dns.rdatatype.RRSIG]
    # The unsigned zone: data without AD (insecure), and no DS at its parent.
    b = _ask(r, f"www.sotttt.{PROVINCE_ZONE}", "A")
    assert b.answer and not b.flags & dns.flags.AD
    ds = _ask(r, f"sotttt.{PROVINCE_ZONE}", "DS")
    assert ds.rcode() == dns.rcode.NOERROR and not ds.answer
    assert _ask(r, f"soyte.{PROVINCE_ZONE}", "DS").answer  # answered from the parent
    # A host without AAAA: NODATA, with the zone's SOA.
    c = _ask(r, f"www.soyte.{PROVINCE_ZONE}", "AAAA")
    assert c.rcode() == dns.rcode.NOERROR and not c.answer and c.authority
    assert _ask(r, f"nope.{PROVINCE_ZONE}", "A").rcode() == dns.rcode.NXDOMAIN
    # Never a resolver for the internet: the demo cannot leak a query off the machine.
    assert _ask(r, "www.example.com", "A").rcode() == dns.rcode.REFUSED
    # No DO bit: no signatures in the answer.
    assert [rr.rdtype for rr in _ask(r, f"www.{PROVINCE_ZONE}", "A", dnssec=False).answer] == [
        dns.rdatatype.A
    ]
    assert r.answer(b"\x00garbage") is None


def test_readme_first_command_runs_the_demo() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "python3 -m pip install -e '.[test]' && python3 -m auditor demo" in readme
    assert (Path(__file__).resolve().parents[2] / "inventories" / "example.yaml").is_file()
