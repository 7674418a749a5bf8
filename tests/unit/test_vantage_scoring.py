"""Scoring across vantages (issue #16): the combine rules, pure.

Each vantage is judged alone; the profile's ``vantages`` rules combine them. A vantage that
could not test (not_tested, error: the scanner's limit there) never lowers or raises what
another vantage decided, and the coverage says it could not test. A one-vantage scan scores
exactly as before, whatever the vantage is called.
"""

from __future__ import annotations

from dataclasses import replace as dc_replace
from datetime import date
from typing import Any

import pytest

from auditor.model import Finding, Status, TargetKind
from auditor.profiles import ProfileError, VantageRule, parse_profile
from auditor.scoring import (
    AgencyScore,
    CheckResult,
    PairResult,
    ReqStatus,
    ScanScore,
    check_result,
    combine_kpi,
    combine_results,
    kpi_answer,
    score_scan,
)
from tests.unit.test_scoring import CATS, SCOPES, TODAY, all_pass, inv, profile, replace

P, F, W, NT, ER, NA, INFO = (
    Status.PASS,
    Status.FAIL,
    Status.WARN,
    Status.NOT_TESTED,
    Status.ERROR,
    Status.NOT_APPLICABLE,
    Status.INFO,
)
EVERY, ANY = VantageRule.EVERY, VantageRule.ANY


def result(status: Status, vantage: str = "a", score: float | None = None) -> CheckResult:
    finding = Finding(
        "h.a",
        TargetKind.HOST,
        "w.example",
        None,
        status,
        f"{status} from {vantage}",
        {},
        score,
        vantage,
    )
    return check_result("h.a", TargetKind.HOST, "w.example", [finding], today=TODAY)


def combined(rule: VantageRule, *statuses: Status) -> CheckResult:
    names = "abcdef"
    return combine_results([(names[i], result(s, names[i])) for i, s in enumerate(statuses)], rule)


@pytest.mark.parametrize(
    ("a", "b", "every", "any_"),
    [
        (P, P, P, P),
        (P, F, F, P),
        (F, P, F, P),
        (P, W, W, P),
        (W, F, F, W),
        (INFO, P, INFO, INFO),  # info counts as pass: the first of equals stands
        # not_tested / error from one vantage never decides over another's verdict
        (P, NT, P, P),
        (NT, F, F, F),
        (W, ER, W, W),
        (NA, P, P, P),
        # nobody decided: it says so (an error first: a fault to look into)
        (NT, NT, NT, NT),
        (NT, ER, ER, ER),
        (NA, NT, NA, NA),  # "nothing to test" is a verdict, not undone by who could not test
        (NA, NA, NA, NA),
    ],
)
def test_combine_results_table(a: Status, b: Status, every: Status, any_: Status) -> None:
    assert combined(EVERY, a, b).status == every
    assert combined(ANY, a, b).status == any_


def test_combine_results_keeps_each_vantage_and_says_who_decided() -> None:
    r = combined(EVERY, P, F, NT)
    assert r.status == F
    assert r.message == "[b] fail from b"
    assert [(v, x.status) for v, x in r.vantages] == [("a", P), ("b", F), ("c", NT)]
    assert {x.vantage for x in r.findings} == {"a", "b", "c"}
    # two of the three vantages decided
    assert r.tested_share == pytest.approx(2 / 3)
    # not applicable from one vantage: it had nothing to judge, so it is not "untested"
    assert combined(EVERY, P, NA).tested_share == 1.0


def test_combine_results_worst_credit_among_equals() -> None:
    low = result(F, "a", score=0.2)
    high = result(F, "b", score=0.6)
    assert combine_results([("a", low), ("b", high)], EVERY).credit == 0.2
    assert combine_results([("a", low), ("b", high)], ANY).credit == 0.6


def test_one_vantage_is_its_own_result_unchanged() -> None:
    r = result(NT)
    assert combine_results([("b", r)], EVERY) is r
    with pytest.raises(ValueError):
        combine_results([], EVERY)


@pytest.mark.parametrize(
    ("answers", "every", "any_"),
    [
        (["yes", "yes"], "yes", "yes"),
        (["yes", "no"], "no", "yes"),
        (["no", "no"], "no", "no"),
        (["yes", "incomplete"], "yes", "yes"),
        (["no", "incomplete"], "no", "no"),
        (["incomplete", "incomplete"], "incomplete", "incomplete"),
        (["yes"], "yes", "yes"),
    ],
)
def test_combine_kpi(answers: list[str], every: str, any_: str) -> None:
    assert combine_kpi(answers, EVERY) == every
    assert combine_kpi(answers, ANY) == any_


def test_kpi_answer() -> None:
    assert kpi_answer([P, INFO]) == "yes"
    assert kpi_answer([P, W]) == "no"
    assert kpi_answer([P, NT, F]) == "no"
    assert kpi_answer([P, NT]) == "incomplete"


# --------------------------------------------------------------------------- score_scan


def at(vantage: str, findings: list[Finding]) -> list[Finding]:
    return [dc_replace(x, vantage=vantage) for x in findings]


