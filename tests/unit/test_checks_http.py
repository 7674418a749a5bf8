"""The http.* checks and ipv6.web.parity, from observation fixtures (no network)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import pytest

from auditor import serde
from auditor.engine import evaluate_host, evaluate_stored, make_plan
from auditor.model import Status, TargetKind, Verdict
from auditor.obs import HostObservations
from auditor.obs.core import DnsAnswer, HostDns, Outcome, TcpProbe
from auditor.obs.http import (
    HttpFetch,
    HttpObservation,
    HttpResponse,
    SecurityTxtFetch,
)
from auditor.registry import CheckContext, get_check
from auditor.similarity import sketch
from tests.support.factories import LAB_GUARD, LAB_NETS

HOST = "portal.example.gov.vn"
V4 = "192.0.2.10"
V6 = "2001:db8::10"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

GOOD_HEADERS: tuple[tuple[str, str], ...] = (
    ("Server", "nginx"),
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'self'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "SAMEORIGIN"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Set-Cookie", "SID=1; Path=/; Secure; HttpOnly; SameSite=Lax"),
)
PAGE = "<html><body>" + " ".join(f"<p>Tin tức số {i} của tỉnh</p>" for i in range(300))
SECTXT = "Contact: mailto:security@example.gov.vn\nExpires: 2027-06-01T00:00:00Z\n"


def resp(
    url: str, status: int = 200, headers: Iterable[tuple[str, str]] = (), location: str = ""
) -> HttpResponse:
    hdrs = tuple(headers)
    if location:
        hdrs += (("Location", location),)
    return HttpResponse(
        url=url,
        status=status,
        headers=hdrs,
        location=location,
        target=urljoin(url, location) if location else "",
    )


def fetch(
    start: str,
    *hops: HttpResponse,
    stopped: str = "",
    outcome: str = Outcome.OK,
    detail: str = "",
    verified: bool | None = None,
    body: str | None = None,
) -> HttpFetch:
    if verified is None and start.startswith("https"):
        verified = True
    return HttpFetch(
        start_url=start,
        outcome=outcome,
        detail=detail,
        hops=hops,
        stopped=stopped,
        tls_verified=verified,
        body=sketch(body, len(body)) if body is not None else None,
    )


def good_https(headers: Iterable[tuple[str, str]] = GOOD_HEADERS, body: str = PAGE) -> HttpFetch:
    return fetch(f"https://{HOST}/", resp(f"https://{HOST}/", 200, headers), body=body)


def good_http() -> HttpFetch:
    return fetch(
        f"http://{HOST}/",
        resp(f"http://{HOST}/", 301, location=f"https://{HOST}/"),
        resp(f"https://{HOST}/", 200, GOOD_HEADERS),
        body=PAGE,
    )


def sectxt(
    text: str = SECTXT, status: int = 200, ctype: str = "text/plain; charset=utf-8", **kw: Any
) -> SecurityTxtFetch:
    return SecurityTxtFetch(
        url=f"https://{HOST}/.well-known/security.txt",
        outcome=Outcome.OK,
        status=status,
        content_type=ctype,
        text=text,
        **kw,
    )


def hobs(
    address: str,
    http: HttpFetch | None = None,
    https: HttpFetch | None = None,
    security_txt: SecurityTxtFetch | None = None,
    outcome: str = Outcome.OK,
) -> HttpObservation:
    return HttpObservation(
        address=address,
        outcome=outcome,
        http=http,
        https=https,
        security_txt=security_txt,
    )


def host(
    *http: HttpObservation,
    v4: tuple[str, ...] = (V4,),
    v6: tuple[str, ...] = (V6,),
    ports: dict[tuple[str, int], str] | None = None,
) -> HostObservations:
    ports = dict(ports or {})
    tcp = []
    for address in v4 + v6:
        for port in (80, 443):
            tcp.append(TcpProbe(address, port, ports.get((address, port), Outcome.OPEN)))
    dns = HostDns(
        HOST,
        DnsAnswer(HOST, "A", Outcome.OK if v4 else Outcome.NODATA, v4),
        DnsAnswer(HOST, "AAAA", Outcome.OK if v6 else Outcome.NODATA, v6),
    )
    return HostObservations(host=HOST, dns=dns, tcp=tuple(tcp), http=http)


def full(address: str = V4, **kw: Any) -> HttpObservation:
    args: dict[str, Any] = {
        "http": good_http(),
        "https": good_https(),
        "security_txt": sectxt(),
    }
    args.update(kw)
    return hobs(address, **args)


def run(
    check_id: str,
    obs: HostObservations,
    address: str | None = V4,
    params: dict[str, Any] | None = None,
) -> Verdict:
    spec = get_check(check_id)
    merged = dict(spec.params)
    merged.update(params or {})
    scope_address = address if spec.scope.value == "address" else None
    return spec.run(obs, CheckContext(HOST, merged, NOW, address=scope_address, guard=LAB_GUARD))


def one(obs: HttpObservation, **kw: Any) -> HostObservations:
    return host(obs, v6=(), **kw)


# ---------------------------------------------------------------------------
# http.https_redirect


def test_redirect_pass() -> None:
    v = run("http.https_redirect", one(full()))
    assert v.status == Status.PASS
    assert v.evidence["first_target"] == f"https://{HOST}/"


def test_redirect_pass_when_port_80_closed() -> None:
    obs = one(full(http=None), ports={(V4, 80): Outcome.REFUSED})
    v = run("http.https_redirect", obs)
    assert v.status == Status.PASS and "closed" in v.message


def test_redirect_fail_no_redirect() -> None:
    plain = fetch(f"http://{HOST}/", resp(f"http://{HOST}/", 200), body=PAGE)
    v = run("http.https_redirect", one(full(http=plain)))
    assert v.status == Status.FAIL and "200" in v.message


def test_redirect_fail_other_host_first() -> None:
    off = fetch(
        f"http://{HOST}/",
        resp(f"http://{HOST}/", 301, location="https://www.portal.example.gov.vn/"),
        stopped="off-host",
    )
    v = run("http.https_redirect", one(full(http=off)))
    assert v.status == Status.FAIL and "another host" in v.message


def test_redirect_fail_first_hop_http() -> None:
    hop = fetch(
        f"http://{HOST}/",
        resp(f"http://{HOST}/", 302, location="/portal/"),
        resp(f"http://{HOST}/portal/", 301, location=f"https://{HOST}/portal/"),
        resp(f"https://{HOST}/portal/", 200),
    )
    v = run("http.https_redirect", one(full(http=hop)))
    assert v.status == Status.FAIL and "not to https" in v.message


def test_redirect_fail_later_downgrade() -> None:
    down = fetch(
        f"http://{HOST}/",
        resp(f"http://{HOST}/", 301, location=f"https://{HOST}/"),
        resp(f"https://{HOST}/", 302, location=f"http://{HOST}/home"),
        resp(f"http://{HOST}/home", 200),
    )
    v = run("http.https_redirect", one(full(http=down)))
    assert v.status == Status.FAIL and "downgrade" in v.message


def test_redirect_fail_downgrade_in_https_chain() -> None:
    https = fetch(
        f"https://{HOST}/",
        resp(f"https://{HOST}/", 302, location="http://cdn.example/"),
        stopped="off-host",
    )
    v = run("http.https_redirect", one(full(https=https)))
    assert v.status == Status.FAIL and "downgrade" in v.message


def test_redirect_fail_to_https_with_443_closed() -> None:
    obs = one(full(https=None), ports={(V4, 443): Outcome.REFUSED})
    v = run("http.https_redirect", obs)
    assert v.status == Status.FAIL and "443" in v.message


def test_redirect_not_tested() -> None:
    failed = fetch(f"http://{HOST}/", outcome=Outcome.TIMEOUT, detail="no answer")
    v = run("http.https_redirect", one(full(http=failed)))
    assert v.status == Status.NOT_TESTED and "timeout" in v.message
    obs = one(full(), ports={(V4, 80): Outcome.REFUSED, (V4, 443): Outcome.TIMEOUT})
    assert run("http.https_redirect", obs).status == Status.NOT_TESTED
    obs = one(full(), ports={(V4, 80): Outcome.BLOCKED})
    assert run("http.https_redirect", obs).status == Status.NOT_TESTED


# ---------------------------------------------------------------------------
# http.hsts


def _hsts(*values: str, **kw: Any) -> Verdict:
    headers = [("Strict-Transport-Security", v) for v in values]
    return run("http.hsts", one(full(https=good_https(headers))), **kw)


def test_hsts_pass_and_evidence() -> None:
    v = _hsts("max-age=63072000; includeSubDomains; preload")
    assert v.status == Status.PASS
    assert v.evidence["include_subdomains"] and v.evidence["preload"]


def test_hsts_fail_short_partial_score() -> None:
    v = _hsts("max-age=15768000")
    assert v.status == Status.FAIL and v.score == 0.5


def test_hsts_fail_missing() -> None:
    v = _hsts()
    assert v.status == Status.FAIL and "no Strict" in v.message


def test_hsts_fail_duplicate_directive() -> None:
    v = _hsts("max-age=31536000; max-age=31536000")
    assert v.status == Status.FAIL and "invalid" in v.message


def test_hsts_first_header_only() -> None:
    assert _hsts("max-age=300", "max-age=31536000").status == Status.FAIL
    v = _hsts("max-age=31536000", "max-age=0")
    assert v.status == Status.PASS and v.evidence["fields"] == 2


def test_hsts_judged_on_first_https_response() -> None:
    https = fetch(
        f"https://{HOST}/",
        resp(f"https://{HOST}/", 301, location="/home"),  # no STS on the root redirect
        resp(f"https://{HOST}/home", 200, GOOD_HEADERS),
    )
    assert run("http.hsts", one(full(https=https))).status == Status.FAIL


def test_hsts_threshold_param() -> None:
    assert _hsts("max-age=15768000", params={"min_max_age": 10}).status == Status.PASS


def test_hsts_over_an_unverified_certificate_does_not_count() -> None:
    # RFC 6797 8.1/8.4: browsers record STS only without secure-transport errors
    https = HttpFetch(
        f"https://{HOST}/",
        Outcome.OK,
        hops=(resp(f"https://{HOST}/", 200, GOOD_HEADERS),),
        tls_verified=False,
        tls_error="the certificate has a 1024-bit key (browsers need 2048)",
    )
    v = run("http.hsts", one(full(https=https)))
    assert v.status == Status.FAIL and v.score == 0.0
    assert "does not count" in v.message and "1024-bit" in v.message
    assert v.evidence["tls_verified"] is False


def test_hsts_not_tested_port_closed() -> None:
    obs = one(full(https=None), ports={(V4, 443): Outcome.TIMEOUT})
    v = run("http.hsts", obs)
    assert v.status == Status.NOT_TESTED and "timeout" in v.message


# ---------------------------------------------------------------------------
# http.csp


def _csp(*values: str, params: dict[str, Any] | None = None) -> Verdict:
    headers = [("Content-Security-Policy", v) for v in values]
    return run("http.csp", one(full(https=good_https(headers))), params=params)


GOOD_CSP = "default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
# the rest of a good policy, for cases that change one directive
REST = "base-uri 'self'; form-action 'self'; "


def test_csp_pass() -> None:
    v = _csp(GOOD_CSP + "frame-ancestors 'none'")
    assert v.status == Status.PASS


def test_csp_pass_nonce_strict_dynamic() -> None:
    # Google's strict CSP: https: and 'unsafe-inline' are ignored by CSP3 browsers
    v = _csp(
        "default-src 'self'; script-src 'nonce-r4nd0m' 'strict-dynamic' 'unsafe-inline' https:; "
        "object-src 'none'; " + REST + "frame-ancestors 'self'"
    )
    assert v.status == Status.PASS, v.message
    assert v.evidence["strict_dynamic"]
    assert v.evidence["unsafe_inline_ignored_by"] == ["strict-dynamic"]


def test_csp_missing_warns() -> None:
    v = _csp()
    assert v.status == Status.WARN and "no Content-Security-Policy" in v.message


def test_csp_report_only_is_not_enforced() -> None:
    headers = [("Content-Security-Policy-Report-Only", "default-src 'self'")]
    v = run("http.csp", one(full(https=good_https(headers))))
    assert v.status == Status.WARN and "Report-Only" in v.message


def test_csp_weak_names_each_rule() -> None:
    v = _csp("script-src * 'unsafe-inline' 'unsafe-eval'")
    assert v.status == Status.WARN
    broken = v.evidence["broken_rules"]
    assert set(broken) == {
        "default-src",
        "plugins-unrestricted",
        "unsafe-inline",
        "unsafe-eval",
        "wildcard-source",
        "any-host",
        "base-uri",
        "form-action",
        "frame-src",
        "frame-ancestors",
    }
    assert broken["wildcard-source"] == ["script-src: *"]
    for rule in broken:
        assert rule in v.message
    assert v.score is not None and 0 < v.score < 1


def test_csp_fail_with_severity_param() -> None:
    v = _csp("default-src https:; frame-ancestors 'self'", params={"severity": "fail"})
    assert v.status == Status.FAIL
    assert v.evidence["broken_rules"]["wildcard-source"] == ["default-src: https:"]


def test_csp_object_src_wildcard_and_nonce_still_flags_hosts() -> None:
    v = _csp(
        "default-src 'self'; script-src 'nonce-abc' https:; object-src *; frame-ancestors 'none'"
    )
    assert v.evidence["broken_rules"]["wildcard-source"] == ["object-src: *", "script-src: https:"]
    assert "unsafe-inline" not in v.evidence["broken_rules"]


def test_csp_data_scheme_in_scripts_is_flagged_unless_strict_dynamic() -> None:
    v = _csp("default-src 'self'; script-src 'self' data:; " + REST + "frame-ancestors 'none'")
    assert v.evidence["broken_rules"] == {"wildcard-source": ["script-src: data:"]}
    v = _csp(
        "default-src 'self'; script-src 'nonce-x' 'strict-dynamic' data:; "
        + REST
        + "frame-ancestors 'none'"
    )
    assert v.status == Status.PASS


def test_csp_several_policies_combine() -> None:
    # Both policies are enforced: a rule met by one of them is met.
    v = _csp("default-src 'self'; " + REST, "frame-ancestors 'none'")
    assert v.status == Status.PASS
    v = _csp("default-src 'self'; " + REST + ", frame-ancestors 'none'")  # comma: two policies
    assert v.status == Status.PASS


def test_csp_off_host_redirect_not_applicable_and_loop_not_tested() -> None:
    off = fetch(
        f"https://{HOST}/",
        resp(f"https://{HOST}/", 301, location="https://www.example.gov.vn/"),
        stopped="off-host",
    )
    assert run("http.csp", one(full(https=off))).status == Status.NOT_APPLICABLE
    loop = fetch(f"https://{HOST}/", resp(f"https://{HOST}/", 301, location="/"), stopped="loop")
    v = run("http.csp", one(full(https=loop)))
    assert v.status == Status.NOT_TESTED and "loop" in v.message


def test_csp_judged_on_final_same_host_page() -> None:
    https = fetch(
        f"https://{HOST}/",
        resp(f"https://{HOST}/", 302, location="/trang-chu"),
        resp(
            f"https://{HOST}/trang-chu",
            200,
            [("Content-Security-Policy", GOOD_CSP + "frame-ancestors 'self'")],
        ),
    )
    assert run("http.csp", one(full(https=https))).status == Status.PASS


# ---------------------------------------------------------------------------
# http.xcto, http.frame, http.referrer_policy


def _with(check_id: str, *headers: tuple[str, str], **kw: Any) -> Verdict:
    return run(check_id, one(full(https=good_https(headers))), **kw)


def test_xcto() -> None:
    assert _with("http.xcto", ("X-Content-Type-Options", "NOSNIFF")).status == Status.PASS
    assert _with("http.xcto").status == Status.FAIL
    v = _with("http.xcto", ("X-Content-Type-Options", "sniff, nosniff"))
    assert v.status == Status.FAIL and "not nosniff" in v.message


def test_xcto_without_https() -> None:
    # 443 refused while 80 serves HTTP: no HTTPS at all, nothing to judge (tls.available
    # fails it); 443 silent: not tested
    obs = one(full(https=None), ports={(V4, 443): Outcome.REFUSED})
    v = run("http.xcto", obs)
    assert v.status == Status.NOT_APPLICABLE and "tls.available" in v.message
    obs = one(full(https=None), ports={(V4, 443): Outcome.TIMEOUT})
    assert run("http.xcto", obs).status == Status.NOT_TESTED


def test_frame() -> None:
    assert _with("http.frame", ("X-Frame-Options", "DENY")).status == Status.PASS
    assert _with("http.frame", ("X-Frame-Options", "sameorigin")).status == Status.PASS
    v = _with(
        "http.frame",
        ("Content-Security-Policy", "frame-ancestors 'self' https://a.gov.vn"),
        ("X-Frame-Options", "ALLOW-FROM https://x"),
    )
    assert v.status == Status.PASS and "frame-ancestors" in v.message
    v = _with(
        "http.frame",
        ("Content-Security-Policy", "frame-ancestors *"),
        ("X-Frame-Options", "DENY"),  # ignored: frame-ancestors supersedes it
    )
    assert v.status == Status.FAIL
    assert _with("http.frame").status == Status.FAIL
    v = _with("http.frame", ("X-Frame-Options", "ALLOW-FROM https://partner.example"))
    assert v.status == Status.FAIL and "ALLOW-FROM" in v.message


def test_referrer_policy() -> None:
    rp = "Referrer-Policy"
    assert _with("http.referrer_policy", (rp, "no-referrer")).status == Status.PASS
    v = _with("http.referrer_policy", (rp, "unsafe-url"), (rp, "strict-origin, bogus"))
    assert v.status == Status.PASS and v.evidence["policy"] == "strict-origin"
    v = _with("http.referrer_policy", (rp, "no-referrer-when-downgrade"))
    assert v.status == Status.WARN
    assert _with("http.referrer_policy", (rp, "origin")).status == Status.WARN
    assert _with("http.referrer_policy").status == Status.WARN
    assert _with("http.referrer_policy", (rp, "bogus")).status == Status.WARN
    v = _with("http.referrer_policy", (rp, "unsafe-url"), params={"weak_status": "fail"})
    assert v.status == Status.FAIL


# ---------------------------------------------------------------------------
# http.security_txt


def _st(st: SecurityTxtFetch | None, **kw: Any) -> Verdict:
    return run("http.security_txt", one(full(security_txt=st)), **kw)


def test_security_txt_pass() -> None:
    v = _st(sectxt())
    assert v.status == Status.PASS and v.evidence["contacts"] == ["mailto:security@example.gov.vn"]


def test_security_txt_expired_fails() -> None:
    v = _st(sectxt("Contact: mailto:a@b\nExpires: 2025-01-01T00:00:00Z\n"))
    assert v.status == Status.FAIL and "expired" in v.message


def test_security_txt_far_future_warns() -> None:
    v = _st(sectxt("Contact: mailto:a@b\nExpires: 2030-01-01T00:00:00Z\n"))
    assert v.status == Status.WARN and "365" in v.message


def test_security_txt_failures() -> None:
    assert _st(sectxt(status=404)).status == Status.FAIL
    v = _st(sectxt(ctype="text/html"))
    assert v.status == Status.FAIL and "text/plain" in v.message
    v = _st(sectxt("Expires: 2027-06-01T00:00:00Z\n"))
    assert v.status == Status.FAIL and "Contact" in v.message
    v = _st(sectxt("Contact: mailto:a@b\n"))
    assert v.status == Status.FAIL and "Expires" in v.message
    v = _st(sectxt("Contact: x\nExpires: 2027-06-01T00:00:00Z\nExpires: 2027-07-01T00:00:00Z"))
    assert v.status == Status.FAIL and "more than once" in v.message
    v = _st(sectxt("Contact: x\nExpires: 1 June 2027\n"))
    assert v.status == Status.FAIL and "RFC 3339" in v.message


def test_security_txt_warnings() -> None:
    text = SECTXT + "Canonical: https://other.example/.well-known/security.txt\n"
    v = _st(sectxt(text))
    assert v.status == Status.WARN and "Canonical" in v.message
    text = SECTXT + f"Canonical: https://{HOST}/.well-known/security.txt\n"
    assert _st(sectxt(text)).status == Status.PASS
    v = _st(
        SecurityTxtFetch(
            f"https://{HOST}/.well-known/security.txt",
            Outcome.OK,
            "redirect to 'https://cert.example/security.txt' not followed",
            status=301,
        )
    )
    assert v.status == Status.WARN


def test_security_txt_over_the_cap_fails_as_too_large() -> None:
    # what the probe keeps of a 50 MB file: nothing but the fact (its first part is valid)
    big = replace(sectxt(), text="", truncated=True, cap=100 * 1024)
    v = _st(big)
    assert v.status == Status.FAIL and "too large" in v.message
    assert v.evidence["max_bytes"] == 100 * 1024 and "contacts" not in v.evidence
    # a record from before the change kept the first part as text: still too large
    old = replace(sectxt(), truncated=True)
    assert _st(old).status == Status.FAIL and "too large" in _st(old).message


def test_security_txt_undecodable_body_is_not_tested() -> None:
    v = _st(replace(sectxt(), text="", unreadable="unsupported content-encoding 'br'"))
    assert v.status == Status.NOT_TESTED and "content-encoding" in v.message


def test_security_txt_not_tested() -> None:
    failed = SecurityTxtFetch(f"https://{HOST}/.well-known/security.txt", Outcome.TIMEOUT)
    assert _st(failed).status == Status.NOT_TESTED
    obs = one(full(), ports={(V4, 443): Outcome.TIMEOUT})
    assert run("http.security_txt", obs).status == Status.NOT_TESTED
    obs = one(full(), ports={(V4, 443): Outcome.REFUSED})  # 80 serves HTTP: no HTTPS
    assert run("http.security_txt", obs).status == Status.NOT_APPLICABLE


# ---------------------------------------------------------------------------
# http.cookies


def test_cookies() -> None:
    sc = "Set-Cookie"
    v = _with("http.cookies", (sc, "SID=1; Secure; HttpOnly; SameSite=Strict"))
    assert v.status == Status.PASS
    v = _with(
        "http.cookies",
        (sc, "SID=1; Secure; HttpOnly; SameSite=Lax"),
        (sc, "ASP.NET_SessionId=abc; path=/; HttpOnly"),
        (sc, "lang=vi; SameSite=bogus; Secure"),
        (sc, "old=; Max-Age=0"),  # a deletion: ignored
    )
    assert v.status == Status.FAIL
    assert v.evidence["missing"] == {
        "ASP.NET_SessionId": ["Secure", "SameSite"],
        "lang": ["HttpOnly", "SameSite"],
    }
    assert "ASP.NET_SessionId" in v.message and v.score == pytest.approx(0.333, abs=0.001)
    assert _with("http.cookies").status == Status.NOT_APPLICABLE


def test_cookies_across_same_host_hops() -> None:
    https = fetch(
        f"https://{HOST}/",
        resp(f"https://{HOST}/", 302, [("Set-Cookie", "a=1; Path=/")], location="/home"),
        resp(f"https://{HOST}/home", 200),
    )
    v = run("http.cookies", one(full(https=https)))
    assert v.status == Status.FAIL and "a" in v.evidence["missing"]


# ---------------------------------------------------------------------------
# http.disclosure


def test_disclosure() -> None:
    assert _with("http.disclosure", ("Server", "nginx")).status == Status.PASS
    v = _with(
        "http.disclosure",
        ("Server", "Microsoft-IIS/10.0"),
        ("X-Powered-By", "ASP.NET"),
        ("X-AspNet-Version", "4.0.30319"),
    )
    assert v.status == Status.INFO
    assert v.evidence["headers"] == [
        "server: Microsoft-IIS/10.0",
        "x-aspnet-version: 4.0.30319",
    ]
    v = _with("http.disclosure", ("X-Powered-By", "PHP/7.4.3"), params={"found_status": "fail"})
    assert v.status == Status.FAIL
    assert not get_check("http.disclosure").scored


def test_disclosure_not_tested_without_any_response() -> None:
    obs = one(
        hobs(V4, outcome=Outcome.SKIPPED),
        ports={(V4, 80): Outcome.REFUSED, (V4, 443): Outcome.REFUSED},
    )
    assert run("http.disclosure", obs).status == Status.NOT_TESTED


# ---------------------------------------------------------------------------
# ipv6.web.parity


def parity(obs: HostObservations, **kw: Any) -> Verdict:
    return run("ipv6.web.parity", obs, address=None, **kw)


def test_parity_pass() -> None:
    v = parity(host(full(V4), full(V6)))
    assert v.status == Status.PASS
    per = v.evidence["per_address"][V6]
    assert per["body"]["https"]["similarity"] == 1.0
    assert v.evidence["reference"] == V4


def test_parity_ipv6_only_passes_and_no_aaaa_not_applicable() -> None:
    assert parity(host(full(V6), v4=())).status == Status.PASS
    assert parity(host(full(V4), v6=())).status == Status.NOT_APPLICABLE


def test_parity_fail_ports() -> None:
    obs = host(full(V4), full(V6, http=None), ports={(V6, 80): Outcome.TIMEOUT})
    v = parity(obs)
    assert v.status == Status.FAIL and "open ports differ" in v.message


def test_parity_not_tested_when_a_port_was_not_probed() -> None:
    # skipped: the scanner could not reach the family, or did not trust its timeouts
    why = "the scanner has no IPv6 connectivity (no global IPv6 address)"
    obs = host(full(V4), full(V6, http=None), ports={(V6, 80): Outcome.SKIPPED})
    obs = replace(
        obs, tcp=tuple(replace(p, detail=why) if p.outcome == "skipped" else p for p in obs.tcp)
    )
    v = parity(obs)
    assert v.status == Status.NOT_TESTED and why in v.message


def test_parity_fail_status() -> None:
    forbidden = fetch(f"https://{HOST}/", resp(f"https://{HOST}/", 403), body="Forbidden")
    v = parity(host(full(V4), full(V6, https=forbidden)))
    assert v.status == Status.FAIL and "status 200 over IPv4, 403 over IPv6" in v.message


def test_parity_fail_first_redirect() -> None:
    other = fetch(
        f"http://{HOST}/",
        resp(f"http://{HOST}/", 301, location="https://old-server.example.gov.vn/"),
        stopped="off-host",
    )
    v = parity(host(full(V4), full(V6, http=other)))
    assert v.status == Status.FAIL and "first redirect differs" in v.message


def test_parity_fail_v6_connects_but_no_response() -> None:
    hung = fetch(f"https://{HOST}/", outcome=Outcome.TIMEOUT, detail="no complete answer")
    v = parity(host(full(V4), full(V6, https=hung)))
    assert v.status == Status.FAIL and "no response over IPv6" in v.message


def test_parity_warn_low_similarity() -> None:
    default_page = "<h1>Welcome to nginx!</h1><p>If you see this page the server works.</p>"
    v6 = full(V6, https=good_https(body=default_page), http=good_http())
    v = parity(host(full(V4), v6))
    assert v.status == Status.WARN and "similarity" in v.message
    assert v.evidence["per_address"][V6]["body"]["https"]["similarity"] < 0.9
    assert v.score is not None and v.score < 0.9
    # a lower threshold from a profile accepts it
    assert parity(host(full(V4), v6), params={"min_similarity": 0.0}).status == Status.PASS


def test_parity_volatile_tokens_do_not_matter() -> None:
    a = PAGE + '<input type="hidden" name="__VIEWSTATE" value="/wEPDwUKLTI2NjY5" />'
    b = PAGE + '<input type="hidden" name="__VIEWSTATE" value="/wEPDwUKMTk5OTk5" />'
    v = parity(host(full(V4, https=good_https(body=a)), full(V6, https=good_https(body=b))))
    assert v.status == Status.PASS


def test_parity_per_aaaa_evidence_and_partial_score() -> None:
    v6b = "2001:db8::11"
    bad = fetch(f"https://{HOST}/", resp(f"https://{HOST}/", 404), body="Not found")
    v = parity(host(full(V4), full(V6), full(v6b, https=bad), v6=(V6, v6b)))
    assert v.status == Status.FAIL and v.score == 0.5
    assert v.evidence["per_address"][V6]["status"] == "pass"
    assert v.evidence["per_address"][v6b]["status"] == "fail"
    assert v6b in v.message and V6 not in v.message


def test_parity_reference_is_first_answering_a() -> None:
    v4b = "192.0.2.11"
    dead = hobs(V4, https=fetch(f"https://{HOST}/", outcome=Outcome.TIMEOUT))
    dead = hobs(V4, outcome=Outcome.TIMEOUT, https=dead.https)
    v = parity(host(dead, full(v4b), full(V6), v4=(V4, v4b)))
    assert v.status == Status.PASS and v.evidence["reference"] == v4b


def test_parity_not_tested() -> None:
    dead = hobs(V4, outcome=Outcome.TIMEOUT, https=fetch(f"https://{HOST}/", outcome="timeout"))
    v = parity(host(dead, full(V6)))
    assert v.status == Status.NOT_TESTED and "no IPv4 address answered" in v.message
    v = parity(host(full(V4), full(V6), ports={(V6, 80): Outcome.BLOCKED}))
    assert v.status == Status.NOT_TESTED


# ---------------------------------------------------------------------------
# Through the engine: one verdict per address, and a stored scan re-evaluates


def test_engine_per_address_and_stored_round_trip() -> None:
    from auditor.registry import all_checks

    specs = [s for s in all_checks() if s.id.startswith("http.") or s.id == "ipv6.web.parity"]
    plan = make_plan([HOST], [], specs, allow_nets=LAB_NETS)
    plain = fetch(f"http://{HOST}/", resp(f"http://{HOST}/", 200), body=PAGE)
    obs = host(full(V4), full(V6, http=plain))
    findings = evaluate_host(obs, plan, NOW)
    redirect = {f.address: f.status for f in findings if f.check == "http.https_redirect"}
    assert redirect == {V4: Status.PASS, V6: Status.FAIL}
    parity_f = [f for f in findings if f.check == "ipv6.web.parity"]
    assert len(parity_f) == 1 and parity_f[0].status == Status.FAIL
    again = evaluate_stored(TargetKind.HOST, serde.dumps(obs), plan, NOW)
    assert [(f.check, f.address, f.status) for f in again] == [
        (f.check, f.address, f.status) for f in findings
    ]


def test_catalogue_text_present() -> None:
    from auditor.registry import all_checks

    for spec in all_checks():
        if spec.id.startswith("http.") or spec.id == "ipv6.web.parity":
            assert len(spec.description) > 100, spec.id
            for server in ("nginx", "apache", "iis"):
                assert spec.remediation.get(server), (spec.id, server)
            assert spec.refs, spec.id


def test_parity_session_ids_in_redirects_do_not_count() -> None:
    def chain(sid: str) -> HttpFetch:
        return fetch(
            f"http://{HOST}/",
            resp(f"http://{HOST}/", 302, location=f"https://{HOST}/web/guest;jsessionid={sid}"),
            resp(f"https://{HOST}/web/guest;jsessionid={sid}", 200),
        )

    v = parity(host(full(V4, http=chain("A1B2C3")), full(V6, http=chain("Z9Y8X7"))))
    assert v.status == Status.PASS


# ---------------------------------------------------------------------------
# the caps are observations: no header check judges a cut header section as whole


def _cut_https(headers: Iterable[tuple[str, str]], **cut: Any) -> HttpObservation:
    r = replace(resp(f"https://{HOST}/", 200, headers), headers_truncated=True, **cut)
    return full(https=fetch(f"https://{HOST}/", r, body=PAGE))


HEADER_CHECKS = ("http.hsts", "http.csp", "http.xcto", "http.frame", "http.referrer_policy")


def test_headers_dropped_by_the_cap_are_not_missing_headers() -> None:
    # 200 padding fields, then the security headers: the cap kept only the padding
    pad = tuple((f"X-Pad-{i}", "a") for i in range(5))
    obs = one(_cut_https(pad, headers_dropped=True))
    for cid in (*HEADER_CHECKS, "http.cookies"):
        v = run(cid, obs)
        assert v.status == Status.NOT_TESTED, (cid, v.status, v.message)
        assert "header" in v.message and "cap" in v.message
    # what was kept before the cap still decides where it can: the first STS, nosniff,
    # a restrictive frame-ancestors, a CSP that passes every rule
    kept = one(_cut_https(GOOD_HEADERS, headers_dropped=True))
    for cid in ("http.hsts", "http.xcto", "http.frame", "http.csp"):
        assert run(cid, kept).status == Status.PASS, cid
    # the last valid Referrer-Policy token wins: one dropped later could change it
    assert run("http.referrer_policy", kept).status == Status.NOT_TESTED
    # cookies kept without flags stay a failure whatever was dropped
    bad = one(_cut_https((("Set-Cookie", "sid=1; Path=/"),), headers_dropped=True))
    assert run("http.cookies", bad).status == Status.FAIL


def test_a_value_cut_at_the_cap_is_not_judged() -> None:
    long_csp = "default-src 'self'; script-src 'self' " + "https://a.example " * 600
    headers = (*GOOD_HEADERS[:2], ("Content-Security-Policy", long_csp[:8192]))
    obs = one(_cut_https(headers, cut_values=("content-security-policy",)))
    assert run("http.csp", obs).status == Status.NOT_TESTED
    assert run("http.hsts", obs).status == Status.PASS  # its value was kept whole
    # a record from before the cut was recorded: truncated, nothing else known
    old = one(_cut_https(GOOD_HEADERS))
    for cid in HEADER_CHECKS:
        assert run(cid, old).status == Status.NOT_TESTED, cid


def test_disclosure_with_a_cut_header_section() -> None:
    pad = (("Server", "nginx"),)
    assert run("http.disclosure", one(_cut_https(pad, headers_dropped=True))).status == (
        Status.NOT_TESTED
    )
    shown = (("Server", "nginx/1.22.1"),)
    v = run("http.disclosure", one(_cut_https(shown, headers_dropped=True)))
    assert v.status == Status.INFO  # a version seen is seen


def test_https_redirect_chain_not_followed_to_its_end() -> None:
    # http:// -> https:// (first hop fine), then the chain hits the redirect cap: a later
    # downgrade cannot be excluded
    capped = fetch(
        f"http://{HOST}/",
        resp(f"http://{HOST}/", 301, location=f"https://{HOST}/"),
        resp(f"https://{HOST}/", 302, location=f"https://{HOST}/a"),
        stopped="max-redirects",
    )
    v = run("http.https_redirect", one(full(http=capped)))
    assert v.status == Status.NOT_TESTED and "max_redirects" in v.message
    # a downgrade seen before the cap is a failure all the same
    down = fetch(
        f"http://{HOST}/",
        resp(f"http://{HOST}/", 301, location=f"https://{HOST}/"),
        resp(f"https://{HOST}/", 302, location=f"http://{HOST}/x"),
        stopped="max-redirects",
    )
    assert run("http.https_redirect", one(full(http=down))).status == Status.FAIL


def test_https_redirect_to_a_location_over_the_cap_is_not_judged() -> None:
    long = replace(
        resp(f"http://{HOST}/", 301, location="https://" + HOST + "/" + "a" * 2100),
        target="",
        location_cut=True,
    )
    v = run("http.https_redirect", one(full(http=fetch(f"http://{HOST}/", long,
                                                           stopped="bad-location"))))  # fmt: skip
    assert v.status == Status.NOT_TESTED and "cap" in v.message
