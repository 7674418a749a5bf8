"""The dashboard's schedules: ``/schedules`` and ``/api/v1/schedules`` (admin only).

Each schedule of the schedule file (``auditor serve --schedules FILE``) with its next run
(computed from its cron in its time zone) and its last runs (the store's
``schedule_runs``, written by whichever scheduler runs them: ``--scheduler`` in this
process, or ``auditor beat``). A schedule's inventory may span agencies and its runs say
nothing of one agency's results, so an agency's account gets no schedule page: 404, as for
any page that is not its own; nobody logged in: 401.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from auditor.schedules import ScheduleSpec, from_utc
from auditor.serve.auth import Viewer
from auditor.store import ScheduleRunRecord, Store

RECENT_RUNS = 10  # per schedule on the page and in the API


def schedule_document(
    store: Store, schedules: tuple[ScheduleSpec, ...], now: datetime, runs_here: bool
) -> dict[str, Any]:
    """What the page and the API show: every schedule, its next and last runs."""
    out = []
    for spec in schedules:
        recent = store.schedule_runs(spec.name, RECENT_RUNS)
        out.append(
            {
                "name": spec.name,
                "cron": spec.cron,
                "timezone": spec.timezone,
                "inventory": spec.inventory,
                "profile": spec.profile,
                "vantages": list(spec.vantages),
                "next_run": spec.next_run(now).isoformat(),
                # a skipped run is not a run: the last one is the latest that started
                "last_run": next((_run(r, spec) for r in recent if r.status != "skipped"), None),
                "recent_runs": [_run(r, spec) for r in recent],
            }
        )
    return {"runner": "embedded" if runs_here else "external", "schedules": out}


def shown(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as the page shows it: every time in its schedule's zone (the template
    writes it to the minute in the page's language: ``fwhen``), the zone's offset once in
    the schedule's row."""

    def local(text: str | None, zone: Any) -> datetime | None:
        if not text:
            return None
        return datetime.fromisoformat(text).astimezone(zone)

    out = []
    for s in doc["schedules"]:
        zone = datetime.fromisoformat(s["next_run"]).tzinfo
        runs = [
            {**r, **{k: local(r[k], zone) for k in ("due", "started", "finished")}}
            for r in s["recent_runs"]
        ]
        last = s["last_run"]
        out.append(
            {
                **s,
                "next_run": local(s["next_run"], zone),
                "offset": datetime.fromisoformat(s["next_run"]).strftime("%z"),
                "last_run": {**last, "due": local(last["due"], zone)} if last else None,
                "recent_runs": runs,
            }
        )
    return {**doc, "schedules": out}


def _run(r: ScheduleRunRecord, spec: ScheduleSpec) -> dict[str, Any]:
    return {
        "due": from_utc(r.due).astimezone(spec.zone).isoformat(),
        "started": r.started,
        "finished": r.finished,
        "status": r.status,
        "scan": r.scan_id,
        "detail": r.detail,
    }


# Who may see the schedules: the viewer (an admin), or the status to answer (401, 404).
Access = Callable[[Request, bool], Viewer | int]
# Renders a page of the dashboard: (request, viewer, template, context) -> HTML.
Render = Callable[[Request, Viewer, str, dict[str, Any]], str]


def admin_only(who: Viewer) -> Viewer | int:
    """An admin sees the schedules; an agency's account 404 (not its own); nobody 401."""
    if who.public:
        return 401
    return who if who.role == "admin" else 404


def schedule_routes(
    store: Store,
    schedules: tuple[ScheduleSpec, ...],
    *,
    runs_here: bool,
    access: Access,
    headers: Callable[[], Mapping[str, str]],
    denied_page: Callable[[Request, int], Response],
    api_denied: Callable[[int], Response],
    render: Render,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[Route]:
    """The page and the API path of the schedules."""

    async def page(request: Request) -> Response:
        who = access(request, False)
        if isinstance(who, int):
            return denied_page(request, who)
        doc = schedule_document(store, schedules, clock(), runs_here)
        html = render(request, who, "schedules.html.j2", {"doc": shown(doc)})
        return HTMLResponse(html, headers=dict(headers()))

    async def api(request: Request) -> Response:
        who = access(request, True)
        if isinstance(who, int):
            return api_denied(who)
        doc = schedule_document(store, schedules, clock(), runs_here)
        return JSONResponse(doc, headers=dict(headers()))

    return [Route("/schedules", page), Route("/api/v1/schedules", api)]


__all__ = ["Access", "Render", "admin_only", "schedule_document", "schedule_routes", "shown"]
