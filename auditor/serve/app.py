"""The dashboard's ASGI application (Starlette): pages, the JSON API and the login.

Access (issue #17's contract): a page or API path the viewer may not see answers 401 when
nobody is logged in (the login form, for a page) and 404 when the account may not see it,
exactly as for a name that does not exist; never a page with the data blanked. The public
(nobody logged in) sees the index only: the ranked summary, scores, grades and the IPv6
KPI, without the scanner's footing notes (they may name its addresses).

The store is used from the event loop's thread only (every endpoint is ``async`` and calls
it without awaiting in between): its one connection is never used by two requests at once.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from auditor.schedules import ScheduleSpec
from auditor.serve.auth import (
    PUBLIC,
    LoginLimiter,
    Viewer,
    check_password,
    session_mark,
    token_digest,
    viewer_of,
)
from auditor.serve.exports import export_routes
from auditor.serve.openapi import openapi_document
from auditor.serve.schedules import admin_only, schedule_routes
from auditor.store import Store, UserRecord
from reports.data import ReportData, load_report
from reports.html import HtmlRenderer, Links
from reports.i18n import Catalog
from reports.jsonout import agency_document

LANGUAGES = (("vi", "Tiếng Việt"), ("en", "English"))
DEFAULT_LANG = "vi"
SESSION_COOKIE = "auditor_session"
SESSION_MAX_AGE_S = 8 * 3600  # a working day; then log in again
SECRET_SETTING = "serve.session_secret"  # meta key: shared by every process of one store
MAX_FORM_BYTES = 16_384  # a login form is a few hundred bytes
MAX_NAME = 255  # a host name (RFC 1035 sec. 2.3.4) or an agency id: longer is not one
# The pages' policy when served: as the static reports' (no script at all), but the login
# and logout forms post to this origin, and no other site may frame a page.
SERVED_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'self'"
)
HEADER_CSP = SERVED_CSP + "; frame-ancestors 'none'"
FOLDERS = {"agency": "agencies", "host": "hosts", "zone": "zones", "path": "paths"}


def served_page(kind: str, name: str) -> str:
    return f"{FOLDERS[kind]}/{quote(name, safe='')}"


SERVED_LINKS = Links(page=served_page, index="", absolute=True)


@dataclass(frozen=True)
class Served:
    """The session bar of a served page (``served`` in base.html.j2)."""

    languages: tuple[tuple[str, str], ...]
    user: str
    csrf: str
    schedules: bool = False  # the bar links /schedules (an admin, with --schedules FILE)


class Dashboard:
    """The latest complete scan of the store, scored once per scan and language."""

    def __init__(self, store: Store, profile: str | None = None) -> None:
        self.store = store
        self.profile = profile
        self._scan_id: int | None = None
        self._data: ReportData | None = None
        self._renderers: dict[str, HtmlRenderer] = {}

    def data(self) -> ReportData | None:
        latest = self.store.latest_scan(kind="scan")
        if latest is None:
            return None
        if latest.id != self._scan_id or self._data is None:
            self._data = load_report(self.store, latest.id, self.profile)
            self._scan_id = latest.id
            self._renderers = {}
        return self._data

    def renderer(self, lang: str) -> HtmlRenderer | None:
        data = self.data()
        if data is None:
            return None
        if lang not in self._renderers:
            self._renderers[lang] = HtmlRenderer(data, lang, SERVED_LINKS)
        return self._renderers[lang]


def pick_language(request: Request) -> str:
    """``?lang=`` (kept in the session), else the session's, else Accept-Language (RFC 9110
    sec. 12.5.4: the highest weight among the languages we have), else Vietnamese."""
    codes = {c for c, _ in LANGUAGES}
    asked = request.query_params.get("lang")
    if asked in codes:
        request.session["lang"] = asked
        return asked
    kept = request.session.get("lang")
    if kept in codes:
        return str(kept)
    best, best_q = DEFAULT_LANG, 0.0
    for part in request.headers.get("accept-language", "")[:512].split(","):
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if primary in codes and q > best_q:
            best, best_q = primary, q
    return best


def client_of(request: Request) -> str:
    return request.client.host if request.client else "-"


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, sent: object) -> bool:
    kept = request.session.get("csrf")
    return isinstance(kept, str) and isinstance(sent, str) and hmac.compare_digest(kept, sent)


def local_path(value: object) -> str:
    """A ``next`` address to go back to after the login: a path of this site only."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value[:2048]
    return "/"


