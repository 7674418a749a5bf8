"""HTML scorecards: index, one page per agency, one page per host and per domain.

Pages are self-contained (inline CSS, inline SVG charts, no script, no external font or image)
and carry a restrictive Content-Security-Policy meta tag, so they work from ``file://`` and when
mailed as a zip. Templates are autoescaped: every remote string (messages, evidence, headers,
certificate fields) is escaped; nothing remote is ever marked safe. Templates never compute a
score: everything they show is prepared here from :mod:`auditor.scoring` results, as frozen
view models (the target pages: :mod:`reports.views`; the charts: ``Distribution`` and
``TrendChart``).

The target pages are streamed: one target's findings and observation at a time, from the
store (:func:`target_stream`), and for a big report rendered by a pool of worker processes
(:func:`page_workers`), a few batches ahead of them.
"""

from __future__ import annotations

import collections
import itertools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from auditor import __version__
from auditor.inventory import to_display_name
from auditor.model import Finding, Status, TargetKind
from auditor.profiles import Requirement, VantageRule
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
from reports.changes import DiffView, HistoryView, diff_view, history_view
from reports.data import ReportData, load_diff, observation_docs, scan_day
from reports.i18n import Catalog, split_code
from reports.views import (
    MAX_VALUE_CHARS,
    UNTESTED,
    MatrixRow,
    OwnerLink,
    Problem,
    RequirementRow,
    TargetPage,
    addresses,
    agency_tree,
    dns_answers,
    flatten,
    http_views,
    other_rows,
    result_groups,
    tcp_rows,
    tls_views,
    zone_view,
)

if TYPE_CHECKING:
    from auditor.store import Store

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)
_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,252}$")

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
    if type(value) is str and value.isprintable():
        # Every character _INVISIBLE matches is a control (Cc) or format (Cf) character or
        # unassigned, none of them printable: nothing to show (the common case, fast).
        return value
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
    folder = {"agency": "agencies", "host": "hosts", "zone": "zones", "path": "paths"}[kind]
    return f"{folder}/{name}.html"


@dataclass(frozen=True)
class Links:
    """How pages link to each other: the static report's relative files (``hosts/x.html``,
    ``../index.html``) or the served dashboard's paths (``/hosts/x``, ``/``), from the same
    templates (``{{ root }}{{ page(kind, name) }}``, ``{{ root }}{{ index_href }}``)."""

    page: Callable[[str, str], str]
    index: str  # the index page, relative to ``root``
    absolute: bool  # root is "/" (served), not "../" per folder level (files)
    # The history and diff pages, linked from the index ("": not linked there; the served
    # dashboard links them from its session bar, for the signed-in only).
    history: str = ""
    diff: str = ""

    def root(self, rel: str) -> str:
        return "/" if self.absolute else "../" * rel.count("/")


STATIC_LINKS = Links(
    page=page_name,
    index="index.html",
    absolute=False,
    history="history.html",
    diff="diff.html",
)


def fmt_number(value: float | None, lang: str, digits: int = 1) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    if text.endswith(".0"):
        text = text[:-2]
    return text.replace(".", ",") if lang == "vi" else text


def fmt_date(value: object, lang: str, *, with_time: bool = False) -> str:
    """A date (or an ISO 8601 timestamp as the store keeps them) for a reader: dd/mm/yyyy in
    Vietnamese (day, month, year: the order written in Vietnam), ISO yyyy-mm-dd in English.
    ``with_time``: hours and minutes in UTC after it. Text that is no date is shown as it
    is (never an error on a page)."""
    if value is None or value == "":
        return "-"
    when: datetime | None = None
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, date):
        when = datetime(value.year, value.month, value.day)
        with_time = False
    else:
        text = str(value)
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
        if len(text) <= 10:
            with_time = False
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    day = when.strftime("%d/%m/%Y") if lang == "vi" else when.strftime("%Y-%m-%d")
    if not with_time:
        return day
    clock = when.strftime("%H:%M")
    return f"{clock} {day} (UTC)" if lang == "vi" else f"{day} {clock} UTC"


