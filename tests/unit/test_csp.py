"""http.csp to Internet.nl's depth, CSP by <meta http-equiv>, the spec-vs-peer cases of
X-Frame-Options / X-Content-Type-Options, and Internet.nl's Referrer-Policy cases.

Peer cases, each citing where it comes from:
- Internet.nl ``tests/unittests/test_tasks_http_headers.py``
  (HeaderCheckerContentSecurityPolicyTestCase, its domain internet.nl written as this
  portal's site example.gov.vn; HeaderCheckerReferrerPolicyTestCase);
- Mozilla HTTP Observatory ``httpobs/tests/unittests/test_parse_http_equiv_headers.py``
  and its ``files/test_parse_http_equiv_headers_*.html``, and its header tests
  (``x_frame_options``, ``x_content_type_options`` in ``scanner/analyzer/headers.py``).
Where a peer departs from the specification, the specification's answer is asserted and
the case says so.
"""

from __future__ import annotations

from typing import Any

import pytest

from auditor.model import Status, Verdict
from auditor.obs.core import Outcome
from auditor.obs.http import HttpFetch
from auditor.protocol.html import meta_csp

from .test_checks_http import HOST, full, good_https, one, resp, run

# Internet.nl's base_policy (frame-ancestors left to each case)
BASE = "form-action 'none'; base-uri 'none'; default-src 'self'; "
FB = "form-action 'none'; base-uri 'none'; "


def _csp(*values: str) -> Verdict:
    headers = [("Content-Security-Policy", v) for v in values]
    return run("http.csp", one(full(https=good_https(headers))))


def _frame(*headers: tuple[str, str]) -> Verdict:
    return run("http.frame", one(full(https=good_https(headers))))


def _broken(v: Verdict) -> set[str]:
    return set(v.evidence.get("broken_rules", {}))


# ---------------------------------------------------------------- Internet.nl's cases

GOOD = [
    BASE + "frame-ancestors 'self'",  # test_smallest_valid_header_with_self
    "form-action 'none'; base-uri 'none'; default-src 'none'; frame-ancestors 'none'",
    FB + "default-src 'self' 'report-sample'; frame-ancestors 'self'",
    # test_default_src_3 writes 'report_sample': not a CSP3 expression, ignored (matches
    # nothing), so the list is 'self' - good, as Internet.nl says
    FB + "default-src 'self' 'report_sample'; frame-ancestors 'self'",
    FB + "default-src 'self' https://example.gov.vn; frame-ancestors 'self'",
    "form-action 'none'; base-uri 'none'; default-src 'self' https://example.gov.vn "
    "https://*.example.gov.vn; frame-ancestors 'self'",  # test_default_src_5, _6
    "form-action 'none'; base-uri 'none'; default-src 'self' https://www.example.gov.vn; "
    "frame-ancestors 'self'",  # test_default_src_8, _9, _11
    "form-action 'none'; base-uri 'none'; default-src 'self' https://*.example.gov.vn; "
    "frame-ancestors 'self'",  # test_default_src_12
    BASE + "frame-ancestors 'self'; style-src https://whatever.com:443/afsdf",  # test_https_2
    BASE + "frame-ancestors 'self'; style-src https://[ipv6:address]:443/afsdf",  # _https_3
    BASE + "frame-ancestors 'self'; style-src https://[ipv6:address]:*/afsdf",  # star_for_port
    "form-action 'none'; base-uri 'self'; default-src 'self'; frame-ancestors 'self'",
    "form-action 'self'; base-uri 'none'; default-src 'self'; frame-ancestors 'self'",
    "form-action https://www.example.gov.vn; base-uri 'none'; default-src 'self'; "
    "frame-ancestors 'self'",  # test_uri_form_action
    BASE + "frame-ancestors 'self'; frame-src https://www.example.org",  # frame_source_domain
    BASE + "frame-ancestors 'self'; frame-ancestors 'none'",  # test_two_headers
    BASE + "frame-ancestors 'none'; trusted-types",  # test_syntax_trusted_types_1..8
    BASE + "frame-ancestors 'none'; trusted-types asdfad asdfd 'allow-duplicates'",
    BASE + "frame-ancestors 'none'; trusted-types * asdfad 'allow-duplicates'",
    BASE + "frame-ancestors 'none'; upgrade-insecure-requests",
    BASE + "frame-ancestors 'none'; upgrade-insecure-requests adfad",
    BASE + "frame-ancestors 'none'; style-src https://fas.com:443",  # test_host_source_1..3
    BASE + "frame-ancestors 'none'; style-src https://fas.com",
    BASE + "frame-ancestors 'none'; style-src fasdf:",  # test_scheme_source_3
    BASE + "frame-ancestors 'none'; style-src 'nonce-fdasdfas5678589+5346/sfdg=='",
    BASE + "frame-ancestors 'none'; style-src 'nonce-fdasdfas56=78589+5346/sfdg=='",  # invalid
    BASE + "frame-ancestors 'none'; style-src 'sha256-fdasdfas5678589+5346/sfdg=='",
    BASE + "frame-ancestors 'none'; style-src 'sha513-fdasdfas5678589+5346/sfdg=='",  # invalid
]

