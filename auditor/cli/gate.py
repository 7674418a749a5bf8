"""``auditor gate``: its arguments, its scan (by the scan service) and its outputs; the
gate's logic (targets, zones, the verdict, JUnit and Markdown) and its exit codes, which
``--help`` shows from that module's docstring, are in auditor.gate.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import auditor.gate
from auditor.cli.common import (
    Presenter,
    UsageError,
    add_network_options,
    options_from_args,
    profile_or_usage,
)
from auditor.cli.scan import execute_scan
from auditor.gate import (
    EXIT_INCOMPLETE,
    EXIT_USAGE,
    GateUsageError,
    decide,
    enclosing_zones,
    gate_inventory,
    gate_score,
    junit_xml,
    markdown_summary,
    parse_gate_target,
    parse_resolve,
    parse_target,
    terminal_summary,
)
from auditor.inventory import InventoryError, UnknownTagError, load_inventory
from auditor.protocol.names import registrable_domain
from auditor.selfcheck import footing_of
from auditor.service import check_footing
from auditor.store import open_store
from reports import stdout_outputs


def register(sub: Any) -> None:
    p = sub.add_parser(
        "gate",
        help="pass/fail a site for CI (exit 0 passed, 1 failed, 2 incomplete, 3 usage error)",
        description=auditor.gate.__doc__,  # the exit codes, as before
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("targets", nargs="*", metavar="TARGET", help="host name or URL")
    p.add_argument("--inventory", metavar="FILE", help="gate the hosts of an inventory")
    p.add_argument(
        "--only",
        action="append",
        metavar="AGENCY",
        help="with --inventory: only this agency (repeatable)",
    )
    p.add_argument(
        "--tag",
        action="append",
        metavar="TAG",
        help="with --inventory: only the agencies with this tag (repeatable: any of them)",
    )
    p.add_argument(
        "--zone",
        action="append",
        metavar="ZONE",
        help="zone for the DNS and mail checks (default: the host's enclosing zone)",
    )
    p.add_argument("--profile", help="compliance profile (default vn-gov)")
    p.add_argument("--min-score", type=float, metavar="N", help="fail under this score (0-100)")
    p.add_argument(
        "--fail-on",
        choices=("mandatory", "recommended"),
        default="mandatory",
        help="lowest requirement level whose failure fails the gate",
    )
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML ('-': stdout)")
    p.add_argument("--json", metavar="FILE", help="write the scan JSON ('-': stdout)")
    p.add_argument("--markdown", metavar="FILE", help="write a Markdown summary ('-': stdout)")
    p.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="HOST:ADDR",
        help="use ADDR for HOST instead of DNS (repeatable), like curl --resolve",
    )
    p.add_argument(
        "--db",
        help="keep the scan in this store: a path or sqlite:///PATH (default: a temporary one)",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    add_network_options(p)
    p.set_defaults(func=cmd_gate)

    def usage_error(message: str) -> None:
        # The gate's documented exit code for usage errors is 3, not argparse's 2.
        p.print_usage(sys.stderr)
        print(f"auditor gate: error: {message}", file=sys.stderr)
        sys.exit(EXIT_USAGE)

    p.error = usage_error


def cmd_gate(args: argparse.Namespace) -> int:
    try:
        return _gate(args)
    except GateUsageError as exc:
        print(f"auditor gate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _gate(args: argparse.Namespace) -> int:
    if args.min_score is not None and not 0 <= args.min_score <= 100:
        raise GateUsageError("--min-score must be between 0 and 100")
    if bool(args.targets) == bool(args.inventory):
        raise GateUsageError("give TARGET host names/URLs, or --inventory FILE (not both)")
    if (args.only or args.tag) and not args.inventory:
        raise GateUsageError("--only and --tag go with --inventory")
    from reports import output_conflict

    conflict = output_conflict(junit=args.junit, json=args.json, markdown=args.markdown)
    if conflict:
        raise GateUsageError(conflict)
    pins: dict[str, list[str]] = {}
    for spec in args.resolve:
        host, addr = parse_resolve(spec)
        pins.setdefault(host, []).append(addr)
    port_map: dict[str, dict[int, int]] = {}
    for t in args.targets:
        host, mapping = parse_gate_target(t)
        for service, port in mapping.items():
            if port_map.get(host, {}).get(service, port) != port:
                raise GateUsageError(f"{host}: two different ports given for {service}")
            port_map.setdefault(host, {})[service] = port
            scheme = "https" if service == 443 else "http"
            print(
                f"auditor gate: {host}: {scheme} tested on port {port}; the checks and "
                f"reports name it port {service}",
                file=sys.stderr,
            )
    try:
        options = options_from_args(args, {h: tuple(a) for h, a in pins.items()}, port_map=port_map)
        profile = profile_or_usage(args.profile or "vn-gov")
    except UsageError as exc:
        raise GateUsageError(str(exc)) from None

    if args.inventory:
        try:
            inventory = load_inventory(args.inventory)
            if args.only:
                inventory = inventory.only(args.only)
            if args.tag:
                inventory = inventory.tagged(args.tag)
        except UnknownTagError as exc:
            raise GateUsageError(f"--tag: {exc}") from None
        except InventoryError as exc:
            raise GateUsageError(str(exc)) from None
        except (ValueError, OSError) as exc:
            raise GateUsageError(f"{args.inventory}: {exc}") from None
        inv_path = str(Path(args.inventory).resolve())
        targets = list(inventory.host_owners())
    else:
        targets = [parse_target(t) for t in args.targets]
    # The scanner's own footing first (auditor.selfcheck): a dead resolver is said within
    # seconds, and is not asked for the zones either.
    footing = check_footing(options, targets, Presenter(progress=False))
    if not args.inventory:
        if args.zone:
            zones = [parse_target(z) for z in args.zone]
        elif footing.resolver.down:
            zones = [registrable_domain(t) for t in targets]
        else:
            zones = enclosing_zones(options, targets)
        inventory = gate_inventory(targets, zones)
        inv_path = "<gate>"

    with tempfile.TemporaryDirectory(prefix="auditor-gate-") as tmp:
        db = args.db or str(Path(tmp) / "gate.db")
        with open_store(db) as store:
            scan_id, status = execute_scan(
                store,
                inventory,
                inv_path,
                profile,
                options,
                progress=not args.quiet,
                kind="gate",
                footing=footing,
            )
            if status != "complete":
                print("auditor gate: interrupted: no verdict", file=sys.stderr)
                return EXIT_INCOMPLETE
            # One scoring for the verdict (and the JUnit and Markdown made of it) and the JSON.
            score = gate_score(store, scan_id, profile)
            verdict = decide(score, args.fail_on, args.min_score)
            final = footing_of(store.scan(scan_id).stats) or footing
            blockers = final.blockers()
            if blockers:
                # Judged from a scanner that cannot see the site as citizens do: whatever
                # else was found, there is no verdict (exit 2), and that is said first.
                verdict = replace(
                    verdict, code=EXIT_INCOMPLETE, reasons=(*blockers, *verdict.reasons)
                )
            if args.json:
                from reports.data import load_report
                from reports.jsonout import write_json

                write_json(
                    store, scan_id, args.json, report=load_report(store, scan_id, score=score)
                )
    if args.junit:
        _write(args.junit, junit_xml(verdict, profile.name))
    if args.markdown:
        _write(args.markdown, markdown_summary(verdict, profile.name, targets).encode("utf-8"))
    # With an output on stdout ('-'), the verdict lines go to stderr: stdout stays parseable.
    to_stderr = bool(stdout_outputs(junit=args.junit, json=args.json, markdown=args.markdown))
    out = sys.stderr if to_stderr else sys.stdout
    if blockers:
        print(f"auditor gate: no verdict: {blockers[0]}", file=out)
    print(terminal_summary(verdict, profile.name), file=out)
    return verdict.code


def _write(path: str, data: bytes) -> None:
    from reports import write_output

    write_output(path, data.decode("utf-8"))
