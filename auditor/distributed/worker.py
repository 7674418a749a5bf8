"""``auditor worker``: a Celery worker that runs shards of one vantage.

The task, :func:`run_task`, runs one shard: it opens the store (once per pool process, after
the fork), checks the scanner's footing at this vantage once per scan and records it
(``Store.record_vantage``: the vantage's findings are judged with it), runs the shard in its
own event loop (``run_shard_async`` with the Redis-backed per-address limiter) and records
the shard's outcome in the store. Written here rather than left to Celery, and why:

- attempts are counted in the store (``Store.shard_started``), not in the message: a worker
  lost mid-shard (SIGKILL) never gets to count its attempt in a message, and a shard that
  kills its worker every time must still end. A shard delivered more than MAX_ATTEMPTS
  times, or failing MAX_ATTEMPTS times, is recorded ``failed`` with its reason and
  acknowledged: the rest of the scan completes.
- a failed attempt is retried by Celery (``Task.retry``, after RETRY_DELAY) on the
  vantage's queue.
- a shard the store no longer knows (``--resume`` sent its remaining targets again as new
  shards) is skipped, and so is a shard recorded ``done`` and delivered again (its worker
  was lost after the last target, before the acknowledgement).
- the CA file and the DNSSEC trust anchors travel as their contents (a worker has not the
  client's files); each pool process writes them once to a private directory, named by
  their hash, and points the options at them, so the probes read files as before.

A worker needs only the broker, the store, its vantage and its concurrency; everything
about the scan comes with the shard.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anyio

from auditor.distributed.app import TASK, check_broker, make_app, queue_name
from auditor.distributed.limits import LEASE_MARGIN, RedisAddressLimiter
from auditor.options import ScanOptions
from auditor.runners import describe
from auditor.selfcheck import Footing, footing_sync
from auditor.service import settle_footing
from auditor.shards import ScanSpec, Shard, ShardResult, run_shard_async
from auditor.store import Store, open_store

# Deliveries of one shard before it is recorded failed (failed attempts and lost workers
# together): a flaky store or network gets two more chances, a poison shard ends.
MAX_ATTEMPTS = 3
# Seconds before a failed attempt is delivered again.
RETRY_DELAY = 2.0

# The files a scan's options name, sent as their contents. Not the RPKI data
# (rpki_vrps_file, bgp_table_file): hundreds of megabytes, and a BGP dump's date may come
# from its name or mtime, which a copy loses; workers read them at the client's paths and
# judge the rpki.* checks not_tested where they are missing (docs/DEPLOY.md).
FILE_OPTIONS = ("ca_file", "trust_anchor_file")


def portable(options: ScanOptions) -> tuple[ScanOptions, dict[str, str]]:
    """The options without local file paths, and those files' contents (the client side)."""
    files: dict[str, str] = {}
    changes: dict[str, Any] = {}
    for name in FILE_OPTIONS:
        path = getattr(options, name)
        if path:
            files[name] = Path(path).read_text(encoding="utf-8")
            changes[name] = None
    return replace(options, **changes), files


@dataclass
class _Process:
    """What one pool process keeps between its shards."""

    store: Store | None = None
    pid: int = 0
    footings: dict[int, Footing] = field(default_factory=dict)  # scan id -> footing here
    files_dir: Path | None = None

    def open(self, url: str) -> Store:
        if self.store is None or self.pid != os.getpid():
            self.store = open_store(url, create=False)
            self.pid = os.getpid()
        return self.store

    def materialise(self, options: ScanOptions, files: dict[str, str]) -> ScanOptions:
        if not files:
            return options
        if self.files_dir is None:
            self.files_dir = Path(tempfile.mkdtemp(prefix="auditor-worker-"))
            atexit.register(shutil.rmtree, self.files_dir, True)
        changes: dict[str, Any] = {}
        for name, text in files.items():
            if name not in FILE_OPTIONS:
                continue
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
            path = self.files_dir / f"{name}-{digest}.pem"
            if not path.exists():
                path.write_text(text, encoding="utf-8")
            changes[name] = str(path)
        return replace(options, **changes)


_process = _Process()


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _note(line: str) -> None:
    print(f"auditor worker: {line}", file=sys.stderr, flush=True)


def footing_here(store: Store, spec: ScanSpec, shard: Shard, vantage: str) -> Footing:
    """The scanner's footing at this vantage for the scan: the one recorded already (by
    this or another worker of the vantage), else checked now and recorded."""
    known = _process.footings.get(spec.scan_id)
    if known is not None:
        return known
    recorded = store.vantage_footings(spec.scan_id).get(vantage)
    footing = Footing.from_record(recorded) if recorded else None
    if footing is None:
        names = (*shard.hosts, *shard.zones)
        footing = footing_sync(spec.options, names, _note, {})
        store.record_vantage(spec.scan_id, vantage, footing.to_record())
        _note(f"vantage {vantage}, scan {spec.scan_id}: footing {footing.summary()}")
    _process.footings[spec.scan_id] = footing
    return footing


