"""auditor gate: one command for CI pipelines that gate a new government site.

Exit codes:

- 0 passed: every requirement at the --fail-on level passed (or was waived), and the score
  is at least --min-score;
- 1 failed: a requirement at the --fail-on level failed, or even counting every
  incomplete requirement as passed the score would stay under --min-score;
- 2 incomplete: nothing failed, but something could not be tested, so there is no verdict;
- 3 usage or input error.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio

from auditor.inventory import (
    Agency,
    HostEntry,
    Inventory,
    InventoryError,
    load_inventory,
    to_ascii_name,
    to_display_name,
)
from auditor.model import Level
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.selfcheck import footing_of, footing_sync, report_to_stderr
from auditor.store import Store, open_store
from reports import stdout_outputs

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_INCOMPLETE = 2
EXIT_USAGE = 3


class GateUsageError(Exception):
    """Bad targets or options: exit code 3."""


# ---------------------------------------------------------------------------
# targets


def parse_target(text: str) -> str:
    """A host name or a URL -> the host's A-label."""
    return parse_gate_target(text)[0]


def parse_gate_target(text: str) -> tuple[str, dict[int, int]]:
    """A host name or a URL -> (A-label, {service port: port to probe}).

    The web checks judge the standard ports (80 for http://, 443 for https://). A URL on
    another port (``https://staging.example.gov.vn:8443/``) is probed there as if it were
    the standard port (ScanOptions.port_map), so the same checks apply to the staging
    server. An IP literal has no name to judge (DNS, certificate name, zone): the message
    says how to test the server behind it under the name it will have.
    """
    raw = text.strip()
    mapping: dict[int, int] = {}
    if "://" in raw:
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https"):
            raise GateUsageError(f"{text!r}: only http:// and https:// URLs can be gated")
        try:
            port = parts.port
        except ValueError:
            raise GateUsageError(f"{text!r}: the port is not a number from 1 to 65535") from None
        service = 443 if parts.scheme == "https" else 80
        if port not in (None, service):
            if port in (80, 443):
                raise GateUsageError(
                    f"{text!r}: {parts.scheme}:// on port {port} is the other scheme's port; "
                    f"give {parts.scheme}://{parts.hostname}/ or a port other than 80 and 443"
                )
            mapping[service] = int(port)
        raw = parts.hostname or ""
    elif raw.count(":") == 1 and raw.rsplit(":", 1)[1].isdigit():
        host, port_text = raw.rsplit(":", 1)
        raise GateUsageError(
            f"{text!r}: a bare HOST:PORT does not say http or https; give a URL such as "
            f"https://{host}:{port_text}/"
        )
    if _is_ip(raw):
        addr = raw.strip("[]")
        raise GateUsageError(
            f"{text!r}: the gate tests a host name (its DNS, its certificate, its zone), not "
            f"an IP address. To test the server at {addr} before its DNS is in place, give "
            f"the name it will serve and pin it: auditor gate https://www.example.gov.vn/ "
            f"--resolve www.example.gov.vn:{addr}"
        )
    try:
        return to_ascii_name(raw), mapping
    except ValueError as exc:
        raise GateUsageError(f"{text!r}: {exc}") from None


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def parse_resolve(spec: str) -> tuple[str, str]:
    """``HOST:ADDR`` (like curl's --resolve, without the port); ADDR may be IPv6."""
    import ipaddress

    host, sep, addr = spec.partition(":")
    if not sep or not host or not addr:
        raise GateUsageError(f"--resolve {spec!r}: expected HOST:ADDR")
    addr = addr.strip("[]")
    if addr.count(":") == 0 and addr.isdigit():
        raise GateUsageError(f"--resolve {spec!r}: give HOST:ADDR (no port)")
    try:
        addr = str(ipaddress.ip_address(addr))
    except ValueError:
        raise GateUsageError(f"--resolve {spec!r}: {addr!r} is not an IP address") from None
    return parse_target(host), addr


async def enclosing_zone(ctx: ProbeContext, host: str) -> str | None:
    """The zone a host lives in, from the SOA the resolver returns (answer or authority).

    Works for a name that is not in DNS yet too: the NXDOMAIN answer carries the SOA of
    the closest enclosing zone (RFC 2308 sec. 3).
    """
    raw = await ctx.dns.message(host, "SOA")
    msg = raw.message
    if msg is None:
        return None
    import dns.rdatatype

    for section in (msg.answer, msg.authority):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.SOA:
                return str(rrset.name.to_text()).rstrip(".").lower() or None
    return None


