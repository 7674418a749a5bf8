"""Benchmark: `auditor gate` on one good host of the lab, as a CI job runs it.

    python -m bench.gate_one [--runs 5] [--tag gatebench]

Brings up the lab (its own tag), gates www.good.gov.vn RUNS times from the client namespace,
prints wall time and CPU (user+sys of the auditor process) per run, and the median, then
tears the lab down. Traffic stays inside the lab's namespaces. The gate is bounded by its
timeouts (--timeout 2 here), never by sleeps.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.lab.lab import Lab  # noqa: E402


def one_run(lab: Lab, out: Path) -> dict[str, float]:
    cmd = [
        sys.executable,
        "-m",
        "auditor",
        "gate",
        "www.good.gov.vn",
        "--quiet",
        "--ca-file",
        str(lab.ca_file),
        "--timeout",
        "2",
        "--junit",
        str(out / "g.xml"),
    ]
    for net in lab.allow_nets:
        cmd += ["--allow-net", net]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        lab.client_cmd(cmd),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=lab.auditor_env(),
        timeout=300,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"gate exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tag", default="gatebench")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = ap.parse_args()
    lab = Lab(args.tag)
    lab.up()
    try:
        out = lab.dir / "gatebench"
        out.mkdir(parents=True, exist_ok=True)
        runs = [one_run(lab, out) for _ in range(max(1, args.runs))]
    finally:
        lab.down()
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    summary = {
        "runs": runs,
        "median_wall_s": statistics.median(r["wall_s"] for r in runs),
        "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "load_average_1m": float(load),
    }
    print("| run | wall (s) | CPU (s) |\n|---|---|---|")
    for i, r in enumerate(runs, 1):
        print(f"| {i} | {r['wall_s']} | {r['cpu_s']} |")
    print(f"| median | {summary['median_wall_s']} | {summary['median_cpu_s']} |")
    print(f"\nload average (1 min) at the end: {load}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
