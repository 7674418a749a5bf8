"""Address guard: the scanner must not be turned against an internal network.

By default every special-purpose address (IANA special-purpose registries,
RFC 6890 / RFC 8190) is refused: loopback, private use, link-local, CGNAT,
documentation, benchmarking, multicast, reserved, IPv4-mapped and so on. An
inventory entry or a CI request naming such a host is reported as "blocked",
never probed. ``--allow-net CIDR`` and ``--allow-private`` lift the rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

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


def parse_network(text: str) -> IPNetwork:
    """Parse a CIDR for --allow-net; a bare address means a single host."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise ValueError(f"not an address or CIDR: {text!r}") from exc


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


@dataclass(frozen=True)
class AddressGuard:
    allow_nets: tuple[IPNetwork, ...] = ()
    allow_private: bool = False

    @classmethod
    def build(cls, allow_nets: Iterable[str] = (), allow_private: bool = False) -> AddressGuard:
        return cls(tuple(parse_network(n) for n in allow_nets), allow_private)

    def refusal(self, address: str) -> str | None:
        """None when the address may be probed, else the reason it is refused."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return f"not an IP address: {address!r}"
        if any(ip.version == net.version and ip in net for net in self.allow_nets):
            return None
        reason = special_reason(ip)
        if reason is None:
            return None
        if self.allow_private and reason == "private-use address":
            return None
        return f"{reason}; refused by the address guard (use --allow-net to permit it)"

    def allowed(self, address: str) -> bool:
        return self.refusal(address) is None

    def opened_by(self, address: str) -> str | None:
        """The option that lets the scanner reach a special-purpose ``address`` (e.g.
        ``--allow-net 2001:db8::/32``), or None (a global address, or one still refused)."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return None
        reason = special_reason(ip)
        if reason is None:
            return None
        for net in self.allow_nets:
            if ip.version == net.version and ip in net:
                return f"--allow-net {net}"
        if self.allow_private and reason == "private-use address":
            return "--allow-private"
        return None