def fmt_when(value: object, lang: str) -> str:
    """A moment to the minute in its own time zone (a schedule's, already converted):
    ``02:00 30/11/2026`` in Vietnamese, ``2026-11-30 02:00`` in English; text that is no
    moment is shown as it is."""
    if value is None or value == "":
        return ""
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if lang == "vi":
        return value.strftime("%H:%M %d/%m/%Y")
    return value.strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------- view models


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    label: str
    value: int
    mid: float  # the bar's centre (its labels)
    above: float  # the value's baseline, over the bar


@dataclass(frozen=True)
class Distribution:
    """Agencies per grade, an inline SVG's geometry (computed here, drawn by the template)."""

    width: int
    height: int
    base: float  # the axis
    axis_end: float
    label_y: float
    bars: tuple[Bar, ...]
    apart: bool  # some agencies are shown apart ("?" insufficient data, "-" no score)


def distribution(score: ScanScore) -> Distribution:
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
        x, y, w = (
            round(pad + i * slot + slot * 0.15, 1),
            round(height - pad - h, 1),
            round(slot * 0.7, 1),
        )
        bars.append(
            Bar(x=x, y=y, w=w, h=round(h, 1), label=label, value=value, mid=x + w / 2, above=y - 4)
        )
    return Distribution(
        width=int(width),
        height=int(height),
        base=height - pad,
        axis_end=width - 20,
        label_y=height - pad + 16,
        bars=tuple(bars),
        apart=bool(insufficient or unscored),
    )


@dataclass(frozen=True)
class GridLine:
    y: float
    text_y: float
    label: int


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    label: str
    value: float


@dataclass(frozen=True)
class TrendChart:
    """A line of scores (0-100) over scans, an inline SVG's geometry."""

    width: int
    height: int
    x1: float
    x2: float
    label_y: float
    grid: tuple[GridLine, ...]
    dots: tuple[Dot, ...]
    line: str  # polyline points; "" for fewer than two dots


def trend_chart(points: Sequence[tuple[str, float | None]]) -> TrendChart:
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
        dots.append(Dot(round(x, 1), round(y, 1), label, value))
    grid = []
    for g in (0, 50, 100):
        gy = height - pad - (height - 2 * pad) * g / 100
        grid.append(GridLine(gy, gy + 4, g))
    return TrendChart(
        width=int(width),
        height=int(height),
        x1=pad,
        x2=width - pad,
        label_y=height - 8,
        grid=tuple(grid),
        dots=tuple(dots),
        line=" ".join(f"{d.x},{d.y}" for d in dots) if len(dots) > 1 else "",
    )


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


@dataclass(frozen=True)
class MatrixColumn:
    kind: str  # host | zone
    name: str


@dataclass(frozen=True)
class RequirementCells:
    req: Requirement
    cells: tuple[PairResult | None, ...]  # one per column; None: not a pair of this target


@dataclass(frozen=True)
class AgencyMatrix:
    """Rows: requirements; columns: the agency's hosts then zones; cells: pair results."""

    cols: tuple[MatrixColumn, ...]
    rows: tuple[RequirementCells, ...]


def matrix(agency: AgencyScore, score: ScanScore) -> AgencyMatrix:
    """Rows: requirements; columns: the agency's hosts then zones; cells: pair statuses."""
    cells: dict[tuple[str, str, str], PairResult] = {}
    for p in agency.pairs:
        cells[(p.target_kind.value, p.target, p.requirement.id)] = p
    cols = (
        tuple(MatrixColumn("host", h) for h in agency.agency.hosts)
        + tuple(MatrixColumn("path", p) for p in agency.agency.paths)
        + tuple(MatrixColumn("zone", z) for z in agency.agency.zones)
    )
    rows = []
    for r in score.profile.requirements:
        row = tuple(cells.get((c.kind, c.name, r.id)) for c in cols)
        if any(p is not None for p in row):
            rows.append(RequirementCells(r, row))
    return AgencyMatrix(cols, tuple(rows))


