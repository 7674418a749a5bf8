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

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import anyio

from auditor.inventory import (
    Agency,
    HostEntry,
    Inventory,
    to_ascii_name,
    to_display_name,
)
from auditor.model import Level
from auditor.options import ScanOptions
from auditor.probes.context import ProbeContext
from auditor.protocol.names import norm_name, registrable_domain
from auditor.store import Store
from auditor.text import clip

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
                return norm_name(str(rrset.name.to_text())) or None
    return None


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
                ET.SubElement(
                    case, "failure", message=clip(first, 300), type=item.level
                ).text = text
            elif item.status == "incomplete":
                counts["skipped"] += 1
                first = item.messages[0] if item.messages else "not tested"
                ET.SubElement(case, "skipped", message=clip(f"could not be tested: {first}", 300))
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
                f"{_md(clip(why, 400))} |"
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
                    out.append(f"             {clip(m, 160)}")
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


def enclosing_zones(options: ScanOptions, hosts: Iterable[str]) -> list[str]:
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


def gate_score(store: Store, scan_id: int, profile: Any) -> Any:
    """The gate's scoring of a stored scan (evidence left out: no score reads it), shared
    by its verdict and its outputs."""
    from auditor.scoring import score_scan

    scan = store.scan(scan_id)
    findings = store.iter_findings(scan_id, evidence=False)
    return score_scan(profile, scan.inventory, findings, date.today())
