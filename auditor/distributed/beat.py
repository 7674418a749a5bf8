"""``auditor beat``: Celery beat runs the schedule file's schedules as distributed scans.

Celery beat keeps the time: its service loop, its heap of entries, one entry per schedule
whose due times are the schedule's cron in its time zone (:class:`CronSchedule`, the same
croniter computation as ``auditor serve --scheduler``, not Celery's own crontab, whose
day-of-month/day-of-week rule and time-zone handling differ). A due entry does not send a
Celery task: the scan of a schedule is a scan client (submit the shards to the vantages'
queues, follow the store until they have ended, as ``auditor scan --broker`` does), run in
a thread of the beat process by auditor.scheduler's core, which also keeps the rules: a run
missed while beat was down runs once at start, a run due while the previous one is still
going is skipped with a log line, each run is a row of the store's ``schedule_runs``.
Workers (``auditor worker``) probe; beat only plans and follows.

One beat per store: Celery beat is a singleton by design (two would start every run
twice).
"""

from __future__ import annotations

import functools
import logging
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from auditor.distributed import DistributedUnavailable, require
from auditor.inventory import Inventory
from auditor.options import ScanOptions
from auditor.scheduler import (
    LOG,
    MAX_SLEEP_S,
    AfterScan,
    RunError,
    RunFailed,
    RunScan,
    Scheduler,
)
from auditor.schedules import ScheduleSpec
from auditor.service import Note, ScanFailed
from auditor.store import Store


def distributed_run(broker: str, *, app: Any = None) -> RunScan:
    """A schedule's scan through the workers behind ``broker``, every vantage of it."""

    def run(
        store: Store, spec: ScheduleSpec, inventory: Inventory, profile: Any, options: ScanOptions
    ) -> tuple[int, str]:
        from auditor.distributed.client import follow, submit

        def said(event: object) -> None:
            if isinstance(event, Note):
                LOG.info("schedule %s: %s", spec.name, event.text)

        try:
            submitted = submit(
                store, broker, inventory, spec.inventory, profile, options, spec.vantages,
                on_event=said, app=app,
            )  # fmt: skip
        except DistributedUnavailable as exc:  # the broker is out of reach: nothing stored
            raise RunError(str(exc)) from None
        LOG.info(
            "schedule %s: scan %d submitted, %d shard(s) for %s",
            spec.name,
            submitted.scan_id,
            sum(submitted.shards.values()),
            ", ".join(spec.vantages),
        )
        try:
            result = follow(store, submitted)
        except ScanFailed as exc:
            raise RunFailed(exc.scan_id, str(exc)) from None
        return result.scan_id, result.status

    return run


def _utc(moment: datetime) -> datetime:
    # Celery hands naive datetimes in UTC when enable_utc is on and no zone is set.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@functools.cache
def _cron_schedule_class() -> type:
    from celery import schedules

    class CronSchedule(schedules.BaseSchedule):  # type: ignore[misc]
        """Due at the schedule's cron times in its time zone (auditor.schedules)."""

        def __init__(self, spec: ScheduleSpec, nowfun: Callable[[], datetime] | None) -> None:
            super().__init__(nowfun=nowfun or (lambda: datetime.now(UTC)))
            self.spec = spec

        def remaining_estimate(self, last_run_at: datetime) -> timedelta:
            nxt = self.spec.next_run(_utc(last_run_at))
            return max(timedelta(0), nxt - _utc(self.now()))

        def is_due(self, last_run_at: datetime) -> Any:
            """(due, seconds to the next look): due when a cron time came since the last
            run; the next look within MAX_SLEEP_S either way (a clock that jumps)."""
            now = _utc(self.now())
            nxt = self.spec.next_run(_utc(last_run_at))
            if nxt <= now:
                wait = (self.spec.next_run(now) - now).total_seconds()
                return schedules.schedstate(True, min(wait, MAX_SLEEP_S))
            wait = (nxt - now).total_seconds()
            return schedules.schedstate(False, min(max(wait, 0.0), MAX_SLEEP_S))

        def __repr__(self) -> str:
            return f"<cron {self.spec.cron} {self.spec.timezone}>"

        def __reduce__(self) -> Any:
            return (cron_schedule, (self.spec,))

        def __eq__(self, other: object) -> bool:
            return isinstance(other, CronSchedule) and other.spec == self.spec

        def __hash__(self) -> int:
            return hash((self.spec.name, self.spec.cron, self.spec.timezone))

    return CronSchedule


def cron_schedule(spec: ScheduleSpec, nowfun: Callable[[], datetime] | None = None) -> Any:
    """A Celery schedule (``celery.schedules.BaseSchedule``) of the schedule's cron."""
    return _cron_schedule_class()(spec, nowfun)


def scheduler_class(core: Scheduler) -> type:
    """Celery beat's Scheduler class over ``core``: one entry per schedule; a due entry is
    handed to the core (run or skip), never sent as a task."""
    from celery import beat

    class AuditorBeatScheduler(beat.Scheduler):  # type: ignore[misc]
        # No producer: nothing is sent from beat's loop (the scan client sends the shards).
        producer = None

        def setup_schedule(self) -> None:
            now = datetime.now(UTC)
            self.data = {
                spec.name: self.Entry(
                    name=spec.name,
                    task="auditor.schedule",  # a label: the entry is never sent
                    schedule=cron_schedule(spec),
                    last_run_at=now,
                    app=self.app,
                )
                for spec in core.schedules
            }
            # The missed runs (once each) and the runs a stopped beat left open: the
            # entries start from now, so Celery does not fire the missed ones again.
            core.prepare()

        def apply_entry(self, entry: Any, producer: Any = None) -> None:
            core.fire(entry.name, datetime.now(UTC))

        def sync(self) -> None:
            pass  # the state is the store's (schedule_runs), written as runs happen

    return AuditorBeatScheduler


def run_beat(
    broker: str,
    db: str,
    schedules: tuple[ScheduleSpec, ...],
    *,
    after_scan: AfterScan | None = None,
    loglevel: str = "INFO",
) -> None:
    """Run Celery beat over ``schedules`` until SIGTERM or Ctrl-C."""
    require()
    from celery import beat

    from auditor.distributed.app import check_broker, make_app

    app = make_app(broker)
    check_broker(app, broker)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("auditor.scheduler", "celery.beat"):
        log = logging.getLogger(name)
        log.addHandler(handler)
        log.setLevel(loglevel)
    core = Scheduler(
        db, schedules, run_scan=distributed_run(broker, app=app), after_scan=after_scan
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    service = beat.Service(app, max_interval=MAX_SLEEP_S, scheduler_cls=scheduler_class(core))
    try:
        service.start()
    finally:
        core.stop()


__all__ = [
    "DistributedUnavailable",
    "cron_schedule",
    "distributed_run",
    "run_beat",
    "scheduler_class",
]
