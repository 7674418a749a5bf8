"""HTML scorecards: index, one page per agency, one page per host and per domain.

Pages are self-contained (inline CSS, inline SVG charts, no script, no external font or image)
and carry a restrictive Content-Security-Policy meta tag, so they work from ``file://`` and when
mailed as a zip. Templates are autoescaped: every remote string (messages, evidence, headers,
certificate fields) is escaped; nothing remote is ever marked safe. Templates never compute a
score: everything they show is prepared here from :mod:`auditor.scoring` results.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from auditor import __version__
from auditor.inventory import to_display_name
from auditor.model import Finding, Status, TargetKind
from auditor.profiles import VantageRule
from auditor.registry import get_check, is_known
from auditor.scoring import (
    AgencyScore,
    CheckResult,
    PairResult,
    ReqStatus,
    ScanScore,
    check_result,
    combine_results,
)
from auditor.text import clip
from reports.data import ReportData, observation_docs, scan_day
from reports.i18n import Catalog, split_code

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)
_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,252}$")
MAX_EVIDENCE_ROWS = 200
MAX_VALUE_CHARS = 600

STATUS_SYMBOL = {
    "pass": "✓",
    "fail": "✗",
    "warn": "!",
    "info": "i",
    "not_applicable": "–",
    "not_tested": "?",
    "error": "?",
    "incomplete": "?",
    "waived": "W",
}


# Control characters and bidirectional overrides from remote data (certificate names,
# headers) are escaped by HTML escaping but still act: a right-to-left override can make
# "moc.etis-live" read as another name (Unicode TR #36 sec. 2.3), a bell or escape byte hides
# text. Show them as visible code points instead, in every {{ }} output.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)


def neutralise(value: Any) -> Any:
    """Replace invisible and direction-changing characters by a visible ⟨U+XXXX⟩."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return _INVISIBLE.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", value)
    return value


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=True,  # every template, whatever its suffix
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=neutralise,
    )
    return env


def page_name(kind: str, name: str) -> str:
    """File name of a target or agency page (names are A-labels or agency ids: safe)."""
    if not _SAFE_NAME.match(name):
        import hashlib

        name = "x-" + hashlib.sha256(name.encode()).hexdigest()[:16]
    folder = {"agency": "agencies", "host": "hosts", "zone": "zones"}[kind]
    return f"{folder}/{name}.html"


def fmt_number(value: float | None, lang: str, digits: int = 1) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    if text.endswith(".0"):
        text = text[:-2]
    return text.replace(".", ",") if lang == "vi" else text


