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

from auditor.protocol.addresses import IPNetwork, special_reason


def parse_network(text: str) -> IPNetwork:
    """Parse a CIDR for --allow-net; a bare address means a single host."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise ValueError(f"not an address or CIDR: {text!r}") from exc


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