def registrable_domain(host: str) -> str:
    """Fallback zone when DNS cannot tell: the registrable domain by the Public Suffix List."""
    from publicsuffixlist import PublicSuffixList

    psl = PublicSuffixList()
    found = psl.privatesuffix(host)
    return str(found) if found else host


# ---------------------------------------------------------------------------
# verdict


@dataclass(frozen=True)
class GateItem:
    target: str
    kind: str
    requirement: str
    title: str
    level: str
    status: str  # pass / warn / fail / incomplete / waived / not_applicable
    messages: tuple[str, ...]
    fixes: tuple[str, ...]
    checks: tuple[str, ...]


@dataclass(frozen=True)
class GateVerdict:
    code: int
    score: float | None
    optimistic: float | None
    items: tuple[GateItem, ...]
    reasons: tuple[str, ...]
    # Share (0-100) of the scored weight that was tested: what ``score`` rests on.
    coverage: float | None = None

    @property
    def word(self) -> str:
        return {EXIT_PASSED: "PASSED", EXIT_FAILED: "FAILED", EXIT_INCOMPLETE: "INCOMPLETE"}[
            self.code
        ]


def _levels(fail_on: str) -> tuple[Level, ...]:
    if fail_on == "recommended":
        return (Level.MANDATORY, Level.RECOMMENDED)
    return (Level.MANDATORY,)


def _fix_text(check_id: str) -> str:
    from auditor.registry import get_check, is_known

    if not is_known(check_id):
        return ""
    rem = get_check(check_id).remediation
    parts = [f"{k}: {rem[k]}" for k in ("general", "nginx", "apache", "iis", "dns") if k in rem]
    return " | ".join(parts)


def decide(score: Any, fail_on: str, min_score: float | None) -> GateVerdict:
    """Turn a ScanScore into the gate's verdict. Pure."""
    from auditor.scoring import ReqStatus

    levels = _levels(fail_on)
    items: list[GateItem] = []
    weighted_total = weighted_got = weighted_open = 0.0
    failed = incomplete = False
    reasons: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for agency in score.agencies:
        for pair in agency.pairs:
            key = (pair.target_kind.value, pair.target, pair.requirement.id)
            if key in seen:  # a target shared by two agencies is judged once
                continue
            seen.add(key)
            req = pair.requirement
            # Never-scored checks (ipv6.web.icmp) are shown in reports, not gate problems.
            bad = [
                c
                for c in pair.checks
                if c.scored
                and c.req_status in (ReqStatus.FAIL, ReqStatus.WARN, ReqStatus.INCOMPLETE)
            ]
            items.append(
                GateItem(
                    target=pair.target,
                    kind=pair.target_kind.value,
                    requirement=req.id,
                    title=req.title,
                    level=req.level.value,
                    status=pair.status.value,
                    messages=tuple(f"{c.check}: {c.message}" for c in bad),
                    fixes=tuple(f for c in bad if (f := _fix_text(c.check))),
                    checks=tuple(c.check for c in pair.checks),
                )
            )
            if req.scored:
                if pair.status in (ReqStatus.PASS, ReqStatus.WARN, ReqStatus.FAIL):
                    weighted_total += req.weight
                    weighted_got += req.weight * pair.credit
                elif pair.status == ReqStatus.INCOMPLETE:
                    weighted_total += req.weight
                    weighted_open += req.weight
            if req.level in levels:
                if pair.status == ReqStatus.FAIL:
                    failed = True
                    reasons.append(
                        f"{req.level.value} requirement {req.id} failed on {pair.target}"
                    )
                elif pair.status == ReqStatus.INCOMPLETE:
                    incomplete = True
    score_now = round(100 * weighted_got / weighted_total, 1) if weighted_total else None
    counted = weighted_total - weighted_open
    score_counted = round(100 * weighted_got / counted, 1) if counted else None
    optimistic = (
        round(100 * (weighted_got + weighted_open) / weighted_total, 1) if weighted_total else None
    )
    if min_score is not None and optimistic is not None and optimistic < min_score:
        failed = True
        reasons.append(f"score {score_counted} is under --min-score {min_score:g}")
    elif min_score is not None and score_counted is not None and score_counted < min_score:
        incomplete = True
    coverage = round(100 * counted / weighted_total, 1) if weighted_total else None
    min_coverage = getattr(score.profile, "min_coverage", 0.0)
    if not failed and coverage is not None and coverage < min_coverage:
        # As in the reports ("insufficient data"): too little was tested for a verdict.
        incomplete = True
        reasons.append(
            f"only {coverage:g} % of the profile's weight could be tested "
            f"(the profile's min_coverage is {min_coverage:g} %)"
        )
    if failed:
        code = EXIT_FAILED
    elif incomplete:
        code = EXIT_INCOMPLETE
        reasons.append("some requirements could not be tested: no verdict")
    else:
        code = EXIT_PASSED
    del score_now
    return GateVerdict(code, score_counted, optimistic, tuple(items), tuple(reasons), coverage)


