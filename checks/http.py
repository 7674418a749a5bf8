"""HTTP checks (per address) and ipv6.web.parity (per host).

All pure: they read :class:`auditor.obs.http.HttpObservation` (one per A and per AAAA,
see ``auditor/probes/http.py``) and the TCP probes, and parse headers with
:mod:`auditor.protocol.headers` (RFC-correct: duplicates, quoting, case, whitespace).

Which response is judged:
- http.https_redirect: the first response of ``http://host/`` and every later hop.
- http.hsts: the first response of ``https://host/`` (RFC 6797 sec. 7.1: the HSTS host
  sends the header on its HTTPS responses; pshtt and Internet.nl read the root response).
- http.csp / xcto / frame / referrer_policy: the final same-host response of
  ``https://host/`` (the document the browser renders). When the host only redirects to
  another host, the document lives there: not_applicable (scan that host).
- http.cookies: every Set-Cookie of the HTTPS chain on this host.
- http.disclosure: every response seen from the address (http and https).
When the port a check needs is not open on that address, the check is not_tested with
the TCP outcome (no false fail): ipv6.web.reach judges reachability.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from auditor.model import Category, Level, Probe, Scope, Status, Verdict, worst
from auditor.obs import HostObservations
from auditor.obs.core import Outcome
from auditor.obs.http import HttpFetch, HttpObservation, HttpResponse
from auditor.protocol.addresses import unusable_v6_reason
from auditor.protocol.headers import (
    DISCLOSURE_HEADERS,
    SOURCE_LIST_DIRECTIVES,
    CspPolicy,
    CspSource,
    classify_source,
    effective_sources,
    frame_ancestors_restrictive,
    has_version,
    media_type,
    object_sources,
    parse_csp,
    parse_csp_meta,
    parse_hsts,
    parse_nosniff,
    parse_referrer_policy,
    parse_set_cookie,
    parse_xfo,
    script_policy,
    unsafe_script_source,
)
from auditor.protocol.names import norm_name, registrable_domain
from auditor.protocol.security_txt import parse_security_txt
from auditor.registry import CheckContext, check
from auditor.similarity import normalise_url, similarity
from auditor.text import clip
from checks._common import cut_answers, no_https_reason

_REFS_HEADERS = ("OWASP Secure Headers Project", "Mozilla Observatory", "Internet.nl")
_EV_MAX = 300  # characters of remote text kept in evidence/messages


def _host(url: str) -> str:
    try:
        return norm_name(urlsplit(url).hostname or "")
    except ValueError:
        return ""


def _scheme(url: str) -> str:
    try:
        return urlsplit(url).scheme.lower()
    except ValueError:
        return ""


def _same_host(url: str, host: str) -> bool:
    return _host(url) == norm_name(host)


# ---------------------------------------------------------------------------
# Getting at the right observation, or saying why it is missing


def _http_obs(obs: HostObservations, address: str) -> HttpObservation | None:
    return obs.http_for(address)


def _port_not_open(obs: HostObservations, address: str, port: int) -> str | None:
    """Why ``port`` cannot be judged on ``address`` (None when it is open)."""
    tcp = obs.tcp_for(address, port)
    if tcp is None:
        why = "target deadline passed" if obs.deadline_hit else "not probed"
        return f"port {port} on {address}: {why}"
    if tcp.open:
        return None
    detail = f": {tcp.detail}" if tcp.detail else ""
    return f"port {port} on {address} is not open ({tcp.outcome}{detail})"


def _fetch(
    obs: HostObservations, ctx: CheckContext, scheme: str
) -> tuple[HttpFetch | None, Verdict | None]:
    """The fetch of ``scheme://host/`` on ctx.address, or the not_tested verdict."""
    address = ctx.address or ""
    port = 443 if scheme == "https" else 80
    closed = _port_not_open(obs, address, port)
    if closed:
        none = no_https_reason(obs, address) if scheme == "https" else None
        if none:
            # no HTTPS at all on the address (tls.available fails it): nothing to judge
            return None, Verdict.not_applicable(
                f"no HTTPS on {address}: {none} (see tls.available)", address=address
            )
        return None, Verdict.not_tested(closed, address=address)
    h = _http_obs(obs, address)
    if h is None:
        why = "target deadline passed" if obs.deadline_hit else "no HTTP observation"
        return None, Verdict.not_tested(f"{scheme}://{ctx.target}/ not fetched: {why}")
    fetch = h.https if scheme == "https" else h.http
    if fetch is None:
        return None, Verdict.not_tested(
            f"{scheme}://{ctx.target}/ not fetched ({h.outcome}: {clip(h.detail, _EV_MAX)})"
        )
    if not fetch.hops:
        return None, Verdict.not_tested(
            f"{scheme}://{ctx.target}/ did not answer over {address}: "
            f"{fetch.outcome} {clip(fetch.detail, _EV_MAX)}".strip(),
            outcome=fetch.outcome,
        )
    return fetch, None


def _document(
    obs: HostObservations, ctx: CheckContext
) -> tuple[HttpResponse | None, Verdict | None]:
    """The final same-host HTTPS response (the rendered document), or why there is none."""
    fetch, verdict = _fetch(obs, ctx, "https")
    if fetch is None:
        return None, verdict
    last = fetch.last
    assert last is not None
    if not last.is_redirect:
        return last, None
    if fetch.stopped == "off-host":
        return None, Verdict.not_applicable(
            f"https://{ctx.target}/ redirects to another host ({clip(last.target, _EV_MAX)}); "
            "the page and its headers are judged on that host",
            redirect=clip(last.target, _EV_MAX),
        )
    reason = {
        "loop": "a redirect loop",
        "max-redirects": "too many redirects",
        "bad-location": "an unusable Location header",
        "scheme": "a redirect to a non-HTTP scheme",
        "error": f"a failed redirect hop ({fetch.outcome} {clip(fetch.detail, _EV_MAX)})",
    }.get(fetch.stopped, f"an unfinished redirect chain ({fetch.stopped})")
    return None, Verdict.not_tested(
        f"https://{ctx.target}/ ends in {reason}; no page to judge",
        chain=_chain(fetch),
    )


def _cap_verdict(resp: HttpResponse, name: str) -> Verdict:
    """not_tested: the header caps may have cut ``name`` or dropped its fields."""
    return Verdict.not_tested(
        f"the response's header section was larger than the scanner keeps (header caps): "
        f"{name} may be cut or among the fields not kept, so it is not judged",
        url=clip(resp.url, _EV_MAX),
        headers_truncated=True,
        cut_values=list(resp.cut_values),
        headers_dropped=resp.headers_dropped,
    )


def _chain(fetch: HttpFetch) -> list[str]:
    out = []
    for hop in fetch.hops:
        text = f"{hop.status} {clip(hop.url, 200)}"
        if hop.is_redirect:
            text += f" -> {clip(hop.target or hop.location, 200)}"
        out.append(text)
    return out


# ---------------------------------------------------------------------------
# http.https_redirect


