"""Helpers shared by the check families (pure, no I/O)."""

from __future__ import annotations

import functools
import ipaddress
from typing import Any


def unusable_v6_reason(address: str) -> str | None:
    """Why an AAAA cannot serve clients, or None when it can.

    The catalogue (CHECKS.md, ipv6.web.aaaa) excludes IPv4-mapped (::ffff:0:0/96,
    RFC 4291 2.5.5.2), loopback, link-local, multicast and unspecified addresses.
    """
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return "not an IPv6 address"
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped (::ffff:0:0/96)"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    return None


def is_usable_v6(address: str) -> bool:
    return unusable_v6_reason(address) is None


def family(address: str) -> str:
    return "v6" if ":" in address else "v4"


# How a failed connection is worded in messages: a silent drop and a refusal are
# different faults (a firewall eating packets vs. nothing listening) with different fixes.
FAILURE_WORDS = {
    "timeout": "timeout (packets silently dropped, no answer)",
    "refused": "refused (TCP RST: nothing listening or a firewall rejects)",
    "unreachable": "unreachable (ICMPv6 unreachable or no route)",
    "reset": "reset after connecting",
    "blocked": "not probed (address guard)",
    "skipped": "not probed",
    "dns_refused": "REFUSED (DNS)",
    "servfail": "SERVFAIL",
    "not_authoritative": "answered without authority (lame)",
    "protocol_error": "spoke something else",
    "tls_error": "TLS error",
    "error": "error",
}


def describe_failure(outcome: str, detail: str = "") -> str:
    if outcome == "timeout" and detail:
        # A timeout after the connection opened (an SMTP tarpit, a slow HTTPS fetch) is not
        # a silent drop: the probe's own detail says which step timed out.
        return f"timeout: {detail}"
    words = FAILURE_WORDS.get(outcome, outcome)
    return f"{words}: {detail}" if detail and outcome in ("error", "protocol_error") else words


# Outcomes meaning "we did not look", never a verdict about the remote side.
UNDECIDED = frozenset({"blocked", "skipped"})


def usable_v6(addresses: tuple[str, ...] | list[str]) -> list[str]:
    return [a for a in addresses if is_usable_v6(a)]


@functools.cache
def _psl() -> Any:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def registrable_domain(name: str) -> str:
    """The public suffix plus one label (Public Suffix List), the name itself if none:
    what "same site" means for the web (and the organisational domain of RFC 7489 3.2)."""
    low = name.rstrip(".").lower()
    org = _psl().privatesuffix(low)
    return str(org) if org else low
