"""The unit of work of a scan: a shard, run by one top-level function into a sink.

A :class:`ScanSpec` says how to scan (the checks and their parameters, the options, the
scanner's footing, which scan row the results belong to); a :class:`Shard` says what to
scan (some hosts and zones). Both are plain frozen data that survive a JSON round trip
(``to_json``/``from_json``) as well as pickling, so a worker on another machine can rebuild
the plan from them and run :func:`run_shard` with its own store connection as the sink.

A shard is *not* "a zone with all its hosts": hosts are spread freely over shards. The only
thing a zone takes from its hosts is their names (the zone probe follows each host's CNAME
chain for dns.dnssec itself, auditor.probes.zone), so each shard carries, for its zones,
the names of the zones' inventory hosts found in the whole plan: a zone judged in shard 2
sees the same hosts as in a one-process scan, wherever those hosts are probed. A province
whose 2,000 hosts sit in one zone therefore splits into shards of equal size.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import anyio

from auditor import serde
from auditor.engine import Plan, ProgressFn, TargetDone, hosts_by_zone, make_plan, run_scan
from auditor.model import LOCAL_VANTAGE, TargetKind
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.limits import AddressLimiter
from auditor.registry import get_check
from auditor.selfcheck import Footing, FootingWatch
from auditor.store import Sink

# A zone costs more than a host (SOA, NS, MX, SPF, DMARC, CAA, DNSSEC chains, every name
# server over both families, SMTP to every MX): about three hosts' worth of probing, which
# is the weight the balancing gives it.
ZONE_WEIGHT = 3
HOST_WEIGHT = 1

Report = Callable[[str], None]


@dataclass(frozen=True)
class ScanSpec:
    """How to scan, for every shard of one scan (serialisable: check ids, not functions)."""

    store: str  # the store a worker opens for its sink (its path; a URL once stores have them)
    scan_id: int
    check_ids: tuple[str, ...]
    params: dict[str, dict[str, Any]]
    options: ScanOptions
    profile: str = ""  # the profile's reference (auditor.service.profile_ref), for messages
    # The scanner's footing, checked once before the scan (auditor.selfcheck); each process
    # running a shard watches its own load and re-checks when its failures pile up.
    footing: Footing | None = None
    # Department paths per host (Plan.paths): the whole scan's, small, so every shard's
    # plan fetches the paths of the hosts it holds.
    paths: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        plan: Plan,
        *,
        store: str,
        scan_id: int,
        options: ScanOptions,
        profile: str = "",
        footing: Footing | None = None,
    ) -> ScanSpec:
        return cls(
            store=store,
            scan_id=scan_id,
            check_ids=tuple(spec.id for spec in plan.checks),
            # Plain dicts: a profile's params may be read-only mappings, which do not pickle.
            params={cid: dict(p) for cid, p in plan.params.items()},
            options=options,
            profile=profile,
            footing=footing,
            paths={h: tuple(p) for h, p in plan.paths.items()},
        )

    def plan(self, shard: Shard) -> Plan:
        """The shard's plan, found again from check ids in this process's registry."""
        return make_plan(
            shard.hosts,
            shard.zones,
            [get_check(c) for c in self.check_ids],
            self.params,
            allow_nets=self.options.allow_nets,
            allow_private=self.options.allow_private,
            paths=self.paths,
        )

    def to_json(self) -> str:
        return serde.dumps(self)

    @classmethod
    def from_json(cls, text: str) -> ScanSpec:
        return serde.loads(text, cls)


@dataclass(frozen=True)
class Shard:
    """Some targets of a plan, in plan order; none of them done yet.

    ``zone_hosts``: for each zone of the shard, the names of its inventory hosts in the
    whole plan (which other shards may probe)."""

    number: int  # 1-based, for messages
    hosts: tuple[str, ...]
    zones: tuple[str, ...]
    zone_hosts: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def weight(self) -> int:
        return HOST_WEIGHT * len(self.hosts) + ZONE_WEIGHT * len(self.zones)

    @property
    def size(self) -> int:
        return len(self.hosts) + len(self.zones)

    def without(self, done: Collection[tuple[str, str]]) -> Shard:
        """This shard less the targets in ``done`` (``(kind, name)`` as in
        ``Store.done_targets``): what a re-delivered shard still has to probe."""
        return replace(
            self,
            hosts=tuple(h for h in self.hosts if (TargetKind.HOST.value, h) not in done),
            zones=tuple(z for z in self.zones if (TargetKind.ZONE.value, z) not in done),
        )

    def to_json(self) -> str:
        return serde.dumps(self)

    @classmethod
    def from_json(cls, text: str) -> Shard:
        return serde.loads(text, cls)


def _pending(plan: Plan, skip: Collection[tuple[str, str]]) -> tuple[list[str], list[str]]:
    hosts = [h for h in plan.hosts if (TargetKind.HOST.value, h) not in skip]
    zones = [z for z in plan.zones if (TargetKind.ZONE.value, z) not in skip]
    return hosts, zones


def whole(plan: Plan, skip: Collection[tuple[str, str]] = frozenset()) -> Shard:
    """Every target of ``plan`` not in ``skip`` (``(kind, name)`` as in
    ``Store.done_targets``) as one shard: a one-process scan."""
    hosts, zones = _pending(plan, skip)
    by_zone = hosts_by_zone(plan.zones, plan.hosts)
    return Shard(1, tuple(hosts), tuple(zones), {z: by_zone.get(z, ()) for z in zones})


def split(plan: Plan, n: int, skip: Collection[tuple[str, str]] = frozenset()) -> list[Shard]:
    """At most ``n`` shards of about equal weight (a zone weighs ZONE_WEIGHT hosts) holding
    every target of ``plan`` not in ``skip`` exactly once.

    Hosts and zones are placed one by one, heaviest first into the lightest shard (ties:
    plan order, then shard number), so the same plan always gives the same shards; empty
    shards are left out, so there are fewer than ``n`` when there are fewer targets.
    """
    if n < 1:
        raise ValueError("workers must be at least 1")
    hosts, zones = _pending(plan, skip)
    items = [(ZONE_WEIGHT, i, TargetKind.ZONE, z) for i, z in enumerate(zones)]
    items += [(HOST_WEIGHT, len(zones) + i, TargetKind.HOST, h) for i, h in enumerate(hosts)]
    items.sort(key=lambda item: (-item[0], item[1]))
    count = min(n, len(items))
    heap = [(0, i) for i in range(count)]
    chosen: list[set[tuple[TargetKind, str]]] = [set() for _ in range(count)]
    for weight, _pos, kind, name in items:
        load, i = heapq.heappop(heap)
        chosen[i].add((kind, name))
        heapq.heappush(heap, (load + weight, i))
    by_zone = hosts_by_zone(plan.zones, plan.hosts)
    shards = []
    for i, members in enumerate(chosen):
        mine = tuple(z for z in zones if (TargetKind.ZONE, z) in members)
        shards.append(
            Shard(
                number=i + 1,
                hosts=tuple(h for h in hosts if (TargetKind.HOST, h) in members),
                zones=mine,
                zone_hosts={z: by_zone.get(z, ()) for z in mine},
            )
        )
    return shards


# ---------------------------------------------------------------------------
# Running one shard


@dataclass(frozen=True)
class ShardResult:
    number: int
    stats: dict[str, int]
    stopped: bool  # stopped early (asked to, or its parent died) before the shard's end
    footing: Footing | None = None  # the final footing of the process that ran it
    vantage: str = LOCAL_VANTAGE  # where it ran from


class ShardRun:
    """One shard being run in this process: its probe context and footing watch outlive
    the run, so whatever ends it (done, stopped, Ctrl-C, a crash) leaves counters and a
    final footing to record (:meth:`result`)."""

    def __init__(
        self,
        spec: ScanSpec,
        shard: Shard,
        *,
        report: Report | None = None,
        stats: Mapping[str, int] | None = None,
        vantage: str = LOCAL_VANTAGE,
        limiter: AddressLimiter | None = None,
    ) -> None:
        self.spec = spec
        self.shard = shard
        self.vantage = vantage
        self.plan = spec.plan(shard)
        # limiter: the per-address limit shared with other processes (a distributed
        # worker's, auditor.distributed.limits); None counts in this process.
        self.ctx = ProbeContext(spec.options, limiter=limiter)
        # e.g. what the footing check before the scan cost, in a one-process scan
        self.ctx.stats.update(stats or {})
        self.watch: FootingWatch | None = None
        if spec.footing is not None:
            names = (*self.plan.hosts, *self.plan.zones)
            self.watch = FootingWatch(spec.footing, names, report=report)
        self.stopped = False

    async def run(
        self,
        sink: Sink,
        on_done: ProgressFn | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> ShardResult:
        """Probe, judge and hand to ``sink`` every target of the shard. ``stop``: polled
        every STOP_POLL seconds; True ends the shard early (finished targets are in the
        sink, those in flight are not)."""
        async with anyio.create_task_group() as tg:

            async def poll_stop() -> None:
                assert stop is not None
                while not stop():
                    await anyio.sleep(STOP_POLL)
                self.stopped = True
                tg.cancel_scope.cancel()

            if stop is not None:
                tg.start_soon(poll_stop)
            await run_scan(
                self.ctx,
                self.plan,
                sink,
                self.spec.scan_id,
                on_done=on_done,
                watch=self.watch,
                zone_hosts=self.shard.zone_hosts,
                vantage=self.vantage,
            )
            tg.cancel_scope.cancel()  # done: end the poller
        return self.result()

    def result(self) -> ShardResult:
        final = self.watch.final() if self.watch is not None else None
        return ShardResult(
            self.shard.number, dict(self.ctx.stats), self.stopped, final, self.vantage
        )


# Seconds between two looks at the stop flag: a stop is seen within this, and the poll
# costs nothing worth measuring.
STOP_POLL = 0.1


async def run_shard_async(
    spec: ScanSpec,
    shard: Shard,
    sink: Sink,
    *,
    on_done: ProgressFn | None = None,
    report: Report | None = None,
    stop: Callable[[], bool] | None = None,
    vantage: str = LOCAL_VANTAGE,
    limiter: AddressLimiter | None = None,
) -> ShardResult:
    """Run ``shard`` of the scan ``spec`` into ``sink`` from ``vantage`` (see
    :class:`ShardRun`), its per-address limit counted by ``limiter`` (None: here)."""
    run = ShardRun(spec, shard, report=report, vantage=vantage, limiter=limiter)
    return await run.run(sink, on_done, stop)


def run_shard(
    spec: ScanSpec,
    shard: Shard,
    sink: Sink,
    *,
    on_done: ProgressFn | None = None,
    report: Report | None = None,
    stop: Callable[[], bool] | None = None,
    vantage: str = LOCAL_VANTAGE,
) -> ShardResult:
    """:func:`run_shard_async` in its own event loop: the whole job of a worker, from
    nothing but the two serialisable descriptions, a sink and where the worker stands."""

    async def main() -> ShardResult:
        return await run_shard_async(
            spec, shard, sink, on_done=on_done, report=report, stop=stop, vantage=vantage
        )

    result: ShardResult = anyio.run(main, backend="asyncio")
    return result


def merge_results(
    results: Collection[ShardResult], footing: Footing | None
) -> tuple[dict[str, int], Footing | None]:
    """The scan's counters (summed) and footing (every fact at its worst) from its shards."""
    counters: Counter[str] = Counter()
    for r in sorted(results, key=lambda r: r.number):
        counters.update(r.stats)
        if r.footing is not None:
            footing = footing.merged(r.footing) if footing is not None else r.footing
    return dict(sorted(counters.items())), footing


__all__ = [
    "ScanSpec",
    "Shard",
    "ShardResult",
    "ShardRun",
    "TargetDone",
    "merge_results",
    "run_shard",
    "run_shard_async",
    "split",
    "whole",
]