def flatten(obj: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """Nested evidence/observation data as (dotted key, text) rows, capped in size."""
    rows: list[tuple[str, str]] = []

    def walk(o: Any, key: str, d: int) -> None:
        if len(rows) >= MAX_EVIDENCE_ROWS:
            return
        if isinstance(o, Mapping) and d < 6:
            if not o:
                rows.append((key or "-", "{}"))
            for k, v in o.items():
                walk(v, f"{key}.{k}" if key else str(k), d + 1)
            return
        if isinstance(o, list | tuple) and d < 6:
            if not o:
                rows.append((key or "-", "[]"))
            elif all(not isinstance(x, Mapping | list | tuple) for x in o):
                rows.append((key or "-", clip(", ".join(_text(x) for x in o), MAX_VALUE_CHARS)))
            else:
                for i, v in enumerate(o):
                    walk(v, f"{key}[{i}]", d + 1)
            return
        rows.append((key or "-", clip(_text(o), MAX_VALUE_CHARS)))

    walk(obj, prefix, depth)
    if len(rows) >= MAX_EVIDENCE_ROWS:
        rows.append(("…", f"(more than {MAX_EVIDENCE_ROWS} rows, cut)"))
    return rows


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --------------------------------------------------------------------------- view models


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    label: str
    value: int


def distribution(score: ScanScore) -> dict[str, Any]:
    """Bars: agencies per grade (plus "?" insufficient data and "-" no score), for an
    inline SVG."""
    grades = [b.grade for b in score.profile.grades]
    counts = {g: 0 for g in grades}
    unscored = insufficient = 0
    for a in score.agencies:
        if a.insufficient:
            insufficient += 1
        elif a.grade is None:
            unscored += 1
        else:
            counts[a.grade] = counts.get(a.grade, 0) + 1
    labels = list(grades)
    values = [counts.get(g, 0) for g in grades]
    for label, value in (("?", insufficient), ("-", unscored)):
        if value:
            labels.append(label)
            values.append(value)
    width, height, pad = 480.0, 180.0, 28.0
    top = max(values) if values and max(values) > 0 else 1
    slot = (width - 2 * pad) / max(1, len(labels))
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = (height - 2 * pad) * value / top
        bars.append(
            Bar(
                x=round(pad + i * slot + slot * 0.15, 1),
                y=round(height - pad - h, 1),
                w=round(slot * 0.7, 1),
                h=round(h, 1),
                label=label,
                value=value,
            )
        )
    return {
        "width": width,
        "height": height,
        "base": height - pad,
        "bars": bars,
        "apart": bool(insufficient or unscored),
    }


def trend_chart(points: Sequence[tuple[str, float | None]]) -> dict[str, Any]:
    """A line of scores (0-100) over scans, for an inline SVG."""
    width, height, pad = 480.0, 160.0, 30.0
    n = len(points)
    step = (width - 2 * pad) / max(1, n - 1)
    dots = []
    for i, (label, value) in enumerate(points):
        if value is None:
            continue
        x = pad + i * step if n > 1 else width / 2
        y = height - pad - (height - 2 * pad) * value / 100.0
        dots.append({"x": round(x, 1), "y": round(y, 1), "label": label, "value": value})
    line = " ".join(f"{d['x']},{d['y']}" for d in dots)
    return {"width": width, "height": height, "pad": pad, "dots": dots, "line": line}


def province_trend(data: ReportData) -> list[tuple[Any, float | None, str]]:
    """Per scan: the mean agency score and "agencies working well over IPv6" (yes/decided)."""
    out = []
    for scan, summary in data.history:
        yes, total = summary.kpi_share()
        out.append((scan, summary.mean(), f"{yes}/{total}"))
    return out


@dataclass(frozen=True)
class FailGroup:
    """One failing check of an agency, with every target it fails on."""

    check: str
    title: str
    status: str
    level: str
    requirement: str
    items: tuple[CheckResult, ...]
    why: str
    fixes: tuple[tuple[str, list[tuple[bool, str]]], ...]


def fail_groups(agency: AgencyScore, cat: Catalog) -> list[FailGroup]:
    req_of: dict[str, PairResult] = {}
    for p in agency.pairs:
        for c in p.checks:
            req_of.setdefault(c.check, p)
    groups: dict[str, list[CheckResult]] = {}
    for c in agency.failing():
        groups.setdefault(c.check, []).append(c)
    out = []
    for check_id, items in groups.items():
        pair = req_of[check_id]
        worst = "fail" if any(i.status == Status.FAIL for i in items) else "warn"
        fixes = tuple((k, split_code(v)) for k, v in cat.check_fix(check_id).items())
        out.append(
            FailGroup(
                check=check_id,
                title=cat.check_title(check_id),
                status=worst,
                level=pair.requirement.level.value,
                requirement=cat.requirement_title(pair.requirement),
                items=tuple(items),
                why=cat.check_why(check_id),
                fixes=fixes,
            )
        )
    level_rank = {"mandatory": 0, "recommended": 1, "informational": 2}
    out.sort(
        key=lambda g: (
            g.status != "fail",
            level_rank.get(g.level, 3),
            -len(g.items),
            g.check,
        )
    )
    return out


def matrix(agency: AgencyScore, score: ScanScore) -> dict[str, Any]:
    """Rows: requirements; columns: the agency's hosts then zones; cells: pair statuses."""
    cells: dict[tuple[str, str, str], PairResult] = {}
    for p in agency.pairs:
        cells[(p.target_kind.value, p.target, p.requirement.id)] = p
    cols = [{"kind": "host", "name": h} for h in agency.agency.hosts] + [
        {"kind": "zone", "name": z} for z in agency.agency.zones
    ]
    rows = []
    for r in score.profile.requirements:
        row = [cells.get((c["kind"], c["name"], r.id)) for c in cols]
        if any(p is not None for p in row):
            rows.append({"req": r, "cells": row})
    return {"cols": cols, "rows": rows}


def _scope(check_id: str) -> str:
    return get_check(check_id).scope.value if is_known(check_id) else ""


def _category(check_id: str) -> str:
    return get_check(check_id).category.value if is_known(check_id) else ""


def tls_view(obs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-address TLS facts from a stored host observation (fields may be missing)."""
    out = []
    for t in obs.get("tls", []) or []:
        if not isinstance(t, Mapping):
            continue
        chain = [c for c in t.get("chain", []) or [] if isinstance(c, Mapping)]
        out.append(
            {
                "address": t.get("address", ""),
                "port": t.get("port", ""),
                "outcome": t.get("outcome", ""),
                "detail": t.get("detail", ""),
                "versions": [v for v in t.get("versions", []) or [] if isinstance(v, Mapping)],
                "ciphers": [c for c in t.get("ciphers", []) or [] if isinstance(c, Mapping)],
                "leaf": chain[0] if chain else None,
                "chain": chain,
                "trust": t.get("trust", ""),
                "trust_detail": t.get("trust_detail", ""),
                "handshake": " ".join(
                    x for x in (t.get("handshake_version", ""), t.get("handshake_cipher", "")) if x
                ),
                "ocsp": t.get("ocsp_stapled"),
            }
        )
    return out


def http_view(obs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per address: each fetch (http://, https://) with its hops and the final headers."""
    out = []
    for h in obs.get("http", []) or []:
        if not isinstance(h, Mapping):
            continue
        fetches = []
        for key in ("http", "https"):
            f = h.get(key)
            if not isinstance(f, Mapping):
                continue
            hops = [x for x in f.get("hops", []) or [] if isinstance(x, Mapping)]
            headers = []
            if hops:
                for pair in hops[-1].get("headers", []) or []:
                    if isinstance(pair, list | tuple) and len(pair) == 2:
                        headers.append(
                            (
                                clip(str(pair[0]), MAX_VALUE_CHARS),
                                clip(str(pair[1]), MAX_VALUE_CHARS),
                            )
                        )
            fetches.append(
                {
                    "url": f.get("start_url", ""),
                    "outcome": f.get("outcome", ""),
                    "detail": f.get("detail", ""),
                    "hops": hops,
                    "headers": headers[:MAX_EVIDENCE_ROWS],
                }
            )
        known = ("address", "http", "https", "outcome", "detail")
        rest = {k: v for k, v in h.items() if k not in known}
        out.append(
            {
                "address": h.get("address", ""),
                "outcome": h.get("outcome", ""),
                "detail": h.get("detail", ""),
                "fetches": fetches,
                "rows": flatten(rest),
            }
        )
    return out


def address_matrix(
    kind: str, name: str, findings: Iterable[Finding], cat: Catalog, multi: bool = False
) -> dict[str, Any]:
    """Per-address results: rows = address-scope checks, columns = addresses (``multi``,
    several vantages: one column per address and vantage, labelled ``address (vantage)``)."""
    cells: dict[tuple[str, str], str] = {}
    checks: list[str] = []
    addresses: list[str] = []
    for f in findings:
        if f.target_kind.value != kind or f.target != name or f.address is None:
            continue
        column = f"{f.address} ({f.vantage})" if multi else f.address
        if f.check not in checks:
            checks.append(f.check)
        if column not in addresses:
            addresses.append(column)
        cells[(f.check, column)] = f.status.value
    addresses.sort(key=lambda a: (":" in a.split(" ")[0], a))
    return {
        "addresses": addresses,
        "rows": [
            {
                "check": c,
                "title": cat.check_title(c),
                "cells": [cells.get((c, a)) for a in addresses],
            }
            for c in sorted(checks)
        ],
    }


def _answer(ans: Any) -> dict[str, Any] | None:
    if not isinstance(ans, Mapping):
        return None
    return {
        "qname": ans.get("qname", ""),
        "rdtype": ans.get("rdtype", ""),
        "outcome": ans.get("outcome", ""),
        "detail": ans.get("detail", ""),
        "records": [clip(str(r), MAX_VALUE_CHARS) for r in (ans.get("records") or [])][:50],
        "secure": ans.get("authenticated"),
    }


def zone_view(obs: Mapping[str, Any]) -> dict[str, Any]:
    """Key facts of a stored zone observation: records, servers, DNSSEC, SMTP."""
    records = []
    for key in ("soa", "ns", "mx", "spf", "dmarc", "dmarc_org"):
        a = _answer(obs.get(key))
        if a is not None:
            records.append(a)
    caa = [x for x in (_answer(c) for c in obs.get("caa") or []) if x is not None]
    relevant = next((c for c in caa if c["records"]), caa[-1] if caa else None)
    if relevant is not None:
        records.append(relevant)
    servers = []
    for role, key in (("NS", "ns_hosts"), ("MX", "mx_hosts")):
        for s in obs.get(key) or []:
            if not isinstance(s, Mapping):
                continue
            a, aaaa = _answer(s.get("a")), _answer(s.get("aaaa"))
            servers.append(
                {
                    "role": role,
                    "name": s.get("name", ""),
                    "preference": s.get("preference"),
                    "a": a["records"] if a else [],
                    "aaaa": aaaa["records"] if aaaa else [],
                }
            )
    dnssec = obs.get("dnssec") if isinstance(obs.get("dnssec"), Mapping) else None
    return {
        "records": records,
        "servers": servers,
        "ns_queries": [q for q in obs.get("ns_queries") or [] if isinstance(q, Mapping)][:100],
        "dnssec": dnssec,
        "smtp": [s for s in obs.get("smtp") or [] if isinstance(s, Mapping)][:50],
    }


@dataclass(frozen=True)
class Row:
    requirement: str
    check: str
    title: str
    address: str | None
    status: str
    message: str
    evidence: list[tuple[str, str]]
    waived: bool
    vantage: str = ""  # several vantages: where it was observed from


_ROW_ORDER = {
    "fail": 0,
    "error": 1,
    "warn": 2,
    "not_tested": 3,
    "info": 4,
    "pass": 5,
    "not_applicable": 6,
}


def target_rows(
    kind: str, name: str, score: ScanScore, findings: Iterable[Finding], cat: Catalog
) -> list[Row]:
    by_check: dict[str, list[Finding]] = {}
    for f in findings:
        if f.target_kind.value == kind and f.target == name:
            by_check.setdefault(f.check, []).append(f)

    def row(requirement: str, f: Finding) -> Row:
        title = cat.check_title(f.check)
        evidence = flatten(f.evidence)
        return Row(
            requirement,
            f.check,
            title,
            f.address,
            f.status.value,
            f.message,
            evidence,
            False,
            f.vantage,
        )

    rows: list[Row] = []
    seen: set[str] = set()
    for req in score.profile.requirements:
        for c in req.checks:
            if c in seen:
                continue
            fs = by_check.get(c)
            if fs is None:
                continue
            seen.add(c)
            for f in sorted(
                fs, key=lambda x: (":" in (x.address or ""), x.address or "", x.vantage)
            ):
                rows.append(row(cat.requirement_title(req), f))
    # What does not pass first (fail, warn, not tested); profile order within each status.
    rows.sort(key=lambda r: _ROW_ORDER.get(r.status, 9))
    for c in sorted(set(by_check) - seen):  # stored, but not in this profile
        for f in by_check[c]:
            rows.append(row("", f))
    return rows


@dataclass(frozen=True)
class VantageCell:
    status: str
    reason: str  # the finding's message (remote text: escaped by the template)


@dataclass(frozen=True)
class VantageRow:
    check: str
    title: str
    address: str | None  # a row per address under an address-scope check
    cells: tuple[VantageCell, ...]  # one per vantage, in vantage order
    combined: VantageCell
    differ: bool  # the vantages do not agree


MAX_REASON_CHARS = 240
_IPV6_CATEGORIES = ("ipv6_web", "ipv6_dns", "ipv6_mail")


def vantage_matrix(
    kind: str,
    name: str,
    findings: Iterable[Finding],
    vantages: Sequence[str],
    rule: VantageRule,
    today: Any,
    cat: Catalog,
) -> list[VantageRow]:
    """IPv6 results of one target per vantage: rows = the target's IPv6 checks (an address-
    scope check also gets a row per address), columns = vantages, plus the combined result
    by the profile's rule. Empty unless there are several vantages."""
    if len(vantages) < 2:
        return []
    kind_of = TargetKind(kind)
    by: dict[tuple[str, str | None, str], list[Finding]] = {}
    order: list[tuple[str, str | None]] = []
    for f in findings:
        if f.target_kind.value != kind or f.target != name:
            continue
        if _category(f.check) not in _IPV6_CATEGORIES:
            continue
        for key in ((f.check, None), (f.check, f.address)) if f.address else ((f.check, None),):
            by.setdefault((*key, f.vantage), []).append(f)
            if key not in order:
                order.append(key)
    order.sort(key=lambda k: (k[0], k[1] is not None, ":" in (k[1] or ""), k[1] or ""))
    rows: list[VantageRow] = []
    for check, address in order:
        results = [
            (v, check_result(check, kind_of, name, by.get((check, address, v), []), today=today))
            for v in vantages
        ]
        combined = combine_results(results, rule)
        cells = tuple(
            VantageCell(r.status.value, clip(r.message, MAX_REASON_CHARS)) for _v, r in results
        )
        reason = combined.message
        rows.append(
            VantageRow(
                check=check,
                title=cat.check_title(check),
                address=address,
                cells=cells,
                combined=VantageCell(combined.status.value, clip(reason, MAX_REASON_CHARS)),
                differ=len({c.status for c in cells}) > 1,
            )
        )
    return rows


def kpi_matrix(agency: AgencyScore) -> list[dict[str, Any]]:
    """The KPI per host and vantage (several vantages only): rows = hosts."""
    return [
        {
            "host": h.host,
            "answer": h.answer,
            "cells": [
                {"vantage": v, "answer": ans, "reason": clip(why, MAX_REASON_CHARS)}
                for v, ans, why in h.vantages
            ],
            "differ": len({ans for _v, ans, _w in h.vantages}) > 1,
        }
        for h in agency.host_kpis
    ]


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class FootingView:
    """The scanner's footing for the page header: one short fact per line, and the notes
    (localised meaning + the recorded reason) for each fact that was not OK."""

    facts: tuple[tuple[str, str], ...]  # (label, status)
    notes: tuple[tuple[str, str], ...]  # (what it means, the recorded reason)
    rechecks: int


def footing_view(stats: Mapping[str, Any], cat: Catalog) -> FootingView | None:
    from auditor.selfcheck import FootStatus, footing_of

    footing = footing_of(stats)
    if footing is None:
        return None
    facts = [
        ("IPv6", footing.ipv6.status.value),
        ("IPv4", footing.ipv4.status.value),
        (cat.t("footing_resolver"), footing.resolver.status.value),
    ]
    if footing.load.status != FootStatus.OK:
        facts.append((cat.t("footing_load"), footing.load.status.value))
    notes = []
    shown = (FootStatus.DOWN, FootStatus.DEGRADED)
    for key, fact in (
        ("ipv6", footing.ipv6),
        ("ipv4", footing.ipv4),
        ("resolver", footing.resolver),
        ("load", footing.load),
    ):
        if fact.status in shown:
            meaning = cat.t(f"footing_{key}_{fact.status.value}")
            if meaning.startswith("footing_"):  # no text for that pair: the reason says it
                meaning = ""
            notes.append((meaning, clip(fact.reason, MAX_VALUE_CHARS)))
    return FootingView(tuple(facts), tuple(notes), len(footing.rechecks))


def vantage_footings(data: ReportData, cat: Catalog) -> list[tuple[str, FootingView | None]]:
    """Each vantage's footing for the page header (several vantages only)."""
    from auditor.selfcheck import FOOTING_KEY

    if not data.multi_vantage:
        return []
    return [(v, footing_view({FOOTING_KEY: data.footings.get(v)}, cat)) for v in data.vantages]


class HtmlRenderer:
    def __init__(self, data: ReportData, lang: str = "vi") -> None:
        self.data = data
        self.lang = lang
        self.cat = Catalog(lang)
        self.env = _env()
        self.env.globals.update(
            t=self.cat.t,
            cat=self.cat,
            lang=lang,
            csp=CSP,
            sym=STATUS_SYMBOL,
            num=lambda v, d=1: fmt_number(v, lang, d),
            pct=lambda a, b: fmt_number(100.0 * a / b, lang, 0) + " %" if b else "-",
            page=page_name,
            display=to_display_name,
            scope_of=_scope,
            category_of=_category,
            split_code=split_code,
            version=__version__,
            aname=lambda a: (a.agency.name_en or a.agency.name) if lang == "en" else a.agency.name,
            ReqStatus=ReqStatus,
        )
        self.common = {
            "scan": data.scan,
            "profile": data.profile,
            "profile_note": data.profile_note,
            "scan_date": str(scan_day(data.scan)),
            "inventory_name": data.scan.inventory_name,
            "footing": footing_view(data.scan.stats, self.cat),
            # Several vantages: the scan header shows each one's footing (empty otherwise).
            "multi_vantage": data.multi_vantage,
            "vantages": data.vantages,
            "vantage_footings": vantage_footings(data, self.cat),
            "kpi_rule": self.cat.t(f"vantage_rule_kpi_{data.profile.vantage_kpi.value}"),
            "checks_rule": self.cat.t(f"vantage_rule_checks_{data.profile.vantage_checks.value}"),
            "kpi_title": (
                (data.profile.kpi.title_vi if lang == "vi" and data.profile.kpi.title_vi else None)
                or data.profile.kpi.title
                if data.profile.kpi
                else self.cat.t("kpi_default")
            ),
            "profile_title": (
                data.profile.title_vi
                if lang == "vi" and data.profile.title_vi
                else data.profile.title
            ),
        }

    def _write(self, out_dir: Path, rel: str, template: str, **ctx: Any) -> Path:
        depth = rel.count("/")
        root = "../" * depth
        html = self.env.get_template(template).render(root=root, **self.common, **ctx)
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
        return path

    def owners(self) -> dict[tuple[str, str], list[AgencyScore]]:
        out: dict[tuple[str, str], list[AgencyScore]] = {}
        for a in self.data.score.agencies:
            for h in a.agency.hosts:
                out.setdefault(("host", h), []).append(a)
            for z in a.agency.zones:
                out.setdefault(("zone", z), []).append(a)
        return out

    def render(
        self, out_dir: Path, observations: Iterable[tuple[TargetKind, str, str]] = ()
    ) -> list[Path]:
        d = self.data
        score = d.score
        written = []
        ranked = score.ranked()
        hosts = {h for a in score.agencies for h in a.agency.hosts}
        zones = {z for a in score.agencies for z in a.agency.zones}
        kpi_yes, kpi_total = score.kpi_share()
        written.append(
            self._write(
                out_dir,
                "index.html",
                "index.html.j2",
                ranked=ranked,
                deltas={a.id: d.agency_delta(a.id) for a in score.agencies},
                has_previous=d.previous is not None,
                shares=score.shares,
                dist=distribution(score),
                n_hosts=len(hosts),
                n_zones=len(zones),
                kpi_yes=kpi_yes,
                kpi_total=kpi_total,
                coverage=score.coverage,
                trend=province_trend(d),
                chart=trend_chart([(f"#{s.id}", v) for s, v, _k in province_trend(d)]),
            )
        )
        for a in score.agencies:
            trend = d.agency_trend(a.id)
            written.append(
                self._write(
                    out_dir,
                    page_name("agency", a.id),
                    "agency.html.j2",
                    a=a,
                    delta=d.agency_delta(a.id),
                    has_previous=d.previous is not None,
                    groups=fail_groups(a, self.cat),
                    matrix=matrix(a, score),
                    kmatrix=kpi_matrix(a),
                    untested=a.incomplete(),
                    waived=a.waived(),
                    waivers=a.agency.waivers,
                    today=score.today,
                    trend=trend,
                    chart=trend_chart([(f"#{s.id}", v) for s, v in trend]),
                )
            )
        owners = self.owners()
        # Findings indexed once per target: pages are rendered for thousands of hosts.
        by_target: dict[tuple[str, str], list[Finding]] = {}
        for f in d.findings:
            by_target.setdefault((f.target_kind.value, f.target), []).append(f)
        # The target's requirement results: the first owner's (only waivers differ by owner).
        pairs_of: dict[tuple[str, str], list[PairResult]] = {}
        for a in score.agencies:
            for p in a.pairs:
                key = (p.target_kind.value, p.target)
                if owners.get(key, [None])[0] is a:
                    pairs_of.setdefault(key, []).append(p)
        done: set[tuple[str, str]] = set()
        # Observations are streamed (parsed one at a time), then targets without any.
        for kind, name, obs in itertools.chain(
            observation_docs(observations), ((k, n, {}) for k, n in sorted(owners))
        ):
            if (kind, name) in done or (kind, name) not in owners:
                continue
            done.add((kind, name))
            agencies = owners[(kind, name)]
            written.append(
                self._write(
                    out_dir,
                    page_name(kind, name),
                    "target.html.j2",
                    kind=kind,
                    name=name,
                    agencies=agencies,
                    rows=target_rows(kind, name, score, by_target.get((kind, name), []), self.cat),
                    amatrix=address_matrix(
                        kind, name, by_target.get((kind, name), []), self.cat, d.multi_vantage
                    ),
                    vmatrix=vantage_matrix(
                        kind,
                        name,
                        by_target.get((kind, name), []),
                        d.vantages,
                        d.profile.vantage_checks,
                        score.today,
                        self.cat,
                    ),
                    details_from=d.primary_vantage if d.multi_vantage and obs else "",
                    pairs=pairs_of.get((kind, name), []),
                    obs=obs,
                    dns=obs.get("dns") if kind == "host" else None,
                    tcp=[x for x in obs.get("tcp", []) or [] if isinstance(x, Mapping)],
                    tls=tls_view(obs) if kind == "host" else [],
                    http=http_view(obs) if kind == "host" else [],
                    zone=zone_view(obs) if kind == "zone" else None,
                    other=flatten(
                        {
                            k: v
                            for k, v in obs.items()
                            if k not in ("host", "zone", "dns", "tcp", "tls", "http")
                        }
                    ),
                    addresses=_addresses(obs),
                )
            )
        return written


def _addresses(obs: Mapping[str, Any]) -> list[tuple[str, str]]:
    dns = obs.get("dns")
    if not isinstance(dns, Mapping):
        return []
    out = []
    for rr, fam in (("a", "IPv4"), ("aaaa", "IPv6")):
        ans = dns.get(rr)
        if isinstance(ans, Mapping):
            for r in ans.get("records", []) or []:
                out.append((fam, str(r)))
    return out


def render_html(
    data: ReportData,
    out_dir: Path,
    lang: str = "vi",
    observations: Iterable[tuple[TargetKind, str, str]] = (),
) -> list[Path]:
    """Write every page. ``observations``: the scan's stored observations, as
    :meth:`auditor.store.Store.observations` yields them (streamed, for the target pages)."""
    return HtmlRenderer(data, lang).render(out_dir, observations)


__all__ = [
    "CSP",
    "HtmlRenderer",
    "distribution",
    "flatten",
    "kpi_matrix",
    "page_name",
    "render_html",
    "trend_chart",
    "vantage_matrix",
]
