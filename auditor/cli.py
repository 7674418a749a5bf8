"""Command-line interface: ``auditor scan | evaluate | inventory validate | checks | ...``.

Exit codes: 0 done; 1 gate failed, or a ``scan --workers`` process failed; 2 bad input
(inventory, profile, options) or incomplete gate; 3 gate usage error; 130 interrupted (every
finished target is kept in the store).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from auditor import __version__
from auditor.engine import Plan, TargetDone, evaluate_stored, make_plan, run_scan
from auditor.guard import parse_network
from auditor.inventory import Inventory, InventoryError, check_inventory, load_inventory
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.probes.dns import parse_resolver
from auditor.registry import all_checks, get_check, is_known
from auditor.selfcheck import (
    FOOTING_KEY,
    Footing,
    Vantage,
    footing_of,
    footing_sync,
    parse_reference,
    report_to_stderr,
)
from auditor.store import Store, StoreError, open_store

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: stdout's reader went away (``auditor diff | head``)


class UsageError(Exception):
    """A clear, user-facing error (bad option, unreadable file); exit code 2."""


class ScanFailed(Exception):
    """A worker process of ``scan --workers`` failed; the scan is stored as "failed" with its
    finished targets, and ``--resume`` continues it. Exit code 1."""

    def __init__(self, scan_id: int, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.scan_id = scan_id
        self.errors = tuple(errors)


def _err(message: str) -> None:
    print(f"auditor: error: {message}", file=sys.stderr)


# ---------------------------------------------------------------------------
# shared options


def add_network_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("network")
    g.add_argument(
        "--concurrency",
        type=int,
        default=64,
        metavar="N",
        help="targets probed at once (default 64)",
    )
    g.add_argument(
        "--per-address",
        type=int,
        default=4,
        metavar="N",
        help="connections at once to one remote address (default 4)",
    )
    g.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds for each network step (default 5)",
    )
    g.add_argument(
        "--deadline",
        type=float,
        default=None,
        metavar="S",
        help="overall seconds per target (default 18 x --timeout)",
    )
    g.add_argument(
        "--resolver",
        metavar="ADDR[:PORT]",
        help="DNS resolver to use instead of the system's (/etc/resolv.conf)",
    )
    g.add_argument(
        "--ca-file",
        metavar="PEM",
        help="extra trust anchors for TLS (SSL_CERT_FILE is honoured too)",
    )
    g.add_argument(
        "--trust-anchor",
        metavar="FILE",
        help="DNSSEC trust anchors (DS or DNSKEY records) for own validation",
    )
    g.add_argument(
        "--allow-net",
        action="append",
        default=[],
        metavar="CIDR",
        help="permit probing this special-purpose range (repeatable)",
    )
    g.add_argument(
        "--allow-private",
        action="store_true",
        help="permit probing private-use addresses (RFC 1918, ULA, CGNAT)",
    )
    g.add_argument(
        "--port-map",
        action="append",
        default=[],
        metavar="SERVICE:PORT",
        help="probe the service SERVICE (80 http://, 443 https://, 53 the name servers, 25"
        " SMTP) on PORT for every target, as a port forward would (e.g. 443:8443 for a"
        " staging server); checks and reports keep the service port (repeatable)",
    )
    g.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="HOST",
        help="a known-good host (name or address) that must answer over IPv6 / IPv4 before"
        " the scanner trusts its own connectivity of that family (repeatable)",
    )
    g.add_argument("--no-icmp", action="store_true", help="skip the ICMPv6 echo probe")
    g.add_argument(
        "--contact-url", default=None, metavar="URL", help="contact URL sent in the User-Agent"
    )


# The service ports the checks judge: http://, https://, the name servers (ipv6.ns.reach)
# and the mail exchangers (SMTP): --port-map may move these.
MAPPABLE_PORTS = (80, 443, 53, 25)


def parse_port_map(spec: str) -> tuple[int, int]:
    """``SERVICE:PORT`` of ``--port-map`` (SERVICE 80, 443, 53 or 25; PORT 1-65535)."""
    service, sep, port = spec.partition(":")
    try:
        s, p = int(service), int(port)
    except ValueError:
        s = p = 0
    if not sep or s not in MAPPABLE_PORTS or not 1 <= p <= 65535:
        raise UsageError(
            f"--port-map {spec!r}: expected SERVICE:PORT with SERVICE 80 (http), 443 (https),"
            " 53 (queries to the name servers) or 25 (SMTP to the mail exchangers) and PORT"
            " 1-65535, e.g. 443:8443"
        )
    return s, p


def options_from_args(
    args: argparse.Namespace,
    pins: dict[str, tuple[str, ...]] | None = None,
    ports: tuple[int, ...] = (80, 443),
    port_map: dict[str, dict[int, int]] | None = None,
) -> ScanOptions:
    if args.timeout <= 0 or args.timeout > 300:
        raise UsageError("--timeout must be between 0 and 300 seconds")
    if args.concurrency < 1 or args.per_address < 1:
        raise UsageError("--concurrency and --per-address must be at least 1")
    for cidr in args.allow_net:
        try:
            parse_network(cidr)
        except ValueError as exc:
            raise UsageError(f"--allow-net: {exc}") from None
    if args.resolver:
        try:
            parse_resolver(args.resolver)
        except ValueError:
            raise UsageError(
                f"--resolver: expected ADDR, ADDR:PORT or [ADDR6]:PORT, got {args.resolver!r}"
            ) from None
    references: list[str] = []
    for ref in getattr(args, "reference", None) or []:
        try:
            references.append(parse_reference(ref))
        except ValueError as exc:
            raise UsageError(f"--reference {ref!r}: {exc}") from None
    ca_file = args.ca_file or os.environ.get("SSL_CERT_FILE") or None
    for label, path in (("--ca-file", ca_file), ("--trust-anchor", args.trust_anchor)):
        if path and not Path(path).is_file():
            raise UsageError(f"{label}: no such file: {path}")
    deadline = args.deadline if args.deadline else max(30.0, args.timeout * 18)
    mapping: dict[str, dict[int, int]] = {k: dict(v) for k, v in (port_map or {}).items()}
    for spec in getattr(args, "port_map", None) or []:
        service, port = parse_port_map(spec)
        mapping.setdefault("*", {})[service] = port
    kwargs: dict[str, Any] = {}
    if args.contact_url:
        kwargs["contact_url"] = args.contact_url
    return ScanOptions(
        timeout=args.timeout,
        target_deadline=deadline,
        concurrency=args.concurrency,
        per_address=args.per_address,
        resolver=args.resolver,
        ca_file=ca_file,
        allow_nets=tuple(args.allow_net),
        allow_private=args.allow_private,
        icmp=not args.no_icmp,
        trust_anchor_file=args.trust_anchor,
        pins=pins or {},
        ports=tuple(ports),
        references=tuple(dict.fromkeys(references)),
        port_map=mapping,
        **kwargs,
    )


def positive_workers(text: str) -> int:
    """``--workers`` value: an integer of at least 1 (argparse turns the error into usage)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer of at least 1, got {text!r}")
    return value


