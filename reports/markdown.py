"""Markdown summary of one scan (for a CI job summary, an issue or an e-mail)."""

from __future__ import annotations

import re
from pathlib import Path

from auditor.scoring import AgencyScore
from reports.data import ReportData
from reports.html import fmt_date, fmt_number
from reports.i18n import Catalog

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def md_escape(text: object) -> str:
    """Plain text for a Markdown table cell: no markup, no HTML, one line."""
    one_line = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", one_line)[:500]


def _name(a: AgencyScore, lang: str) -> str:
    return (a.agency.name_en or a.agency.name) if lang == "en" else a.agency.name


def markdown_text(data: ReportData, lang: str = "en", max_failures: int = 5) -> str:
    cat = Catalog(lang)
    score = data.score

    def num(value: float | None) -> str:
        return fmt_number(value, lang)

    def coverage(value: float | None) -> str:
        return "-" if value is None else f"{fmt_number(value, lang, 0)} %"

    def grade(a: AgencyScore) -> str:
        return cat.t("insufficient_data") if a.insufficient else (a.grade or "-")

    out: list[str] = []
    out.append(f"# {md_escape(cat.t('report_title', name=data.scan.inventory_name))}")
    out.append("")
    out.append(
        f"{md_escape(cat.t('scan_of', id=data.scan.id, date=fmt_date(data.scan.started, lang)))} · "
        f"{md_escape(cat.t('profile'))}: `{data.profile.name}`"
    )
    if data.tags:
        out.append("")
        out.append(md_escape(cat.t("tags_selected", tags=", ".join(data.tags))))
    yes, total = score.kpi_share()
    out.append("")
    out.append(md_escape(cat.t("kpi_share", yes=yes, total=total)))
    out.append("")
    kpi_title = data.profile.kpi.title if data.profile.kpi else "KPI"
    if score.coverage is not None:
        out.append("")
        out.append(md_escape(f"{cat.t('coverage')}: {coverage(score.coverage)}"))
    out.append("")
    out.append(
        f"| # | {cat.t('agency')} | {cat.t('score')} | {cat.t('coverage')} | {cat.t('grade')} | "
        f"{md_escape(kpi_title)} | {cat.t('change')} |"
    )
    out.append("|---:|---|---:|---:|---|---|---:|")
    for i, a in enumerate(score.ranked(), 1):
        delta = data.agency_delta(a.id)
        change = "" if delta is None else (f"+{num(delta)}" if delta > 0 else num(delta))
        kpi = cat.t("kpi_" + ("na" if a.kpi == "n/a" else a.kpi))
        # Agencies with insufficient data are listed after the graded ones, unranked.
        rank = "–" if a.insufficient or a.score is None else str(i)
        out.append(
            f"| {rank} | {md_escape(_name(a, lang))} | {num(a.score)} | {coverage(a.coverage)} | "
            f"{md_escape(grade(a))} | {md_escape(kpi)} | {change} |"
        )
    out.append("")
    out.append(f"## {md_escape(cat.t('province_heading'))}")
    out.append("")
    out.append(
        f"| {cat.t('requirement')} | {cat.t('level')} | {cat.t('share_agencies')} | "
        f"{cat.t('share_targets')} |"
    )
    out.append("|---|---|---:|---:|")
    for s in score.shares:
        out.append(
            f"| {md_escape(cat.requirement_title(s.requirement))} | "
            f"{md_escape(cat.level(s.requirement.level.value))} | "
            f"{s.agencies_pass}/{s.agencies_total} | {s.targets_pass}/{s.targets_total} |"
        )
    if data.multi_vantage:
        out.extend(_vantage_section(data, cat, lang))
    out.append("")
    out.append(f"## {md_escape(cat.t('failing_heading'))}")
    for a in score.ranked():
        failing = a.failing()
        if not failing:
            continue
        out.append("")
        out.append(
            f"### {md_escape(_name(a, lang))} ({num(a.score)}, {md_escape(grade(a))}, "
            f"{md_escape(cat.t('coverage_value', pct=coverage(a.coverage)))})"
        )
        out.append("")
        for c in failing[:max_failures]:
            out.append(
                f"- **{md_escape(cat.status(c.status.value))}** `{c.check}` "
                f"{md_escape(c.target)}: {md_escape(c.message)}"
            )
        if len(failing) > max_failures:
            out.append(f"- … (+{len(failing) - max_failures})")
    out.append("")
    return "\n".join(out)


def _vantage_section(data: ReportData, cat: Catalog, lang: str) -> list[str]:
    """Several vantages: each one's footing, the combine rule, and the hosts whose KPI
    answer differs between vantages (the national picture the issue asks for)."""
    from auditor.selfcheck import Footing

    out = ["", f"## {md_escape(cat.t('vantages'))}", ""]
    out.append(f"| {cat.t('vantage')} | IPv6 | IPv4 | {md_escape(cat.t('footing_resolver'))} |")
    out.append("|---|---|---|---|")
    for v in data.vantages:
        footing = Footing.from_record(data.footings.get(v))
        if footing is None:
            cells = [cat.t("footing_status_unknown")] * 3
        else:
            cells = [
                cat.t(f"footing_status_{x.status.value}")
                for x in (footing.ipv6, footing.ipv4, footing.resolver)
            ]
        out.append(f"| `{md_escape(v)}` | " + " | ".join(md_escape(c) for c in cells) + " |")
    rule = cat.t(f"vantage_rule_kpi_{data.profile.vantage_kpi.value}")
    out.append("")
    out.append(md_escape(cat.t("vantage_kpi_intro", rule=rule)))
    rows = [
        (a, h)
        for a in data.score.ranked()
        for h in a.host_kpis
        if len({ans for _v, ans, _w in h.vantages}) > 1
    ]
    if not rows:
        return out
    out.append("")
    out.append(f"### {md_escape(cat.t('vantage_disagree'))}")
    out.append("")
    heads = " | ".join(f"`{md_escape(v)}`" for v in data.vantages)
    combined = md_escape(cat.t("vantage_combined"))
    out.append(f"| {cat.t('agency')} | {cat.t('host')} | {heads} | {combined} |")
    out.append("|---|---|" + "---|" * len(data.vantages) + "---|")
    for a, h in rows:
        answers = {v: (ans, why) for v, ans, why in h.vantages}
        cells = []
        for v in data.vantages:
            ans, why = answers.get(v, ("incomplete", ""))
            text = cat.t(f"kpi_{ans}") + (f" ({why})" if why else "")
            cells.append(md_escape(text)[:300])
        out.append(
            f"| {md_escape(_name(a, lang))} | {md_escape(h.host)} | "
            + " | ".join(cells)
            + f" | {md_escape(cat.t('kpi_' + h.answer))} |"
        )
    return out


def write_markdown(data: ReportData, path: str | Path, lang: str = "en") -> None:
    """Write the summary to ``path``; ``-`` is stdout."""
    from reports import write_output

    write_output(path, markdown_text(data, lang))