@check(
    "http.https_redirect",
    title="http:// redirects to https:// on the same host",
    category=Category.HTTP,
    scope=Scope.ADDRESS,
    needs=(Probe.TCP, Probe.HTTP),
    level_hint=Level.MANDATORY,
    refs=("BOD 18-01", "OMB M-15-13", "pshtt 'Redirect To HTTPS'", "Internet.nl https_redirect"),
    description="""
Citizens often type the bare name or follow old links, which start over plain HTTP. If
http:// does not immediately redirect to https:// on the same host, the first request
(and any form or cookie on it) travels unencrypted and can be altered on the way, e.g.
on public Wi-Fi. Redirecting first to https on the *same* host is also what lets the HSTS
header take effect and what the HSTS preload list requires. A redirect chain that later
goes back to http:// (a downgrade) undoes the protection. Closing port 80 while 443 is
open is also fine: nothing is served in clear text.
""",
    remediation={
        "nginx": "server { listen 80; listen [::]:80; server_name portal.example.gov.vn; "
        "return 301 https://$host$request_uri; }",
        "apache": "<VirtualHost *:80>\n  ServerName portal.example.gov.vn\n"
        "  Redirect permanent / https://portal.example.gov.vn/\n</VirtualHost>",
        "iis": 'Install the URL Rewrite module and add to web.config: <rule name="HTTPS" '
        'stopProcessing="true"><match url="(.*)" /><conditions><add input="{HTTPS}" '
        'pattern="off" /></conditions><action type="Redirect" '
        'url="https://{HTTP_HOST}/{R:1}" redirectType="Permanent" /></rule> '
        "(do not use 'Require SSL' alone: it answers 403 instead of redirecting).",
        "general": "Redirect to the same host name first (https://portal... , not "
        "https://www.portal...), then to other names if needed; never link back to http://.",
    },
)
def https_redirect(obs: HostObservations, ctx: CheckContext) -> Verdict:
    address = ctx.address or ""
    host = ctx.target
    tcp80 = obs.tcp_for(address, 80)
    tcp443 = obs.tcp_for(address, 443)
    if tcp80 is None or tcp443 is None:
        return Verdict.not_tested(
            _port_not_open(obs, address, 80 if tcp80 is None else 443) or "not probed"
        )
    # Refused, timed out or unreachable: nothing is served in clear text on port 80.
    closed80 = tcp80.outcome in (Outcome.REFUSED, Outcome.TIMEOUT, Outcome.UNREACHABLE)
    if not tcp80.open:
        if closed80 and tcp443.open:
            return Verdict.passed(
                f"port 80 is closed ({tcp80.outcome}) while 443 is open",
                port80=tcp80.outcome,
                port443=tcp443.outcome,
            )
        return Verdict.not_tested(
            f"neither port answers on {address}: 80 {tcp80.outcome}, 443 {tcp443.outcome}"
            if closed80
            else f"port 80 could not be probed ({tcp80.outcome}: {clip(tcp80.detail, _EV_MAX)})",
            port80=tcp80.outcome,
            port443=tcp443.outcome,
        )
    fetch, verdict = _fetch(obs, ctx, "http")
    if fetch is None:
        assert verdict is not None
        return verdict
    first = fetch.hops[0]
    chain = _chain(fetch)
    evidence: dict[str, Any] = {"chain": chain, "status": first.status}
    if first.is_redirect and first.location_cut:
        return Verdict.not_tested(
            f"http://{host}/ redirects to a Location longer than the scanner's cap "
            f"({len(first.location)}+ characters): not followed, not judged",
            **evidence,
        )
    # Any hop of either chain that goes from https back to http is a downgrade.
    h = _http_obs(obs, address)
    for f in (fetch, h.https if h else None):
        if f is None:
            continue
        seen_https = _scheme(f.start_url) == "https"
        for hop in f.hops:
            seen_https = seen_https or _scheme(hop.url) == "https"
            if hop.is_redirect and seen_https and _scheme(hop.target) == "http":
                return Verdict.failed(
                    f"downgrade: {clip(hop.url, 200)} redirects back to {clip(hop.target, 200)}",
                    downgrade=clip(hop.target, _EV_MAX),
                    **evidence,
                )
    if not first.is_redirect:
        return Verdict.failed(
            f"http://{host}/ answers {first.status} without redirecting to https",
            **evidence,
        )
    target = first.target
    if _scheme(target) != "https":
        return Verdict.failed(
            f"the first redirect goes to {clip(target, 200)}, not to https://",
            first_target=clip(target, _EV_MAX),
            **evidence,
        )
    if not _same_host(target, host):
        return Verdict.failed(
            f"the first redirect goes to another host ({clip(target, 200)}); redirect to "
            f"https://{host}/ first (HSTS and the preload list need it)",
            first_target=clip(target, _EV_MAX),
            **evidence,
        )
    try:
        port = urlsplit(target).port or 443
    except ValueError:
        port = 443
    if port == 443 and not tcp443.open:
        return Verdict.failed(
            f"redirects to https://{host}/ but port 443 is not open ({tcp443.outcome})",
            first_target=clip(target, _EV_MAX),
            **evidence,
        )
    # "a later https -> http downgrade anywhere in the chain = fail": a chain cut by the
    # redirect cap, or by a hop that failed, was not seen to its end
    unfinished = [
        f"{f.start_url}: {_STOPPED.get(f.stopped, f.stopped)}"
        for f in (fetch, h.https if h else None)
        if f is not None and f.stopped in _STOPPED
    ]
    if unfinished:
        return Verdict.not_tested(
            f"http://{host}/ redirects ({first.status}) to {clip(target, 200)}, but the chain "
            "was not followed to its end, so a later downgrade cannot be excluded: "
            + "; ".join(unfinished),
            first_target=clip(target, _EV_MAX),
            **evidence,
        )
    return Verdict.passed(
        f"http://{host}/ redirects ({first.status}) to {clip(target, 200)}",
        first_target=clip(target, _EV_MAX),
        **evidence,
    )


# Why a redirect chain ended before its last page (HttpFetch.stopped), for https_redirect.
_STOPPED = {
    "max-redirects": "more redirects than the scanner follows (max_redirects)",
    "error": "a later hop failed",
    "bad-location": "a Location the scanner could not follow",
}

# ---------------------------------------------------------------------------
# http.hsts

HSTS_MIN_AGE = 31536000  # 1 year: OMB M-15-13, BOD 18-01, pshtt "strong HSTS", hstspreload.org


@check(
    "http.hsts",
    title="HTTPS responses carry a strong Strict-Transport-Security header",
    category=Category.HTTP,
    scope=Scope.ADDRESS,
    needs=(Probe.TCP, Probe.HTTP),
    level_hint=Level.MANDATORY,
    refs=("RFC 6797", "BOD 18-01", "OMB M-15-13", "pshtt 'Strong HSTS'", "Internet.nl"),
    params={"min_max_age": HSTS_MIN_AGE},
    description="""
HSTS tells browsers to use only HTTPS for this host for max-age seconds, so later visits
never start in clear text and a certificate warning cannot be clicked through. A short
max-age (days or weeks) lets the protection lapse between visits of citizens who come
rarely; US federal policy (M-15-13, BOD 18-01) and the HSTS preload list require at
least one year. includeSubDomains and preload are reported: they extend the protection
to every subdomain and to first visits. A header received over a certificate that does
not verify (untrusted, wrong name, expired, or a key or signature browsers reject) does not
count: browsers ignore it (RFC 6797 8.1).
""",
    remediation={
        "nginx": 'add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" '
        "always;  (in the HTTPS server block only; 'always' also covers error pages)",
        "apache": 'Header always set Strict-Transport-Security "max-age=31536000; '
        'includeSubDomains"  (in the :443 VirtualHost; needs mod_headers)',
        "iis": "IIS 10 1709+: Site > HSTS: enable, Max-Age 31536000, IncludeSubDomains "
        '(or web.config <hsts enabled="true" max-age="31536000" includeSubDomains="true" '
        '/> under <site>). Older IIS: customHeaders <add name="Strict-Transport-Security" '
        'value="max-age=31536000; includeSubDomains" /> on the HTTPS site only.',
        "general": "Send exactly one Strict-Transport-Security header (browsers use only the "
        "first); do not add it twice in the application and the proxy.",
    },
)
def hsts(obs: HostObservations, ctx: CheckContext) -> Verdict:
    fetch, verdict = _fetch(obs, ctx, "https")
    if fetch is None:
        assert verdict is not None
        return verdict
    first = fetch.hops[0]
    values = first.header_values("strict-transport-security")
    if first.first_value_unknown("strict-transport-security"):
        return _cap_verdict(first, "Strict-Transport-Security")  # RFC 6797 8.1: the first
    parsed = parse_hsts(values)
    minimum = int(ctx.params.get("min_max_age", HSTS_MIN_AGE))
    evidence: dict[str, Any] = {"url": clip(first.url, _EV_MAX), "status": first.status}
    if parsed is None:
        return Verdict.failed("no Strict-Transport-Security header", score=0.0, **evidence)
    evidence.update(
        header=clip(parsed.raw, _EV_MAX),
        fields=parsed.fields,
        include_subdomains=parsed.include_subdomains,
        preload=parsed.preload,
    )
    if parsed.fields > 1:
        evidence["note"] = "several STS headers: browsers process only the first (RFC 6797 8.1)"
    if not parsed.valid:
        return Verdict.failed(
            f"invalid Strict-Transport-Security header, ignored by browsers: {parsed.error}",
            score=0.0,
            **evidence,
        )
    age = parsed.max_age or 0
    evidence["max_age"] = age
    extras = ", ".join(
        x
        for x, on in (("includeSubDomains", parsed.include_subdomains), ("preload", parsed.preload))
        if on
    )
    suffix = f" ({extras})" if extras else ""
    if fetch.tls_verified is False:
        # RFC 6797 sec. 8.1: a UA processes an STS header field only when "there are no
        # underlying secure transport errors or warnings (see Section 8.4)": received
        # over a certificate that does not verify, the policy is never recorded.
        evidence["tls_verified"] = False
        if fetch.tls_error:
            evidence["tls_error"] = clip(fetch.tls_error, 200)
        return Verdict.failed(
            f"Strict-Transport-Security max-age={age} does not count: the certificate does "
            f"not verify ({clip(fetch.tls_error or 'see tls.cert.*', 160)}), so browsers ignore "
            "the header (RFC 6797 8.1)",
            score=0.0,
            **evidence,
        )
    if age < minimum:
        return Verdict.failed(
            f"HSTS max-age={age} is shorter than {minimum} s (1 year){suffix}",
            score=round(min(1.0, age / minimum), 3) if minimum else 0.0,
            **evidence,
        )
    return Verdict.passed(f"HSTS max-age={age}{suffix}", **evidence)


