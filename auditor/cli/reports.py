"""Sub-commands ``auditor profiles | history | diff | report`` (registered by auditor.cli).

- ``auditor profiles [NAME] [--json]``: the bundled profiles, or one profile's requirements;
- ``auditor history --db DB [--json]``: every stored scan;
- ``auditor diff --db DB [--from ID] [--to ID] [--json] [--exit-zero]``: regressions and
  improvements per agency, host and check (default: the last two complete scans of one
  inventory); exit 1 when something regressed, unless ``--exit-zero``;
- ``auditor report --db DB [--scan ID] [--out DIR] [--lang vi|en] [--json F] [--csv F]
  [--markdown F] [--xlsx F]``: re-render any stored scan from its own inventory snapshot.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from auditor.inventory import UnknownTagError
from auditor.profiles import ProfileError, list_profiles, load_profile
from auditor.store import Store, display_url, open_store
from auditor.text import one_line

EXIT_OK = 0
EXIT_REGRESSION = 1  # auditor diff: something regressed (unless --exit-zero)
EXIT_INPUT = 2


def _fail(message: str) -> int:
    print(f"auditor: error: {message}", file=sys.stderr)
    return EXIT_INPUT


def _open(db: str) -> Store:
    """The store must exist: StoreNotFound (exit code 2, its message says why) otherwise."""
    return open_store(db, create=False)


def register(sub: Any) -> None:
    p = sub.add_parser("profiles", help="list the compliance profiles (or show one)")
    p.add_argument("name", nargs="?", help="a profile name or YAML file to show")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_profiles)

    p = sub.add_parser("history", help="list the scans kept in a store")
    p.add_argument(
        "--db",
        required=True,
        help="store: a file path, sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB",
    )
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser(
        "diff",
        help="regressions and improvements between two scans (exit 1 when something regressed)",
        description="Regressions and improvements per agency, host and check between two"
        " stored scans (default: the last two complete scans of one inventory; stderr says"
        " which). Exit codes: 0 no regression, 1 at least one regression (--exit-zero: 0),"
        " 2 bad input.",
    )
    p.add_argument(
        "--db",
        required=True,
        help="store: a file path, sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB",
    )
    p.add_argument("--from", dest="from_id", type=int, metavar="ID", help="earlier scan")
    p.add_argument("--to", dest="to_id", type=int, metavar="ID", help="later scan")
    p.add_argument("--profile", help="score both with this profile (default: the later scan's)")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.add_argument(
        "--exit-zero",
        action="store_true",
        help="exit 0 even when something regressed (default: exit 1 on a regression)",
    )
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("report", help="render the reports of a stored scan")
    p.add_argument(
        "--db",
        required=True,
        help="store: a file path, sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB",
    )
    p.add_argument(
        "--scan",
        type=int,
        help="scan id (default: the latest complete scan of kind 'scan', not a newer"
        " evaluation or gate run; stderr says which)",
    )
    p.add_argument("--profile", help="score with this profile (default: the scan's)")
    p.add_argument("--out", metavar="DIR", help="write the HTML scorecards to DIR")
    p.add_argument("--lang", choices=("vi", "en"), default="vi", help="report language")
    p.add_argument("--json", metavar="FILE", help="write the JSON document ('-': stdout)")
    p.add_argument(
        "--csv", metavar="FILE", help="write one row per host x requirement ('-': stdout)"
    )
    p.add_argument("--markdown", metavar="FILE", help="write a Markdown summary ('-': stdout)")
    p.add_argument(
        "--xlsx",
        metavar="FILE",
        help="write an Excel workbook: ranking, hosts x requirements, failures and fixes,"
        " not tested, the scan; headers in --lang ('-': stdout)",
    )
    p.add_argument(
        "--tag",
        action="append",
        metavar="TAG",
        help="only the agencies with this inventory tag, in every output (repeatable: any)",
    )
    p.set_defaults(func=cmd_report)


def cmd_profiles(args: argparse.Namespace) -> int:
    names = [args.name] if args.name else list_profiles()
    loaded = []
    for name in names:
        try:
            loaded.append(load_profile(name))
        except ProfileError as exc:
            return _fail(str(exc))
    if args.json:
        from reports.jsonout import profile_document

        print(json.dumps([profile_document(p) for p in loaded], ensure_ascii=False, indent=2))
        return EXIT_OK
    if not args.name:
        width = max(len(p.name) for p in loaded)
        for p in loaded:
            default = " (default)" if p.name == list_profiles()[0] else ""
            print(f"{p.name:<{width}}  {len(p.requirements):>2} requirements  {p.title}{default}")
        return EXIT_OK
    p = loaded[0]
    print(f"{p.name}: {p.title}")
    print("grades: " + ", ".join(f"{b.grade} >= {b.min_score:g}" for b in p.grades))
    if p.kpi:
        print(f"KPI {p.kpi.title}: {', '.join(p.kpi.checks)}")
    print(f"vantages: {p.vantage_rule_text()}")
    for r in p.requirements:
        print(f"  {r.id:<18} {r.level.value:<13} w={r.weight:<4g} {', '.join(r.checks)}")
    for cid, values in p.params.items():
        print(f"  params {cid}: {values}")
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from auditor.history import summarize_counts

    store = _open(args.db)
    with store:
        rows = [summarize_counts(s, store.status_counts(s.id)) for s in store.scans()]
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], ensure_ascii=False, indent=2))
        return EXIT_OK
    if not rows:
        print(f"no scans in {display_url(args.db)}")
        return EXIT_OK
    for r in rows:
        counts = ", ".join(f"{v} {k}" for k, v in r.counts.items())
        source = f" of #{r.source_scan}" if r.source_scan else ""
        print(
            f"#{r.id:<4} {r.started}  {r.kind}{source:<6} {r.status:<11} {r.profile:<14} "
            f"{r.inventory_name}  [{counts or 'no findings'}]"
        )
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from auditor.history import NoPair, choose_pair, describe_scan
    from reports.data import load_diff, resolve_profile

    store = _open(args.db)
    with store:
        try:
            before, after, chosen = choose_pair(store.scans(), args.from_id, args.to_id, store.scan)
            profile, _note = resolve_profile(args.profile, after)
        except NoPair as exc:
            if exc.reason == "two":
                return _fail(
                    f"{display_url(args.db)}: need two complete scans of one inventory to diff"
                )
            if exc.reason == "latest":
                return _fail(f"no complete scan in {display_url(args.db)}")
            return _fail(f"no complete scan before #{exc.scan_id} to compare with")
        except KeyError as exc:
            return _fail(str(exc).strip("'\""))
        except ProfileError as exc:
            return _fail(str(exc))
        # Say what "the latest" turned out to be, and with which profile both are scored:
        # two scans made with different profiles are compared with one of them, not each
        # with its own (that would report profile changes as regressions).
        whence = "--profile" if args.profile else f"the profile of #{after.id}"
        print(
            f"auditor: diff {describe_scan(before)} -> {describe_scan(after)} ({chosen}), "
            f"both scored with profile {profile.name} ({whence})",
            file=sys.stderr,
        )
        if not args.profile and before.profile != after.profile:
            print(
                f"auditor: note: #{before.id} was made with profile {before.profile}; "
                f"--profile to compare with another",
                file=sys.stderr,
            )
        diff = load_diff(store, before, after, profile)
    # A regression is a finding that got worse (pass -> warn -> fail): a scheduled job
    # or CI step can act on the exit code alone.
    code = EXIT_REGRESSION if diff.count("regression") and not args.exit_zero else EXIT_OK
    if args.json:
        print(json.dumps(diff.to_dict(), ensure_ascii=False, indent=2))
        return code
    print(
        f"scan #{before.id} ({before.started}) -> #{after.id} ({after.started}), "
        f"profile {profile.name}: {diff.count('regression')} regression(s), "
        f"{diff.count('improvement')} improvement(s), {diff.count('changed')} other change(s)"
    )
    if diff.vantaged:
        # Like with like: each vantage against itself; one scan's own vantages are named,
        # never counted as changes.
        print(f"vantages compared: {', '.join(diff.vantages) or 'none'}")
        for which, names in (("before", diff.only_before), ("after", diff.only_after)):
            if names:
                scan_id = before.id if which == "before" else after.id
                print(
                    f"vantage(s) only in #{scan_id}: {', '.join(names)} (not compared: "
                    f"no finding from there in the other scan)"
                )
    for a in diff.agencies:
        if not a.changed:
            continue
        score = (
            f"{_num(a.score_before)} ({_cov(a.coverage_before)} tested) -> "
            f"{_num(a.score_after)} ({_cov(a.coverage_after)} tested)"
        )
        grade = (
            f"{_grade(a.grade_before, a.insufficient_before)} -> "
            f"{_grade(a.grade_after, a.insufficient_after)}"
        )
        print(
            f"\n{a.name} [{a.id}]: score {score}, grade {grade}, KPI {a.kpi_before} -> "
            f"{a.kpi_after}"
        )
        for kind, target, req, b, af in a.requirements:
            print(f"  {target} ({kind}) {req}: {b or '-'} -> {af or '-'}")
        for c in a.changes:
            where = f"{c.target}" + (f" [{c.address}]" if c.address else "")
            if diff.vantaged:
                where += f" from {c.vantage}"
            print(
                f"  {c.kind:<11} {where} {c.check}: {c.before or '-'} -> {c.after or '-'}"
                f"  ({one_line(c.message, 160)})"
            )
    orphans = [c for c in diff.changes if not any(c in a.changes for a in diff.agencies)]
    for c in orphans:
        print(f"  {c.kind:<11} {c.target} {c.check}: {c.before or '-'} -> {c.after or '-'}")
    return code


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def _cov(v: float | None) -> str:
    return "-" if v is None else f"{v:g} %"


def _grade(grade: str | None, insufficient: bool) -> str:
    return "insufficient data" if insufficient else (grade or "-")


def _say_which(store: Store, scan: Any, args: argparse.Namespace) -> None:
    """On stderr: which row is reported and with which profile. The default is the latest
    network scan, with its own profile; a newer evaluation (another profile, perhaps) or
    gate run is named so that nobody mistakes one for the other."""
    from auditor.history import describe_scan

    profile = args.profile or scan.profile
    whence = "--profile" if args.profile else f"the profile of #{scan.id}"
    if args.scan is not None:
        print(
            f"auditor: report of {describe_scan(scan)}, profile {profile} ({whence})",
            file=sys.stderr,
        )
        return
    newer = [s for s in store.scans() if s.id > scan.id and s.status == "complete"]
    note = ""
    if newer:
        shown = ", ".join(f"{s.kind} #{s.id}" for s in newer[-3:])
        note = f"; newer: {shown} (--scan ID to report one of them)"
    print(
        f"auditor: report of {describe_scan(scan)} (the latest complete scan), profile "
        f"{profile} ({whence}){note}",
        file=sys.stderr,
    )


def cmd_report(args: argparse.Namespace) -> int:
    from reports import output_conflict, render_report
    from reports.csvout import write_csv
    from reports.data import load_report
    from reports.jsonout import write_json
    from reports.markdown import write_markdown

    if not (args.out or args.json or args.csv or args.markdown or args.xlsx):
        return _fail(
            "nothing to write: give --out DIR, --json FILE, --csv FILE, --markdown FILE"
            " or --xlsx FILE"
        )
    conflict = output_conflict(json=args.json, csv=args.csv, markdown=args.markdown, xlsx=args.xlsx)
    if conflict:
        return _fail(conflict)
    if args.xlsx:
        try:
            import reports.xlsx  # noqa: F401  (openpyxl: the optional 'xlsx' extra)
        except ImportError:
            return _fail("--xlsx needs the 'xlsx' extra (openpyxl): pip install '.[xlsx]'")
        if args.xlsx == "-" and sys.stdout.isatty():
            # A zip archive on a terminal is noise (gzip refuses the same): a pipe or a file.
            return _fail("--xlsx -: a workbook is binary; redirect stdout to a file or a pipe")
    store = _open(args.db)
    with store:
        try:
            scan = (
                store.scan(args.scan) if args.scan is not None else store.latest_scan(kind="scan")
            )
        except KeyError as exc:
            return _fail(str(exc).strip("'\""))
        if scan is None:
            return _fail(f"no complete scan in {display_url(args.db)}")
        _say_which(store, scan, args)
        try:
            data = load_report(store, scan.id, args.profile, tags=args.tag or ())
        except (ProfileError, UnknownTagError) as exc:
            return _fail(str(exc))
        # One scoring (``data``) shared by every output of the run.
        try:
            if args.out:
                pages = render_report(store, data, Path(args.out), args.lang)
                print(f"wrote {len(pages)} page(s) to {args.out}", file=sys.stderr)
            if args.json:
                write_json(store, scan.id, args.json, args.profile, report=data)
            if args.csv:
                write_csv(data, args.csv)
            if args.markdown:
                write_markdown(data, args.markdown, args.lang)
            if args.xlsx:
                from reports.xlsx import write_xlsx

                write_xlsx(data, args.xlsx, args.lang)
        except BrokenPipeError:
            raise  # a closed stdout: auditor.cli.main ends quietly
        except OSError as exc:  # an output that cannot be written: say which, no traceback
            return _fail(f"cannot write {exc.filename or 'an output'}: {exc.strerror or exc}")
    return EXIT_OK
