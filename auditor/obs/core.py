"""Observations shared by every family: DNS answers for a host, TCP connects.

An observation records what the network said, including failures: a timeout,
a refusal, NXDOMAIN or SERVFAIL are facts, not exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass


class Outcome:
    """Outcome strings used across observation types (stored as plain text)."""

    OK = "ok"
    # DNS
    NODATA = "nodata"  # the name exists, no record of that type
    NXDOMAIN = "nxdomain"
    SERVFAIL = "servfail"
    DNS_REFUSED = "dns_refused"  # the server answered REFUSED
    # transport
    OPEN = "open"
    TIMEOUT = "timeout"
    REFUSED = "refused"  # TCP RST
    UNREACHABLE = "unreachable"  # ICMP(v6) unreachable, no route
    RESET = "reset"  # connection reset after it was established
    BLOCKED = "blocked"  # refused by the scanner's address guard (policy, not network)
    SKIPPED = "skipped"  # not attempted: a prerequisite failed or the deadline passed
    # TLS / application
    TLS_ALERT = "tls_alert"
    TLS_ERROR = "tls_error"
    PROTOCOL_ERROR = "protocol_error"  # the peer spoke something else
    TOO_LARGE = "too_large"  # a size cap was hit
    ERROR = "error"  # anything else, with detail


@dataclass(frozen=True)
class DnsAnswer:
    """The result of one DNS lookup (qname, type) through the resolver."""

    qname: str
    rdtype: str
    outcome: str  # Outcome.OK / NODATA / NXDOMAIN / SERVFAIL / TIMEOUT / DNS_REFUSED / ERROR
    records: tuple[str, ...] = ()  # presentation format of the final RRset
    cname_chain: tuple[str, ...] = ()  # owner names followed, first is qname's target
    ttl: int | None = None
    authenticated: bool | None = None  # AD bit from a validating resolver
    detail: str = ""
    # After a timeout: did the resolver answer a control query (the public suffix's SOA)?
    # True means the timeout is the name's servers' fault, not the scanner's resolver.
    resolver_ok: bool | None = None
    # The RRset had more records than the scanner keeps (ScanOptions.max_dns_records):
    # ``records`` is the first part only, and no check may judge it as the whole set.
    truncated: bool = False


@dataclass(frozen=True)
class HostDns:
    """A and AAAA of one web host, as the resolver answered."""

    name: str
    a: DnsAnswer
    aaaa: DnsAnswer

    @property
    def resolved(self) -> bool:
        return bool(self.a.records or self.aaaa.records)

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.a.records + self.aaaa.records


@dataclass(frozen=True)
class TcpProbe:
    """One TCP connect to a literal address (never a hostname: Happy Eyeballs hides v6)."""

    address: str
    port: int
    outcome: str  # Outcome.OPEN / TIMEOUT / REFUSED / UNREACHABLE / BLOCKED / SKIPPED / ERROR
    rtt_ms: float | None = None
    detail: str = ""

    @property
    def open(self) -> bool:
        return self.outcome == Outcome.OPEN