BAD = [
    ("", None),  # test_no_value: no header at all (a warning)
    (  # test_none_with_others_invalid_url
        "form-action 'none'; base-uri 'none' https://example.nl; default-src 'self'; "
        "frame-ancestors 'self'",
        "base-uri",
    ),
    (
        "form-action 'none' http://example.nl/; base-uri 'none'; default-src 'self'; "
        "frame-ancestors 'self'",
        "insecure-scheme",
    ),
    ("form-action 'none'; base-uri 'none'; frame-ancestors 'none'", "default-src"),
    ("form-action 'none'; base-uri 'none'; default-src 'none'", "frame-ancestors"),
    (BASE + "frame-ancestors 'self'; style-src 'unsafe-hashes'", "unsafe-hashes"),
    (
        "form-action 'none'; base-uri 'none'; default-src https://example.gov.vn; "
        "frame-ancestors 'self'",
        "default-src-values",  # test_default_src_1: no 'self'
    ),
    (
        "form-action 'none'; base-uri 'none'; default-src 'self' https:; frame-ancestors 'self'",
        "default-src-values",
    ),
    (
        "form-action 'none'; base-uri 'none'; default-src 'self' https://example.gov.vn "
        "https://*.example.gov.vn internet.com; frame-ancestors 'self'",
        "default-src-values",  # test_default_src_7
    ),
    (
        "form-action 'none'; base-uri 'none'; default-src 'self' nl *.nl "
        "https://www.example.gov.vn internet.com; frame-ancestors 'self'",
        "default-src-values",  # test_default_src_10
    ),
    (
        "form-action 'none'; base-uri 'none'; default-src 'self' http:; frame-ancestors 'self'",
        "insecure-scheme",
    ),
    (
        "form-action 'none'; base-uri 'none'; default-src 'self' somethingelse; "
        "frame-ancestors 'self'",
        "default-src-values",
    ),
    (BASE + "frame-ancestors 'self'; style-src http://adfadf.com/asdfh", "insecure-scheme"),
    (BASE + "frame-ancestors 'self'; style-src http:", "insecure-scheme"),
    (BASE + "frame-ancestors 'self'; style-src http://*", "insecure-scheme"),
    (BASE + "frame-ancestors 'self'; style-src https:", "bare-https"),
    (
        "form-action 'none'; base-uri 'self' https:; default-src 'self'; frame-ancestors 'self'",
        "base-uri",
    ),
    (BASE + "frame-ancestors 'self'; object-src data:", "wildcard-source"),  # test_data_1
    (BASE + "frame-ancestors 'self'; script-src data:", "wildcard-source"),  # test_data_2
    (BASE + "frame-ancestors 'self'; style-src *", "any-host"),  # test_star_host_1..6
    (BASE + "frame-ancestors 'self'; frame-src *", "any-host"),
    (BASE + "frame-ancestors 'self'; frame-src https://*", "any-host"),
    (BASE + "frame-ancestors 'self'; frame-src https://*:443/", "any-host"),
    (BASE + "frame-ancestors 'self'; frame-src https://*:443", "any-host"),
    (BASE + "frame-ancestors 'self'; frame-src *:443", "any-host"),
    (BASE + "frame-ancestors 'self'; frame-src 127.0.0.1", "localhost"),  # test_127001_*
    (BASE + "frame-ancestors 'self'; frame-src https://127.0.0.1", "localhost"),
    (BASE + "frame-ancestors 'self'; frame-src https://127.0.0.1:443/", "localhost"),
    (BASE + "frame-ancestors 'self'; frame-src https://127.0.0.1:443", "localhost"),
    (BASE + "frame-ancestors 'self'; frame-src 127.0.0.1:443", "localhost"),
    ("form-action 'none'; default-src 'self'; frame-ancestors 'self'", "base-uri"),
    (
        "form-action 'none'; base-uri https://www.example.gov.vn; default-src 'self'; "
        "frame-ancestors 'self'",
        "base-uri",
    ),
    ("base-uri 'none'; default-src 'self'; frame-ancestors 'self'", "form-action"),
    (BASE + "style-src https:", "frame-ancestors"),  # test_missing_frame_ancestors
    (BASE + "frame-ancestors self", "host-without-scheme"),  # ..._syntax_error
    (BASE + "frame-ancestors 'self'; frame-src http:", "insecure-scheme"),
    (BASE + "frame-ancestors 'none'; style-src internet.nl", "host-without-scheme"),
]