def scan(findings: list[Finding], **kw: Any) -> ScanScore:
    return score_scan(
        profile(**kw),
        inv(["w.example"], ["example"]),
        findings,
        TODAY,
        scope_of=SCOPES.get,
        category_of=lambda c: CATS.get(c, "other"),
    )


def fields(a: AgencyScore) -> tuple[object, ...]:
    return tuple(
        getattr(a, k)
        for k in (
            "score",
            "grade",
            "kpi",
            "counts",
            "coverage",
            "categories",
            "category_coverage",
            "insufficient",
            "capped",
        )
    )


@pytest.mark.parametrize("vantage", ["local", "b"])
def test_one_vantage_scores_exactly_as_before(vantage: str) -> None:
    cases = [
        all_pass(),
        replace(all_pass(), "h.a", Status.FAIL),
        replace(all_pass(), "h.b", Status.NOT_TESTED),
        replace(all_pass(), "a.x", Status.WARN, addresses={"192.0.2.1": P, "2001:db8::1": W}),
    ]
    for findings in cases:
        before = scan(findings).agency("ag")
        now = scan(at(vantage, findings))
        assert now.vantages == (vantage,) and not now.multi_vantage
        a = now.agency("ag")
        assert fields(a) == fields(before)

        # the same pairs (their findings differ only by the vantage they name)
        def strip(pairs: tuple[PairResult, ...]) -> list[tuple[object, ...]]:
            return [
                (
                    p.target,
                    p.requirement.id,
                    p.status,
                    p.credit,
                    p.tested_share,
                    p.vantages,
                    *((c.status, c.credit, c.message, c.vantages) for c in p.checks),
                )
                for p in pairs
            ]

        assert strip(a.pairs) == strip(before.pairs) and a.host_kpis == ()


def test_two_vantages_that_agree_score_as_one() -> None:
    one = scan(all_pass()).agency("ag")
    two = scan(at("a", all_pass()) + at("b", all_pass()))
    assert two.vantages == ("a", "b") and two.multi_vantage
    a = two.agency("ag")
    assert fields(a) == fields(one)
    assert [(h.host, h.answer, [x[1] for x in h.vantages]) for h in a.host_kpis] == [
        ("w.example", "yes", ["yes", "yes"])
    ]


def test_dark_from_one_vantage_fails_by_default_and_passes_with_any() -> None:
    # from "b" the web server does not answer over IPv6 (a broken transit): h.a fails there
    findings = at("a", all_pass()) + at("b", replace(all_pass(), "h.a", Status.FAIL))
    worst = scan(findings).agency("ag")
    assert worst.kpi == "no"
    assert worst.score == 62.5  # as if it failed from the only vantage (test_weights)
    (kpi,) = worst.host_kpis
    assert [(v, ans) for v, ans, _r in kpi.vantages] == [("a", "yes"), ("b", "no")]
    assert kpi.vantages[1][2] == "h.a: h.a fail"
    pair = next(p for p in worst.pairs if p.requirement.id == "ra")
    assert pair.status == ReqStatus.FAIL
    assert [(v, p.status) for v, p in pair.vantages] == [
        ("a", ReqStatus.PASS),
        ("b", ReqStatus.FAIL),
    ]
    assert pair.checks[0].message == "[b] h.a fail"
    assert any(c.check == "h.a" for c in worst.failing())

    lenient = scan(findings, vantage_kpi=ANY, vantage_checks=ANY).agency("ag")
    assert (lenient.kpi, lenient.score) == ("yes", 100.0)
    # KPI from at least one vantage, every other check at its worst
    mixed = scan(findings, vantage_kpi=ANY).agency("ag")
    assert (mixed.kpi, mixed.score) == ("yes", 62.5)


def test_a_vantage_that_could_not_test_never_fails_the_agency() -> None:
    # "b" has no IPv6 in its footing: its IPv6 verdicts are not_tested
    dark = all_pass()
    for check in ("h.a", "a.x"):
        dark = replace(dark, check, Status.NOT_TESTED)
    a = scan(at("a", all_pass()) + at("b", dark)).agency("ag")
    assert a.kpi == "yes"  # not lowered by what b could not see
    assert a.score == 100.0 and a.grade == "A"
    assert a.counts["incomplete"] == 0 and a.counts["pass"] == 4
    # ... and the coverage says b could not test: ra (3) and rx (2) are tested from a only
    # tested = 3/2 + 1 + 2/2 + 2 = 5.5 of 8
    assert a.coverage == 68.8
    assert a.category_coverage["ipv6_web"] == pytest.approx(100 * (1.5 + 1) / 4, abs=0.1)
    (kpi,) = a.host_kpis
    assert [x[1] for x in kpi.vantages] == ["yes", "incomplete"]
    assert kpi.vantages[1][2].startswith("h.a: ")
    # nobody could test h.a: the pair is incomplete (as for one vantage)
    both = scan(at("a", dark) + at("b", dark)).agency("ag")
    assert both.kpi == "incomplete" and both.counts["incomplete"] == 2


