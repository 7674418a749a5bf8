"""Routing data for the RPKI checks: the operator's VRP export and BGP table dump, read
from local files (``--rpki-vrps FILE --bgp-table FILE``) once per process, and the facts
of each address looked up in them. Route origin validation is judged over data the
operator keeps current (the checks refuse stale data); the only network use is the
operator's own validator when ``--rpki-vrps`` is an http(s) URL of its JSON export
(Routinator's ``/json`` or ``/jsonext``, an rpki-client json served over HTTP), fetched
once per scan (:class:`TablesOnce`) under a size cap, a per-step timeout and an overall
deadline, and parsed by the same parser as a file."""

from __future__ import annotations

import functools
import gzip
import io
import ipaddress
import os
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import anyio
import httpx

from auditor.obs.core import Outcome
from auditor.obs.routing import AddressRouting, Route, RoutingData, RoutingObservation
from auditor.options import ScanOptions
from auditor.protocol.rpki import (
    PrefixIndex,
    RpkiDataError,
    VrpSet,
    date_from_name,
    host_net,
    is_url,
    origin_qname,
    parse_bgp,
    parse_origin_txt,
    parse_vrps,
    route_index,
    vrp_index,
    vrps_covering,
)
from auditor.protocol.txt import txt_text

if TYPE_CHECKING:
    from auditor.probes.context import ProbeContext

# A full IPv4+IPv6 table as pfx2as is about 30 MB, a full VRP jsonext export about
# 150 MB; 512 MiB (decompressed) leaves room and still bounds memory.
MAX_FILE_BYTES = 512 * 1024 * 1024
NO_DATA = "no RPKI data given (--rpki-vrps FILE --bgp-table FILE)"
# A VRP export fetched over HTTP (--rpki-vrps URL): Routinator's full /jsonext is about
# 150 MB today, its /json about 60 MB; 256 MiB (as sent, streamed) holds either with
# room and bounds memory. Past it the fetch is cut and the checks are not tested.
MAX_FETCH_BYTES = 256 * 1024 * 1024
# The whole fetch ends within this many seconds, whatever the per-step timeout (a
# validator trickling bytes would otherwise hold every target's routing lookup).
FETCH_DEADLINE = 300.0


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


def _http_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Fetched:
    text: str
    date: str | None  # from Last-Modified, else Date (RFC 9110 sections 8.8.2, 6.6.1)
    date_source: str  # "HTTP Last-Modified" / "HTTP Date" / ""


