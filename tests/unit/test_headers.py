"""Header parsers on tricky inputs: duplicates, quoting, case, whitespace, garbage."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from auditor.protocol.headers import (
    frame_ancestors_restrictive,
    has_version,
    header_list_values,
    media_type,
    parse_csp,
    parse_hsts,
    parse_nosniff,
    parse_referrer_policy,
    parse_set_cookie,
    parse_xfo,
    script_policy,
    split_quoted,
    unquote,
)

# ---------------------------------------------------------------------------
# generic


def test_split_and_unquote() -> None:
    assert split_quoted('a; b="x;y"; c', ";") == ["a", ' b="x;y"', " c"]
    assert split_quoted('a="q\\";r"; b', ";") == ['a="q\\";r"', " b"]
    assert unquote('"abc"') == "abc"
    assert unquote('"a\\"b"') == 'a"b'
    assert unquote('"abc') is None
    assert unquote('"a"b"') is None
    assert header_list_values(["a, b", ' "c,d" ', "e"]) == ["a", "b", '"c,d"', "e"]


# ---------------------------------------------------------------------------
# HSTS (RFC 6797)


def test_hsts_basic_case_and_whitespace() -> None:
    h = parse_hsts(["Max-Age=31536000 ;  INCLUDESUBDOMAINS;preload"])
    assert h is not None and h.valid
    assert h.max_age == 31536000 and h.include_subdomains and h.preload


def test_hsts_quoted_max_age() -> None:
    h = parse_hsts(['max-age="63072000"; includeSubDomains'])
    assert h is not None and h.valid and h.max_age == 63072000


def test_hsts_missing_header() -> None:
    assert parse_hsts([]) is None


def test_hsts_only_first_field_counts() -> None:
    # RFC 6797 sec. 8.1: a UA processes only the first STS header field.
    h = parse_hsts(["max-age=300", "max-age=31536000; includeSubDomains"])
    assert h is not None and h.valid and h.max_age == 300 and not h.include_subdomains
    assert h.fields == 2
    h = parse_hsts(["max-age=31536000", "max-age=0"])
    assert h is not None and h.max_age == 31536000


def test_hsts_duplicate_directive_is_invalid() -> None:
    h = parse_hsts(["max-age=31536000; max-age=1"])
    assert h is not None and not h.valid and "more than once" in h.error
    h = parse_hsts(["max-age=31536000; includeSubDomains; INCLUDESUBDOMAINS"])
    assert h is not None and not h.valid


def test_hsts_malformed() -> None:
    for raw in (
        "includeSubDomains",  # no max-age
        "max-age=",  # empty
        "max-age=abc",
        "max-age=-1",
        "max-age=1.5",
        'max-age="31536000',  # unterminated quote
        "max-age=31536000, max-age=1",  # combined by a proxy: comma is not a token char
        "max age=31536000",
        "max-age=31536000; includeSubDomains=yes",  # valueless directive
        "max-age=٣١٥٣٦٠٠٠",  # non-ASCII digits
    ):
        h = parse_hsts([raw])
        assert h is not None and not h.valid, raw


def test_hsts_unknown_directives_ignored_and_empty_ones_allowed() -> None:
    h = parse_hsts([";; max-age=10 ; ; foo=bar; baz"])
    assert h is not None and h.valid and h.max_age == 10


def test_hsts_huge_value_bounded() -> None:
    h = parse_hsts(["max-age=" + "9" * 5000])
    assert h is not None and h.valid and h.max_age is not None and h.max_age > 10**18


@given(st.text(max_size=200))
def test_hsts_never_raises(raw: str) -> None:
    parse_hsts([raw])


# ---------------------------------------------------------------------------
# CSP (W3C CSP3)


def test_csp_policy_list_and_duplicates() -> None:
    pols = parse_csp(
        [
            "default-src 'self'; SCRIPT-SRC a.example; script-src *",
            "img-src *, frame-ancestors 'none'",
        ]
    )
    assert len(pols) == 3
    first = pols[0]
    assert first.get("script-src") == ("a.example",)  # the first of a repeated directive wins
    assert first.duplicates == ("script-src",)
    assert pols[2].get("frame-ancestors") == ("'none'",)
    assert parse_csp(["", " ; ; "]) == ()
    # only ASCII whitespace separates tokens (\x1f is not a separator, nor a directive)
    assert parse_csp(["\x1f", "\x1f;\x0b"]) == ()
    assert parse_csp(["script-src\x1fa.example 'self'"]) == ()  # not a directive name


def test_csp_nonce_neutralises_unsafe_inline() -> None:
    (p,) = parse_csp(["script-src 'nonce-R4nd0m+/=' 'unsafe-inline' https:"])
    sp = script_policy(p)
    assert not sp.unsafe_inline and sp.inline_neutralised_by == "nonce"
    assert sp.nonces == 1
    assert sp.any_host == ("https:",)  # without strict-dynamic, https: still applies


def test_csp_hash_neutralises_unsafe_inline() -> None:
    (p,) = parse_csp(["default-src 'self' 'unsafe-inline' 'SHA256-abc123=' "])
    sp = script_policy(p)
    assert sp.directive == "default-src"
    assert not sp.unsafe_inline and sp.inline_neutralised_by == "hash"


def test_csp_strict_dynamic_ignores_hosts_and_inline() -> None:
    (p,) = parse_csp(
        [
            "script-src 'strict-dynamic' 'nonce-abc' 'unsafe-inline' https: http: * 'self'; "
            "object-src 'none'; base-uri 'none'"
        ]
    )
    sp = script_policy(p)
    assert sp.strict_dynamic
    assert not sp.unsafe_inline and sp.inline_neutralised_by == "strict-dynamic"
    assert sp.any_host == ()


def test_csp_unsafe_inline_and_eval_in_effect() -> None:
    (p,) = parse_csp(["default-src * 'unsafe-inline' 'unsafe-eval'"])
    sp = script_policy(p)
    assert sp.unsafe_inline and sp.unsafe_eval and sp.any_host == ("*",)
    (p,) = parse_csp(["default-src 'self'; script-src 'self' 'wasm-unsafe-eval'"])
    sp = script_policy(p)
    assert sp.directive == "script-src" and not sp.unsafe_eval and not sp.unsafe_inline


def test_csp_invalid_nonce_does_not_neutralise() -> None:
    (p,) = parse_csp(["script-src 'nonce-' 'unsafe-inline'"])
    assert script_policy(p).unsafe_inline


def test_csp_no_script_directive() -> None:
    (p,) = parse_csp(["frame-ancestors 'self'"])
    assert script_policy(p).directive is None


def test_frame_ancestors_restrictive() -> None:
    assert frame_ancestors_restrictive(("'none'",))
    assert frame_ancestors_restrictive(("'self'", "https://partner.gov.vn"))
    assert not frame_ancestors_restrictive(("*",))
    assert not frame_ancestors_restrictive(("https:",))
    assert not frame_ancestors_restrictive(("'self'", "https://*"))


@given(st.text(max_size=300))
def test_csp_never_raises(raw: str) -> None:
    for p in parse_csp([raw]):
        script_policy(p)


# ---------------------------------------------------------------------------
# Referrer-Policy, XFO, XCTO


def test_referrer_policy_last_valid_wins() -> None:
    assert parse_referrer_policy(["no-referrer, strict-origin-when-cross-origin"]) == (
        "strict-origin-when-cross-origin"
    )
    assert parse_referrer_policy(["same-origin, bogus-future-policy"]) == "same-origin"
    assert parse_referrer_policy(["unsafe-url", "No-Referrer"]) == "no-referrer"
    assert parse_referrer_policy(["", " , "]) == ""
    assert parse_referrer_policy(["nope"]) == ""


def test_xfo() -> None:
    assert parse_xfo(["DENY"]) == "deny"
    assert parse_xfo([" sameorigin "]) == "sameorigin"
    assert parse_xfo(["SAMEORIGIN", "sameorigin"]) == "sameorigin"  # de-duplicated
    assert parse_xfo(["DENY, SAMEORIGIN"]) == "deny"  # conflicting: blocks
    assert parse_xfo(["ALLOW-FROM https://a.example"]) == ""
    assert parse_xfo(["ALLOWALL"]) == ""
    assert parse_xfo(["ALLOW-FROM https://a.example", "invalid"]) == ""
    assert parse_xfo([]) == ""


def test_nosniff() -> None:
    assert parse_nosniff(["nosniff"])
    assert parse_nosniff(["NoSniff"])
    assert parse_nosniff([" nosniff , other"])
    assert not parse_nosniff(["other, nosniff"])  # Fetch: only the first value counts
    assert not parse_nosniff(["no-sniff"])
    assert not parse_nosniff([])


# ---------------------------------------------------------------------------
# Set-Cookie


def test_set_cookie_attributes() -> None:
    c = parse_set_cookie("SID=abc; path=/; SECURE; httponly; SameSite=Strict")
    assert c is not None and c.name == "SID" and c.secure and c.http_only
    assert c.same_site == "strict"
    c = parse_set_cookie("a=b;Secure;SameSite=bogus")
    assert c is not None and c.same_site == "" and c.same_site_raw == "bogus"
    c = parse_set_cookie("a=b; SameSite = Lax ; Max-Age=0")
    assert c is not None and c.same_site == "lax" and c.deletes
    c = parse_set_cookie('a="x;y"')  # cookies do not quote: ';' ends the value
    assert c is not None and c.name == "a"
    assert parse_set_cookie("") is None
    assert parse_set_cookie("justavalue; Secure") is not None  # RFC 6265bis nameless cookie


# ---------------------------------------------------------------------------
# version disclosure, media types


def test_has_version() -> None:
    for v in (
        "nginx/1.18.0",
        "Apache/2.4.41 (Ubuntu)",
        "Microsoft-IIS/10.0",
        "PHP/7.4.3",
        "4.0.30319",
        "5.2",
    ):
        assert has_version(v), v
    for v in ("nginx", "Apache", "Microsoft-IIS", "ASP.NET", "cloudflare"):
        assert not has_version(v), v


def test_media_type() -> None:
    assert media_type('Text/Plain ; Charset="UTF-8"') == ("text/plain", {"charset": "UTF-8"})
    assert media_type("") == ("", {})
