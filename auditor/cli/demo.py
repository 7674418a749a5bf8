"""``auditor demo``: a first report in a minute, with no internet and no root.

It starts small servers on 127.0.0.1 and ::1 (a DNS server for a demo province under
``.test``, HTTP, HTTPS with a demo CA made on the fly, SMTP with STARTTLS), each agency with
a few realistic deviations (a host without AAAA, HSTS too short, an expired certificate, no
security.txt, a zone without DNSSEC, DMARC p=none...), scans them with the real engine
(``--allow-net`` for loopback only, ``--resolver`` the demo DNS, ``--ca-file`` the demo CA,
and the probes' port map for the demo's high ports), writes the scorecards (HTML, JSON),
says where they are and stops every server (also on Ctrl-C and on error).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from auditor.demo import SCENARIO, write_inventory

__all__ = ["cmd_demo", "register"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="scan a demo province served on this machine (no internet, no root) and write"
        " its scorecards",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out", metavar="DIR", default="demo-report", help="where to write (default demo-report)"
    )
    p.add_argument("--lang", choices=("vi", "en"), default="vi", help="report language")
    p.add_argument("--profile", default="vn-gov", help="compliance profile (default vn-gov)")
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the demo servers running after the report (Ctrl-C stops them), to try"
        " auditor gate and the other commands against them",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_demo)


def _say(text: str = "") -> None:
    print(text, file=sys.stderr, flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from auditor.cli.common import UsageError, profile_or_usage
    from auditor.cli.scan import execute_scan
    from auditor.demo.dnszone import Responder, build_zones
    from auditor.demo.pki import make_pki
    from auditor.demo.servers import DemoServers, ipv6_loopback
    from auditor.inventory import load_inventory
    from auditor.options import ScanOptions
    from auditor.store import open_store
    from reports import render_report
    from reports.data import load_report
    from reports.jsonout import write_json

    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: {exc.strerror or exc}") from None
    profile = profile_or_usage(args.profile)
    v6 = ipv6_loopback()
    if not v6:
        _say(
            "auditor demo: this machine has no IPv6 loopback (::1): the demo serves IPv4 only,"
            " and its IPv6 results show what a scanner without IPv6 sees"
        )
    inventory_path = out / "demo-inventory.yaml"
    write_inventory(inventory_path)
    inventory = load_inventory(inventory_path)
    keys = Path(tempfile.mkdtemp(prefix="auditor-demo-"))
    # `kill PID` (SIGTERM) stops the demo as Ctrl-C does: servers closed, keys removed.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        pki = make_pki(keys, [(h.name, h.cert) for h in SCENARIO.hosts] + _mx_certs())
        ca_file = out / "demo-ca.pem"
        shutil.copyfile(pki.ca_file, ca_file)
        responder = Responder(build_zones(SCENARIO))
        with DemoServers(SCENARIO, pki, responder, v6) as servers:
            assert servers.ports is not None
            ports = servers.ports
            _say(
                f"auditor demo: servers on 127.0.0.1{' and ::1' if v6 else ''}: DNS "
                f"{ports.dns}, HTTP {ports.http}, HTTPS {ports.https}, SMTP {ports.smtp}"
            )
            options = ScanOptions(
                timeout=3.0,
                target_deadline=90.0,
                concurrency=16,
                resolver=f"127.0.0.1:{ports.dns}",
                ca_file=str(ca_file),
                allow_nets=("127.0.0.0/8", "::1/128"),
                port_map={"*": ports.port_map()},
            )
            db = out / "demo.db"
            with open_store(db) as store:
                scan_id, status = execute_scan(
                    store,
                    inventory,
                    str(inventory_path.resolve()),
                    profile,
                    options,
                    progress=not args.quiet,
                )
                if status != "complete":
                    _say(f"auditor demo: scan {status}; finished targets are in {db}")
                    return EXIT_INTERRUPTED if status == "interrupted" else EXIT_FAILED
                report = load_report(store, scan_id)  # one scoring for both outputs
                pages = render_report(store, report, out, lang=args.lang)
                write_json(store, scan_id, out / "scan.json", report=report)
                _summary(report, out, len(pages), args.lang)
            if args.keep:
                _keep(ports, ca_file, out, v6)
    except KeyboardInterrupt:
        _say("auditor demo: interrupted; the demo servers are stopped")
        return EXIT_INTERRUPTED
    finally:
        shutil.rmtree(keys, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def _mx_certs() -> list[tuple[str, str]]:
    names = {z.mx for z in SCENARIO.zones if z.mx}
    hosts = {h.name for h in SCENARIO.hosts}
    return [(n, "valid") for n in sorted(names - hosts)]


def _summary(data: Any, out: Path, pages: int, lang: str) -> None:
    _say("")
    _say(f"auditor demo: scorecards written ({pages} pages, language {lang}):")
    _say(f"  {(out / 'index.html').resolve()}")
    _say(f"  JSON: {(out / 'scan.json').resolve()}  store: {(out / 'demo.db').resolve()}")
    _say("")
    for a in data.score.ranked():
        grade = "insufficient data" if a.insufficient else (a.grade or "-")
        cover = "-" if a.coverage is None else f"{a.coverage:g} % tested"
        score = "-" if a.score is None else f"{a.score:g}"
        _say(f"  {a.agency.name:<40} score {score:>5}  grade {grade:<4} ({cover})")
    _say("")
    _say("The deviations built into the demo, as the scan found them:")
    # a check's status on a target does not depend on whose waivers apply (only credit)
    results = {
        (r.target_kind.value, r.target, r.check): r
        for a in data.score.agencies
        for p in a.pairs
        for r in p.checks
    }
    for e in SCENARIO.expectations:
        r = results.get((e.kind, e.target, e.check))
        got = r.status.value if r is not None else "(not scored)"
        _say(f"  {got:<14} {e.check:<20} {e.target}: {e.what}")
    _say("")
    _say(f"Open {(out / 'index.html').resolve()} in a browser.")


def _keep(ports: Any, ca_file: Path, out: Path, v6: bool) -> None:
    nets = "--allow-net 127.0.0.0/8" + (" --allow-net ::1/128" if v6 else "")
    # From the first line on, Ctrl-C or SIGTERM is how --keep ends (exit 0), also when it
    # arrives while the commands below are still being printed: a user (or a test) who saw
    # "keep running" may stop the demo at once.
    try:
        _say("")
        _say("auditor demo: the servers keep running (Ctrl-C stops them). Try, in another shell:")
        # (a non-standard HTTPS port: the gate probes it as port 443, see README "The CI gate")
        _say(
            f"  auditor gate https://www.vidu.test:{ports.https}/ --resolver 127.0.0.1:{ports.dns} "
            f"--ca-file {ca_file} {nets} --port-map 53:{ports.dns} --port-map 25:{ports.smtp}"
        )
        _say(
            f"  auditor scan {out / 'demo-inventory.yaml'} --db {out / 'demo.db'} --out {out} "
            f"--resolver 127.0.0.1:{ports.dns} --ca-file {ca_file} {nets} "
            f"--port-map 80:{ports.http} --port-map 443:{ports.https} --port-map 53:{ports.dns} "
            f"--port-map 25:{ports.smtp}"
        )
        _say(f"  auditor diff --db {out / 'demo.db'}")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        # the servers stop as the caller leaves their context
        _say("auditor demo: stopping the demo servers")
