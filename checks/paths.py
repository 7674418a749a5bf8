"""Department paths: the pages of the agencies that publish as paths of a shared portal.

Quang Ninh's departments live as paths of the provincial portal (``www.quangninh.gov.vn/
sonoivu``): each inventory ``paths`` entry other than "/" is a target of its own
(TargetKind.PATH, owned by the agencies that list it), fetched by the host's HTTP probe over
every A and AAAA (``auditor.obs.http.PathFetch``). One verdict per path and address
(Scope.PATH); the host's own checks (TLS, HSTS, the root page) stay with the portal's owner.

What differs per path on one server, and is judged here: whether the page is there at all
over each address family (a location block only in the IPv4 server block, a backend only
one family reaches), whether the two families serve the same page, the security headers (an
nginx ``location`` with an ``add_header`` of its own drops every ``add_header`` of the
server block: nginx does not inherit them, ngx_http_headers_module), and mixed content.
"""

from __future__ import annotations

from typing import Any

from auditor.model import Category, Level, Probe, Scope, Status, Verdict
from auditor.obs import HostObservations
from auditor.obs.http import HttpFetch, HttpResponse, PathFetch
from auditor.registry import CheckContext, check
from auditor.similarity import similarity
from auditor.text import clip
from checks._common import UNDECIDED, describe_failure

_NEEDS = (Probe.DNS, Probe.TCP, Probe.HTTP)
_EV_MAX = 300
# Internet.nl web_ipv6_ws_similar: 90 % similar content (as ipv6.web.parity).
PATH_MIN_SIMILARITY = 0.90
# Subresource kinds that can act on the page (W3C Mixed Content sec. 3.2 "blockable"):
# browsers refuse them over http:// on an https page, so the page breaks.
_ACTIVE = frozenset({"script", "iframe", "link", "object", "embed"})


def _path_fetch(
    obs: HostObservations, ctx: CheckContext
) -> tuple[PathFetch | None, Verdict | None]:
    """The fetch of ctx.path on ctx.address, or the verdict saying why there is none."""
    address, path = ctx.address or "", ctx.path or "/"
    h = obs.http_for(address)
    if h is None:
        why = "target deadline passed" if obs.deadline_hit else "no HTTP observation"
        return None, Verdict.not_tested(f"{path} not fetched over {address}: {why}")
    found = h.path(path)
    if found is None:
        if h.outcome in UNDECIDED and h.outcome != "skipped":
            return None, Verdict.not_tested(
                f"{path} not fetched over {address}: {describe_failure(h.outcome)} "
                f"({clip(h.detail, _EV_MAX)})"
            )
        if h.outcome != "ok" and not (h.https or h.http):
            # Neither port open on this address: the host's checks say so; the page is not
            # served here either.
            return None, Verdict.failed(
                f"{path} is not served over {address}: {clip(h.detail, _EV_MAX)}",
                address=address,
                outcome=h.outcome,
            )
        why = "target deadline passed" if obs.deadline_hit else "more paths than the probe reads"
        return None, Verdict.not_tested(f"{path} not fetched over {address}: {why}")
    return found, None


def _final(fetch: HttpFetch) -> HttpResponse | None:
    last = fetch.last
    return last if last is not None and not last.is_redirect else None


def _chain(fetch: HttpFetch) -> list[str]:
    return [f"{r.status} {clip(r.url, 120)}" for r in fetch.hops]


