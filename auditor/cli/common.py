"""What every command of the command line shares: exit codes, the usage error, the network
options and their checking, the progress presenter for the scan service's events, and
writing the report files."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from auditor.engine import TargetDone
from auditor.guard import parse_network
from auditor.inventory import Inventory, InventoryError, load_inventory
from auditor.options import ScanOptions
from auditor.probes.dns import parse_resolver
from auditor.protocol.rpki import is_url, origin_zones
from auditor.selfcheck import parse_reference, report_to_stderr
from auditor.service import (
    Event,
    Note,
    NothingToResume,
    Resumed,
    ScanInputError,
    Started,
    load_profile,
)
from auditor.store import Store

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: stdout's reader went away (``auditor diff | head``)


class UsageError(Exception):
    """A clear, user-facing error (bad option, unreadable file); exit code 2."""


def err(message: str) -> None:
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
        "--max-mx",
        type=int,
        default=10,
        metavar="N",
        help="mail exchangers looked at per zone (MX hosts, SMTP, STARTTLS, TLSA; default 10"
        " as Internet.nl); one connection at a time to each of their addresses",
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
        "--rpki-vrps",
        metavar="FILE|URL",
        help="validated ROA payloads for the rpki.* checks: rpki-client json or Routinator"
        " json/jsonext export (gzip read too), a file or an http(s) URL of the validator's"
        " export (e.g. Routinator's http://HOST:8323/jsonext), fetched once per scan (256 MiB"
        " cap; a failed fetch makes the rpki.* checks not tested)",
    )
    g.add_argument(
        "--bgp-table",
        metavar="FILE",
        help="BGP prefix-to-origin table for the rpki.* checks: CAIDA pfx2as or a RIS whois"
        " dump (gzip read too)",
    )
    g.add_argument(
        "--bgp-origin-dns",
        metavar="ZONE[,ZONE6]",
        help="prefix-to-origin for the rpki.* checks from a DNS origin service instead of"
        " --bgp-table, in Team Cymru's TXT format (e.g. origin.asn.cymru.com,"
        "origin6.asn.cymru.com), asked through the scan's resolver; a failed lookup makes"
        " that address not tested",
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
    if not 1 <= args.max_mx <= 50:
        raise UsageError("--max-mx must be between 1 and 50")
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
    rpki_vrps = getattr(args, "rpki_vrps", None)
    bgp_table = getattr(args, "bgp_table", None)
    origin_dns: tuple[str, ...] = ()
    if spec := getattr(args, "bgp_origin_dns", None):
        if bgp_table:
            raise UsageError("--bgp-origin-dns and --bgp-table: give one prefix-to-origin source")
        try:
            origin_dns = origin_zones(spec)
        except ValueError as exc:
            raise UsageError(f"--bgp-origin-dns: {exc}") from None
    for label, path in (
        ("--ca-file", ca_file),
        ("--trust-anchor", args.trust_anchor),
        ("--rpki-vrps", None if is_url(rpki_vrps) else rpki_vrps),
        ("--bgp-table", bgp_table),
    ):
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
        max_mx=args.max_mx,
        resolver=args.resolver,
        ca_file=ca_file,
        allow_nets=tuple(args.allow_net),
        allow_private=args.allow_private,
        icmp=not args.no_icmp,
        trust_anchor_file=args.trust_anchor,
        rpki_vrps_file=(
            rpki_vrps if is_url(rpki_vrps) else os.path.abspath(rpki_vrps) if rpki_vrps else None
        ),
        bgp_table_file=os.path.abspath(bgp_table) if bgp_table else None,
        bgp_origin_dns=origin_dns,
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


def load_inventory_or_usage(path: str) -> Inventory:
    try:
        return load_inventory(path)
    except InventoryError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None


def profile_or_usage(name: str) -> Any:
    """``load_profile`` with a bad profile as a usage error (exit 2)."""
    try:
        return load_profile(name)
    except ScanInputError as exc:
        raise UsageError(str(exc)) from None


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


class Presenter:
    """Shows the scan service's events on stderr: what is resumed, the scanner's notes,
    the progress bar (a context manager: leaving it removes the bar)."""

    def __init__(self, progress: bool = True) -> None:
        self.progress = progress
        self._bar: Progress | None = None

    def __enter__(self) -> Presenter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, TargetDone):
            if self._bar is not None:
                self._bar.update(event)
        elif isinstance(event, Note):
            report_to_stderr(event.text)
        elif isinstance(event, Started):
            self.close()
            self._bar = Progress(event.total, enabled=self.progress).__enter__()
        elif isinstance(event, NothingToResume):
            print("auditor: nothing to resume: starting a new scan", file=sys.stderr)
        elif isinstance(event, Resumed):
            print(
                f"auditor: resuming scan {event.scan_id}: {event.done} target(s) already done",
                file=sys.stderr,
            )
        else:
            self.close()  # Finished, and what follows a scan


# ---------------------------------------------------------------------------
# output


def write_outputs(store: Store, scan_id: int, args: argparse.Namespace) -> None:
    """The scan's ``--json`` and ``--out`` outputs, from one scoring of the scan shared by
    both (the JSON streamed from the store, the HTML pages too)."""
    json_path = getattr(args, "json", None)
    out = getattr(args, "out", None)
    if not (json_path or out):
        return
    from auditor.profiles import ProfileError
    from reports.data import load_report
    from reports.jsonout import write_json

    try:
        report = load_report(store, scan_id)
    except (ProfileError, KeyError, ValueError):
        report = None  # the JSON says why (scoring_error); HTML needs the scoring
    if json_path:
        write_json(store, scan_id, json_path, report=report)
    if out:
        from reports import render_report

        if report is None:
            report = load_report(store, scan_id)  # raises: the error as it always was
        render_report(store, report, Path(out), lang=getattr(args, "lang", "vi") or "vi")


def closed_stdout() -> int:
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
