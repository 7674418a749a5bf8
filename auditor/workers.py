"""``auditor scan --workers N``: one scan run by N worker processes writing to one store.

A province-scale scan is CPU-bound on one core (TLS handshakes, parsing, checks), so the
plan is split into shards and each shard is scanned by its own process with its own event
loop, ``ProbeContext`` (limits, probe cache) and ``Store`` connection, under the parent's
scan id. Every finished target is committed by the worker that probed it (one transaction
per target, as in a single-process scan), so an interrupted or failed multi-process scan
keeps what it finished and ``--resume`` continues it.

Sharding is by zone: a zone probe reads the zone's inventory hosts (their CNAME chains count
for DNSSEC), and ``run_scan`` finds them in its own sub-plan, so a zone and all of its hosts
must be in one shard. Nested zones (``example.vn`` and ``sub.example.vn``) share the hosts
below the inner one and therefore travel together too.

The parent only starts, watches and stops the workers and counts their progress; it
begins and finishes the scan row. Ctrl-C reaches the whole process group: workers ignore
SIGINT and the parent, which alone decides, stops them with SIGTERM, which cancels their
scan cleanly (finished targets stay, the target in flight is not stored).
"""

from __future__ import annotations

import contextlib
import heapq
import multiprocessing
import queue
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

import anyio

from auditor.engine import Plan, ProgressFn, TargetDone, hosts_by_zone, make_plan, run_scan
from auditor.model import TargetKind
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.registry import get_check
from auditor.selfcheck import Footing, Vantage, report_to_stderr
from auditor.store import Store, open_store, store_url

# Seconds the parent waits for workers to stop after SIGTERM before killing them. A worker
# stops within milliseconds (every probe is cancellable); this only bounds a stuck one.
STOP_GRACE = 15.0
# Seconds between the parent's checks that its workers are still alive when no progress
# message arrives: a blocking wait, so the idle parent costs no CPU.
POLL = 0.5


# ---------------------------------------------------------------------------
# Sharding (pure)


@dataclass(frozen=True)
class Shard:
    """One worker's part of the plan, in plan order. ``pending`` counts its targets that are
    not done yet (the balancing weight); done targets stay in ``hosts`` so a zone still
    sees all of its hosts, and the worker skips them."""

    hosts: tuple[str, ...]
    zones: tuple[str, ...]
    pending: int


@dataclass(frozen=True)
class _Unit:
    """Targets that must stay together: zones linked by shared hosts, with those hosts (or
    one host in no zone)."""

    first: int  # plan position of its first target: deterministic tie-break
    hosts: frozenset[str]
    zones: frozenset[str]
    pending: int


def _units(plan: Plan, skip: Collection[tuple[str, str]]) -> list[_Unit]:
    zone_hosts = hosts_by_zone(plan.zones, plan.hosts)
    # Union-find over zones: two zones holding the same host (nested zones) are one unit.
    root: dict[str, str] = {z: z for z in plan.zones}

    def find(z: str) -> str:
        while root[z] != z:
            root[z] = root[root[z]]
            z = root[z]
        return z

    owner: dict[str, str] = {}  # host -> a zone holding it
    for zone in plan.zones:
        for host in zone_hosts.get(zone, ()):
            other = owner.setdefault(host, zone)
            a, b = find(zone), find(other)
            if a != b:
                root[b] = a
    position = {("zone", z): i for i, z in enumerate(plan.zones)}
    position.update({("host", h): len(plan.zones) + i for i, h in enumerate(plan.hosts)})
    members: dict[str, tuple[set[str], set[str]]] = {}
    for zone in plan.zones:
        members.setdefault(find(zone), (set(), set()))[1].add(zone)
    for host, zone in owner.items():
        members[find(zone)][0].add(host)
    units: list[_Unit] = []
    for hosts, zones in members.values():
        keys = [(TargetKind.ZONE.value, z) for z in zones]
        keys += [(TargetKind.HOST.value, h) for h in hosts]
        units.append(
            _Unit(
                first=min(position[k] for k in keys),
                hosts=frozenset(hosts),
                zones=frozenset(zones),
                pending=sum(1 for k in keys if k not in skip),
            )
        )
    for host in plan.hosts:
        if host not in owner:
            key = (TargetKind.HOST.value, host)
            pending = 0 if key in skip else 1
            units.append(_Unit(position[key], frozenset({host}), frozenset(), pending))
    return units


