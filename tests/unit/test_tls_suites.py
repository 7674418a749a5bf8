"""The cipher-suite facts (auditor.protocol) and the NCSC-NL policy (checks) stay one table."""

from __future__ import annotations

import dataclasses

from auditor.protocol import tls_suites
from checks import tls_tables


def test_every_suite_has_exactly_one_policy_row() -> None:
    codes = [s.code for s in tls_suites.SUITES_LIST]
    assert len(codes) == len(set(codes))  # no code twice in the facts
    assert set(tls_tables.NCSC) == set(codes)


def test_policy_adds_the_class_and_keeps_the_facts_and_their_order() -> None:
    assert len(tls_tables.SUITES_LIST) == len(tls_suites.SUITES_LIST)
    for classed, fact in zip(tls_tables.SUITES_LIST, tls_suites.SUITES_LIST, strict=True):
        kept = {f.name: getattr(classed, f.name) for f in dataclasses.fields(fact)}
        assert tls_suites.CipherSuite(**kept) == fact
        assert (classed.ncsc, classed.ref) == tls_tables.NCSC[fact.code]
        assert classed.forward_secret == fact.forward_secret


def test_facts_carry_no_policy() -> None:
    names = {f.name for f in dataclasses.fields(tls_suites.CipherSuite)}
    assert not names & {"ncsc", "ref"}


def test_suite_name() -> None:
    assert tls_suites.suite_name(0x1301) == "TLS_AES_128_GCM_SHA256"
    assert tls_suites.suite_name(0x010080) == "SSL_CK_RC4_128_WITH_MD5"  # an SSLv2 spec
    assert tls_suites.suite_name(0x1234) == "0x1234"
    assert 0x1301 in tls_suites.TLS13_CODES and 0x1301 not in tls_suites.LEGACY_CODES
    assert 0x0000 not in tls_suites.LEGACY_CODES  # TLS_NULL_WITH_NULL_NULL is never offered
