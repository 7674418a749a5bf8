"""Runners: who runs a scan's shards. In this process, or in ``--workers N`` processes.

A :class:`Runner` takes the scan's :class:`~auditor.shards.ScanSpec` and its shards and runs
each with :func:`auditor.shards.run_shard`, relaying progress (``on_done``) and what the
footing watch says (``report``). Whatever ends the run (done, Ctrl-C, a failed worker, a bug),
it hands its :class:`RunOutcome` to ``settle`` exactly once, so the service records the scan.

:class:`ProcessRunner` (a province-scale scan is CPU-bound on one core: TLS handshakes,
parsing, checks) runs one shard per process of a standard ``ProcessPoolExecutor`` ("spawn":
a fresh interpreter, nothing inherited but the arguments). Each worker opens the store
itself and commits every finished target on its own, so an interrupted or failed run keeps
what it finished and ``--resume`` continues it. Its guarantees:

- Ctrl-C: the workers are started with SIGINT blocked and ignore it; the parent alone
  decides, and sets a stop event the workers poll (they cancel cleanly: finished targets
  stay, those in flight are not stored). A second Ctrl-C kills them.
- a killed worker (the OOM killer) fails the run, naming the worker, its process id and how
  it ended; the others are stopped.
- a killed parent leaves no orphan: each worker watches its parent and stops when it dies.
- progress, notes and each shard's counters travel over one queue.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

import anyio

from auditor.engine import Plan, ProgressFn, TargetDone
from auditor.model import TargetKind
from auditor.selfcheck import Footing
from auditor.shards import (
    Report,
    ScanSpec,
    Shard,
    ShardResult,
    ShardRun,
    merge_results,
    run_shard,
    split,
    whole,
)
from auditor.store import Sink, open_store

# Seconds the parent waits for stopped workers to end before killing them. A worker stops
# within a fraction of a second (every probe is cancellable); this only bounds a stuck one.
STOP_GRACE = 15.0
# Seconds between the parent's looks at its workers when no message arrives: a blocking
# wait, so the idle parent costs no CPU.
POLL = 0.5


@dataclass(frozen=True)
class RunOutcome:
    status: str  # complete | interrupted | failed
    stats: dict[str, int]  # every shard's counters, summed
    footing: Footing | None  # the scan's footing merged with every shard's final one
    errors: tuple[str, ...] = ()  # one line per failed worker


Settle = Callable[[RunOutcome], None]


class Runner(Protocol):
    """Runs the shards of one scan; see the module's docstring."""

    def shards(self, plan: Plan, skip: set[tuple[str, str]]) -> list[Shard]:
        """The plan's targets not in ``skip``, cut into this runner's shards."""
        ...

    def run(
        self,
        spec: ScanSpec,
        shards: Sequence[Shard],
        sink: Sink,
        *,
        on_done: ProgressFn,
        report: Report,
        settle: Settle,
    ) -> None:
        """Run every shard; ``settle`` gets the outcome once, even when this raises."""
        ...


