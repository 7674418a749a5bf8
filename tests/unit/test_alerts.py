"""Regression alerts (auditor.alerts), the pure parts: which changes are alerts, the
messages in Vietnamese and English, header injection, the webhook signature, the
transport settings, and the profile/inventory fields they read. No network here: the
transports against real servers are tests/integration/test_notify.py."""

from __future__ import annotations

import copy
import email
import email.policy
import hashlib
import hmac
import json
import textwrap
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from auditor.alerts import (
    AgencyAlerts,
    AlertConfigError,
    AlertTransports,
    ScanAlerts,
    agency_alerts,
    check_address,
    notify_scan,
    predecessor,
    render_agency,
    safe_header,
    sign,
    verify_signature,
)
from auditor.alerts.webhook import body_of, payload
from auditor.inventory import InventoryError, load_inventory
from auditor.model import Finding, Status, TargetKind
from auditor.profiles import Profile, ProfileError, load_profile, parse_profile
from auditor.scoring import score_scan
from auditor.store import ScanRecord
from tests.support.factories import (
    HOSTILE,
    V4,
    V6,
    findings_for,
    full_registry,
    inventory,
    make_store,
)

__all__ = ["full_registry"]

S = Status
PORTAL = "portal.example.gov.vn"
SNV = "snv.example.gov.vn"
TEAM = ("soc@example.gov.vn",)
SENDER = "auditor@example.gov.vn"


def _scan(scan_id: int, inv: dict[str, Any], profile: str = "vn-gov", **kw: Any) -> ScanRecord:
    return ScanRecord(
        id=scan_id,
        started=f"2026-12-0{scan_id}T02:00:00+00:00",
        finished=f"2026-12-0{scan_id}T02:30:00+00:00",
        status=kw.pop("status", "complete"),
        kind=kw.pop("kind", "scan"),
        source_scan=None,
        profile=profile,
        inventory_path="/tmp/inv.yaml",
        inventory_name="Tỉnh Thử nghiệm",
        inventory=inv,
        options={},
        tool_version="test",
        stats={},
    )


def _with(
    fs: list[Finding], target: str, check: str, verdict: Status, /, **evidence: Any
) -> list[Finding]:
    """``fs`` with every finding of (target, check) set to ``verdict`` and ``evidence``."""
    return [
        replace(
            f, status=verdict, evidence=dict(evidence), message=f"{check} {verdict.value} {HOSTILE}"
        )
        if f.target == target and f.check == check
        else f
        for f in fs
    ]


def _alerts(
    before: list[Finding],
    after: list[Finding],
    profile: Profile | None = None,
    inv: dict[str, Any] | None = None,
) -> dict[str, AgencyAlerts]:
    profile = profile or load_profile("vn-gov")
    inv = inv or inventory()
    b, a = _scan(1, inv), _scan(2, inv)
    today = date(2026, 12, 2)
    out = agency_alerts(
        b,
        a,
        before,
        after,
        score_scan(profile, inv, before, today),
        score_scan(profile, inv, after, today),
    )
    return {x.id: x for x in out}


def _kinds(x: AgencyAlerts) -> list[tuple[str, str]]:
    return [(a.kind, a.target) for a in x.alerts]


# --------------------------------------------------------------------------- classification


def test_identical_scans_give_nothing(full_registry: None) -> None:
    fs = findings_for()
    result = _alerts(fs, list(fs))
    assert all(not a.worth_sending for a in result.values())


def test_requirement_newly_failing_and_improvement(full_registry: None) -> None:
    before = findings_for({(SNV, "http.csp"): S.FAIL})
    after = findings_for({(SNV, "http.hsts"): S.FAIL})
    snv = _alerts(before, after)["so-noi-vu"]
    failing = [a for a in snv.alerts if a.kind == "requirement_failing"]
    assert [(a.target, a.requirement, a.before, a.after) for a in failing] == [
        (SNV, "https-enforced", "pass", "fail")
    ]
    assert HOSTILE in failing[0].detail  # the finding's own words (escaped when shown)
    assert [(i.target, i.before, i.after) for i in snv.improvements] == [(SNV, "fail", "pass")]
    csp = next(r.id for r in load_profile("vn-gov").requirements if "http.csp" in r.checks)
    assert snv.improvements[0].requirement == csp


