"""Routing data for the RPKI checks: the operator's VRP export and BGP table dump, read
from local files (``--rpki-vrps FILE --bgp-table FILE``) once per process, and the facts
of each address looked up in them. No network: route origin validation is judged over
data the operator keeps current (the checks refuse stale data)."""

from __future__ import annotations

import functools
import gzip
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from auditor.obs.routing import AddressRouting, RoutingData, RoutingObservation
from auditor.options import ScanOptions
from auditor.protocol.rpki import (
    PrefixIndex,
    RpkiDataError,
    date_from_name,
    host_net,
    parse_bgp,
    parse_vrps,
    route_index,
    vrp_index,
    vrps_covering,
)

# A full IPv4+IPv6 table as pfx2as is about 30 MB, a full VRP jsonext export about
# 150 MB; 512 MiB (decompressed) leaves room and still bounds memory.
MAX_FILE_BYTES = 512 * 1024 * 1024
NO_DATA = "no RPKI data given (--rpki-vrps FILE --bgp-table FILE)"


@dataclass(frozen=True)
class RoutingTables:
    data: RoutingData
    vrps: PrefixIndex | None = None
    routes: PrefixIndex | None = None


def _read(path: str) -> str:
    """The file's text, gunzipped when it is gzip, refused past MAX_FILE_BYTES."""
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        raw = gzip.GzipFile(fileobj=fh) if head == b"\x1f\x8b" else fh
        data = raw.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise RpkiDataError(f"{path}: larger than {MAX_FILE_BYTES} bytes (the cap)")
    return data.decode("utf-8", errors="replace")


def _mtime(path: str) -> str:
    when = datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
    return when.isoformat().replace("+00:00", "Z")


def load_tables(vrps_file: str | None, bgp_file: str | None) -> RoutingTables:
    """Both files read and indexed (cached per (path, size, mtime): a file replaced by a
    newer export is read again)."""
    if not vrps_file or not bgp_file:
        missing = "--rpki-vrps" if not vrps_file else "--bgp-table"
        given = vrps_file or bgp_file
        why = NO_DATA if not given else f"RPKI data incomplete: {missing} not given"
        return RoutingTables(RoutingData(vrps_file or "", bgp_file=bgp_file or "", error=why))
    try:
        keys = [(p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in (vrps_file, bgp_file)]
    except OSError as exc:
        # a distributed worker reads the files at the client's paths: missing there
        return RoutingTables(
            RoutingData(vrps_file, bgp_file=bgp_file, error=f"RPKI data unreadable: {exc}")
        )
    return _load(keys[0], keys[1])


@functools.lru_cache(maxsize=2)
def _load(vkey: tuple[str, int, int], bkey: tuple[str, int, int]) -> RoutingTables:
    vpath, bpath = vkey[0], bkey[0]
    try:
        vset = parse_vrps(_read(vpath))
        table = parse_bgp(_read(bpath))
        vdate, vsrc = (
            (vset.generated, "metadata") if vset.generated else (_mtime(vpath), "file mtime")
        )
        named = date_from_name(os.path.basename(bpath))
        bdate, bsrc = (named, "file name") if named else (_mtime(bpath), "file mtime")
    except (OSError, RpkiDataError) as exc:
        return RoutingTables(
            RoutingData(vpath, bgp_file=bpath, error=f"RPKI data unreadable: {exc}")
        )
    data = RoutingData(
        vpath,
        vset.fmt,
        vdate,
        vsrc,
        len(vset.vrps),
        bpath,
        table.fmt,
        bdate,
        bsrc,
        len(table.routes),
    )
    return RoutingTables(data, vrp_index(vset.vrps), route_index(table.routes))


def address_routing(tables: RoutingTables, address: str, role: str, name: str) -> AddressRouting:
    assert tables.vrps is not None and tables.routes is not None
    net = host_net(address)
    covering = tables.routes.covering(net)
    if not covering:
        # not routed: only ROA existence can be said (the VRPs covering the address)
        return AddressRouting(address, role, name, vrps=tuple(vrps_covering(tables.vrps, str(net))))
    # Every covering announced prefix and every origin of each (issue #20: "the covering
    # BGP prefixes and their origin AS, and each (prefix, origin) judged"), most specific
    # first: the most specific carries the traffic, a less specific one takes it when the
    # more specific is withdrawn or filtered, and an invalid one is a hijack either way.
    best = covering[0][0]
    # one route per (prefix, origin): a dump may list a pair twice
    unique = tuple(dict.fromkeys(r for _net, routes in covering for r in routes))
    return AddressRouting(
        address,
        role,
        name,
        routes=unique,
        less_specific=tuple(str(n) for n, _ in covering[1:]),
        # the VRPs covering the most specific prefix cover every less specific one's too
        # (a superset); validate_route keeps those covering each route's own prefix
        vrps=tuple(vrps_covering(tables.vrps, str(best))),
    )


def routing_for(
    options: ScanOptions,
    members: Iterable[tuple[str, str, str]],
    now: datetime | None = None,
) -> RoutingObservation:
    """The routing facts of every (address, role, name), each address once per role,
    looked up ``now`` (the current time unless given)."""
    tables = load_tables(options.rpki_vrps_file, options.bgp_table_file)
    # when the data was used: its age is judged at the scan, not at a later re-evaluation
    when = (now or datetime.now(UTC)).astimezone(UTC)
    data = replace(tables.data, looked_up=when.isoformat(timespec="seconds").replace("+00:00", "Z"))
    if data.error:
        return RoutingObservation(data)
    seen: set[tuple[str, str]] = set()
    out: list[AddressRouting] = []
    for address, role, name in members:
        if (address, role) in seen:
            continue
        seen.add((address, role))
        try:
            out.append(address_routing(tables, address, role, name))
        except ValueError:
            continue  # not an address literal (a stored answer that is not one)
    return RoutingObservation(data, tuple(out))
