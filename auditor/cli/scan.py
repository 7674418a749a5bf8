"""``auditor scan | evaluate | inventory validate | checks``: parse, call the scan service,
present its events.

Exit codes: 0 done; 1 a ``scan --workers`` process failed; 2 bad input (inventory, profile,
options); 130 interrupted (every finished target is kept in the store).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditor.cli.common import (
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Presenter,
    UsageError,
    add_network_options,
    default_db,
    err,
    load_inventory_or_usage,
    options_from_args,
    positive_workers,
    profile_or_usage,
    write_outputs,
)
from auditor.cli.distributed import add_scan_options
from auditor.inventory import Inventory, check_inventory, load_inventory
from auditor.options import ScanOptions
from auditor.registry import all_checks
from auditor.selfcheck import Footing, footing_of
from auditor.service import (
    Evaluating,
    Event,
    NoCompleteScan,
    ScanFailed,
    ScanInputError,
    ScanService,
    runner_for,
)
from auditor.store import Store, display_url, open_store


def cmd_scan(args: argparse.Namespace) -> int:
    inventory = load_inventory_or_usage(args.inventory)
    # An expired waiver does not stop the scan, but whoever runs it should know it no
    # longer counts (the same warning `auditor inventory validate` prints).
    for w in check_inventory(args.inventory)[1]:
        print(f"{w.file}:{w.line}: {w.field}: warning: {w.message}", file=sys.stderr)
    if args.only:
        try:
            inventory = inventory.only(args.only)
        except (ValueError, KeyError) as exc:
            raise UsageError(f"--only: {exc}") from None
    if args.tag:
        try:
            inventory = inventory.tagged(args.tag)
        except ValueError as exc:
            raise UsageError(f"--tag: {exc}") from None
    options = options_from_args(args, ports=inventory.defaults.ports)
    profile = profile_or_usage(args.profile or inventory.profile or "vn-gov")
    db_path = args.db or default_db(args.inventory)
    inv_path = str(Path(args.inventory).resolve())
    shown = display_url(db_path)  # a PostgreSQL password is never printed
    if args.broker is None and (args.vantage or args.detach):
        raise UsageError("--vantage and --detach need --broker (a distributed scan)")
    if args.broker is not None and args.workers != 1:
        raise UsageError("--workers is for a scan on this machine; with --broker, start workers")
    with open_store(db_path) as store:
        try:
            if args.broker is not None:
                from auditor.cli.distributed import distributed_scan

                ran = distributed_scan(args, store, inventory, inv_path, profile, options)
                if isinstance(ran, int):
                    return ran
                scan_id, status = ran
            else:
                scan_id, status = execute_scan(
                    store,
                    inventory,
                    inv_path,
                    profile,
                    options,
                    resume=args.resume,
                    progress=not args.quiet,
                    workers=args.workers,
                )
        except ScanFailed as exc:
            err(f"scan {exc.scan_id} failed: {exc}")
            print(
                f"auditor: finished targets are kept in {shown} (scan {exc.scan_id}); "
                "continue with --resume",
                file=sys.stderr,
            )
            return EXIT_FAILED
        if status == "interrupted":
            print(
                f"auditor: interrupted; finished targets are kept in {shown} "
                f"(scan {scan_id}); continue with --resume",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        write_outputs(store, scan_id, args)
        _summary(store, scan_id, shown)
        footing = footing_of(store.scan(scan_id).stats)
    names = [*inventory.host_owners(), *inventory.zone_owners()]
    if footing is not None and names and all(footing.resolver_blames(n) for n in names):
        # Nothing could be resolved, so nothing was judged: a scheduled scan must not look
        # like a good one. The scan is stored (its findings say why), but the run failed.
        err(
            "the scan could not test anything: its resolver cannot resolve names; fix it or "
            "give --resolver ADDR, then scan again"
        )
        return EXIT_INPUT
    return EXIT_OK


def execute_scan(
    store: Store,
    inventory: Inventory,
    inv_path: str,
    profile: Any,
    options: ScanOptions,
    *,
    resume: bool = False,
    progress: bool = True,
    kind: str = "scan",
    workers: int = 1,
    footing: Footing | None = None,
) -> tuple[int, str]:
    """One scan by the scan service (auditor.service), its events shown on stderr; returns
    (scan id, final status). Raises :class:`ScanFailed` when a worker process failed (the
    scan is stored as "failed"), :class:`UsageError` for input the service refuses."""
    with Presenter(progress) as show:
        try:
            result = ScanService(store, show).scan(
                inventory,
                inv_path,
                profile,
                options,
                resume=resume,
                kind=kind,
                runner=runner_for(workers),
                footing=footing,
            )
        except ScanInputError as exc:
            raise UsageError(str(exc)) from None
    return result.scan_id, result.status


def _summary(store: Store, scan_id: int, db_path: str) -> None:
    counts = store.status_counts(scan_id)
    shown = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    print(
        f"scan {scan_id} complete: {shown or 'no findings'}; stored in {db_path}", file=sys.stderr
    )
    footing = footing_of(store.scan(scan_id).stats)
    for line in footing.problems() if footing else ():
        # what the not_tested findings rest on, said once more where the user looks last
        print(f"  the scanner's footing: {line}", file=sys.stderr)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from auditor.history import describe_scan

    def show(event: Event) -> None:
        if not isinstance(event, Evaluating):
            return
        source = event.source
        why = "" if event.chosen else " (the latest complete scan; --scan ID for another)"
        whence = (
            "--profile" if event.profile_given else f"the profile of {source.kind} #{source.id}"
        )
        print(
            f"auditor: evaluating {describe_scan(source)}{why} with profile {event.profile} "
            f"({whence})",
            file=sys.stderr,
        )

    with open_store(args.db) as store:
        try:
            result = ScanService(store, show).evaluate(args.scan, args.profile)
        except NoCompleteScan:
            raise UsageError(f"no complete scan in {display_url(args.db)}") from None
        except ScanInputError as exc:
            raise UsageError(str(exc)) from None
        write_outputs(store, result.scan_id, args)
        print(
            f"evaluation {result.scan_id} of {result.source.kind} {result.source.id} with "
            f"profile {result.profile.name}: {result.findings} findings",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_inventory_validate(args: argparse.Namespace) -> int:
    errors, warnings = check_inventory(args.file)
    for w in warnings:
        # Same file:line: field: form as the errors, marked so scripts can tell them apart.
        print(f"{w.file}:{w.line}: {w.field}: warning: {w.message}", file=sys.stderr)
    if errors:
        for e in errors:
            print(str(e), file=sys.stderr)
        return EXIT_INPUT
    inv = load_inventory(args.file)
    hosts = len(inv.host_owners())
    zones = len(inv.zone_owners())
    waivers = sum(len(a.waivers) for a in inv.agencies)
    note = f", {len(warnings)} warning(s)" if warnings else ""
    print(
        f"{args.file}: ok: {len(inv.agencies)} agencies, {hosts} hosts, {zones} zones, "
        f"{waivers} waiver(s){note}"
    )
    return EXIT_OK


def cmd_checks(args: argparse.Namespace) -> int:
    specs = all_checks()
    if args.profile:
        return _checks_in_profile(specs, profile_or_usage(args.profile), as_json=args.json)
    if args.json:
        print(json.dumps([s.metadata() for s in specs], ensure_ascii=False, indent=2))
        return EXIT_OK
    width = max(len(s.id) for s in specs)
    # The level hint is the check's suggestion; a profile decides the real level
    # (auditor checks --profile NAME).
    print(f"{'check':<{width}}  {'scope':<7}  {'level hint':<13}  title")
    for s in specs:
        print(f"{s.id:<{width}}  {s.scope.value:<7}  {s.level_hint.value:<13}  {s.title}")
    return EXIT_OK


def _checks_in_profile(specs: Sequence[Any], profile: Any, *, as_json: bool) -> int:
    """Each check with the level the profile gives it (the level of its requirement),
    then the checks the profile does not use."""
    level_of: dict[str, tuple[str, str, float]] = {}
    for req in profile.requirements:
        for cid in req.checks:
            level_of[cid] = (req.level.value, req.id, req.weight)
    kpi = set(profile.kpi.checks) if profile.kpi else set()
    used = [s for s in specs if s.id in level_of]
    unused = [s for s in specs if s.id not in level_of]
    if as_json:
        doc = {
            "profile": profile.name,
            "checks": [
                {
                    **s.metadata(),
                    "level": level_of[s.id][0],
                    "requirement": level_of[s.id][1],
                    "weight": level_of[s.id][2],
                    "kpi": s.id in kpi,
                }
                for s in used
            ],
            "unused": [s.id for s in unused],
        }
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return EXIT_OK
    width = max(len(s.id) for s in specs)
    rwidth = max((len(r.id) for r in profile.requirements), default=11)
    print(f"profile {profile.name}: {profile.title}")
    print(f"{'check':<{width}}  {'scope':<7}  {'level':<13}  {'requirement':<{rwidth}}  title")
    rank = {"mandatory": 0, "recommended": 1, "informational": 2}
    for s in sorted(used, key=lambda s: (rank.get(level_of[s.id][0], 3), s.id)):
        level, req, _weight = level_of[s.id]
        hint = "" if level == s.level_hint.value else f" (hint: {s.level_hint.value})"
        mark = " [KPI]" if s.id in kpi else ""
        row = f"{s.id:<{width}}  {s.scope.value:<7}  {level:<13}  {req:<{rwidth}}"
        print(f"{row}  {s.title}{mark}{hint}")
    if unused:
        print(f"\nnot used by {profile.name} ({len(unused)}): never probed nor scored with it")
        for s in unused:
            print(f"{s.id:<{width}}  {s.scope.value:<7}  {'-':<13}  {'-':<{rwidth}}  {s.title}")
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser("scan", help="scan an inventory and store the findings")
    p.add_argument("inventory", help="inventory file (YAML or CSV)")
    p.add_argument("--profile", help="compliance profile name or YAML file (default vn-gov)")
    p.add_argument(
        "--db",
        help="store: a file path, sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB "
        "(default: auditor.db beside the inventory)",
    )
    p.add_argument("--out", metavar="DIR", help="write the HTML scorecards to DIR")
    p.add_argument("--json", metavar="FILE", help="write the findings as JSON ('-': stdout)")
    p.add_argument("--lang", choices=("vi", "en"), default="vi", help="report language")
    p.add_argument(
        "--only", action="append", metavar="AGENCY", help="scan only this agency (repeatable)"
    )
    p.add_argument(
        "--tag",
        action="append",
        metavar="TAG",
        help="scan only the agencies with this inventory tag (repeatable: any of them)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="finish the last interrupted (or failed) scan of this inventory",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    p.add_argument(
        "--workers",
        type=positive_workers,
        default=1,
        metavar="N",
        help="scan in N processes writing to the same store (default 1): the hosts and zones"
        " are spread over them by weight, a zone's hosts in any of them. --concurrency and"
        " --per-address apply to each process, and each has its own probe cache",
    )
    add_network_options(p)
    add_scan_options(p)
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("evaluate", help="re-run the checks over stored observations (no network)")
    p.add_argument(
        "--db",
        required=True,
        help="store: a file path, sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB",
    )
    p.add_argument(
        "--scan",
        type=int,
        help="scan id (default: the latest complete scan of kind 'scan', not an evaluation"
        " or a gate run; stderr says which)",
    )
    p.add_argument("--profile", help="profile to evaluate with (default: the scan's)")
    p.add_argument("--out", metavar="DIR", help="write the HTML scorecards to DIR")
    p.add_argument("--json", metavar="FILE", help="write the findings as JSON ('-': stdout)")
    p.add_argument("--lang", choices=("vi", "en"), default="vi")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("inventory", help="inventory tools")
    isub = p.add_subparsers(dest="inventory_command", metavar="ACTION")
    isub.required = True
    v = isub.add_parser("validate", help="check an inventory file and report every error")
    v.add_argument("file")
    v.set_defaults(func=cmd_inventory_validate)

    p = sub.add_parser("checks", help="list the check catalogue")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.add_argument(
        "--profile",
        metavar="P",
        help="show the level this profile gives each check (and the checks it does not use)"
        " instead of the checks' level hints",
    )
    p.set_defaults(func=cmd_checks)