@pytest.mark.parametrize("policy", GOOD)
def test_internet_nl_good_policies_pass(policy: str) -> None:
    v = _csp(policy)
    assert v.status == Status.PASS, v.message


@pytest.mark.parametrize(("policy", "rule"), BAD)
def test_internet_nl_bad_policies_are_flagged(policy: str, rule: str | None) -> None:
    v = _csp(policy) if policy else _csp()
    assert v.status == Status.WARN, v.message
    if rule is not None:
        assert rule in _broken(v), (rule, v.evidence.get("broken_rules"))


# Where Internet.nl departs from CSP3 or from this tool's policy; the reason beside each.
DIFFERENT = [
    # CSP3 2.3.1: "*://" is no scheme-part: the expression is invalid, browsers ignore it
    # and it matches nothing (Internet.nl test_star_scheme_1/2 flag it as http)
    BASE + "frame-ancestors 'self'; style-src *://whatever.com:443/something",
    BASE + "frame-ancestors 'self'; style-src *://[ipv6:address:fasd]/something",
    # an invalid expression in frame-ancestors matches nothing: no site may frame the page
    # (Internet.nl test_invalid_frame_ancestors)
    BASE + "frame-ancestors 💩",
    # 'unsafe-eval' governs scripts only, so it means nothing in style-src; inline styles
    # are judged as Mozilla Observatory does (allowed) rather than as Internet.nl
    # (test_unsafe_inline, test_unsafe_eval)
    BASE + "frame-ancestors 'self'; style-src 'unsafe-inline'",
    BASE + "frame-ancestors 'self'; style-src 'unsafe-eval'",
]


@pytest.mark.parametrize("policy", DIFFERENT)
def test_where_internet_nl_departs_from_the_spec(policy: str) -> None:
    v = _csp(policy)
    assert v.status == Status.PASS, v.message


def test_invalid_sources_are_reported_as_ignored() -> None:
    v = _csp(BASE + "frame-ancestors 'self'; style-src *://whatever.com")
    assert v.evidence["ignored_sources"] == ["style-src: *://whatever.com"]


# ---------------------------------------------------------------- the rules


