"""Scan options: timeouts, limits, caps and trust, with their reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor import __version__

DEFAULT_CONTACT = "https://github.com/ipv6-gov-auditor/ipv6-gov-auditor"


@dataclass(frozen=True)
class ScanOptions:
    # Seconds for one network step (connect, DNS query, handshake, HTTP read).
    timeout: float = 5.0
    # Overall deadline for one target: a scan of N targets always ends.
    target_deadline: float = 90.0
    # Targets probed at once, scan-wide.
    concurrency: int = 64
    # Connections at once to one remote address: government firewalls drop bursts.
    per_address: int = 4
    resolver: str | None = None  # ADDR[:PORT] or [ADDR6]:PORT; None = system resolver
    ca_file: str | None = None  # extra trust anchors (PEM); SSL_CERT_FILE is honoured too
    allow_nets: tuple[str, ...] = ()
    allow_private: bool = False
    contact_url: str = DEFAULT_CONTACT
    ports: tuple[int, ...] = (80, 443)
    # Size caps for everything read from the network (remote data is hostile).
    max_body: int = 512 * 1024
    max_header_bytes: int = 64 * 1024
    max_redirects: int = 10
    max_dns_records: int = 100
    # Mail exchangers looked at per zone (MX hosts, SMTP, TLSA, MX DNSSEC): Internet.nl
    # stops at 10 too; more than that is a misconfiguration, not a mail service.
    max_mx: int = 10
    # Finished probe results kept for sharing between targets (LRU): memory flat in N.
    probe_cache_entries: int = 4096
    # Probe families to run; empty = all that the selected checks need.
    icmp: bool = True
    trust_anchor_file: str | None = None
    # RPKI route origin validation over local data (--rpki-vrps, --bgp-table): a
    # validator's JSON export and a BGP table dump (auditor/probes/routing.py).
    rpki_vrps_file: str | None = None
    bgp_table_file: str | None = None
    # Or prefix-to-origin from a DNS origin service (--bgp-origin-dns ZONE[,ZONE6]), Team
    # Cymru's TXT format: (IPv4 zone, IPv6 zone), asked through the scan's resolver.
    bgp_origin_dns: tuple[str, ...] = ()
    # Pinned addresses (gate --resolve HOST:ADDR): host -> addresses, DNS not asked.
    pins: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Reference targets (--reference HOST, repeatable): known-good hosts (names or literal
    # addresses) that must answer a TCP connect over a family before the scanner trusts
    # its own connectivity of that family (auditor.selfcheck).
    references: tuple[str, ...] = ()
    # Port forwarding: target (host, zone or MX name; "*" for all) -> {service port: port
    # connected}. The checks judge the standard ports (80 http://, 443 https://, 53 for the
    # name servers, 25 SMTP); a staging server on 8443 (gate https://host:8443/, --port-map
    # 443:8443) or the demo's servers on high ports (auditor demo, no root needed) are
    # probed as if they served the standard port, as a port forward would. Observations and
    # checks keep the service port. "*" (--port-map) maps every host the scan connects to
    # for the web, the landing pages' subresource hosts included: it is for a lab, a demo
    # or a staging network behind one forward. The resolver and MTA-STS policy fetches are
    # never mapped.
    port_map: dict[str, dict[int, int]] = field(default_factory=dict)

    def wire_port(self, host: str, port: int) -> int:
        """The port actually connected for ``host``'s service ``port``."""
        for key in (host, "*"):
            mapped = self.port_map.get(key, {}).get(port)
            if mapped is not None:
                return mapped
        return port

    @property
    def user_agent(self) -> str:
        return f"ipv6-gov-auditor/{__version__} (+{self.contact_url})"
