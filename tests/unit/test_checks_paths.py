"""Department paths (issue #18, part 2): the Scope.PATH checks on built observations, the
engine's one target per path and address, and the scoring that counts a path for the agency
listing it only. Pure code, no network (the lab test is tests/lab/test_dept_paths.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from auditor.engine import evaluate_host, make_plan
from auditor.inventory import load_inventory
from auditor.model import Finding, Status, TargetKind, path_target, split_path_target
from auditor.obs import HostObservations
from auditor.obs.core import DnsAnswer, HostDns, Outcome, TcpProbe
from auditor.obs.http import HttpFetch, HttpObservation, HttpResponse, PathFetch, SubresourceRef
from auditor.profiles import load_profile
from auditor.protocol.html import insecure_subresources
from auditor.registry import CheckContext, get_check
from auditor.scoring import score_scan
from auditor.similarity import sketch

HOST = "cong.example.gov.vn"
V4, V6 = "192.0.2.10", "2001:db8::10"
GOOD = (
    ("Strict-Transport-Security", "max-age=31536000"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'self'"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Type", "text/html; charset=utf-8"),
)
PAGE = "<p>Sở Nội vụ: tin tức, thủ tục hành chính.</p>" * 30


def fetch(
    url: str, status: int = 200, headers: tuple[tuple[str, str], ...] = GOOD, body: str = PAGE
) -> HttpFetch:
    return HttpFetch(
        start_url=url,
        outcome=Outcome.OK,
        hops=(HttpResponse(url=url, status=status, headers=headers),),
        body=sketch(body, len(body)),
        tls_verified=True,
    )


def failed(url: str, outcome: str = Outcome.TIMEOUT) -> HttpFetch:
    return HttpFetch(start_url=url, outcome=outcome, detail="no answer")


def path_fetch(path: str, f: HttpFetch, insecure: tuple[SubresourceRef, ...] = ()) -> PathFetch:
    return PathFetch(path, f, insecure, page=bool(f.hops) and f.hops[-1].status == 200)


def host_obs(
    per_address: dict[str, tuple[PathFetch, ...]], paths: tuple[str, ...]
) -> HostObservations:
    v4 = tuple(a for a in per_address if ":" not in a)
    v6 = tuple(a for a in per_address if ":" in a)
    dns = HostDns(
        HOST,
        DnsAnswer(HOST, "A", Outcome.OK if v4 else Outcome.NODATA, v4),
        DnsAnswer(HOST, "AAAA", Outcome.OK if v6 else Outcome.NODATA, v6),
    )
    tcp = tuple(TcpProbe(a, p, Outcome.OPEN) for a in per_address for p in (80, 443))
    http = tuple(
        HttpObservation(a, Outcome.OK, https=fetch(f"https://{HOST}/"), paths=items)
        for a, items in per_address.items()
    )
    return HostObservations(host=HOST, dns=dns, tcp=tcp, http=http, paths=paths)


def judge(check: str, obs: HostObservations, address: str, path: str) -> Any:
    spec = get_check(check)
    ctx = CheckContext(HOST, spec.params, datetime.now(UTC), address=address, path=path)
    return spec.run(obs, ctx)


def test_names_of_path_targets() -> None:
    assert path_target(HOST, "/sonoivu/") == f"{HOST}/sonoivu/"
    assert split_path_target(f"{HOST}/a/b") == (HOST, "/a/b")


def test_reachable_per_family_and_the_path_only_over_ipv4() -> None:
    url = f"https://{HOST}/sob/"
    obs = host_obs(
        {
            V4: (path_fetch("/sob/", fetch(url)),),
            V6: (path_fetch("/sob/", fetch(url, 404, body="not found")),),
        },
        ("/sob/",),
    )
    assert judge("http.path.reachable", obs, V4, "/sob/").status == Status.PASS
    v6 = judge("http.path.reachable", obs, V6, "/sob/")
    assert v6.status == Status.FAIL
    assert "404" in v6.message
    same = judge("http.path.same_content", obs, V6, "/sob/")
    assert same.status == Status.FAIL
    assert "status 200 over IPv4, 404 over IPv6" in same.message
    assert judge("http.path.same_content", obs, V4, "/sob/").status == Status.NOT_APPLICABLE


def test_a_silent_address_is_a_failure_and_a_missing_fetch_is_not_tested() -> None:
    url = f"https://{HOST}/soa/"
    obs = host_obs(
        {V4: (path_fetch("/soa/", fetch(url)),), V6: (path_fetch("/soa/", failed(url)),)},
        ("/soa/", "/later/"),
    )
    v = judge("http.path.reachable", obs, V6, "/soa/")
    assert v.status == Status.FAIL
    assert "timeout" in v.message
    # A path the probe did not get to (the deadline, the cap) is not the agency's failure.
    missing = judge("http.path.reachable", obs, V4, "/later/")
    assert missing.status == Status.NOT_TESTED


def test_same_content_compares_the_pages() -> None:
    url = f"https://{HOST}/soc/"
    other = "<p>Maintenance. This IPv6 front end is an old server; call IT.</p>" * 30
    obs = host_obs(
        {
            V4: (path_fetch("/soc/", fetch(url)),),
            V6: (path_fetch("/soc/", fetch(url, body=other)),),
        },
        ("/soc/",),
    )
    v = judge("http.path.same_content", obs, V6, "/soc/")
    assert v.status == Status.FAIL
    assert "differs" in v.message
    assert v.score is not None and v.score < 0.9
    same = host_obs(
        {V4: (path_fetch("/soc/", fetch(url)),), V6: (path_fetch("/soc/", fetch(url)),)},
        ("/soc/",),
    )
    assert judge("http.path.same_content", same, V6, "/soc/").status == Status.PASS


def test_headers_lost_on_the_path_are_named_with_the_root_sending_them() -> None:
    url = f"https://{HOST}/soa/"
    bare = (("Content-Type", "text/html"),)
    obs = host_obs({V4: (path_fetch("/soa/", fetch(url, headers=bare)),)}, ("/soa/",))
    v = judge("http.path.headers", obs, V4, "/soa/")
    assert v.status == Status.FAIL
    assert "X-Content-Type-Options" in v.message
    assert "the path drops them" in v.message
    assert v.score == 0.0
    assert v.evidence["root_sends"]
    framing_by_csp = (
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
        ("Referrer-Policy", "same-origin"),
    )
    ok = host_obs({V4: (path_fetch("/soa/", fetch(url, headers=framing_by_csp)),)}, ("/soa/",))
    assert judge("http.path.headers", ok, V4, "/soa/").status == Status.PASS
    gone = host_obs({V4: (path_fetch("/soa/", fetch(url, 404)),)}, ("/soa/",))
    assert judge("http.path.headers", gone, V4, "/soa/").status == Status.NOT_APPLICABLE


def test_mixed_content_active_fails_passive_warns() -> None:
    url = f"https://{HOST}/soa/"
    script = SubresourceRef("http://cdn.example.vn/a.js", "script", "cdn.example.vn")
    img = SubresourceRef("http://cdn.example.vn/a.png", "img", "cdn.example.vn")
    active = host_obs({V4: (path_fetch("/soa/", fetch(url), (script, img)),)}, ("/soa/",))
    v = judge("http.path.mixed_content", active, V4, "/soa/")
    assert v.status == Status.FAIL
    assert v.evidence["active"] == ["http://cdn.example.vn/a.js"]
    assert v.evidence["passive"] == ["http://cdn.example.vn/a.png"]
    passive = host_obs({V4: (path_fetch("/soa/", fetch(url), (img,)),)}, ("/soa/",))
    assert judge("http.path.mixed_content", passive, V4, "/soa/").status == Status.WARN
    clean = host_obs({V4: (path_fetch("/soa/", fetch(url)),)}, ("/soa/",))
    assert judge("http.path.mixed_content", clean, V4, "/soa/").status == Status.PASS


def test_insecure_subresources_of_a_page() -> None:
    html = (
        '<base href="https://cong.example.gov.vn/soa/">'
        '<script src="http://cong.example.gov.vn/app.js"></script>'
        '<img src="logo.png"><img srcset="http://cdn.example.vn/x.png 2x">'
        '<!-- <script src="http://commented.example/x.js"></script> -->'
        '<a href="http://link.example/">a link is no subresource</a>'
    )
    refs = insecure_subresources(html, "https://cong.example.gov.vn/soa/")
    assert [(r.tag, r.url) for r in refs] == [
        ("script", "http://cong.example.gov.vn/app.js"),
        ("img", "http://cdn.example.vn/x.png"),
    ]


def test_the_engine_makes_one_path_target_per_path_and_address() -> None:
    url = f"https://{HOST}/soa/"
    obs = host_obs(
        {V4: (path_fetch("/soa/", fetch(url)),), V6: (path_fetch("/soa/", fetch(url)),)},
        ("/soa/",),
    )
    specs = [get_check(c) for c in ("http.path.reachable", "http.path.headers")]
    plan = make_plan([HOST], [], specs, paths={HOST: ["/soa/"]})
    findings = evaluate_host(obs, plan, datetime.now(UTC))
    assert {(f.target_kind, f.target, f.address, f.check) for f in findings} == {
        (TargetKind.PATH, f"{HOST}/soa/", a, c)
        for a in (V4, V6)
        for c in ("http.path.reachable", "http.path.headers")
    }
    # A host that did not resolve: each path is not tested, once, with the reason.
    unresolved = HostObservations(
        host=HOST,
        dns=HostDns(
            HOST,
            DnsAnswer(HOST, "A", Outcome.NXDOMAIN),
            DnsAnswer(HOST, "AAAA", Outcome.NXDOMAIN),
        ),
        paths=("/soa/",),
    )
    out = evaluate_host(unresolved, plan, datetime.now(UTC))
    assert {(f.target, f.address, f.status) for f in out} == {
        (f"{HOST}/soa/", None, Status.NOT_TESTED)
    }


def test_inventory_host_paths(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "version: 1\nname: T\nagencies:\n"
        f"  - {{id: p, name: P, hosts: [{{host: {HOST}, paths: ['/', '/x/']}}]}}\n"
        f"  - {{id: a, name: A, hosts: [{{host: {HOST}, paths: ['/soa/', '/x/']}}]}}\n"
        "  - {id: b, name: B, hosts: [other.example.gov.vn]}\n",
        encoding="utf-8",
    )
    assert load_inventory(inv).host_paths() == {HOST: ("/x/", "/soa/")}


def _snapshot() -> dict[str, Any]:
    def agency(agency_id: str, paths: list[str]) -> dict[str, Any]:
        return {
            "id": agency_id,
            "name": agency_id,
            "parent": None,
            "tags": [],
            "domains": [],
            "hosts": [{"host": HOST, "display": HOST, "paths": paths}],
            "waivers": [],
        }

    return {"path": "/tmp/i.yaml", "agencies": [agency("cong", ["/"]), agency("so-a", ["/soa/"])]}


def test_a_path_counts_for_the_agency_listing_it_only() -> None:
    profile = load_profile("vn-gov")
    target = f"{HOST}/soa/"
    findings = [
        Finding(c, TargetKind.PATH, target, a, Status.FAIL, "bad")
        for c in ("http.path.reachable", "http.path.same_content")
        for a in (V4, V6)
    ]
    score = score_scan(profile, _snapshot(), findings, date(2026, 12, 3))
    cong, so_a = score.agency("cong"), score.agency("so-a")
    assert so_a.agency.paths == (target,)
    assert cong.agency.paths == ()
    assert [p.target for p in cong.pairs if p.target_kind == TargetKind.PATH] == []
    dept = [p for p in so_a.pairs if p.requirement.id == "dept-path-ipv6"]
    assert [(p.target, p.status.value) for p in dept] == [(target, "fail")]


def test_a_scanner_without_ipv6_never_fails_the_department_over_ipv6() -> None:
    """The scanner's own missing IPv6 (auditor.selfcheck) makes the path's IPv6 verdicts
    not_tested, never a failure of the department: its IPv4 verdicts stand."""
    from auditor.selfcheck import FamilyFooting, Footing, FootStatus, ResolverFooting

    url = f"https://{HOST}/sob/"
    obs = host_obs(
        {V4: (path_fetch("/sob/", fetch(url)),), V6: (path_fetch("/sob/", failed(url)),)},
        ("/sob/",),
    )
    # What a scanner without IPv6 records: the v6 connects failed on its side.
    obs = HostObservations(
        host=obs.host,
        dns=obs.dns,
        tcp=tuple(
            TcpProbe(p.address, p.port, Outcome.UNREACHABLE if ":" in p.address else p.outcome)
            for p in obs.tcp
        ),
        http=obs.http,
        paths=obs.paths,
    )
    footing = Footing(
        "2026-12-03T00:00:00+00:00",
        FamilyFooting("ipv6", FootStatus.DOWN, "the scanner has no global IPv6 address"),
        FamilyFooting("ipv4", FootStatus.OK, "IPv4: default route"),
        ResolverFooting(FootStatus.OK, "resolver answers"),
    )
    specs = [get_check(c) for c in ("http.path.reachable", "http.path.same_content")]
    plan = make_plan([HOST], [], specs, paths={HOST: ["/sob/"]})
    found = evaluate_host(obs, plan, datetime.now(UTC), footing)
    by = {(f.check, f.address): f for f in found}
    for check in ("http.path.reachable", "http.path.same_content"):
        assert by[(check, V6)].status == Status.NOT_TESTED, by[(check, V6)]
        assert "no global IPv6" in by[(check, V6)].message
    assert by[("http.path.reachable", V4)].status == Status.PASS
    # The same observations judged with a sound footing: the IPv6 timeout is the host's.
    sound = {(f.check, f.address): f for f in evaluate_host(obs, plan, datetime.now(UTC))}
    assert sound[("http.path.reachable", V6)].status == Status.FAIL
