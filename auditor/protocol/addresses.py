"""IP addresses: which ones are special-purpose, which AAAA can serve citizens, and how an
address is written next to a port.

Facts from the IANA special-purpose address registries (RFC 6890, RFC 8190) and RFC 4291.
Who may reach what is the operator's call (``--allow-net``, ``--allow-private``): the
functions that depend on it take the opened ranges (an :class:`Opener`, in practice
``auditor.guard.AddressGuard``) as data; without one, nothing is opened.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Protocol

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Private-use space that --allow-private opens (RFC 1918, RFC 6598 CGNAT, RFC 4193 ULA).
PRIVATE_USE: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("fc00::/7"),
)

_ULA = ipaddress.IPv6Network("fc00::/7")
_DOC = ipaddress.IPv6Network("2001:db8::/32")


class Opener(Protocol):
    """The ranges the operator opened: which option lets the scanner reach an address."""

    def opened_by(self, address: str) -> str | None: ...


def special_reason(ip: IPAddress) -> str | None:
    """Why an address is special-purpose, or None for a global unicast address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return "IPv4-mapped IPv6 address (::ffff:0:0/96)"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private-use", any(ip in net for net in PRIVATE_USE if net.version == ip.version)),
        ("reserved", ip.is_reserved),
    )
    for name, hit in checks:
        if hit:
            return f"{name} address"
    if not ip.is_global:
        # Documentation (RFC 3849 / RFC 5737), benchmarking, 6to4 relay, ... per IANA.
        return "special-purpose address (not globally routable)"
    return None


def structural_v6_reason(address: str) -> str | None:
    """Why an AAAA can never be a server's address, whatever the scanner may reach.

    IPv4-mapped (::ffff:0:0/96, RFC 4291 2.5.5.2: that is the IPv4 address), multicast and
    unspecified are no unicast host addresses; a link-local address needs an interface
    zone that a DNS record cannot carry (RFC 4007 section 6).
    """
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return "not an IPv6 address"
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped (::ffff:0:0/96)"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_unspecified:
        return "unspecified"
    return None


def _special_v6(ip: ipaddress.IPv6Address) -> str | None:
    """Why a unicast AAAA is not globally reachable (IANA IPv6 special-purpose registry)."""
    if ip.is_loopback:
        return "loopback"
    if ip in _ULA:
        return "unique-local (fc00::/7, RFC 4193): not reachable from the Internet"
    if ip in _DOC:
        return "documentation range (2001:db8::/32, RFC 3849)"
    if ip.is_reserved or not ip.is_global:
        return "special-purpose, not globally reachable (IANA special-purpose registry)"
    return None


def unusable_v6_reason(address: str, guard: Opener | None = None) -> str | None:
    """Why an AAAA cannot serve citizens, or None when it can.

    Usable means globally reachable. The catalogue (CHECKS.md, ipv6.web.aaaa) excludes
    IPv4-mapped, loopback, link-local, multicast and unspecified addresses; unique-local
    (fc00::/7) and every other special-purpose range the address guard refuses
    (auditor/guard.py) are unusable too, unless the operator opened that range with
    ``--allow-net`` / ``--allow-private`` (a lab, an intranet audit): then the scanner was
    told those addresses are the audience's, and :func:`opened_reason` says so.
    """
    structural = structural_v6_reason(address)
    if structural is not None:
        return structural
    ip = ipaddress.IPv6Address(address)
    special = _special_v6(ip)
    if special is None or (guard is not None and guard.opened_by(address) is not None):
        return None
    return special


def opened_reason(address: str, guard: Opener) -> str | None:
    """For a special-purpose AAAA counted as usable: what it is and which option opened it."""
    if structural_v6_reason(address) is not None:
        return None
    special = _special_v6(ipaddress.IPv6Address(address))
    opened = guard.opened_by(address)
    if special is None or opened is None:
        return None
    return f"{special}; counted as usable because {opened} opened it"


def is_usable_v6(address: str, guard: Opener | None = None) -> bool:
    return unusable_v6_reason(address, guard) is None


def usable_v6(addresses: Iterable[str], guard: Opener | None = None) -> list[str]:
    return [a for a in addresses if is_usable_v6(a, guard)]


def bracket(address: str) -> str:
    """An address as the host part of a URL or an endpoint: IPv6 in brackets (RFC 3986
    sec. 3.2.2)."""
    return f"[{address}]" if ":" in address else address


def endpoint(address: str, port: int) -> str:
    """``address:port``, ``[address]:port`` for IPv6."""
    return f"{bracket(address)}:{port}"
