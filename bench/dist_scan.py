#!/usr/bin/env python3
"""One distributed scan as one process tree, for bench/run's "distributed" rows.

    python bench/dist_scan.py --broker URL --db URL --workers N [--pool P] -- SCAN_ARGS...

Starts N ``auditor worker`` processes (each with a pool of P shard processes, one event loop
each) as children of this process, waits until each is ready, runs ``auditor scan SCAN_ARGS
--broker URL --db URL`` (the client: submits the shards and follows them), then stops the
workers (warm shutdown) and waits for them. Everything the scan cost, the workers' pools
included, is in this process's children rusage (bench/run measures it with wait4). The
database and the broker are not: their CPU is reported apart (bench/run reads it from /proc).
Exit code: the scan's.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READY_WITHIN = 120.0  # seconds for a worker to connect to the broker and say "ready."


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--broker", required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pool", type=int, default=1, help="shard processes per worker")
    ap.add_argument("scan", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    scan = args.scan[1:] if args.scan[:1] == ["--"] else args.scan
    logs = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    workers: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for i in range(args.workers):
            log = logs / f"worker-{i}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "auditor", "worker", "--broker", args.broker,
                     "--db", args.db, "--concurrency", str(args.pool), "--loglevel", "INFO"],
                    stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            workers.append((proc, log))
        deadline = time.monotonic() + READY_WITHIN
        for proc, log in workers:
            while b" ready." not in log.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.stderr.write(log.read_text(errors="replace")[-3000:])
                    return 3
                time.sleep(0.1)
        done = subprocess.run(
            [sys.executable, "-m", "auditor", "scan", *scan, "--broker", args.broker,
             "--db", args.db],
            check=False,
        )  # fmt: skip
        return done.returncode
    finally:
        for proc, _log in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, log in workers:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.returncode not in (0, -signal.SIGTERM):
                sys.stderr.write(f"worker exit {proc.returncode}: {log}\n")


if __name__ == "__main__":
    sys.exit(main())
