from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from auditor.gate import (
    EXIT_FAILED,
    EXIT_INCOMPLETE,
    EXIT_PASSED,
    GateUsageError,
    GateVerdict,
    decide,
    gate_inventory,
    junit_xml,
    markdown_summary,
    parse_resolve,
    parse_target,
)
from auditor.model import Finding, Scope, Status, TargetKind
from auditor.profiles import load_profile
from auditor.protocol.names import registrable_domain
from auditor.registry import get_check
from auditor.scoring import score_scan

XSD = Path(__file__).resolve().parents[1] / "data" / "junit.xsd"
HOST = "www.example.gov.vn"
ZONE = "example.gov.vn"
TODAY = date(2026, 11, 27)


def _findings(overrides: dict[str, Status] | None = None) -> list[Finding]:
    """A PASS finding for every check of vn-gov, on the right kind of target."""
    overrides = overrides or {}
    out = []
    for check_id in load_profile("vn-gov").check_ids():
        spec = get_check(check_id)
        status = overrides.get(check_id, Status.PASS)
        msg = f"{check_id} <b>|</b> says {status.value}"
        if spec.scope == Scope.ZONE:
            out.append(Finding(check_id, TargetKind.ZONE, ZONE, None, status, msg))
        elif spec.scope == Scope.ADDRESS:
            for addr in ("192.0.2.10", "2001:db8::10"):
                out.append(Finding(check_id, TargetKind.HOST, HOST, addr, status, msg))
        else:
            out.append(Finding(check_id, TargetKind.HOST, HOST, None, status, msg))
    return out


def _verdict(
    overrides: dict[str, Status] | None = None,
    fail_on: str = "mandatory",
    min_score: float | None = None,
) -> GateVerdict:
    profile = load_profile("vn-gov")
    inv = gate_inventory([HOST], [ZONE]).to_dict()
    return decide(score_scan(profile, inv, _findings(overrides), TODAY), fail_on, min_score)


def test_all_pass_exits_0() -> None:
    v = _verdict()
    assert v.code == EXIT_PASSED and v.score == 100.0
    assert all(i.status == "pass" for i in v.items)


def test_mandatory_failure_exits_1_naming_the_requirement() -> None:
    v = _verdict({"tls.protocols.legacy": Status.FAIL})
    assert v.code == EXIT_FAILED
    assert any("tls" in r and HOST in r for r in v.reasons)


def test_recommended_failure_only_fails_with_fail_on_recommended() -> None:
    rec = next(r for r in load_profile("vn-gov").requirements if r.level.value == "recommended")
    overrides = dict.fromkeys(rec.checks, Status.FAIL)
    assert _verdict(overrides).code == EXIT_PASSED
    assert _verdict(overrides, fail_on="recommended").code == EXIT_FAILED


def test_not_tested_exits_2_unless_something_failed() -> None:
    assert _verdict({"ipv6.web.reach": Status.NOT_TESTED}).code == EXIT_INCOMPLETE
    both = {"ipv6.web.reach": Status.NOT_TESTED, "tls.cert.trusted": Status.FAIL}
    assert _verdict(both).code == EXIT_FAILED


def test_min_score() -> None:
    rec = [r for r in load_profile("vn-gov").requirements if r.level.value == "recommended"]
    overrides = {c: Status.FAIL for r in rec for c in r.checks}
    v = _verdict(overrides)
    assert v.code == EXIT_PASSED and v.score is not None and v.score < 100
    assert _verdict(overrides, min_score=v.score).code == EXIT_PASSED
    assert _verdict(overrides, min_score=v.score + 1).code == EXIT_FAILED
    # With a requirement untested, a score that might still reach the bar is "incomplete".
    overrides["dns.dnssec"] = Status.NOT_TESTED
    assert _verdict(overrides, min_score=v.score + 0.5).code in (EXIT_INCOMPLETE, EXIT_FAILED)


def test_junit_validates_and_says_what_to_fix() -> None:
    v = _verdict({"tls.protocols.legacy": Status.FAIL, "ipv6.web.reach": Status.NOT_TESTED})
    xml = junit_xml(v, "vn-gov")
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    doc = etree.fromstring(xml)
    schema.assertValid(doc)
    failures = doc.findall(".//failure")
    assert failures and "tls.protocols.legacy" in failures[0].get("message")
    assert "Fix:" in (failures[0].text or "") and "nginx" in (failures[0].text or "")
    assert doc.findall(".//skipped")
    assert int(doc.get("tests")) == len(v.items)
    assert int(doc.get("failures")) == len(failures)


def test_junit_rejects_what_the_schema_forbids() -> None:
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert not schema.validate(etree.fromstring(b"<testsuites><testsuite name='x'/></testsuites>"))