# ---------------------------------------------------------------------------
# http.csp

# Quality rules: Mozilla Observatory "csp" test, Google CSP Evaluator, OWASP, and the rules
# of Internet.nl's CSP test (checks/tasks/http_headers.py, HeaderCheckerContentSecurityPolicy:
# base-uri, form-action, frame-src, default-src values, 'unsafe-hashes', http:, bare https:,
# hosts without a scheme, * and 127.0.0.1). Where Internet.nl departs from CSP3 the spec is
# followed: a repeated directive is ignored, not merged (CSP3 2.2.1); 'unsafe-inline' is
# judged for scripts with CSP3's neutralisation by nonces, hashes and 'strict-dynamic'.
CSP_RULES = {
    "default-src": "no default-src directive (fallback for every fetch directive)",
    "default-src-values": "default-src allows more than 'none', 'self' and the site's own hosts",
    "script-unrestricted": "neither script-src nor default-src: scripts are not restricted",
    "plugins-unrestricted": "neither object-src nor default-src: plugins are not restricted",
    "unsafe-inline": "'unsafe-inline' scripts allowed (no nonce, hash or 'strict-dynamic')",
    "unsafe-eval": "'unsafe-eval' allowed for scripts",
    "unsafe-hashes": "'unsafe-hashes' allows inline event handlers",
    "wildcard-source": "a source that allows any host or inline code (*, https:, http:, data:) in "
    "script-src/default-src/object-src",
    "any-host": "a '*' host source (any site)",
    "insecure-scheme": "an http:, ftp: or ws: source (loaded in clear text)",
    "bare-https": "a bare 'https:' source (any HTTPS site)",
    "host-without-scheme": "a host source without its https:// scheme",
    "localhost": "a 127.0.0.1 / localhost source (the visitor's own machine)",
    "base-uri": "no base-uri 'self' or 'none' (an injected <base> redirects relative URLs)",
    "form-action": "no form-action (forms may post anywhere)",
    "frame-src": "neither frame-src nor its fallbacks child-src / default-src: frames are not "
    "restricted",
    "frame-ancestors": "no restrictive frame-ancestors (clickjacking protection)",
}
_INSECURE_SCHEMES = frozenset({"http", "ftp", "ws"})
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


def _site(host: str) -> str:
    """The registrable domain of ``host`` (same-site, by the Public Suffix List)."""
    return registrable_domain(host) if host else ""


def _same_site(source: CspSource, site: str) -> bool:
    host = source.host[2:] if source.host.startswith("*.") else source.host
    return bool(site) and host != "*" and (host == site or host.endswith("." + site))


def _self_like(sources: tuple[str, ...], site: str, *, extra: frozenset[str]) -> bool:
    """Internet.nl's rule for default-src and base-uri: 'none' alone, or 'self' with only
    the site's own hosts (and, for default-src, 'report-sample', nonces and hashes, which
    add no source)."""
    low = [x.lower() for x in sources]
    if low == ["'none'"]:
        return True
    if "'self'" not in low:
        return False
    for src in map(classify_source, sources):
        low_text = src.text.lower()
        if low_text == "'self'" or low_text in extra or src.kind == "other":
            continue  # an invalid expression matches nothing (browsers ignore it)
        if src.kind in ("nonce", "hash") and "nonce-hash" in extra:
            continue
        if src.kind == "host" and _same_site(src, site):
            continue
        return False
    return True


def _policy_problems(policy: CspPolicy, site: str) -> dict[str, list[str]]:
    broken: dict[str, list[str]] = {}

    def add(rule: str, detail: str = "") -> None:
        broken.setdefault(rule, [])
        if detail and detail not in broken[rule]:
            broken[rule].append(detail)

    default = policy.get("default-src")
    if default is None:
        add("default-src")
    elif not _self_like(default, site, extra=frozenset({"'report-sample'", "nonce-hash"})):
        add("default-src-values", "default-src " + " ".join(default)[:120])
    sp = script_policy(policy)
    if sp.directive is None:
        add("script-unrestricted")
    if sp.unsafe_inline:
        add("unsafe-inline", sp.directive or "")
    if sp.unsafe_eval:
        add("unsafe-eval", sp.directive or "")
    for s in sp.any_host:
        add("wildcard-source", f"{sp.directive}: {s}")
    obj_name, obj_sources = object_sources(policy)
    if obj_sources is None:
        add("plugins-unrestricted")
    else:
        for s in obj_sources:
            if unsafe_script_source(s):
                add("wildcard-source", f"{obj_name}: {s}")
    # CSP3 sec. 8.2: with 'strict-dynamic', host and scheme sources of the script
    # directive are ignored (they are the fallback for CSP1 browsers in Google's "strict
    # CSP"): not judged there
    neutralised = sp.directive if sp.strict_dynamic else None
    for name, sources in policy.directives:
        if name not in SOURCE_LIST_DIRECTIVES:
            continue
        for src in map(classify_source, sources):
            where = f"{name}: {src.text}"
            low = src.text.lower()
            if low == "'unsafe-hashes'":
                add("unsafe-hashes", name)
            if name == neutralised and src.kind in ("scheme", "host"):
                continue
            if src.kind == "scheme":
                if src.scheme in _INSECURE_SCHEMES:
                    add("insecure-scheme", where)
                elif src.scheme == "https":
                    add("bare-https", where)
            elif src.kind == "host":
                if src.scheme in _INSECURE_SCHEMES:
                    add("insecure-scheme", where)
                if not src.scheme and src.host != "*":
                    add("host-without-scheme", where)
                if src.host == "*":
                    add("any-host", where)
                if src.host in _LOCAL_HOSTS:
                    add("localhost", where)
    base = policy.get("base-uri")
    if base is None or not _self_like(base, site, extra=frozenset()):
        add("base-uri", "base-uri " + " ".join(base)[:80] if base is not None else "")
    form = policy.get("form-action")
    if form is None or not any(
        s.text.lower() in ("'self'", "'none'") or s.kind == "host"
        for s in map(classify_source, form)
    ):
        add("form-action", "form-action " + " ".join(form)[:80] if form is not None else "")
    if effective_sources(policy, "frame-src")[1] is None:
        add("frame-src")
    ancestors = policy.get("frame-ancestors")
    if ancestors is None:
        add("frame-ancestors")
    elif not frame_ancestors_restrictive(ancestors):
        # the same judgement as http.frame: CSP must not pass where framing is open
        add("frame-ancestors", "frame-ancestors " + " ".join(ancestors)[:80])
    return broken


def csp_problems(policies: tuple[CspPolicy, ...], host: str = "") -> dict[str, list[str]]:
    """Rules broken by *every* enforced policy, with details.

    Several policies are all enforced (CSP3 sec. 2.2): content must pass each of them,
    so a rule is satisfied when at least one policy satisfies it. ``host``: the page's
    host, whose site (registrable domain) counts as "own" for default-src and base-uri.
    """
    site = _site(host)
    per_policy = [_policy_problems(p, site) for p in policies]
    if not per_policy:
        return {}
    common = set(per_policy[0])
    for broken in per_policy[1:]:
        common &= set(broken)
    return {
        rule: sorted({d for b in per_policy for d in b.get(rule, [])})
        for rule in CSP_RULES
        if rule in common
    }


