"""``auditor worker``, ``auditor beat`` and ``auditor status``, and the distributed path of
``auditor scan --broker`` (auditor.distributed: Celery workers, one queue per vantage).

Exit codes as for a local scan: 0 done; 1 a shard failed (the rest is stored; continue
with --resume); 2 bad input, a broker that cannot be reached, Celery not installed; 130
interrupted (the client stops following; the workers go on). ``auditor status``: 0, or 1
when the scan has failed shards.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from auditor.cli.common import (
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Presenter,
    UsageError,
    positive_workers,
)
from auditor.distributed import SHARD_SIZE
from auditor.inventory import Inventory
from auditor.model import LOCAL_VANTAGE, vantage_problem
from auditor.options import ScanOptions
from auditor.service import ScanFailed
from auditor.store import Store, open_store


def parse_vantages(text: str | None) -> tuple[str, ...]:
    """``--vantage A,B``: each name valid (auditor.model.vantage_problem), none twice."""
    if not text:
        return (LOCAL_VANTAGE,)
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",")))
    for name in names:
        problem = vantage_problem(name)
        if problem:
            raise UsageError(f"--vantage: {problem}")
    return names


def check_broker_url(url: str) -> str:
    scheme = url.partition("://")[0]
    if scheme not in ("redis", "rediss", "amqp", "amqps", "pyamqp"):
        raise UsageError(f"--broker {url!r}: expected redis://HOST:6379/0 (or amqp://...)")
    return url


def _unavailable(exc: Exception) -> UsageError:
    return UsageError(str(exc))


def distributed_scan(
    args: argparse.Namespace,
    store: Store,
    inventory: Inventory,
    inv_path: str,
    profile: Any,
    options: ScanOptions,
) -> tuple[int, str] | int:
    """``auditor scan --broker``: (scan id, status) once it ended, or an exit code."""
    from auditor.distributed import DistributedUnavailable
    from auditor.distributed.client import follow, submit

    broker = check_broker_url(args.broker)
    vantages = parse_vantages(args.vantage)
    with Presenter(not args.quiet and not args.detach) as show:
        try:
            submitted = submit(
                store,
                broker,
                inventory,
                inv_path,
                profile,
                options,
                vantages,
                resume=args.resume,
                shard_size=args.shard_size,
                on_event=show,
            )
        except DistributedUnavailable as exc:
            raise _unavailable(exc) from None
        if args.detach:
            show.close()
            print(submitted.scan_id)
            print(
                f"auditor: scan {submitted.scan_id} submitted: {sum(submitted.shards.values())} "
                f"shard(s) for vantage(s) {', '.join(vantages)}; follow it with auditor status "
                f"--db {args.db} --scan {submitted.scan_id}",
                file=sys.stderr,
            )
            return EXIT_OK
        try:
            result = follow(store, submitted, on_event=show)
        except KeyboardInterrupt:
            show.close()
            print(
                f"auditor: interrupted: stopped following scan {submitted.scan_id}; the workers"
                f" go on (auditor status --db {args.db} --scan {submitted.scan_id})",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        except ScanFailed:
            raise
    if result.status == "running":
        open_ = sorted({s.vantage for s in store.shards(result.scan_id) if s.status not in
                        ("done", "failed")})  # fmt: skip
        print(
            f"auditor: vantage(s) {', '.join(vantages)} done; scan {result.scan_id} goes on "
            f"for vantage(s) {', '.join(open_)} (auditor status --db {args.db})",
            file=sys.stderr,
        )
        return EXIT_OK
    return result.scan_id, result.status


def cmd_worker(args: argparse.Namespace) -> int:
    from auditor.distributed import DistributedUnavailable
    from auditor.distributed.worker import start_worker

    broker = check_broker_url(args.broker)
    problem = vantage_problem(args.vantage)
    if problem:
        raise UsageError(f"--vantage: {problem}")
    limiter = args.limiter or (broker if broker.startswith(("redis://", "rediss://")) else None)
    if limiter is None:
        print(
            "auditor worker: the broker is not Redis: the per-address limit is counted in "
            "each worker process (give --limiter redis://... to share it)",
            file=sys.stderr,
        )
    try:
        start_worker(
            broker,
            args.db,
            args.vantage,
            concurrency=args.concurrency,
            limiter=limiter,
            visibility_timeout=args.visibility_timeout,
            loglevel=args.loglevel,
        )
    except DistributedUnavailable as exc:
        raise _unavailable(exc) from None
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from auditor.distributed.client import finish_if_ended, progress

    with open_store(args.db, create=False) as store:
        if args.scan is not None:
            try:
                scan = store.scan(args.scan)
            except KeyError as exc:
                raise UsageError(str(exc).strip("'\"")) from None
        else:
            found = store.latest_scan(status=None, kind="scan")
            if found is None:
                raise UsageError(f"no scan in {args.db}")
            scan = found
        if scan.status == "running" and finish_if_ended(store, scan.id) is not None:
            scan = store.scan(scan.id)  # a detached scan whose shards have all ended
        print(
            f"scan {scan.id} {scan.status}: {scan.inventory_name} (profile {scan.profile}), "
            f"started {scan.started}" + (f", finished {scan.finished}" if scan.finished else "")
        )
        rows = progress(store, scan.id)
        failed = False
        for row in rows:
            shards = ", ".join(f"{n} {status}" for status, n in row.shards.items() if n)
            percent = 100 * row.done // max(1, row.total)
            print(
                f"  vantage {row.vantage}: {row.done}/{row.total} targets ({percent}%)"
                + (f"; shards: {shards}" if shards else "")
            )
            for s in row.failed:
                failed = True
                print(
                    f"    failed: shard {s.number} ({s.size} targets, {s.attempts} attempts):"
                    f" {s.reason or 'no reason recorded'}"
                )
        if not rows:
            print("  no target finished yet")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_beat(args: argparse.Namespace) -> int:
    from auditor.distributed import DistributedUnavailable
    from auditor.distributed.beat import run_beat
    from auditor.schedules import check_schedules

    broker = check_broker_url(args.broker)
    found, errors = check_schedules(args.schedules)
    for e in errors:
        print(str(e), file=sys.stderr)
    if found is None:
        return EXIT_INPUT
    from auditor.alerts.scheduled import alerts_after_scan, schedule_alert_errors

    if bad := schedule_alert_errors(found.schedules):
        for problem in bad:
            print(problem, file=sys.stderr)
        return EXIT_INPUT
    with open_store(args.db, create=False):
        pass  # the store must exist (the workers write to it): a typo is not a new store
    print(
        f"auditor beat: {len(found.schedules)} schedule(s) from {args.schedules}",
        file=sys.stderr,
    )
    try:
        run_beat(
            broker, args.db, found.schedules, after_scan=alerts_after_scan, loglevel=args.loglevel
        )
    except DistributedUnavailable as exc:
        raise _unavailable(exc) from None
    return EXIT_OK


def add_scan_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("distributed (Celery workers; pip install '.[distributed]')")
    g.add_argument(
        "--broker",
        metavar="URL",
        help="submit the scan to the workers behind this broker (redis://HOST:6379/0) instead"
        " of scanning here; --db must be a store the workers reach too",
    )
    g.add_argument(
        "--vantage",
        metavar="A,B,...",
        help="with --broker: probe every target from each of these vantages (each its own"
        " queue, served by its workers; default 'local')",
    )
    g.add_argument(
        "--detach",
        action="store_true",
        help="with --broker: print the scan id and return (follow it with auditor status)",
    )
    g.add_argument(
        "--shard-size",
        type=positive_workers,
        default=SHARD_SIZE,
        metavar="N",
        help=f"with --broker: targets per shard (default {SHARD_SIZE})",
    )


def register(sub: Any) -> None:
    p = sub.add_parser("worker", help="run a Celery worker of one vantage (distributed scans)")
    p.add_argument("--broker", required=True, metavar="URL", help="redis://HOST:6379/0")
    p.add_argument("--db", required=True, metavar="URL", help="the store the scans write to")
    p.add_argument(
        "--vantage",
        default=LOCAL_VANTAGE,
        metavar="NAME",
        help="the vantage this worker serves (its network; default 'local')",
    )
    p.add_argument(
        "--concurrency",
        type=positive_workers,
        default=2,
        metavar="N",
        help="shards at once, one process each (default 2)",
    )
    p.add_argument(
        "--limiter",
        metavar="URL",
        help="Redis for the shared per-address limit (default: the broker, when it is Redis)",
    )
    p.add_argument(
        "--visibility-timeout",
        type=float,
        default=3600.0,
        metavar="S",
        help="seconds before a shard delivered to a lost worker is delivered again (Redis;"
        " default 3600: longer than any shard)",
    )
    p.add_argument(
        "--loglevel",
        default="WARNING",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="Celery's log level (default WARNING)",
    )
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser(
        "beat",
        help="run the schedule file's scans through the workers (Celery beat)",
        description="Celery beat over a schedule file (docs/OPERATIONS.md): each due run"
        " is a distributed scan (as auditor scan --broker) followed to its end; a run missed"
        " while beat was down runs once at start, a run due while the previous one is still"
        " going is skipped. One beat per store.",
    )
    p.add_argument("--broker", required=True, metavar="URL", help="redis://HOST:6379/0")
    p.add_argument("--db", required=True, metavar="URL", help="the store the workers write to")
    p.add_argument("--schedules", required=True, metavar="FILE", help="the schedule file")
    p.add_argument(
        "--loglevel",
        default="INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="log level of the runs and of Celery beat (default INFO)",
    )
    p.set_defaults(func=cmd_beat)

    p = sub.add_parser("status", help="progress of a distributed scan, per vantage")
    p.add_argument("--db", required=True, metavar="URL", help="the store")
    p.add_argument("--scan", type=int, help="scan id (default: the latest scan)")
    p.set_defaults(func=cmd_status)


__all__ = ["add_scan_options", "distributed_scan", "parse_vantages", "register"]
