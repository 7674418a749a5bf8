from __future__ import annotations

import pytest

from auditor.guard import AddressGuard, parse_network


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.1.1",
        "fe80::1",
        "fc00::1",
        "fd12::1",
        "224.0.0.1",
        "ff02::1",
        "0.0.0.0",
        "::",
        "::ffff:8.8.8.8",
        "192.0.2.1",
        "198.51.100.7",
        "203.0.113.9",
        "2001:db8::1",
        "240.0.0.1",
        "255.255.255.255",
    ],
)
def test_special_purpose_refused_by_default(address: str) -> None:
    reason = AddressGuard.build().refusal(address)
    assert reason and "address guard" in reason


@pytest.mark.parametrize("address", ["8.8.8.8", "2001:4860:4860::8888", "14.225.0.1"])
def test_global_unicast_allowed(address: str) -> None:
    assert AddressGuard.build().allowed(address)


def test_allow_net_lifts_only_that_range() -> None:
    guard = AddressGuard.build(["2001:db8::/32", "192.0.2.0/24"])
    assert guard.allowed("2001:db8:1::5")
    assert guard.allowed("192.0.2.44")
    assert not guard.allowed("198.51.100.1")
    assert not guard.allowed("::1")


def test_allow_private_opens_private_use_but_not_loopback() -> None:
    guard = AddressGuard.build(allow_private=True)
    assert guard.allowed("10.0.0.1")
    assert guard.allowed("fd00::1")
    assert not guard.allowed("127.0.0.1")
    assert not guard.allowed("fe80::1")


def test_bad_input() -> None:
    assert "not an IP" in (AddressGuard.build().refusal("www.example.vn") or "")
    with pytest.raises(ValueError):
        parse_network("not-a-net")
    assert str(parse_network("2001:db8::1")) == "2001:db8::1/128"