# ---------------------------------------------------------------------------
# outputs


def junit_xml(verdict: GateVerdict, profile: str, suite_name: str = "auditor gate") -> bytes:
    """One test case per (host or zone, requirement); failures say what to fix."""
    root = ET.Element("testsuites", name=suite_name)
    by_target: dict[str, list[GateItem]] = {}
    for item in verdict.items:
        by_target.setdefault(f"{item.kind}:{item.target}", []).append(item)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    for target, items in by_target.items():
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        suite = ET.SubElement(root, "testsuite", name=f"{profile} {target}", timestamp=stamp)
        for item in items:
            counts["tests"] += 1
            case = ET.SubElement(
                suite,
                "testcase",
                name=f"{item.requirement} ({item.level}): {item.title}",
                classname=f"{profile}.{item.kind}.{item.target}",
                time="0",
            )
            text = "\n".join(item.messages + tuple(f"Fix: {f}" for f in item.fixes))
            if item.status == "fail":
                counts["failures"] += 1
                first = item.messages[0] if item.messages else "failed"
                ET.SubElement(case, "failure", message=_clip(first), type=item.level).text = text
            elif item.status == "incomplete":
                counts["skipped"] += 1
                first = item.messages[0] if item.messages else "not tested"
                ET.SubElement(case, "skipped", message=_clip(f"could not be tested: {first}"))
            elif item.status in ("not_applicable", "waived"):
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=item.status.replace("_", " "))
            elif item.status == "warn" and text:
                ET.SubElement(case, "system-out").text = text
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k in ("tests", "failures", "errors"):
        root.set(k, str(totals[k]))
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md(text: str) -> str:
    """Escape remote text for a Markdown table cell (pipes, HTML, newlines)."""
    import html

    return html.escape(text).replace("|", "\\|").replace("\n", " ")


def markdown_summary(verdict: GateVerdict, profile: str, targets: Sequence[str]) -> str:
    icon = {EXIT_PASSED: "✅", EXIT_FAILED: "❌", EXIT_INCOMPLETE: "⚠️"}[verdict.code]
    lines = [
        f"## {icon} auditor gate: {verdict.word}",
        "",
        f"Profile **{_md(profile)}**, targets: {', '.join(f'`{_md(t)}`' for t in targets)}. "
        f"Score: **{verdict.score if verdict.score is not None else 'n/a'}** "
        f"(coverage {_coverage(verdict.coverage)}).",
        "",
    ]
    for reason in verdict.reasons:
        lines.append(f"- {_md(reason)}")
    bad = [i for i in verdict.items if i.status in ("fail", "incomplete", "warn")]
    if bad:
        lines += ["", "| target | requirement | level | status | why |", "|---|---|---|---|---|"]
        order = {"fail": 0, "incomplete": 1, "warn": 2}
        for i in sorted(bad, key=lambda i: (order[i.status], i.level != "mandatory", i.target)):
            why = "; ".join(i.messages) or "-"
            lines.append(
                f"| `{_md(i.target)}` | {_md(i.requirement)} | {i.level} | {i.status} | "
                f"{_md(_clip(why, 400))} |"
            )
    passed = sum(1 for i in verdict.items if i.status == "pass")
    lines += ["", f"{passed} of {len(verdict.items)} requirement checks passed.", ""]
    return "\n".join(lines)


def _coverage(value: float | None) -> str:
    """The share of the profile's weight the score rests on, as the reports show it."""
    return "n/a" if value is None else f"{value:g} % tested"


