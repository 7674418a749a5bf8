"""Regression alerts end to end with real servers on loopback: aiosmtpd (STARTTLS with a
certificate made here, AUTH required over TLS; implicit TLS; a plain relay) and an HTTP
receiver (http.server) that verifies the HMAC signature as docs/ALERTS.md tells a
receiver to. Two scans with a change in between give alerts (recipients, language,
content checked); two identical scans give nothing; a webhook answering 500 is retried;
``auditor notify`` runs as a real process."""

from __future__ import annotations

import email
import email.policy
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from auditor.alerts import AlertTransports, notify_scan, verify_signature
from auditor.cli import main
from auditor.model import Status
from auditor.store import Store
from tests.support.factories import (
    HOSTILE,
    Pki,
    fill_store,
    full_registry,
    key_pem,
    pem,
    raw_sql,
)
from tests.support.servers import run_auditor

__all__ = ["full_registry"]

S = Status
PORTAL = "portal.example.gov.vn"
SNV = "snv.example.gov.vn"
USER, PASSWORD = "auditor", "correct horse battery"
SECRET = "webhook-secret-for-the-tests-0123456789abcdef"
SENDER = "auditor@example.gov.vn"
TEAM = "soc@example.gov.vn"
CONTACT_VI = "cntt@snv.example.gov.vn"
CONTACT_EN = "it@ubnd.example.gov.vn"
CHANGE = {(SNV, "http.hsts"): S.FAIL, (PORTAL, "ipv6.web.reach"): S.FAIL}


# --------------------------------------------------------------------------- SMTP server


@dataclass
class Inbox:
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered 550

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == USER.encode()
            and data.password == PASSWORD.encode()
        )
        if ok:
            self.logins.append(mechanism)
        return AuthResult(success=ok)

    def by_agency(self) -> dict[str, tuple[str, list[str], EmailMessage]]:
        out = {}
        for sender, rcpts, msg in self.messages:
            out[str(msg["Subject"])] = (sender, rcpts, msg)
        return out


@dataclass(frozen=True)
class Tls:
    ca_file: Path
    server: ssl.SSLContext


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    pki = Pki.create()
    leaf, key = pki.leaf(("localhost",))
    d = tmp_path_factory.mktemp("tls")
    (d / "chain.pem").write_bytes(pem(leaf, pki.inter))
    (d / "key.pem").write_bytes(key_pem(key))
    (d / "ca.pem").write_bytes(pem(pki.root))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(d / "chain.pem", d / "key.pem")
    return Tls(d / "ca.pem", ctx)


def _free_port() -> int:
    # aiosmtpd's Controller connects to its port to know it is up: it needs a real number.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _smtp(inbox: Inbox, **kwargs: Any) -> Iterator[int]:
    port = _free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, server_hostname="localhost", **kwargs
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def starttls_port(inbox: Inbox, tls: Tls) -> Iterator[int]:
    """STARTTLS required before anything else, AUTH required (and only over TLS)."""
    yield from _smtp(
        inbox,
        tls_context=tls.server,
        require_starttls=True,
        authenticator=inbox.authenticate,
        auth_required=True,
        auth_require_tls=True,
    )


# --------------------------------------------------------------------------- HTTP receiver


@dataclass
class Receiver:
    url: str
    answers: list[int]  # statuses to answer, in order (then 200)
    posts: list[dict[str, Any]] = field(default_factory=list)
    stall: float = 0.0  # seconds to wait before answering