class Denied(Exception):
    """401 (``login``: nobody is logged in) or 404 (not there, or not this viewer's)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


Handler = Callable[[Request], Awaitable[Response]]


def create_app(
    store: Store,
    *,
    secret: str | None = None,
    https_only: bool = False,
    profile: str | None = None,
    limiter: LoginLimiter | None = None,
    schedules: tuple[ScheduleSpec, ...] = (),
    schedules_run_here: bool = False,
) -> Starlette:
    """The dashboard of ``store``. ``secret`` signs the session cookies (default: a random
    key kept in the store, so every process serving it accepts the same sessions);
    ``https_only``: the cookie is sent over HTTPS only (behind a TLS proxy); ``schedules``:
    the schedule file's, shown at /schedules (``schedules_run_here``: by this process)."""
    dash = Dashboard(store, profile)
    limits = limiter or LoginLimiter()
    key = secret or store.setting(SECRET_SETTING, secrets.token_urlsafe(48))

    # -- who is asking ------------------------------------------------------------------
    def session_user(request: Request) -> UserRecord | None:
        uid = request.session.get("uid")
        if not isinstance(uid, int):
            return None
        user = store.user_by_id(uid)
        if user is None or user.disabled or request.session.get("mark") != session_mark(user):
            # Disabled, deleted or its password reset since: the session is over.
            request.session.pop("uid", None)
            request.session.pop("mark", None)
            return None
        return user

    def viewer(request: Request, *, api: bool = False) -> Viewer:
        auth = request.headers.get("authorization", "")
        if api and auth:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Denied(401)
            user = store.token_user(token_digest(token.strip()))
            if user is None or user.disabled:
                raise Denied(401)  # unknown, revoked, or its user disabled
            return viewer_of(user)
        user = session_user(request)
        return PUBLIC if user is None else viewer_of(user)

    def served(request: Request, who: Viewer) -> Served:
        return Served(
            LANGUAGES,
            who.name,
            csrf_token(request),
            schedules=bool(schedules) and who.role == "admin",
        )

    # -- answers ------------------------------------------------------------------------
    def headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
        out = {
            "Content-Security-Policy": HEADER_CSP,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        }
        out.update(extra or {})
        return out

    def notice_page(
        request: Request,
        status: int,
        *,
        form: bool = False,
        message_key: str = "",
        error: bool = False,
        username: str = "",
        next_path: str = "/",
    ) -> HTMLResponse:
        lang = pick_language(request)
        cat = Catalog(lang)
        renderer = dash.renderer(lang)
        env = (renderer.writer().env if renderer else None) or _fallback_env(lang, cat)
        title = cat.t("serve_login_title") if form else cat.t("serve_not_found")
        html = env.get_template("login.html.j2").render(
            title=title,
            message=cat.t(message_key) if message_key else "",
            error=error,
            form=form,
            served=served(request, PUBLIC),
            next=next_path,
            username=username,
            csp=SERVED_CSP,
        )
        return HTMLResponse(html, status, headers=headers())

    def denied_page(request: Request, status: int) -> HTMLResponse:
        if status == 401:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return notice_page(
                request, 401, form=True, message_key="serve_login_needed", next_path=path
            )
        return notice_page(request, 404, message_key="serve_not_found")

    def api_denied(status: int) -> JSONResponse:
        if status == 401:
            return JSONResponse(
                {"error": "authentication required"},
                401,
                headers=headers({"WWW-Authenticate": 'Bearer realm="auditor"'}),
            )
        return JSONResponse({"error": "not found"}, 404, headers=headers())

    def page(render: Callable[[Request, Viewer, HtmlRenderer], str]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                who = viewer(request)
                lang = pick_language(request)
                renderer = dash.renderer(lang)
                if renderer is None:
                    if who.public and request.url.path != "/":
                        raise Denied(401)
                    raise Denied(404)
                return HTMLResponse(render(request, who, renderer), headers=headers())
            except Denied as exc:
                return denied_page(request, exc.status)

        return endpoint

    def api(answer: Callable[[Request, Viewer, HtmlRenderer], Any]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                who = viewer(request, api=True)
                renderer = dash.renderer(DEFAULT_LANG)
                if renderer is None:
                    raise Denied(
                        401 if who.public and request.url.path != "/api/v1/agencies" else 404
                    )
                return JSONResponse(answer(request, who, renderer), headers=headers())
            except Denied as exc:
                return api_denied(exc.status)

        return endpoint

    def extra(request: Request, who: Viewer) -> dict[str, Any]:
        ctx: dict[str, Any] = {
            "served": served(request, who),
            "can_open": who.can_agency,
            "csp": SERVED_CSP,
        }
        if who.public:  # the footing's notes may name the scanner's addresses
            ctx.update(footing=None, vantage_footings=[], profile_note="")
        return ctx

    # -- the checks of every detail path ------------------------------------------------
    def agency_allowed(request: Request, who: Viewer, r: HtmlRenderer) -> str:
        agency_id = str(request.path_params["agency"])[:MAX_NAME]
        if who.public:
            raise Denied(401)
        known = any(a.id == agency_id for a in r.data.score.agencies)
        if not known or not who.can_agency(agency_id):
            raise Denied(404)
        return agency_id

    def target_allowed(request: Request, who: Viewer, r: HtmlRenderer, kind: str) -> str:
        name = str(request.path_params["name"])
        if who.public:
            raise Denied(401)
        owners = r.owners().get((kind, name)) if len(name) <= MAX_NAME else None
        if not owners or not who.can_target(a.id for a in owners):
            raise Denied(404)
        return name

    def target_parts(r: HtmlRenderer, kind: str, name: str) -> tuple[list[Any], dict[str, Any]]:
        scan_id = r.data.scan.id
        findings = store.target_findings(scan_id, kind, name)
        text = store.target_observation(scan_id, kind, name, r.data.primary_vantage)
        try:
            obs = json.loads(text) if text else {}
        except ValueError:
            obs = {}
        return findings, obs if isinstance(obs, dict) else {}

    # -- pages --------------------------------------------------------------------------
    def index_page(request: Request, who: Viewer, r: HtmlRenderer) -> str:
        return r.index_html(**extra(request, who))

    def agency_page(request: Request, who: Viewer, r: HtmlRenderer) -> str:
        return r.agency_html(agency_allowed(request, who, r), **extra(request, who))

    def target_page(kind: str) -> Callable[[Request, Viewer, HtmlRenderer], str]:
        def render(request: Request, who: Viewer, r: HtmlRenderer) -> str:
            name = target_allowed(request, who, r, kind)
            findings, obs = target_parts(r, kind, name)
            return r.target_html(kind, name, findings, obs, **extra(request, who))

        return render

    # -- the API ------------------------------------------------------------------------
    def api_agencies(request: Request, who: Viewer, r: HtmlRenderer) -> Any:
        score = r.data.score
        ranked = score.ranked()
        rank = 0
        out = []
        for a in ranked:
            ranked_here = not a.insufficient and a.score is not None
            rank += 1 if ranked_here else 0
            out.append(
                {
                    "id": a.id,
                    "name": a.agency.name,
                    "name_en": a.agency.name_en,
                    "rank": rank if ranked_here else None,
                    "score": a.score,
                    "grade": a.grade,
                    "coverage": a.coverage,
                    "insufficient_data": a.insufficient,
                    "kpi": a.kpi,
                    "change": r.data.agency_delta(a.id),
                    "detail": who.can_agency(a.id),
                }
            )
        return {"scan": scan_head(r), "agencies": out}

    def scan_head(r: HtmlRenderer) -> dict[str, Any]:
        s = r.data.scan
        return {
            "id": s.id,
            "started": s.started,
            "finished": s.finished,
            "inventory": s.inventory_name,
            "profile": r.data.profile.name,
        }

    def api_agency(request: Request, who: Viewer, r: HtmlRenderer) -> Any:
        agency_id = agency_allowed(request, who, r)
        a = r.data.score.agency(agency_id)
        doc = agency_document(a, r.data.agency_delta(a.id), r.data.multi_vantage)
        doc["trend"] = [
            {"scan": s.id, "started": s.started, "score": v} for s, v in r.data.agency_trend(a.id)
        ]
        return {"scan": scan_head(r), "agency": doc}

    def api_target(kind: str) -> Callable[[Request, Viewer, HtmlRenderer], Any]:
        def answer(request: Request, who: Viewer, r: HtmlRenderer) -> Any:
            name = target_allowed(request, who, r, kind)
            findings, obs = target_parts(r, kind, name)
            owners = r.owners()[(kind, name)]
            return {
                "scan": scan_head(r),
                kind: {
                    "name": name,
                    "agencies": [a.id for a in owners if who.can_agency(a.id)],
                    "findings": [
                        {
                            "check": f.check,
                            "status": f.status.value,
                            "address": f.address,
                            "message": f.message,
                            "evidence": f.evidence,
                            "score": f.score,
                            "vantage": f.vantage,
                        }
                        for f in findings
                    ],
                    "observation": obs,
                },
            }

        return answer

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(), headers=headers())

    # -- login and logout ---------------------------------------------------------------
    async def login_form(request: Request) -> Response:
        next_path = local_path(request.query_params.get("next"))
        return notice_page(request, 200, form=True, next_path=next_path)

    async def login(request: Request) -> Response:
        if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
            return Response("form too large", 413, headers=headers())
        form = await request.form(max_files=0, max_fields=8)
        if not csrf_ok(request, form.get("csrf")):
            return Response("CSRF token missing or wrong", 403, headers=headers())
        username = str(form.get("username") or "")[:MAX_NAME]
        password = str(form.get("password") or "")
        next_path = local_path(form.get("next"))
        client = client_of(request)
        if limits.blocked(username, client):
            store.audit("login_limited", username, client)
            return notice_page(
                request,
                429,
                form=True,
                message_key="serve_login_limited",
                error=True,
                username=username,
                next_path=next_path,
            )
        user = store.user(username)
        good = check_password(user.password_hash if user else None, password)
        if user is None or not good or user.disabled:
            limits.failed(username, client)
            why = "no such user" if user is None else ("disabled" if good else "wrong password")
            store.audit("login_failed", username, client, why)
            return notice_page(
                request,
                401,
                form=True,
                message_key="serve_login_failed",
                error=True,
                username=username,
                next_path=next_path,
            )
        limits.succeeded(username, client)
        store.audit("login", username, client, user.role)
        lang = request.session.get("lang")
        request.session.clear()  # a new session: a new CSRF token
        if lang:
            request.session["lang"] = lang
        request.session.update(uid=user.id, mark=session_mark(user))
        csrf_token(request)
        return RedirectResponse(next_path, 303, headers=headers())

    async def logout(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=4)
        if not csrf_ok(request, form.get("csrf")):
            return Response("CSRF token missing or wrong", 403, headers=headers())
        user = session_user(request)
        if user is not None:
            store.audit("logout", user.name, client_of(request))
        request.session.clear()
        return RedirectResponse("/", 303, headers=headers())

    routes = [
        Route("/", page(index_page)),
        Route("/agencies/{agency}", page(agency_page)),
        Route("/hosts/{name}", page(target_page("host"))),
        Route("/zones/{name}", page(target_page("zone"))),
        # a department path's target is "host/path": the name holds slashes
        Route("/paths/{name:path}", page(target_page("path"))),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/api/v1/openapi.json", openapi),
        Route("/api/v1/agencies", api(api_agencies)),
        Route("/api/v1/agencies/{agency}", api(api_agency)),
        Route("/api/v1/hosts/{name}", api(api_target("host"))),
        Route("/api/v1/zones/{name}", api(api_target("zone"))),
        Route("/api/v1/paths/{name:path}", api(api_target("path"))),
    ]
    routes += export_routes(
        dash, viewer, headers, denied_page, api_denied, pick_language, Denied
    )  # the Excel download (auditor/serve/exports.py)

    # The schedules (auditor.serve.schedules): admin only.
    def schedule_access(request: Request, api: bool) -> Viewer | int:
        try:
            return admin_only(viewer(request, api=api))
        except Denied as exc:
            return exc.status

    def render_page(request: Request, who: Viewer, template: str, ctx: dict[str, Any]) -> str:
        lang = pick_language(request)
        renderer = dash.renderer(lang)
        env = (renderer.writer().env if renderer else None) or _fallback_env(lang, Catalog(lang))
        page_ctx = {"served": served(request, who), "csp": SERVED_CSP, **ctx}
        return str(env.get_template(template).render(**page_ctx))

    routes += schedule_routes(
        store,
        schedules,
        runs_here=schedules_run_here,
        access=schedule_access,
        headers=headers,
        denied_page=denied_page,
        api_denied=api_denied,
        render=render_page,
    )

    # History and diff (auditor/serve/history_views.py): the same wrappers and checks.
    from auditor.serve import history_views

    routes += history_views.routes(
        history_views.Kit(store, dash, page, api, extra, agency_allowed, Denied, served_page)
    )
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=key,
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE_S,
            same_site="lax",
            https_only=https_only,
        )
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        dash.data()  # score the latest scan before the first visitor has to wait for it
        yield

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.dashboard = dash
    return app


def _fallback_env(lang: str, cat: Catalog) -> Any:
    """The template environment when the store has no scan yet (the login still works)."""
    from reports.html import page_env

    return page_env(lang, cat, SERVED_LINKS)
