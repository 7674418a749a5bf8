"""Running the schedule file's schedules: when a run is due, missed or skipped, and the run.

One core for both front ends: ``auditor serve --scheduler`` (:class:`Scheduler` in a thread
of the dashboard's process, no broker; a scan in a thread of its own, so the served pages'
event loop never waits for one) and ``auditor beat`` (auditor.distributed.beat: Celery
beat decides when, this module what a run does).

The rules (issue #17):

- a run due while the scheduler was not running (the machine was down) runs once when it
  starts, for the latest cron time that came (:func:`auditor.schedules.missed_run`): the
  store's ``schedule_runs`` table says which cron time each schedule last ran for;
- a run due while the previous run of the same schedule is still going is skipped, with a
  log line and a "skipped" row (the dashboard shows it);
- a run left "running" by a scheduler that is gone is marked "abandoned" when the next one
  starts, and counts as missed: it runs once again (a new scan; the unfinished scan row of
  the abandoned run stays as it was, never shown as the latest complete scan).

Written here rather than with APScheduler's job stores: the state a restart needs (the
cron time of each schedule's last run, how it ended, its scan) is the store's, beside the
scans, so the dashboard of any process reads it; the loop that remains is a sleep until
the next due time. Times come from an injected clock, so the rules are tested without
waiting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.inventory import Inventory, InventoryError, check_inventory, load_inventory
from auditor.options import ScanOptions
from auditor.schedules import ScheduleSpec, from_utc, missed_run, scan_options, utc
from auditor.store import Store, open_store

LOG = logging.getLogger("auditor.scheduler")

# The longest the loop sleeps before looking at the clock again: a clock that jumps (NTP, a
# suspended virtual machine) is noticed within this, and a stop request too.
MAX_SLEEP_S = 30.0

Clock = Callable[[], datetime]
# (store, spec, inventory, profile, options) -> (scan id, status): one scan of a schedule.
RunScan = Callable[[Store, ScheduleSpec, Inventory, Any, ScanOptions], tuple[int, str]]
# After every run that stored a scan: the alerts (auditor.alerts.notify_scan) go here.
AfterScan = Callable[[Store, int, ScheduleSpec], None]


def utc_now() -> datetime:
    return datetime.now(UTC)


class RunFailed(Exception):
    """A scan of a schedule failed after it began: its scan id (stored as failed)."""

    def __init__(self, scan_id: int, message: str) -> None:
        super().__init__(message)
        self.scan_id = scan_id


class RunError(Exception):
    """The run could not start its scan (a broker out of reach): its detail, no traceback."""


def local_scan(
    store: Store, spec: ScheduleSpec, inventory: Inventory, profile: Any, options: ScanOptions
) -> tuple[int, str]:
    """A scan on this machine by the scan service, ``spec.workers`` processes."""
    from auditor.service import Note, ScanFailed, ScanService, runner_for

    def said(event: object) -> None:
        if isinstance(event, Note):
            LOG.info("schedule %s: %s", spec.name, event.text)

    try:
        result = ScanService(store, said).scan(
            inventory, spec.inventory, profile, options, runner=runner_for(spec.workers)
        )
    except ScanFailed as exc:
        raise RunFailed(exc.scan_id, str(exc)) from None
    return result.scan_id, result.status


def tested_nothing(store: Store, scan_id: int, inventory: Inventory) -> str | None:
    """Why a complete scan judged nothing (its resolver could resolve none of the names,
    from every vantage), or None. Such a scan is stored (its findings say why) but a
    scheduled run must not look like a good one, as ``auditor scan`` exits 2 for it."""
    from auditor.selfcheck import Footing, footing_of

    names = [*inventory.host_owners(), *inventory.zone_owners()]
    footings = [footing_of(store.scan(scan_id).stats)]
    footings += [Footing.from_record(r) for r in store.vantage_footings(scan_id).values()]
    known = [f for f in footings if f is not None]
    if names and known and all(all(f.resolver_blames(n) for n in names) for f in known):
        return "the scan could not test anything: its resolver cannot resolve names"
    return None


def run_once(
    store: Store,
    spec: ScheduleSpec,
    run_id: int,
    run_scan: RunScan,
    after_scan: AfterScan | None = None,
) -> str:
    """One run of ``spec`` recorded as ``run_id``: read the inventory again (the week's
    edits count), scan, record how it ended, then ``after_scan``. Returns the run's status;
    never raises for the scan's own failures (they are the run's status and detail)."""
    scan_id: int | None = None
    detail = ""
    try:
        from auditor.service import ScanInputError, load_profile

        inventory = load_inventory(spec.inventory)
        for w in check_inventory(spec.inventory)[1]:  # an expired waiver: said, not fatal
            LOG.warning("schedule %s: %s", spec.name, f"{w.file}:{w.line}: {w.field}: {w.message}")
        profile = load_profile(spec.profile or inventory.profile or "vn-gov")
        options = scan_options(spec, ports=inventory.defaults.ports)
        scan_id, status = run_scan(store, spec, inventory, profile, options)
        if status == "complete" and (blind := tested_nothing(store, scan_id, inventory)):
            status, detail = "error", blind
    except RunFailed as exc:
        scan_id, status, detail = exc.scan_id, "failed", str(exc)
    except (InventoryError, ScanInputError, RunError, OSError, ValueError) as exc:
        status, detail = "error", str(exc)
    except Exception as exc:  # a scan must never take the scheduler down with it
        LOG.exception("schedule %s: the run failed", spec.name)
        status, detail = "error", f"{type(exc).__name__}: {exc}"
    if scan_id is not None and after_scan is not None and status == "complete":
        try:
            after_scan(store, scan_id, spec)
        except Exception as exc:
            LOG.exception("schedule %s: after scan %d", spec.name, scan_id)
            detail = f"after the scan: {type(exc).__name__}: {exc}"
    store.end_schedule_run(run_id, status, scan_id, detail)
    LOG.info(
        "schedule %s: run %d %s%s%s",
        spec.name,
        run_id,
        status,
        f" (scan {scan_id})" if scan_id is not None else "",
        f": {detail}" if detail else "",
    )
    return status


@dataclass
class _State:
    spec: ScheduleSpec
    next_due: datetime
    running: threading.Thread | None = None
    running_due: datetime | None = None


class Scheduler:
    """The schedules of one store, run in this process.

    ``start()`` runs the loop in a daemon thread; ``tick()`` is one look at the clock (the
    tests call it with their own clock). Each run opens its own connection to the store
    (``store_url``): the dashboard's connection belongs to its event loop.
    """

    def __init__(
        self,
        store_url: str,
        schedules: tuple[ScheduleSpec, ...],
        *,
        run_scan: RunScan = local_scan,
        after_scan: AfterScan | None = None,
        clock: Clock = utc_now,
        log: logging.Logger = LOG,
    ) -> None:
        self.store_url = store_url
        self.schedules = schedules
        self.run_scan = run_scan
        self.after_scan = after_scan
        self.clock = clock
        self.log = log
        self._states: dict[str, _State] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: Store | None = None

    # -- the decisions ----------------------------------------------------------------------
    def prepare(self) -> list[threading.Thread]:
        """At start: close the runs a gone scheduler left open, run each missed run once,
        and set every schedule's next due time. Returns the runs started."""
        store = self._own_store()
        now = self.clock()
        names = [s.name for s in self.schedules]
        last = store.last_schedule_runs()
        left = store.abandon_schedule_runs(names, "the scheduler stopped while it ran")
        if left:
            self.log.warning("%d scheduled run(s) left running by a stopped scheduler", left)
        started: list[threading.Thread] = []
        for spec in self.schedules:
            state = _State(spec, spec.next_run(now))
            self._states[spec.name] = state
            previous = last.get(spec.name)
            last_due = from_utc(previous.due) if previous else None
            if previous is not None and last_due is not None and previous.status == "running":
                # Its scheduler went down under it: the run did not happen, so its due
                # time counts as missed (run once now) like those that came after it.
                last_due -= timedelta(seconds=1)
            missed = missed_run(spec, last_due, now)
            if missed is not None:
                self.log.info(
                    "schedule %s: the run due at %s was missed (the scheduler was not "
                    "running): it runs now",
                    spec.name,
                    missed.isoformat(),
                )
                started.append(self._launch(state, missed))
        return started

    def tick(self) -> list[threading.Thread]:
        """Start every run due by now; skip (log, record) those whose previous run is still
        going. Returns the runs started."""
        if not self._states:
            return self.prepare()
        now = self.clock()
        started: list[threading.Thread] = []
        for state in self._states.values():
            if state.next_due > now:
                continue
            thread = self.fire(state.spec.name, now)
            if thread is not None:
                started.append(thread)
        return started

    def fire(self, name: str, now: datetime) -> threading.Thread | None:
        """The schedule ``name`` is due at ``now`` (its clock: this loop's, or Celery
        beat's): start its run for the latest cron time, or skip it (logged, recorded)
        while the previous run is still going. The run started, if any."""
        if not self._states:
            self.prepare()
        state = self._states[name]
        # Several due times passed in one sleep (a clock jump): the latest one, once.
        due = state.spec.latest_due(now)
        state.next_due = state.spec.next_run(now)
        if state.running is not None and state.running.is_alive():
            self._skip(state, due)
            return None
        return self._launch(state, due)

    def next_wake(self) -> float:
        """Seconds until the earliest next due time (at most MAX_SLEEP_S)."""
        if not self._states:
            return 0.0
        soonest = min(s.next_due for s in self._states.values())
        return max(0.0, min(MAX_SLEEP_S, (soonest - self.clock()).total_seconds()))

    def next_runs(self) -> dict[str, datetime]:
        return {name: s.next_due for name, s in self._states.items()}

    def _skip(self, state: _State, due: datetime) -> None:
        spec = state.spec
        previous = state.running_due.isoformat() if state.running_due else "?"
        detail = f"the run due at {previous} is still going"
        self.log.warning(
            "schedule %s: the run due at %s is skipped: %s", spec.name, due.isoformat(), detail
        )
        self._own_store().begin_schedule_run(spec.name, utc(due), "skipped", detail)

    def _launch(self, state: _State, due: datetime) -> threading.Thread:
        spec = state.spec
        run_id = self._own_store().begin_schedule_run(spec.name, utc(due))
        self.log.info("schedule %s: run %d for %s starts", spec.name, run_id, due.isoformat())
        thread = threading.Thread(
            target=self._run,
            args=(spec, run_id),
            name=f"schedule-{spec.name}",
            daemon=True,  # a stopping server does not wait for a scan: the next start says so
        )
        state.running, state.running_due = thread, due
        thread.start()
        return thread

    def _run(self, spec: ScheduleSpec, run_id: int) -> None:
        try:
            with open_store(self.store_url) as store:
                run_once(store, spec, run_id, self.run_scan, self.after_scan)
        except Exception:
            self.log.exception("schedule %s: run %d could not be recorded", spec.name, run_id)

    def _own_store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.store_url)
        return self._store

    # -- the loop ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                # A store that is briefly unreachable must not end the schedules for good.
                self.log.exception("scheduler: a look at the schedules failed")
            self._stop.wait(max(0.2, self.next_wake()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=MAX_SLEEP_S)
        if self._store is not None:
            self._store.close()
            self._store = None


__all__ = [
    "AfterScan",
    "RunError",
    "RunFailed",
    "RunScan",
    "Scheduler",
    "local_scan",
    "run_once",
    "tested_nothing",
    "utc_now",
]