@dataclass(frozen=True)
class SubScore:
    category: str
    score: float | None
    coverage: float | None


def subscores(agency: AgencyScore) -> tuple[SubScore, ...]:
    """The agency's score and coverage per category, in the scoring's order."""
    return tuple(
        SubScore(c, v, agency.category_coverage.get(c)) for c, v in agency.categories.items()
    )


def _scope(check_id: str) -> str:
    return get_check(check_id).scope.value if is_known(check_id) else ""


def _category(check_id: str) -> str:
    return get_check(check_id).category.value if is_known(check_id) else ""


def address_matrix(
    findings: Iterable[Finding], cat: Catalog, multi: bool = False
) -> tuple[tuple[str, ...], tuple[MatrixRow, ...]]:
    """One target's per-address results: rows = address-scope checks, columns = addresses
    (``multi``, several vantages: one column per address and vantage, labelled ``address
    (vantage)``)."""
    cells: dict[tuple[str, str], str] = {}
    checks: list[str] = []
    columns: list[str] = []
    for f in findings:
        if f.address is None:
            continue
        column = f"{f.address} ({f.vantage})" if multi else f.address
        if f.check not in checks:
            checks.append(f.check)
        if column not in columns:
            columns.append(column)
        cells[(f.check, column)] = f.status.value
    columns.sort(key=lambda a: (":" in a.split(" ")[0], a))
    return tuple(columns), tuple(
        MatrixRow(c, cat.check_title(c), tuple(cells.get((c, a), "") for a in columns))
        for c in sorted(checks)
    )


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


@dataclass(frozen=True)
class KpiCell:
    vantage: str
    answer: str
    reason: str


@dataclass(frozen=True)
class KpiRow:
    host: str
    answer: str
    cells: tuple[KpiCell, ...]
    differ: bool


