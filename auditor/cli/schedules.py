"""``auditor schedules validate FILE``: check a schedule file and say when each schedule runs
next (docs/OPERATIONS.md), before ``auditor serve --scheduler`` or ``auditor beat`` reads it.

Exit codes: 0 the file is good; 2 it is not (every error printed as ``file:line: field:
message``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from auditor.cli.common import EXIT_INPUT, EXIT_OK


def cmd_schedules_validate(args: argparse.Namespace) -> int:
    try:
        from auditor.schedules import check_schedules
    except ImportError:  # croniter: the serve and distributed extras
        print(
            "auditor: error: schedules need croniter: pip install '.[serve]' (or '.[distributed]')",
            file=sys.stderr,
        )
        return EXIT_INPUT
    found, errors = check_schedules(args.file)
    for e in errors:
        print(str(e), file=sys.stderr)
    if found is None:
        return EXIT_INPUT
    now = datetime.now(UTC)
    print(f"{args.file}: ok: {len(found.schedules)} schedule(s)")
    for s in found.schedules:
        where = "" if s.vantages == ("local",) else f", vantages {', '.join(s.vantages)}"
        print(f"  {s.name}: {s.cron} ({s.timezone}), next run {s.next_run(now).isoformat()}{where}")
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser("schedules", help="schedule file tools")
    ssub = p.add_subparsers(dest="schedules_command", metavar="ACTION")
    ssub.required = True
    v = ssub.add_parser(
        "validate", help="check a schedule file, report every error, show the next runs"
    )
    v.add_argument("file")
    v.set_defaults(func=cmd_schedules_validate)


__all__ = ["register"]
