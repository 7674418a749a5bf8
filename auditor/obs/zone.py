"""Zone observations: NS, MX, DNSSEC, CAA, mail policy (owned by the DNS family).

Every field has a default so scans stored by older versions still load. ``None`` means
"not probed" (the profile did not need it, or the deadline cut probing short); a probed
lookup that failed is a :class:`DnsAnswer` whose ``outcome`` says how it failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.obs.core import DnsAnswer, Outcome
from auditor.obs.routing import RoutingObservation
from auditor.obs.tls import TlsObservation


@dataclass(frozen=True)
class ServerHost:
    """A name server or mail exchanger name with its A and AAAA answers."""

    name: str
    a: DnsAnswer
    aaaa: DnsAnswer
    preference: int | None = None  # MX preference; None for name servers

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.a.records + self.aaaa.records


@dataclass(frozen=True)
class MxZoneNs:
    """The name servers of a zone holding mail exchanger targets (rpki.mx_ns.*): a hijack
    of their routes redirects the MX lookups, and with them the domain's mail, even when
    the mail servers' own routes are valid."""

    zone: str  # the apex of the zone holding the MX targets (SOA owner)
    mx: tuple[str, ...]  # the MX targets in that zone
    ns: DnsAnswer | None = None  # NS RRset of ``zone``
    ns_hosts: tuple[ServerHost, ...] = ()


@dataclass(frozen=True)
class NsQuery:
    """One direct, non-recursive SOA query to one authoritative address over one transport."""

    ns: str  # name server name
    address: str  # literal address queried
    transport: str  # "udp" | "tcp"
    # answered (AA set, SOA of the zone) / not_authoritative / dns_refused / servfail /
    # timeout / unreachable / refused (TCP RST) / blocked / error
    outcome: str
    rcode: str | None = None
    aa: bool | None = None
    rtt_ms: float | None = None
    detail: str = ""


class NsOutcome:
    ANSWERED = "answered"  # authoritative answer (AA bit) for the zone
    NOT_AUTHORITATIVE = "not_authoritative"  # answered, but without AA (lame)


@dataclass(frozen=True)
class DnssecStatus:
    """DNSSEC status of one name (the zone apex, or a host's CNAME target)."""

    name: str
    # secure / insecure / bogus / indeterminate (resolver failed in a way that does not
    # tell) / unvalidated (the data is signed but the resolver does not validate)
    status: str
    method: str = "resolver"  # resolver (AD bit, CD retry) | auditor (own validation)
    ds_present: bool | None = None  # DS RRset at the parent
    dnskey_algorithms: tuple[int, ...] = ()
    rrsig_expiry: str | None = None  # earliest RRSIG expiration seen (ISO 8601)
    detail: str = ""
    cname_chain: tuple[str, ...] = ()  # CNAME targets followed from ``name``


class Dnssec:
    SECURE = "secure"
    INSECURE = "insecure"
    BOGUS = "bogus"
    INDETERMINATE = "indeterminate"
    UNVALIDATED = "unvalidated"


@dataclass(frozen=True)
class SmtpProbe:
    """Greeting and EHLO on port 25 of one MX address."""

    mx: str
    address: str
    outcome: str  # ok (220 greeting) / timeout / refused / unreachable / protocol_error / ...
    greeting_code: int | None = None
    banner: str = ""  # first greeting line, capped
    ehlo_ok: bool | None = None
    starttls: bool | None = None  # STARTTLS in the EHLO keywords (None: EHLO not reached)
    rtt_ms: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class MxTls:
    """TLS after STARTTLS on port 25 of one MX address (auditor/probes/starttls.py): the
    web TLS probe's observation, every connection of it opened with EHLO + STARTTLS."""

    mx: str
    address: str
    outcome: str  # ok / limited / skipped (no STARTTLS offered) / blocked / error
    tls: TlsObservation | None = None
    # the server's own 4xx reply (RFC 5321 section 4.2.1: transient) that stopped the probe:
    # no further connection to the address in the scan ("the server limited us")
    limited: str = ""
    connections: int = 0  # connections this probe opened (each with EHLO + STARTTLS)
    detail: str = ""
    # the presented chain, base64 DER, leaf first: mail.dane.valid matches it against the
    # TLSA records (RFC 6698 section 2.1: full certificate or SubjectPublicKeyInfo)
    chain_der: tuple[str, ...] = ()


@dataclass(frozen=True)
class TlsaLookup:
    """TLSA at ``_25._tcp.<mx>`` (RFC 7672 section 2.2) through the validating resolver."""

    mx: str
    qname: str
    outcome: str  # ok / nodata / nxdomain / servfail / timeout / dns_refused / error
    records: tuple[str, ...] = ()  # presentation format: "3 1 1 <hex>"
    authenticated: bool | None = None  # AD bit of the answer (or of the denial)
    # SERVFAIL with validation, but an answer (data or denial) with checking disabled (CD):
    # the resolver found the data bogus (RFC 4035 section 5.5)
    bogus: bool = False
    cname_chain: tuple[str, ...] = ()
    detail: str = ""
    truncated: bool = False
    # The TLSA base domain when it is not the MX name: the MX host's CNAME-expanded name,
    # its address records reached over a DNSSEC-secure CNAME chain (RFC 7672 section
    # 2.2.3, RFC 7671 section 7); "" = the MX name itself.
    base: str = ""
    # TLSA names asked before this one and why they were passed over ("<qname>: no TLSA,
    # securely denied": the expanded name's denial sends the lookup to the MX name)
    tried: tuple[str, ...] = ()