def describe(exc: BaseException) -> str:
    """``Type: message`` of the first real error (anyio wraps task errors in groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ---------------------------------------------------------------------------
# In this process


@dataclass(frozen=True)
class InProcessRunner:
    """The whole plan as one shard in this process's event loop, into the caller's store.
    Ctrl-C (KeyboardInterrupt) ends it as "interrupted"."""

    def shards(self, plan: Plan, skip: set[tuple[str, str]]) -> list[Shard]:
        return [whole(plan, skip)]

    def run(
        self,
        spec: ScanSpec,
        shards: Sequence[Shard],
        sink: Sink,
        *,
        on_done: ProgressFn,
        report: Report,
        settle: Settle,
    ) -> None:
        runs = [ShardRun(spec, s, report=report) for s in shards]
        status = "failed"
        try:
            for run in runs:
                anyio.run(run.run, sink, on_done, backend="asyncio")
            status = "complete"
        except KeyboardInterrupt:
            status = "interrupted"
        finally:
            results = [r.result() for r in runs]
            stats, footing = merge_results(results, spec.footing)
            if len(results) == 1:
                footing = results[0].footing  # this process watched it from the start
            settle(RunOutcome(status, stats, footing))


# ---------------------------------------------------------------------------
# In worker processes: messages (worker -> parent, over one queue)


@dataclass(frozen=True)
class _Started:
    number: int
    pid: int


@dataclass(frozen=True)
class _Done:
    number: int
    kind: str
    name: str


@dataclass(frozen=True)
class _Note:
    number: int
    line: str


@dataclass(frozen=True)
class _Ended:
    number: int
    result: ShardResult | None  # None: failed with ``error``
    error: str = ""
    signalled: bool = False  # stopped by SIGTERM, not by the parent's stop event


# What a worker process keeps between its initializer and its task (one per process).
_worker: dict[str, Any] = {}


def _init_worker(events: Any, stop: Any) -> None:
    """ProcessPoolExecutor initializer: runs first in every worker process."""
    # The parent alone reacts to Ctrl-C. It started us with SIGINT blocked, so a Ctrl-C
    # during our start-up waits pending; ignoring it before unblocking discards it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _worker.update(events=events, stop=stop, signalled=False, busy=False)

    def on_sigterm(signum: int, frame: object) -> None:
        # SIGTERM: the pool stopping us after another worker died, or anyone. Idle, there
        # is nothing to save; inside a shard, stop as the stop event does, then leave
        # rather than return to a pool that is broken (_work).
        if not _worker["busy"]:
            os._exit(0)
        _worker["signalled"] = True

    signal.signal(signal.SIGTERM, on_sigterm)


def _orphaned() -> bool:
    """The parent died (SIGKILL leaves it no time to stop us): scan on as no orphan."""
    parent = multiprocessing.parent_process()
    return parent is not None and not parent.is_alive()


def _work(spec: ScanSpec, shard: Shard) -> ShardResult | None:
    """The task of one worker process: one shard, into the store the worker opens."""
    events = _worker["events"]
    stop_event = _worker["stop"]
    orphaned = False

    def stop() -> bool:
        nonlocal orphaned
        orphaned = orphaned or _orphaned()
        return orphaned or bool(_worker["signalled"]) or stop_event.is_set()

    def done(target: TargetDone) -> None:
        events.put(_Done(shard.number, target.kind.value, target.name))

    def report(line: str) -> None:
        events.put(_Note(shard.number, line))

    _worker["busy"] = True
    events.put(_Started(shard.number, os.getpid()))
    result: ShardResult | None = None
    try:
        with open_store(spec.store) as store:
            result = run_shard(spec, shard, store, on_done=done, report=report, stop=stop)
    except BaseException as exc:
        # Reported to the parent, which names it; the traceback goes to stderr for a bug report.
        print(f"auditor: worker {shard.number}: {traceback.format_exc()}", file=sys.stderr)
        events.put(_Ended(shard.number, None, describe(exc)))
    else:
        events.put(_Ended(shard.number, result, signalled=bool(_worker["signalled"])))
    if orphaned:
        # Nobody reads anything any more: leave at once (a full pipe could block a flush).
        events.cancel_join_thread()
        os._exit(0)
    # One shard per worker: flush our messages before the pool hears we are done, so the
    # last counters are there when it looks.
    events.close()
    events.join_thread()
    if _worker["signalled"]:
        # Stopped by SIGTERM: a pool that sends it is broken, and would never ask us for
        # more work nor let us go: leave now.
        os._exit(0)
    _worker["busy"] = False
    return result


# ---------------------------------------------------------------------------
# In worker processes: the parent


@dataclass
class _State:
    """What the parent learnt from its workers so far (filled as messages arrive)."""

    pids: dict[int, int] = field(default_factory=dict)  # shard number -> process id
    results: dict[int, ShardResult] = field(default_factory=dict)
    ended: set[int] = field(default_factory=set)
    signalled: list[int] = field(default_factory=list)  # stopped by SIGTERM, in order
    errors: dict[int, str] = field(default_factory=dict)
    sigints: int = 0  # Ctrl-C presses seen while the workers run
    stopping: bool = False
    interrupted: bool = False


class ProcessRunner:
    """``--workers N``: at most N shards, one per process of a ProcessPoolExecutor.

    While the workers run, Ctrl-C in the parent only counts presses (a KeyboardInterrupt
    raised asynchronously could cut a message read from the queue in half just when the
    workers' last counters are needed); the wait loop acts on them."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.pids: list[int] = []  # the worker processes, once started (tests look)

    def shards(self, plan: Plan, skip: set[tuple[str, str]]) -> list[Shard]:
        return split(plan, self.workers, skip)

    def run(
        self,
        spec: ScanSpec,
        shards: Sequence[Shard],
        sink: Sink,
        *,
        on_done: ProgressFn,
        report: Report,
        settle: Settle,
    ) -> None:
        state = _State()
        try:
            if shards:
                self._run(spec, shards, state, on_done, report)
        except KeyboardInterrupt:
            state.interrupted = True
        finally:
            stats, footing = merge_results(list(state.results.values()), spec.footing)
            total = len(shards)
            errors = tuple(f"worker {n} of {total}: {e}" for n, e in sorted(state.errors.items()))
            status = "failed" if errors else "interrupted" if state.interrupted else "complete"
            settle(RunOutcome(status, stats, footing, errors))

    def _run(
        self,
        spec: ScanSpec,
        shards: Sequence[Shard],
        state: _State,
        on_done: ProgressFn,
        report: Report,
    ) -> None:
        # "spawn": forking the parent would copy its store connection and threads (rich's
        # refresh thread, the pool's own) into the children.
        mp = multiprocessing.get_context("spawn")
        events: Any = mp.Queue()
        stop = mp.Event()
        old_sigint: Any = None

        def on_sigint(signum: int, frame: object) -> None:
            state.sigints += 1

        pool = ProcessPoolExecutor(
            max_workers=len(shards),
            mp_context=mp,
            initializer=_init_worker,
            initargs=(events, stop),
        )
        processes: dict[int, BaseProcess] = {}
        futures: list[Future[ShardResult | None]] = []
        try:
            # The pool starts a process per task as it is submitted. Children inherit the
            # signal mask: with SIGINT blocked they start with a Ctrl-C held back until
            # they ignore it (_init_worker); the parent's counting handler gets one sent
            # meanwhile as soon as SIGINT is unblocked: nothing is lost.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                if threading.current_thread() is threading.main_thread():
                    old_sigint = signal.signal(signal.SIGINT, on_sigint)
                futures = [pool.submit(_work, spec, shard) for shard in shards]
                # The pool's own handles on its processes (it forgets them on shutdown):
                # only they know how a worker that died without a word ended.
                processes = dict(getattr(pool, "_processes", None) or {})
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            self.pids = sorted(processes)
            self._wait(futures, state, events, stop, processes, on_done, report)
        finally:
            try:
                if any(not f.done() for f in futures):
                    stop.set()
                    self._kill(processes)  # still running after the wait: pressed twice
                pool.shutdown(wait=True, cancel_futures=True)
                self._drain(events, state, futures, on_done, report)
                for f in futures:
                    r = f.result() if f.done() and not f.cancelled() and not f.exception() else None
                    if r is not None:
                        state.results.setdefault(r.number, r)
                self._blame(state, shards, processes, futures)
            finally:
                events.close()
                events.cancel_join_thread()  # the parent never puts: nothing to flush
                if old_sigint is not None:
                    signal.signal(signal.SIGINT, old_sigint)

    def _wait(
        self,
        futures: list[Future[ShardResult | None]],
        state: _State,
        events: Any,
        stop: Any,
        processes: dict[int, BaseProcess],
        on_done: ProgressFn,
        report: Report,
    ) -> None:
        """Relay progress until every worker has ended (or Ctrl-C twice)."""
        deadline: float | None = None
        while not all(f.done() for f in futures):
            if state.sigints and not state.stopping:
                state.interrupted = True
            if (state.interrupted or state.errors) and not state.stopping:
                state.stopping = True
                stop.set()
            if state.stopping and deadline is None:
                deadline = time.monotonic() + STOP_GRACE
            if state.sigints > 1 or (deadline is not None and time.monotonic() > deadline):
                self._kill(processes)  # pressed twice, or a worker does not stop
                return
            self._read(events, state, futures, on_done, report, POLL)

    def _read(
        self,
        events: Any,
        state: _State,
        futures: list[Future[ShardResult | None]],
        on_done: ProgressFn,
        report: Report,
        timeout: float,
    ) -> bool:
        try:
            message = events.get(timeout=timeout)
        except (queue.Empty, OSError, EOFError, ValueError):
            return False
        if isinstance(message, _Started):
            state.pids[message.number] = message.pid
        elif isinstance(message, _Done):
            on_done(TargetDone(TargetKind(message.kind), message.name, ()))
        elif isinstance(message, _Note):
            report(f"worker {message.number}: {message.line}")
        elif isinstance(message, _Ended):
            state.ended.add(message.number)
            if message.result is not None:
                state.results[message.number] = message.result
            if message.error:
                state.errors[message.number] = message.error  # fail fast, as one process does
            if message.signalled:
                state.signalled.append(message.number)  # judged once all is known (_blame)
        return True

    def _drain(
        self,
        events: Any,
        state: _State,
        futures: list[Future[ShardResult | None]],
        on_done: ProgressFn,
        report: Report,
    ) -> None:
        # Exited workers flushed their last messages to the pipe before they exited.
        while self._read(events, state, futures, on_done, report, 0.05):
            pass

    def _blame(
        self,
        state: _State,
        shards: Sequence[Shard],
        processes: dict[int, BaseProcess],
        futures: list[Future[ShardResult | None]],
    ) -> None:
        """Who failed a pool that broke (a worker process ended in the middle of its shard)
        when nobody here stopped it: a worker that ended without its last message (killed,
        out of memory) failed; when every worker spoke, the first one stopped by SIGTERM
        did (after a death the pool stops the others with SIGTERM: not their fault)."""
        if not _broken(futures) or state.interrupted:
            return
        by_pid = {pid: n for n, pid in state.pids.items()}
        silent = False
        for pid, proc in processes.items():
            number = by_pid.get(pid)
            if number is None or number in state.ended:
                continue
            proc.join(5)
            state.ended.add(number)
            silent = True
            state.errors.setdefault(number, _exit_reason(proc.exitcode, pid))
        for shard in shards:
            if shard.number not in state.ended and shard.number not in state.pids:
                silent = True
                state.errors.setdefault(shard.number, "its process ended before it started")
        if not silent and not state.errors and state.signalled:
            first = state.signalled[0]
            state.errors[first] = "stopped by a signal before the end of its shard"

    @staticmethod
    def _kill(processes: dict[int, BaseProcess]) -> None:
        for proc in processes.values():
            with contextlib.suppress(OSError, ValueError, AttributeError):
                if proc.exitcode is None:
                    proc.kill()  # finished targets are committed; SQLite rolls back the rest


def _broken(futures: list[Future[ShardResult | None]]) -> bool:
    return any(
        f.done() and not f.cancelled() and isinstance(f.exception(), BrokenProcessPool)
        for f in futures
    )


def _exit_reason(code: int | None, pid: int | None) -> str:
    if code is None:
        return f"process {pid} ended without reporting"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"process {pid} was killed by {name}"
    return f"process {pid} exited with code {code} without reporting"


__all__ = [
    "InProcessRunner",
    "ProcessRunner",
    "RunOutcome",
    "Runner",
    "describe",
]