def _receiver(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    state = Receiver("", [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            ts = self.headers.get("X-Auditor-Timestamp", "")
            sig = self.headers.get("X-Auditor-Signature", "")
            valid = verify_signature(SECRET.encode(), ts, body, sig)
            state.posts.append(
                {
                    "valid": valid,
                    "delivery": self.headers.get("X-Auditor-Delivery"),
                    "type": self.headers.get("Content-Type"),
                    "json": json.loads(body),
                }
            )
            status = state.answers.pop(0) if state.answers else 200
            if state.stall:
                time.sleep(state.stall)
            if not valid:
                status = 401
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    scheme = "http"
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = "localhost" if tls is not None else "127.0.0.1"
    state.url = f"{scheme}://{host}:{server.server_address[1]}/hooks/auditor"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from _receiver()


@pytest.fixture
def https_receiver(tls: Tls) -> Iterator[Receiver]:
    yield from _receiver(tls.server)


# --------------------------------------------------------------------------- the store


def _store(path: Path, scans: list[dict[tuple[str, str], Status]]) -> tuple[Store, list[int]]:
    """The factories' store (hostile strings everywhere), the agencies given a contact and
    a language: so-noi-vu in Vietnamese, ubnd in English."""
    from auditor.store import open_store

    store = open_store(path)
    ids = fill_store(store, scans=scans)
    for sid in ids:
        inv = store.scan(sid).inventory
        inv["agencies"][0]["contact"] = CONTACT_VI
        inv["agencies"][1].update(contact=CONTACT_EN, language="en", name_en="People's Committee")
        raw_sql(store, "UPDATE scans SET inventory_json = ? WHERE id = ?", (json.dumps(inv), sid))
    return store, ids


def _transports(port: int, tls: Tls, receiver: Receiver | None, **extra: object) -> AlertTransports:
    mapping: dict[str, object] = {
        "smtp": f"smtp://localhost:{port}",
        "from": SENDER,
        "team": [TEAM],
        "user": USER,
        "password_env": "TEST_SMTP_PASSWORD",
        "ca_file": str(tls.ca_file),
        "timeout": 10,
        **extra,
    }
    if receiver is not None:
        mapping.update(webhook=receiver.url, webhook_secret_env="TEST_WEBHOOK_SECRET")
    return AlertTransports.from_mapping(mapping, "test: alerts")


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", SECRET)


def _text(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def _html(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content())


# --------------------------------------------------------------------------- tests


def test_a_change_sends_each_agency_its_alerts(
    full_registry: None,
    tmp_path: Path,
    inbox: Inbox,
    starttls_port: int,
    tls: Tls,
    receiver: Receiver,
) -> None:
    store, (first, second) = _store(tmp_path / "s.db", [{}, CHANGE])
    with store:
        report = notify_scan(store, str(second), _transports(starttls_port, tls, receiver))
    assert report.previous_id == first
    assert report.failed == (), report.deliveries
    assert inbox.logins, "AUTH was used"
    assert len(inbox.messages) == 2
    by_to = {tuple(rcpts): (sender, msg) for sender, rcpts, msg in inbox.messages}
    sender, vi = by_to[(CONTACT_VI, TEAM)]
    assert sender == SENDER
    assert vi["To"] == CONTACT_VI and vi["Cc"] == TEAM and vi["Content-Language"] == "vi"
    assert str(vi["Subject"]).startswith("[Kiểm định IPv6] Sở Nội vụ: 2 cảnh báo")
    text = _text(vi)
    assert "Kính gửi Sở Nội vụ," in text
    assert "Không còn truy cập được qua IPv6 (1)" in text and PORTAL in text
    assert "Bắt buộc HTTPS" in text and "từ Đạt chuyển sang Không đạt" in text
    assert "<script>" not in _html(vi) and "&lt;script&gt;" in _html(vi)
    _, en = by_to[(CONTACT_EN, TEAM)]
    assert en["Content-Language"] == "en"
    assert str(en["Subject"]).startswith("[IPv6 auditor] People's Committee: 1 alert (scan #2")
    text = _text(en)
    assert "Dear People's Committee," in text and "No longer reachable over IPv6 (1)" in text
    assert SNV not in text.replace(f"{SNV}.", "")  # the other agency's host is not in it
    print(f"--- vi ---\nSubject: {vi['Subject']}\n\n{_text(vi)}")
    print(f"--- en ---\nSubject: {en['Subject']}\n\n{_text(en)}")
    # the webhook: one signed POST for the scan, every agency with alerts in it
    (post,) = receiver.posts
    assert post["valid"] and post["type"].startswith("application/json")
    doc = post["json"]
    assert (doc["scan"]["id"], doc["previous_scan"]["id"]) == (second, first)
    assert {a["id"]: a["language"] for a in doc["agencies"]} == {"so-noi-vu": "vi", "ubnd": "en"}
    kinds = {a["id"]: sorted(x["kind"] for x in a["alerts"]) for a in doc["agencies"]}
    assert kinds == {
        "so-noi-vu": ["ipv6_unreachable", "requirement_failing"],
        "ubnd": ["ipv6_unreachable"],
    }
    assert HOSTILE in json.dumps(doc, ensure_ascii=False)  # data, for the receiver to escape
    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "docs/alerts.schema.json").read_text()
    )
    jsonschema.validate(doc, schema)


def test_identical_scans_send_nothing(
    full_registry: None,
    tmp_path: Path,
    inbox: Inbox,
    starttls_port: int,
    tls: Tls,
    receiver: Receiver,
) -> None:
    store, (_first, second) = _store(tmp_path / "s.db", [{}, {}])
    with store:
        report = notify_scan(store, second, _transports(starttls_port, tls, receiver))
    assert report.nothing_changed and report.deliveries == ()
    assert inbox.messages == [] and receiver.posts == []


def test_webhook_retried_after_500(full_registry: None, tmp_path: Path, receiver: Receiver) -> None:
    receiver.answers[:] = [500, 503]
    store, (_first, second) = _store(tmp_path / "s.db", [{}, CHANGE])
    transports = AlertTransports.from_mapping(
        {"webhook": receiver.url, "webhook_secret_env": "TEST_WEBHOOK_SECRET"}, "test: alerts"
    )
    with store:
        report = notify_scan(store, second, transports)
    (delivery,) = report.deliveries
    assert delivery.ok and delivery.attempts == 3, delivery
    assert len(receiver.posts) == 3 and all(p["valid"] for p in receiver.posts)
    assert len({p["delivery"] for p in receiver.posts}) == 1  # one delivery id: de-duplicable


def test_webhook_refusal_is_not_retried(
    full_registry: None, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.answers[:] = [400]
    store, (_first, second) = _store(tmp_path / "s.db", [{}, CHANGE])
    transports = AlertTransports.from_mapping(
        {"webhook": receiver.url, "webhook_secret_env": "TEST_WEBHOOK_SECRET"}, "test: alerts"
    )
    with store:
        report = notify_scan(store, second, transports)
    (delivery,) = report.failed
    assert (delivery.attempts, delivery.detail) == (1, "HTTP 400: ok")


def test_starttls_required_is_never_downgraded(
    full_registry: None, tmp_path: Path, inbox: Inbox, tls: Tls
) -> None:
    """A server offering no STARTTLS: refused (the password never goes in clear); the same
    server as an internal relay (no TLS, no AUTH) is fine."""
    store, (_first, second) = _store(tmp_path / "s.db", [{}, CHANGE])
    for port in _smtp(inbox):
        with store:
            report = notify_scan(store, second, _transports(port, tls, None))
            assert len(report.failed) == 2 and inbox.messages == []
            assert "does not offer STARTTLS" in report.failed[0].detail
            relay = AlertTransports.from_mapping(
                {"smtp": f"smtp://127.0.0.1:{port}", "from": SENDER, "team": TEAM, "relay": True},
                "test: alerts",
            )
            assert notify_scan(store, second, relay).failed == ()
    assert len(inbox.messages) == 2 and inbox.logins == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls(full_registry: None, tmp_path: Path, inbox: Inbox, tls: Tls) -> None:
    store, (_first, second) = _store(tmp_path / "s.db", [{}, CHANGE])
    # aiosmtpd's auth_require_tls looks at STARTTLS only; the whole connection is TLS here.
    for port in _smtp(
        inbox,
        ssl_context=tls.server,
        authenticator=inbox.authenticate,
        auth_required=True,
        auth_require_tls=False,
    ):
        transports = _transports(port, tls, None, smtp=f"smtps://localhost:{port}")
        with store:
            report = notify_scan(store, second, transports)
    assert report.failed == () and len(inbox.messages) == 2 and inbox.logins


def test_untrusted_certificate_is_a_failed_delivery(
    full_registry: None, tmp_path: Path, inbox: Inbox, starttls_port: int
) -> None:
    """Without the test's CA the server's certificate is not trusted: nothing is sent."""
    store, (_first, second) = _store(tmp_path / "s.db", [{}, CHANGE])
    transports = AlertTransports.from_mapping(
        {
            "smtp": f"smtp://localhost:{starttls_port}",
            "from": SENDER,
            "team": TEAM,
            "user": USER,
            "password_env": "TEST_SMTP_PASSWORD",
        },
        "test: alerts",
    )
    with store:
        report = notify_scan(store, second, transports)
    assert len(report.failed) == 2 and "not trusted" in report.failed[0].detail
    assert inbox.messages == [] and inbox.logins == []


def test_cli_notify_as_a_process(
    full_registry: None,
    tmp_path: Path,
    inbox: Inbox,
    starttls_port: int,
    tls: Tls,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AUDITOR_SMTP_PASSWORD", raising=False)
    monkeypatch.delenv("AUDITOR_WEBHOOK_SECRET", raising=False)
    db = tmp_path / "s.db"
    store, (_first, second, third) = _store(db, [{}, CHANGE, CHANGE])
    store.close()
    env = {**os.environ, "AUDITOR_SMTP_PASSWORD": PASSWORD, "AUDITOR_WEBHOOK_SECRET": SECRET}
    smtp = [
        "--smtp",
        f"smtp://{USER}@localhost:{starttls_port}",
        "--from",
        SENDER,
        "--team",
        TEAM,
        "--ca-file",
        str(tls.ca_file),
    ]
    # the latest scan is identical to its predecessor: nothing to send, exit 0
    r = run_auditor("notify", "--db", str(db), *smtp, "--webhook", receiver.url, env=env)
    assert r.returncode == 0, r.stderr
    assert f"scan #{third} against #{second}: nothing changed, nothing sent" in r.stderr
    assert inbox.messages == [] and receiver.posts == []
    # the scan with the change: mails and the webhook
    r = run_auditor(
        "notify", "--db", str(db), "--scan", str(second), *smtp, "--webhook", receiver.url, env=env
    )
    assert r.returncode == 0, r.stderr
    assert "2 alert(s)" in r.stderr or "3 alert(s)" in r.stderr, r.stderr
    assert len(inbox.messages) == 2 and len(receiver.posts) == 1 and receiver.posts[0]["valid"]
    assert PASSWORD not in r.stderr + r.stdout
    # dry run: shown, not sent
    r = run_auditor("notify", "--db", str(db), "--scan", str(second), "--dry-run", env=env)
    assert r.returncode == 0, r.stderr
    assert "Subject: [Kiểm định IPv6] Sở Nội vụ" in r.stdout
    assert "Dear People's Committee" in r.stdout
    assert len(inbox.messages) == 2
    # a failed delivery: exit 1
    receiver.answers[:] = [400]
    r = run_auditor(
        "notify", "--db", str(db), "--scan", str(second), "--webhook", receiver.url, env=env
    )
    assert r.returncode == 1 and "FAILED webhook" in r.stderr, r.stderr
    # bad input: exit 2 with the option named (a process for one; the rest in-process)
    r = run_auditor("notify", "--db", str(db), "--smtp", "http://x", "--from", SENDER, env=env)
    assert r.returncode == 2 and "--smtp: 'http://x'" in r.stderr, r.stderr
    for args, words in (
        (["--smtp", "smtp://u:pw@localhost", "--from", SENDER, "--team", TEAM], "environment"),
        (["--smtp", "smtp://localhost", "--team", TEAM], "--from: the sender"),
        (["--smtp", "smtp://localhost", "--from", SENDER], "--team: the security team"),
        (
            ["--smtp", "smtp://localhost", "--smtp-security", "relay", "--smtp-user", "u"],
            "--smtp-user",
        ),
        (["--webhook", receiver.url, "--webhook-secret-env", "NOPE_NOT_SET"], "NOPE_NOT_SET"),
        (["--webhook", "ftp://x"], "--webhook: 'ftp://x'"),
        ([], "give --smtp and/or --webhook"),
        (["--scan", "999", "--dry-run"], "999"),
        (["--scan", "x1", "--dry-run"], "a scan id is a number"),
    ):
        capsys.readouterr()
        assert main(["notify", "--db", str(db), *args]) == 2, args
        assert words in capsys.readouterr().err, args
    assert main(["notify", "--db", str(tmp_path / "none.db"), "--dry-run"]) == 2
    assert "none.db" in capsys.readouterr().err


def _webhook_only(receiver: Receiver, **changes: Any) -> AlertTransports:
    t = AlertTransports.from_mapping(
        {"webhook": receiver.url, "webhook_secret_env": "TEST_WEBHOOK_SECRET"}, "test: alerts"
    )
    assert t.webhook is not None
    return replace(t, webhook=replace(t.webhook, **changes))


def test_webhook_gives_up_when_attempts_or_deadline_run_out(
    full_registry: None, tmp_path: Path, receiver: Receiver
) -> None:
    store, (_first, second) = _store(tmp_path / "s.db", [{}, CHANGE])
    with store:
        receiver.answers[:] = [500] * 10
        report = notify_scan(store, second, _webhook_only(receiver, backoff=(0.05, 0.1, 0.2)))
        (failed,) = report.failed
        assert (failed.attempts, failed.detail) == (4, "HTTP 500: ok")  # len(backoff) + 1
        receiver.posts.clear()
        # the next wait would pass the deadline: no more attempts
        report = notify_scan(
            store, second, _webhook_only(receiver, backoff=(0.05, 5.0, 5.0), deadline=1.0)
        )
        assert report.failed[0].attempts == 2 and len(receiver.posts) == 2


def test_webhook_that_does_not_answer_times_out(
    full_registry: None, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.stall = 2.0
    store, (_first, second) = _store(tmp_path / "s.db", [{}, CHANGE])
    with store:
        report = notify_scan(store, second, _webhook_only(receiver, timeout=0.5, backoff=()))
    (failed,) = report.failed
    assert (failed.attempts, failed.detail) == (1, "timed out")


def test_smtp_server_that_never_greets_times_out(
    full_registry: None, tmp_path: Path, tls: Tls
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)  # accepts (the kernel does), never says 220
        port = int(silent.getsockname()[1])
        store, (_first, second) = _store(tmp_path / "s.db", [{}, CHANGE])
        with store:
            report = notify_scan(store, second, _transports(port, tls, None, timeout=0.5))
    assert len(report.failed) == 2 and all("timed out" in d.detail for d in report.failed)


def test_a_refused_recipient_is_named(
    full_registry: None, tmp_path: Path, inbox: Inbox, starttls_port: int, tls: Tls
) -> None:
    inbox.refuse.add(CONTACT_EN)
    store, (_first, second) = _store(tmp_path / "s.db", [{}, CHANGE])
    with store:
        report = notify_scan(store, second, _transports(starttls_port, tls, None))
    by_agency = {d.agency: d for d in report.deliveries}
    assert not by_agency["ubnd"].ok  # the agency did not hear of its alerts
    assert by_agency["ubnd"].detail == f"refused by the server: {CONTACT_EN} (the others got it)"
    assert by_agency["so-noi-vu"].ok and by_agency["so-noi-vu"].detail == ""
    assert sorted(r for _s, rcpts, _m in inbox.messages for r in rcpts) == sorted(
        [CONTACT_VI, TEAM, TEAM]
    )


def test_https_webhook_verifies_the_receivers_certificate(
    full_registry: None, tmp_path: Path, https_receiver: Receiver, tls: Tls
) -> None:
    store, (_first, second) = _store(tmp_path / "s.db", [{}, CHANGE])
    with store:
        untrusted = notify_scan(store, second, _webhook_only(https_receiver, backoff=()))
        assert untrusted.failed and https_receiver.posts == []  # not sent to an unknown server
        trusted = notify_scan(
            store, second, _webhook_only(https_receiver, ca_file=str(tls.ca_file))
        )
    assert trusted.failed == () and len(https_receiver.posts) == 1
    assert https_receiver.posts[0]["valid"]


# --------------------------------------------------------------------------- scheduled runs


def _schedule(tmp_path: Path, alerts: dict[str, object] | None) -> Any:
    from auditor.schedules import ScheduleSpec

    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "version: 1\nname: T\nagencies:\n  - {id: a, name: A, hosts: [a.example.gov.vn]}\n",
        encoding="utf-8",
    )
    return ScheduleSpec(
        name="weekly",
        inventory=str(inv),
        cron="0 6 * * 1",
        alerts=alerts,
        alerts_where="schedules.yaml:4: schedules[0].alerts",
    )


def test_a_scheduled_run_sends_its_schedules_alerts(
    full_registry: None,
    tmp_path: Path,
    inbox: Inbox,
    starttls_port: int,
    tls: Tls,
    receiver: Receiver,
) -> None:
    """The scheduler's after_scan seam (auditor serve --scheduler, auditor beat) sends the
    alerts of a complete run with the schedule file's own alerts section."""
    from auditor.alerts.scheduled import alerts_after_scan
    from auditor.scheduler import run_once

    alerts: dict[str, object] = {
        "smtp": f"smtp://localhost:{starttls_port}",
        "from": SENDER,
        "team": [TEAM],
        "user": USER,
        "password_env": "TEST_SMTP_PASSWORD",
        "ca_file": str(tls.ca_file),
        "timeout": 10,
        "webhook": receiver.url,
        "webhook_secret_env": "TEST_WEBHOOK_SECRET",
    }
    spec = _schedule(tmp_path, alerts)
    store, (_first, second) = _store(tmp_path / "s.db", [{}, CHANGE])
    with store:
        run_id = store.begin_schedule_run("weekly", "2026-12-07T06:00:00+07:00")
        # The run's scan stands in for a network scan here (tests/integration/
        # test_schedules.py runs real ones): the stored second scan, complete.
        status = run_once(
            store, spec, run_id, lambda *_a: (second, "complete"), after_scan=alerts_after_scan
        )
        assert status == "complete"
        run = store.schedule_runs("weekly")[0]
        assert (run.status, run.scan_id, run.detail) == ("complete", second, "")
    assert len(inbox.messages) == 2  # one per agency with a change, each in its language
    assert len(receiver.posts) == 1
    assert receiver.posts[0]["valid"]  # signed with the schedule's secret


def test_a_failed_run_or_no_alerts_section_sends_nothing(
    full_registry: None, tmp_path: Path, inbox: Inbox, starttls_port: int, tls: Tls
) -> None:
    from auditor.alerts.scheduled import alerts_after_scan
    from auditor.scheduler import run_once

    store, (_first, second) = _store(tmp_path / "s.db", [{}, CHANGE])
    with store:
        spec = _schedule(tmp_path, None)
        run_once(store, spec, store.begin_schedule_run("weekly", "d1"),
                 lambda *_a: (second, "complete"), after_scan=alerts_after_scan)  # fmt: skip
        spec = _schedule(tmp_path, {"smtp": f"smtp://localhost:{starttls_port}", "from": SENDER,
                                    "team": [TEAM], "ca_file": str(tls.ca_file)})  # fmt: skip
        run_once(store, spec, store.begin_schedule_run("weekly", "d2"),
                 lambda *_a: (second, "interrupted"), after_scan=alerts_after_scan)  # fmt: skip
    assert inbox.messages == []


def test_a_bad_alerts_section_is_refused_when_the_scheduler_starts(tmp_path: Path) -> None:
    from auditor.alerts.scheduled import schedule_alert_errors

    spec = _schedule(tmp_path, {"smtp": "ftp://mail.example.gov.vn", "from": SENDER})
    errors = schedule_alert_errors([spec, _schedule(tmp_path, None)])
    assert len(errors) == 1
    assert errors[0].startswith("schedules.yaml:4: schedules[0].alerts")
    # The served dashboard and beat refuse the file before anything runs (exit 2).
    sched = tmp_path / "schedules.yaml"
    sched.write_text(
        "version: 1\nschedules:\n  - name: weekly\n    inventory: inv.yaml\n"
        "    cron: '0 6 * * 1'\n    alerts:\n      smtp: ftp://mail.example.gov.vn\n"
        f"      from: {SENDER}\n",
        encoding="utf-8",
    )
    (tmp_path / "inv.yaml").write_text(
        "version: 1\nname: T\nagencies:\n  - {id: a, name: A, hosts: [a.example.gov.vn]}\n",
        encoding="utf-8",
    )
    result = run_auditor(
        "serve", "--db", str(tmp_path / "s.db"), "--schedules", str(sched), "--scheduler",
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "alerts" in result.stderr and "smtp" in result.stderr