def shard_plan(
    plan: Plan, workers: int, skip: Collection[tuple[str, str]] = frozenset()
) -> list[Shard]:
    """Split ``plan`` into at most ``workers`` shards of about equal pending targets.

    Each zone is in exactly one shard, with every plan host inside it; each host is in
    exactly one shard. Units whose targets are all done (``skip``: ``(kind, name)`` as in
    ``Store.done_targets``) are left out, and so are empty shards, so there may be fewer
    shards than ``workers``. Greedy, largest unit first into the least loaded shard (ties:
    plan order, then shard number): the same plan always gives the same shards.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    units = [u for u in _units(plan, skip) if u.pending > 0]
    units.sort(key=lambda u: (-u.pending, u.first))
    count = min(workers, len(units))
    heap = [(0, i) for i in range(count)]
    bins: list[list[_Unit]] = [[] for _ in range(count)]
    for unit in units:
        load, i = heapq.heappop(heap)
        bins[i].append(unit)
        heapq.heappush(heap, (load + unit.pending, i))
    shards: list[Shard] = []
    for group in bins:
        hosts = frozenset().union(*(u.hosts for u in group))
        zones = frozenset().union(*(u.zones for u in group))
        shards.append(
            Shard(
                hosts=tuple(h for h in plan.hosts if h in hosts),
                zones=tuple(z for z in plan.zones if z in zones),
                pending=sum(u.pending for u in group),
            )
        )
    return shards


# ---------------------------------------------------------------------------
# The worker process


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker needs, picklable: check ids instead of CheckSpec objects (their
    functions are found again in the worker's registry)."""

    number: int  # 1-based, for messages
    db_path: str
    scan_id: int
    hosts: tuple[str, ...]
    zones: tuple[str, ...]
    check_ids: tuple[str, ...]
    params: dict[str, dict[str, Any]]
    options: ScanOptions
    skip: frozenset[tuple[str, str]]
    # The scanner's footing, checked once by the parent (auditor.selfcheck); each worker
    # watches its own load and re-checks when its failures pile up.
    footing: Footing | None = None


@dataclass(frozen=True)
class _Done:
    number: int
    kind: str
    name: str


@dataclass(frozen=True)
class _Finished:
    number: int
    stats: dict[str, int]
    stopped: bool  # cancelled by SIGTERM (or the parent's death) before the end
    footing: Footing | None = None  # the worker's final footing (its load, its re-checks)


@dataclass(frozen=True)
class _Failed:
    number: int
    stats: dict[str, int]
    error: str


def describe(exc: BaseException) -> str:
    """``Type: message`` of the first real error (anyio wraps task errors in groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def worker_main(job: WorkerJob, events: Any) -> None:
    """Entry point of a worker process (spawned: nothing inherited but the arguments)."""
    # The parent alone reacts to Ctrl-C and stops us with SIGTERM. It started us with
    # SIGINT blocked, so a Ctrl-C during our start-up waits pending; ignoring it before
    # unblocking discards it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    ctx: ProbeContext | None = None
    vantage: Vantage | None = None
    try:
        ctx = ProbeContext(job.options)
        plan = make_plan(
            job.hosts,
            job.zones,
            [get_check(c) for c in job.check_ids],
            job.params,
            allow_nets=job.options.allow_nets,
            allow_private=job.options.allow_private,
        )
        if job.footing is not None:
            names = (*plan.hosts, *plan.zones)
            vantage = Vantage(job.footing, names, report=_worker_report(job.number))
        with open_store(job.db_path) as store:

            def done(target: TargetDone) -> None:
                events.put(_Done(job.number, target.kind.value, target.name))

            stopped = anyio.run(
                _scan_shard, ctx, plan, store, job, done, vantage, backend="asyncio"
            )
    except BaseException as exc:
        # Reported to the parent, which names it; the traceback goes to stderr for a bug report.
        print(f"auditor: worker {job.number}: {traceback.format_exc()}", file=sys.stderr)
        events.put(_Failed(job.number, dict(ctx.stats) if ctx else {}, describe(exc)))
        raise SystemExit(1) from None
    # Finished: a late SIGTERM must not kill us before the parent has our counters.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    final = vantage.final() if vantage is not None else None
    events.put(_Finished(job.number, dict(ctx.stats), stopped, final))


def _worker_report(number: int) -> Any:
    def report(line: str) -> None:
        report_to_stderr(f"worker {number}: {line}")

    return report


async def _scan_shard(
    ctx: ProbeContext,
    plan: Plan,
    store: Store,
    job: WorkerJob,
    on_done: ProgressFn,
    vantage: Vantage | None = None,
) -> bool:
    """Run the shard; True when stopped early by SIGTERM or by the parent's death."""
    stopped = False
    async with anyio.create_task_group() as tg:

        def stop() -> None:
            nonlocal stopped
            stopped = True
            tg.cancel_scope.cancel()

        async def on_sigterm() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM) as signals:
                async for _ in signals:
                    stop()
                    return

        async def on_orphaned() -> None:
            # A parent killed with SIGKILL cannot stop us: its end of this pipe closes, so
            # it becomes readable, and we stop rather than scan on as an orphan.
            parent = multiprocessing.parent_process()
            if parent is not None:
                await anyio.wait_readable(parent.sentinel)
                stop()

        tg.start_soon(on_sigterm)
        tg.start_soon(on_orphaned)
        await run_scan(
            ctx, plan, store, job.scan_id, skip=set(job.skip), on_done=on_done, vantage=vantage
        )
        tg.cancel_scope.cancel()  # done: end the watchers
    return stopped