def test_ipv6_unreachable_is_one_alert_not_two(full_registry: None) -> None:
    """The portal dark over IPv6: its requirement fails too, but one thing to fix is said
    once (for each agency that lists the portal)."""
    after = findings_for({(PORTAL, "ipv6.web.reach"): S.FAIL})
    result = _alerts(findings_for(), after)
    assert _kinds(result["so-noi-vu"]) == [("ipv6_unreachable", PORTAL)]
    assert _kinds(result["ubnd"]) == [("ipv6_unreachable", PORTAL)]
    assert result["empty"].alerts == ()
    aaaa = _alerts(findings_for(), findings_for({(PORTAL, "ipv6.web.aaaa"): S.FAIL}))
    assert ("ipv6_unreachable", PORTAL) in _kinds(aaaa["ubnd"])


@pytest.mark.parametrize("limit", [S.NOT_TESTED, S.ERROR])
def test_scanner_limits_are_never_alerts(full_registry: None, limit: Status) -> None:
    """pass -> not_tested (the scanner had no IPv6, a resolver timed out) and back."""
    checks = ("ipv6.web.reach", "ipv6.web.aaaa", "http.hsts", "dns.dnssec", "tls.cert.expiry")
    worse = {(t, c): limit for t in (PORTAL, SNV, "ubnd.example.gov.vn") for c in checks}
    for before, after in (
        (findings_for(), findings_for(worse)),
        (findings_for(worse), findings_for()),
    ):
        assert all(not a.worth_sending for a in _alerts(before, after).values())
    # not_tested -> fail: nothing regressed from a state the scanner never saw
    failing = {k: S.FAIL for k in worse}
    assert all(a.alerts == () for a in _alerts(findings_for(worse), findings_for(failing)).values())


def test_certificate_expiring_enters_the_window_once(full_registry: None) -> None:
    end = "2026-12-12T00:00:00+00:00"
    fresh = _with(
        findings_for(),
        PORTAL,
        "tls.cert.expiry",
        S.PASS,
        days_left=80,
        not_after="2027-02-20T00:00:00+00:00",
    )
    soon = _with(findings_for(), PORTAL, "tls.cert.expiry", S.WARN, days_left=10, not_after=end)
    (alert,) = _alerts(fresh, soon)["ubnd"].alerts
    assert (alert.kind, alert.target, alert.days_left, alert.not_after) == (
        "certificate_expiring",
        PORTAL,
        10,
        end,
    )
    assert alert.address == f"{V4}, {V6}"  # one certificate, both addresses: one alert
    # still in the window with the same certificate a week later: nothing new to say
    later = _with(findings_for(), PORTAL, "tls.cert.expiry", S.WARN, days_left=3, not_after=end)
    assert _alerts(soon, later)["ubnd"].alerts == ()
    # renewed with another short certificate: new
    other = _with(
        findings_for(),
        PORTAL,
        "tls.cert.expiry",
        S.WARN,
        days_left=5,
        not_after="2026-12-07T00:00:00+00:00",
    )
    assert [a.kind for a in _alerts(soon, other)["ubnd"].alerts] == ["certificate_expiring"]


def test_certificate_window_is_the_profile_parameter(full_registry: None) -> None:
    fresh = _with(
        findings_for(),
        PORTAL,
        "tls.cert.expiry",
        S.PASS,
        days_left=80,
        not_after="2027-02-20T00:00:00+00:00",
    )
    soon = _with(
        findings_for(),
        PORTAL,
        "tls.cert.expiry",
        S.WARN,
        days_left=25,
        not_after="2026-12-27T00:00:00+00:00",
    )
    assert _alerts(fresh, soon)["ubnd"].alerts == ()  # 25 > 21 (vn-gov)
    wide = replace(load_profile("vn-gov"), alert_cert_days=30)
    assert [a.days_left for a in _alerts(fresh, soon, wide)["ubnd"].alerts] == [25]


@pytest.mark.parametrize(
    ("before_status", "before_state", "alert"),
    [
        (S.PASS, "secure", True),
        (S.FAIL, "insecure", True),  # fail -> fail, but now bogus: still news
        (S.NOT_TESTED, "unknown", False),  # the scanner's limit: nothing to turn from
        (S.FAIL, "bogus", False),  # was bogus already
    ],
)
def test_dnssec_turned_bogus(
    full_registry: None, before_status: Status, before_state: str, alert: bool
) -> None:
    before = _with(findings_for(), SNV, "dns.dnssec", before_status, status=before_state)
    after = _with(findings_for(), SNV, "dns.dnssec", S.FAIL, status="bogus")
    kinds = [a.kind for a in _alerts(before, after)["so-noi-vu"].alerts]
    assert ("dnssec_bogus" in kinds) is alert
    if alert:
        assert "requirement_failing" not in kinds or before_status != S.PASS