@dataclass(frozen=True)
class DkimLookup:
    """``_domainkey.<zone>``: exists (NOERROR) or not (NXDOMAIN, RFC 8020), asked of the
    resolver and of each name server directly, so that servers answering differently
    (or a resolver disagreeing with them) show."""

    answer: DnsAnswer  # TXT at _domainkey.<zone> through the resolver
    # direct RD=0 queries to one address of each name server; NsQuery.outcome is the
    # answer's kind: ok / nodata / nxdomain / servfail / dns_refused / timeout / ...
    authoritative: tuple[NsQuery, ...] = ()


@dataclass(frozen=True)
class MtaStsFetch:
    """https://mta-sts.<zone>/.well-known/mta-sts.txt fetched from one literal address."""

    address: str
    outcome: str  # ok / timeout / refused / tls_error / too_large / protocol_error / ...
    status: int | None = None
    content_type: str = ""
    body: str = ""  # capped
    detail: str = ""


@dataclass(frozen=True)
class MtaStsObservation:
    txt: DnsAnswer
    host: str = ""  # mta-sts.<zone>
    host_dns: ServerHost | None = None
    fetch: MtaStsFetch | None = None  # first address that answered (or the last failure)


@dataclass(frozen=True)
class ZoneObservations:
    zone: str
    outcome: str = Outcome.OK
    detail: str = ""
    # SOA at the zone name, asked first: NXDOMAIN means the domain does not exist, NODATA
    # that the name exists but is not a zone apex (see dns.zone.exists).
    soa: DnsAnswer | None = None
    # Control lookup, made only when ``soa`` is NXDOMAIN: the SOA of the zone's public
    # suffix (gov.vn, vn, or the root). A resolver that denies the suffix too denies
    # everything, and its NXDOMAIN says nothing about the agency's domain.
    suffix_soa: DnsAnswer | None = None
    # The enclosing zone cut (the name itself when it is a zone apex) whose NS were used.
    apex: str | None = None
    ns: DnsAnswer | None = None  # NS RRset of the zone (of ``apex``)
    ns_hosts: tuple[ServerHost, ...] = ()
    ns_queries: tuple[NsQuery, ...] = ()  # direct queries to each NS IPv6 address
    dnssec: DnssecStatus | None = None  # of the zone apex
    # Names of the zone that are CNAMEs (the apex, www.<zone>, and any inventory hosts the
    # engine passes): the answer is only as secure as the CNAME target's zone.
    cname_dnssec: tuple[DnssecStatus, ...] = ()
    # CAA lookups from the zone up to (excluding) the public suffix, in order; the first
    # one with records is the relevant set (RFC 8659 section 3).
    caa: tuple[DnsAnswer, ...] = ()
    # CAA lookups at the inventory hosts below the zone and their ancestors down to the
    # zone (excluded), sorted by name; a host's first one with records replaces the
    # zone's set for it (RFC 8659 section 3). Empty in scans from before issue #19.
    caa_hosts: tuple[DnsAnswer, ...] = ()
    mx: DnsAnswer | None = None
    mx_hosts: tuple[ServerHost, ...] = ()
    smtp: tuple[SmtpProbe, ...] = ()
    spf: DnsAnswer | None = None  # TXT at the zone apex
    # TXT of include:/redirect= targets and A/MX of a:/mx: terms, fetched recursively
    spf_lookups: tuple[DnsAnswer, ...] = ()
    dmarc: DnsAnswer | None = None  # TXT at _dmarc.<zone>
    org_domain: str | None = None  # organisational domain (Public Suffix List)
    dmarc_org: DnsAnswer | None = None  # TXT at _dmarc.<org domain> when it differs
    mta_sts: MtaStsObservation | None = None
    # DNSSEC status of each MX target's zone (dns.dnssec.mx), by MX name
    mx_dnssec: tuple[DnssecStatus, ...] = ()
    tlsa: tuple[TlsaLookup, ...] = ()  # _25._tcp.<mx> TLSA per MX (mail.dane.*)
    # TLS over STARTTLS per MX address (Probe.MAIL_TLS: mail.tls.*, mail.dane.valid)
    mx_tls: tuple[MxTls, ...] = ()
    dkim: DkimLookup | None = None  # mail.dkim
    # TXT at <zone>._report._dmarc.<destination> for each external rua=/ruf= destination
    # (RFC 7489 section 7.1)
    dmarc_report_auth: tuple[DnsAnswer, ...] = ()
    # The scanner was overloaded while probing the zone (see HostObservations.overload).
    overload: str = ""
    # RPKI/BGP facts of the name servers', the mail exchangers' and the MX zones' name
    # servers' addresses (Probe.ROUTING).
    routing: RoutingObservation | None = None
    # The zones holding the MX targets and their name servers, looked up for the RPKI
    # checks (Probe.ROUTING); empty in scans from before rpki.mx_ns.* or without ROUTING.
    mx_zone_ns: tuple[MxZoneNs, ...] = ()

    @property
    def does_not_exist(self) -> bool:
        """The zone's SOA is NXDOMAIN from a resolver that answers for the public suffix.

        RFC 8020: NXDOMAIN means nothing exists at or below the name, so no zone check has
        anything to judge. Without the control lookup (older stored scans) the NXDOMAIN is
        taken as it is.
        """
        if self.soa is None or self.soa.outcome != Outcome.NXDOMAIN:
            return False
        return self.suffix_soa is None or self.suffix_soa.outcome == Outcome.OK