def _run(spec: ScanSpec, shard: Shard, store: Store, vantage: str, conf: Any) -> ShardResult:
    limiter_url = str(conf.get("auditor_limiter") or "")

    async def main() -> ShardResult:
        limiter = None
        if limiter_url:
            limiter = RedisAddressLimiter(
                limiter_url,
                vantage,
                spec.options.per_address,
                lease=spec.options.target_deadline + LEASE_MARGIN,
                report=_note,
            )
        try:
            return await run_shard_async(
                spec, shard, store, report=_note, vantage=vantage, limiter=limiter
            )
        finally:
            if limiter is not None:
                await limiter.aclose()

    result: ShardResult = anyio.run(main, backend="asyncio")
    return result


def run_task(
    task: Any, spec_json: str, shard_json: str, vantage: str, files: dict[str, str]
) -> str:
    """The body of the Celery task: one shard of one scan from this worker's vantage."""
    conf = task.app.conf
    mine = str(conf.get("auditor_vantage"))
    if vantage != mine:
        # A message in the wrong queue: refuse it loudly rather than judge from elsewhere.
        raise ValueError(f"shard for vantage {vantage!r} delivered to a worker of {mine!r}")
    spec = ScanSpec.from_json(spec_json)
    shard = Shard.from_json(shard_json)
    store = _process.open(str(conf.get("auditor_store")))
    try:
        record = store.shard_started(spec.scan_id, vantage, shard.number, _worker_name())
    except KeyError:
        # ``scan --resume`` forgot this shard and sent its remaining targets again as new
        # shards: this message is an old copy (the broker kept it), nothing to do.
        return "superseded"
    if record.status == "done":
        return "done before"
    if record.attempts > MAX_ATTEMPTS:
        why = record.reason or "its worker was lost each time (killed, out of memory)"
        store.shard_ended(
            spec.scan_id,
            vantage,
            shard.number,
            "failed",
            reason=f"given up after {MAX_ATTEMPTS} attempts: {why}",
        )
        return "failed"
    if record.attempts > 1:
        # a re-delivery (its worker was lost, or it failed): what the earlier attempts
        # stored is done; probe the rest only (a big shard lost near its end costs little)
        shard = shard.without(store.done_targets(spec.scan_id, vantage))
    try:
        options = _process.materialise(spec.options, files)
        spec = replace(spec, options=options)
        footing = footing_here(store, spec, shard, vantage)
        spec = replace(spec, footing=footing)
        result = _run(spec, shard, store, vantage, conf)
    except Exception as exc:
        reason = describe(exc)
        _note(f"shard {shard.number} of scan {spec.scan_id} ({vantage}) failed: {reason}")
        if record.attempts >= MAX_ATTEMPTS:
            store.shard_ended(spec.scan_id, vantage, shard.number, "failed", reason=reason)
            return "failed"
        store.shard_ended(spec.scan_id, vantage, shard.number, "pending", reason=reason)
        raise task.retry(
            countdown=RETRY_DELAY, max_retries=None, queue=queue_name(vantage)
        ) from None
    final = result.footing
    if final is not None and final.evaluation_key() != footing.evaluation_key():
        # A re-check in this shard changed a fact the verdicts rest on: the vantage's footing
        # is each fact at its worst, and every target stored from it is judged again with it
        # (what the one-machine scan's settle does for "local").
        now = store.vantage_footings(spec.scan_id).get(vantage)
        base = Footing.from_record(now) if now else footing
        merged = (base or footing).merged(final)
        store.record_vantage(spec.scan_id, vantage, merged.to_record())
        settle_footing(store, spec.scan_id, spec.plan(shard), footing, merged, vantage)
        _process.footings[spec.scan_id] = merged
    store.shard_ended(
        spec.scan_id,
        vantage,
        shard.number,
        "done",
        stats=result.stats,
        footing=final.to_record() if final is not None else None,
    )
    return "done"


def worker_app(
    broker: str, store_url: str, vantage: str, *, limiter: str | None, visibility_timeout: float
) -> Any:
    """The Celery app of a worker of ``vantage``, with the shard task registered."""
    app = make_app(broker, visibility_timeout=visibility_timeout)
    app.conf.update(
        auditor_store=store_url,
        auditor_vantage=vantage,
        auditor_limiter=limiter or "",
        task_default_queue=queue_name(vantage),
    )

    @app.task(name=TASK, bind=True, acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
    def run_shard_task(
        self: Any, spec_json: str, shard_json: str, vantage: str, files: dict[str, str]
    ) -> str:
        return run_task(self, spec_json, shard_json, vantage, files)

    return app


def start_worker(
    broker: str,
    store_url: str,
    vantage: str,
    *,
    concurrency: int,
    limiter: str | None,
    visibility_timeout: float,
    loglevel: str = "WARNING",
) -> None:
    """Run a Celery worker of ``vantage`` in this process until SIGTERM (warm shutdown:
    running shards end, then it leaves) or SIGQUIT (cold)."""
    app = worker_app(
        broker, store_url, vantage, limiter=limiter, visibility_timeout=visibility_timeout
    )
    check_broker(app, broker)
    # The store must exist and be at this release's schema before any shard arrives.
    with open_store(store_url):
        pass
    app.worker_main(
        argv=[
            "worker",
            f"--queues={queue_name(vantage)}",
            f"--concurrency={concurrency}",
            f"--hostname={vantage}-{os.getpid()}@%h",
            f"--loglevel={loglevel}",
            "--pool=prefork",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


__all__ = ["MAX_ATTEMPTS", "portable", "run_task", "start_worker", "worker_app"]
