"""RPKI route origin validation (RFC 6811) over local data: validated ROA payloads (VRPs)
from a relying party's JSON export and prefix-to-origin pairs from a BGP table dump.

Data, not scanning: the operator runs a validator (rpki-client, Routinator) and keeps a
BGP table dump (CAIDA pfx2as, RIPE RIS whois dump); the auditor reads both files and judges
each address it meets. Everything here is pure: the parsers take text (the caller reads
the files with a size cap, :mod:`auditor.probes.routing`), the judgement takes data.

Formats read (each through its own loader, picked by :func:`parse_vrps` / :func:`parse_bgp`):

- rpki-client ``json`` (``/var/db/rpki-client/json``): ``{"metadata": {"buildtime":
  "2024-05-01T10:00:00Z", ...}, "roas": [{"asn": 64496 | "AS64496", "prefix": ...,
  "maxLength": 24, "ta": ..., "expires": ...}]}``.
- Routinator ``json`` and ``jsonext`` (``routinator vrps -f jsonext``): ``{"metadata":
  {"generated": 1714557600, "generatedTime": "2024-05-01T10:00:00Z"}, "roas": [{"asn":
  "AS64496", "prefix": ..., "maxLength": 24, "ta": ... | "source": [...]}]}``.
- CAIDA Routeviews pfx2as: ``network<TAB>length<TAB>origins`` per line, origins ``64496``,
  ``64496_64497`` (several origins, MOAS) or ``64496,64497`` (an AS_SET).
- RIS whois dump (``riswhoisdump.IPv4`` / ``.IPv6``): ``% comments``, then
  ``origin<TAB>prefix<TAB>peers`` per line; an AS_SET origin is written ``{64496,64497}``.
- A DNS origin service's TXT record (Team Cymru's format, ``--bgp-origin-dns``):
  ``64496 [64497 ...] | 192.0.2.0/24 | CC | registry | date``, one per covering prefix.

Lookups: longest-prefix match by hand over dicts keyed by (prefix length, network int),
one dict probe per possible length (33 for IPv4, 129 for IPv6). The standard library's
``ipaddress`` has no prefix tree, and the tree libraries (pytricia, py-radix) are C
extensions the project does not otherwise need; a million-route table fits in dicts, and
the lookups are few (one per address the scan meets).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from auditor.obs.routing import Route, Vrp

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# RFC 6811 section 2: the three validation states; invalid split by cause, as operators
# (and Internet.nl) report them: the origin AS is not authorised, or the route is more
# specific than the ROA's maxLength allows.
VALID = "valid"
INVALID_AS = "invalid-as"
INVALID_LENGTH = "invalid-length"
NOT_FOUND = "not-found"

# Bounded input: a full table is about 1.2 M routes and 700 k VRPs today.
MAX_ENTRIES = 5_000_000


class RpkiDataError(ValueError):
    """The file is not one of the formats read here (or is cut)."""


@dataclass(frozen=True)
class VrpSet:
    fmt: str  # rpki-client-json / routinator-json / routinator-jsonext
    generated: str | None  # ISO 8601 time the validator produced the data, if it says
    vrps: tuple[Vrp, ...]
    skipped: int = 0  # entries that did not parse


@dataclass(frozen=True)
class BgpTable:
    fmt: str  # caida-pfx2as / ris-whois
    generated: str | None  # from the data itself when it names it, else None
    routes: tuple[Route, ...]
    skipped: int = 0


def is_url(source: str | None) -> bool:
    """``--rpki-vrps`` names an http(s) URL of a validator's export, not a file."""
    return bool(source) and str(source).lower().startswith(("http://", "https://"))


# -- parsing ------------------------------------------------------------------------------