@check(
    "http.path.reachable",
    title="The department's page answers over every address of the portal",
    category=Category.IPV6_WEB,
    scope=Scope.PATH,
    needs=_NEEDS,
    level_hint=Level.MANDATORY,
    refs=("Decision 38/QĐ-BTTTT (IPv6 For Gov)", "RFC 9110 sec. 15"),
    description="""
A department that publishes as a path of the provincial portal is only reachable over IPv6
if that path is: a location block written only in the IPv4 server block, or a backend the
IPv6 listener does not proxy to, leaves the department's page missing for IPv6 citizens
while the portal's home page works. A path that answers 404 or 5xx is a broken link for
everyone.
""",
    remediation={
        "nginx": "Write the department's `location /sonoivu/ { ... }` in the server block that "
        "has both `listen 443 ssl;` and `listen [::]:443 ssl;` (or include the same file in "
        "both blocks), then `nginx -t && systemctl reload nginx`.",
        "apache": "Put the `Alias`/`ProxyPass` of the path in the `<VirtualHost *:443>` that "
        "serves both families, not in a VirtualHost bound to an IPv4 address.",
        "iis": "Create the application or virtual directory under the site whose bindings "
        "include the IPv6 address (or 'All Unassigned'), not under a second site.",
        "general": "Test each family: `curl -6 -sI https://portal.example.gov.vn/sonoivu/` and "
        "the same with `-4` must both answer 200 (after redirects).",
    },
)
def path_reachable(obs: HostObservations, ctx: CheckContext) -> Verdict:
    found, verdict = _path_fetch(obs, ctx)
    if found is None:
        assert verdict is not None
        return verdict
    fetch = found.fetch
    ev: dict[str, Any] = {"address": ctx.address, "path": found.path, "chain": _chain(fetch)}
    if not fetch.hops:
        return Verdict.failed(
            f"{found.path} did not answer over {ctx.address}: "
            f"{describe_failure(fetch.outcome, clip(fetch.detail, _EV_MAX))}",
            outcome=fetch.outcome,
            **ev,
        )
    final = _final(fetch)
    if final is None:
        last = fetch.last
        assert last is not None
        if fetch.stopped == "off-host":
            return Verdict.info(
                f"{found.path} redirects to another host ({clip(last.target, _EV_MAX)})", **ev
            )
        if fetch.stopped == "error":
            return Verdict.failed(
                f"{found.path}: a redirect hop failed over {ctx.address} "
                f"({describe_failure(fetch.outcome, clip(fetch.detail, _EV_MAX))})",
                **ev,
            )
        return Verdict.failed(
            f"{found.path} ends in an unfinished redirect chain ({fetch.stopped})", **ev
        )
    if 200 <= final.status < 300:
        return Verdict.passed(f"{found.path} answers {final.status} over {ctx.address}", **ev)
    return Verdict.failed(f"{found.path} answers {final.status} over {ctx.address}", **ev)


@check(
    "http.path.same_content",
    title="The department's page is the same over IPv6 as over IPv4",
    category=Category.IPV6_WEB,
    scope=Scope.PATH,
    needs=_NEEDS,
    level_hint=Level.RECOMMENDED,
    refs=("Internet.nl web_ipv6_ws_similar",),
    description="""
The same path over IPv6 must give the same page as over IPv4: a different status, or a
page that is not the same (an IPv6 listener that falls through to a default site or an old
server), means citizens on IPv6 read something else than the department published.
""",
    remediation={
        "nginx": "Give the IPv6 listener the same `location` blocks as the IPv4 one: one server "
        "block with both `listen` lines rather than two blocks kept apart.",
        "apache": "One `<VirtualHost *:443>` for both families, so the path's `Alias` or "
        "`ProxyPass` is the same.",
        "iis": "Bind the IPv6 address to the same site (not the Default Web Site).",
        "general": "Compare: `curl -4 -s URL | sha256sum` and `curl -6 -s URL | sha256sum` "
        "(dynamic parts aside, the pages should match).",
    },
    params={"min_similarity": PATH_MIN_SIMILARITY},
)
def path_same_content(obs: HostObservations, ctx: CheckContext) -> Verdict:
    address, path = ctx.address or "", ctx.path or "/"
    if ":" not in address:
        return Verdict.not_applicable("compared on the IPv6 addresses", address=address)
    if not obs.v4:
        return Verdict.passed("IPv6-only host: nothing to compare with", address=address)
    ref = next(
        (
            (a, f)
            for a in obs.v4
            if (h := obs.http_for(a)) is not None
            and (f := h.path(path)) is not None
            and f.fetch.hops
        ),
        None,
    )
    if ref is None:
        return Verdict.not_tested(f"{path} did not answer over IPv4: nothing to compare with")
    found, verdict = _path_fetch(obs, ctx)
    if found is None:
        assert verdict is not None
        return verdict
    ref_address, ref_fetch = ref
    f4, f6 = ref_fetch.fetch, found.fetch
    ev: dict[str, Any] = {"address": address, "reference": ref_address, "path": path}
    if not f6.hops:
        return Verdict.failed(
            f"{path} does not answer over {address} "
            f"({describe_failure(f6.outcome, clip(f6.detail, 120))}) while IPv4 answers "
            f"{f4.hops[0].status}",
            **ev,
        )
    s4, s6 = f4.hops[-1].status, f6.hops[-1].status
    ev["status"] = {"v4": s4, "v6": s6}
    if s4 != s6:
        return Verdict.failed(f"{path}: status {s4} over IPv4, {s6} over IPv6", **ev)
    if f4.body is None or f6.body is None:
        return Verdict.passed(f"{path}: status {s6} over both families (no page to compare)", **ev)
    sim = similarity(f4.body, f6.body)
    ev["similarity"] = round(sim.value, 3)
    if f4.body.truncated or f6.body.truncated:
        ev["truncated"] = {"v4": f4.body.truncated, "v6": f6.body.truncated}
    min_sim = float(ctx.params.get("min_similarity", PATH_MIN_SIMILARITY))
    if sim.value >= min_sim:
        return Verdict.passed(f"{path}: the same page over IPv6 ({sim.value:.0%} similar)", **ev)
    return Verdict.failed(
        f"{path}: the IPv6 page differs from the IPv4 one ({sim.value:.0%} similar, "
        f"under {min_sim:.0%})",
        score=round(sim.value, 3),
        **ev,
    )