def test_rules_that_fail_on_a_policy_main_passed() -> None:
    old_good = "default-src 'self'; object-src 'none'; frame-ancestors 'none'"
    assert _broken(_csp(old_good)) == {"base-uri", "form-action"}
    rest = "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    # no frame-src, child-src or default-src: frames unrestricted
    assert "frame-src" in _broken(_csp("script-src 'self'; object-src 'none'; " + rest))
    # neither object-src nor default-src: plugins unrestricted
    assert "plugins-unrestricted" in _broken(_csp("script-src 'self'; " + rest))
    extra = {
        "script-src 'self' 'unsafe-hashes' 'sha256-abc='": "unsafe-hashes",
        "img-src ftp://files.example.gov.vn": "insecure-scheme",
        "img-src https:": "bare-https",
        "img-src cdn.example.gov.vn": "host-without-scheme",
        "connect-src https://127.0.0.1:8080": "localhost",
        "img-src *": "any-host",
    }
    for directive, rule in extra.items():
        policy = f"default-src 'self'; {directive}; {rest}"
        assert rule in _broken(_csp(policy)), (directive, _broken(_csp(policy)))


def test_frame_ancestors_star_fails_both_checks() -> None:
    policy = BASE + "frame-ancestors *"
    assert "frame-ancestors" in _broken(_csp(policy))
    assert _frame(("Content-Security-Policy", policy)).status == Status.FAIL


def test_repeated_directive_first_wins() -> None:
    # CSP3 2.2.1 step 2.5: the repeat is ignored, the policy stays valid (Internet.nl
    # merges the sources, which would flag the '*' browsers never apply)
    v = _csp(BASE + "default-src *; frame-ancestors 'none'")
    assert v.status == Status.PASS and "any-host" not in _broken(v)


def test_strict_dynamic_neutralises_host_sources() -> None:
    v = _csp(BASE + "script-src 'nonce-abc' 'strict-dynamic' https: http:; frame-ancestors 'none'")
    assert v.status == Status.PASS, v.message


# ---------------------------------------------------------------- <meta http-equiv>


def _meta_page(*metas: str, headers: tuple[tuple[str, str], ...] = ()) -> Verdict:
    https = HttpFetch(
        f"https://{HOST}/", Outcome.OK, hops=(resp(f"https://{HOST}/", 200, headers),),
        tls_verified=True, meta_csp=metas,
    )  # fmt: skip
    return run("http.csp", one(full(https=https)))


def test_meta_policy_counts_without_frame_ancestors_report_uri_sandbox() -> None:
    # CSP3 3.3
    good = "default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'"
    v = _meta_page(good + "; frame-ancestors 'none'; report-uri /csp; sandbox")
    assert v.status == Status.WARN and _broken(v) == {"frame-ancestors"}
    assert v.evidence["meta_ignored_directives"] == ["frame-ancestors", "report-uri", "sandbox"]
    assert v.evidence["delivered_by"] == "<meta>" and "<meta" in v.message
    # with frame-ancestors in the header, header and meta together meet every rule
    v = _meta_page(good, headers=(("Content-Security-Policy", "frame-ancestors 'self'"),))
    assert v.status == Status.PASS and v.evidence["delivered_by"] == "header and <meta>"


def test_meta_policy_is_one_policy_commas_included() -> None:
    # "parse a serialized CSP" (not a list): the comma stays in the text, so default-src
    # gets the sources "'self',", "frame-ancestors" and "'none'" - no 'self' at all
    v = _meta_page("default-src 'self', frame-ancestors 'none'")
    assert {"default-src-values", "frame-ancestors"} <= _broken(v)