def test_vantage_only_in_one_scan_is_not_compared(full_registry: None) -> None:
    before = findings_for()
    after = [
        replace(f, vantage="isp-b") for f in findings_for({(PORTAL, "ipv6.web.reach"): S.FAIL})
    ]
    assert all(x.alerts == () for x in _alerts(before, after).values())


def test_predecessor_same_inventory_and_profile() -> None:
    inv = inventory()
    scans = [
        _scan(1, inv),
        _scan(2, inv, profile="ncsc-nl"),
        _scan(3, inv, status="interrupted"),
        _scan(4, inv, kind="gate"),
        _scan(5, inv),
    ]
    assert predecessor(scans, scans[4]) == scans[0]
    assert predecessor(scans, scans[0]) is None


def test_notify_scan_dry_run_from_a_store(full_registry: None, tmp_path: Path) -> None:
    store, (first, second, third) = make_store(
        tmp_path / "s.db", scans=[{}, {(SNV, "http.hsts"): S.FAIL}, {(SNV, "http.hsts"): S.FAIL}]
    )
    with store:
        report = notify_scan(store, str(second), AlertTransports(), dry_run=True)
        assert report.previous_id == first
        assert [m.agency for m in report.messages] == ["so-noi-vu"]
        assert report.deliveries == () and report.payload is None
        same = notify_scan(store, third, AlertTransports(), dry_run=True)
        assert same.nothing_changed and same.messages == ()
        alone = notify_scan(store, first, AlertTransports(), dry_run=True)
        assert alone.previous_id is None and alone.messages == ()
        with pytest.raises(KeyError):
            notify_scan(store, "abc", AlertTransports(), dry_run=True)


# --------------------------------------------------------------------------- messages


def _inv_with(**agency: Any) -> dict[str, Any]:
    inv = copy.deepcopy(inventory())
    inv["agencies"][0].update(agency)
    return inv


def _one_message(language: str = "vi", **agency: Any) -> tuple[Any, str]:
    inv = _inv_with(language=language, **agency)
    before = findings_for({(SNV, "http.csp"): S.FAIL})
    after = _with(
        _with(findings_for({(SNV, "http.hsts"): S.FAIL}), PORTAL, "ipv6.web.reach", S.FAIL),
        PORTAL,
        "tls.cert.expiry",
        S.WARN,
        days_left=9,
        not_after="2026-12-11T00:00:00+00:00",
    )
    profile = load_profile("vn-gov")
    result = _alerts(before, after, profile, inv)
    mine = result["so-noi-vu"]
    scan = ScanAlerts(_scan(2, inv), _scan(1, inv), profile, (mine,))
    message, note = render_agency(scan, mine, SENDER, TEAM)
    assert message is not None
    return message, note


def test_vietnamese_message(full_registry: None) -> None:
    m, note = _one_message("vi", contact="cntt@snv.example.gov.vn")
    assert note == ""
    assert (m.to, m.cc, m.language) == (("cntt@snv.example.gov.vn",), TEAM, "vi")
    assert (
        m.subject == "[Kiểm định IPv6] Sở Nội vụ: 3 cảnh báo, 1 cải thiện (lần quét #2, 02/12/2026)"
    )
    for words in (
        "Kính gửi Sở Nội vụ,",
        "Yêu cầu chuyển sang không đạt (1)",
        "Chứng thư số sắp hết hạn (1)",
        "hết hạn ngày 11/12/2026, còn 9 ngày",
        "Không còn truy cập được qua IPv6 (1)",
        "Cải thiện (1):",
        "từ Đạt chuyển sang Không đạt",
        "Cách khắc phục: Kiểm tra tường lửa và ACL cho IPv6",  # the reports' Vietnamese fix
        'kiểm tra "Máy chủ web truy cập được qua IPv6"',
    ):
        assert words in m.text, words
    assert "Dear" not in m.text and "Kính gửi" in m.html and 'lang="vi"' in m.html
    print(f"--- vi ---\nSubject: {m.subject}\n\n{m.text}")


