"""The dashboard's history and diff: ``/history``, ``/agencies/{id}/history``, ``/diff`` and
``/api/v1/scans``, ``/api/v1/diff`` (issue #17: "history and trend, diff between scans").

One logic with the CLI: the scans are ``auditor history``'s (:func:`auditor.history.
summarize_counts`), the pair compared is chosen as ``auditor diff`` chooses it
(:func:`auditor.history.choose_pair`: by default the latest complete scan and the one
before it of the same inventory) and the changes are computed by the same function
(:func:`reports.data.load_diff`, both scans scored with one profile); the pages are rendered
by the static reports' renderer and templates (``history.html.j2``, ``diff.html.j2``).

Access, as for every other path of the app: nobody logged in gets 401 (the login form;
these pages are not part of the public's ranked summary). An admin sees every scan, every
agency's trend and every change. An agency sees its own agency's trend and scores only,
and of a diff its own row and the changes of its own hosts and zones: never another
agency's, nor the finding counts of whole scans (they count every agency's findings). A
scan id that does not exist, is not complete, or (for an agency) does not have the agency
answers 404 with the body of every other 404.

The diffs are kept (a few, the latest asked): scoring the earlier scan of a 2,000-host
store takes seconds, and two complete scans never change.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import Route

from auditor.history import Diff, NoPair, ScanSummary, choose_pair, previous_scan, summarize_counts
from auditor.profiles import Profile
from auditor.serve.auth import Viewer
from auditor.store import ScanRecord, Store
from reports.changes import diff_view, history_view
from reports.data import load_diff, resolve_profile
from reports.html import HtmlRenderer

if TYPE_CHECKING:  # app.py imports this module: naming its types only, no cycle
    from auditor.serve.app import Dashboard, Handler

DIFF_CACHE = 8  # diffs kept: the default pair and a few asked by id
# Scans an admin's history lists (the latest): each is counted once by the store (a GROUP BY
# over its findings, ~0.1 s for 2,000 hosts); years of weekly scans stay a page, and
# `auditor history` lists them all.
HISTORY_SCANS = 60
MAX_ID_DIGITS = 12  # a scan id of more digits is no scan's

Render = Callable[[Request, Viewer, HtmlRenderer], str]
Answer = Callable[[Request, Viewer, HtmlRenderer], Any]


@dataclass(frozen=True)
class Kit:
    """What these endpoints take from :func:`auditor.serve.app.create_app`: its access
    wrappers (``page``, ``api``: the viewer, the language, 401/404 answers), the context
    every served page adds (``extra``), its check of an agency path, its ``Denied``
    exception (raised with 401 or 404) and its paths (``served_page``)."""

    store: Store
    dash: Dashboard
    page: Callable[[Render], Handler]
    api: Callable[[Answer], Handler]
    extra: Callable[[Request, Viewer], dict[str, Any]]
    agency_allowed: Callable[[Request, Viewer, HtmlRenderer], str]
    denied: Callable[[int], Exception]
    served_page: Callable[[str, str], str]


def has_agency(scan: ScanRecord, agency_id: str) -> bool:
    """Whether the scan's inventory snapshot has that agency."""
    agencies = scan.inventory.get("agencies") or []
    return any(isinstance(a, dict) and a.get("id") == agency_id for a in agencies)


