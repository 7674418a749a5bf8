"""MTA-STS parsers and TXT text (pure): totality, RFC rules. SPF: test_spf.py, DMARC:
test_dmarc.py."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from auditor.protocol.dmarc import parse_dmarc
from auditor.protocol.mta_sts import mx_matches, parse_mta_sts_policy, parse_mta_sts_txt
from auditor.protocol.txt import txt_text


def test_txt_text_joins_strings_without_spaces() -> None:
    # RFC 7208 section 3.3: several strings are concatenated as-is
    assert txt_text('"v=spf1 ip4:192.0.2.0/24" " -all"') == "v=spf1 ip4:192.0.2.0/24 -all"
    assert txt_text('"v=spf1 in" "clude:x.vn -all"') == "v=spf1 include:x.vn -all"
    assert txt_text('"a\\"b"') == 'a"b'


def test_txt_text_never_raises_on_garbage() -> None:
    assert txt_text('"unterminated') == "unterminated"


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
    parse_dmarc(text)
    parse_mta_sts_txt(text)
    parse_mta_sts_policy(text)
    txt_text(text)
