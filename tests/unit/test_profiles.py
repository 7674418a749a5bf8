"""Profiles: bundled profiles load and cover the catalogue; every error names file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor import registry
from auditor.model import Category, Level, Scope
from auditor.profiles import (
    DEFAULT_PROFILE,
    ProfileError,
    list_profiles,
    load_profile,
    parse_profile,
)
from auditor.registry import CheckSpec
from tests.support.factories import CATALOGUE, _stub, full_registry

__all__ = ["full_registry"]

BUNDLED = ("vn-gov", "us-bod-18-01", "us-omb-m-21-07", "ncsc-nl")


@pytest.fixture
def param_check(full_registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test-only check with parameters, in a registry restored after the test."""
    patched = dict(registry._REGISTRY)
    patched["zz.test"] = CheckSpec(
        id="zz.test",
        fn=_stub,
        title="Test check",
        category=Category.TLS,
        scope=Scope.ADDRESS,
        level_hint=Level.RECOMMENDED,
        needs=(),
        params={"days": 30, "strict": True, "mode": "warn"},
    )
    monkeypatch.setattr(registry, "_REGISTRY", patched)


def test_list_profiles_default_first() -> None:
    names = list_profiles()
    assert names[0] == DEFAULT_PROFILE == "vn-gov"
    assert set(BUNDLED) <= set(names)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_profiles_load(full_registry: None, name: str) -> None:
    p = load_profile(name)
    assert p.name == name
    assert p.requirements
    assert p.kpi is not None
    assert p.kpi.checks == ("ipv6.web.aaaa", "ipv6.web.reach", "ipv6.web.https", "ipv6.web.parity")


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_profiles_load_with_the_real_registry(name: str) -> None:
    # Strict: fails while a check family has not registered its ids yet.
    load_profile(name)


def test_vn_gov_covers_every_catalogue_check(full_registry: None) -> None:
    p = load_profile("vn-gov")
    assert set(CATALOGUE) <= set(p.check_ids())
    levels = {c: r.level for r in p.requirements for c in r.checks}
    mandatory = [
        c
        for c in CATALOGUE
        if c.startswith(("ipv6.web.", "ipv6.ns.", "tls.cert."))
        or c in ("dns.dnssec", "tls.protocols.legacy")
    ]
    for c in mandatory:
        # informational only, never scored (CHECKS.md: ipv6.web.icmp, tls.cert.sct)
        if c in ("ipv6.web.icmp", "tls.cert.sct"):
            assert levels[c] == Level.INFORMATIONAL
        else:
            assert levels[c] == Level.MANDATORY, c
    assert [b.grade for b in p.grades] == ["A", "B", "C", "D", "E"]


def test_profiles_together_reference_every_catalogue_id(full_registry: None) -> None:
    used = {c for n in BUNDLED for c in load_profile(n).check_ids()}
    assert set(CATALOGUE) <= used


def test_us_profiles_pick_their_checks(full_registry: None) -> None:
    bod = load_profile("us-bod-18-01").check_ids()
    for c in ("http.https_redirect", "http.hsts", "tls.protocols.legacy", "tls.ciphers"):
        assert c in bod
    for c in ("mail.spf", "mail.dmarc", "mail.starttls"):
        assert c in bod
    omb = load_profile("us-omb-m-21-07").check_ids()
    # dns.resolve and dns.zone.exists are the preconditions of the host and zone checks
    assert all(c.startswith("ipv6.") or c in ("dns.resolve", "dns.zone.exists") for c in omb)
    for name in BUNDLED:  # every profile with zone checks judges the zone's existence
        assert "dns.zone.exists" in load_profile(name).check_ids(), name


MINIMAL = """\
name: test
title: Test profile
requirements:
  - id: web
    title: Web
    level: mandatory
    weight: 2
    checks: [ipv6.web.aaaa]
"""


