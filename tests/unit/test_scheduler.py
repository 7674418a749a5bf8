"""The scheduler's rules with an injected clock (auditor.scheduler): a run at its cron time,
a run still going when the next is due is skipped with a log line and a "skipped" row, a
run missed while the scheduler was down runs once at start, runs left "running" by a gone
scheduler are abandoned, and ``after_scan`` gets each complete run's scan. The store is a
SQLite file in the test's directory; the scans are stand-ins (the real scan on a one-minute
cron is tests/integration/test_schedules.py)."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from auditor.inventory import Inventory
from auditor.options import ScanOptions
from auditor.scheduler import RunFailed, Scheduler, run_once
from auditor.schedules import ScheduleSpec, utc
from auditor.store import Store, open_store

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
INVENTORY = Path(__file__).resolve().parents[2] / "inventories" / "example.yaml"
MONDAY = datetime(2026, 12, 7, 2, 0, tzinfo=HCM)  # "0 2 * * 1" in Hà Nội


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Scans:
    """A stand-in scan: records its calls, blocks until released when asked to."""

    def __init__(self, block: bool = False) -> None:
        self.calls: list[str] = []
        self.called = threading.Event()
        self.release = threading.Event()
        if not block:
            self.release.set()
        self.status = "complete"

    def __call__(
        self, store: Store, spec: ScheduleSpec, inv: Inventory, profile: Any, opts: ScanOptions
    ) -> tuple[int, str]:
        self.calls.append(spec.name)
        self.called.set()
        assert self.release.wait(30)
        scan_id = store.begin_scan(
            profile=profile.name,
            inventory_path=spec.inventory,
            inventory_name=inv.name,
            inventory=inv.to_dict(),
            options={},
        )
        store.finish_scan(scan_id, self.status)
        return scan_id, self.status


def _spec(name: str = "weekly", cron: str = "0 2 * * 1") -> ScheduleSpec:
    return ScheduleSpec(name=name, inventory=str(INVENTORY), cron=cron)


def _join(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(30)
        assert not t.is_alive()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "auditor.db")


def test_a_run_starts_at_its_cron_time_and_after_scan_gets_its_scan(db: str) -> None:
    clock = Clock(MONDAY - timedelta(minutes=1))
    scans = Scans()
    after: list[tuple[int, str]] = []
    sched = Scheduler(
        db,
        (_spec(),),
        run_scan=scans,
        after_scan=lambda store, scan_id, spec: after.append((scan_id, spec.name)),
        clock=clock,
    )
    assert sched.tick() == []  # the first look: nothing ran before, nothing was missed
    assert sched.next_runs() == {"weekly": MONDAY}
    assert sched.next_wake() == 30.0  # a minute away: look again within MAX_SLEEP_S
    clock.now = MONDAY + timedelta(seconds=3)
    _join(sched.tick())
    assert scans.calls == ["weekly"] and sched.next_runs()["weekly"] == MONDAY + timedelta(7)
    with open_store(db) as store:
        [run] = store.schedule_runs("weekly")
        assert run.status == "complete" and run.due == utc(MONDAY) == "2026-12-06T19:00:00+00:00"
        assert after == [(run.scan_id, "weekly")]
    assert sched.tick() == []  # not due again until next Monday
    sched.stop()


def test_a_run_still_going_when_the_next_is_due_is_skipped_with_a_log_line(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(MONDAY - timedelta(minutes=1))
    scans = Scans(block=True)
    sched = Scheduler(db, (_spec("minutely", "* * * * *"),), run_scan=scans, clock=clock)
    sched.tick()
    clock.now = MONDAY
    first = sched.tick()
    assert len(first) == 1
    caplog.set_level(logging.WARNING, logger="auditor.scheduler")
    clock.now = MONDAY + timedelta(minutes=1)
    assert sched.tick() == []
    assert any(
        "schedule minutely: the run due at 2026-12-07T02:01:00+07:00 is skipped: the run due"
        " at 2026-12-07T02:00:00+07:00 is still going" in r.getMessage()
        for r in caplog.records
    ), caplog.text
    scans.release.set()
    _join(first)
    with open_store(db) as store:
        runs = store.schedule_runs("minutely")
    assert [(r.status, r.due) for r in runs] == [
        ("skipped", utc(MONDAY + timedelta(minutes=1))),
        ("complete", utc(MONDAY)),
    ]
    # the previous run has ended: the next due time runs again
    clock.now = MONDAY + timedelta(minutes=2)
    _join(sched.tick())
    assert scans.calls == ["minutely", "minutely"]
    sched.stop()


def test_a_run_missed_while_down_runs_once_at_start(db: str) -> None:
    with open_store(db) as store:
        done = store.begin_schedule_run("weekly", utc(MONDAY - timedelta(days=21)))
        store.end_schedule_run(done, "complete", 1)
        store.begin_schedule_run("other", utc(MONDAY))
    # three Mondays went by while the machine was down; it starts on a Wednesday
    clock = Clock(MONDAY + timedelta(days=2))
    scans = Scans()
    sched = Scheduler(db, (_spec(), _spec("other")), run_scan=scans, clock=clock)
    _join(sched.tick())
    # once each: "weekly" for the latest Monday; "other" was left running by the
    # scheduler that went down under it: abandoned, and its Monday runs again
    assert sorted(scans.calls) == ["other", "weekly"]
    with open_store(db) as store:
        last = store.last_schedule_runs()
        other = store.schedule_runs("other")
    assert last["weekly"].due == utc(MONDAY) and last["weekly"].status == "complete"
    assert [(r.status, r.due) for r in other] == [
        ("complete", utc(MONDAY)),
        ("abandoned", utc(MONDAY)),
    ]
    assert sched.next_runs()["weekly"] == MONDAY + timedelta(days=7)
    sched.stop()
    # started again the same day: nothing is missed any more
    again = Scheduler(db, (_spec(), _spec("other")), run_scan=scans, clock=clock)
    assert again.tick() == []
    again.stop()


def test_a_clock_jump_over_several_due_times_runs_the_latest_once(db: str) -> None:
    clock = Clock(MONDAY - timedelta(minutes=1))
    scans = Scans()
    sched = Scheduler(db, (_spec("minutely", "* * * * *"),), run_scan=scans, clock=clock)
    sched.tick()
    clock.now = MONDAY + timedelta(minutes=10, seconds=5)
    _join(sched.tick())
    assert scans.calls == ["minutely"]
    with open_store(db) as store:
        [run] = store.schedule_runs()
    assert run.due == utc(MONDAY + timedelta(minutes=10))
    sched.stop()


def test_run_once_records_a_failed_scan_and_an_unreadable_inventory(
    db: str, tmp_path: Path
) -> None:
    def failing(*_args: Any) -> tuple[int, str]:
        raise RunFailed(7, "a worker failed")

    after: list[int] = []
    with open_store(db) as store:
        run = store.begin_schedule_run("weekly", utc(MONDAY))
        status = run_once(store, _spec(), run, failing, lambda s, i, sp: after.append(i))
        assert status == "failed" and after == []  # alerts follow complete scans only
        [rec] = store.schedule_runs()
        assert rec.scan_id == 7 and rec.detail == "a worker failed"
        broken = tmp_path / "broken.yaml"
        broken.write_text("version: 1\nagencies: 3\n", encoding="utf-8")
        spec = ScheduleSpec(name="b", inventory=str(broken), cron="@daily")
        run = store.begin_schedule_run("b", utc(MONDAY))
        assert run_once(store, spec, run, Scans(), None) == "error"
        [rec] = store.schedule_runs("b")
        assert rec.scan_id is None and "broken.yaml:2: agencies" in rec.detail


def test_an_after_scan_that_fails_is_said_in_the_run_not_raised(db: str) -> None:
    def boom(store: Store, scan_id: int, spec: ScheduleSpec) -> None:
        raise ConnectionError("smtp down")

    with open_store(db) as store:
        run = store.begin_schedule_run("weekly", utc(MONDAY))
        assert run_once(store, _spec(), run, Scans(), boom) == "complete"
        [rec] = store.schedule_runs()
        assert rec.scan_id is not None and "ConnectionError: smtp down" in rec.detail


def test_celery_beats_schedule_is_the_same_cron_in_the_same_zone() -> None:
    from auditor.distributed.beat import cron_schedule

    now = MONDAY + timedelta(seconds=5)
    weekly = cron_schedule(_spec(), nowfun=lambda: now)
    due, wait = weekly.is_due(MONDAY - timedelta(days=7))  # last ran a week ago: due now
    assert due and wait == 30.0  # the next look within the loop's longest sleep
    due, wait = weekly.is_due(MONDAY)  # ran for this Monday: not due
    assert not due and 0 < wait <= 30.0
    assert weekly.remaining_estimate(MONDAY) == MONDAY + timedelta(days=7) - now
    assert weekly == cron_schedule(_spec()) and weekly != cron_schedule(_spec("x"))


def test_celery_beats_due_entries_go_to_the_core_and_an_overlap_is_skipped(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The beat glue without a broker: the scheduler class Celery beat instantiates sets up
    one entry per schedule (the missed runs through the core), and a due entry is a run of
    the core (never a task sent), the second while the first goes on skipped."""
    from auditor.distributed.app import make_app
    from auditor.distributed.beat import scheduler_class

    with open_store(db) as store:
        store.begin_schedule_run("weekly", utc(MONDAY - timedelta(days=14)))  # left running
    scans = Scans(block=True)
    core = Scheduler(db, (_spec(),), run_scan=scans)
    beat = scheduler_class(core)(app=make_app("redis://127.0.0.1:9/0"))
    assert set(beat.schedule) == {"weekly"} and beat.producer is None
    entry = beat.schedule["weekly"]
    assert not entry.is_due()[0]  # set up from now: the missed run is the core's, not beat's
    assert scans.called.wait(30)
    assert scans.calls == ["weekly"]  # the abandoned run's Monday and the ones since: once
    caplog.set_level(logging.WARNING, logger="auditor.scheduler")
    beat.apply_entry(entry)
    assert "is skipped" in caplog.text and scans.calls == ["weekly"]
    scans.release.set()
    running = core._states["weekly"].running
    assert running is not None
    _join([running])
    core.stop()
    with open_store(db) as store:
        statuses = [r.status for r in store.schedule_runs("weekly")]
    assert statuses == ["skipped", "complete", "abandoned"]
