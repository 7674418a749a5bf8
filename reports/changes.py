"""View models of the history and diff pages (``history.html.j2``, ``diff.html.j2``).

The data is :mod:`auditor.history`'s (``auditor history`` and ``auditor diff`` print the same
scans and the same changes); here it is only shaped for a template and cut to what one
viewer may see: ``show`` says which agencies' rows a page carries (the served dashboard
passes the viewer's rights; the static report every agency), ``whole`` whether the
scan-wide parts (finding counts of whole scans, changes of targets no agency owns) are
shown. Templates compute nothing; links are given here (``None``: no link).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from auditor.history import CheckChange, Diff, ScanDiffAgency, ScanSummary
from auditor.profiles import Profile
from auditor.store import ScanRecord
from reports.data import ReportData
from reports.i18n import Catalog

# How the pages link: the diff of a pair of scan ids, an agency page, a target page.
DiffHref = Callable[[int, int], str | None]
AgencyHref = Callable[[str], str | None]
TargetHref = Callable[[str, str], str | None]

CHANGE_KINDS = ("regression", "improvement", "changed", "added", "removed")
# Check changes listed per agency (and for the unowned targets): a page stays readable and
# bounded when a whole scan changes at once (the scanner lost IPv6: every IPv6 result
# becomes not testable); the rest is counted, and the API and `auditor diff` list them all.
MAX_CHANGES_SHOWN = 200


@dataclass(frozen=True)
class ScanRow:
    """One stored scan. ``counts``: its findings per status (empty: not shown to this
    viewer, they count every agency's findings); ``score``/``kpi``: the one agency's of a
    page about one agency (None otherwise); ``diff_href``: its changes since the scan
    before it."""

    summary: ScanSummary
    counts: tuple[tuple[str, int], ...]
    score: float | None
    kpi: str | None
    diff_href: str | None


@dataclass(frozen=True)
class TrendRow:
    id: str
    name: str
    href: str | None
    scores: tuple[float | None, ...]  # one per trend scan
    kpis: tuple[str | None, ...]


@dataclass(frozen=True)
class HistoryView:
    agency: str | None  # the page is about this agency only
    agency_name: str
    scans: tuple[ScanRow, ...]
    trend_scans: tuple[ScanRecord, ...]  # the trend's columns, oldest first
    trend: tuple[TrendRow, ...]
    means: tuple[float | None, ...]  # the mean agency score per trend scan (whole only)
    points: tuple[tuple[str, float | None], ...]  # the chart's: the agency's, else the means
    whole: bool
    older: int = 0  # earlier scans not listed


def history_view(
    data: ReportData,
    scans: Sequence[ScanSummary],
    *,
    show: Callable[[str], bool],
    whole: bool,
    agency: str | None = None,
    agency_href: AgencyHref,
    diff_href: DiffHref,
    previous: Callable[[int], int | None],
    lang: str = "vi",
    older: int = 0,
) -> HistoryView:
    """``scans``: the store's scans to list (the whole history for ``whole``, else the
    trend's); ``data``: the latest scan's report (its trend: the last scans of its
    inventory, scored with one profile); ``previous``: the scan a scan is compared with."""
    trend_scans = tuple(s for s, _summary in data.history)
    by_scan = {s.id: summary for s, summary in data.history}
    rows = []
    for s in scans:
        summary = by_scan.get(s.id)
        prev = previous(s.id) if s.status == "complete" else None
        rows.append(
            ScanRow(
                summary=s,
                counts=tuple(s.counts.items()) if whole else (),
                score=summary.scores.get(agency) if summary and agency else None,
                kpi=summary.kpis.get(agency) if summary and agency else None,
                diff_href=diff_href(prev, s.id) if prev is not None else None,
            )
        )
    trend = []
    name = ""
    for a in data.score.agencies:
        if not show(a.id) or (agency is not None and a.id != agency):
            continue
        if a.id == agency:
            name = (a.agency.name_en or a.agency.name) if lang == "en" else a.agency.name
        trend.append(
            TrendRow(
                id=a.id,
                name=(a.agency.name_en or a.agency.name) if lang == "en" else a.agency.name,
                href=agency_href(a.id),
                scores=tuple(summ.scores.get(a.id) for _s, summ in data.history),
                kpis=tuple(summ.kpis.get(a.id) for _s, summ in data.history),
            )
        )
    means = tuple(summ.mean() for _s, summ in data.history) if whole else ()
    if agency is not None and trend:
        points = list(zip((f"#{s.id}" for s in trend_scans), trend[0].scores, strict=True))
    else:
        points = list(zip((f"#{s.id}" for s in trend_scans), means, strict=True))
    return HistoryView(
        agency=agency,
        agency_name=name,
        scans=tuple(rows),
        trend_scans=trend_scans,
        trend=tuple(trend),
        means=means,
        points=tuple(points),
        whole=whole,
        older=older,
    )


@dataclass(frozen=True)
class ChangeRow:
    kind: str
    target_kind: str
    target: str
    href: str | None
    check: str
    title: str
    address: str | None
    vantage: str
    before: str | None
    after: str | None
    message: str  # the later scan's (remote text: escaped by the template)


@dataclass(frozen=True)
class RequirementChange:
    target_kind: str
    target: str
    href: str | None
    title: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class AgencyChange:
    id: str
    name: str
    href: str | None
    row: ScanDiffAgency
    delta: float | None  # score after - before
    requirements: tuple[RequirementChange, ...]
    changes: tuple[ChangeRow, ...]  # the first MAX_CHANGES_SHOWN, regressions first
    more: int  # changes not listed


@dataclass(frozen=True)
class DiffView:
    before: ScanRecord
    after: ScanRecord
    profile: str
    summary: tuple[tuple[str, int], ...]  # per change kind, in CHANGE_KINDS order
    vantaged: bool
    vantages: tuple[str, ...]
    only_before: tuple[str, ...]
    only_after: tuple[str, ...]
    agencies: tuple[AgencyChange, ...]  # the changed ones the viewer may see
    unchanged: int  # agencies the viewer may see with nothing changed
    others: tuple[ChangeRow, ...]  # changes of targets no agency of the later scan owns
    others_more: int
    whole: bool


def _change_row(c: CheckChange, cat: Catalog, target_href: TargetHref) -> ChangeRow:
    return ChangeRow(
        kind=c.kind,
        target_kind=c.target_kind,
        target=c.target,
        href=target_href(c.target_kind, c.target),
        check=c.check,
        title=cat.check_title(c.check),
        address=c.address,
        vantage=c.vantage,
        before=c.before,
        after=c.after,
        message=c.message,
    )


def diff_view(
    diff: Diff,
    before: ScanRecord,
    after: ScanRecord,
    profile: Profile,
    cat: Catalog,
    *,
    whole: bool,
    agency_href: AgencyHref,
    target_href: TargetHref,
    lang: str = "vi",
) -> DiffView:
    """``diff``: already cut to the viewer (:meth:`auditor.history.Diff.for_agency`) when
    it is one agency's; ``whole``: the changes no agency owns are listed too."""
    names = {r.id: r for r in profile.requirements}
    english = {}
    for a in after.inventory.get("agencies") or []:
        if isinstance(a, dict) and isinstance(a.get("id"), str):
            english[a["id"]] = a.get("name_en")
    agencies = []
    unchanged = 0
    for a in diff.agencies:
        if not a.changed:
            unchanged += 1
            continue
        delta = (
            round(a.score_after - a.score_before, 1)
            if a.score_after is not None and a.score_before is not None
            else None
        )
        agencies.append(
            AgencyChange(
                id=a.id,
                name=(english.get(a.id) or a.name) if lang == "en" else a.name,
                href=agency_href(a.id),
                row=a,
                delta=delta,
                requirements=tuple(
                    RequirementChange(
                        target_kind=kind,
                        target=target,
                        href=target_href(kind, target),
                        title=cat.requirement_title(names[req]) if req in names else req,
                        before=b,
                        after=af,
                    )
                    for kind, target, req, b, af in a.requirements
                ),
                changes=tuple(
                    _change_row(c, cat, target_href) for c in a.changes[:MAX_CHANGES_SHOWN]
                ),
                more=max(0, len(a.changes) - MAX_CHANGES_SHOWN),
            )
        )
    owned = {c for a in diff.agencies for c in a.changes}
    unowned = [c for c in diff.changes if c not in owned] if whole else []
    others = tuple(_change_row(c, cat, target_href) for c in unowned[:MAX_CHANGES_SHOWN])
    return DiffView(
        before=before,
        after=after,
        profile=profile.name,
        summary=tuple((k, diff.count(k)) for k in CHANGE_KINDS),
        vantaged=diff.vantaged,
        vantages=diff.vantages,
        only_before=diff.only_before,
        only_after=diff.only_after,
        agencies=tuple(agencies),
        unchanged=unchanged,
        others=others,
        others_more=max(0, len(unowned) - MAX_CHANGES_SHOWN),
        whole=whole,
    )


__all__ = [
    "AgencyChange",
    "ChangeRow",
    "DiffView",
    "HistoryView",
    "ScanRow",
    "TrendRow",
    "diff_view",
    "history_view",
]
