"""Command-line interface: ``auditor scan | evaluate | inventory validate | checks | ...``.

The commands only parse their arguments, call the scan service (auditor.service) or the
store, and present what comes back; each lives in its own module of this package and adds
its sub-commands in ``register(subparsers)``.

Exit codes: 0 done; 1 gate failed, a ``scan --workers`` process failed, or a ``notify``
delivery failed; 2 bad input (inventory, profile, options) or incomplete gate; 3 gate usage
error; 130 interrupted (every finished target is kept in the store).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from auditor import __version__
from auditor.cli.common import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    closed_stdout,
    err,
)
from auditor.store import StoreError

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "UsageError",
    "build_parser",
    "main",
]

# The modules whose ``register(subparsers)`` add the sub-commands, in help order.
COMMANDS: tuple[str, ...] = (
    "auditor.cli.scan",
    "auditor.cli.reports",
    "auditor.cli.gate",
    "auditor.cli.demo",
    "auditor.cli.distributed",
    "auditor.cli.serve",
    "auditor.cli.alerts",
    "auditor.cli.schedules",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditor",
        description="IPv6 migration and security compliance auditor for government agencies.",
    )
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMANDS:
        importlib.import_module(module).register(sub)
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
        return closed_stdout()
    except (UsageError, StoreError) as exc:
        err(str(exc))
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("auditor: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