def scan_id_param(request: Request, name: str, denied: Callable[[int], Exception]) -> int | None:
    """``?from=``/``?to=``: None when absent; ``denied(404)`` when it cannot be a scan id."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > MAX_ID_DIGITS:
        raise denied(404)
    return int(raw)


def scan_head(scan: ScanRecord) -> dict[str, Any]:
    return {
        "id": scan.id,
        "started": scan.started,
        "finished": scan.finished,
        "inventory": scan.inventory_name,
        "profile": scan.profile,
    }


class History:
    """The store's scans with their finding counts (a complete scan's never change: counted
    once) and the diffs asked for (the latest few)."""

    def __init__(self, store: Store, dash: Dashboard, denied: Callable[[int], Exception]) -> None:
        self.store = store
        self.dash = dash
        self.denied = denied
        self._counts: dict[int, dict[str, int]] = {}
        self._diffs: collections.OrderedDict[tuple[int, int, str], Diff] = collections.OrderedDict()

    def summaries(self, scans: list[ScanRecord]) -> list[ScanSummary]:
        out = []
        for s in scans:
            counts = self._counts.get(s.id)
            if counts is None:
                counts = self.store.status_counts(s.id)
                if s.status == "complete":
                    self._counts[s.id] = counts
            out.append(summarize_counts(s, counts))
        return out

    def pair(
        self, request: Request, who: Viewer, scans: list[ScanRecord]
    ) -> tuple[ScanRecord, ScanRecord] | None:
        """The two scans of ``/diff`` (None: no earlier scan to compare with); ``denied(404)``
        for an id that is no complete scan, or no scan of the viewer's agency."""
        from_id = scan_id_param(request, "from", self.denied)
        to_id = scan_id_param(request, "to", self.denied)
        by_id = {s.id: s for s in scans}

        def fetch(scan_id: int) -> ScanRecord:
            scan = by_id.get(scan_id)
            if scan is None or scan.status != "complete":
                raise self.denied(404)
            if who.agency is not None and not has_agency(scan, who.agency):
                raise self.denied(404)
            return scan

        try:
            before, after, _chosen = choose_pair(scans, from_id, to_id, fetch)
        except NoPair:
            return None
        return before, after

    def diff(self, before: ScanRecord, after: ScanRecord) -> tuple[Diff, Profile]:
        profile, _note = resolve_profile(self.dash.profile, after)
        key = (before.id, after.id, profile.name)
        found = self._diffs.get(key)
        if found is not None:
            self._diffs.move_to_end(key)
            return found, profile
        data = self.dash.data()
        # The latest scan and the one before it are loaded and scored already (the
        # dashboard's report): the default diff reuses both.
        same = data is not None and data.scan.id == after.id and data.profile.name == profile.name
        prev = (
            same
            and data is not None
            and data.previous_scan is not None
            and data.previous_scan.id == before.id
            and data.previous_score is not None
        )
        diff = load_diff(
            self.store,
            before,
            after,
            profile,
            after_findings=data.findings if same and data else None,
            after_score=data.score if same and data else None,
            before_findings=data.previous_findings if prev and data else None,
            before_score=data.previous_score if prev and data else None,
        )
        self._diffs[key] = diff
        while len(self._diffs) > DIFF_CACHE:
            self._diffs.popitem(last=False)
        return diff, profile