def kpi_matrix(agency: AgencyScore) -> list[KpiRow]:
    """The KPI per host and vantage (several vantages only): rows = hosts."""
    return [
        KpiRow(
            host=h.host,
            answer=h.answer,
            cells=tuple(KpiCell(v, ans, clip(why, MAX_REASON_CHARS)) for v, ans, why in h.vantages),
            differ=len({ans for _v, ans, _w in h.vantages}) > 1,
        )
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


class Pills(dict[str, Markup]):
    """The status pill of each status, made once per render (the same few fragments on
    every row of thousands of pages); the text is the catalogue's, escaped."""

    def __init__(self, cat: Catalog, compact: bool = False) -> None:
        super().__init__()
        self.cat = cat
        self.compact = compact

    def __missing__(self, status: str) -> Markup:
        word = self.cat.status(status)
        sym = STATUS_SYMBOL.get(status, "")
        if self.compact:  # a table cell: the symbol, the word for screen readers
            html = Markup(
                '<span class="pill s-{0}" title="{1}"><span aria-hidden="true">{2}</span>'
                '<span class="sr">{1}</span></span>'
            ).format(status, word, sym)
        else:
            html = Markup(
                '<span class="pill s-{0}"><span aria-hidden="true">{1}</span> {2}</span>'
            ).format(status, sym, word)
        self[status] = html
        return html


def page_env(lang: str, cat: Catalog, links: Links = STATIC_LINKS) -> jinja2.Environment:
    """The template environment of one language (made again in each page worker)."""
    env = _env()
    env.globals.update(
        # The served dashboard (auditor.serve) overrides these per request: which agency
        # pages the viewer may open (the index links those only) and its session bar.
        can_open=lambda _agency_id: True,
        served=None,
        index_href=links.index,
        history_href=links.history,
        diff_href=links.diff,
        t=cat.t,
        cat=cat,
        lang=lang,
        csp=CSP,
        sym=STATUS_SYMBOL,
        pills=Pills(cat),
        cells=Pills(cat, compact=True),
        num=lambda v, d=1: fmt_number(v, lang, d),
        outcome=cat.outcome,
        fdate=lambda v, with_time=False: fmt_date(v, lang, with_time=with_time),
        fwhen=lambda v: fmt_when(v, lang),
        pct=lambda a, b: fmt_number(100.0 * a / b, lang, 0) + " %" if b else "-",
        page=links.page,
        display=to_display_name,
        scope_of=_scope,
        category_of=_category,
        split_code=split_code,
        version=__version__,
        aname=lambda a: (a.agency.name_en or a.agency.name) if lang == "en" else a.agency.name,
        ReqStatus=ReqStatus,
    )
    return env


class PageWriter:
    """Renders templates into files under ``out_dir`` with the context every page shares
    (the scan header): in the main process, and in each page worker."""

    def __init__(
        self,
        lang: str,
        common: Mapping[str, Any],
        out_dir: Path,
        links: Links = STATIC_LINKS,
    ) -> None:
        self.cat = Catalog(lang)
        self.links = links
        self.env = page_env(lang, self.cat, links)
        self.common = dict(common)
        self.out_dir = out_dir
        self.target = self.env.get_template("target.html.j2")

    def render(self, rel: str, template: str, **ctx: Any) -> str:
        """One page, as a string: what the static report writes to ``rel`` and what the
        served dashboard answers (``ctx`` wins over the shared context)."""
        tpl = self.target if template == "target.html.j2" else self.env.get_template(template)
        return tpl.render({"root": self.links.root(rel), **self.common, **ctx})

    def write(self, rel: str, template: str, **ctx: Any) -> Path:
        html = self.render(rel, template, **ctx)
        path = self.out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
        return path

    def target_page(self, page: TargetPage) -> Path:
        return self.write(page.rel, "target.html.j2", p=page)


@dataclass(frozen=True)
class PageContext:
    """What every target page of a render shares (picklable: sent once to each worker)."""

    lang: str
    multi_vantage: bool
    vantages: tuple[str, ...]
    vantage_rule: VantageRule
    today: Any  # datetime.date: waivers and expiry are judged against it
    check_order: tuple[str, ...]  # the profile's checks, in its order
    primary_vantage: str


@dataclass(frozen=True)
class PageJob:
    """One target page before it is built: its share of the scoring, its findings (with
    evidence) and its observation (parsed JSON)."""

    kind: str
    name: str
    owners: tuple[OwnerLink, ...]
    requirements: tuple[RequirementRow, ...]
    findings: tuple[Finding, ...]
    obs: dict[str, Any]


def build_page(ctx: PageContext, cat: Catalog, job: PageJob) -> TargetPage:
    """The view model of one host or zone page, from its job alone."""
    kind, name, obs, findings = job.kind, job.name, job.obs, job.findings
    display_name = to_display_name(name)
    results, untested = result_groups(findings, ctx.check_order, cat.check_title)
    columns, mrows = address_matrix(findings, cat, ctx.multi_vantage)
    host = kind == "host"
    return TargetPage(
        rel=page_name(kind, name),
        kind=kind,
        name=name,
        display_name=display_name,
        heading=cat.t(f"target_heading_{kind}", name=display_name),
        owners=job.owners,
        details_from=ctx.primary_vantage if ctx.multi_vantage and obs else "",
        addresses=addresses(obs) if host else (),
        vantage_rows=tuple(
            vantage_matrix(kind, name, findings, ctx.vantages, ctx.vantage_rule, ctx.today, cat)
        ),
        requirements=job.requirements,
        matrix_columns=columns,
        matrix_rows=mrows,
        results=results,
        untested=untested,
        dns=dns_answers(obs) if host else (),
        tcp=tcp_rows(obs, lambda v: fmt_number(v, ctx.lang)),
        tls=tls_views(obs) if host else (),
        http=http_views(obs) if host else (),
        zone=zone_view(obs) if kind == "zone" else None,
        other=other_rows(obs),
    )


# The page workers' writer (one per worker process, made by its initializer).
_WORKER: PageWriter | None = None


_CONTEXT: PageContext | None = None


def _start_worker(common: Mapping[str, Any], out_dir: str, ctx: PageContext) -> None:
    global _WORKER, _CONTEXT
    _WORKER = PageWriter(ctx.lang, common, Path(out_dir))
    _CONTEXT = ctx


def _write_pages(jobs: Sequence[PageJob]) -> list[str]:
    """A worker's batch: each page built (view model) and rendered here, in the worker."""
    assert _WORKER is not None and _CONTEXT is not None, "a page worker without its initializer"
    return [str(_WORKER.target_page(build_page(_CONTEXT, _WORKER.cat, j))) for j in jobs]


# Page work on every core for a big report; a small one stays in one process (a worker
# costs ~0.3 s to start and import the templates: more than 200 small pages take).
POOL_MIN_PAGES = 200
POOL_BATCH = 25  # target pages sent to a worker at a time
POOL_AHEAD = 4  # batches in flight per worker (bounds the pages held in memory)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def page_workers(pages: int, requested: int | None = None) -> int:
    """Worker processes for ``pages`` target pages: ``requested`` if given (1: render in
    this process), else one per usable CPU when there are at least POOL_MIN_PAGES pages."""
    if requested is not None:
        return max(1, requested)
    return usable_cpus() if pages >= POOL_MIN_PAGES else 1


Key = tuple[str, str]


def target_stream(
    findings: Iterable[Finding],
    observations: Iterable[tuple[TargetKind, str, str]],
) -> Iterator[tuple[Key, list[Finding], dict[str, Any]]]:
    """Each target with its findings and observation, from the two streams of the store,
    both ordered by (kind, name): a merge, holding one target at a time. A target with
    findings and no observation (or the other way round) is held to the end; so is every
    target if the database's order were not Python's (another collation): the pairing is
    right either way, only the memory bound depends on the order."""
    obs_it = iter(observation_docs(observations))
    pending_obs: dict[Key, dict[str, Any]] = {}
    pending_findings: dict[Key, list[Finding]] = {}
    head: tuple[Key, dict[str, Any]] | None = None

    def next_obs() -> tuple[Key, dict[str, Any]] | None:
        for kind, name, doc in obs_it:
            return (kind, name), doc
        return None

    head = next_obs()
    for key, group in itertools.groupby(findings, key=lambda f: (f.target_kind.value, f.target)):
        fs = list(group)
        while head is not None and head[0] <= key:
            pending_obs[head[0]] = head[1]
            head = next_obs()
        if key in pending_obs:
            yield key, fs, pending_obs.pop(key)
        elif key in pending_findings:  # the stream was not in order: one target, two runs
            pending_findings[key].extend(fs)
        else:
            pending_findings[key] = fs
    while head is not None:
        pending_obs[head[0]] = head[1]
        head = next_obs()
    for key, fs in pending_findings.items():
        yield key, fs, pending_obs.pop(key, {})
    for key, doc in pending_obs.items():
        yield key, [], doc


class HtmlRenderer:
    """The pages of one stored scan in one language: each rendered to a string
    (:meth:`index_html`, :meth:`agency_html`, :meth:`target_html`, what ``auditor serve``
    answers), or all written to a folder (:meth:`render`, the static report)."""

    def __init__(self, data: ReportData, lang: str = "vi", links: Links = STATIC_LINKS) -> None:
        self.data = data
        self.lang = lang
        self.links = links
        self.cat = Catalog(lang)
        self._writer: PageWriter | None = None
        self._owners: dict[tuple[str, str], list[AgencyScore]] | None = None
        self._pairs: dict[tuple[str, str], list[PairResult]] | None = None
        self.common = {
            "scan": data.scan,
            "profile": data.profile,
            "profile_note": data.profile_note,
            "report_tags": data.tags,
            "scan_date": fmt_date(scan_day(data.scan), lang),
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
        # Check order of the profile, for the results of a target page.
        order: list[str] = []
        for req in data.profile.requirements:
            order.extend(c for c in req.checks if c not in order)
        self.check_order = tuple(order)

    def owners(self) -> dict[tuple[str, str], list[AgencyScore]]:
        """The agencies of each target (kind, name), in inventory order (made once)."""
        if self._owners is not None:
            return self._owners
        out: dict[tuple[str, str], list[AgencyScore]] = {}
        for a in self.data.score.agencies:
            for h in a.agency.hosts:
                out.setdefault(("host", h), []).append(a)
            for z in a.agency.zones:
                out.setdefault(("zone", z), []).append(a)
            for p in a.agency.paths:  # a department path: the agencies listing it only
                out.setdefault(("path", p), []).append(a)
        self._owners = out
        return out

    def target_pairs(self) -> dict[tuple[str, str], list[PairResult]]:
        """Each target's requirement results: the first owner's (only waivers differ by
        owner)."""
        if self._pairs is not None:
            return self._pairs
        owners = self.owners()
        pairs_of: dict[tuple[str, str], list[PairResult]] = {}
        for a in self.data.score.agencies:
            for p in a.pairs:
                key = (p.target_kind.value, p.target)
                if owners.get(key, [None])[0] is a:
                    pairs_of.setdefault(key, []).append(p)
        self._pairs = pairs_of
        return pairs_of

    def writer(self, out_dir: Path = Path(".")) -> PageWriter:
        if self._writer is None or self._writer.out_dir != out_dir:
            self._writer = PageWriter(self.lang, self.common, out_dir, self.links)
        return self._writer

    def index_html(self, **extra: Any) -> str:
        """The index page (the ranked summary); ``extra``: context for this render only."""
        d = self.data
        score = d.score
        hosts = {h for a in score.agencies for h in a.agency.hosts}
        zones = {z for a in score.agencies for z in a.agency.zones}
        kpi_yes, kpi_total = score.kpi_share()
        return self.writer().render(
            "index.html",
            "index.html.j2",
            ranked=score.ranked(),
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
            # The "by organisation" view, when the inventory has parent links at all.
            tree=(
                agency_tree(score.agencies, d.agency_delta)
                if any(a.agency.parent for a in score.agencies)
                else ()
            ),
            **extra,
        )

    def agency_html(self, agency_id: str, **extra: Any) -> str:
        """One agency's page; KeyError if the scan has no such agency."""
        d = self.data
        score = d.score
        a = next((a for a in score.agencies if a.id == agency_id), None)
        if a is None:
            raise KeyError(agency_id)
        trend = d.agency_trend(a.id)
        return self.writer().render(
            page_name("agency", a.id),
            "agency.html.j2",
            a=a,
            delta=d.agency_delta(a.id),
            has_previous=d.previous is not None,
            groups=fail_groups(a, self.cat),
            matrix=matrix(a, score),
            subscores=subscores(a),
            kmatrix=kpi_matrix(a),
            untested=a.incomplete(),
            waived=a.waived(),
            waivers=a.agency.waivers,
            today=score.today,
            trend=trend,
            chart=trend_chart([(f"#{s.id}", v) for s, v in trend]),
            parent=next((p for p in score.agencies if p.id == a.agency.parent), None),
            subordinates=agency_tree(score.agencies, d.agency_delta, root=a.id),
            **extra,
        )

    def history_html(self, view: HistoryView, **extra: Any) -> str:
        """The history page: the stored scans and the score trend
        (:func:`reports.changes.history_view`)."""
        chart = trend_chart(view.points)
        return self.writer().render("history.html", "history.html.j2", h=view, chart=chart, **extra)

    def diff_html(self, view: DiffView | None, **extra: Any) -> str:
        """The changes between two scans (:func:`reports.changes.diff_view`; None: there is
        no earlier scan to compare with, the page says so)."""
        ctx = {"history_href": None, **extra}
        return self.writer().render("diff.html", "diff.html.j2", d=view, **ctx)

    def changes_pages(self, store: Store) -> list[tuple[str, str]]:
        """The static report's history page (the scans of its trend, each with its finding
        counts) and, when there is a scan before this one, its diff page: (file, html).
        Every agency is shown, as on every page of the static report."""
        from auditor.history import previous_scan, summarize_counts

        d = self.data
        scans = [s for s in store.scans() if s.id <= d.scan.id]
        by_id = {s.id: s for s in scans}
        before = d.previous_scan
        pair = (before.id, d.scan.id) if before is not None else None

        def previous(scan_id: int) -> int | None:
            found = previous_scan(scans, by_id[scan_id]) if scan_id in by_id else None
            return found.id if found else None

        owners = self.owners()
        view = history_view(
            d,
            [summarize_counts(s, store.status_counts(s.id)) for s, _summary in d.history],
            show=lambda _a: True,
            whole=True,
            agency_href=lambda a: page_name("agency", a),
            diff_href=lambda b, a: self.links.diff if (b, a) == pair else None,
            previous=previous,
            lang=self.lang,
        )
        pages = [("history.html", self.history_html(view))]
        if before is not None:
            diff = load_diff(
                store,
                before,
                d.scan,
                d.profile,
                d.findings,
                d.score,
                d.previous_findings,
                d.previous_score,
            )
            changes = diff_view(
                diff,
                before,
                d.scan,
                d.profile,
                self.cat,
                whole=True,
                agency_href=lambda a: page_name("agency", a),
                target_href=lambda k, n: page_name(k, n) if (k, n) in owners else None,
                lang=self.lang,
            )
            pages.append(("diff.html", self.diff_html(changes, history_href=self.links.history)))
        return pages

    def target_html(
        self,
        kind: str,
        name: str,
        findings: Sequence[Finding],
        obs: dict[str, Any],
        **extra: Any,
    ) -> str:
        """One host or zone page from its findings (with evidence) and observation;
        KeyError if no agency of the scan has that target."""
        key = (kind, name)
        owners = self.owners()
        if key not in owners:
            raise KeyError(key)
        job = self.page_job(
            kind, name, owners[key], findings, obs, self.target_pairs().get(key, [])
        )
        page = build_page(self.page_context(), self.cat, job)
        return self.writer().render(page.rel, "target.html.j2", p=page, **extra)

    def page_job(
        self,
        kind: str,
        name: str,
        agencies: Sequence[AgencyScore],
        findings: Sequence[Finding],
        obs: dict[str, Any],
        pairs: Sequence[PairResult],
    ) -> PageJob:
        """What one target page needs of the scoring (owners, requirement rows), with its
        findings and observation: the rest of the page is built where it is rendered."""
        cat = self.cat
        return PageJob(
            kind=kind,
            name=name,
            owners=tuple(
                OwnerLink(a.id, a.agency.name, self.links.page("agency", a.id)) for a in agencies
            ),
            requirements=tuple(
                RequirementRow(
                    title=cat.requirement_title(p.requirement),
                    level=cat.level(p.requirement.level.value),
                    status=p.status.value,
                    problems=tuple(
                        # A reason the scanner could not test is said once, in the
                        # results (``untested``), not again on each check it hit (the
                        # check's message is its worst finding's: that reason); a check
                        # without any finding says so here (no reason is listed for it).
                        Problem(
                            c.req_status.value,
                            cat.check_title(c.check),
                            "" if c.findings and c.status.value in UNTESTED else c.message,
                        )
                        for c in p.checks
                        if c.status.value not in ("pass", "info")
                    ),
                )
                for p in pairs
            ),
            findings=tuple(findings),
            obs=obs,
        )

    def page_context(self) -> PageContext:
        d = self.data
        return PageContext(
            lang=self.lang,
            multi_vantage=d.multi_vantage,
            vantages=d.vantages,
            vantage_rule=d.profile.vantage_checks,
            today=d.score.today,
            check_order=self.check_order,
            primary_vantage=d.primary_vantage,
        )

    def render(
        self,
        out_dir: Path,
        observations: Iterable[tuple[TargetKind, str, str]] = (),
        findings: Iterable[Finding] | None = None,
        workers: int | None = None,
        store: Store | None = None,
    ) -> list[Path]:
        """Every page: the index and agency pages here, then the target pages, streamed
        target by target from ``findings`` (with evidence; default: the report's own,
        which carry none) and ``observations``; by a pool of ``workers`` processes for a
        big report (:func:`page_workers`). With the ``store``: the history and diff pages
        too (:meth:`changes_pages`); without it the index does not link them."""
        d = self.data
        score = d.score
        writer = self.writer(out_dir)

        def put(rel: str, html: str) -> Path:
            path = out_dir / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(html, encoding="utf-8")
            return path

        unlinked = {} if store is not None else {"history_href": "", "diff_href": ""}
        written = [put("index.html", self.index_html(**unlinked))]
        if store is not None:
            written.extend(put(rel, html) for rel, html in self.changes_pages(store))
        for a in score.agencies:
            written.append(put(page_name("agency", a.id), self.agency_html(a.id)))
        owners = self.owners()
        pairs_of = self.target_pairs()

        def jobs() -> Iterator[PageJob]:
            done: set[tuple[str, str]] = set()
            stream = target_stream(d.findings if findings is None else findings, observations)
            # Then the targets the store has nothing of.
            rest: Iterator[tuple[Key, list[Finding], dict[str, Any]]] = (
                (k, [], {}) for k in sorted(owners)
            )
            for key, fs, obs in itertools.chain(stream, rest):
                if key in done or key not in owners:
                    continue
                done.add(key)
                kind, name = key
                yield self.page_job(kind, name, owners[key], fs, obs, pairs_of.get(key, []))

        ctx = self.page_context()
        n = page_workers(len(owners), workers)
        if n == 1:
            written.extend(writer.target_page(build_page(ctx, writer.cat, j)) for j in jobs())
            return written
        written.extend(Path(p) for p in self._pool(n, out_dir, ctx, jobs()))
        return written

    def _pool(
        self, n: int, out_dir: Path, page_ctx: PageContext, jobs: Iterable[PageJob]
    ) -> Iterator[str]:
        """Target pages rendered by ``n`` worker processes, in batches, a few batches
        ahead of the workers (memory holds those, not the report)."""
        import concurrent.futures as cf
        import multiprocessing

        # fork: a worker starts at once, with the templates and the shared context already
        # here, and never imports ``__main__`` again (spawn and forkserver would: a caller's
        # script without a ``__main__`` guard would run twice). A worker only renders and
        # writes files: it touches neither the store's connection nor the scan's threads,
        # and leaves with os._exit (multiprocessing's), running no exit handler.
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        ctx = multiprocessing.get_context(method)
        with cf.ProcessPoolExecutor(
            max_workers=n,
            mp_context=ctx,
            initializer=_start_worker,
            initargs=(self.common, str(out_dir), page_ctx),
        ) as pool:
            ahead: collections.deque[cf.Future[list[str]]] = collections.deque()
            for batch in _batched(jobs, POOL_BATCH):
                ahead.append(pool.submit(_write_pages, batch))
                while len(ahead) >= n * POOL_AHEAD:
                    yield from ahead.popleft().result()
            while ahead:
                yield from ahead.popleft().result()


def _batched(items: Iterable[PageJob], size: int) -> Iterator[tuple[PageJob, ...]]:
    it = iter(items)
    while batch := tuple(itertools.islice(it, size)):
        yield batch


def render_html(
    data: ReportData,
    out_dir: Path,
    lang: str = "vi",
    observations: Iterable[tuple[TargetKind, str, str]] = (),
    findings: Iterable[Finding] | None = None,
    workers: int | None = None,
    store: Store | None = None,
) -> list[Path]:
    """Write every page. ``observations``: the scan's stored observations, as
    :meth:`auditor.store.Store.observations` yields them, and ``findings`` as
    :meth:`auditor.store.Store.iter_findings` does (with evidence): both streamed, for the
    target pages. ``workers``: page processes (default: by the report's size). ``store``:
    the history and the diff since the scan before are written too."""
    return HtmlRenderer(data, lang).render(out_dir, observations, findings, workers, store)


__all__ = [
    "CSP",
    "STATIC_LINKS",
    "HtmlRenderer",
    "Links",
    "distribution",
    "flatten",
    "kpi_matrix",
    "page_name",
    "render_html",
    "trend_chart",
    "vantage_matrix",
]