def _errors(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(ProfileError) as info:
        parse_profile(text, "p.yaml")
    assert str(info.value).startswith("p.yaml:")
    return info.value.problems


def test_minimal_profile(full_registry: None) -> None:
    p = parse_profile(MINIMAL, "p.yaml")
    assert p.check_ids() == ("ipv6.web.aaaa",)
    assert p.requirements[0].weight == 2.0
    assert p.grade_for(95) == "A" and p.grade_for(0) == "E"


def test_unknown_check_id_names_file_and_line(full_registry: None) -> None:
    problems = _errors(MINIMAL.replace("ipv6.web.aaaa", "ipv6.web.aaab"))
    assert problems == [
        (8, "requirements[0].checks[0]", problems[0][2]),
    ]
    assert "unknown check id 'ipv6.web.aaab'" in problems[0][2]
    assert "did you mean ipv6.web.aaaa" in problems[0][2]


def test_param_overrides_are_validated(param_check: None) -> None:
    text = MINIMAL.replace("[ipv6.web.aaaa]", "[ipv6.web.aaaa, zz.test]") + (
        "    params:\n      zz.test: {days: 14, strict: false}\n"
    )
    p = parse_profile(text, "p.yaml")
    assert p.params == {"zz.test": {"days": 14, "strict": False}}
    bad = text.replace("days: 14", "dayz: 14")
    problems = _errors(bad)
    assert problems[0][0] == 10
    assert problems[0][1] == "requirements[0].params.zz.test.dayz"
    assert "no parameter 'dayz'" in problems[0][2]
    wrong_type = text.replace("days: 14", "days: soon")
    assert "expected int" in _errors(wrong_type)[0][2]


def test_top_level_params_and_unknown_check_in_params(param_check: None) -> None:
    text = MINIMAL + "params:\n  zz.test: {mode: fail}\n  nope.check: {x: 1}\n"
    problems = _errors(text)
    assert problems == [(11, "params.nope.check", problems[0][2])]
    p = parse_profile(MINIMAL + "params:\n  zz.test: {mode: fail}\n", "p.yaml")
    assert p.params["zz.test"] == {"mode": "fail"}


@pytest.mark.parametrize(
    ("change", "line", "where", "words"),
    [
        (("level: mandatory", "level: must"), 6, "requirements[0].level", "level must be one of"),
        (("weight: 2", "weight: heavy"), 7, "requirements[0].weight", "expected a number"),
        (("weight: 2", "weight: -1"), 7, "requirements[0].weight", "between 0 and 100"),
        (("title: Web", "titel: Web"), 5, "requirements[0].titel", "unknown key 'titel'"),
        (("checks: [ipv6.web.aaaa]", "checks: []"), 8, "requirements[0].checks", "at least one"),
        (("name: test", "name: Test Profile"), 1, "name", "lower-case"),
    ],
)
def test_errors(
    full_registry: None, change: tuple[str, str], line: int, where: str, words: str
) -> None:
    problems = _errors(MINIMAL.replace(*change))
    assert any(p[0] == line and p[1] == where and words in p[2] for p in problems), problems


def test_duplicate_requirement_and_check_in_two_requirements(full_registry: None) -> None:
    dup = MINIMAL + MINIMAL.split("requirements:\n", 1)[1]
    problems = _errors(dup)
    assert any("duplicate requirement id 'web'" in p[2] for p in problems)
    two = MINIMAL + MINIMAL.split("requirements:\n", 1)[1].replace("id: web", "id: web2")
    problems = _errors(two)
    assert any("is in both 'web' and 'web2'" in p[2] for p in problems)


def test_grade_bands(full_registry: None) -> None:
    good = MINIMAL + "grades:\n  - {grade: Good, min: 80}\n  - {grade: Bad, min: 0}\n"
    p = parse_profile(good, "p.yaml")
    assert p.grade_for(80) == "Good" and p.grade_for(79.9) == "Bad"
    unsorted = MINIMAL + "grades:\n  - {grade: Bad, min: 0}\n  - {grade: Good, min: 80}\n"
    assert any("best first" in p[2] for p in _errors(unsorted))
    no_zero = MINIMAL + "grades:\n  - {grade: Good, min: 80}\n"
    assert any("min: 0" in p[2] for p in _errors(no_zero))
    cap = good + "mandatory_fail_cap: Meh\n"
    assert any("not one of the grades" in p[2] for p in _errors(cap))


def test_yaml_syntax_and_empty(full_registry: None) -> None:
    problems = _errors("name: [unclosed\n")
    assert problems[0][1] == "document" and "YAML syntax error" in problems[0][2]
    assert "empty profile" in _errors("")[0][2]
    assert any(
        "missing required key 'requirements'" in p[2] for p in _errors("name: x\ntitle: y\n")
    )


def test_unknown_profile_name_suggests(full_registry: None) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile("vn-gv")
    assert "did you mean vn-gov" in str(info.value)


def test_user_profile_file(full_registry: None, tmp_path: Path) -> None:
    f = tmp_path / "mine.yaml"
    f.write_text(MINIMAL, encoding="utf-8")
    assert load_profile(str(f)).name == "test"
    f.write_text(MINIMAL.replace("ipv6.web.aaaa", "bogus.id"), encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(f)
    assert str(info.value).startswith(f"{f}:8: requirements[0].checks[0]")


def test_min_coverage_default_and_validation(full_registry: None) -> None:
    assert parse_profile(MINIMAL, "p.yaml").min_coverage == 50.0
    assert parse_profile(MINIMAL + "min_coverage: 80\n", "p.yaml").min_coverage == 80.0
    for bad, words in (("150", "between 0 and 100"), ("most", "expected a number")):
        problems = _errors(MINIMAL + f"min_coverage: {bad}\n")
        assert problems == [(9, "min_coverage", problems[0][2])]
        assert words in problems[0][2]
    assert any("did you mean 'min_coverage'" in p[2] for p in _errors(MINIMAL + "min_cover: 5\n"))


@pytest.mark.parametrize("name", ["vn-gov", "us-bod-18-01", "us-omb-m-21-07", "ncsc-nl"])
def test_bundled_profiles_document_min_coverage(name: str) -> None:
    from auditor.profiles import PROFILE_DIR

    text = (PROFILE_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    assert "\nmin_coverage: " in text and "insufficient data" in text
