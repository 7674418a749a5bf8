"""auditor.protocol.addresses: usable AAAA records and endpoints, with and without opened ranges."""

from __future__ import annotations

from auditor.guard import AddressGuard
from auditor.protocol.addresses import (
    bracket,
    endpoint,
    is_usable_v6,
    opened_reason,
    structural_v6_reason,
    unusable_v6_reason,
    usable_v6,
)


def test_structural_reasons_hold_whatever_is_opened() -> None:
    opened = AddressGuard.build(["::/0"], allow_private=True)
    for address, why in (
        ("::ffff:192.0.2.1", "IPv4-mapped"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
        ("192.0.2.1", "not an IPv6 address"),
    ):
        assert why in (structural_v6_reason(address) or ""), address
        assert not is_usable_v6(address, opened)


def test_special_ranges_are_unusable_unless_opened() -> None:
    assert is_usable_v6("2a00:1450:4001:80b::200e")
    assert "unique-local" in (unusable_v6_reason("fd00::1") or "")
    assert "documentation" in (unusable_v6_reason("2001:db8::1") or "")
    assert unusable_v6_reason("::1") == "loopback"
    # no guard and a guard that opens nothing are the same
    assert unusable_v6_reason("fd00::1") == unusable_v6_reason("fd00::1", AddressGuard())
    lab = AddressGuard.build(["2001:db8::/32"])
    assert is_usable_v6("2001:db8::1", lab) and not is_usable_v6("fd00::1", lab)
    assert opened_reason("2001:db8::1", lab) == (
        "documentation range (2001:db8::/32, RFC 3849); counted as usable because "
        "--allow-net 2001:db8::/32 opened it"
    )
    assert opened_reason("2a00:1450:4001:80b::200e", lab) is None  # global: nothing opened
    assert usable_v6(["2001:db8::1", "fd00::1", "fe80::1"], lab) == ["2001:db8::1"]


def test_bracket_and_endpoint() -> None:
    assert bracket("2001:db8::1") == "[2001:db8::1]" and bracket("192.0.2.1") == "192.0.2.1"
    assert endpoint("2001:db8::1", 53) == "[2001:db8::1]:53"
    assert endpoint("192.0.2.1", 5353) == "192.0.2.1:5353"
