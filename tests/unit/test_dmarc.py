"""DMARC (RFC 7489 and its revision RFC 9989): the tag list, both readings, mail.dmarc.

Peer cases: Internet.nl ``checks/test/test_dmarc_parser.py`` (RFC 9989 tags t= and psd=,
a rua= without "mailto:"), cited beside each.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.model import Status
from auditor.protocol.dmarc import RFC7489, RFC9989, dmarc_policy, is_dmarc, parse_dmarc
from tests.support.factories import ZONE, good_zone, run, txt

D = f"_dmarc.{ZONE}"


def _dmarc(record: str, **params: str) -> tuple[Status, str, dict[str, object]]:
    v = run("mail.dmarc", good_zone(dmarc=txt(D, record)), **params)
    return v.status, v.message, v.evidence


# ---------------------------------------------------------------- the tag list


def test_version_must_start_the_record() -> None:
    assert is_dmarc("v=DMARC1; p=none") and is_dmarc("v = DMARC1;p=none")
    assert not is_dmarc(" v=DMARC1; p=reject")  # RFC 7489 6.6.3: must *start* with v=
    assert not is_dmarc("v=dmarc1; p=reject")  # %x44 %x4d ...: case-sensitive
    assert not is_dmarc("v=spf1 -all")
    assert parse_dmarc("p=none; v=DMARC1").errors[0] == "v=DMARC1 must come first"


def test_duplicate_tags_invalidate_the_record() -> None:
    # RFC 6376 3.2 (DMARC's tag-list syntax): "the entire tag-list is invalid"
    rec = parse_dmarc("v=DMARC1; p=reject; p=none")
    assert not rec.valid and "more than once" in rec.errors[0]
    assert not dmarc_policy(rec, RFC7489).applies and not dmarc_policy(rec, RFC9989).applies


def test_p_right_after_v_in_rfc_7489_only() -> None:
    rec = parse_dmarc("v=DMARC1; rua=mailto:d@example.gov.vn; p=reject")
    old, new = dmarc_policy(rec, RFC7489), dmarc_policy(rec, RFC9989)
    assert old.p == "none" and old.problems  # not a valid p: p=none because rua is valid
    assert new.p == "reject" and not new.problems


def test_invalid_pct_is_dropped_and_the_default_used() -> None:
    pol = dmarc_policy(parse_dmarc("v=DMARC1; p=reject; pct=abc"), RFC7489)
    assert pol.applies and pol.p == "reject" and pol.pct == 100
    assert any("pct" in i for i in pol.ignored)
    assert dmarc_policy(parse_dmarc("v=DMARC1; p=reject; pct=150"), RFC7489).pct == 100


def test_rfc_9989_tags() -> None:
    # Internet.nl test_parse_rfc9989_tags / test_parse_psd_values / test_parse_testing_values
    rec = parse_dmarc("v=DMARC1; p=reject; sp=reject; np=reject; psd=n; t=y; rua=mailto:d@x.vn")
    new = dmarc_policy(rec, RFC9989)
    assert new.testing and new.psd == "n" and new.np == "reject" and not new.ignored
    for value in ("y", "n", "u"):
        assert dmarc_policy(parse_dmarc(f"v=DMARC1; p=none; psd={value}"), RFC9989).psd == value
    # Internet.nl test_parse_psd_invalid_value / test_parse_testing_invalid_value: dropped
    assert dmarc_policy(parse_dmarc("v=DMARC1; p=none; psd=x"), RFC9989).ignored
    bad_t = dmarc_policy(parse_dmarc("v=DMARC1; p=reject; t=x"), RFC9989)
    assert bad_t.ignored and not bad_t.testing
    # RFC 7489 does not know t=: unknown tags MUST be ignored
    assert not dmarc_policy(rec, RFC7489).testing
    # RFC 9989 removed pct
    assert dmarc_policy(parse_dmarc("v=DMARC1; p=reject; pct=10"), RFC9989).pct == 100


def test_rua_without_scheme_is_not_a_uri() -> None:
    # Internet.nl test__check_dmarc_uri_detect_missing_uri_scheme
    pol = dmarc_policy(parse_dmarc("v=DMARC1; p=reject; rua=dmarc@example.gov.vn"), RFC7489)
    assert not pol.rua and any("mailto" in i for i in pol.ignored)
    ok = dmarc_policy(parse_dmarc("v=DMARC1; p=reject; rua=mailto:a@x.vn!10m,mailto:b@x.vn"))
    assert ok.rua == ("mailto:a@x.vn!10m", "mailto:b@x.vn")


def test_invalid_p_without_rua_means_no_dmarc() -> None:
    pol = dmarc_policy(parse_dmarc("v=DMARC1; p=block"), RFC7489)
    assert not pol.applies
    withrua = dmarc_policy(parse_dmarc("v=DMARC1; p=block; rua=mailto:d@x.vn"), RFC7489)
    assert withrua.applies and withrua.p == "none"
    bad_sp = dmarc_policy(parse_dmarc("v=DMARC1; p=reject; sp=never"), RFC7489)
    assert not bad_sp.applies  # 6.6.3: an invalid sp= is treated like an invalid p=


@given(st.text(max_size=300))
def test_parsers_are_total(text: str) -> None:
    rec = parse_dmarc(text)
    dmarc_policy(rec, RFC7489)
    dmarc_policy(rec, RFC9989)


# ---------------------------------------------------------------- mail.dmarc


def test_check_leading_whitespace_is_no_record() -> None:
    status, message, _ = _dmarc(" v=DMARC1; p=reject")
    assert status == Status.FAIL and "leading whitespace" in message


def test_check_duplicate_tag_fails() -> None:
    status, message, ev = _dmarc("v=DMARC1; p=reject; p=none")
    assert status == Status.FAIL and "more than once" in message
    assert ev["rfc"] == f"{RFC7489} and {RFC9989}"


def test_check_p_not_second_fails_per_rfc_7489() -> None:
    status, message, ev = _dmarc("v=DMARC1; rua=mailto:d@example.gov.vn; p=reject")
    assert status == Status.FAIL and "right after v=" in message
    assert ev["rfc"] == RFC7489 and RFC7489 in message


def test_check_invalid_pct_is_a_warning_not_a_failure() -> None:
    status, message, ev = _dmarc("v=DMARC1; p=reject; pct=abc; rua=mailto:d@example.gov.vn")
    assert status == Status.WARN and "pct" in message
    assert ev["pct"] == 100


def test_check_test_mode_t_y() -> None:
    status, message, ev = _dmarc("v=DMARC1; p=reject; t=y; rua=mailto:d@example.gov.vn")
    assert status == Status.FAIL and "t=y" in message
    assert ev["rfc"] == RFC9989 and RFC9989 in message


def test_check_pct_zero_enforces_nothing() -> None:
    status, message, _ = _dmarc("v=DMARC1; p=reject; pct=0")
    assert status == Status.FAIL and "pct=0" in message


@pytest.mark.parametrize(
    "record",
    [
        "v=DMARC1; p=reject; rua=mailto:d@example.gov.vn",
        "v=DMARC1;p=reject;rua=mailto:d@example.gov.vn;",
        "v=DMARC1; p=reject; np=reject; psd=n; t=n; rua=mailto:d@example.gov.vn",
        "v=DMARC1; P=Reject; rua=mailto:d@example.gov.vn",
    ],
)
def test_check_good_records_pass(record: str) -> None:
    status, message, ev = _dmarc(record)
    assert status == Status.PASS, message
    assert ev["rfc"] == f"{RFC7489} and {RFC9989}"
