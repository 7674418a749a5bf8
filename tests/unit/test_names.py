"""auditor.protocol.names: the one name normal form and the one Public Suffix List."""

from __future__ import annotations

from auditor.protocol.names import (
    a_label,
    is_public_suffix,
    norm_name,
    public_suffix,
    registrable_domain,
    suffix_list,
)


def test_norm_name() -> None:
    assert norm_name("WWW.Example.GOV.VN.") == "www.example.gov.vn"
    assert norm_name(" mail.example.vn \n") == "mail.example.vn"
    assert norm_name("example.vn..") == "example.vn"
    assert norm_name(".") == ""
    assert norm_name("") == ""
    assert norm_name("Bộ.VN") == "bộ.vn"  # U-labels stay U-labels


def test_a_label() -> None:
    # the expected A-labels agree with the standard library's IDNA 2003 codec
    assert a_label("Bộ-Y-Tế.gov.VN.") == "xn--b-y-t-s61b7g.gov.vn"
    assert a_label("*.Bộ.vn") == "*.xn--b-8xm.vn"  # a wildcard label survives
    assert a_label("www.example.vn") == "www.example.vn"
    assert a_label("a\u0000b.vn") == "a\u0000b.vn"  # ASCII is passed through as is
    assert a_label("www.a☃b.vn") == ""  # a snowman is not a valid IDNA 2008 label


def test_public_suffix() -> None:
    assert public_suffix("www.moh.gov.vn") == "gov.vn"
    assert public_suffix("WWW.MOH.GOV.VN.") == "gov.vn"
    assert public_suffix("gov.vn") == "gov.vn"
    # an unknown top-level label: a suffix by the List's default rule, unless refused
    assert public_suffix("host.nosuchtld") == "nosuchtld"
    assert public_suffix("host.nosuchtld", accept_unknown=False) is None
    assert public_suffix("") is None


def test_registrable_domain() -> None:
    assert registrable_domain("staging.newagency.gov.vn") == "newagency.gov.vn"
    assert registrable_domain("Www.Example.COM.") == "example.com"
    assert registrable_domain("gov.vn") == "gov.vn"  # a public suffix: itself
    assert registrable_domain("vn.") == "vn"
    assert registrable_domain("") == ""


def test_is_public_suffix() -> None:
    assert is_public_suffix("gov.vn") and is_public_suffix("GOV.VN.")
    assert is_public_suffix("com")
    assert not is_public_suffix("moh.gov.vn")


def test_suffix_list_is_loaded_once() -> None:
    assert suffix_list() is suffix_list()
