"""security.txt (RFC 9116) and its OpenPGP cleartext signature (RFC 4880 sec. 7).

Peer cases are from the parser Internet.nl uses, DigitalTrustCenter/sectxt
``test/test_sectxt.py`` (the test each one comes from is named beside it), and from
Internet.nl ``checks/tasks/securitytxt.py`` (the Content-Type charset rule). SIGNED was
made for these tests with GnuPG 2.2 (``gpg --clearsign``, an Ed25519 test key).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditor.model import Status
from auditor.obs.core import Outcome
from auditor.obs.http import SecurityTxtFetch
from auditor.protocol.security_txt import parse_security_txt

from .test_checks_http import HOST, full, one, run

SIGNED = """-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

# Our security policy
Contact: mailto:security@example.gov.vn
Contact: https://example.gov.vn/lien-he
Expires: 2027-01-01T00:00:00.000Z
Canonical: https://example.gov.vn/.well-known/security.txt
Preferred-Languages: vi, en
-----BEGIN PGP SIGNATURE-----

iHUEARYIAB0WIQRoWdIhbuZ8h1EfYp9+XoFqRCOb/AUCaw/qLAAKCRB+XoFqRCOb
/P1pAQCIqg96XL2i8CqiTYlSAPaJe/+onXNTzNcVbWkWjIHoWwD/Se+eE6ILgw2z
rvTEwrBBDg9ifPpqly+KWRDk+cBysAc=
=Ckgq
-----END PGP SIGNATURE-----
"""
GOOD = "Contact: mailto:security@example.gov.vn\nExpires: 2027-06-01T00:00:00Z\n"
SIG = "-----BEGIN PGP SIGNATURE-----"
END = "-----END PGP SIGNATURE-----"
LINE2 = "/P1pAQCIqg96XL2i8CqiTYlSAPaJe/+onXNTzNcVbWkWjIHoWwD/Se+eE6ILgw2z"
FPR = "openpgp4fpr:6859D2216EE67C87511F629F7E5E816A44239BFC"


def _errors(text: str) -> tuple[str, ...]:
    return parse_security_txt(text).errors


def _has(text: str, fragment: str) -> bool:
    return any(fragment in e for e in _errors(text))


# ---------------------------------------------------------------- the signed file


def test_signed_file_is_sound() -> None:
    s = parse_security_txt(SIGNED)  # sectxt test_signed
    assert s.signed and s.errors == () and s.recommendations == ()
    assert s.contacts == ("mailto:security@example.gov.vn", "https://example.gov.vn/lien-he")
    assert s.expires == datetime(2027, 1, 1, tzinfo=UTC)
    assert s.canonical == ("https://example.gov.vn/.well-known/security.txt",)
    assert s.values("preferred-languages") == ("vi, en",)
    assert parse_security_txt(SIGNED.replace("\n", "\r\n")).signed  # CRLF line endings


def test_dash_escaped_lines_are_unescaped() -> None:
    s = parse_security_txt(
        SIGNED.replace("Expires", "- Expires")
    )  # sectxt test_signed_dash_escaped
    assert s.signed and s.expires is not None and s.errors == ()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        # sectxt test_signed_invalid_pgp (1): the signature header removed
        (lambda t: t.replace(SIG, ""), "without a signature block"),
        # sectxt test_signed_invalid_pgp (2): dash escaping inside the signature
        (lambda t: t.replace(SIG + "\n", SIG + "\n- \n"), "signature block"),
        # sectxt test_signed_invalid_pgp (3): base64 of the signature damaged
        (lambda t: t.replace(LINE2, LINE2[:17]), "corrupt"),
        (lambda t: t.replace("=Ckgq", "=Ckgr"), "checksum mismatch"),
        # sectxt test_multiple_signed_messages: a repeated signature block
        (lambda t: t.replace(SIG, SIG + "\n" + SIG), "second OpenPGP block"),
        (lambda t: t + t, "second OpenPGP"),
        # sectxt test_pgp_signed_formatting: a blank first line
        (lambda t: "\r\n" + t, "not on the first line"),
        # sectxt test_too_many_final_newlines_signed
        (lambda t: t + "\n", "blank line after the signature"),
        (lambda t: t + "Contact: mailto:x@example.gov.vn\n", "data after the signature"),
        (lambda t: t.replace(END + "\n", ""), f"without '{END}'"),
        (lambda t: t.replace("Hash: SHA256\n\n", "Hash: SHA256\n"), "armor header"),
    ],
)
def test_broken_signature_structure_is_an_error(change: Any, fragment: str) -> None:
    s = parse_security_txt(change(SIGNED))
    assert not s.signed, s
    assert any(fragment in e for e in s.errors), s.errors


def test_signature_block_of_another_packet_type_is_corrupt() -> None:
    # a public-key packet (type 6) armored as a signature: not a signature
    fake = SIGNED.replace(
        "iHUEARYIAB0WIQRoWdIhbuZ8h1EfYp9+XoFqRCOb/AUCaw/qLAAKCRB+XoFqRCOb\n"
        "/P1pAQCIqg96XL2i8CqiTYlSAPaJe/+onXNTzNcVbWkWjIHoWwD/Se+eE6ILgw2z\n"
        "rvTEwrBBDg9ifPpqly+KWRDk+cBysAc=\n=Ckgq\n",
        "mDMEZQ==\n",
    )
    assert _has(fake, "packet type 6, not a signature (type 2)")


def test_signed_without_canonical_is_a_recommendation() -> None:
    s = parse_security_txt(  # sectxt test_signed_no_canonical
        SIGNED.replace("Canonical: https://example.gov.vn/.well-known/security.txt\n", "")
    )
    assert any("Canonical" in r for r in s.recommendations)


# ---------------------------------------------------------------- field grammar (sec. 4)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Contact:mailto:me@example.com\n", "no space after"),  # sectxt test_missing_space
        ("Contact : mailto:me@example.com\n", "whitespace or invalid character"),  # test_prec_ws
        (": mailto:me@example.com\n", "without a name"),  # sectxt test_empty_key
        (" : mailto:me@example.com\n", "leading whitespace"),  # sectxt test_empty_key2
        ("Contact: \n", "empty value"),  # sectxt test_missing_value
        ("Contact: http://example.com/contact\n", "without https://"),  # sectxt test_no_https
        ("Contact: me@example.com\n", "not a URI"),  # sectxt test_no_uri
        ("Contact: mailto:me@example.com", "no line ending"),  # test_no_line_separators
        ("line 1\nline 2\nline 3\nContact: mailto:x@example.com  Expires", "line 4: the last"),
        ("\ufeffContact: mailto:me@example.com\n", "byte-order mark"),  # test_byte_order_mark
        ("Preferred-Languages: English\n", "language tag"),  # test_preferred_languages
        ("Preferred-Languages: nl, Invalid\n", "language tag"),
        ("Preferred-Languages: vi\nPreferred-Languages: en\n", "more than once"),
        ("Expires: Nonsense\n", "RFC 3339"),  # sectxt test_invalid_expires
        ("Expires: Thu, 15 Sep 2022 06:03:46 -0700\n", "RFC 3339"),
        ("Expires: 2027-01-01\n", "RFC 3339"),  # a date without a time
        ("Expires: 2027-01-01T00:00:00Z\nExpires: 2028-01-01T00:00:00Z\n", "more than once"),
        ("CSAF: http://example.com/.well-known/csaf/provider-metadata.json\n", "https"),
        ("CSAF: https://example.com/.well-known/csaf/other.json\n", "provider-metadata.json"),
        ("Policy: http://example.com/policy\n", "without https://"),
        ("Contact: mailto:a@b.vn\rExpires: 2027-01-01T00:00:00Z\n", "control character"),
        ("<html>not found</html>\n", "not a field"),
        ("-----BEGIN PGP SIGNATURE-----\n", "without '-----BEGIN PGP SIGNED MESSAGE-----'"),
    ],
)
def test_grammar_errors_are_named(text: str, fragment: str) -> None:
    assert _has(text, fragment), _errors(text)


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        GOOD.replace("\n", "\r\n"),
        GOOD + "Preferred-Languages: En, dUT\n",  # sectxt: ISO 639-1 and -2, any case
        GOOD + "Contact: tel:+84-24-3943-6684\nContact: https://example.gov.vn/lien-he\n",
        GOOD
        + "# a comment\n\n   \nEncryption: openpgp4fpr:6859D2216EE67C87511F629F7E5E816A44239BFC\n",
        GOOD + "Last-Updated: 2026-01-01T00:00:00Z\n",  # an extension field: allowed
        GOOD + "Contact: mailto:security%2Buri@example.gov.vn   \n",  # trailing WSP (eol)
        "CONTACT: mailto:a@b.vn\nexpires: 2027-01-01T00:00:00+07:00\n",  # names: any case
    ],
)
def test_valid_files(text: str) -> None:
    assert _errors(text) == ()


def test_truncated_body_end_is_not_judged() -> None:
    assert parse_security_txt(GOOD.rstrip("\n"), complete=False).errors == ()


@given(st.text(max_size=500))
def test_parser_is_total(text: str) -> None:
    parse_security_txt(text)
    parse_security_txt("-----BEGIN PGP SIGNED MESSAGE-----\n" + text)


# ---------------------------------------------------------------- http.security_txt


def _fetch(text: str, ctype: str = "text/plain; charset=utf-8", **kw: Any) -> SecurityTxtFetch:
    return SecurityTxtFetch(
        f"https://{HOST}/.well-known/security.txt",
        Outcome.OK,
        status=200,
        content_type=ctype,
        text=text,
        **kw,
    )


def _verdict(fetch: SecurityTxtFetch) -> Any:
    return run("http.security_txt", one(full(security_txt=fetch)))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (GOOD + "Contact: me@example.com\n", "not a URI"),
        (GOOD + "Contact: http://example.gov.vn/lien-he\n", "https://"),
        ("Contact:mailto:security@example.gov.vn\nExpires: 2027-06-01T00:00:00Z\n", "no space"),
        (GOOD.rstrip("\n"), "no line ending"),
        ("\n" + SIGNED.replace("2027-01-01T00:00:00.000Z", "2027-06-01T00:00:00Z"), "first line"),
        (SIGNED.replace("-----BEGIN PGP SIGNATURE-----", ""), "signature block"),
    ],
)
def test_check_fails_on_each_error_named(text: str, fragment: str) -> None:
    v = _verdict(_fetch(text))
    assert v.status == Status.FAIL and fragment in v.message, v.message
    assert v.evidence["signed"] is False


def test_check_charset_rules() -> None:
    # RFC 9116 sec. 3; Internet.nl securitytxt.py: a missing charset is the utf-8 default
    assert _verdict(_fetch(GOOD, "text/plain")).status == Status.PASS
    assert _verdict(_fetch(GOOD, "text/plain; charset=csUTF8")).status == Status.PASS
    v = _verdict(_fetch(GOOD, "text/plain; charset=iso-8859-1"))
    assert v.status == Status.FAIL and "charset iso-8859-1" in v.message
    v = _verdict(_fetch(GOOD, invalid_utf8=True))
    assert v.status == Status.FAIL and "not valid UTF-8" in v.message


def test_check_signed_file_and_recommendation() -> None:
    signed = SIGNED.replace("2027-01-01T00:00:00.000Z", "2027-06-01T00:00:00Z")
    # the expiry edit breaks the signature, which the auditor does not verify (no key):
    # the structure is sound
    v = _verdict(_fetch(signed.replace("example.gov.vn/.well-known", f"{HOST}/.well-known")))
    assert v.status == Status.PASS and v.evidence["signed"] is True and "signed" in v.message
    no_canonical = signed.replace(
        "Canonical: https://example.gov.vn/.well-known/security.txt\n", ""
    )
    v = _verdict(_fetch(no_canonical))
    assert v.status == Status.WARN and "Canonical" in v.message