def fetch_vrps(
    url: str,
    timeout: float,
    *,
    max_bytes: int | None = None,
    deadline: float | None = None,
    ca_file: str | None = None,
) -> Fetched:
    """The export's text, streamed under ``max_bytes`` (gunzipped when it is gzip, the
    cap applying to the decompressed text too) and ``deadline``; every failure (refused,
    timed out, an HTTP status other than 200, cut at the cap) raises RpkiDataError with
    the reason. No proxy from the environment: the fetch goes where the operator said."""
    max_bytes = MAX_FETCH_BYTES if max_bytes is None else max_bytes
    deadline = FETCH_DEADLINE if deadline is None else deadline
    verify: ssl.SSLContext | bool = True
    if ca_file:
        verify = ssl.create_default_context(cafile=ca_file)
    started = time.monotonic()
    chunks: list[bytes] = []
    size = 0
    try:
        with (
            httpx.Client(timeout=timeout, verify=verify, trust_env=False) as client,
            client.stream("GET", url, headers={"Accept": "application/json"}) as resp,
        ):
            if resp.status_code != 200:
                raise RpkiDataError(f"{url}: HTTP {resp.status_code} {resp.reason_phrase}")
            # raw bytes: a Content-Encoding is decoded below under the same cap
            for chunk in resp.iter_raw():
                size += len(chunk)
                if size > max_bytes:
                    raise RpkiDataError(f"{url}: larger than {max_bytes} bytes (the cap); cut")
                if time.monotonic() - started > deadline:
                    raise RpkiDataError(f"{url}: not fetched within {deadline:.0f} s; cut")
                chunks.append(chunk)
            headers = resp.headers
    except httpx.TimeoutException as exc:
        raise RpkiDataError(f"{url}: timed out ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise RpkiDataError(f"{url}: {type(exc).__name__}: {exc}") from None
    except ssl.SSLError as exc:
        raise RpkiDataError(f"{url}: TLS: {exc}") from None
    body = b"".join(chunks)
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding == "gzip" or body[:2] == b"\x1f\x8b":
        try:
            body = gzip.GzipFile(fileobj=io.BytesIO(body)).read(max_bytes + 1)
        except (OSError, EOFError) as exc:
            raise RpkiDataError(f"{url}: bad gzip: {exc}") from None
        if len(body) > max_bytes:
            raise RpkiDataError(f"{url}: larger than {max_bytes} bytes decompressed (the cap)")
    elif encoding not in ("", "identity"):
        raise RpkiDataError(f"{url}: Content-Encoding {encoding!r} not read")
    for header, label in (("last-modified", "HTTP Last-Modified"), ("date", "HTTP Date")):
        if when := _http_date(headers.get(header)):
            return Fetched(body.decode("utf-8", errors="replace"), when, label)
    return Fetched(body.decode("utf-8", errors="replace"), None, "")


def _url_vrps(
    url: str, timeout: float, ca_file: str | None
) -> tuple[VrpSet, str | None, str] | str:
    """The VRPs fetched from ``url`` (the same parser as a file), their date and where the
    date came from; or why they are unreadable. No date at all is (None, ""): the checks
    refuse data of unknown age (not tested)."""
    try:
        got = fetch_vrps(url, timeout, ca_file=ca_file)
        try:
            vset = parse_vrps(got.text)
        except RpkiDataError as exc:
            raise RpkiDataError(f"{url}: {exc}") from None
    except RpkiDataError as exc:
        return f"RPKI data unreadable: {exc}"
    if vset.generated:
        return vset, vset.generated, "metadata"
    return vset, got.date, got.date_source


def load_url_tables(
    url: str, bgp_file: str, timeout: float, ca_file: str | None = None
) -> RoutingTables:
    """The VRPs fetched from ``url`` and the BGP file."""
    fetched = _url_vrps(url, timeout, ca_file)
    if isinstance(fetched, str):
        return RoutingTables(RoutingData(url, bgp_file=bgp_file, error=fetched))
    vset, vdate, vsrc = fetched
    try:
        bkey = (bgp_file, os.stat(bgp_file).st_size, os.stat(bgp_file).st_mtime_ns)
    except OSError as exc:
        return RoutingTables(
            RoutingData(url, bgp_file=bgp_file, error=f"RPKI data unreadable: {exc}")
        )
    bgp = _load_bgp(bkey)
    if isinstance(bgp, str):
        return RoutingTables(RoutingData(url, bgp_file=bgp_file, error=bgp))
    table, bdate, bsrc, routes = bgp
    data = RoutingData(
        url,
        vset.fmt,
        vdate,
        vsrc,
        len(vset.vrps),
        bgp_file,
        table.fmt,
        bdate,
        bsrc,
        len(table.routes),
    )
    return RoutingTables(data, vrp_index(vset.vrps), routes)


@functools.lru_cache(maxsize=2)
def _load_bgp(bkey: tuple[str, int, int]) -> tuple[Any, str, str, PrefixIndex] | str:
    bpath = bkey[0]
    try:
        table = parse_bgp(_read(bpath))
        named = date_from_name(os.path.basename(bpath))
        bdate, bsrc = (named, "file name") if named else (_mtime(bpath), "file mtime")
    except (OSError, RpkiDataError) as exc:
        return f"RPKI data unreadable: {exc}"
    return table, bdate, bsrc, route_index(table.routes)


def load_vrp_tables(source: str, timeout: float, ca_file: str | None = None) -> RoutingTables:
    """Only the VRPs (a file or a URL), for prefix-to-origin from a DNS origin service."""
    if is_url(source):
        fetched = _url_vrps(source, timeout, ca_file)
        if isinstance(fetched, str):
            return RoutingTables(RoutingData(source, error=fetched))
        vset, vdate, vsrc = fetched
    else:
        try:
            vset = parse_vrps(_read(source))
            vdate, vsrc = (
                (vset.generated, "metadata") if vset.generated else (_mtime(source), "file mtime")
            )
        except (OSError, RpkiDataError) as exc:
            return RoutingTables(RoutingData(source, error=f"RPKI data unreadable: {exc}"))
    data = RoutingData(source, vset.fmt, vdate, vsrc, len(vset.vrps))
    return RoutingTables(data, vrp_index(vset.vrps))


class TablesOnce:
    """The scan's routing tables, loaded by the first lookup and kept for the scan (held
    by the scan's ProbeContext): a VRP URL is fetched once per scan, not per target;
    the lookups run in worker threads, hence the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tables: RoutingTables | None = None

    def get(self, options: ScanOptions) -> RoutingTables:
        with self._lock:
            if self._tables is None and options.bgp_origin_dns:
                if not options.rpki_vrps_file:
                    why = "RPKI data incomplete: --rpki-vrps not given"
                    self._tables = RoutingTables(RoutingData(error=why))
                else:
                    self._tables = load_vrp_tables(
                        options.rpki_vrps_file, options.timeout, options.ca_file
                    )
            if self._tables is None:
                self._tables = load_tables(
                    options.rpki_vrps_file,
                    options.bgp_table_file,
                    timeout=options.timeout,
                    ca_file=options.ca_file,
                )
            return self._tables


def load_tables(
    vrps_file: str | None,
    bgp_file: str | None,
    *,
    timeout: float = 5.0,
    ca_file: str | None = None,
) -> RoutingTables:
    """Both files read and indexed (cached per (path, size, mtime): a file replaced by a
    newer export is read again); a VRP URL fetched (each call: :class:`TablesOnce` keeps
    a scan's)."""
    if vrps_file and bgp_file and is_url(vrps_file):
        return load_url_tables(vrps_file, bgp_file, timeout, ca_file)
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
    once: TablesOnce | None = None,
) -> RoutingObservation:
    """The routing facts of every (address, role, name), each address once per role,
    looked up ``now`` (the current time unless given), in ``once``'s tables (the scan's)
    or in freshly loaded ones."""
    tables = (once or TablesOnce()).get(options)
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


# -- prefix-to-origin from a DNS origin service (--bgp-origin-dns) -------------------------

ORIGIN_SERVICE = "DNS origin service"


@dataclass(frozen=True)
class DnsOrigins:
    routes: tuple[Route, ...] = ()
    error: str = ""  # why the address's routes are unknown ("" = known, maybe none)
    refused: tuple[str, ...] = ()  # records that did not parse (kept as evidence only)


async def dns_origins(ctx: ProbeContext, address: str) -> DnsOrigins:
    """The announced routes covering ``address``, asked of the DNS origin service through
    the scan's resolver, once per scan per address (ctx.once). NXDOMAIN: no announced
    prefix covers it (routes empty); SERVFAIL, a timeout, a refusal, NODATA or an answer
    none of whose records reads: unknown (error), never "not routed"."""
    zones = ctx.options.bgp_origin_dns
    qname = origin_qname(address, (zones[0], zones[-1]))

    async def ask() -> DnsOrigins:
        answer = await ctx.dns.query(qname, "TXT")
        if answer.outcome == Outcome.NXDOMAIN:
            return DnsOrigins()
        if answer.outcome != Outcome.OK:
            what = answer.detail or answer.outcome
            return DnsOrigins(error=f"{ORIGIN_SERVICE}: {qname} TXT: {answer.outcome} ({what})")
        routes: list[Route] = []
        refused: list[str] = []
        for record in answer.records:
            got, why = parse_origin_txt(txt_text(record), address)
            routes += got
            if why:
                refused.append(why)
        if not routes:
            first = refused[0] if refused else "no record"
            return DnsOrigins(error=f"{ORIGIN_SERVICE}: {qname} TXT unreadable: {first}")
        # most specific first, one route per (prefix, origin), as from a table
        routes.sort(key=lambda r: -ipaddress.ip_network(r.prefix).prefixlen)
        return DnsOrigins(tuple(dict.fromkeys(routes)), refused=tuple(refused))

    return await ctx.once(("rpki-origin", qname), ask)


async def routing_async(
    ctx: ProbeContext, members: Iterable[tuple[str, str, str]], now: datetime | None = None
) -> RoutingObservation:
    """The engine's entry: the tables (read or fetched off the event loop, once per scan),
    then, with --bgp-origin-dns, each address's routes asked of the DNS service."""
    members = list(members)
    once = ctx.routing_once()
    if not ctx.options.bgp_origin_dns:
        return await anyio.to_thread.run_sync(
            functools.partial(routing_for, ctx.options, members, now, once)
        )
    tables = await anyio.to_thread.run_sync(once.get, ctx.options)
    when = (now or datetime.now(UTC)).astimezone(UTC)
    stamp = when.isoformat(timespec="seconds").replace("+00:00", "Z")
    zones = ctx.options.bgp_origin_dns
    # the service answers from its live table: the data's date is the lookup's
    data = replace(
        tables.data,
        bgp_file=f"dns:{','.join(zones)}",
        bgp_format="cymru-origin-txt",
        bgp_date=stamp,
        bgp_date_source=ORIGIN_SERVICE + " (live, asked at the scan)",
        looked_up=stamp,
    )
    if data.error:
        return RoutingObservation(data)
    assert tables.vrps is not None
    seen: set[tuple[str, str]] = set()
    out: list[AddressRouting] = []
    for address, role, name in members:
        if (address, role) in seen:
            continue
        seen.add((address, role))
        try:
            net = host_net(address)
        except ValueError:
            continue
        got = await dns_origins(ctx, address)
        if got.error or not got.routes:
            out.append(
                AddressRouting(
                    address,
                    role,
                    name,
                    vrps=tuple(vrps_covering(tables.vrps, str(net))),
                    lookup_error=got.error,
                )
            )
            continue
        best = got.routes[0].prefix
        prefixes = list(dict.fromkeys(r.prefix for r in got.routes))
        out.append(
            AddressRouting(
                address,
                role,
                name,
                routes=got.routes,
                less_specific=tuple(prefixes[1:]),
                vrps=tuple(vrps_covering(tables.vrps, best)),
            )
        )
    return RoutingObservation(data, tuple(out))
