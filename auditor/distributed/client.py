"""Submitting a scan to the workers and following it from the store.

``auditor scan --broker``: plan the scan as a one-machine scan does (auditor.service), begin
(or, with ``--resume``, reopen) its scan row, cut what is not done *per vantage* into shards,
record them in the store and send each to its vantage's queue; then follow the store (the
workers write every finished target and every shard's outcome there) until every shard has
ended, and finish the scan row. The scanner's footing is not checked here: the client may
stand anywhere; each worker checks and records its vantage's own.

Following reads the database only, so the client may leave (``--detach``, Ctrl-C) and
``auditor status`` (:func:`progress`, :func:`finish_if_ended`) picks up from any machine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.distributed import SHARD_SIZE  # re-exported: the default of submit()
from auditor.distributed.app import TASK, check_broker, make_app, queue_name
from auditor.distributed.worker import portable
from auditor.engine import TargetDone
from auditor.inventory import Inventory
from auditor.model import TargetKind
from auditor.options import ScanOptions
from auditor.selfcheck import FOOTING_KEY, Footing
from auditor.service import (
    Finished,
    NothingToResume,
    OnEvent,
    Resumed,
    ScanFailed,
    ScanResult,
    ScanService,
    Started,
    profile_ref,
)
from auditor.shards import ScanSpec, Shard, split
from auditor.store import ShardRecord, Store

# Seconds between two looks at the store while following a scan (a cheap COUNT query).
POLL = 0.5
ENDED = ("done", "failed")


@dataclass(frozen=True)
class Submitted:
    scan_id: int
    vantages: tuple[str, ...]
    shards: dict[str, int]  # vantage -> shards sent
    total: int  # targets to probe, over every vantage
    done: dict[str, int]  # vantage -> targets done before


def submit(
    store: Store,
    broker: str,
    inventory: Inventory,
    inv_path: str,
    profile: Any,
    options: ScanOptions,
    vantages: Sequence[str],
    *,
    resume: bool = False,
    shard_size: int = SHARD_SIZE,
    on_event: OnEvent | None = None,
    app: Any = None,
) -> Submitted:
    """Begin (or resume) the scan and send its shards, every shard to every vantage's queue;
    returns at once. Raises DistributedUnavailable when the broker cannot be reached
    (checked before anything is written)."""
    emit = on_event or (lambda event: None)
    app = app or make_app(broker)
    check_broker(app, broker)
    service = ScanService(store, emit)
    plan = service.plan(inventory, profile, options)
    scan_id: int | None = None
    if resume:
        previous = store.unfinished_scan(inv_path)
        if previous is None:
            emit(NothingToResume())
        else:
            scan_id = previous.id
            store.reopen_scan(scan_id)
            counts = store.target_counts(scan_id)
            emit(Resumed(scan_id, min(counts.get(v, 0) for v in vantages)))
    if scan_id is None:
        scan_id = service.begin(inventory, inv_path, profile, options)
    sendable, files = portable(options)
    spec = ScanSpec.of(
        plan, store=store.url, scan_id=scan_id, options=sendable, profile=profile_ref(profile)
    )
    spec_json = spec.to_json()
    sent: dict[str, int] = {}
    done: dict[str, int] = {}
    total = 0
    outbox: list[tuple[str, Shard]] = []
    for vantage in vantages:
        skip = store.done_targets(scan_id, vantage)
        done[vantage] = len(skip)
        store.drop_open_shards(scan_id, vantage)  # --resume: sent again below, as new shards
        first = max((s.number for s in store.shards(scan_id, vantage)), default=0) + 1
        pending = len(plan.hosts) + len(plan.zones) - len(skip)
        cut = split(plan, math.ceil(pending / shard_size), skip) if pending > 0 else []
        shards = [_renumber(s, first + i) for i, s in enumerate(cut) if s.size]
        store.add_shards(scan_id, vantage, [(s.number, s.to_json(), s.size) for s in shards])
        sent[vantage] = len(shards)
        total += sum(s.size for s in shards)
        outbox += [(vantage, s) for s in shards]
    for vantage, shard in outbox:
        app.send_task(
            TASK,
            args=(spec_json, shard.to_json(), vantage, files),
            queue=queue_name(vantage),
            retry=True,
            retry_policy={"max_retries": 5, "interval_start": 0.5, "interval_step": 1.0},
        )
    emit(Started(scan_id, total, sum(sent.values())))
    return Submitted(scan_id, tuple(vantages), sent, total, done)


def _renumber(shard: Shard, number: int) -> Shard:
    return Shard(number, shard.hosts, shard.zones, shard.zone_hosts)


def follow(
    store: Store,
    submitted: Submitted,
    *,
    on_event: OnEvent | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ScanResult:
    """Relay progress (one TargetDone event per target finished, named by its vantage)
    until every shard of the submitted vantages has ended, then finish the scan row (status
    "running" when other vantages of the scan are still open). Raises ScanFailed (the scan
    stored as "failed") when a shard failed."""
    emit = on_event or (lambda event: None)
    scan_id = submitted.scan_id
    seen = dict(submitted.done)
    while True:
        counts = store.target_counts(scan_id)
        for vantage in submitted.vantages:
            now = counts.get(vantage, 0)
            for _ in range(now - seen.get(vantage, 0)):
                emit(TargetDone(TargetKind.HOST, vantage, ()))
            seen[vantage] = max(now, seen.get(vantage, 0))
        if _ended(store, scan_id, submitted.vantages):
            # This client's vantages are done; the scan row is finished once every
            # vantage's are (another client may have submitted more): "running" until then.
            status = finish_if_ended(store, scan_id) or "running"
            emit(Finished(scan_id, status))
            if status == "failed":
                raise ScanFailed(scan_id, failures(store, scan_id))
            return ScanResult(scan_id, status)
        sleep(POLL)


def _ended(store: Store, scan_id: int, vantages: Sequence[str]) -> bool:
    shards = store.shards(scan_id)
    return all(s.status in ENDED for s in shards if s.vantage in vantages)


def failures(store: Store, scan_id: int) -> list[str]:
    return [
        f"vantage {s.vantage} shard {s.number} ({s.size} targets, {s.attempts} attempts): "
        f"{s.reason or 'failed'}"
        for s in store.shards(scan_id)
        if s.status == "failed"
    ]


def finish_if_ended(store: Store, scan_id: int) -> str | None:
    """When every shard of the scan (of every vantage) has ended, finish the scan row
    ("complete", or "failed" when a shard failed) with the shards' counters summed and the
    vantages' footings merged, and return that status; None while shards are open."""
    shards = store.shards(scan_id)
    if not shards or any(s.status not in ENDED for s in shards):
        return None
    status = "failed" if any(s.status == "failed" for s in shards) else "complete"
    record = store.scan(scan_id)
    if record.status != "running":
        return record.status  # finished already (by the client, or by a status command)
    counters: dict[str, Any] = {}
    for s in shards:
        for key, value in s.stats.items():
            if isinstance(value, int):
                counters[key] = counters.get(key, 0) + value
    footing: Footing | None = None
    for data in store.vantage_footings(scan_id).values():
        found = Footing.from_record(data)
        if found is not None:
            footing = footing.merged(found) if footing is not None else found
    if footing is not None:
        # the scan's footing: each fact at its worst over the vantages (each vantage's own
        # is in the store, and its findings were judged with it)
        counters[FOOTING_KEY] = footing.to_record()
    store.finish_scan(scan_id, status, counters)
    return status


