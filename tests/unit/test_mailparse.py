"""SPF, DMARC and MTA-STS parsers (pure): totality, RFC rules, lookup counting."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from checks._mailparse import (
    SpfLookupAnswer,
    evaluate_spf,
    is_dmarc,
    is_spf,
    mx_matches,
    parse_dmarc,
    parse_mta_sts_policy,
    parse_mta_sts_txt,
    parse_spf,
    spf_records,
    spf_targets,
    txt_text,
)


def test_txt_text_joins_strings_without_spaces() -> None:
    # RFC 7208 section 3.3: several strings are concatenated as-is
    assert txt_text('"v=spf1 ip4:192.0.2.0/24" " -all"') == "v=spf1 ip4:192.0.2.0/24 -all"
    assert txt_text('"v=spf1 in" "clude:x.vn -all"') == "v=spf1 include:x.vn -all"
    assert txt_text('"a\\"b"') == 'a"b'


def test_txt_text_never_raises_on_garbage() -> None:
    assert txt_text('"unterminated') == "unterminated"


def test_spf_records_picks_only_v_spf1() -> None:
    texts = ["google-site-verification=x", "v=spf1 -all", "v=spf10 -all", "V=SPF1 mx -all"]
    assert spf_records(texts) == ["v=spf1 -all", "V=SPF1 mx -all"]
    assert is_spf("v=spf1")
    assert not is_spf("v=spf1x")


def test_parse_spf_terms() -> None:
    rec = parse_spf("v=spf1 +mx a:mail.example.vn/24 ip4:192.0.2.0/24 include:_spf.x.vn ~all")
    assert [t.name for t in rec.terms] == ["mx", "a", "ip4", "include", "all"]
    assert rec.all_term is not None and rec.all_term.qualifier == "~"
    assert rec.terms[1].value == "mail.example.vn/24"
    assert rec.errors == ()


def test_parse_spf_modifiers_and_errors() -> None:
    rec = parse_spf("v=spf1 redirect=_spf.example.vn exp=explain.example.vn foo bar:baz")
    assert rec.redirect == "_spf.example.vn"
    assert rec.all_term is None
    assert any("unknown mechanism 'foo'" in e for e in rec.errors)
    assert any("bar" in e for e in rec.errors)


def test_spf_targets_skip_macros_ptr_and_redirect_with_all() -> None:
    rec = parse_spf("v=spf1 a mx:mx.x.vn/24 ptr exists:%{i}.x.vn include:i.x.vn redirect=r.vn -all")
    assert spf_targets(rec, "x.vn") == [("x.vn", "A"), ("mx.x.vn", "MX"), ("i.x.vn", "TXT")]


def _answers(table: dict[tuple[str, str], tuple[str, tuple[str, ...]]]):  # type: ignore[no-untyped-def]
    def lookup(qname: str, rdtype: str) -> SpfLookupAnswer | None:
        hit = table.get((qname, rdtype))
        return None if hit is None else SpfLookupAnswer(hit[0], hit[1])

    return lookup


def test_evaluate_spf_counts_recursively() -> None:
    table = {
        ("a.vn", "TXT"): ("ok", ('"v=spf1 include:b.vn mx -all"',)),
        ("b.vn", "TXT"): ("ok", ('"v=spf1 a ip4:192.0.2.1 -all"',)),
        ("a.vn", "MX"): ("ok", ("10 mx.a.vn.",)),
        ("b.vn", "A"): ("ok", ("192.0.2.1",)),
    }
    ev = evaluate_spf(parse_spf("v=spf1 include:a.vn -all"), "x.vn", _answers(table))
    # include:a.vn (1) + include:b.vn (2) + mx (3) + a (4)
    assert ev.lookups == 4
    assert ev.void_lookups == 0
    assert ev.errors == []


def test_evaluate_spf_void_and_loop_and_missing_record() -> None:
    table = {
        ("loop.vn", "TXT"): ("ok", ('"v=spf1 include:x.vn -all"',)),
        ("x.vn", "TXT"): ("ok", ('"v=spf1 include:loop.vn -all"',)),
        ("gone.vn", "TXT"): ("nxdomain", ()),
        ("nospf.vn", "TXT"): ("ok", ('"hello"',)),
    }
    rec = parse_spf("v=spf1 include:loop.vn include:gone.vn include:nospf.vn -all")
    ev = evaluate_spf(rec, "x.vn", _answers(table))
    assert ev.void_lookups == 1
    assert any("loop" in e for e in ev.errors)
    assert any("nospf.vn: 0 SPF records" in e for e in ev.errors)


def test_evaluate_spf_redirect_ignored_when_all_present() -> None:
    ev = evaluate_spf(parse_spf("v=spf1 redirect=r.vn -all"), "x.vn", _answers({}))
    assert ev.lookups == 0


def test_evaluate_spf_unfetched_include_is_reported() -> None:
    ev = evaluate_spf(parse_spf("v=spf1 include:far.vn -all"), "x.vn", _answers({}))
    assert ev.unresolved == ["far.vn"]


def test_parse_dmarc() -> None:
    rec = parse_dmarc("v=DMARC1; p=reject; sp=quarantine; pct=50; rua=mailto:d@x.vn")
    assert rec.errors == ()
    assert rec.get("p") == "reject" and rec.get("sp") == "quarantine"
    assert rec.get("pct") == "50" and rec.get("rua") == "mailto:d@x.vn"


def test_parse_dmarc_errors() -> None:
    assert "no p= tag (required)" in parse_dmarc("v=DMARC1; rua=mailto:x@y.vn").errors
    assert any("unknown policy" in e for e in parse_dmarc("v=DMARC1; p=block").errors)
    assert any("pct" in e for e in parse_dmarc("v=DMARC1; p=none; pct=150").errors)
    assert any("first" in e for e in parse_dmarc("p=none; v=DMARC1").errors)
    assert is_dmarc("v=DMARC1; p=none") and not is_dmarc("v=spf1 -all")


def test_mta_sts_txt_and_policy() -> None:
    assert parse_mta_sts_txt("v=STSv1; id=20261101T000000").errors == ()
    assert parse_mta_sts_txt("v=STSv1;").errors == ("no id= field",)
    pol = parse_mta_sts_policy("version: STSv1\r\nmode: enforce\r\nmx: *.x.vn\nmax_age: 86400\n")
    assert pol.errors == () and pol.mode == "enforce" and pol.mx == ("*.x.vn",)
    bad = parse_mta_sts_policy("version: STSv1\nmode: enforce\nmax_age: 99999999999\n")
    assert any("no mx" in e for e in bad.errors)
    assert any("max_age" in e for e in bad.errors)


def test_mx_matches_wildcard_one_label() -> None:
    assert mx_matches("*.x.vn", "mx1.x.vn")
    assert not mx_matches("*.x.vn", "a.mx1.x.vn")
    assert mx_matches("mx1.x.vn.", "MX1.x.vn")
    assert not mx_matches("mx1.x.vn", "mx2.x.vn")


@given(st.text(max_size=300))
def test_parsers_are_total(text: str) -> None:
    parse_spf("v=spf1 " + text)
    parse_dmarc(text)
    parse_mta_sts_txt(text)
    parse_mta_sts_policy(text)
    txt_text(text)