# ---------------------------------------------------------------------------
# The parent


@dataclass(frozen=True)
class WorkersResult:
    status: str  # complete | interrupted | failed
    stats: dict[str, int]
    errors: tuple[str, ...]  # one line per failed worker
    footing: Footing | None = None  # the parent's footing merged with every worker's


@dataclass
class _State:
    """What the parent learnt from its workers so far (filled as messages arrive)."""

    stats: Counter[str] = field(default_factory=Counter)
    ended: set[int] = field(default_factory=set)  # workers whose last message arrived/is moot
    errors: dict[int, str] = field(default_factory=dict)
    sigints: int = 0  # Ctrl-C presses seen while the pool lives
    footing: Footing | None = None


class WorkerPool:
    """One process per shard, started on ``__enter__``; ``wait`` relays their progress until
    they end; ``__exit__`` stops and reaps whatever still runs, so no worker outlives the
    pool whatever happened in the parent.

    While the pool lives, Ctrl-C in the parent only sets a flag that ``wait`` acts on (stop
    the workers with SIGTERM; a second Ctrl-C kills them). A KeyboardInterrupt raised
    asynchronously could cut a message read from the worker queue in half and leave the
    pipe unreadable just when the workers' last counters are needed.
    """

    def __init__(
        self,
        db_path: str,
        scan_id: int,
        plan: Plan,
        options: ScanOptions,
        shards: Iterable[Shard],
        skip: Collection[tuple[str, str]] = frozenset(),
        footing: Footing | None = None,
    ) -> None:
        done = frozenset(skip)
        check_ids = tuple(spec.id for spec in plan.checks)
        # Plain dicts: a profile's params may be read-only mappings, which do not pickle.
        params = {cid: dict(p) for cid, p in plan.params.items()}
        self.jobs: list[WorkerJob] = []
        for number, shard in enumerate(shards, start=1):
            targets = {(TargetKind.HOST.value, h) for h in shard.hosts}
            targets |= {(TargetKind.ZONE.value, z) for z in shard.zones}
            self.jobs.append(
                WorkerJob(
                    number=number,
                    db_path=store_url(db_path),
                    scan_id=scan_id,
                    hosts=shard.hosts,
                    zones=shard.zones,
                    check_ids=check_ids,
                    params=params,
                    options=options,
                    skip=done & targets,
                    footing=footing,
                )
            )
        # "spawn": a fresh interpreter per worker. Forking the parent would copy its SQLite
        # connection and threads (rich's refresh thread) into the child.
        self._mp = multiprocessing.get_context("spawn")
        self._events: Any = None
        self._procs: dict[int, BaseProcess] = {}
        self._state = _State(footing=footing)
        self._old_sigint: Any = None
        self._stopping = False
        self.interrupted = False

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs.values() if p.pid is not None]

    # -- life cycle -------------------------------------------------------------
    def __enter__(self) -> WorkerPool:
        self._events = self._mp.Queue()
        # Children inherit the signal mask: with SIGINT blocked they start with a Ctrl-C held
        # back until they ignore it (worker_main). The parent's flag handler gets one sent
        # meanwhile as soon as SIGINT is unblocked: nothing is lost.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            if threading.current_thread() is threading.main_thread():
                self._old_sigint = signal.signal(signal.SIGINT, self._on_sigint)
            for job in self.jobs:
                proc = self._mp.Process(
                    target=worker_main,
                    args=(job, self._events),
                    name=f"auditor-worker-{job.number}",
                    daemon=True,  # multiprocessing also reaps daemons at interpreter exit
                )
                self._procs[job.number] = proc
                proc.start()
        except BaseException:
            self._shutdown()
            raise
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self._state.sigints = max(1, self._state.sigints)
        self._shutdown()

    def _on_sigint(self, signum: int, frame: object) -> None:
        self._state.sigints += 1

    def _shutdown(self) -> None:
        try:
            if self._running():
                if self._state.sigints:
                    self.interrupted = True
                self._stop()
                self._collect(None, deadline=time.monotonic() + STOP_GRACE)
        finally:
            for proc in self._procs.values():
                if proc.pid is not None and proc.exitcode is None:
                    proc.kill()  # finished targets are committed; SQLite rolls back the rest
            for proc in self._procs.values():
                if proc.pid is not None:
                    proc.join(5)
            if self._events is not None:
                self._events.close()
                self._events.cancel_join_thread()  # the parent never puts: nothing to flush
            if self._old_sigint is not None:
                signal.signal(signal.SIGINT, self._old_sigint)
                self._old_sigint = None

    # -- running ------------------------------------------------------------------
    def wait(self, on_done: ProgressFn | None = None) -> WorkersResult:
        """Relay progress until every worker has ended (or Ctrl-C has stopped them)."""
        self._collect(on_done)
        return self.result()

    def result(self) -> WorkersResult:
        s = self._state
        errors = tuple(f"worker {n} of {len(self.jobs)}: {e}" for n, e in sorted(s.errors.items()))
        status = "failed" if errors else "interrupted" if self.interrupted else "complete"
        return WorkersResult(status, dict(sorted(s.stats.items())), errors, s.footing)

    def _running(self) -> list[int]:
        return [n for n, p in self._procs.items() if p.pid is not None and p.exitcode is None]

    def _stop(self) -> None:
        self._stopping = True
        for number in self._running():
            with contextlib.suppress(OSError):
                self._procs[number].terminate()  # SIGTERM: the worker cancels and reports

    def _collect(self, on_done: ProgressFn | None, deadline: float | None = None) -> None:
        while self._running():
            if self._state.sigints and not self._stopping:
                self.interrupted = True
                self._stop()
            if self._state.sigints > 1 or (deadline is not None and time.monotonic() > deadline):
                break  # pressed twice, or a worker does not stop: _shutdown kills the rest
            self._read(on_done, POLL)
            self._check_exits(on_done)
        # Exited workers flushed their last messages to the pipe before they exited.
        while self._read(on_done, 0.05):
            pass
        self._check_exits(on_done)

    def _read(self, on_done: ProgressFn | None, timeout: float) -> bool:
        try:
            message = self._events.get(timeout=timeout)
        except queue.Empty:
            return False
        s = self._state
        if isinstance(message, _Done):
            if on_done is not None:
                on_done(TargetDone(TargetKind(message.kind), message.name, ()))
        elif isinstance(message, _Finished):
            s.ended.add(message.number)
            s.stats.update(message.stats)
            if message.footing is not None:
                s.footing = s.footing.merged(message.footing) if s.footing else message.footing
            if message.stopped and not self._stopping:
                # Nobody here asked it to stop: its shard is incomplete.
                s.errors[message.number] = "stopped by a signal before the end of its shard"
                self._stop()
        elif isinstance(message, _Failed):
            s.ended.add(message.number)
            s.stats.update(message.stats)
            s.errors[message.number] = message.error
            self._stop()  # fail fast, as an error in a single-process scan does
        return True

    def _check_exits(self, on_done: ProgressFn | None) -> None:
        """A worker that died without its last message (killed, out of memory) failed."""
        for number, proc in self._procs.items():
            code = proc.exitcode
            if code is None or number in self._state.ended:
                continue
            while self._read(on_done, 0.05):  # its last message may still be in the pipe
                pass
            if number in self._state.ended:
                continue
            self._state.ended.add(number)
            if not self._stopping:  # when we stopped it, dying early is not its own failure
                self._state.errors[number] = _exit_reason(code, proc.pid)
                self._stop()


def _exit_reason(code: int, pid: int | None) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"process {pid} was killed by {name}"
    return f"process {pid} exited with code {code} without reporting"
