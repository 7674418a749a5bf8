"""``auditor serve`` (the dashboard) and ``auditor users`` (its accounts and API tokens).

Both need the ``serve`` extra (``pip install '.[serve]'``): its modules are imported when a
command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from auditor.cli.common import EXIT_INPUT, EXIT_OK
from auditor.model import LOCAL_VANTAGE
from auditor.store import Store, StoreError, display_url, open_store

DB_HELP = "store: a file path, sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB"
NEEDS_EXTRA = "auditor serve and auditor users need the 'serve' extra: pip install '.[serve]'"


def _fail(message: str) -> int:
    print(f"auditor: error: {message}", file=sys.stderr)
    return EXIT_INPUT


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the dashboard and its JSON API from a store",
        description="The dashboard of the store's latest complete scan: the same pages as"
        " `auditor report --out`, per-agency access (auditor users), and the JSON API under"
        " /api/v1/ (docs/API.md).",
    )
    p.add_argument("--db", required=True, help=DB_HELP)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    p.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    p.add_argument("--profile", help="score with this profile (default: the scan's)")
    p.add_argument(
        "--https-only-cookies",
        action="store_true",
        help="mark the session cookie Secure (behind a reverse proxy that terminates TLS)",
    )
    p.add_argument(
        "--schedules",
        metavar="FILE",
        help="the schedule file (docs/OPERATIONS.md): its schedules, next and last runs are"
        " shown at /schedules (admin only)",
    )
    p.add_argument(
        "--scheduler",
        action="store_true",
        help="run the --schedules in this process (no broker; with Celery, auditor beat"
        " runs them instead)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("users", help="the dashboard's accounts and API tokens")
    users = p.add_subparsers(dest="users_command", metavar="ACTION")
    users.required = True

    q = users.add_parser("add", help="a new account; the password is read from stdin")
    q.add_argument("name")
    role = q.add_mutually_exclusive_group(required=True)
    role.add_argument("--admin", action="store_true", help="the security team: everything")
    role.add_argument("--agency", metavar="ID", help="an agency's account: that agency only")
    q.add_argument("--db", required=True, help=DB_HELP)
    q.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from the first line of stdin (never from the command line)",
    )
    q.set_defaults(func=cmd_users_add)

    q = users.add_parser("list", help="the accounts")
    q.add_argument("--db", required=True, help=DB_HELP)
    q.add_argument("--audit", action="store_true", help="the latest lines of the audit log")
    q.set_defaults(func=cmd_users_list)

    q = users.add_parser("disable", help="disable an account (its sessions and tokens stop)")
    q.add_argument("name")
    q.add_argument("--db", required=True, help=DB_HELP)
    q.add_argument("--enable", action="store_true", help="enable it again")
    q.set_defaults(func=cmd_users_disable)

    q = users.add_parser("reset", help="a new password, from stdin (ends the user's sessions)")
    q.add_argument("name")
    q.add_argument("--db", required=True, help=DB_HELP)
    q.add_argument("--password-stdin", action="store_true", required=True)
    q.set_defaults(func=cmd_users_reset)

    q = users.add_parser("token", help="print a new API token (shown once, stored hashed)")
    q.add_argument("name")
    q.add_argument("--db", required=True, help=DB_HELP)
    q.set_defaults(func=cmd_users_token)

    q = users.add_parser("revoke", help="revoke the user's API tokens (all, or --id)")
    q.add_argument("name")
    q.add_argument("--db", required=True, help=DB_HELP)
    q.add_argument("--id", type=int, help="only this token (its id, as `users token` printed)")
    q.set_defaults(func=cmd_users_revoke)


def _password() -> str | None:
    line = sys.stdin.readline()
    return line.rstrip("\r\n") if line else None


def _auth() -> Any:
    try:
        from auditor.serve import auth
    except ImportError:
        raise StoreError(NEEDS_EXTRA) from None
    return auth


def _store(db: str, *, create: bool = False) -> Store:
    return open_store(db, create=create)


def _new_password_hash(auth: Any) -> str | int:
    """The argon2 hash of the password on stdin, or the exit code of why it is refused."""
    password = _password()
    if password is None:
        return _fail("no password on stdin")
    problem = auth.password_problem(password)
    if problem:
        return _fail(problem)
    return str(auth.hash_password(password))


def cmd_users_add(args: argparse.Namespace) -> int:
    auth = _auth()
    hashed = _new_password_hash(auth)
    if isinstance(hashed, int):
        return hashed
    if not args.name or len(args.name) > 64 or not args.name.isprintable():
        return _fail("a user name is 1 to 64 printable characters")
    # A new store is fine: the first admin may be made before the first scan.
    with _store(args.db, create=True) as store:
        store.add_user(
            args.name,
            "admin" if args.admin else "agency",
            None if args.admin else args.agency,
            hashed,
        )
        store.audit("user_added", args.name, "cli", "admin" if args.admin else args.agency)
        unknown = not args.admin and not _agency_known(store, args.agency)
    print(f"added {'admin' if args.admin else 'agency ' + args.agency} user {args.name}")
    if unknown:
        # A warning, not an error: the account may be made before the agency's first scan.
        print(
            f"auditor: warning: the latest scan has no agency {args.agency!r}: the account"
            " sees nothing until a scan of an inventory with that agency id is stored",
            file=sys.stderr,
        )
    return EXIT_OK


def _agency_known(store: Store, agency_id: str) -> bool:
    latest = store.latest_scan(kind="scan")
    if latest is None:
        return True  # no scan yet: nothing to compare with
    agencies = latest.inventory.get("agencies") or []
    return any(isinstance(a, dict) and a.get("id") == agency_id for a in agencies)


def cmd_users_list(args: argparse.Namespace) -> int:
    with _store(args.db) as store:
        if args.audit:
            for r in store.audit_log():
                print(f"{r.at}  {r.event:<14} {r.username:<20} {r.client:<16} {r.detail}")
            return EXIT_OK
        for u in store.users():
            role = "admin" if u.role == "admin" else f"agency {u.agency}"
            state = "disabled" if u.disabled else "active"
            print(f"{u.name:<20} {role:<28} {state:<9} tokens={u.tokens} since {u.created}")
    return EXIT_OK


def cmd_users_disable(args: argparse.Namespace) -> int:
    with _store(args.db) as store:
        if not store.update_user(args.name, disabled=not args.enable):
            return _fail(f"no user named {args.name!r}")
        store.audit("user_enabled" if args.enable else "user_disabled", args.name, "cli")
    print(f"{'enabled' if args.enable else 'disabled'} {args.name}")
    return EXIT_OK


def cmd_users_reset(args: argparse.Namespace) -> int:
    hashed = _new_password_hash(_auth())
    if isinstance(hashed, int):
        return hashed
    with _store(args.db) as store:
        if not store.update_user(args.name, password_hash=hashed):
            return _fail(f"no user named {args.name!r}")
        store.audit("password_reset", args.name, "cli")
    print(f"new password for {args.name}")
    return EXIT_OK


def cmd_users_token(args: argparse.Namespace) -> int:
    auth = _auth()
    token, digest = auth.new_token()
    with _store(args.db) as store:
        token_id = store.add_token(args.name, digest)
        store.audit("token_added", args.name, "cli", f"token {token_id}")
    print(
        f"token {token_id} of {args.name} (shown once; `auditor users revoke` ends it):",
        file=sys.stderr,
    )
    print(token)
    return EXIT_OK


def cmd_users_revoke(args: argparse.Namespace) -> int:
    with _store(args.db) as store:
        n = store.revoke_tokens(args.name, args.id)
        store.audit("token_revoked", args.name, "cli", f"{n} token(s)")
    print(f"revoked {n} token(s) of {args.name}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from auditor.serve.app import create_app
    except ImportError:
        return _fail(NEEDS_EXTRA)
    schedules: tuple[Any, ...] = ()
    if args.scheduler and not args.schedules:
        return _fail("--scheduler needs --schedules FILE")
    if args.schedules:
        from auditor.schedules import check_schedules

        found, errors = check_schedules(args.schedules)
        for e in errors:
            print(str(e), file=sys.stderr)
        if found is None:
            return EXIT_INPUT
        schedules = found.schedules
        from auditor.alerts.scheduled import schedule_alert_errors

        if bad := schedule_alert_errors(schedules):
            for problem in bad:
                print(problem, file=sys.stderr)
            return EXIT_INPUT
        remote = [s.name for s in schedules if s.vantages != (LOCAL_VANTAGE,)]
        if args.scheduler and remote:
            return _fail(
                f"schedule(s) {', '.join(remote)}: vantages other than 'local' need workers:"
                " run them with auditor beat --broker URL"
            )
    store = _store(args.db)
    scheduler = None
    try:
        if args.scheduler:
            from auditor.scheduler import Scheduler

            _log_to_stderr()
            # Its own connections to the store (the served pages keep theirs) and its own
            # threads: a scan never waits on the event loop, nor the loop on a scan.
            from auditor.alerts.scheduled import alerts_after_scan

            # After each complete run: its schedule's alerts (auditor.alerts).
            scheduler = Scheduler(store.url, schedules, after_scan=alerts_after_scan)
            scheduler.start()
        app = create_app(
            store,
            https_only=args.https_only_cookies,
            profile=args.profile,
            schedules=schedules,
            schedules_run_here=scheduler is not None,
        )
        print(
            f"auditor serve: http://{args.host}:{args.port}/ ({display_url(args.db)})"
            + (f"; running {len(schedules)} schedule(s)" if scheduler else ""),
            file=sys.stderr,
        )
        # One process, one event loop: the store's one connection is used by one request
        # at a time (auditor.serve.app). Several processes may serve one store.
        uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=True)
    finally:
        if scheduler is not None:
            scheduler.stop()
        store.close()
    return EXIT_OK


def _log_to_stderr() -> None:
    """The scheduler's log lines (a run started, skipped, ended) on stderr, as uvicorn's."""
    import logging

    log = logging.getLogger("auditor.scheduler")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
