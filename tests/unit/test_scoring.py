"""Scoring: levels, weights, incomplete, waivers before and after expiry, grade bands, KPI."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from auditor.model import Finding, Level, Scope, Status, TargetKind
from auditor.profiles import GradeBand, Kpi, Profile, Requirement
from auditor.scoring import ReqStatus, pair_status, score_scan

SCOPES = {
    "h.a": Scope.HOST,
    "h.b": Scope.HOST,
    "h.c": Scope.HOST,
    "a.x": Scope.ADDRESS,
    "z.d": Scope.ZONE,
    "i.i": Scope.HOST,
}
CATS = {"h.a": "ipv6_web", "h.b": "ipv6_web", "h.c": "http", "a.x": "tls", "z.d": "dnssec"}
TODAY = date(2026, 6, 1)


def profile(**kw: Any) -> Profile:
    reqs = (
        Requirement("ra", "A", Level.MANDATORY, 3.0, ("h.a",)),
        Requirement("rb", "B", Level.RECOMMENDED, 1.0, ("h.b", "h.c")),
        Requirement("rx", "X", Level.MANDATORY, 2.0, ("a.x",)),
        Requirement("rd", "D", Level.MANDATORY, 2.0, ("z.d",)),
        Requirement("ri", "Info", Level.INFORMATIONAL, 0.0, ("i.i",)),
    )
    base: dict[str, Any] = {
        "name": "t",
        "title": "T",
        "requirements": reqs,
        "kpi": Kpi("k", "KPI", ("h.a", "a.x")),
    }
    base.update(kw)
    return Profile(**base)


def inv(
    hosts: list[str],
    zones: list[str],
    waivers: list[dict[str, Any]] | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    agencies = [
        {
            "id": "ag",
            "name": "Agency",
            "domains": zones,
            "hosts": [{"host": h, "display": h} for h in hosts],
            "waivers": waivers or [],
        }
    ]
    return {"agencies": agencies + (extra or [])}


def f(
    check: str,
    target: str,
    status: Status,
    *,
    address: str | None = None,
    score: float | None = None,
    kind: TargetKind | None = None,
) -> Finding:
    k = kind or (TargetKind.ZONE if SCOPES[check] == Scope.ZONE else TargetKind.HOST)
    return Finding(check, k, target, address, status, f"{check} {status}", {}, score)


def all_pass(host: str = "w.example", zone: str = "example") -> list[Finding]:
    return [
        f("h.a", host, Status.PASS),
        f("h.b", host, Status.PASS),
        f("h.c", host, Status.PASS),
        f("a.x", host, Status.PASS, address="192.0.2.1"),
        f("a.x", host, Status.PASS, address="2001:db8::1"),
        f("i.i", host, Status.FAIL),  # informational: never scored
        f("z.d", zone, Status.PASS),
    ]


def score(findings: list[Finding], prof: Profile | None = None, **kw: Any) -> Any:
    return score_scan(
        prof or profile(),
        kw.pop("inventory", inv(["w.example"], ["example"])),
        findings,
        kw.pop("today", TODAY),
        scope_of=SCOPES.get,
        category_of=lambda c: CATS.get(c, "other"),
    ).agency("ag")


def replace(findings: list[Finding], check: str, status: Status, **kw: Any) -> list[Finding]:
    out = [x for x in findings if x.check != check]
    target = next(x.target for x in findings if x.check == check)
    if check == "a.x":
        addrs = kw.pop("addresses", {"192.0.2.1": status, "2001:db8::1": status})
        out += [f("a.x", target, s, address=a, **kw) for a, s in addrs.items()]
    else:
        out.append(f(check, target, status, **kw))
    return out


def test_all_pass_scores_100_grade_a_kpi_yes() -> None:
    a = score(all_pass())
    assert a.score == 100.0
    assert a.grade == "A"
    assert a.kpi == "yes"
    assert a.counts["pass"] == 4  # ra, rb, rx (host) + rd (zone); informational not counted
    assert a.categories == {"dnssec": 100.0, "http": 100.0, "ipv6_web": 100.0, "tls": 100.0}


def test_weights() -> None:
    # ra (weight 3) fails: 100 * (1 + 2 + 2) / (3 + 1 + 2 + 2) = 62.5
    a = score(replace(all_pass(), "h.a", Status.FAIL))
    assert a.score == 62.5
    # rb (weight 1, recommended) fails instead: 100 * 7 / 8
    assert score(replace(all_pass(), "h.c", Status.FAIL)).score == 87.5


def test_informational_never_scored() -> None:
    a = score(all_pass())
    info = [p for p in a.pairs if p.requirement.id == "ri"]
    assert info[0].status == ReqStatus.FAIL
    assert not info[0].counted
    assert a.score == 100.0


def test_grade_bands_and_mandatory_cap() -> None:
    prof = profile(mandatory_fail_cap="C")
    a = score(replace(all_pass(), "h.c", Status.FAIL), prof)  # recommended only: no cap
    assert (a.score, a.grade, a.capped) == (87.5, "B", False)
    # A mandatory failure (zone, weight 2): 100 * 6 / 8 = 75 -> B, capped to C.
    b = score(replace(all_pass(), "z.d", Status.FAIL), prof)
    assert (b.score, b.grade, b.capped) == (75.0, "C", True)
    # Without the cap: B.
    assert score(replace(all_pass(), "z.d", Status.FAIL)).grade == "B"
    bands = profile(grades=(GradeBand("Good", 80.0), GradeBand("Bad", 0.0)))
    assert score(replace(all_pass(), "z.d", Status.FAIL), bands).grade == "Bad"
    assert score(all_pass(), bands).grade == "Good"


def test_not_tested_is_incomplete_never_failure() -> None:
    a = score(replace(all_pass(), "h.a", Status.NOT_TESTED))
    pair = next(p for p in a.pairs if p.requirement.id == "ra")
    assert pair.status == ReqStatus.INCOMPLETE
    assert a.score == 100.0  # left out of both sums
    assert a.counts["incomplete"] == 1
    assert a.kpi == "incomplete"
    assert [c.check for c in a.incomplete()] == ["h.a"]
    # error counts as incomplete too
    assert score(replace(all_pass(), "h.a", Status.ERROR)).score == 100.0


def test_fail_beats_incomplete_and_incomplete_beats_pass() -> None:
    findings = replace(replace(all_pass(), "h.b", Status.NOT_TESTED), "h.c", Status.FAIL)
    pair = next(p for p in score(findings).pairs if p.requirement.id == "rb")
    assert pair.status == ReqStatus.FAIL
    findings = replace(all_pass(), "h.b", Status.NOT_TESTED)
    pair = next(p for p in score(findings).pairs if p.requirement.id == "rb")
    assert pair.status == ReqStatus.INCOMPLETE


def test_missing_finding_is_incomplete() -> None:
    findings = [x for x in all_pass() if x.check != "h.a"]
    a = score(findings)
    pair = next(p for p in a.pairs if p.requirement.id == "ra")
    assert pair.status == ReqStatus.INCOMPLETE
    assert "no result stored" in pair.checks[0].message


def test_warn_and_partial_credit() -> None:
    # warn without a score: the profile's warn_credit (0.5): 100 * (7 + 0.5) / 8
    assert score(replace(all_pass(), "h.c", Status.WARN)).score == 93.8
    # partial fail score 0.5 on ra (weight 3): 100 * (5 + 1.5) / 8
    assert score(replace(all_pass(), "h.a", Status.FAIL, score=0.5)).score == 81.2
    assert score(replace(all_pass(), "h.c", Status.WARN), profile(warn_credit=0.0)).score == 87.5


def test_address_scope_worst_over_addresses() -> None:
    findings = replace(
        all_pass(),
        "a.x",
        Status.PASS,
        addresses={"192.0.2.1": Status.PASS, "2001:db8::1": Status.FAIL},
    )
    a = score(findings)
    pair = next(p for p in a.pairs if p.requirement.id == "rx")
    assert pair.status == ReqStatus.FAIL
    assert "2001:db8::1" in pair.checks[0].message
    assert a.kpi == "no"


def test_zone_and_host_pairs_in_one_requirement() -> None:
    reqs = (Requirement("mix", "Mix", Level.MANDATORY, 1.0, ("h.a", "z.d")),)
    prof = profile(requirements=reqs)
    findings = replace(all_pass(), "z.d", Status.FAIL)
    a = score(findings, prof, inventory=inv(["w.example", "v.example"], ["example"]))
    pairs = {(p.target_kind.value, p.target): p.status for p in a.pairs}
    # hosts judged on h.a only (v.example has no result: incomplete), the zone on z.d only
    assert pairs == {
        ("host", "w.example"): ReqStatus.PASS,
        ("host", "v.example"): ReqStatus.INCOMPLETE,
        ("zone", "example"): ReqStatus.FAIL,
    }
    assert a.score == 50.0


WAIVER = {
    "check": "h.a",
    "hosts": ["w.*"],
    "reason": "migration",
    "approved_by": "CIO",
    "expires": "2026-06-01",
    "line": 3,
}


def test_waiver_before_and_after_expiry() -> None:
    findings = replace(all_pass(), "h.a", Status.FAIL)
    inventory = inv(["w.example"], ["example"], [WAIVER])
    on_expiry_day = score(findings, inventory=inventory, today=date(2026, 6, 1))
    pair = next(p for p in on_expiry_day.pairs if p.requirement.id == "ra")
    assert pair.status == ReqStatus.WAIVED
    assert pair.checks[0].waiver is not None
    assert on_expiry_day.score == 100.0  # waived pairs are not counted
    assert on_expiry_day.counts["waived"] == 1
    assert on_expiry_day.failing() == []
    assert on_expiry_day.kpi == "no"  # waivers do not change facts

    after = score(findings, inventory=inventory, today=date(2026, 6, 2))
    pair = next(p for p in after.pairs if p.requirement.id == "ra")
    assert pair.status == ReqStatus.FAIL
    assert pair.checks[0].waiver is None
    assert pair.checks[0].expired_waiver is not None
    assert after.score == 62.5
    assert [c.check for c in after.waived()] == ["h.a"]


def test_waiver_does_not_cover_other_hosts_or_agencies() -> None:
    other = {
        "id": "other",
        "name": "Other",
        "domains": [],
        "hosts": [{"host": "w.example"}],
        "waivers": [],
    }
    findings = replace(all_pass(), "h.a", Status.FAIL)
    inventory = inv(["w.example"], ["example"], [{**WAIVER, "hosts": ["x.*"]}], [other])
    s = score_scan(profile(), inventory, findings, TODAY, scope_of=SCOPES.get)
    assert next(p for p in s.agency("ag").pairs if p.requirement.id == "ra").status == "fail"
    # shared host: a waiver of one owner does not waive it for the other
    inventory = inv(["w.example"], ["example"], [WAIVER], [other])
    s = score_scan(profile(), inventory, findings, TODAY, scope_of=SCOPES.get)
    assert next(p for p in s.agency("ag").pairs if p.requirement.id == "ra").status == "waived"
    assert next(p for p in s.agency("other").pairs if p.requirement.id == "ra").status == "fail"


def test_waiver_with_partly_passing_requirement() -> None:
    waiver = {**WAIVER, "check": "h.c"}
    findings = replace(all_pass(), "h.c", Status.FAIL)
    a = score(findings, inventory=inv(["w.example"], ["example"], [waiver]))
    assert next(p for p in a.pairs if p.requirement.id == "rb").status == ReqStatus.WAIVED


def test_no_hosts_no_score_kpi_na() -> None:
    a = score([], inventory=inv([], []))
    assert a.score is None and a.grade is None and a.kpi == "n/a"


def test_shares_and_ranking() -> None:
    other = {"id": "b", "name": "B", "domains": [], "hosts": [{"host": "v.example"}]}
    findings = [*all_pass(), f("h.a", "v.example", Status.FAIL)]
    s = score_scan(
        profile(),
        inv(["w.example"], ["example"], extra=[other]),
        findings,
        TODAY,
        scope_of=SCOPES.get,
    )
    share = next(x for x in s.shares if x.requirement.id == "ra")
    assert (share.agencies_pass, share.agencies_total) == (1, 2)
    assert (share.targets_pass, share.targets_total) == (1, 2)
    assert [a.id for a in s.ranked()] == ["ag", "b"]
    assert s.kpi_share() == (1, 2)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], ReqStatus.NOT_APPLICABLE),
        ([Status.NOT_APPLICABLE, Status.PASS], ReqStatus.PASS),
        ([Status.INFO], ReqStatus.PASS),
        ([Status.PASS, Status.WARN], ReqStatus.WARN),
        ([Status.WARN, Status.NOT_TESTED], ReqStatus.INCOMPLETE),
        ([Status.NOT_TESTED, Status.FAIL], ReqStatus.FAIL),
    ],
)
def test_pair_status_order(statuses: list[Status], expected: ReqStatus) -> None:
    from auditor.scoring import check_result

    results = [
        check_result("h.a", TargetKind.HOST, "w", [f("h.a", "w", s)], today=TODAY) for s in statuses
    ]
    assert pair_status(results) == expected


def test_never_scored_checks_do_not_decide_a_pair() -> None:
    reqs = (Requirement("ra", "A", Level.MANDATORY, 1.0, ("h.a", "i.i")),)
    findings = [f("h.a", "w.example", Status.PASS), f("i.i", "w.example", Status.FAIL)]
    s = score_scan(
        profile(requirements=reqs),
        inv(["w.example"], []),
        findings,
        TODAY,
        scope_of=SCOPES.get,
        scored_of=lambda c: c != "i.i",
    ).agency("ag")
    (pair,) = s.pairs
    assert pair.status == ReqStatus.PASS and s.score == 100.0
    assert [c.scored for c in pair.checks] == [True, False]
    assert s.failing() == []


def test_requirement_of_never_scored_checks_shows_but_never_counts() -> None:
    reqs = (
        Requirement("ra", "A", Level.MANDATORY, 1.0, ("h.a",)),
        Requirement("ri", "I", Level.MANDATORY, 1.0, ("i.i",)),
    )
    findings = [f("h.a", "w.example", Status.PASS), f("i.i", "w.example", Status.FAIL)]
    s = score_scan(
        profile(requirements=reqs),
        inv(["w.example"], []),
        findings,
        TODAY,
        scope_of=SCOPES.get,
        scored_of=lambda c: c != "i.i",
    ).agency("ag")
    ri = next(p for p in s.pairs if p.requirement.id == "ri")
    assert ri.status == ReqStatus.FAIL and not ri.counted
    assert s.score == 100.0


def test_credit_ignores_not_applicable_and_untested_checks() -> None:
    reqs = (Requirement("rb", "B", Level.MANDATORY, 1.0, ("h.b", "h.c", "a.x")),)
    findings = [
        f("h.b", "w.example", Status.WARN, score=0.75),
        f("h.c", "w.example", Status.NOT_TESTED),
        f("a.x", "w.example", Status.PASS, address="192.0.2.1"),
        f("a.x", "w.example", Status.NOT_APPLICABLE, address="2001:db8::1"),
    ]
    a = score(findings, profile(requirements=reqs))
    (pair,) = a.pairs
    # warn + not_tested = incomplete (not counted); make h.c pass and the warn's credit counts
    assert pair.status == ReqStatus.INCOMPLETE
    findings[1] = f("h.c", "w.example", Status.PASS)
    a = score(findings, profile(requirements=reqs))
    (pair,) = a.pairs
    assert pair.status == ReqStatus.WARN and pair.credit == 0.75
    assert a.score == 75.0
    ax = next(c for c in pair.checks if c.check == "a.x")
    assert ax.status == Status.PASS and ax.credit == 1.0


def test_kpi_no_when_a_host_does_not_resolve() -> None:
    reqs = (Requirement("ra", "A", Level.MANDATORY, 1.0, ("h.a",)),)
    gated = [f("h.a", "w.example", Status.NOT_TESTED), f("a.x", "w.example", Status.NOT_TESTED)]
    assert score(gated, profile(requirements=reqs)).kpi == "incomplete"
    resolve_failed = Finding("dns.resolve", TargetKind.HOST, "w.example", None, Status.FAIL, "nx")
    assert score([*gated, resolve_failed], profile(requirements=reqs)).kpi == "no"


# --------------------------------------------------------------------------- coverage


def test_coverage_is_the_tested_share_of_the_scored_weight() -> None:
    # Weights: ra 3, rb 1, rx 2, rd 2 (informational ri never counts).
    assert score(all_pass()).coverage == 100.0
    # ra (3 of 8) not tested: 5/8 tested.
    a = score(replace(all_pass(), "h.a", Status.NOT_TESTED))
    assert a.coverage == 62.5
    assert a.grade == "A" and not a.insufficient
    # error counts as untested as well; a failing pair is tested.
    b = score(replace(replace(all_pass(), "h.a", Status.ERROR), "z.d", Status.FAIL))
    assert b.coverage == 62.5
    assert (b.tested_weight, b.testable_weight) == (5.0, 8.0)


def test_little_tested_is_insufficient_data_not_grade_e() -> None:
    # Only rb (weight 1 of 8) was tested, and it fails: score 0 on 12.5 % coverage.
    findings = all_pass()
    for c in ("h.a", "a.x", "z.d"):
        findings = replace(findings, c, Status.NOT_TESTED)
    findings = replace(findings, "h.b", Status.FAIL)
    a = score(findings)
    assert a.score == 0.0
    assert a.coverage == 12.5
    assert a.insufficient
    assert a.grade is None  # today's main: "E"
    assert not a.capped
    # The threshold is the profile's.
    lenient = score(findings, profile(min_coverage=10.0))
    assert (lenient.grade, lenient.insufficient) == ("E", False)


def test_waived_and_not_applicable_pairs_in_coverage() -> None:
    waiver = {"check": "h.a", "hosts": ["w.example"], "reason": "r", "approved_by": "x"}
    findings = replace(all_pass(), "h.a", Status.FAIL)
    a = score(findings, inventory=inv(["w.example"], ["example"], [waiver]))
    assert a.coverage == 100.0  # a waiver covers an observed finding: tested
    # Not applicable: neither tested nor testable.
    b = score(replace(all_pass(), "z.d", Status.NOT_APPLICABLE))
    assert (b.tested_weight, b.testable_weight, b.coverage) == (6.0, 6.0, 100.0)
    # Nothing testable at all: no coverage, no score, not "insufficient".
    c = score([], inventory=inv([], []))
    assert (c.coverage, c.score, c.grade, c.insufficient) == (None, None, None, False)


def test_category_coverage() -> None:
    a = score(replace(all_pass(), "h.b", Status.NOT_TESTED))
    # ipv6_web holds h.a (ra, weight 3, tested) and h.b (rb, weight 1, untested).
    assert a.category_coverage["ipv6_web"] == 75.0
    assert a.category_coverage["tls"] == 100.0


def test_ranking_puts_insufficient_data_apart() -> None:
    prof = profile()
    untested = [f(c, "u.example", Status.NOT_TESTED) for c in ("h.a", "h.b", "h.c")]
    untested.append(f("h.b", "u.example", Status.PASS))  # the worst (not_tested) stays
    low = replace(all_pass("l.example", "l"), "h.a", Status.FAIL)  # 62.5, fully tested
    extra: list[dict[str, Any]] = [
        {"id": "un", "name": "Untested", "hosts": [{"host": "u.example"}], "domains": []},
        {"id": "lo", "name": "Low", "hosts": [{"host": "l.example"}], "domains": ["l"]},
        {"id": "none", "name": "Nothing", "hosts": [], "domains": []},
    ]
    untested += [f("a.x", "u.example", Status.PASS, address="192.0.2.9")]
    s = score_scan(
        prof,
        inv(["w.example"], ["example"], extra=extra),
        all_pass() + untested + low,
        TODAY,
        scope_of=SCOPES.get,
        category_of=lambda c: CATS.get(c, "other"),
    )
    un = s.agency("un")
    # u.example: ra untested (3), rb untested (1), rx tested (2): 2/6 = 33.3 % < 50.
    assert un.insufficient and un.score == 100.0 and un.grade is None
    order = [a.id for a in s.ranked()]
    # The 100-point agency with 33 % coverage is not ranked above the graded ones.
    assert order == ["ag", "lo", "un", "none"]
    assert s.insufficient_count() == 1
    assert s.coverage is not None and 0 < s.coverage < 100


def test_waiver_naming_a_check_by_its_old_id_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor import registry

    registry.load_checks()
    monkeypatch.setitem(registry._ALIASES, "h.old", "h.a")
    waiver = {"check": "h.old", "hosts": ["w.example"], "reason": "r", "approved_by": "x"}
    a = score(
        replace(all_pass(), "h.a", Status.FAIL), inventory=inv(["w.example"], ["example"], [waiver])
    )
    pair = next(p for p in a.pairs if p.requirement.id == "ra")
    assert pair.status == ReqStatus.WAIVED  # today's main: FAIL (the alias was not resolved)
    assert a.score == 100.0