@check(
    "http.csp",
    title="Content-Security-Policy is set and restricts scripts and framing",
    category=Category.HTTP,
    scope=Scope.ADDRESS,
    needs=(Probe.TCP, Probe.HTTP),
    level_hint=Level.RECOMMENDED,
    refs=("W3C CSP Level 3", *_REFS_HEADERS),
    params={"severity": "warn"},
    description="""
A Content-Security-Policy limits where a page may load scripts, objects and frames from.
When an attacker manages to inject HTML into a portal (a comment field, a search page, a
compromised plugin), a good CSP stops the injected script from running: it is the main
defence against cross-site scripting, the most common web flaw in audits of government
portals. The rules go as deep as Internet.nl's: default-src limited to 'none', 'self'
and the site's own hosts; script and plugin (object-src) sources restricted; no
'unsafe-inline' (unless neutralised by nonces, hashes or 'strict-dynamic'), 'unsafe-eval'
or 'unsafe-hashes'; no *, bare https:, http:/ftp:/ws:, scheme-less host or 127.0.0.1
sources; base-uri 'self' or 'none'; form-action set; frame-src (or its fallback) set; a
frame-ancestors that no other site matches. Each broken rule is named. A policy in a
<meta http-equiv> element of the page counts too (without frame-ancestors, report-uri and
sandbox, which a meta cannot carry). A missing policy is a warning (CSP is a
recommendation in Internet.nl and Mozilla Observatory), as is a weak one; profiles may
raise the severity to fail.
""",
    remediation={
        "nginx": "add_header Content-Security-Policy \"default-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'\" "
        "always;  Start with Content-Security-Policy-Report-Only to find what breaks.",
        "apache": "Header always set Content-Security-Policy \"default-src 'self'; "
        "script-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'self'\"",
        "iis": "web.config <system.webServer><httpProtocol><customHeaders><add "
        "name=\"Content-Security-Policy\" value=\"default-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'\" "
        "/></customHeaders></httpProtocol>. "
        "ASP.NET WebForms pages with inline scripts need nonces (or hashes) instead of "
        "'unsafe-inline'.",
        "general": "Move inline scripts to files, or give them a per-response nonce and use "
        "script-src 'nonce-...' 'strict-dynamic'; replace eval() and inline event handlers "
        "('unsafe-hashes'); write every host with https:// and never list *, https:, http: "
        "or 127.0.0.1 as a source.",
    },
)
def csp(obs: HostObservations, ctx: CheckContext) -> Verdict:
    doc, verdict = _document(obs, ctx)
    if doc is None:
        assert verdict is not None
        return verdict
    values = doc.header_values("content-security-policy")
    if doc.value_cut("content-security-policy"):
        return _cap_verdict(doc, "Content-Security-Policy")
    h = _http_obs(obs, ctx.address or "")
    metas = h.https.meta_csp if h is not None and h.https is not None else ()
    header_policies = parse_csp(values)
    meta_policies, meta_removed = parse_csp_meta(metas)
    policies = header_policies + meta_policies
    # Every policy is enforced (CSP3 sec. 2.2): one that passes every rule still does when
    # more were dropped by the cap; anything short of a pass could change with them.
    dropped = doc.values_incomplete("content-security-policy")
    if dropped and (not policies or csp_problems(policies, obs.host)):
        return _cap_verdict(doc, "Content-Security-Policy")
    report_only = doc.header_values("content-security-policy-report-only")
    evidence: dict[str, Any] = {"url": clip(doc.url, _EV_MAX), "status": doc.status}
    if report_only:
        evidence["report_only"] = [clip(v, _EV_MAX) for v in report_only]
    if metas:
        evidence["meta"] = [clip(m, _EV_MAX) for m in metas]
    if meta_removed:
        # CSP3 sec. 3.3: a <meta> policy cannot carry these; browsers drop them
        evidence["meta_ignored_directives"] = list(meta_removed)
    severity = Status(str(ctx.params.get("severity", "warn")))
    if not policies:
        note = (
            " (only Content-Security-Policy-Report-Only, which enforces nothing)"
            if report_only
            else ""
        )
        return Verdict(Status.WARN, f"no Content-Security-Policy header{note}", evidence, 0.0)
    evidence["policies"] = [clip(p.raw, _EV_MAX) for p in policies]
    if meta_policies:
        evidence["delivered_by"] = "header and <meta>" if header_policies else "<meta>"
    problems = csp_problems(policies, ctx.target)
    invalid = sorted(
        {
            f"{name}: {src}"
            for p in policies
            for name, sources in p.directives
            if name in SOURCE_LIST_DIRECTIVES
            for src in sources
            if classify_source(src).kind == "other"
        }
    )
    if invalid:
        # not valid CSP3 source expressions: browsers ignore them (they match nothing)
        evidence["ignored_sources"] = [clip(i, 120) for i in invalid[:20]]
    sps = [script_policy(p) for p in policies]
    evidence["strict_dynamic"] = any(s.strict_dynamic for s in sps)
    neutral = sorted({s.inline_neutralised_by for s in sps if s.inline_neutralised_by})
    if neutral:
        evidence["unsafe_inline_ignored_by"] = neutral
    via = " (via <meta http-equiv>)" if meta_policies and not header_policies else ""
    if not problems:
        return Verdict.passed(f"Content-Security-Policy{via} meets every quality rule", **evidence)
    evidence["broken_rules"] = {rule: details for rule, details in problems.items()}
    names = ", ".join(problems)
    score = round(1 - len(problems) / len(CSP_RULES), 3)
    detail = "; ".join(
        CSP_RULES[r] + (f" [{', '.join(d[:3])}]" if d else "") for r, d in problems.items()
    )
    return Verdict(
        severity if severity in (Status.WARN, Status.FAIL) else Status.WARN,
        clip(
            f"Content-Security-Policy{via} breaks {len(problems)} rule(s): {names} - {detail}",
            900,
        ),
        evidence,
        score,
    )


# ---------------------------------------------------------------------------
# http.xcto


@check(
    "http.xcto",
    title="X-Content-Type-Options: nosniff",
    category=Category.HTTP,
    scope=Scope.ADDRESS,
    needs=(Probe.TCP, Probe.HTTP),
    level_hint=Level.RECOMMENDED,
    refs=("WHATWG Fetch 'X-Content-Type-Options'", *_REFS_HEADERS),
    description="""
Without nosniff, browsers may guess ("sniff") the type of a response and run an uploaded
file (an attachment, an avatar) as a script or a style sheet. Portals that let citizens
upload documents are exposed. The header is one line of configuration.
""",
    remediation={
        "nginx": 'add_header X-Content-Type-Options "nosniff" always;',
        "apache": 'Header always set X-Content-Type-Options "nosniff"',
        "iis": 'web.config customHeaders: <add name="X-Content-Type-Options" value="nosniff" />',
    },
)
def xcto(obs: HostObservations, ctx: CheckContext) -> Verdict:
    doc, verdict = _document(obs, ctx)
    if doc is None:
        assert verdict is not None
        return verdict
    values = doc.header_values("x-content-type-options")
    if doc.first_value_unknown("x-content-type-options"):
        return _cap_verdict(doc, "X-Content-Type-Options")  # Fetch: the first value counts
    evidence: dict[str, Any] = {
        "url": clip(doc.url, _EV_MAX),
        "values": [clip(v, _EV_MAX) for v in values],
    }
    if parse_nosniff(values):
        return Verdict.passed("X-Content-Type-Options: nosniff", **evidence)
    if not values:
        return Verdict.failed("no X-Content-Type-Options header", **evidence)
    return Verdict.failed(
        f"X-Content-Type-Options is not nosniff: {clip(', '.join(values), 120)!r}", **evidence
    )


# ---------------------------------------------------------------------------
# http.compression