# The headers judged per path: (label, test of one response). The host's own checks judge
# their values in depth on the root page; here the point is that the path keeps them.
def _nosniff(r: HttpResponse) -> bool:
    values = r.header_values("x-content-type-options")
    return bool(values) and values[0].strip().lower() == "nosniff"


def _framing(r: HttpResponse) -> bool:
    xfo = [v.strip().lower() for v in r.header_values("x-frame-options")]
    if xfo and xfo[0] in ("deny", "sameorigin"):
        return True
    return any("frame-ancestors" in v.lower() for v in r.header_values("content-security-policy"))


def _csp(r: HttpResponse) -> bool:
    return any(v.strip() for v in r.header_values("content-security-policy"))


def _referrer(r: HttpResponse) -> bool:
    return any(v.strip() for v in r.header_values("referrer-policy"))


PATH_HEADERS = (
    ("X-Content-Type-Options: nosniff", _nosniff),
    ("X-Frame-Options or CSP frame-ancestors", _framing),
    ("Content-Security-Policy", _csp),
    ("Referrer-Policy", _referrer),
)


@check(
    "http.path.headers",
    title="The department's page keeps the portal's security headers",
    category=Category.HTTP,
    scope=Scope.PATH,
    needs=_NEEDS,
    level_hint=Level.RECOMMENDED,
    refs=("OWASP Secure Headers Project", "nginx ngx_http_headers_module (add_header)"),
    description="""
Security headers are set per response, so one path of a portal can lose them while the home
page has them: in nginx a `location` with an `add_header` of its own drops every
`add_header` of the server block, and an application behind a path may send its own. The
department's page then lacks the protection (MIME sniffing, framing, content policy,
referrer) the portal's checks found on the home page.
""",
    remediation={
        "nginx": "Repeat the server's `add_header ... always;` lines in the department's "
        "`location` (or keep them in a snippet: `include snippets/security-headers.conf;` in "
        "the server block and in every location that has an `add_header`).",
        "apache": "Set the headers with `Header always set` in the VirtualHost (not in one "
        "`<Location>`), and check the path's `<Location>` does not `Header unset` them.",
        "iis": "Put the customHeaders in the site's web.config; an application's own "
        "web.config under the path must not `<remove>` or `<clear />` them.",
        "general": "If the path is proxied to another application, set the headers on the "
        "proxy for every location, or in that application.",
    },
)
def path_headers(obs: HostObservations, ctx: CheckContext) -> Verdict:
    found, verdict = _path_fetch(obs, ctx)
    if found is None:
        assert verdict is not None
        return verdict
    final = _final(found.fetch)
    path = found.path
    if final is None or not 200 <= final.status < 300:
        return Verdict.not_applicable(
            f"{path} gives no page over {ctx.address} (see http.path.reachable)",
            chain=_chain(found.fetch),
        )
    if final.headers_truncated:
        return Verdict.not_tested(
            f"the headers of {path} were longer than the scanner reads", address=ctx.address
        )
    h = obs.http_for(ctx.address or "")
    root = _final(h.https) if h is not None and h.https is not None else None
    missing = [label for label, ok in PATH_HEADERS if not ok(final)]
    ev: dict[str, Any] = {"address": ctx.address, "path": path, "missing": missing}
    if not missing:
        return Verdict.passed(f"{path} sends {len(PATH_HEADERS)} of the security headers", **ev)
    lost = [label for label, ok in PATH_HEADERS if label in missing and root and ok(root)]
    if lost:
        ev["root_sends"] = lost
    kept = len(PATH_HEADERS) - len(missing)
    text = f"{path} lacks {', '.join(missing)}"
    if lost:
        text += f" (the portal's home page sends {', '.join(lost)}: the path drops them)"
    return Verdict(Status.FAIL, text, ev, round(kept / len(PATH_HEADERS), 3))