def routes(kit: Kit) -> list[Route]:
    """The routes, registered by :func:`auditor.serve.app.create_app`."""
    store, dash, served_page = kit.store, kit.dash, kit.served_page
    Denied = kit.denied  # app.py's exception class, raised with 401 or 404
    hist = History(store, dash, kit.denied)

    def agency_href(who: Viewer) -> Callable[[str], str | None]:
        return lambda aid: "/" + served_page("agency", aid) if who.can_agency(aid) else None

    def target_href(who: Viewer, r: HtmlRenderer) -> Callable[[str, str], str | None]:
        owners = r.owners()

        def href(kind: str, name: str) -> str | None:
            found = owners.get((kind, name))
            if not found or not who.can_target(a.id for a in found):
                return None
            return "/" + served_page(kind, name)

        return href

    def diff_href(before: int, after: int) -> str:
        return f"/diff?from={before}&to={after}"

    def previous_of(scans: list[ScanRecord]) -> Callable[[int], int | None]:
        by_id = {s.id: s for s in scans}

        def prev(scan_id: int) -> int | None:
            found = previous_scan(scans, by_id[scan_id]) if scan_id in by_id else None
            return found.id if found else None

        return prev

    def the_history(
        who: Viewer, r: HtmlRenderer, agency: str | None
    ) -> tuple[Any, list[ScanRecord]]:
        """The history view of ``agency`` (None: the whole store, for an admin)."""
        scans = store.scans()
        whole = agency is None
        shown = (
            hist.summaries(scans[-HISTORY_SCANS:])
            if whole
            else [summarize_counts(s, {}) for s, _ in r.data.history]
        )
        view = history_view(
            r.data,
            shown,
            show=who.can_agency,
            whole=whole,
            agency=agency,
            agency_href=agency_href(who),
            diff_href=diff_href,
            previous=previous_of(scans),
            lang=r.lang,
            older=max(0, len(scans) - HISTORY_SCANS) if whole else 0,
        )
        return view, scans

    def scope(who: Viewer) -> str | None:
        if who.public:
            raise Denied(401)
        return who.agency  # None: an admin, the whole store

    # -- pages --------------------------------------------------------------------------
    def history_page(request: Request, who: Viewer, r: HtmlRenderer) -> str:
        view, _scans = the_history(who, r, scope(who))
        return r.history_html(view, **kit.extra(request, who))

    def agency_history_page(request: Request, who: Viewer, r: HtmlRenderer) -> str:
        agency_id = kit.agency_allowed(request, who, r)
        view, _scans = the_history(who, r, agency_id)
        return r.history_html(view, **kit.extra(request, who))

    def the_diff(
        request: Request, who: Viewer
    ) -> tuple[Diff, Profile, ScanRecord, ScanRecord] | None:
        agency = scope(who)
        pair = hist.pair(request, who, store.scans())
        if pair is None:
            return None
        before, after = pair
        diff, profile = hist.diff(before, after)
        if agency is not None:
            mine = diff.for_agency(agency)
            if mine is None:
                raise Denied(404)
            diff = mine
        return diff, profile, before, after

    def diff_page(request: Request, who: Viewer, r: HtmlRenderer) -> str:
        found = the_diff(request, who)
        extra = {**kit.extra(request, who), "history_href": "/history"}
        if found is None:
            return r.diff_html(None, **extra)
        diff, profile, before, after = found
        view = diff_view(
            diff,
            before,
            after,
            profile,
            r.cat,
            whole=who.agency is None,
            agency_href=agency_href(who),
            target_href=target_href(who, r),
            lang=r.lang,
        )
        return r.diff_html(view, **extra)

    # -- the API ------------------------------------------------------------------------
    def api_scans(request: Request, who: Viewer, r: HtmlRenderer) -> Any:
        agency = scope(who)
        view, _scans = the_history(who, r, agency)
        if agency is None:
            listed = [row.summary.to_dict() for row in view.scans]
        else:
            listed = []
            for row in view.scans:
                doc = row.summary.to_dict()
                # The finding counts of a whole scan are every agency's; the inventory's
                # file path is the server's.
                del doc["findings"], doc["inventory"]
                listed.append(doc)
        trend = [
            {
                "id": row.id,
                "points": [
                    {"scan": s.id, "started": s.started, "score": v, "kpi": k}
                    for s, v, k in zip(view.trend_scans, row.scores, row.kpis, strict=True)
                ],
            }
            for row in view.trend
        ]
        return {
            "scan": scan_head(r.data.scan),
            "scans": listed,
            "older": view.older,
            "trend": trend,
        }

    def api_diff(request: Request, who: Viewer, r: HtmlRenderer) -> Any:
        found = the_diff(request, who)
        if found is None:
            raise Denied(404)
        diff, profile, before, after = found
        doc = diff.to_dict()
        return {
            "scans": {"from": scan_head(before), "to": scan_head(after)},
            "profile": profile.name,
            **doc,
        }

    return [
        Route("/history", kit.page(history_page)),
        Route("/agencies/{agency}/history", kit.page(agency_history_page)),
        Route("/diff", kit.page(diff_page)),
        Route("/api/v1/scans", kit.api(api_scans)),
        Route("/api/v1/diff", kit.api(api_diff)),
    ]


__all__ = ["History", "Kit", "routes"]
