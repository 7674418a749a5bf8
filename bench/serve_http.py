"""``auditor serve`` as deployed: a real uvicorn process on 127.0.0.1 over a big store, asked
over HTTP (issue #17: the index of a 2,000-host store in under 300 ms, an agency page in
under 100 ms).

The store is :mod:`bench.serve_pages`'s (``--hosts`` hosts in agencies of ``--per-agency``,
a finding for every catalogue check on every target), with two complete scans of one
inventory (other checks fail in the second: the diff has regressions and improvements), in
SQLite and, with ``--postgresql``, in a throwaway PostgreSQL cluster of its own (the tests'
``tests.support.servers.run_postgresql``, durable defaults). ``python -m auditor serve`` is
started as a child process; the time until it listens includes loading and scoring the
latest scan (the app does it at start-up). Then, logged in as an admin and as an agency
(httpx, one keep-alive connection each), every page and API path is asked once (the first
request: the diff's pays the scoring of the earlier scan, once per pair) and ``--repeat``
times more: median and 95th percentile. A measure, not a test. Traffic: loopback only.

    PYTHONPATH=$PWD python3 -m bench.serve_http --hosts 2000 [--postgresql]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from auditor.serve.auth import hash_password
from bench.serve_pages import build

ROOT = Path(__file__).resolve().parents[1]
PASSWORDS = {"bench-admin": "bench admin password", "bench-agency": "bench agency password"}
LISTEN_DEADLINE_S = 600.0  # how long the server may take to score the scan and listen


@dataclass(frozen=True)
class Row:
    backend: str
    role: str
    what: str
    path: str
    status: int
    kib: float
    first_ms: float
    median_ms: float
    p95_ms: float


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(url: str, log: Path) -> Iterator[tuple[str, float]]:
    """``auditor serve --db url`` on a free loopback port: (its base URL, seconds until it
    listened)."""
    port = free_port()
    with log.open("w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "auditor", "serve", "--db", url, "--port", str(port)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            while True:
                if proc.poll() is not None:
                    raise SystemExit("auditor serve exited:\n" + log.read_text())
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError as exc:
                    if time.perf_counter() - start > LISTEN_DEADLINE_S:
                        why = "auditor serve did not listen:\n" + log.read_text()
                        raise SystemExit(why) from exc
                    time.sleep(0.05)
            yield f"http://127.0.0.1:{port}", time.perf_counter() - start
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def log_in(client: httpx.Client, name: str) -> None:
    form = client.get("/login").text
    found = re.search(r'name="csrf" value="([^"]+)"', form)
    assert found, form
    answer = client.post(
        "/login", data={"username": name, "password": PASSWORDS[name], "csrf": found.group(1)}
    )
    assert answer.status_code == 303, answer.status_code


def ask(client: httpx.Client, path: str) -> tuple[float, int, int]:
    start = time.perf_counter()
    answer = client.get(path)
    seconds = time.perf_counter() - start
    assert answer.status_code == 200, (path, answer.status_code)
    return seconds * 1000, answer.status_code, len(answer.content)


def measure(base: str, backend: str, agency: str, host: str, repeat: int) -> list[Row]:
    paths = [
        ("index", "/"),
        ("agency page", f"/agencies/{agency}"),
        ("host page", f"/hosts/{host}"),
        ("history", "/history"),
        ("diff (latest vs previous)", "/diff"),
        ("API agencies", "/api/v1/agencies"),
        ("API scans", "/api/v1/scans"),
        ("API diff", "/api/v1/diff"),
    ]
    rows = []
    for role, user in (("admin", "bench-admin"), ("agency", "bench-agency")):
        with httpx.Client(base_url=base, timeout=600, follow_redirects=False) as client:
            log_in(client, user)
            for what, path in paths:
                first, status, size = ask(client, path)
                times = [ask(client, path)[0] for _ in range(repeat)]
                p95 = statistics.quantiles(times, n=20, method="inclusive")[18]
                rows.append(
                    Row(
                        backend,
                        role,
                        what,
                        path,
                        status,
                        round(size / 1024, 1),
                        round(first, 1),
                        round(statistics.median(times), 1),
                        round(p95, 1),
                    )
                )
    return rows


def run(
    url: str, backend: str, args: argparse.Namespace, work: Path
) -> tuple[dict[str, float], list[Row]]:
    start = time.perf_counter()
    store, agency, host = build(url, args.hosts, args.per_agency, scans=2)
    with store:
        store.add_user("bench-admin", "admin", None, hash_password(PASSWORDS["bench-admin"]))
        store.add_user("bench-agency", "agency", agency, hash_password(PASSWORDS["bench-agency"]))
    built = time.perf_counter() - start
    with served(url, work / f"serve-{backend}.log") as (base, listened):
        rows = measure(base, backend, agency, host, args.repeat)
    return {"built_s": round(built, 1), "listen_s": round(listened, 2)}, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--per-agency", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=20, help="requests per path after the first")
    parser.add_argument("--postgresql", action="store_true", help="PostgreSQL too")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        head, found = run(str(work / "bench.db"), "sqlite", args, work)
        results["sqlite"], rows = head, rows + found
        if args.postgresql:
            from tests.support.servers import postgresql_missing, run_postgresql

            missing = postgresql_missing()
            if missing:
                raise SystemExit(f"--postgresql: {missing}")
            with contextlib.contextmanager(run_postgresql)(durable=True) as pg:
                url = pg.url(pg.create_database("bench"))
                head, found = run(url, "postgresql", args, work)
                results["postgresql"], rows = head, rows + found
    print(
        f"store: {args.hosts} hosts, {args.per_agency} per agency, 2 scans; {args.repeat} requests"
    )
    for backend, head in results.items():
        print(
            f"{backend}: built in {head['built_s']} s; auditor serve listening after "
            f"{head['listen_s']} s (start-up: imports, loading and scoring the latest scan)"
        )
    print("| backend | role | what | KiB | first ms | median ms | p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r.backend} | {r.role} | {r.what} | {r.kib:g} | {r.first_ms:g} | "
            f"{r.median_ms:g} | {r.p95_ms:g} |"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"args": vars(args), "stores": results, "rows": [asdict(r) for r in rows]}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