def test_a_target_missing_from_one_vantage_is_untested_there() -> None:
    # b's shard never stored the host (failed): no result from b, never a failure
    only_zone = [x for x in all_pass() if x.target_kind == TargetKind.ZONE]
    a = scan(at("a", all_pass()) + at("b", only_zone)).agency("ag")
    assert a.score == 100.0 and a.kpi == "yes"
    assert a.coverage is not None and a.coverage < 100.0


def test_waiver_still_applies_to_the_combined_result() -> None:
    waivers = [
        {
            "check": "h.c",
            "hosts": ["w.example"],
            "reason": "r",
            "approved_by": "x",
            "expires": "2027-01-01",
        }
    ]
    findings = at("a", all_pass()) + at("b", replace(all_pass(), "h.c", Status.FAIL))
    s = score_scan(
        profile(),
        inv(["w.example"], ["example"], waivers),
        findings,
        TODAY,
        scope_of=SCOPES.get,
    ).agency("ag")
    pair = next(p for p in s.pairs if p.requirement.id == "rb")
    assert pair.status == ReqStatus.WAIVED
    assert date(2027, 1, 1) > TODAY


# --------------------------------------------------------------------------- the profile key

PROFILE = """\
name: test
title: Test profile
requirements:
  - id: web
    title: Web
    level: mandatory
    checks: [ipv6.web.aaaa]
"""


def test_profile_vantage_rules_default_every_and_parse() -> None:
    p = parse_profile(PROFILE, "p.yaml")
    assert (p.vantage_kpi, p.vantage_checks) == (EVERY, EVERY)
    q = parse_profile(PROFILE + "vantages:\n  kpi: any\n", "p.yaml")
    assert (q.vantage_kpi, q.vantage_checks) == (ANY, EVERY)
    assert "KPI: any (from at least one vantage)" in q.vantage_rule_text()


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("vantages:\n  kpi: all\n", "vantages.kpi", "must be 'every' (a host counts"),
        ("vantages:\n  checks: worst\n", "vantages.checks", "or 'any' (from at least one)"),
        ("vantages:\n  kpl: any\n", "vantages.kpl", "unknown key 'kpl' (did you mean 'kpi'?)"),
        ("vantages: every\n", "vantages", "expected a mapping"),
        ("vantages:\n  kpi: [any]\n", "vantages.kpi", "expected a non-empty string"),
    ],
)
def test_profile_vantage_rules_errors(text: str, where: str, words: str) -> None:
    with pytest.raises(ProfileError) as info:
        parse_profile(PROFILE + text, "p.yaml")
    problems = info.value.problems
    assert any(p[1] == where and words in p[2] and p[0] >= 8 for p in problems), problems


# --------------------------------------------------------------------------- diff


def test_diff_compares_each_vantage_with_itself() -> None:
    from auditor.history import diff_scans, finding_changes, split_vantages

    before = at("a", all_pass()) + at("b", replace(all_pass(), "h.a", Status.FAIL))
    # b's fault is fixed, a's network now sees it fail: one regression (a), one improvement (b)
    after = at("a", replace(all_pass(), "h.a", Status.FAIL)) + at("b", all_pass())
    changes = finding_changes(before, after)
    assert [(c.kind, c.vantage, c.check) for c in changes] == [
        ("regression", "a", "h.a"),
        ("improvement", "b", "h.a"),
    ]
    d = diff_scans(1, 2, before, after, scan(before), scan(after))
    assert d.vantages == ("a", "b") and d.vantaged
    doc = d.to_dict()
    assert doc["vantages"] == {"compared": ["a", "b"], "only_before": [], "only_after": []}
    assert {c["vantage"] for c in doc["changes"]} == {"a", "b"}
    assert split_vantages([], []) == (("local",), (), ())


def test_diff_a_vantage_in_one_scan_only_is_named_not_a_regression() -> None:
    from auditor.history import diff_scans

    before = at("a", all_pass())
    # the new vantage c sees h.a fail; a still sees every check pass
    after = at("a", all_pass()) + at("c", replace(all_pass(), "h.a", Status.FAIL))
    d = diff_scans(1, 2, before, after, scan(before), scan(after))
    assert d.changes == () and d.count("regression") == 0
    assert (d.vantages, d.only_before, d.only_after) == (("a",), (), ("c",))
    # a one-machine scan, then a scan from a and b: nothing in common, nothing compared
    d2 = diff_scans(1, 2, all_pass(), after, scan(all_pass()), scan(after))
    assert d2.changes == () and d2.vantages == () and d2.only_before == ("local",)


def test_diff_of_one_machine_scans_is_written_as_before() -> None:
    from auditor.history import diff_scans

    after = replace(all_pass(), "h.a", Status.FAIL)
    d = diff_scans(1, 2, all_pass(), after, scan(all_pass()), scan(after))
    assert not d.vantaged and d.count("regression") == 1
    doc = d.to_dict()
    assert "vantages" not in doc and all("vantage" not in c for c in doc["changes"])
    assert all("vantage" not in c for a in doc["agencies"] for c in a["changes"])