@check(
    "http.compression",
    title="HTTPS landing page not served compressed (BREACH)",
    category=Category.HTTP,
    scope=Scope.ADDRESS,
    needs=(Probe.TCP, Probe.HTTP),
    level_hint=Level.INFORMATIONAL,
    scored=False,
    refs=("BREACH (Gluck, Harris, Prado 2013)", "RFC 9110 sec. 8.4", "RFC 7457 sec. 2.6"),
    description="""
When a page that reflects user input and carries a secret (a CSRF token, a session value)
is sent compressed over HTTPS, an attacker who can watch the encrypted sizes and make the
browser send many requests can recover the secret byte by byte (BREACH). The request here
offers compression as browsers do (Accept-Encoding: gzip, deflate); a compressed answer is
shown, not scored: compression is harmless for static pages, and the real fix is in the
application (masked tokens, SameSite cookies), as Internet.nl also notes.
""",
    remediation={
        "nginx": "For dynamic pages with secrets: `gzip off;` in that location (static files "
        "can keep `gzip_static on;`), or mask CSRF tokens per response in the application.",
        "apache": "`SetEnvIfNoCase Request_URI \\.php$ no-gzip` (or `SetEnv no-gzip` in the "
        "dynamic location) to keep mod_deflate off pages with secrets.",
        "iis": "IIS Manager > Compression: untick 'Enable dynamic content compression' (keep "
        'static compression), or `<urlCompression doDynamicCompression="false" />`.',
        "general": "Whatever the server: randomise (mask) CSRF tokens per response and set "
        "SameSite cookies; then compression is safe.",
    },
)
def compression(obs: HostObservations, ctx: CheckContext) -> Verdict:
    doc, verdict = _document(obs, ctx)
    if doc is None:
        assert verdict is not None
        return verdict
    values = [v.strip().lower() for raw in doc.header_values("content-encoding")
              for v in raw.split(",") if v.strip()]  # fmt: skip
    evidence: dict[str, Any] = {
        "url": clip(doc.url, _EV_MAX),
        "content_encoding": [clip(v, _EV_MAX) for v in values],
        "offered": "gzip, deflate",
    }
    # every registered content coding but "identity" compresses (RFC 9110 sec. 8.4.1; the
    # IANA registry: gzip, deflate, br, compress, zstd, ...)
    used = [v for v in values if v != "identity"]
    if used:
        return Verdict.info(
            f"the HTTPS landing page is served compressed ({clip(', '.join(used), 80)}) to a "
            "request offering gzip/deflate: BREACH applies if it reflects input and carries "
            "secrets",
            **evidence,
        )
    if doc.values_incomplete("content-encoding"):
        return _cap_verdict(doc, "Content-Encoding")
    return Verdict.passed("the HTTPS landing page is not served compressed", **evidence)


# ---------------------------------------------------------------------------
# http.frame


@check(
    "http.frame",
    title="Framing restricted (CSP frame-ancestors or X-Frame-Options)",
    category=Category.HTTP,
    scope=Scope.ADDRESS,
    needs=(Probe.TCP, Probe.HTTP),
    level_hint=Level.RECOMMENDED,
    refs=("W3C CSP Level 3 frame-ancestors", "RFC 7034", "HTML Living Standard", *_REFS_HEADERS),
    description="""
If any site may show the portal in a frame, an attacker can overlay it with a fake page
and trick users into clicking buttons they do not see (clickjacking), e.g. submitting a
form of an online public service. CSP frame-ancestors (which supersedes X-Frame-Options
in modern browsers) or X-Frame-Options DENY/SAMEORIGIN prevents it.
""",
    remediation={
        "nginx": "add_header Content-Security-Policy \"frame-ancestors 'self'\" always; "
        'and for old browsers add_header X-Frame-Options "SAMEORIGIN" always;',
        "apache": "Header always set Content-Security-Policy \"frame-ancestors 'self'\" and "
        'Header always set X-Frame-Options "SAMEORIGIN"',
        "iis": 'web.config customHeaders: <add name="X-Frame-Options" value="SAMEORIGIN" /> '
        "and frame-ancestors 'self' in the Content-Security-Policy value.",
        "general": "Send one X-Frame-Options value only; ALLOW-FROM is ignored by browsers: "
        "use frame-ancestors with the allowed origins instead.",
    },
)
def frame(obs: HostObservations, ctx: CheckContext) -> Verdict:
    doc, verdict = _document(obs, ctx)
    if doc is None:
        assert verdict is not None
        return verdict
    csp_cut = doc.value_cut("content-security-policy")
    policies = () if csp_cut else parse_csp(doc.header_values("content-security-policy"))
    xfo_values = doc.header_values("x-frame-options")
    evidence: dict[str, Any] = {
        "url": clip(doc.url, _EV_MAX),
        "x_frame_options": [clip(v, _EV_MAX) for v in xfo_values],
    }
    ancestors = [p.get("frame-ancestors") for p in policies if p.has("frame-ancestors")]
    restrictive = any(frame_ancestors_restrictive(a or ()) for a in ancestors)
    if not restrictive and (
        csp_cut
        or doc.values_incomplete("content-security-policy")
        or doc.values_incomplete("x-frame-options")
    ):
        # a restrictive frame-ancestors kept is a pass whatever was cut; nothing else is
        return _cap_verdict(doc, "Content-Security-Policy / X-Frame-Options")
    if ancestors:
        # HTML: any enforced frame-ancestors makes the browser ignore X-Frame-Options.
        evidence["frame_ancestors"] = [" ".join(a or ()) for a in ancestors]
        if any(frame_ancestors_restrictive(a or ()) for a in ancestors):
            return Verdict.passed(
                f"CSP frame-ancestors {clip(' '.join(ancestors[0] or ()) or '(empty)', 120)}",
                **evidence,
            )
        return Verdict.failed(
            "CSP frame-ancestors allows any site to frame the page (and overrides X-Frame-Options)",
            **evidence,
        )
    mode = parse_xfo(xfo_values)
    if mode:
        return Verdict.passed(f"X-Frame-Options {mode.upper()}", mode=mode, **evidence)
    if xfo_values:
        return Verdict.failed(
            f"X-Frame-Options {clip(', '.join(xfo_values), 120)!r} gives no protection "
            "(ALLOW-FROM and unknown values are ignored by browsers)",
            **evidence,
        )
    return Verdict.failed("neither CSP frame-ancestors nor X-Frame-Options", **evidence)


# ---------------------------------------------------------------------------
# http.referrer_policy

REFERRER_GOOD = ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin")


@check(
    "http.referrer_policy",
    title="Referrer-Policy limits what leaks to other sites",
    category=Category.HTTP,
    scope=Scope.ADDRESS,
    needs=(Probe.TCP, Probe.HTTP),
    level_hint=Level.RECOMMENDED,
    refs=("W3C Referrer Policy", *_REFS_HEADERS),
    params={"weak_status": "warn", "missing_status": "warn"},
    description="""
When a user follows a link or the page loads a third-party resource, the browser sends
the page address as Referer. Addresses of public-service pages can carry case numbers,
names or search terms. no-referrer, same-origin, strict-origin or
strict-origin-when-cross-origin keep the path inside the portal. unsafe-url, origin,
origin-when-cross-origin and no-referrer-when-downgrade are warnings (CHECKS.md). A
missing header is a warning too: current browsers default to
strict-origin-when-cross-origin, but older ones still in use on government desktops send
the full address; Internet.nl recommends setting it explicitly.
""",
    remediation={
        "nginx": 'add_header Referrer-Policy "strict-origin-when-cross-origin" always;',
        "apache": 'Header always set Referrer-Policy "strict-origin-when-cross-origin"',
        "iis": 'web.config customHeaders: <add name="Referrer-Policy" '
        'value="strict-origin-when-cross-origin" />',
    },
)
def referrer_policy(obs: HostObservations, ctx: CheckContext) -> Verdict:
    doc, verdict = _document(obs, ctx)
    if doc is None:
        assert verdict is not None
        return verdict
    values = doc.header_values("referrer-policy")
    if doc.values_incomplete("referrer-policy"):
        return _cap_verdict(doc, "Referrer-Policy")  # the last valid token wins: need all
    policy = parse_referrer_policy(values)
    evidence: dict[str, Any] = {
        "url": clip(doc.url, _EV_MAX),
        "values": [clip(v, _EV_MAX) for v in values],
    }
    weak = Status(str(ctx.params.get("weak_status", "warn")))
    missing = Status(str(ctx.params.get("missing_status", "warn")))
    if policy in REFERRER_GOOD:
        return Verdict.passed(f"Referrer-Policy: {policy}", policy=policy, **evidence)
    if policy:
        return Verdict(
            weak, f"Referrer-Policy {policy} leaks the page address", {"policy": policy, **evidence}
        )
    if values:
        return Verdict(
            missing,
            f"Referrer-Policy has no valid token ({clip(', '.join(values), 120)!r}); browsers "
            "fall back to their default",
            evidence,
        )
    return Verdict(missing, "no Referrer-Policy header", evidence)


