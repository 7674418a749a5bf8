"""What ``--xlsx`` costs on a big store: ``auditor report --db S --xlsx F`` against the same
command with ``--csv F`` (the two share the loading and the one scoring of the scan, so the
difference is the workbook's own cost), and the workbook alone in process (wall, CPU).

The store is bench/serve_pages.py's synthetic one (``--hosts`` hosts, no network). Each
command runs as its own process, measured from outside (wall time; CPU and peak RSS of that
process from ``wait4``). A measure, not a test.

    PYTHONPATH=$PWD python3 -m bench.xlsx_cost --hosts 2000 --repeat 1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.serve_pages import build

REPO = Path(__file__).resolve().parents[1]


def run(args: list[str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one ``auditor`` process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", *args], cwd=REPO, stderr=subprocess.DEVNULL
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, (args, proc.returncode)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--per-agency", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    from reports.data import load_report
    from reports.xlsx import write_workbook

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "s.db"
        store, _agency, _host = build(db, args.hosts, args.per_agency)
        with store:
            data = load_report(store, 1)
        rows: list[tuple[str, float, float, float]] = []
        for _ in range(args.repeat):
            for name, option in (("csv", "--csv"), ("xlsx", "--xlsx")):
                out = Path(tmp) / f"out.{name}"
                wall, cpu, rss = run(["report", "--db", str(db), option, str(out)])
                rows.append((f"auditor report {option} F", wall, cpu, rss))
            size = (Path(tmp) / "out.xlsx").stat().st_size
            start, cpu0 = time.perf_counter(), time.process_time()
            write_workbook(data, Path(tmp) / "alone.xlsx")
            rows.append(
                (
                    "the workbook alone (in process, scoring done)",
                    time.perf_counter() - start,
                    time.process_time() - cpu0,
                    0.0,
                )
            )
    print(f"store: {args.hosts} hosts, {args.per_agency} per agency; workbook {size / 1e6:.1f} MB")
    print(f"{'what':<48} {'wall s':>8} {'CPU s':>8} {'peak RSS MB':>12}")
    for what, wall, cpu, rss in rows:
        shown = f"{rss:.0f}" if rss else "-"
        print(f"{what:<48} {wall:>8.2f} {cpu:>8.2f} {shown:>12}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