def test_english_message(full_registry: None) -> None:
    m, _ = _one_message("en", contact="cntt@snv.example.gov.vn")
    assert m.language == "en"
    assert m.subject.startswith(
        "[IPv6 auditor] Department of Home Affairs: 3 alerts, 1 improvement"
    )
    for words in (
        "Dear Department of Home Affairs,",
        "Requirements now failing (1)",
        "Certificates expiring soon (1)",
        "expires on 2026-12-11, 9 days left",
        "No longer reachable over IPv6 (1)",
        "Improvements (1):",
        "went from pass to fail",
        "How to fix: Automate renewal (ACME",  # tls.cert.expiry's general remediation
        'check "Every IPv6 address of the web host accepts connections',
    ):
        assert words in m.text, words
    assert "Kính gửi" not in m.text and 'lang="en"' in m.html
    print(f"--- en ---\nSubject: {m.subject}\n\n{m.text}")


def test_hostile_strings_are_escaped_and_kept_on_one_line(full_registry: None) -> None:
    m, _ = _one_message("en", name_en=f"Evil\r\nBcc: x@evil.example {HOSTILE}")
    assert "\r" not in m.subject and "\n" not in m.subject
    assert "<script>" not in m.html and "&lt;script&gt;" in m.html
    assert HOSTILE in m.text  # plain text: harmless, shown as it is
    parsed = email.message_from_bytes(m.to_email().as_bytes(), policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert parsed["To"] == ", ".join(TEAM)
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]


@pytest.mark.parametrize(
    "contact",
    [
        "cntt@snv.example.gov.vn\r\nBcc: x@evil.example",
        "Cntt <cntt@snv.example.gov.vn>",
        "a@b, c@d",
        "no-at-sign",
    ],
)
def test_contact_that_is_not_a_plain_address_is_not_used(full_registry: None, contact: str) -> None:
    m, note = _one_message("vi", contact=contact)
    assert m.to == TEAM and m.cc == ()
    assert "not a plain address" in note and "\n" not in note


def test_header_helpers() -> None:
    assert safe_header("a\r\nBcc: b\x00c") == "a Bcc: b c"
    assert check_address("cntt@snv.example.gov.vn") == "cntt@snv.example.gov.vn"
    for bad in (
        "a@b\r\n",
        "a@b\nBcc: c@d",
        "a b@c",
        "<a@b>",
        "a@@b",
        "a@b..c",
        "@b",
        "a@",
        "x" * 250 + "@b.vn",
    ):
        assert check_address(bad) is None, bad


def test_webhook_payload_and_signature(full_registry: None) -> None:
    inv = _inv_with(contact="cntt@snv.example.gov.vn")
    result = _alerts(findings_for(), findings_for({(SNV, "http.hsts"): S.FAIL}), inv=inv)
    scan = ScanAlerts(_scan(2, inv), _scan(1, inv), load_profile("vn-gov"), (result["so-noi-vu"],))
    doc = payload(scan)
    assert doc["version"] == 1 and doc["event"] == "scan.alerts"
    assert doc["scan"]["id"] == 2 and doc["previous_scan"]["id"] == 1
    assert doc["summary"] == {"agencies": 1, "alerts": 1, "improvements": 0}
    (agency,) = doc["agencies"]
    assert agency["contact"] == "cntt@snv.example.gov.vn" and agency["language"] == "vi"
    assert agency["alerts"][0]["kind"] == "requirement_failing"
    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "docs/alerts.schema.json").read_text()
    )
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema)
    bad = copy.deepcopy(doc)
    bad["agencies"][0]["alerts"][0]["kind"] = "something_else"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    body = body_of(doc)
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(b"k", "1700000000", body) == f"sha256={expected}"
    sig = sign(b"k", "1700000000", body)
    assert verify_signature(b"k", "1700000000", body, sig, now=1700000100)
    assert not verify_signature(b"k", "1700000000", body + b" ", sig, now=1700000100)
    assert not verify_signature(b"other", "1700000000", body, sig, now=1700000100)
    assert not verify_signature(b"k", "1700000000", body, sig, now=1700000000 + 301)  # replay
    assert not verify_signature(b"k", "1700000001", body, sig, now=1700000100)
    assert not verify_signature(b"k", "soon", body, sig, now=1700000100)


# --------------------------------------------------------------------------- settings


def _from(mapping: dict[str, object]) -> AlertTransports:
    return AlertTransports.from_mapping(mapping, "schedule.yaml: alerts")


SMTP_OK: dict[str, object] = {
    "smtp": "smtp://mail.example.gov.vn",
    "from": SENDER,
    "team": "soc@example.gov.vn",
}