def default_db(inventory_path: str) -> str:
    return str(Path(inventory_path).resolve().parent / "auditor.db")


# ---------------------------------------------------------------------------
# progress


class Progress:
    """A progress bar on a terminal, plain lines elsewhere (CI logs)."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total = total
        self.done = 0
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self._bar: Any = None
        self._task: Any = None
        self._next_line = 0

    def __enter__(self) -> Progress:
        if self.enabled and self.tty:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]scanning"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def update(self, done: TargetDone) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=done.name[:40])
            return
        # Plain lines: every 10 % (and the last), so CI logs stay short.
        percent = 100 * self.done // max(1, self.total)
        if percent >= self._next_line or self.done == self.total:
            print(f"scan: {self.done}/{self.total} targets ({percent}%)", file=sys.stderr)
            self._next_line = percent + 10


# ---------------------------------------------------------------------------
# commands


def _load_inventory(path: str) -> Inventory:
    try:
        return load_inventory(path)
    except InventoryError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None


def _profile(name: str) -> Any:
    from auditor.profiles import load_profile

    try:
        return load_profile(name)
    except (ValueError, KeyError, OSError) as exc:
        raise UsageError(str(exc).strip("'\"")) from None


def profile_ref(profile: Any) -> str:
    """What the store keeps to find the profile again: a bundled profile's name, or the
    absolute path of the user's own profile file (so ``auditor report`` re-scores with it)."""
    from auditor.profiles import PROFILE_DIR

    path = getattr(profile, "path", "")
    if path and Path(path).resolve().parent != PROFILE_DIR.resolve():
        return str(Path(path).resolve())
    return str(profile.name)


