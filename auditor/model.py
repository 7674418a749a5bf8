"""Core data model: statuses, verdicts and findings.

Everything here is a frozen dataclass that round-trips through JSON (see
:mod:`auditor.serde`), so stored scans can be re-evaluated without the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# The vantage point of a scan run on one machine (no --vantage): how every scan looked
# before vantages existed, and how a single-machine scan still looks.
LOCAL_VANTAGE = "local"
# A vantage names a network a worker stands in ("vnpt-hn", "viettel_hcm"): it is a queue
# name, a file-name part and a column value, so a short plain word.
_VANTAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def vantage_problem(name: str) -> str | None:
    """Why ``name`` cannot be a vantage name (None when it can)."""
    if _VANTAGE_NAME.match(name):
        return None
    return (
        f"vantage {name!r}: 1 to 32 lower-case letters, digits, '-' or '_', starting with a "
        "letter or digit"
    )


class Status(StrEnum):
    """Outcome of one check on one subject (host, address or zone)."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    INFO = "info"
    NOT_APPLICABLE = "not_applicable"
    NOT_TESTED = "not_tested"
    ERROR = "error"

    @property
    def severity(self) -> int:
        """Order used to pick the worst status of several.

        not_tested and error rank above fail on purpose *only* for "could we
        decide?" questions; for "is it compliant?" the scoring module uses its
        own order. Here: fail > error > not_tested > warn > info > pass > n/a.
        """
        return _SEVERITY[self]


_SEVERITY: dict[Status, int] = {
    Status.NOT_APPLICABLE: 0,
    Status.PASS: 1,
    Status.INFO: 2,
    Status.WARN: 3,
    Status.NOT_TESTED: 4,
    Status.ERROR: 5,
    Status.FAIL: 6,
}


def worst(statuses: list[Status] | tuple[Status, ...]) -> Status:
    """The worst of several statuses (fail beats everything); n/a when empty."""
    if not statuses:
        return Status.NOT_APPLICABLE
    return max(statuses, key=lambda s: s.severity)


class Category(StrEnum):
    IPV6_WEB = "ipv6_web"
    IPV6_DNS = "ipv6_dns"
    IPV6_MAIL = "ipv6_mail"
    DNS = "dns"
    DNSSEC = "dnssec"
    TLS = "tls"
    HTTP = "http"
    MAIL = "mail"
    ROUTING = "routing"  # RPKI route origin validation


class Probe(StrEnum):
    """Names of the probe families a check needs (the planner skips the rest)."""

    DNS = "dns"  # A/AAAA of the host, CNAME chain
    TCP = "tcp"  # TCP connect per address and port
    TLS = "tls"  # handshake, protocol and cipher enumeration, certificate
    HTTP = "http"  # http:// and https:// fetches, headers, security.txt
    ICMP = "icmp"  # ICMPv6 echo (privileged)
    SUBRESOURCES = "subresources"  # hosts of the landing page's subresources
    ZONE = "zone"  # NS, MX, SOA, CAA, TXT, DNSSEC of a zone
    NS_REACH = "ns_reach"  # direct queries to each authoritative address
    SMTP = "smtp"  # SMTP greeting and STARTTLS on each MX address
    MAIL_TLS = "mail_tls"  # the TLS analysis after STARTTLS on each MX address
    MTA_STS = "mta_sts"  # MTA-STS policy over HTTPS
    ROUTING = "routing"  # RPKI/BGP facts of each address, from local data files


class Level(StrEnum):
    MANDATORY = "mandatory"
    RECOMMENDED = "recommended"
    INFORMATIONAL = "informational"


class Scope(StrEnum):
    """What one verdict of a check is about."""

    HOST = "host"  # one verdict per web host
    ADDRESS = "address"  # one verdict per A and per AAAA of a web host
    ZONE = "zone"  # one verdict per DNS zone (domain) of the inventory
    # One verdict per department path of a web host (an inventory ``paths`` entry other
    # than "/") and per A and AAAA of the host: a target of its own (TargetKind.PATH), owned
    # by the agencies that list the path, judged from the host's HTTP probe.
    PATH = "path"


class TargetKind(StrEnum):
    HOST = "host"
    ZONE = "zone"
    PATH = "path"  # "host/path": a department's page on a shared portal


def path_target(host: str, path: str) -> str:
    """The name of a department path's target: the A-label host and the path as the
    inventory wrote it ("www.quangninh.gov.vn/sonoivu")."""
    return f"{host}{path}"


def split_path_target(name: str) -> tuple[str, str]:
    """(host, path) of a :func:`path_target` name."""
    host, sep, rest = name.partition("/")
    return host, sep + rest


@dataclass(frozen=True)
class Verdict:
    """What a check decided, and why. Built by the pure check functions."""

    status: Status
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    # Partial credit in [0, 1] for "fail (partial)" cases of the catalogue, e.g. one of two
    # AAAA reachable. None means: 1 for pass/info, 0 for fail.
    score: float | None = None

    @classmethod
    def passed(cls, message: str, **evidence: Any) -> Verdict:
        return cls(Status.PASS, message, dict(evidence))

    @classmethod
    def failed(cls, message: str, *, score: float | None = None, **evidence: Any) -> Verdict:
        return cls(Status.FAIL, message, dict(evidence), score)

    @classmethod
    def warn(cls, message: str, *, score: float | None = None, **evidence: Any) -> Verdict:
        return cls(Status.WARN, message, dict(evidence), score)

    @classmethod
    def info(cls, message: str, **evidence: Any) -> Verdict:
        return cls(Status.INFO, message, dict(evidence))

    @classmethod
    def not_applicable(cls, message: str, **evidence: Any) -> Verdict:
        return cls(Status.NOT_APPLICABLE, message, dict(evidence))

    @classmethod
    def not_tested(cls, message: str, **evidence: Any) -> Verdict:
        return cls(Status.NOT_TESTED, message, dict(evidence))

    @classmethod
    def error(cls, message: str, **evidence: Any) -> Verdict:
        return cls(Status.ERROR, message, dict(evidence))


# slots: a province's render holds every finding of the scan for its scoring (~160,000 at
# 2,000 hosts); a slotted instance is a fifth of the size of one with a __dict__.
@dataclass(frozen=True, slots=True)
class Finding:
    """A verdict bound to its subject: stored, scored and reported."""

    check: str
    target_kind: TargetKind
    target: str  # A-label host or zone name
    address: str | None  # set for Scope.ADDRESS checks
    status: Status
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    score: float | None = None
    # Where the scanner stood (a vantage point: its network). One machine is LOCAL_VANTAGE;
    # a distributed scan probes every target from each of its vantages (issue #16).
    vantage: str = LOCAL_VANTAGE

    @property
    def credit(self) -> float:
        """Share of the requirement met, for scoring."""
        if self.score is not None:
            return max(0.0, min(1.0, self.score))
        return 1.0 if self.status in (Status.PASS, Status.INFO) else 0.0