def test_meta_csp_extraction() -> None:
    # Observatory files/test_parse_http_equiv_headers_csp1.html
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n    <meta charset="UTF-8">\n'
        '    <meta http-equiv="Content-Security-Policy" content="default-src \'none\';">\n'
        "    <title>Title</title>\n</head>\n<body>\n\n</body>\n</html>"
    )
    assert meta_csp(page) == ("default-src 'none';",)
    # ..._csp_multiple_http_equiv1.html: case-insensitive name, every meta kept; the one
    # with " Content-Security-Policy " (spaces) is not one for browsers: HTML enumerated
    # attributes are not trimmed (Observatory strips the spaces)
    multi = (
        '<head><meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "object-src 'none'; media-src 'none';\">\n"
        '<meta http-equiv="Content-SECURITY-Policy" content="connect-src \'self\'; '
        "font-src 'self'; child-src 'self'\">\n"
        '<meta http-equiv=" Content-Security-Policy " content="img-src \'self\'">\n'
        '<meta http-equiv="Content-security-Policy" content="script-src \'self\' '
        "'unsafe-inline'\">\n<title>Title</title></head><body></body>"
    )
    assert meta_csp(multi) == (
        "default-src 'none'; object-src 'none'; media-src 'none';",
        "connect-src 'self'; font-src 'self'; child-src 'self'",
        "script-src 'self' 'unsafe-inline'",
    )
    hidden = (
        '<head><script>var s = \'<meta http-equiv="Content-Security-Policy" content="x">\';'
        '</script><!-- <meta http-equiv="Content-Security-Policy" content="c"> -->'
        '<noscript><meta http-equiv="Content-Security-Policy" content="n"></noscript>'
        '<meta http-equiv="Content-Security-Policy" content=""></head><body>'
        '<meta http-equiv="Content-Security-Policy" content="in body">'
    )
    assert meta_csp(hidden) == ()  # script text, comment, noscript, empty, body


# ---------------------------------------------------------------- XFO / XCTO peers


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        # HTML: values de-duplicated; Observatory x_frame_options rejects the repeat
        ((("X-Frame-Options", "SAMEORIGIN, SAMEORIGIN"),), Status.PASS),
        ((("X-Frame-Options", "SAMEORIGIN"), ("X-Frame-Options", "sameorigin")), Status.PASS),
        # ALLOW-FROM is ignored by browsers; Observatory passes it (allow-from-origin)
        ((("X-Frame-Options", "ALLOW-FROM https://partner.example.vn/"),), Status.FAIL),
    ],
)
def test_x_frame_options_as_browsers_read_it(headers: Any, status: Status) -> None:
    assert _frame(*headers).status == status


def test_nosniff_repeated_is_nosniff() -> None:
    # Fetch "determine nosniff": the first value; Observatory compares the combined value
    headers = [("X-Content-Type-Options", "nosniff, nosniff")]
    assert run("http.xcto", one(full(https=good_https(headers)))).status == Status.PASS


# ---------------------------------------------------------------- Referrer-Policy


@pytest.mark.parametrize(
    ("value", "status"),
    [
        # Internet.nl HeaderCheckerReferrerPolicyTestCase: test_good_policies
        ("same-origin", Status.PASS),
        ("no-referrer", Status.PASS),
        # test_recommendation_policies: good with a recommendation there, good here
        ("strict-origin", Status.PASS),
        ("strict-origin-when-cross-origin", Status.PASS),
        # test_bad_policies
        ("origin", Status.WARN),
        ("origin-when-cross-origin", Status.WARN),
        ("no-referrer-when-downgrade", Status.WARN),
        ("unsafe-url", Status.WARN),
        # test_multiple_policies: the last valid token wins (W3C Referrer Policy 8.1)
        ("same-origin,same-origin", Status.PASS),
        ("same-origin,unsafe-url", Status.WARN),
        ('""', Status.WARN),  # test_empty_policy: no valid token
        ("no-referrer, bogus", Status.PASS),  # an unknown token is skipped, not fatal
    ],
)
def test_referrer_policy_peer_cases(value: str, status: Status) -> None:
    headers = [("Referrer-Policy", value)]
    assert run("http.referrer_policy", one(full(https=good_https(headers)))).status == status
