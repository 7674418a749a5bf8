from __future__ import annotations

import pytest

from auditor import registry
from auditor.model import Category, Level, Probe, Scope, Status, Verdict, worst
from auditor.registry import CheckContext, all_checks, check, get_check, is_known


def test_builtin_checks_registered_with_metadata() -> None:
    ids = {c.id for c in all_checks()}
    assert {"dns.resolve", "ipv6.web.aaaa"} <= ids
    spec = get_check("ipv6.web.aaaa")
    meta = spec.metadata()
    assert meta["category"] == "ipv6_web"
    assert meta["scope"] == "host"
    assert meta["description"]
    assert {"nginx", "apache", "iis", "dns"} <= set(meta["remediation"])
    assert meta["refs"]


def test_every_check_has_catalogue_text() -> None:
    for spec in all_checks():
        assert spec.title, spec.id
        assert spec.description, f"{spec.id} has no 'why it matters'"
        assert spec.remediation, f"{spec.id} has no remediation"
        assert spec.needs, f"{spec.id} declares no probes"
        parts = spec.id.split(".")
        assert len(parts) >= 2 and all(p.replace("_", "").isalnum() for p in parts), spec.id


def test_duplicate_id_and_alias_rejected() -> None:
    registry.load_checks()

    def fn(obs: object, ctx: CheckContext) -> Verdict:
        return Verdict.passed("ok")

    with pytest.raises(ValueError, match="duplicate"):
        check(
            "dns.resolve", title="x", category=Category.DNS, scope=Scope.HOST, needs=(Probe.DNS,)
        )(fn)


def test_alias_resolves_to_new_id() -> None:
    registry.load_checks()

    def fn(obs: object, ctx: CheckContext) -> Verdict:
        return Verdict.passed("ok")

    check(
        "test.alias.new",
        title="x",
        category=Category.DNS,
        scope=Scope.HOST,
        needs=(Probe.DNS,),
        level_hint=Level.INFORMATIONAL,
        aliases=("test.alias.old",),
    )(fn)
    try:
        assert is_known("test.alias.old")
        assert get_check("test.alias.old").id == "test.alias.new"
        assert registry.resolve_id("test.alias.old") == "test.alias.new"
    finally:
        registry._REGISTRY.pop("test.alias.new")
        registry._ALIASES.pop("test.alias.old")
    with pytest.raises(KeyError):
        get_check("no.such.check")


def test_worst_status_order() -> None:
    assert worst([Status.PASS, Status.WARN]) == Status.WARN
    assert worst([Status.NOT_TESTED, Status.FAIL, Status.PASS]) == Status.FAIL
    assert worst([Status.NOT_APPLICABLE, Status.PASS]) == Status.PASS
    assert worst([]) == Status.NOT_APPLICABLE
