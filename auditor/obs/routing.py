"""Routing observations: for each address the scan met, the announced prefixes covering it
(from the operator's BGP table dump, or a DNS origin service) and the validated ROA
payloads covering those (from the operator's RPKI validator export, a file or its HTTP
export). Data, not scanning; kept in the target's observation so ``auditor evaluate``
judges a stored scan offline."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Vrp:
    """A validated ROA payload: (prefix, maxLength, origin AS), RFC 6811 section 2."""

    prefix: str
    max_length: int
    asn: int
    ta: str = ""


@dataclass(frozen=True)
class Route:
    """One announced (prefix, origin) pair. ``origin`` None: the AS_PATH ends in an AS_SET
    (RFC 6811 section 2: the origin is then NONE and the route cannot match any VRP)."""

    prefix: str
    origin: int | None
    origin_text: str = ""


@dataclass(frozen=True)
class RoutingData:
    """Which data the facts come from, and how old it is."""

    vrps_file: str = ""
    vrps_format: str = ""
    vrps_date: str | None = None  # ISO 8601: the validator's generation time, or mtime
    vrps_date_source: str = ""  # "metadata" / "file mtime"
    vrps_count: int = 0
    bgp_file: str = ""
    bgp_format: str = ""
    bgp_date: str | None = None
    bgp_date_source: str = ""  # "file name" / "file mtime"
    routes_count: int = 0
    error: str = ""  # why the data could not be used ("no RPKI data given", a parse error)
    # ISO 8601: when the scan looked its addresses up in the data; the data's age is
    # judged at that time (an `auditor evaluate` next month judges the same scan the same)
    looked_up: str | None = None


@dataclass(frozen=True)
class AddressRouting:
    address: str
    role: str  # web / ns / mx
    name: str  # the host, name server or mail exchanger the address belongs to
    # Every announced route covering the address (each origin of each covering prefix),
    # those of the most specific prefix (the one traffic follows) first.
    routes: tuple[Route, ...] = ()
    # The covering prefixes less specific than the first route's.
    less_specific: tuple[str, ...] = ()
    # VRPs covering the most specific routed prefix (so every route's), or the address
    # itself when it is not routed.
    vrps: tuple[Vrp, ...] = ()
    # Why the address's routes are unknown (a DNS origin service that failed: SERVFAIL,
    # timeout); "" when they are known (``routes`` empty then means not routed).
    lookup_error: str = ""


@dataclass(frozen=True)
class RoutingObservation:
    data: RoutingData
    addresses: tuple[AddressRouting, ...] = ()