# ---------------------------------------------------------------------------
# http.security_txt

SECURITY_TXT_MAX_DAYS = 365  # RFC 9116 sec. 2.5.5: Expires "less than a year into the future"
# RFC 9116 sets no size limit; Internet.nl reads at most 100 KiB (SECURITYTXT_MAX_LENGTH =
# 100 * 1024): the probe's cap (auditor/probes/http.py SECURITY_TXT_CAP), for old records.
SECURITY_TXT_MAX = 100 * 1024


@check(
    "http.security_txt",
    title="security.txt (RFC 9116) published and current",
    category=Category.HTTP,
    scope=Scope.ADDRESS,
    needs=(Probe.TCP, Probe.HTTP),
    level_hint=Level.RECOMMENDED,
    refs=("RFC 9116", "Internet.nl security.txt", "CISA BOD 20-01"),
    params={"max_expires_days": SECURITY_TXT_MAX_DAYS},
    description="""
security.txt tells whoever finds a vulnerability in the portal (a researcher, VNCERT/CC, a
citizen) whom to contact. Without it, reports get lost or are published instead. RFC 9116
requires it at /.well-known/security.txt over HTTPS, as text/plain in UTF-8, with at least
one Contact and exactly one Expires date in the future, every line in the RFC's grammar
("Name: value", the colon followed by one space, each line ending with a line break), URI
values (mailto:, https:, tel:; an address without mailto: or an http:// link is an error),
and, when signed, a sound OpenPGP cleartext signature (nothing before the header, one
signature block, nothing after it). Each error is named with its line. A file that
expires more than a year ahead, or a signed file without Canonical, is a warning. A file
larger than 100 KiB (the most Internet.nl reads; RFC 9116 sets no size) fails as too large:
its first part is not parsed as if it were the whole file.
""",
    remediation={
        "nginx": "location = /.well-known/security.txt { default_type text/plain; "
        "alias /etc/nginx/security.txt; }  with e.g.\nContact: mailto:security@example.gov.vn"
        "\nExpires: 2026-12-31T17:00:00.000Z\nPreferred-Languages: vi, en\nCanonical: "
        "https://portal.example.gov.vn/.well-known/security.txt",
        "apache": "Place the file at DocumentRoot/.well-known/security.txt and add "
        '<Files "security.txt"> ForceType "text/plain; charset=utf-8" </Files>',
        "iis": "Create .well-known\\security.txt in the site root and add a MIME map for the "
        "extensionless path or '.txt' -> text/plain; web.config: <location "
        'path=".well-known/security.txt"><system.webServer><staticContent><remove '
        'fileExtension=".txt" /><mimeMap fileExtension=".txt" mimeType="text/plain; '
        'charset=utf-8" /></staticContent></system.webServer></location>',
        "general": "Renew Expires before it passes (calendar it); sign the file with OpenPGP "
        "if you can.",
    },
)
def security_txt(obs: HostObservations, ctx: CheckContext) -> Verdict:
    address = ctx.address or ""
    closed = _port_not_open(obs, address, 443)
    if closed:
        none = no_https_reason(obs, address)
        if none:
            return Verdict.not_applicable(f"no HTTPS on {address}: {none} (see tls.available)")
        return Verdict.not_tested(closed)
    h = _http_obs(obs, address)
    st = h.security_txt if h else None
    if st is None:
        why = (
            h.detail
            if h
            else ("target deadline passed" if obs.deadline_hit else "no HTTP observation")
        )
        return Verdict.not_tested(f"security.txt not fetched: {clip(why, _EV_MAX)}")
    if st.status is None:
        return Verdict.not_tested(
            f"security.txt fetch failed: {st.outcome} {clip(st.detail, _EV_MAX)}".strip(),
            outcome=st.outcome,
        )
    evidence: dict[str, Any] = {"url": clip(st.url, _EV_MAX), "status": st.status}
    if st.redirects:
        evidence["redirects"] = [clip(r, _EV_MAX) for r in st.redirects]
    if 300 <= st.status < 400:
        return Verdict.warn(
            "/.well-known/security.txt redirects off the host or to http "
            f"({clip(st.detail, _EV_MAX)}); "
            "RFC 9116 wants it served over HTTPS on the host itself",
            **evidence,
        )
    if st.status != 200:
        return Verdict.failed(f"/.well-known/security.txt answers {st.status}", **evidence)
    mtype, params = media_type(st.content_type)
    evidence["content_type"] = clip(st.content_type, 120)
    if mtype != "text/plain":
        return Verdict.failed(
            f"security.txt is served as {clip(mtype or '(no Content-Type)', 80)}, "
            "not text/plain (RFC 9116 sec. 3)",
            **evidence,
        )
    if st.truncated:
        # Over the cap: a finding of its own, never a parse of the first part (whose
        # Contact and Expires say nothing about the rest). RFC 9116 sets no size;
        # Internet.nl reads at most 100 KiB, and so does the probe.
        cap = st.cap or SECURITY_TXT_MAX
        evidence.update(truncated=True, max_bytes=cap)
        return Verdict.failed(
            f"security.txt is too large: more than {cap // 1024} KiB ({cap} bytes), the most "
            "Internet.nl reads; a contact file is a few hundred bytes",
            **evidence,
        )
    if st.unreadable:
        return Verdict.not_tested(
            f"security.txt could not be decoded: {clip(st.unreadable, 120)}", **evidence
        )
    parsed = parse_security_txt(st.text, complete=not st.truncated)
    evidence.update(
        contacts=[clip(c, 200) for c in parsed.contacts[:10]],
        expires=[clip(e, 60) for e in parsed.expires_raw[:3]],
        canonical=[clip(c, 200) for c in parsed.canonical[:10]],
        signed=parsed.signed,
    )
    if parsed.errors:
        evidence["parse_errors"] = [clip(e, 160) for e in parsed.errors[:20]]
    if parsed.recommendations:
        evidence["recommendations"] = list(parsed.recommendations)
    if parsed.unknown_fields:
        evidence["unknown_fields"] = [clip(f, 40) for f in parsed.unknown_fields]
    if st.truncated:
        evidence["truncated"] = True
    problems: list[str] = []
    # RFC 9116 sec. 3: text/plain with charset utf-8 (the IANA name, or its alias csUTF8);
    # no charset parameter means the default, utf-8
    charset = params.get("charset", "").lower()
    if charset and charset not in ("utf-8", "csutf8"):
        problems.append(f"charset {clip(charset, 40)} instead of utf-8 (RFC 9116 sec. 3)")
    if st.invalid_utf8:
        problems.append("the body is not valid UTF-8 (RFC 9116 sec. 3)")
    if not parsed.contacts:
        problems.append("no Contact field (required, RFC 9116 sec. 2.5.3)")
    if not parsed.expires_raw:
        problems.append("no Expires field (required, RFC 9116 sec. 2.5.5)")
    elif (
        parsed.expires is not None and len(parsed.expires_raw) == 1 and (parsed.expires <= ctx.now)
    ):
        problems.append(f"expired on {parsed.expires.isoformat()}")
    # every deviation from the grammar of RFC 9116 sec. 4 (and RFC 4880 sec. 7 for a signed
    # file): a file that parsers reject tells the finder of a vulnerability nothing
    problems.extend(clip(e, 160) for e in parsed.errors)
    if problems:
        shown = "; ".join(problems[:6])
        more = f" (+{len(problems) - 6} more)" if len(problems) > 6 else ""
        return Verdict.failed(f"security.txt: {shown}{more}", **evidence)
    warnings: list[str] = []
    assert parsed.expires is not None
    max_days = int(ctx.params.get("max_expires_days", SECURITY_TXT_MAX_DAYS))
    if parsed.expires > ctx.now + timedelta(days=max_days):
        warnings.append(
            f"Expires {parsed.expires.date().isoformat()} is more than {max_days} days ahead "
            "(RFC 9116 sec. 2.5.5 recommends less than a year)"
        )
    warnings.extend(parsed.recommendations)
    if parsed.canonical:
        here = (_host(st.url), urlsplit(st.url).path)
        if not any(
            (_host(c), _path(c)) == here and _scheme(c) == "https" for c in parsed.canonical
        ):
            warnings.append("no Canonical field names this URL (RFC 9116 sec. 2.5.2)")
    if warnings:
        return Verdict.warn("security.txt: " + "; ".join(warnings), **evidence)
    return Verdict.passed(
        f"security.txt with {len(parsed.contacts)} contact(s), expires "
        f"{parsed.expires.date().isoformat()}" + (", signed" if parsed.signed else ""),
        **evidence,
    )