@check(
    "http.path.mixed_content",
    title="The department's https page loads nothing over plain http://",
    category=Category.HTTP,
    scope=Scope.PATH,
    needs=_NEEDS,
    level_hint=Level.RECOMMENDED,
    refs=("W3C Mixed Content", "RFC 9110 sec. 4.2.2"),
    description="""
An https page that loads scripts, style sheets or frames over http:// is broken in every
current browser (they are blocked), and images or media over http:// can be read and
replaced on the way. Department pages are often older content moved under the portal, with
absolute http:// links left inside.
""",
    remediation={
        "general": "Change the links to https:// (or to relative paths) in the page or its "
        "template; a `Content-Security-Policy: upgrade-insecure-requests` header makes browsers "
        "fetch them over https meanwhile.",
        "nginx": '`add_header Content-Security-Policy "upgrade-insecure-requests" always;` in '
        "the location while the content is fixed; `sub_filter 'http://portal' "
        "'https://portal';` rewrites links of a proxied page.",
        "apache": '`Header always set Content-Security-Policy "upgrade-insecure-requests"`; '
        "mod_substitute can rewrite links of a proxied page.",
        "iis": 'customHeaders `<add name="Content-Security-Policy" '
        'value="upgrade-insecure-requests" />`; fix the links in the CMS.',
    },
)
def path_mixed_content(obs: HostObservations, ctx: CheckContext) -> Verdict:
    found, verdict = _path_fetch(obs, ctx)
    if found is None:
        assert verdict is not None
        return verdict
    path = found.path
    if not found.page:
        final = _final(found.fetch)
        what = "no https HTML page" if final is None else f"{final.status} {final.url[:8]}..."
        return Verdict.not_applicable(f"{path}: {what} over {ctx.address}: nothing to judge")
    active = [r for r in found.insecure if r.tag in _ACTIVE]
    passive = [r for r in found.insecure if r.tag not in _ACTIVE]
    ev: dict[str, Any] = {
        "address": ctx.address,
        "path": path,
        "active": [clip(r.url, 200) for r in active[:20]],
        "passive": [clip(r.url, 200) for r in passive[:20]],
    }
    if active:
        return Verdict.failed(
            f"{path} loads {len(active)} script/style/frame resource(s) over http:// "
            f"(browsers block them), e.g. {clip(active[0].url, 120)}",
            **ev,
        )
    if passive:
        return Verdict.warn(
            f"{path} loads {len(passive)} image/media resource(s) over http://, "
            f"e.g. {clip(passive[0].url, 120)}",
            **ev,
        )
    if found.insecure_cut:
        return Verdict.not_tested(
            f"no http:// resource in what was read of {path}, but {found.insecure_cut}", **ev
        )
    return Verdict.passed(f"{path} loads nothing over http://", **ev)
