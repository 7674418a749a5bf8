"""Sub-command ``auditor notify`` (registered by auditor.cli): send (or show) the
regression alerts of a stored scan against its predecessor (docs/ALERTS.md).

Exit codes: 0 done (sent, nothing to send, or a dry run); 1 at least one delivery failed
(the others were still made; stderr says which); 2 bad input (a bad URL or address, a
missing secret, an unknown scan, no transport and no --dry-run).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from auditor.alerts import AlertConfigError, AlertTransports, notify_scan, parse_transports
from auditor.alerts.config import DEFAULT_PASSWORD_ENV, DEFAULT_WEBHOOK_SECRET_ENV
from auditor.profiles import ProfileError
from auditor.store import display_url, open_store

EXIT_OK = 0
EXIT_DELIVERY = 1
EXIT_INPUT = 2

# Option of each ``alerts:`` key, for the error messages of the command line.
_OPTIONS = {
    "smtp": "--smtp",
    "from": "--from",
    "team": "--team",
    "security": "--smtp-security",
    "user": "--smtp-user",
    "password_env": "--smtp-password-env",
    "password_file": "--smtp-password-file",
    "ca_file": "--ca-file",
    "timeout": "--timeout",
    "webhook": "--webhook",
    "webhook_secret_env": "--webhook-secret-env",
    "webhook_secret_file": "--webhook-secret-file",
}


def _fail(message: str) -> int:
    print(f"auditor: error: {message}", file=sys.stderr)
    return EXIT_INPUT


def register(sub: Any) -> None:
    p = sub.add_parser(
        "notify",
        help="send the regression alerts of a scan (e-mail, webhook)",
        description="Send (or, --dry-run, show) the alerts of a stored scan against the"
        " previous complete scan of the same inventory and profile: requirements newly"
        " failing, certificates expiring, hosts no longer reachable over IPv6, DNSSEC turned"
        " bogus, and the improvements. One e-mail per agency in its language, to its"
        " contact with the security team in copy, and one signed webhook POST. Nothing is"
        " sent when nothing changed. Secrets come from environment variables or files,"
        " never from the command line. Exit codes: 0 done, 1 a delivery failed, 2 bad"
        " input.",
    )
    p.add_argument(
        "--db",
        required=True,
        help="store: a file path, sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB",
    )
    p.add_argument("--scan", metavar="ID", help="scan id (default: the latest complete scan)")
    g = p.add_argument_group("e-mail")
    g.add_argument(
        "--smtp",
        metavar="URL",
        help="smtp://[USER@]HOST[:PORT] (STARTTLS, default port 587; --smtp-security relay"
        " for an internal relay without TLS, port 25) or smtps://HOST[:PORT] (implicit TLS,"
        " 465)",
    )
    g.add_argument("--from", dest="sender", metavar="ADDR", help="sender address")
    g.add_argument(
        "--team",
        action="append",
        metavar="ADDR",
        help="the security team's address, in copy of every agency's mail (repeatable)",
    )
    g.add_argument(
        "--smtp-security",
        choices=("starttls", "ssl", "relay"),
        help="starttls (required upgrade), ssl (smtps://) or relay (plain, no AUTH)",
    )
    g.add_argument("--smtp-user", metavar="USER", help="AUTH user (never over plain text)")
    g.add_argument(
        "--smtp-password-env",
        metavar="VAR",
        help=f"environment variable holding the SMTP password (default {DEFAULT_PASSWORD_ENV})",
    )
    g.add_argument("--smtp-password-file", metavar="FILE", help="file holding the SMTP password")
    g.add_argument(
        "--ca-file",
        "--smtp-ca-file",
        dest="ca_file",
        metavar="PEM",
        help="trust anchors for the SMTP server's and the https:// webhook's TLS (instead of"
        " the system's)",
    )
    g.add_argument(
        "--timeout", type=float, metavar="S", help="seconds per network step (default 30)"
    )
    g = p.add_argument_group("webhook")
    g.add_argument("--webhook", metavar="URL", help="http(s) URL the JSON document is POSTed to")
    g.add_argument(
        "--webhook-secret-env",
        metavar="VAR",
        help=f"environment variable holding the HMAC secret (default {DEFAULT_WEBHOOK_SECRET_ENV})",
    )
    g.add_argument("--webhook-secret-file", metavar="FILE", help="file holding the HMAC secret")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="show the messages and the webhook document; send nothing",
    )
    p.add_argument("--json", action="store_true", help="the outcome as JSON on stdout")
    p.set_defaults(func=cmd_notify)


def transports_from_args(args: argparse.Namespace) -> AlertTransports:
    mapping: dict[str, object] = {
        "smtp": args.smtp,
        "from": args.sender,
        "team": args.team,
        "security": args.smtp_security,
        "user": args.smtp_user,
        "password_env": args.smtp_password_env,
        "password_file": args.smtp_password_file,
        "ca_file": args.ca_file,
        "timeout": args.timeout,
        "webhook": args.webhook,
        "webhook_secret_env": args.webhook_secret_env,
        "webhook_secret_file": args.webhook_secret_file,
    }
    present = {k: v for k, v in mapping.items() if v is not None}
    return parse_transports(present, lambda key: _OPTIONS.get(key, key))


def _show(report: Any) -> None:
    """The dry run: each message as it would go, then the webhook document."""
    for m in report.messages:
        print(f"From: {m.sender}\nTo: {', '.join(m.to)}")
        if m.cc:
            print(f"Cc: {', '.join(m.cc)}")
        print(f"Subject: {m.subject}\nContent-Language: {m.language}\n\n{m.text}")
        print("-" * 72)
    if report.payload is not None:
        print(json.dumps(report.payload, ensure_ascii=False, indent=2))


def cmd_notify(args: argparse.Namespace) -> int:
    try:
        transports = transports_from_args(args)
    except AlertConfigError as exc:
        return _fail(str(exc))
    if transports.empty and not args.dry_run:
        return _fail("nothing to send with: give --smtp and/or --webhook (or --dry-run)")
    store = open_store(args.db, create=False)
    with store:
        try:
            if args.scan is None:
                latest = store.latest_scan(kind="scan")
                if latest is None:
                    return _fail(f"no complete scan in {display_url(args.db)}")
                scan_id: str | int = latest.id
            else:
                scan_id = args.scan
            report = notify_scan(store, scan_id, transports, dry_run=args.dry_run)
        except KeyError as exc:
            return _fail(str(exc).strip("'\""))
        except ProfileError as exc:
            return _fail(str(exc))
    a = report.alerts
    if report.skipped:
        print(f"auditor: {report.skipped}", file=sys.stderr)
    elif report.previous_id is None:
        print(
            f"auditor: scan #{report.scan_id} has no earlier complete scan of the same inventory"
            " and profile: nothing to compare, nothing sent",
            file=sys.stderr,
        )
    elif report.nothing_changed:
        print(
            f"auditor: scan #{report.scan_id} against #{report.previous_id}: nothing changed,"
            " nothing sent",
            file=sys.stderr,
        )
    else:
        assert a is not None
        print(
            f"auditor: scan #{report.scan_id} against #{report.previous_id}: "
            f"{a.alert_count()} alert(s), {a.improvement_count()} improvement(s) for "
            f"{len(a.agencies)} agency(ies)" + (" (dry run: nothing sent)" if args.dry_run else ""),
            file=sys.stderr,
        )
    for note in report.notes:
        print(f"auditor: note: {note}", file=sys.stderr)
    for d in report.deliveries:
        where = ", ".join(d.to)
        if d.ok:
            extra = f" ({d.detail})" if d.detail else ""
            print(f"auditor: sent {d.channel} to {where}{extra}", file=sys.stderr)
        else:
            print(f"auditor: FAILED {d.channel} to {where}: {d.detail}", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    elif args.dry_run:
        _show(report)
    return EXIT_DELIVERY if report.failed else EXIT_OK