@dataclass(frozen=True)
class VantageProgress:
    vantage: str
    done: int  # targets finished from this vantage
    total: int  # targets of the scan to probe from it
    shards: dict[str, int]  # status -> shards
    failed: tuple[ShardRecord, ...]


def progress(store: Store, scan_id: int) -> list[VantageProgress]:
    """Per vantage: targets done of the total, shards per status, the failed shards."""
    records = store.shards(scan_id)
    out = []
    for vantage in sorted({s.vantage for s in records} | set(store.target_counts(scan_id))):
        mine = [s for s in records if s.vantage == vantage]
        done = store.done_targets(scan_id, vantage)
        left: set[tuple[str, str]] = set()
        for s in mine:
            if s.status != "done":
                shard = Shard.from_json(s.shard_json)
                left |= {(TargetKind.HOST.value, h) for h in shard.hosts}
                left |= {(TargetKind.ZONE.value, z) for z in shard.zones}
        counts = {status: 0 for status in ("pending", "running", "done", "failed")}
        for s in mine:
            counts[s.status] = counts.get(s.status, 0) + 1
        failed = tuple(s for s in mine if s.status == "failed")
        out.append(VantageProgress(vantage, len(done), len(done | left), counts, failed))
    return out


__all__ = [
    "SHARD_SIZE",
    "Submitted",
    "VantageProgress",
    "failures",
    "finish_if_ended",
    "follow",
    "progress",
    "submit",
]
