"""The runs of scheduled scans in the store (revision 0005) on every backend: a run begun and
ended, a skipped run recorded as ended, each schedule's latest run, and the runs a dead
scheduler left "running" marked abandoned, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest

from auditor.store import Store

HOSTILE_NAME = "tuần <b>\x00\uffff"  # NUL and U+FFFF round-trip (schema.StoreText)


def test_a_run_is_begun_and_ended_with_its_scan(store: Store) -> None:
    run = store.begin_schedule_run("weekly", "2026-12-06T19:00:00+00:00")
    [running] = store.schedule_runs("weekly")
    assert (running.id, running.status, running.finished, running.scan_id) == (
        run,
        "running",
        None,
        None,
    )
    scan = store.begin_scan(
        profile="vn-gov",
        inventory_path="/inv.yaml",
        inventory_name="Tỉnh",
        inventory={"agencies": []},
        options={},
    )
    store.end_schedule_run(run, "complete", scan)
    [done] = store.schedule_runs()
    assert done.status == "complete" and done.scan_id == scan and done.finished is not None
    assert done.due == "2026-12-06T19:00:00+00:00" and done.schedule == "weekly"


def test_latest_run_of_each_schedule_skipped_ones_included(store: Store) -> None:
    a1 = store.begin_schedule_run("a", "2026-12-01T00:00:00+00:00")
    store.end_schedule_run(a1, "failed", None, "a worker failed")
    store.begin_schedule_run(HOSTILE_NAME, "2026-12-01T00:00:00+00:00")
    skipped = store.begin_schedule_run(
        "a", "2026-12-01T00:01:00+00:00", "skipped", "the run of 00:00 is still going"
    )
    last = store.last_schedule_runs()
    assert set(last) == {"a", HOSTILE_NAME}
    assert last["a"].id == skipped and last["a"].status == "skipped"
    assert last["a"].finished is not None and "still going" in last["a"].detail
    assert [r.id for r in store.schedule_runs("a")] == [skipped, a1]  # newest first
    assert len(store.schedule_runs(limit=1)) == 1


def test_runs_left_running_are_abandoned_for_the_schedules_named(store: Store) -> None:
    store.begin_schedule_run("a", "2026-12-01T00:00:00+00:00")
    other = store.begin_schedule_run("b", "2026-12-01T00:00:00+00:00")
    assert store.abandon_schedule_runs(["a"], "the scheduler started again") == 1
    assert store.abandon_schedule_runs([], "nothing") == 0
    last = store.last_schedule_runs()
    assert last["a"].status == "abandoned" and last["a"].finished is not None
    assert last["b"].id == other and last["b"].status == "running"


def test_an_unknown_status_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="schedule run status"):
        store.begin_schedule_run("a", "2026-12-01T00:00:00+00:00", "done")