def _path(url: str) -> str:
    try:
        return urlsplit(url).path
    except ValueError:
        return ""


# ---------------------------------------------------------------------------
# http.cookies


@check(
    "http.cookies",
    title="Cookies set over HTTPS are Secure, HttpOnly and SameSite",
    category=Category.HTTP,
    scope=Scope.ADDRESS,
    needs=(Probe.TCP, Probe.HTTP),
    level_hint=Level.RECOMMENDED,
    refs=("RFC 6265 / RFC 6265bis", "OWASP Session Management Cheat Sheet", "Internet.nl"),
    description="""
Session cookies of e-government portals identify a logged-in citizen or official.
Without Secure a cookie is also sent over plain HTTP, where it can be stolen; without
HttpOnly any injected script can read it; without SameSite it rides along on requests
forged by other sites (CSRF). Every cookie the landing page sets over HTTPS is checked and
the offending ones are named. A page that sets no cookie is not_applicable (nothing to
protect; Internet.nl likewise shows no cookie verdict then).
""",
    remediation={
        "nginx": "Fix it in the application; for a proxied app: proxy_cookie_flags ~ secure "
        "httponly samesite=lax;  (nginx >= 1.19.3)",
        "apache": 'Header always edit Set-Cookie ^(.*)$ "$1; Secure; HttpOnly; SameSite=Lax" '
        "(mod_headers), or set the flags in the application.",
        "iis": 'web.config: <system.web><httpCookies requireSSL="true" httpOnlyCookies="true" '
        'sameSite="Lax" /><sessionState cookieSameSite="Lax" /><authentication><forms '
        'requireSSL="true" cookieSameSite="Lax" /></authentication></system.web>',
        "general": "PHP: session.cookie_secure=1, session.cookie_httponly=1, "
        "session.cookie_samesite=Lax; Java: <cookie-config><secure>true</secure>"
        "<http-only>true</http-only></cookie-config>.",
    },
)
def cookies(obs: HostObservations, ctx: CheckContext) -> Verdict:
    fetch, verdict = _fetch(obs, ctx, "https")
    if fetch is None:
        assert verdict is not None
        return verdict
    seen: dict[str, list[str]] = {}
    for hop in fetch.hops:
        if hop.value_cut("set-cookie"):
            return _cap_verdict(hop, "Set-Cookie")  # a cut cookie lost its attributes
    dropped = next((hop for hop in fetch.hops if hop.values_incomplete("set-cookie")), None)
    for hop in fetch.hops:
        for raw in hop.header_values("set-cookie"):
            cookie = parse_set_cookie(raw)
            if cookie is None or cookie.deletes:
                continue
            missing = [
                flag
                for flag, ok in (
                    ("Secure", cookie.secure),
                    ("HttpOnly", cookie.http_only),
                    ("SameSite", bool(cookie.same_site)),
                )
                if not ok
            ]
            seen[clip(cookie.name, 100) or "(nameless)"] = missing
    bad = {name: missing for name, missing in seen.items() if missing}
    if dropped is not None and not bad:
        # cookies may be among the fields the cap dropped: no "all flags set", no "none"
        return _cap_verdict(dropped, "Set-Cookie")
    if not seen:
        return Verdict.not_applicable("no cookies set over HTTPS on the landing page")
    evidence: dict[str, Any] = {"cookies": sorted(seen), "missing": bad}
    if not bad:
        return Verdict.passed(
            f"{len(seen)} cookie(s), all Secure, HttpOnly and SameSite", **evidence
        )
    listed = "; ".join(f"{name}: no {', '.join(m)}" for name, m in list(bad.items())[:10])
    return Verdict.failed(
        clip(f"{len(bad)} of {len(seen)} cookie(s) lack flags - {listed}", 600),
        score=round(1 - len(bad) / len(seen), 3),
        **evidence,
    )


# ---------------------------------------------------------------------------
# http.disclosure


@check(
    "http.disclosure",
    title="No software version numbers in response headers",
    category=Category.HTTP,
    scope=Scope.ADDRESS,
    needs=(Probe.TCP, Probe.HTTP),
    level_hint=Level.INFORMATIONAL,
    scored=False,
    refs=("OWASP Secure Headers Project", "OWASP WSTG-INFO-02"),
    params={"found_status": "info"},
    description="""
Version numbers in Server, X-Powered-By, X-AspNet-Version or X-AspNetMvc-Version let an
attacker pick exploits for exactly that version without probing. Hiding them does not
fix an outdated server, but it removes a free hint; the finding is informational.
""",
    remediation={
        "nginx": "server_tokens off;  (http block); remove X-Powered-By from the application "
        "or with proxy_hide_header X-Powered-By; / fastcgi_hide_header X-Powered-By;",
        "apache": "ServerTokens Prod and ServerSignature Off; Header always unset X-Powered-By; "
        "PHP: expose_php = Off",
        "iis": 'web.config: <system.web><httpRuntime enableVersionHeader="false" />; '
        '<system.webServer><security><requestFiltering removeServerHeader="true" />'
        '</security><httpProtocol><customHeaders><remove name="X-Powered-By" />'
        "</customHeaders></httpProtocol>; MVC: MvcHandler.DisableMvcResponseHeader = true "
        "in Application_Start.",
    },
)
def disclosure(obs: HostObservations, ctx: CheckContext) -> Verdict:
    address = ctx.address or ""
    h = _http_obs(obs, address)
    fetches = [f for f in ((h.https, h.http) if h else ()) if f is not None and f.hops]
    if not fetches:
        reasons = [r for p in (80, 443) if (r := _port_not_open(obs, address, p))]
        why = "; ".join(reasons) or (
            f"{h.outcome}: {clip(h.detail, _EV_MAX)}" if h else "no HTTP observation"
        )
        return Verdict.not_tested(f"no HTTP response from {address}: {why}")
    found: dict[str, str] = {}
    for f in fetches:
        for hop in f.hops:
            for name, value in hop.headers:
                low = name.lower()
                if low in DISCLOSURE_HEADERS and has_version(value):
                    found.setdefault(f"{low}: {clip(value, 120)}", name)
    if not found:
        cut = next((hop for f in fetches for hop in f.hops if hop.headers_truncated), None)
        if cut is not None:
            return _cap_verdict(cut, "Server / X-Powered-By")
        return Verdict.passed("no version numbers in Server / X-Powered-By / X-AspNet-Version")
    status = Status(str(ctx.params.get("found_status", "info")))
    items = sorted(found)
    return Verdict(status, clip("version disclosed: " + "; ".join(items), 600), {"headers": items})


# ---------------------------------------------------------------------------
# ipv6.web.parity

PARITY_MIN_SIMILARITY = 0.90  # Internet.nl web_ipv6_ws_similar: 90 % similar content


def _first_status(f: HttpFetch | None) -> tuple[int | None, str]:
    if f is None or not f.hops:
        return None, ""
    first = f.hops[0]
    # Session ids in a Location (Java portals: /;jsessionid=...) differ on every fetch.
    return first.status, normalise_url(first.target) if first.is_redirect else ""