def test_transports_from_mapping(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AUDITOR_SMTP_PASSWORD", raising=False)
    monkeypatch.setenv("HOOK_KEY", "s3cret-" * 6)
    t = _from(
        {**SMTP_OK, "webhook": "https://soc.example.gov.vn/hook", "webhook_secret_env": "HOOK_KEY"}
    )
    assert t.smtp is not None and t.webhook is not None
    assert (t.smtp.host, t.smtp.port, t.smtp.security, t.smtp.team) == (
        "mail.example.gov.vn",
        587,
        "starttls",
        TEAM,
    )
    assert t.webhook.secret == b"s3cret-" * 6 and "s3cret" not in repr(t)
    assert _from({**SMTP_OK, "smtp": "smtps://mail.example.gov.vn"}).smtp.port == 465  # type: ignore[union-attr]
    relay = _from({**SMTP_OK, "smtp": "smtp://10.0.0.25", "relay": True}).smtp
    assert relay is not None and (relay.port, relay.security, relay.user) == (25, "relay", None)
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n", encoding="utf-8")
    auth = _from({**SMTP_OK, "user": "auditor", "password_file": str(secret)}).smtp
    assert auth is not None and auth.password == "hunter2" and "hunter2" not in repr(auth)
    monkeypatch.setenv("AUDITOR_SMTP_PASSWORD", "from-env")
    url_user = _from({**SMTP_OK, "smtp": "smtp://auditor@mail.example.gov.vn:2525"}).smtp
    assert url_user is not None
    assert (url_user.user, url_user.port, url_user.password) == ("auditor", 2525, "from-env")
    assert _from({}).empty


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"smtp": "ftp://mail.example.gov.vn"}, "alerts.smtp", "expected smtp://"),
        ({"smtp": "smtp://mail.example.gov.vn:99999"}, "alerts.smtp", "smtp"),
        ({"smtp": "smtp://u:pw@mail.example.gov.vn"}, "alerts.smtp", "environment variable"),
        ({"smtp": "smtp://mail.example.gov.vn\r\nX: y"}, "alerts.smtp", "control characters"),
        ({"relay": True, "user": "auditor", "password_env": "PW"}, "alerts.user", "unencrypted"),
        ({"user": "auditor"}, "alerts.user", "needs a password"),
        ({"password_env": "NOT_SET_ANYWHERE"}, "alerts.password_env", "is not set"),
        ({"from": "a@b\r\nBcc: c@d"}, "alerts.from", "control characters"),
        ({"from": "Auditor <a@b.vn>"}, "alerts.from", "not a plain"),
        ({"team": ["soc@b.vn", "x y@b.vn"]}, "alerts.team", "not a plain"),
        ({"team": None}, "alerts.team", "required"),
        ({"security": "tls"}, "alerts.security", "expected one of"),
        ({"ssl": True, "relay": True}, "alerts.security", "choose one"),
        ({"bcc": "x@y.vn"}, "alerts.bcc", "unknown key"),
        ({"webhook": "ftp://x.example"}, "alerts.webhook", "http:// or https://"),
        ({"webhook": "https://u:p@x.example/h"}, "alerts.webhook", "no credentials"),
        ({"webhook": "https://x.example/h"}, "alerts.webhook", "signed"),
        (
            {"webhook": "https://x.example/h", "webhook_secret_env": "PW"},
            "alerts.webhook",
            "openssl rand -hex 32",
        ),
        ({"timeout": 0}, "alerts.timeout", "between 0 and 300"),
    ],
)
def test_transport_errors_name_the_field(
    monkeypatch: pytest.MonkeyPatch, changes: dict[str, object], field: str, words: str
) -> None:
    monkeypatch.delenv("AUDITOR_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("AUDITOR_WEBHOOK_SECRET", raising=False)
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    monkeypatch.setenv("PW", "x")
    mapping = {**SMTP_OK, **changes}
    mapping = {k: v for k, v in mapping.items() if v is not None}
    with pytest.raises(AlertConfigError) as info:
        _from(mapping)
    assert str(info.value).startswith(f"schedule.yaml: {field}: "), str(info.value)
    assert words in str(info.value)


def test_profile_alert_days(full_registry: None) -> None:
    base = textwrap.dedent(
        """\
        name: test
        title: Test profile
        requirements:
          - {id: web, title: Web, level: mandatory, weight: 2, checks: [ipv6.web.aaaa]}
        """
    )
    assert parse_profile(base, "p.yaml").alert_cert_days == 21
    assert (
        parse_profile(base + "alerts: {certificate_expiry_days: 45}\n", "p.yaml").alert_cert_days
        == 45
    )
    assert load_profile("vn-gov").alert_cert_days == 21
    for bad, words in (
        ("0", "between 1 and 365"),
        ("2.5", "whole number"),
        ("'x'", "whole number"),
    ):
        with pytest.raises(ProfileError) as info:
            parse_profile(base + f"alerts: {{certificate_expiry_days: {bad}}}\n", "p.yaml")
        assert info.value.problems[0][1] == "alerts.certificate_expiry_days"
        assert words in info.value.problems[0][2]
    with pytest.raises(ProfileError) as info:
        parse_profile(base + "alerts: {days: 3}\n", "p.yaml")
    assert info.value.problems[0][:2] == (5, "alerts.days")


def test_inventory_language(tmp_path: Path) -> None:
    text = textwrap.dedent(
        """\
        version: 1
        agencies:
          - id: a
            name: "Sở A"
            contact: cntt@a.example.gov.vn
            language: en
            hosts: [www.a.example.gov.vn]
          - id: b
            name: "Sở B"
            hosts: [www.b.example.gov.vn]
        """
    )
    path = tmp_path / "inv.yaml"
    path.write_text(text, encoding="utf-8")
    a, b = load_inventory(path).agencies
    assert (a.language, b.language) == ("en", "vi")
    assert a.to_dict()["language"] == "en"
    path.write_text(text.replace("language: en", "language: fr"), encoding="utf-8")
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert (info.value.line, info.value.field) == (6, "agencies[0].language")
    assert "vi, en" in info.value.message


def test_not_a_finding_of_an_agency_target(full_registry: None) -> None:
    """A target of no agency (an orphan in the findings) tells nobody anything."""
    extra = Finding("ipv6.web.reach", TargetKind.HOST, "orphan.example", None, S.PASS, "m")
    gone = replace(extra, status=S.FAIL)
    result = _alerts([*findings_for(), extra], [*findings_for(), gone])
    assert all(x.alerts == () for x in result.values())


def test_waiver_that_ran_out_is_newly_failing(full_registry: None) -> None:
    """Nothing changed on the network, the agency's grace did: waived -> fail is news."""
    waiver = {
        "check": "http.hsts",
        "hosts": [SNV],
        "reason": "migration",
        "approved_by": "Sở TT&TT",
        "expires": "2026-12-01",
        "line": 9,
    }
    inv = inventory([waiver])
    fs = findings_for({(SNV, "http.hsts"): S.FAIL})
    profile = load_profile("vn-gov")
    before = score_scan(profile, inv, fs, date(2026, 11, 24))
    after = score_scan(profile, inv, fs, date(2026, 12, 2))
    result = {a.id: a for a in agency_alerts(_scan(1, inv), _scan(2, inv), fs, fs, before, after)}
    (alert,) = result["so-noi-vu"].alerts
    assert (alert.kind, alert.target, alert.before, alert.after) == (
        "requirement_failing",
        SNV,
        "waived",
        "fail",
    )


def test_a_scan_that_did_not_complete_sends_nothing(full_registry: None, tmp_path: Path) -> None:
    store, (_first, second) = make_store(
        tmp_path / "s.db", scans=[{}, {(SNV, "http.hsts"): S.FAIL}]
    )
    with store:
        store.finish_scan(second, "interrupted", {})
        report = notify_scan(store, second, AlertTransports(), dry_run=True)
    assert report.skipped == f"scan #{second} is interrupted, not complete: no alerts for it"
    assert report.messages == () and report.previous_id is None


def test_scores_are_written_as_the_reports_write_them(full_registry: None) -> None:
    vi, _ = _one_message("vi")
    en, _ = _one_message("en")
    score = next(ln for ln in vi.text.splitlines() if ln.startswith("Điểm:"))
    assert "," in score and "." not in score.split(";")[0], score
    assert "." in next(ln for ln in en.text.splitlines() if ln.startswith("Score:"))


def test_docs_payload_example_is_valid_and_help_names_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import re

    from auditor.cli import main

    root = Path(__file__).resolve().parents[2]
    text = (root / "docs/ALERTS.md").read_text(encoding="utf-8")
    match = re.search(r"```json\n(.*?)```", text, re.S)
    assert match is not None
    schema = json.loads((root / "docs/alerts.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(match.group(1)), schema)
    with pytest.raises(SystemExit):
        main(["notify", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "Exit codes: 0 done, 1 a delivery failed, 2 bad input" in help_text
    assert "auditor notify" in (root / "README.md").read_text(encoding="utf-8")