def terminal_summary(verdict: GateVerdict, profile: str) -> str:
    out = [
        f"GATE {verdict.word} (profile {profile}, score "
        f"{verdict.score if verdict.score is not None else 'n/a'}, "
        f"coverage {_coverage(verdict.coverage)})"
    ]
    out += [f"  - {r}" for r in verdict.reasons]
    for status in ("fail", "incomplete", "warn"):
        for i in verdict.items:
            if i.status == status and (status != "warn" or i.level == "mandatory"):
                out.append(f"  {status.upper():<10} {i.requirement:<24} {i.target}")
                for m in i.messages[:3]:
                    out.append(f"             {_clip(m, 160)}")
    return "\n".join(out)


# ---------------------------------------------------------------------------
# command


def gate_inventory(hosts: Sequence[str], zones: Sequence[str]) -> Inventory:
    agency = Agency(
        id="gate",
        name="CI gate",
        name_en="CI gate",
        parent=None,
        contact=None,
        tags=("gate",),
        domains=tuple(dict.fromkeys(zones)),
        hosts=tuple(HostEntry(h, to_display_name(h)) for h in dict.fromkeys(hosts)),
        waivers=(),
        line=0,
    )
    return Inventory(
        path="<gate>",
        version=1,
        name="CI gate: " + ", ".join(hosts),
        as_of=date.today(),
        profile=None,
        agencies=(agency,),
    )


def register(sub: Any) -> None:
    from auditor.cli import add_network_options

    p = sub.add_parser(
        "gate",
        help="pass/fail a site for CI (exit 0 passed, 1 failed, 2 incomplete, 3 usage error)",
        description=__doc__,
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
        "--db", help="keep the scan in this store: a path or sqlite:///PATH (default: temporary)"
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
    from auditor.cli import UsageError, _profile, execute_scan, options_from_args

    if args.min_score is not None and not 0 <= args.min_score <= 100:
        raise GateUsageError("--min-score must be between 0 and 100")
    if bool(args.targets) == bool(args.inventory):
        raise GateUsageError("give TARGET host names/URLs, or --inventory FILE (not both)")
    if args.only and not args.inventory:
        raise GateUsageError("--only goes with --inventory")
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
        profile = _profile(args.profile or "vn-gov")
    except UsageError as exc:
        raise GateUsageError(str(exc)) from None

    if args.inventory:
        try:
            inventory = load_inventory(args.inventory)
            if args.only:
                inventory = inventory.only(args.only)
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
    footing = footing_sync(options, targets, report_to_stderr)
    if not args.inventory:
        if args.zone:
            zones = [parse_target(z) for z in args.zone]
        elif footing.resolver.down:
            zones = [registrable_domain(t) for t in targets]
        else:
            zones = _zones(options, targets)
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
            verdict = _verdict(store, scan_id, profile, args)
            final = footing_of(store.scan(scan_id).stats) or footing
            blockers = final.blockers()
            if blockers:
                # Judged from a scanner that cannot see the site as citizens do: whatever
                # else was found, there is no verdict (exit 2), and that is said first.
                verdict = replace(
                    verdict, code=EXIT_INCOMPLETE, reasons=(*blockers, *verdict.reasons)
                )
            if args.json:
                from reports.jsonout import write_json

                write_json(store, scan_id, args.json)
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


def _verdict(store: Store, scan_id: int, profile: Any, args: argparse.Namespace) -> GateVerdict:
    from auditor.scoring import score_scan

    scan = store.scan(scan_id)
    score = score_scan(profile, scan.inventory, store.findings(scan_id), date.today())
    return decide(score, args.fail_on, args.min_score)


def _zones(options: ScanOptions, hosts: Iterable[str]) -> list[str]:
    """Each host's enclosing zone, asked from DNS; the registrable domain when DNS can't tell."""

    async def find() -> list[str]:
        ctx = ProbeContext(options)
        out: list[str] = []
        for host in hosts:
            zone = await enclosing_zone(ctx, host)
            floor = registrable_domain(host)
            # A pinned host that is not in DNS yet still belongs to a real zone; if DNS is
            # silent, or names a public suffix (gov.vn: the agency zone is not delegated
            # yet), the Public Suffix List's registrable domain stands in.
            if zone is None or len(zone) < len(floor):
                zone = floor
            out.append(zone)
        return out

    return anyio.run(find, backend="asyncio")


def _write(path: str, data: bytes) -> None:
    from reports import write_output

    write_output(path, data.decode("utf-8"))