def _compare(
    obs: HostObservations, ref: str, v6: str, min_sim: float
) -> tuple[Status, list[str], dict[str, Any]]:
    ev: dict[str, Any] = {"address": v6, "reference": ref}
    problems: list[str] = []
    ports4 = {p.port: p.outcome for p in obs.tcp if p.address == ref}
    ports6 = {p.port: p.outcome for p in obs.tcp if p.address == v6}
    if not ports6:
        return Status.NOT_TESTED, ["no TCP probe of this address"], ev
    open4 = sorted(p for p, o in ports4.items() if o == Outcome.OPEN)
    open6 = sorted(p for p, o in ports6.items() if o == Outcome.OPEN)
    ev["open_ports"] = {"v4": open4, "v6": open6}
    if any(o == Outcome.BLOCKED for o in ports6.values()):
        return Status.NOT_TESTED, ["address refused by the scanner's address guard"], ev
    if any(o == Outcome.SKIPPED for o in (*ports4.values(), *ports6.values())):
        # a port not probed (the scanner could not, or did not trust what it saw) is no
        # difference between the families
        why = next(
            p.detail for p in obs.tcp if p.address in (ref, v6) and p.outcome == Outcome.SKIPPED
        )
        return Status.NOT_TESTED, [f"not probed: {why or 'skipped'}"], ev
    if open4 != open6:
        problems.append(f"open ports differ: v4 {open4}, v6 {open6}")
    h4, h6 = obs.http_for(ref), obs.http_for(v6)
    if h6 is None:
        if open6:
            return Status.NOT_TESTED, ["no HTTP observation (deadline?)"], ev
        return (
            (Status.FAIL if problems else Status.NOT_TESTED),
            problems or ["no HTTP over IPv6"],
            ev,
        )
    sims: dict[str, Any] = {}
    for scheme in ("https", "http"):
        f4 = getattr(h4, scheme) if h4 else None
        f6 = getattr(h6, scheme)
        if f4 is None or not f4.hops:
            continue  # nothing to compare against on this scheme
        if f6 is None:
            continue  # port not open over v6: already a port difference
        if not f6.hops:
            problems.append(
                f"{scheme}: no response over IPv6 ({f6.outcome} {clip(f6.detail, 120)}) while IPv4 "
                f"answers {f4.hops[0].status}"
            )
            continue
        s4, t4 = _first_status(f4)
        s6, t6 = _first_status(f6)
        ev[scheme] = {
            "v4": {"status": s4, "redirect": clip(t4, _EV_MAX)},
            "v6": {"status": s6, "redirect": clip(t6, _EV_MAX)},
        }
        if s4 != s6:
            problems.append(f"{scheme}: status {s4} over IPv4, {s6} over IPv6")
        elif t4 != t6:
            problems.append(f"{scheme}: first redirect differs: {clip(t4, 120)} vs {clip(t6, 120)}")
        # One page comparison: the https landing page, else the http one (http://host/
        # usually ends on the same https page: comparing it twice says nothing new).
        if f4.body is not None and f6.body is not None and not sims:
            sim = similarity(f4.body, f6.body)
            sims[scheme] = {
                "similarity": round(sim.value, 3),
                "exact": sim.exact,
                "length": {"v4": f4.body.length, "v6": f6.body.length},
            }
            if f4.body.truncated or f6.body.truncated:
                # the body cap is an observation: what was compared is said, not hidden
                sims[scheme]["truncated"] = {"v4": f4.body.truncated, "v6": f6.body.truncated}
    if sims:
        ev["body"] = sims
    if problems:
        return Status.FAIL, problems, ev
    low = {s: v["similarity"] for s, v in sims.items() if v["similarity"] < min_sim}
    if low:
        return (
            Status.WARN,
            [f"{s}: page similarity {v:.0%} < {min_sim:.0%}" for s, v in low.items()],
            ev,
        )
    return Status.PASS, [], ev


@check(
    "ipv6.web.parity",
    title="The site is the same over IPv4 and IPv6",
    category=Category.IPV6_WEB,
    scope=Scope.HOST,
    needs=(Probe.DNS, Probe.TCP, Probe.HTTP),
    level_hint=Level.MANDATORY,
    refs=("Internet.nl web_ipv6_ws_similar", "QD 38/QD-BTTTT (IPv6 For Gov, 2021)", "OMB M-21-07"),
    params={"min_similarity": PARITY_MIN_SIMILARITY},
    description="""
"Works well over IPv6" means an IPv6 user gets the same portal as an IPv4 user: the same
ports open, the same status codes, the same first redirect and (nearly) the same page.
A common failure is an AAAA pointing at an old server, a default web-server page or a
load balancer without the site's virtual host, or an IPv6 path that connects but never
delivers the page (MTU problems); these pass a mere "has AAAA" test but serve citizens
something else. Each AAAA is compared with the first IPv4 address that answered (per
AAAA evidence); page similarity is estimated from a MinHash sketch of the normalised page
(nonces, tokens, dates removed) and below 90 % is a warning. An IPv6-only host passes.
""",
    remediation={
        "nginx": "Give every server block the same listen lines for both families: "
        "listen 443 ssl; listen [::]:443 ssl; (a server block with only 'listen 443' is not "
        "used for IPv6 clients, who then get the default server).",
        "apache": "Use <VirtualHost *:443> (or list both addresses: <VirtualHost "
        "192.0.2.10:443 [2001:db8::10]:443>) so both families reach the same site.",
        "iis": "Site bindings: bind https/http to 'All Unassigned' or add the IPv6 address "
        "with the same host name and certificate as the IPv4 binding.",
        "dns": "Point the AAAA at the same service (same server, load balancer or CDN) as "
        "the A record; remove AAAA records of decommissioned servers.",
        "general": "If IPv6 connects but pages hang, check the path MTU: allow ICMPv6 "
        "Packet Too Big (type 2) through firewalls (RFC 4890).",
    },
)
def web_parity(obs: HostObservations, ctx: CheckContext) -> Verdict:
    v6 = [a for a in obs.v6 if unusable_v6_reason(a, ctx.guard) is None]
    if not v6:
        return Verdict.not_applicable("no usable AAAA: nothing to compare (see ipv6.web.aaaa)")
    if not obs.v4:
        return Verdict.passed("IPv6-only host: nothing to compare with", addresses=v6)
    ref = next(
        (
            a
            for a in obs.v4
            if (h := obs.http_for(a)) is not None
            and ((h.http and h.http.hops) or (h.https and h.https.hops))
        ),
        None,
    )
    if ref is None:
        return Verdict.not_tested(
            "no IPv4 address answered HTTP(S): nothing to compare IPv6 with",
            v4=list(obs.v4),
        )
    min_sim = float(ctx.params.get("min_similarity", PARITY_MIN_SIMILARITY))
    results: dict[str, dict[str, Any]] = {}
    statuses: list[Status] = []
    credit = 0.0
    for address in v6:
        status, problems, ev = _compare(obs, ref, address, min_sim)
        ev["status"] = status.value
        if problems:
            ev["problems"] = problems
        results[address] = ev
        statuses.append(status)
        if status == Status.PASS:
            credit += 1
        elif status == Status.WARN:
            sims = [v["similarity"] for v in ev.get("body", {}).values()]
            credit += min(sims) if sims else 0.5
    overall = worst(statuses)
    evidence: dict[str, Any] = {"reference": ref, "per_address": results, "min_similarity": min_sim}
    bad = {a: r["problems"] for a, r in results.items() if r.get("problems")}
    cut = cut_answers(obs.dns.aaaa)
    if overall == Status.PASS and cut:
        return Verdict.not_tested(
            f"the AAAA addresses kept serve the same site, but {cut}", **evidence
        )
    if overall == Status.PASS:
        bodies = [b for r in results.values() for b in r.get("body", {}).values()]
        sims = [b["similarity"] for b in bodies]
        extra = f", page similarity {min(sims):.0%}" if sims else ""
        if any("truncated" in b for b in bodies):
            extra += " (of the part under the body cap: the pages are larger)"
        return Verdict.passed(f"{len(v6)} AAAA serve the same site as {ref}{extra}", **evidence)
    listed = "; ".join(f"{a}: {', '.join(p)}" for a, p in bad.items())
    score = round(credit / len(v6), 3)
    if overall == Status.NOT_TESTED:
        return Verdict.not_tested(clip(listed or "could not compare", 600), **evidence)
    return Verdict(overall, clip(listed, 600), evidence, score)
