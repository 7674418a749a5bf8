"""The dashboard's Excel download: ``GET /export.xlsx`` and ``GET /api/v1/export.xlsx``.

The same workbook as ``auditor report --xlsx`` (reports/xlsx.py), of the store's latest
complete scan, cut to what the viewer may see (docs/API.md, "Who sees what"):

- an admin: every sheet, every agency; ``?agency=ID``: the detail sheets of that agency;
- an agency's account: every sheet, the detail rows (matrix, failures, not tested) of its
  own agency only; ``?agency=`` another agency's id (or one that does not exist): 404;
- the public (nobody logged in, as everywhere in the app): the ranked summary sheet alone
  (what the index shows: scores, grades, the IPv6 KPI); ``?agency=ID``: 401.

The page path answers a denial as the pages do (the login form, a 404 page), the API path
as the API does (JSON); a bearer token counts on the API path only, as for the JSON API.
The workbook is built off the event loop (a worker thread: it reads the scan's scoring,
already in memory, never the store, which stays on the loop's thread) and the last few are
kept (a province's full workbook is ~1 MB and ~2.5 CPU s to build, bench/README.md): asked
again for the same scan, language and cut, it is not built again.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from auditor.serve.auth import Viewer
from reports.data import ReportData
from reports.xlsx import CONTENT_TYPE, EVERYTHING, Scope, xlsx_bytes

if TYPE_CHECKING:  # the app imports this module: its names are handed over, not imported
    from auditor.serve.app import Dashboard, Denied

MAX_NAME = 255  # as auditor.serve.app's: an agency id longer than a DNS name is not one

PAGE_PATH = "/export.xlsx"
API_PATH = "/api/v1/export.xlsx"
KEPT = 8  # workbooks kept (scan, language, cut): an admin's, a few agencies', the public's


class Kept:
    """The last :data:`KEPT` workbooks built, by (scoring, language, scope); the scoring is
    held by identity, so a newer scan (or its re-scoring) never gets an older workbook, and
    a workbook of a new scoring drops those of the older one."""

    def __init__(self, size: int = KEPT) -> None:
        self.size = size
        self._books: OrderedDict[tuple[int, str, Scope], tuple[ReportData, bytes]] = OrderedDict()

    def get(self, data: ReportData, lang: str, scope: Scope) -> bytes | None:
        key = (data.scan.id, lang, scope)
        kept = self._books.get(key)
        if kept is None or kept[0] is not data:
            return None
        self._books.move_to_end(key)
        return kept[1]

    def put(self, data: ReportData, lang: str, scope: Scope, body: bytes) -> None:
        # Only the dashboard's current scoring is ever asked for: a workbook of another
        # would keep that whole scoring alive for nothing.
        for key in [k for k, (d, _b) in self._books.items() if d is not data]:
            del self._books[key]
        self._books[(data.scan.id, lang, scope)] = (data, body)
        while len(self._books) > self.size:
            self._books.popitem(last=False)


def export_scope(who: Viewer, asked: str | None, data: ReportData) -> Scope | int:
    """What ``who`` may have in the workbook (``asked``: the ``?agency=`` parameter), or the
    status of the denial (401: nobody logged in; 404: not there, or not theirs)."""
    if asked is not None:
        agency_id = asked[:MAX_NAME]
        if who.public:
            return 401
        known = any(a.id == agency_id for a in data.score.agencies)
        if not known or not who.can_agency(agency_id):
            return 404  # the same answer for another agency's id and for a guess
        return Scope(agencies=frozenset({agency_id}))
    if who.public:
        return Scope(summary_only=True)
    if who.role == "admin":
        return EVERYTHING
    return Scope(agencies=frozenset({who.agency or ""}))


def file_name(data: ReportData, scope: Scope) -> str:
    """``auditor-scan-ID[-AGENCY|-summary].xlsx``, in characters every browser keeps."""
    name = f"auditor-scan-{data.scan.id}"
    if scope.summary_only:
        name += "-summary"
    elif scope.agencies is not None and len(scope.agencies) == 1:
        name += "-" + re.sub(r"[^A-Za-z0-9._-]", "_", next(iter(scope.agencies)))[:64]
    return name + ".xlsx"


def export_routes(
    dash: Dashboard,
    viewer: Callable[..., Viewer],
    headers: Callable[[Mapping[str, str] | None], dict[str, str]],
    page_denied: Callable[[Request, int], Response],
    api_denied: Callable[[int], Response],
    language: Callable[[Request], str],
    denied: type[Denied],
) -> list[Route]:
    """The two routes, with the app's own ``viewer`` (who is asking; raises ``denied``),
    security ``headers``, denial answers and ``language`` choice (``create_app`` passes
    them)."""
    kept = Kept()

    def endpoint(api: bool) -> Callable[[Request], Awaitable[Response]]:
        def refuse(request: Request, status: int) -> Response:
            return api_denied(status) if api else page_denied(request, status)

        async def answer(request: Request) -> Response:
            try:
                who = viewer(request, api=api)
            except denied as exc:
                return refuse(request, exc.status)
            data = dash.data()
            if data is None:
                return refuse(request, 404)  # no scan yet: nothing to export, for anyone
            scope = export_scope(who, request.query_params.get("agency"), data)
            if isinstance(scope, int):
                return refuse(request, scope)
            lang = language(request)
            body = kept.get(data, lang, scope)
            if body is None:
                body = await anyio.to_thread.run_sync(xlsx_bytes, data, lang, scope)
                kept.put(data, lang, scope, body)
            disposition = f'attachment; filename="{file_name(data, scope)}"'
            return Response(
                body,
                media_type=CONTENT_TYPE,
                headers=headers({"Content-Disposition": disposition}),
            )

        return answer

    return [
        Route(PAGE_PATH, endpoint(api=False), methods=["GET"]),
        Route(API_PATH, endpoint(api=True), methods=["GET"]),
    ]