def test_markdown_escapes_remote_text() -> None:
    v = _verdict({"http.hsts": Status.FAIL})
    md = markdown_summary(v, "vn-gov", [HOST])
    assert "<b>" not in md and "&lt;b&gt;" in md and "\\|" in md


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("www.example.gov.vn", "www.example.gov.vn"),
        ("https://WWW.Example.gov.vn/path?q=1", "www.example.gov.vn"),
        ("http://dịchvụcông.vn/", "xn--dchvcng-x0a0689dsha.vn"),
    ],
)
def test_parse_target(text: str, host: str) -> None:
    assert parse_target(text) == host


@pytest.mark.parametrize(
    "text", ["ftp://x.vn/", "https://x.vn:80/", "https://x.vn:99999/", "not a host", ""]
)
def test_parse_target_errors(text: str) -> None:
    with pytest.raises(GateUsageError):
        parse_target(text)


def test_parse_resolve() -> None:
    assert parse_resolve("new.example.vn:2001:db8::5") == ("new.example.vn", "2001:db8::5")
    assert parse_resolve("new.example.vn:[2001:db8::5]") == ("new.example.vn", "2001:db8::5")
    assert parse_resolve("new.example.vn:192.0.2.1") == ("new.example.vn", "192.0.2.1")
    for bad in ("new.example.vn", "new.example.vn:443", "new.example.vn:nope"):
        with pytest.raises(GateUsageError):
            parse_resolve(bad)


def test_registrable_domain_fallback() -> None:
    assert registrable_domain("staging.newagency.gov.vn") == "newagency.gov.vn"


def test_gate_output_carries_the_coverage() -> None:
    from auditor.gate import terminal_summary

    v = _verdict()
    assert v.coverage == 100.0
    assert terminal_summary(v, "vn-gov").splitlines()[0] == (
        "GATE PASSED (profile vn-gov, score 100.0, coverage 100 % tested)"
    )
    assert "(coverage 100 % tested)" in markdown_summary(v, "vn-gov", [HOST])


def test_recommended_only_untested_under_min_coverage_is_incomplete() -> None:
    # Every recommended requirement not tested, the mandatory ones pass: with vn-gov the
    # tested share stays high enough for a verdict...
    profile = load_profile("vn-gov")
    rec = [c for r in profile.requirements if r.level.value == "recommended" for c in r.checks]
    v = _verdict(dict.fromkeys(rec, Status.NOT_TESTED))
    assert v.coverage is not None and v.coverage >= profile.min_coverage
    assert v.code == EXIT_PASSED
    # ...but a verdict over less than min_coverage of the weight is no verdict at all.
    from dataclasses import replace

    strict = replace(profile, min_coverage=99.0)
    inv = gate_inventory([HOST], [ZONE]).to_dict()
    findings = _findings(dict.fromkeys(rec, Status.NOT_TESTED))
    v = decide(score_scan(strict, inv, findings, TODAY), "mandatory", None)
    assert v.code == EXIT_INCOMPLETE
    assert any("could be tested" in r and "min_coverage is 99 %" in r for r in v.reasons)


def test_non_standard_port_is_probed_as_the_service_port() -> None:
    from auditor.gate import parse_gate_target

    # Today's main refused the URL ("the gate tests the standard ports 80 and 443").
    assert parse_gate_target("https://staging.example.gov.vn:8443/") == (
        "staging.example.gov.vn",
        {443: 8443},
    )
    assert parse_gate_target("http://staging.example.gov.vn:8080/x") == (
        "staging.example.gov.vn",
        {80: 8080},
    )
    assert parse_gate_target("https://www.example.gov.vn:443/") == ("www.example.gov.vn", {})
    with pytest.raises(GateUsageError, match=r"give a URL such as https://x\.vn:8443/"):
        parse_gate_target("x.vn:8443")


@pytest.mark.parametrize(
    ("text", "addr"),
    [
        ("https://192.0.2.10/", "192.0.2.10"),
        ("https://[2001:db8::10]:8443/", "2001:db8::10"),
        ("192.0.2.10", "192.0.2.10"),
        ("2001:db8::10", "2001:db8::10"),
    ],
)
def test_ip_literal_says_what_to_do_instead(text: str, addr: str) -> None:
    from auditor.gate import parse_gate_target

    with pytest.raises(GateUsageError) as info:
        parse_gate_target(text)
    message = str(info.value)
    assert "the gate tests a host name" in message
    assert f"--resolve www.example.gov.vn:{addr}" in message


def test_gate_cli_ip_literal_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    from auditor.cli import main

    assert main(["gate", "https://192.0.2.10/"]) == 3
    assert "--resolve www.example.gov.vn:192.0.2.10" in capsys.readouterr().err


def test_port_map_options() -> None:
    from auditor.options import ScanOptions

    o = ScanOptions(port_map={"staging.example.gov.vn": {443: 8443}, "*": {80: 18080}})
    assert o.wire_port("staging.example.gov.vn", 443) == 8443
    assert o.wire_port("staging.example.gov.vn", 80) == 18080
    assert o.wire_port("www.example.gov.vn", 443) == 443