def _asn(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 2**32 else None
    if isinstance(value, str):
        text = value.strip().upper().removeprefix("AS")
        # ASCII digits only: str.isdigit() also takes other scripts' digits, which int()
        # reads (remote text must not smuggle an AS number in as "٦٤٥٠٠")
        if text.isascii() and text.isdigit() and int(text) < 2**32:
            return int(text)
    return None


def _net(text: Any) -> Network | None:
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError:
        return None


def _iso(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return None


def _roas(doc: dict[str, Any]) -> tuple[list[Vrp], int]:
    roas = doc.get("roas")
    if not isinstance(roas, list):
        raise RpkiDataError("no 'roas' list")
    out: list[Vrp] = []
    skipped = 0
    for entry in roas[:MAX_ENTRIES]:
        if not isinstance(entry, dict):
            skipped += 1
            continue
        net = _net(entry.get("prefix"))
        asn = _asn(entry.get("asn"))
        ml = entry.get("maxLength", net.prefixlen if net else None)
        if net is None or asn is None or not isinstance(ml, int) or isinstance(ml, bool):
            skipped += 1
            continue
        # RFC 6482 section 3.3: maxLength is at least the prefix length and at most the
        # address length; a VRP outside that is malformed and ignored
        if not net.prefixlen <= ml <= net.max_prefixlen:
            skipped += 1
            continue
        ta = entry.get("ta", "")
        out.append(Vrp(str(net), ml, asn, ta if isinstance(ta, str) else ""))
    return out, skipped


def parse_rpki_client_json(text: str) -> VrpSet:
    """rpki-client's ``json`` output (metadata.buildtime is when the data was made)."""
    doc = _json_object(text)
    meta = _meta(doc)
    if "buildtime" not in meta:
        raise RpkiDataError("not rpki-client json: metadata.buildtime missing")
    vrps, skipped = _roas(doc)
    return VrpSet("rpki-client-json", _iso(meta.get("buildtime")), tuple(vrps), skipped)


def parse_routinator_json(text: str) -> VrpSet:
    """Routinator's ``json`` and ``jsonext`` outputs (metadata.generated, an epoch, and
    generatedTime); jsonext has a ``source`` list per entry instead of ``ta``."""
    doc = _json_object(text)
    meta = _meta(doc)
    if "generated" not in meta and "generatedTime" not in meta:
        raise RpkiDataError("not Routinator json: metadata.generated missing")
    vrps, skipped = _roas(doc)
    roas = doc.get("roas") or []
    ext = any(isinstance(r, dict) and "source" in r for r in roas[:100])
    when = _iso(meta.get("generatedTime")) or _iso(meta.get("generated"))
    fmt = "routinator-jsonext" if ext else "routinator-json"
    return VrpSet(fmt, when, tuple(vrps), skipped)


def _meta(doc: dict[str, Any]) -> dict[str, Any]:
    meta = doc.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _json_object(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RpkiDataError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RpkiDataError("not a JSON object")
    return doc


def parse_vrps(text: str) -> VrpSet:
    """Either validator's JSON, told apart by its metadata."""
    doc = _json_object(text)
    meta = doc.get("metadata")
    if isinstance(meta, dict) and "buildtime" in meta:
        return parse_rpki_client_json(text)
    if isinstance(meta, dict) and ("generated" in meta or "generatedTime" in meta):
        return parse_routinator_json(text)
    raise RpkiDataError(
        "unknown VRP format: expected rpki-client json (metadata.buildtime) or Routinator "
        "json/jsonext (metadata.generated)"
    )


_DATE_IN_NAME = re.compile(r"(20\d\d)(\d\d)(\d\d)(?:[-_.T]?(\d\d)(\d\d))?")


def date_from_name(name: str) -> str | None:
    """The date a dump names in its file name (CAIDA ``routeviews-rv2-20240501-1200``,
    RIS archives ``riswhoisdump-20240501``), as ISO 8601 UTC."""
    m = _DATE_IN_NAME.search(name)
    if not m:
        return None
    y, mo, d, hh, mm = m.groups()
    try:
        when = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), tzinfo=UTC)
    except ValueError:
        return None
    return when.isoformat().replace("+00:00", "Z")


def _origins(text: str) -> list[tuple[int | None, str]]:
    """pfx2as origins: ``_`` separates several origins (MOAS), ``,`` an AS_SET."""
    out: list[tuple[int | None, str]] = []
    for part in text.split("_"):
        part = part.strip().strip("{}")
        if "," in part:
            out.append((None, "{" + part + "}"))
        elif (asn := _asn(part)) is not None:
            out.append((asn, f"AS{asn}"))
    return out


def parse_pfx2as(text: str) -> BgpTable:
    """CAIDA Routeviews prefix-to-AS: ``192.0.2.0<TAB>24<TAB>64496``."""
    routes: list[Route] = []
    skipped = 0
    for line in text.splitlines()[:MAX_ENTRIES]:
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 3 or not fields[1].isdigit():
            skipped += 1
            continue
        net = _net(f"{fields[0]}/{fields[1]}")
        origins = _origins(fields[2])
        if net is None or not origins:
            skipped += 1
            continue
        routes += [Route(str(net), asn, label) for asn, label in origins]
    if not routes and skipped:
        raise RpkiDataError("not a pfx2as table: no line reads as network, length, origin")
    return BgpTable("caida-pfx2as", None, tuple(routes), skipped)


def parse_ris_whois(text: str) -> BgpTable:
    """RIS whois dump: ``64496<TAB>192.0.2.0/24<TAB>312`` (origin, prefix, peers seeing it)."""
    routes: list[Route] = []
    skipped = 0
    for line in text.splitlines()[:MAX_ENTRIES]:
        if not line.strip() or line.startswith("%"):
            continue
        fields = line.split()
        if len(fields) < 2:
            skipped += 1
            continue
        net = _net(fields[1])
        origins = _origins(fields[0]) if not fields[0].startswith("{") else [(None, fields[0])]
        if net is None or not origins:
            skipped += 1
            continue
        routes += [Route(str(net), asn, label) for asn, label in origins]
    if not routes and skipped:
        raise RpkiDataError("not a RIS whois dump: no line reads as origin, prefix, peers")
    return BgpTable("ris-whois", None, tuple(routes), skipped)


def parse_bgp(text: str) -> BgpTable:
    """Either dump, told apart by the shape of the first data line."""
    for line in text.splitlines()[:1000]:
        if not line.strip() or line.startswith(("#", "%")):
            continue
        fields = line.split()
        if len(fields) >= 2 and "/" in fields[1]:
            return parse_ris_whois(text)
        if len(fields) == 3 and fields[1].isdigit():
            return parse_pfx2as(text)
        break
    raise RpkiDataError(
        "unknown BGP table format: expected CAIDA pfx2as (network, length, origin) or a RIS "
        "whois dump (origin, prefix, peers)"
    )


# -- lookups ------------------------------------------------------------------------------


class PrefixIndex:
    """Values keyed by prefix, looked up by covering prefix (longest first)."""

    def __init__(self) -> None:
        # (version, prefix length) -> network as int -> values
        self._by_len: dict[tuple[int, int], dict[int, list[Any]]] = {}

    def add(self, net: Network, value: Any) -> None:
        key = (net.version, net.prefixlen)
        self._by_len.setdefault(key, {}).setdefault(int(net.network_address), []).append(value)

    def covering(self, net: Network) -> list[tuple[Network, list[Any]]]:
        """Every stored prefix that covers ``net`` (equal or less specific), longest first."""
        out: list[tuple[Network, list[Any]]] = []
        bits = net.max_prefixlen
        addr = int(net.network_address)
        for plen in range(net.prefixlen, -1, -1):
            table = self._by_len.get((net.version, plen))
            if not table:
                continue
            mask = ((1 << bits) - 1) ^ ((1 << (bits - plen)) - 1)
            hit = table.get(addr & mask)
            if hit:
                out.append((ipaddress.ip_network((addr & mask, plen)), hit))
        return out


def vrp_index(vrps: Iterable[Vrp]) -> PrefixIndex:
    idx = PrefixIndex()
    for v in vrps:
        idx.add(ipaddress.ip_network(v.prefix), v)
    return idx


def route_index(routes: Iterable[Route]) -> PrefixIndex:
    idx = PrefixIndex()
    for r in routes:
        idx.add(ipaddress.ip_network(r.prefix), r)
    return idx


def host_net(address: str) -> Network:
    ip = ipaddress.ip_address(address)
    return ipaddress.ip_network((ip, ip.max_prefixlen))


# -- judgement (RFC 6811 section 2) -------------------------------------------------------


@dataclass(frozen=True)
class RouteState:
    prefix: str
    origin: str  # AS64496, or {64496,64497} for an AS_SET
    state: str  # VALID / INVALID_AS / INVALID_LENGTH / NOT_FOUND
    vrps: tuple[str, ...] = ()  # the covering VRPs, "prefix-maxLength AS"
    reason: str = ""


def vrp_text(v: Vrp) -> str:
    return f"{v.prefix}-{v.max_length} AS{v.asn}"


def validate_route(prefix: str, origin: int | None, covering: Iterable[Vrp]) -> RouteState:
    """RFC 6811 section 2: a VRP *covers* the route when its prefix covers the route's
    prefix; it *matches* when it covers, its AS equals the route's origin AS (never AS 0,
    RFC 6483 section 4 / RFC 7607, and never an AS_SET origin, "NONE"), and the route's
    prefix length is at most its maxLength. Some match: valid; some cover but none matches:
    invalid; none covers: not found."""
    net = ipaddress.ip_network(prefix)
    cover = [v for v in covering if net.subnet_of(ipaddress.ip_network(v.prefix))]  # type: ignore[arg-type]
    label = f"AS{origin}" if origin is not None else "AS_SET"
    texts = tuple(vrp_text(v) for v in cover)
    if not cover:
        return RouteState(prefix, label, NOT_FOUND, (), "no VRP covers the prefix")
    same_as = [v for v in cover if origin is not None and origin != 0 and v.asn == origin]
    if any(net.prefixlen <= v.max_length for v in same_as):
        return RouteState(prefix, label, VALID, texts, "a VRP matches origin and length")
    if same_as:
        longest = max(v.max_length for v in same_as)
        return RouteState(
            prefix,
            label,
            INVALID_LENGTH,
            texts,
            f"/{net.prefixlen} is longer than the maxLength {longest} authorised for {label}",
        )
    why = (
        "the origin is an AS_SET (RFC 6811: NONE), which no VRP matches"
        if origin is None
        else f"no covering VRP authorises {label}"
    )
    return RouteState(prefix, label, INVALID_AS, texts, why)


def vrps_covering(idx: PrefixIndex, prefix: str) -> list[Vrp]:
    out: list[Vrp] = []
    for _net, values in idx.covering(ipaddress.ip_network(prefix)):
        out.extend(values)
    return out


# -- a DNS origin service (Team Cymru's IP-to-ASN format) ---------------------------------
#
# https://www.team-cymru.com/ip-asn-mapping (DNS section): TXT at the reversed IPv4 octets
# under origin.asn.cymru.com, the reversed nibbles of the IPv6 address under
# origin6.asn.cymru.com; each record reads "AS [AS ...] | prefix | CC | registry | date"
# (several ASes in one record: the prefix has several origins, MOAS). NXDOMAIN: the
# address is in no announced prefix. The answer is remote text: parsed totally, bounded.

CYMRU_ZONE4 = "origin.asn.cymru.com"
CYMRU_ZONE6 = "origin6.asn.cymru.com"
# Bounds on one answer: the DNS client keeps at most max_dns_records records; of each
# record at most this many characters are read and this many origins kept (a real answer
# has one to a few; a hostile one must not grow the observation).
MAX_ORIGIN_TEXT = 512
MAX_ORIGINS_PER_RECORD = 16


def origin_zones(spec: str) -> tuple[str, str]:
    """``ZONE[,ZONE6]`` (``--bgp-origin-dns``): the IPv4 and IPv6 zones. Without ZONE6, a
    zone named ``origin.X`` has its IPv6 twin at ``origin6.X`` (Team Cymru's naming);
    another zone serves both (the nibble names cannot be taken for octet names)."""
    parts = [p.strip().strip(".").lower() for p in spec.split(",")]
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise ValueError(f"expected ZONE or ZONE,ZONE6, got {spec!r}")
    for p in parts:
        labels = p.split(".")
        if len(p) > 200 or not all(re.fullmatch(r"[a-z0-9_-]{1,63}", lb) for lb in labels):
            raise ValueError(f"not a DNS zone name: {p!r}")
    if len(parts) == 2:
        return parts[0], parts[1]
    zone = parts[0]
    six = "origin6." + zone.removeprefix("origin.") if zone.startswith("origin.") else zone
    return zone, six


def origin_qname(address: str, zones: tuple[str, str]) -> str:
    """The name to ask for ``address``: reversed octets (IPv4) or nibbles (IPv6)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return ".".join(reversed(str(ip).split("."))) + "." + zones[0]
    nibbles = ip.exploded.replace(":", "")
    return ".".join(reversed(nibbles)) + "." + zones[1]


def parse_origin_txt(text: str, address: str) -> tuple[list[Route], str]:
    """The routes one TXT record names for ``address``, and why it was refused ("" when
    read). Refused: not ``AS... | prefix | ...``, an AS that is not a number below 2**32,
    a prefix that is not a network or does not cover the address asked about."""
    text = text[:MAX_ORIGIN_TEXT]
    fields = [f.strip() for f in text.split("|")]
    if len(fields) < 2:
        return [], f"not 'AS | prefix | ...': {text[:80]!r}"
    net = _net(fields[1])
    if net is None:
        return [], f"not a prefix: {fields[1][:60]!r}"
    ip = ipaddress.ip_address(address)
    if net.version != ip.version or ip not in net:
        return [], f"{net} does not cover {address}"
    words = fields[0].split()
    if not words:
        return [], "no origin AS"
    if len(words) > MAX_ORIGINS_PER_RECORD:
        return [], f"{len(words)} origins in one record (more than {MAX_ORIGINS_PER_RECORD})"
    routes: list[Route] = []
    for word in words:
        asn = _asn(word)
        if asn is None:
            return [], f"not an AS number: {word[:30]!r}"
        routes.append(Route(str(net), asn, f"AS{asn}"))
    return routes, ""
