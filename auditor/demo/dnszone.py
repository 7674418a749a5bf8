"""The demo's DNS: its zones, DNSSEC-signed where the scenario says, and the responder that
answers for them (the demo scan's resolver and its name servers, UDP and TCP).

Signatures are real: ECDSA P-256 / SHA-256 (algorithm 13, RFC 6605) over the canonical
RRsets (RFC 4034 section 3.1.8.1), DS records at the parent (RFC 4034 section 5), so the
evidence in the report is what a signed zone really shows. The responder stands in for a
*validating resolver* too: it sets the AD bit on answers from zones whose chain of DS records
reaches the demo's anchor (``test.``), as a validating resolver does once it has validated
them (RFC 4035 section 3.2.3). It answers only for ``.test`` names and refuses every other
name, so the scan never leaves the machine.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from dns.rdtypes.ANY.DNSKEY import DNSKEY

from auditor.demo.scenario import PROVINCE_ZONE, TLD, Scenario

TTL = 300
ALGORITHM = 13  # ECDSAP256SHA256 (RFC 6605); "MUST implement" in RFC 8624 sec. 3.1
SIGNATURE_DAYS = 14
UDP_PAYLOAD = 1232  # the EDNS buffer size the DNS flag day 2020 recommends


@dataclass
class Zone:
    origin: dns.name.Name
    rrsets: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = field(default_factory=dict)
    sigs: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = field(default_factory=dict)
    key: ec.EllipticCurvePrivateKey | None = None
    dnskey: DNSKEY | None = None
    secure: bool = False  # its DS chain reaches the anchor: answers get AD

    @property
    def signed(self) -> bool:
        return self.key is not None

    def add(self, owner: str, rdtype: str, *values: str) -> None:
        name = dns.name.from_text(owner)
        rrset = dns.rrset.from_text(name, TTL, "IN", rdtype, *values)
        key = (name, rrset.rdtype)
        if key in self.rrsets:
            for rd in rrset:
                self.rrsets[key].add(rd)
        else:
            self.rrsets[key] = rrset

    def names(self) -> set[dns.name.Name]:
        return {n for n, _t in self.rrsets}

    def delegations(self) -> set[dns.name.Name]:
        """Names below the apex with NS records: zone cuts (their NS is not signed)."""
        return {n for n, t in self.rrsets if t == dns.rdatatype.NS and n != self.origin}

    def sign(self) -> None:
        """A key, its DNSKEY, and an RRSIG over every authoritative RRset."""
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        raw = numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")
        # Flags 257: zone key + secure entry point (one combined key, as many small zones do).
        text = f"257 3 {ALGORITHM} {base64.b64encode(raw).decode()}"
        self.dnskey = cast(DNSKEY, dns.rdata.from_text("IN", "DNSKEY", text))
        self.add(self.origin.to_text(), "DNSKEY", text)
        cuts = self.delegations()
        now = int(time.time())
        for (name, rdtype), rrset in self.rrsets.items():
            if rdtype == dns.rdatatype.NS and name in cuts:
                continue  # delegation NS sets belong to the child (RFC 4035 sec. 2.2)
            self.sigs[(name, rdtype)] = self._rrsig(rrset, now)

    def _rrsig(self, rrset: dns.rrset.RRset, now: int) -> dns.rrset.RRset:
        from auditor.probes.dnssec import _signed_data

        assert self.key is not None and self.dnskey is not None
        sig = dns.rdata.from_text(
            "IN",
            "RRSIG",
            f"{dns.rdatatype.to_text(rrset.rdtype)} {ALGORITHM} {len(rrset.name) - 1} {TTL} "
            f"{now + SIGNATURE_DAYS * 86400} {now - 3600} {dns.dnssec.key_id(self.dnskey)} "
            f"{self.origin.to_text()} AA==",
        )
        der = self.key.sign(_signed_data(rrset, sig), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        sig = sig.replace(signature=r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        out = dns.rrset.RRset(rrset.name, dns.rdataclass.IN, dns.rdatatype.RRSIG, rrset.rdtype)
        out.update_ttl(TTL)
        out.add(sig)
        return out

    def ds(self) -> str:
        assert self.dnskey is not None
        return dns.dnssec.make_ds(self.origin, self.dnskey, "SHA256").to_text()


def build_zones(scenario: Scenario, v4: str = "127.0.0.1", v6: str = "::1") -> list[Zone]:
    """The anchor ``test.``, the province zone and its agencies' zones, signed (children
    first, so each DS is known before its parent is signed)."""
    ns = [f"ns1.{PROVINCE_ZONE}.", f"ns2.{PROVINCE_ZONE}."]
    zones: dict[str, Zone] = {}
    for z in (TLD, *(d.name for d in scenario.zones)):
        zone = Zone(dns.name.from_text(z))
        zone.add(z, "SOA", f"{ns[0]} hostmaster.{PROVINCE_ZONE}. 2026010101 3600 600 86400 300")
        zone.add(z, "NS", *ns)
        zones[z] = zone
    province = zones[PROVINCE_ZONE]
    for n in ns:  # two name servers, one network: dns.ns.count warns (RFC 2182 sec. 3.1)
        province.add(n, "A", v4)
        province.add(n, "AAAA", v6)
    province.add(PROVINCE_ZONE, "CAA", '0 issue "ca.vidu.test"')
    for d in scenario.zones:
        zone = zones[d.name]
        if d.mx:
            zone.add(d.name, "MX", f"10 {d.mx}.")
            host_zone = zones[scenario.zone_of(d.mx).name]
            host_zone.add(d.mx, "A", v4)
            host_zone.add(d.mx, "AAAA", v6)
        else:
            zone.add(d.name, "MX", "0 .")  # RFC 7505 null MX
        zone.add(d.name, "TXT", f'"{d.spf}"')
        zone.add(f"_dmarc.{d.name}", "TXT", f'"{d.dmarc}"')
    for h in scenario.hosts:
        zone = zones[scenario.zone_of(h.name).name]
        zone.add(h.name, "A", v4)
        if h.v6:
            zone.add(h.name, "AAAA", v6)
    # Delegations in each parent, then signatures bottom-up with the DS in the parent.
    order = sorted(zones.values(), key=lambda z: -len(z.origin))
    for child in order:
        parent = _parent(child, zones.values())
        if parent is not None:
            parent.add(child.origin.to_text(), "NS", *ns)
    signed = {d.name for d in scenario.zones if d.signed} | {TLD}
    for zone in order:
        name = zone.origin.to_text(omit_final_dot=True)
        if name in signed:
            zone.sign()
            parent = _parent(zone, zones.values())
            if parent is not None:
                parent.add(zone.origin.to_text(), "DS", zone.ds())
    for zone in zones.values():  # secure: signed, and every zone up to the anchor too
        chain: Zone | None = zone
        ok = True
        while chain is not None:
            ok = ok and chain.signed
            chain = _parent(chain, zones.values())
        zone.secure = ok
    return list(zones.values())


def _parent(zone: Zone, zones: Iterable[Zone]) -> Zone | None:
    best: Zone | None = None
    for z in zones:
        below = z is not zone and zone.origin.is_subdomain(z.origin) and zone.origin != z.origin
        if below and (best is None or len(z.origin) > len(best.origin)):
            best = z
    return best


class Responder:
    """Answers DNS messages from the demo zones (one object serves UDP and TCP)."""

    def __init__(self, zones: Iterable[Zone]) -> None:
        self.zones = list(zones)
        self.queries = 0

    def _zone_for(self, qname: dns.name.Name, rdtype: int) -> Zone | None:
        holding = [z for z in self.zones if qname.is_subdomain(z.origin)]
        if not holding:
            return None
        holding.sort(key=lambda z: -len(z.origin))
        # A DS lives in the parent zone (RFC 4035 section 3.1.4.1).
        if rdtype == dns.rdatatype.DS and holding[0].origin == qname and len(holding) > 1:
            return holding[1]
        return holding[0]

    def answer(self, wire: bytes, tcp: bool = False) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except (dns.exception.DNSException, ValueError):
            return None
        if len(query.question) != 1:
            return None
        self.queries += 1
        q = query.question[0]
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if query.flags & dns.flags.RD:
            response.flags |= dns.flags.RA  # it stands in for the scan's resolver too
        dnssec_ok = bool(query.ednsflags & dns.flags.DO)
        zone = self._zone_for(q.name, q.rdtype)
        if zone is None:
            # Not a demo name: refused, never forwarded (the demo stays on this machine).
            response.set_rcode(dns.rcode.REFUSED)
            return self._wire(response, query, tcp)
        secure = True
        qname = q.name
        for _ in range(8):  # follow CNAMEs inside the demo's data
            secure = secure and zone.secure
            cname = zone.rrsets.get((qname, dns.rdatatype.CNAME))
            if cname is None or q.rdtype == dns.rdatatype.CNAME:
                break
            self._add(response.answer, zone, cname, dnssec_ok)
            qname = cname[0].target
            nxt = self._zone_for(qname, q.rdtype)
            if nxt is None:
                break
            zone = nxt
        rrset = zone.rrsets.get((qname, q.rdtype))
        if rrset is not None:
            self._add(response.answer, zone, rrset, dnssec_ok)
        else:
            exists = any(n.is_subdomain(qname) for n in zone.names())
            if not exists:
                response.set_rcode(dns.rcode.NXDOMAIN)
            soa = zone.rrsets[(zone.origin, dns.rdatatype.SOA)]
            self._add(response.authority, zone, soa, dnssec_ok)
        # As a validating resolver would once the answer validated (RFC 4035 sec. 3.2.3).
        if secure and (dnssec_ok or query.flags & dns.flags.AD):
            response.flags |= dns.flags.AD
        return self._wire(response, query, tcp)

    @staticmethod
    def _add(section: list[dns.rrset.RRset], zone: Zone, rrset: dns.rrset.RRset, do: bool) -> None:
        section.append(rrset)
        sig = zone.sigs.get((rrset.name, rrset.rdtype))
        if do and sig is not None:
            section.append(sig)

    @staticmethod
    def _wire(response: dns.message.Message, query: dns.message.Message, tcp: bool) -> bytes:
        limit = 65535 if tcp else max(512, min(query.payload or 512, UDP_PAYLOAD))
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            # RFC 7766: a truncated UDP answer tells the client to ask over TCP.
            response.answer.clear()
            response.authority.clear()
            response.flags |= dns.flags.TC
            return response.to_wire()
