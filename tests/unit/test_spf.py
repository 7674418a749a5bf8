"""SPF (RFC 7208): the grammar, check_host() and mail.spf, from the issue's cases.

The whole openspf suite runs in test_spf_rfc7208.py; these cases pin the rules the
auditor's verdicts depend on, each with the section it follows.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.model import Status
from auditor.obs.core import DnsAnswer, Outcome
from auditor.protocol.spf import (
    Answer,
    AnswerKind,
    Query,
    SpfLimits,
    SpfResult,
    audit,
    check_host,
    drive,
    is_spf_record,
    parse_record,
)
from tests.support.factories import ZONE, ans, good_zone, run, txt


def _zone(table: dict[tuple[str, str], Any]) -> Any:
    """A lookup over {(name, type): records tuple | AnswerKind}; absent = NXDOMAIN."""

    def lookup(q: Query) -> Answer:
        hit = table.get((q.name, q.rdtype))
        if hit is None:
            return Answer(AnswerKind.NXDOMAIN)
        if isinstance(hit, AnswerKind):
            return Answer(hit, detail="servfail" if hit == AnswerKind.ERROR else "")
        return Answer(AnswerKind.OK if hit else AnswerKind.NODATA, tuple(hit))

    return lookup


def _rec(text: str) -> tuple[str, ...]:
    return (f'"{text}"',)


# ---------------------------------------------------------------- grammar (sec. 4.6, 5, 7.1)


@pytest.mark.parametrize(
    ("record", "term", "why"),
    [
        ("v=spf1 ip4:1.2.3.4/33 -all", "ip4:1.2.3.4/33", "prefix length"),  # sec. 5.6
        ("v=spf1 ip4:relay.example.net -all", "ip4:relay.example.net", "dotted-quad"),
        ("v=spf1 ip4:192.0.2.01 -all", "ip4:192.0.2.01", "dotted-quad"),  # qnum: no 0 prefix
        ("v=spf1 ip6:2001:db8::/129 -all", "ip6:2001:db8::/129", "prefix length"),
        ("v=spf1 ip6:2001:db8::1%eth0 -all", "ip6:2001:db8::1%eth0", "IPv6"),
        ("v=spf1 a:museum -all", "a:museum", "not a domain name"),  # sec. 7.1 domain-end
        ("v=spf1 a:foo-bar -all", "a:foo-bar", "not a domain name"),
        ("v=spf1 a:192.0.2.1 -all", "a:192.0.2.1", "numeric"),
        ("v=spf1 a: -all", "a:", "empty domain-spec"),
        ("v=spf1 mx:example.com:25 -all", "mx:example.com:25", "top label"),
        ("v=spf1 include:_spf.example.com/24 -all", "include:_spf.example.com/24", "top label"),
        ("v=spf1 ip4:192.0.2.1 redirect=", "redirect=", "empty domain-spec"),
        ("v=spf1 exists:%{?}.example.com -all", "exists:%{?}.example.com", "'%'"),
        ("v=spf1 exists:%{r}.example.com -all", "exists:%{r}.example.com", "only in exp"),
        ("v=spf1 -all:foobar", "-all:foobar", "no argument"),
        ("v=spf1 -redirect=x.example.com", "-redirect=x.example.com", "qualifier"),
        ("v=spf1 a:x.example.com\rptr -all", "a:x.example.com\rptr", "control character"),
        ("v=spf1 a:xé.example.com -all", "a:xé.example.com", "non-ASCII"),
        ("v=spf1 a\t-all", "a\t-all", "control character"),  # only SP separates terms
        ("v=spf1 redirect=a.example.com redirect=b.example.com", "redirect=b.example.com", "once"),
        ("v=spf1 ptr/24 -all", "ptr/24", "prefix"),
        ("v=spf1 foo -all", "foo", "unknown mechanism"),
    ],
)
def test_syntax_errors_name_the_term(record: str, term: str, why: str) -> None:
    parsed = parse_record(record)
    assert not parsed.valid
    assert parsed.error_term == term and why in parsed.error, parsed.error


@pytest.mark.parametrize(
    "record",
    [
        "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all",
        "v=spf1 a:mail.example.com/24//64 mx//64 -all",
        "v=spf1 a:foo.example.xn--zckzah -all",  # a top label with dashes (IDN)
        "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} ~all",
        "v=spf1 include:_spf.%{d2} -all",
        "v=spf1 moo.cow-far_out=man:dog/cat -all",  # unknown modifiers are ignored
        "v=spf1 redirect=_spf.example.com",
        "v=spf1   a   -all  ",  # 1*SP between terms, trailing SP
        "V=SPF1 -all",  # ABNF literals are case-insensitive
    ],
)
def test_valid_records(record: str) -> None:
    assert parse_record(record).valid, parse_record(record).error


def test_record_selection_is_exact() -> None:
    # sec. 4.5: "v=spf1" exactly at the start, then SP or the end
    assert is_spf_record("v=spf1") and is_spf_record("v=spf1 -all")
    assert not is_spf_record(" v=spf1 -all")  # leading whitespace: not an SPF record
    assert not is_spf_record("v=spf10 -all") and not is_spf_record("v=spf1\t-all")


@given(st.text(max_size=300))
def test_parser_is_total(text: str) -> None:
    parse_record("v=spf1 " + text)
    drive(check_host("192.0.2.1", "x.example.com"), _zone({("x.example.com", "TXT"): _rec(text)}))


# ---------------------------------------------------------------- check_host()


def test_include_and_redirect_semantics() -> None:
    zone = _zone(
        {
            ("x.example.com", "TXT"): _rec("v=spf1 include:p.example.net redirect=r.example.org"),
            ("p.example.net", "TXT"): _rec("v=spf1 ip4:192.0.2.0/24 -all"),
            ("r.example.org", "TXT"): _rec("v=spf1 ip6:2001:db8::/32 -all"),
        }
    )
    assert drive(check_host("192.0.2.9", "x.example.com"), zone).result == SpfResult.PASS
    assert drive(check_host("2001:db8::9", "x.example.com"), zone).result == SpfResult.PASS
    out = drive(check_host("198.51.100.1", "x.example.com"), zone)
    assert out.result == SpfResult.FAIL and out.domain == "r.example.org" and out.lookups == 2


def test_lookup_failure_anywhere_is_temperror_naming_the_term() -> None:
    # sec. 5: a DNS error of a mechanism's lookup makes check_host() return temperror
    for term, key in (
        ("a:a.example.net", ("a.example.net", "A")),
        ("mx:m.example.net", ("m.example.net", "MX")),
        ("exists:e.example.net", ("e.example.net", "A")),
        ("include:i.example.net", ("i.example.net", "TXT")),
    ):
        zone = _zone({("x.example.com", "TXT"): _rec(f"v=spf1 {term} -all"), key: AnswerKind.ERROR})
        out = drive(audit("x.example.com", 4), zone)
        assert out.result == SpfResult.TEMPERROR and out.term == term, (term, out)
        assert not out.not_observed


def test_limits_of_section_4_6_4() -> None:
    names = tuple(f"{i} mx{i}.example.net." for i in range(11))
    zone = _zone({("x.example.com", "TXT"): _rec("v=spf1 mx -all"), ("x.example.com", "MX"): names})
    out = drive(audit("x.example.com", 4), zone)
    assert out.result == SpfResult.PERMERROR and "11 MX records" in out.reason
    voids = _zone({("x.example.com", "TXT"): _rec("v=spf1 a:v1.example.net a:v2.example.net -all")})
    assert drive(audit("x.example.com", 4), voids).result == SpfResult.FAIL  # 2 voids: fine
    three = _zone(
        {
            ("x.example.com", "TXT"): _rec(
                "v=spf1 a:v1.example.net a:v2.example.net a:v3.example.net"
            )
        }
    )
    out = drive(audit("x.example.com", 4), three)
    assert out.result == SpfResult.PERMERROR and "void" in out.reason
    assert out.term == "a:v3.example.net"
    # a profile may raise the void limit (RFC 7208: "MAY choose to make such a limit
    # configurable"); the lookup limit likewise
    assert drive(audit("x.example.com", 4, SpfLimits(void=3)), three).result == (SpfResult.NEUTRAL)


def test_ptr_uses_at_most_ten_names() -> None:
    # sec. 4.6.4: only the first 10 PTR names are validated; the 11th is ignored
    rev = "5.2.0.192.in-addr.arpa"
    table: dict[tuple[str, str], Any] = {
        ("x.example.com", "TXT"): _rec("v=spf1 ptr -all"),
        (rev, "PTR"): (*(f"h{i}.other.example." for i in range(10)), "m.x.example.com."),
        ("m.x.example.com", "A"): ("192.0.2.5",),
    }
    for i in range(10):
        table[(f"h{i}.other.example", "A")] = ("192.0.2.5",)
    assert drive(check_host("192.0.2.5", "x.example.com"), _zone(table)).result == SpfResult.FAIL
    table[(rev, "PTR")] = ("m.x.example.com.",)
    assert drive(check_host("192.0.2.5", "x.example.com"), _zone(table)).result == SpfResult.PASS


def test_audit_per_family_and_sender_dependent_terms() -> None:
    zone = _zone(
        {
            ("x.example.com", "TXT"): _rec("v=spf1 a exists:%{i}.bl.example.net ptr -all"),
            ("x.example.com", "A"): ("192.0.2.1",),
            ("x.example.com", "AAAA"): AnswerKind.ERROR,
        }
    )
    v4 = drive(audit("x.example.com", 4), zone)
    assert v4.result == SpfResult.FAIL and v4.lookups == 3
    assert any("%{i}" in u for u in v4.undetermined) and any("ptr" in n for n in v4.notes)
    v6 = drive(audit("x.example.com", 6), zone)  # the AAAA of "a" fails only for IPv6
    assert v6.result == SpfResult.TEMPERROR and v6.term == "a"


def test_macro_expansion() -> None:
    zone = _zone(
        {
            ("x.example.com", "TXT"): _rec("v=spf1 exists:%{l1r-}.%{ir}.%{v}._spf.%{d2} -all"),
            ("mary.4.2.0.192.in-addr._spf.example.com", "A"): ("127.0.0.2",),
        }
    )
    out = drive(check_host("192.0.2.4", "x.example.com", "mary-jo@x.example.com"), zone)
    assert out.result == SpfResult.PASS, out


# ---------------------------------------------------------------- mail.spf (the check)


def _spf_zone(record: str, *lookups: DnsAnswer) -> Any:
    return good_zone(spf=txt(ZONE, record), spf_lookups=lookups)


@pytest.mark.parametrize(
    ("record", "named"),
    [
        ("v=spf1 ip4:1.2.3.4/33 -all", "ip4:1.2.3.4/33"),
        ("v=spf1 ip4:relay.example.net -all", "ip4:relay.example.net"),
        ("v=spf1 a:museum -all", "a:museum"),
        ("v=spf1 a:foo-bar -all", "a:foo-bar"),
        ("v=spf1 mx a: -all", "a:"),
        ("v=spf1 mx redirect=", "redirect="),
        ("v=spf1 exists:%{?}.example.gov.vn -all", "exists:%{?}.example.gov.vn"),
        ("v=spf1 mx -all:foobar", "-all:foobar"),
    ],
)
def test_check_fails_on_syntax_errors_with_the_term(record: str, named: str) -> None:
    v = run("mail.spf", _spf_zone(record))
    assert v.status == Status.FAIL and "permerror" in v.message and named in v.message, v.message


def test_check_fails_on_control_and_non_ascii_characters() -> None:
    cr = good_zone(spf=ans(ZONE, "TXT", '"v=spf1 a:mx1.example.gov.vn\\013ptr -all"'))
    v = run("mail.spf", cr)
    assert v.status == Status.FAIL and "control character" in v.message
    utf8 = good_zone(spf=ans(ZONE, "TXT", '"v=spf1 a:mx\\195\\169.example.gov.vn -all"'))
    v = run("mail.spf", utf8)
    assert v.status == Status.FAIL and "non-ASCII" in v.message


@pytest.mark.parametrize(
    ("term", "answer"),
    [
        ("a:relay.example.net", ans("relay.example.net", "A", outcome=Outcome.SERVFAIL)),
        ("mx:relay.example.net", ans("relay.example.net", "MX", outcome=Outcome.TIMEOUT)),
        ("exists:ok.example.net", ans("ok.example.net", "A", outcome=Outcome.SERVFAIL)),
        ("include:_spf.example.net", txt("_spf.example.net", outcome=Outcome.TIMEOUT)),
    ],
)
def test_check_lookup_failure_is_not_tested_with_the_term(term: str, answer: DnsAnswer) -> None:
    both = (answer, *(() if answer.rdtype != "A" else (ans(answer.qname, "AAAA"),)))
    v = run("mail.spf", _spf_zone(f"v=spf1 {term} -all", *both))
    assert v.status == Status.NOT_TESTED and "temperror" in v.message and term in v.message


def test_check_unfetched_answer_is_not_tested_as_not_fetched() -> None:
    v = run("mail.spf", _spf_zone("v=spf1 include:far.example.net -all"))
    assert v.status == Status.NOT_TESTED and "not fetched" in v.message
    assert v.evidence["not_fetched"] == ["far.example.net TXT"]


def test_check_void_lookups_over_two_fail() -> None:
    z = _spf_zone(
        "v=spf1 a:x1.vn.example a:x2.vn.example a:x3.vn.example -all",
        *(ans(f"x{i}.vn.example", t, outcome=Outcome.NXDOMAIN) for i in (1, 2, 3)
          for t in ("A", "AAAA")),
    )  # fmt: skip
    v = run("mail.spf", z)
    assert v.status == Status.FAIL and "void" in v.message and "a:x3.vn.example" in v.message
    assert v.evidence["void_lookups"] == 3


def test_check_more_than_ten_mx_names_fail() -> None:
    mx = ans("big.example.net", "MX", *(f"{i} m{i}.example.net." for i in range(11)))
    v = run("mail.spf", _spf_zone("v=spf1 mx:big.example.net -all", mx))
    assert v.status == Status.FAIL and "11 MX records" in v.message


def test_check_ptr_is_a_warning() -> None:
    v = run("mail.spf", _spf_zone("v=spf1 mx ptr -all"))
    assert v.status == Status.WARN and "ptr" in v.message


def test_check_leading_whitespace_is_no_record() -> None:
    v = run("mail.spf", good_zone(spf=txt(ZONE, " v=spf1 -all")))
    assert v.status == Status.FAIL and "does not begin with exactly 'v=spf1'" in v.message


def test_check_include_without_record_fails() -> None:
    v = run("mail.spf", _spf_zone("v=spf1 include:gone.example.net -all",
                                  txt("gone.example.net", outcome=Outcome.NXDOMAIN)))  # fmt: skip
    assert v.status == Status.FAIL and "include:gone.example.net" in v.message


def test_check_neutral_include_chain_fails() -> None:
    # the include's ~all does not end the top record: no all there means neutral
    v = run("mail.spf", _spf_zone("v=spf1 include:p.example.net",
                                  txt("p.example.net", "v=spf1 ip4:192.0.2.1 ~all")))  # fmt: skip
    assert v.status == Status.FAIL and "neutral" in v.message


def test_audit_whole_address_space_is_open() -> None:
    # "an address the record does not list" does not exist behind a /0
    for record in ("v=spf1 ip4:0.0.0.0/0 -all", "v=spf1 a/0 -all", "v=spf1 ip4:192.0.2.0/24 -all"):
        zone = _zone(
            {("x.example.com", "TXT"): _rec(record), ("x.example.com", "A"): ("192.0.2.1",)}
        )
        out = drive(audit("x.example.com", 4), zone)
        want = SpfResult.FAIL if "/24" in record else SpfResult.PASS
        assert out.result == want, record
    six = _zone({("x.example.com", "TXT"): _rec("v=spf1 ip6:::/0 -all")})
    assert drive(audit("x.example.com", 6), six).result == SpfResult.PASS
    assert drive(audit("x.example.com", 4), six).result == SpfResult.FAIL


def test_many_spaces_do_not_hide_terms() -> None:
    rec = "v=spf1" + " " * 500 + "+all"
    assert drive(
        audit("x.example.com", 4), _zone({("x.example.com", "TXT"): _rec(rec)})
    ).result == (SpfResult.PASS)