def _plan_for(inventory: Inventory, profile: Any, options: ScanOptions) -> Any:
    ids = [c for c in profile.check_ids() if is_known(c)]
    specs = [get_check(c) for c in ids]
    hosts = list(inventory.host_owners())
    zones = list(inventory.zone_owners())
    return make_plan(
        hosts,
        zones,
        specs,
        getattr(profile, "params", {}),
        allow_nets=options.allow_nets,
        allow_private=options.allow_private,
    )


def cmd_scan(args: argparse.Namespace) -> int:
    inventory = _load_inventory(args.inventory)
    # An expired waiver does not stop the scan, but whoever runs it should know it no
    # longer counts (the same warning `auditor inventory validate` prints).
    for w in check_inventory(args.inventory)[1]:
        print(f"{w.file}:{w.line}: {w.field}: warning: {w.message}", file=sys.stderr)
    if args.only:
        try:
            inventory = inventory.only(args.only)
        except (ValueError, KeyError) as exc:
            raise UsageError(f"--only: {exc}") from None
    options = options_from_args(args, ports=inventory.defaults.ports)
    profile = _profile(args.profile or inventory.profile or "vn-gov")
    db_path = args.db or default_db(args.inventory)
    inv_path = str(Path(args.inventory).resolve())
    with open_store(db_path) as store:
        try:
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
            _err(f"scan {exc.scan_id} failed: {exc}")
            print(
                f"auditor: finished targets are kept in {db_path} (scan {exc.scan_id}); "
                "continue with --resume",
                file=sys.stderr,
            )
            return EXIT_FAILED
        if status == "interrupted":
            print(
                f"auditor: interrupted; finished targets are kept in {db_path} "
                f"(scan {scan_id}); continue with --resume",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED
        _write_outputs(store, scan_id, args)
        _summary(store, scan_id, db_path)
        footing = footing_of(store.scan(scan_id).stats)
    names = [*inventory.host_owners(), *inventory.zone_owners()]
    if footing is not None and names and all(footing.resolver_blames(n) for n in names):
        # Nothing could be resolved, so nothing was judged: a scheduled scan must not look
        # like a good one. The scan is stored (its findings say why), but the run failed.
        _err(
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
    """Probe, evaluate and store every target; returns (scan id, final status).

    Each finished target is committed on its own, so Ctrl-C (status "interrupted") or a
    crash keeps every finished target and ``--resume`` continues the same scan. With
    ``workers`` > 1 the targets are probed by that many processes (auditor.workers); a failed
    worker raises :class:`ScanFailed` once the scan is stored as "failed".

    Before the first target the scanner checks its own footing (auditor.selfcheck: IPv6 and
    IPv4 connectivity, the resolver; ``footing`` when the caller checked it already) and
    records it in the scan row's stats; the findings are judged with it.
    """
    if workers > 1 and not store.shared:
        raise UsageError("--workers needs a store file: worker processes open it themselves")
    plan = _plan_for(inventory, profile, options)
    skip: set[tuple[str, str]] = set()
    scan_id: int | None = None
    if resume:
        previous = store.unfinished_scan(inv_path)
        if previous is None:
            print("auditor: nothing to resume: starting a new scan", file=sys.stderr)
        else:
            scan_id = previous.id
            skip = store.done_targets(scan_id)
            store.reopen_scan(scan_id)
            print(
                f"auditor: resuming scan {scan_id}: {len(skip)} target(s) already done",
                file=sys.stderr,
            )
    if scan_id is None:
        scan_id = store.begin_scan(
            profile=profile_ref(profile),
            inventory_path=inv_path,
            inventory_name=inventory.name,
            inventory=inventory.to_dict(),
            options=_options_record(options),
            kind=kind,
        )
    total = len(plan.hosts) + len(plan.zones) - len(skip)
    names = (*plan.hosts, *plan.zones)
    spent: dict[str, int] = {}  # what the footing check cost (queries, connections)
    try:
        checked = footing or footing_sync(options, names, report_to_stderr, spent)
    except KeyboardInterrupt:
        store.finish_scan(scan_id, "interrupted", spent)
        return scan_id, "interrupted"
    # a resumed scan keeps what its first run found out about the scanner
    before = footing_of(store.scan(scan_id).stats) if resume else None
    initial = before.merged(checked) if before is not None else checked
    if workers > 1:
        return scan_id, _scan_in_workers(
            store,
            plan,
            scan_id,
            skip,
            options,
            workers,
            total=total,
            progress=progress,
            footing=initial,
            spent=spent,
        )
    ctx = ProbeContext(options)
    ctx.stats.update(spent)
    vantage = Vantage(initial, names, report=report_to_stderr)
    status = "failed"
    try:
        with Progress(total, enabled=progress) as bar:
            anyio.run(
                lambda: run_scan(
                    ctx, plan, store, scan_id, skip=skip, on_done=bar.update, vantage=vantage
                ),
                backend="asyncio",
            )
        status = "complete"
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        final = vantage.final()
        _settle_footing(store, scan_id, plan, initial, final)
        store.finish_scan(scan_id, status, {**ctx.stats, FOOTING_KEY: final.to_record()})
    return scan_id, status


def _settle_footing(
    store: Store, scan_id: int, plan: Plan, initial: Footing, final: Footing
) -> None:
    """A re-check changed a fact the verdicts rest on: judge every stored target again with
    the final footing (pure, from the stored observations), so the findings are exactly what
    ``auditor evaluate`` of this scan gives."""
    if final.evaluation_key() == initial.evaluation_key():
        return
    now = datetime.now(UTC)
    findings = []
    for kind, _name, text in store.observations(scan_id):
        findings.extend(evaluate_stored(kind, text, plan, now, final))
    store.replace_findings(scan_id, findings)


def _scan_in_workers(
    store: Store,
    plan: Plan,
    scan_id: int,
    skip: set[tuple[str, str]],
    options: ScanOptions,
    workers: int,
    *,
    total: int,
    progress: bool,
    footing: Footing,
    spent: dict[str, int],
) -> str:
    """``execute_scan`` with worker processes: the parent only starts, watches and stops them
    and finishes the scan row once, with their summed counters and merged footing."""
    from auditor.workers import WorkerPool, shard_plan

    # The pool is entered first and left last: the bar is gone while workers are being
    # stopped, and whatever fails in the parent, leaving the pool reaps every worker.
    pool = WorkerPool(
        store.url, scan_id, plan, options, shard_plan(plan, workers, skip), skip, footing
    )
    status = "failed"
    try:
        with pool, Progress(total, enabled=progress) as bar:
            pool.wait(bar.update)
        status = pool.result().status
    except KeyboardInterrupt:
        status = "interrupted"
    finally:
        result = pool.result()
        final = result.footing or footing
        _settle_footing(store, scan_id, plan, footing, final)
        counters = dict(result.stats)
        for key, value in spent.items():
            counters[key] = counters.get(key, 0) + value
        store.finish_scan(scan_id, status, {**counters, FOOTING_KEY: final.to_record()})
    if result.errors:
        raise ScanFailed(scan_id, result.errors)
    return status


def _options_record(options: ScanOptions) -> dict[str, Any]:
    record = asdict(options)
    record["pins"] = {k: list(v) for k, v in options.pins.items()}
    record["port_map"] = {h: {str(k): v for k, v in m.items()} for h, m in options.port_map.items()}
    return record


def _write_outputs(store: Store, scan_id: int, args: argparse.Namespace) -> None:
    from reports.jsonout import write_json

    if getattr(args, "json", None):
        write_json(store, scan_id, args.json)
    out = getattr(args, "out", None)
    if out:
        from reports import render_all

        render_all(store, scan_id, Path(out), lang=getattr(args, "lang", "vi") or "vi")


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

    with open_store(args.db) as store:
        try:
            # The default is the latest network scan: the latest row may be an evaluation
            # (of an older scan, with another profile) or a gate run.
            source = (
                store.scan(args.scan) if args.scan is not None else store.latest_scan(kind="scan")
            )
        except KeyError as exc:
            raise UsageError(str(exc).strip("'\"")) from None
        if source is None:
            raise UsageError(f"no complete scan in {args.db}")
        why = "" if args.scan is not None else " (the latest complete scan; --scan ID for another)"
        profile = _profile(args.profile or source.profile)
        whence = "--profile" if args.profile else f"the profile of {source.kind} #{source.id}"
        print(
            f"auditor: evaluating {describe_scan(source)}{why} with profile {profile.name} "
            f"({whence})",
            file=sys.stderr,
        )
        # An evaluation of an evaluation re-scores the same copied observations: it stands
        # for the original network scan (trends and "previous scan" look before that one).
        origin = source.source_scan if source.kind == "evaluation" and source.source_scan else None
        specs = [get_check(c) for c in profile.check_ids() if is_known(c)]
        # judged against what the source scan was allowed to reach (--allow-net...)
        plan = make_plan(
            (),
            (),
            specs,
            getattr(profile, "params", {}),
            allow_nets=tuple(source.options.get("allow_nets") or ()),
            allow_private=bool(source.options.get("allow_private")),
        )
        new_id = store.begin_scan(
            profile=profile_ref(profile),
            inventory_path=source.inventory_path,
            inventory_name=source.inventory_name,
            inventory=source.inventory,
            options=source.options,
            kind="evaluation",
            source_scan=origin or source.id,
        )
        store.copy_observations(source.id, new_id)
        now = datetime.now(UTC)
        # The scanner's footing during the source scan: the verdicts that rested on it
        # (no IPv6, a dead resolver) come out the same, from stored data only.
        footing = footing_of(source.stats)
        findings = []
        for kind, _name, text in store.observations(source.id):
            findings.extend(evaluate_stored(kind, text, plan, now, footing))
        store.replace_findings(new_id, findings)
        stats: dict[str, Any] = {"evaluated_from": source.id}
        if footing is not None:
            stats[FOOTING_KEY] = footing.to_record()
        store.finish_scan(new_id, "complete", stats)
        _write_outputs(store, new_id, args)
        print(
            f"evaluation {new_id} of {source.kind} {source.id} with profile {profile.name}: "
            f"{len(findings)} findings",
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
        return _checks_in_profile(specs, _profile(args.profile), as_json=args.json)
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


# ---------------------------------------------------------------------------
# parser


Command = Callable[[argparse.Namespace], int]
# Other modules add their sub-commands here: (module, function name) with
# ``register(subparsers) -> None``. Keeps this file small and merge-friendly.
EXTRA_COMMANDS: tuple[tuple[str, str], ...] = (
    ("auditor.cmd_reports", "register"),
    ("auditor.gate", "register"),
    ("auditor.demo", "register"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditor",
        description="IPv6 migration and security compliance auditor for government agencies.",
    )
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("scan", help="scan an inventory and store the findings")
    p.add_argument("inventory", help="inventory file (YAML or CSV)")
    p.add_argument("--profile", help="compliance profile name or YAML file (default vn-gov)")
    p.add_argument(
        "--db",
        help="store: a file path or sqlite:///PATH (default: auditor.db beside the inventory)",
    )
    p.add_argument("--out", metavar="DIR", help="write the HTML scorecards to DIR")
    p.add_argument("--json", metavar="FILE", help="write the findings as JSON ('-': stdout)")
    p.add_argument("--lang", choices=("vi", "en"), default="vi", help="report language")
    p.add_argument(
        "--only", action="append", metavar="AGENCY", help="scan only this agency (repeatable)"
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
        help="scan in N processes writing to the same store (default 1; at most one per zone"
        " with its hosts, or per host in no zone). --concurrency and --per-address apply to"
        " each process, and each has its own probe cache",
    )
    add_network_options(p)
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("evaluate", help="re-run the checks over stored observations (no network)")
    p.add_argument("--db", required=True, help="store: a file path or sqlite:///PATH")
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

    import importlib

    for module, name in EXTRA_COMMANDS:
        getattr(importlib.import_module(module), name)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        message = f"unrecognized arguments: {' '.join(extra)}"
        if getattr(args, "command", None) == "gate":
            # The gate documents exit code 3 for usage errors (CI scripts rely on it).
            print(f"auditor gate: error: {message}", file=sys.stderr)
            return 3
        parser.error(message)
    try:
        code: int = args.func(args)
        # Flush here, inside the handler: a reader that went away (``auditor diff | head
        # -1``) is seen now, not by the interpreter's own flush at exit.
        sys.stdout.flush()
    except BrokenPipeError:
        return _closed_stdout()
    except (UsageError, StoreError) as exc:
        _err(str(exc))
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("auditor: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


def _closed_stdout() -> int:
    """The reader of stdout closed the pipe: stop quietly, as ``yes | head -1`` does.

    As the Python documentation recommends (signal module, "Note on SIGPIPE"): point stdout
    at /dev/null so the interpreter's final flush cannot raise again, and exit non-zero.
    141 = 128 + SIGPIPE, what a shell reports for a command a closed pipe ended."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
