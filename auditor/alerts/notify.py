"""After a scan: compute its alerts against its predecessor, render one message per agency,
send them (e-mail, webhook) and say what happened. ``auditor notify`` and the scheduler
both call :func:`notify_scan`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auditor.alerts.changes import ScanAlerts, agency_alerts, predecessor
from auditor.alerts.config import AlertTransports
from auditor.alerts.render import MailMessage, render_agency
from auditor.alerts.smtp import send_mails
from auditor.alerts.webhook import WebhookResult, payload, post_webhook
from auditor.store import Store

__all__ = ["Delivery", "NotifyReport", "notify_scan", "scan_alerts"]

_DRY_SENDER = "auditor@smtp-not-configured.invalid"
_DRY_TEAM = "security-team@smtp-not-configured.invalid"


@dataclass(frozen=True)
class Delivery:
    """One attempt to tell someone: an e-mail (to its recipients) or the webhook."""

    channel: str  # email | webhook
    agency: str | None  # the agency of an e-mail; None for the webhook (every agency)
    to: tuple[str, ...]  # recipients, or the webhook URL
    ok: bool
    detail: str  # "" when delivered
    attempts: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "agency": self.agency,
            "to": list(self.to),
            "ok": self.ok,
            "detail": self.detail,
            "attempts": self.attempts,
        }


@dataclass(frozen=True)
class NotifyReport:
    """What :func:`notify_scan` did (or, with ``dry_run``, would do)."""

    scan_id: int
    previous_id: int | None  # None: no earlier scan of this inventory and profile
    alerts: ScanAlerts | None
    messages: tuple[MailMessage, ...]  # rendered (sent unless dry_run)
    payload: dict[str, Any] | None  # the webhook document (None: nothing to post)
    deliveries: tuple[Delivery, ...]
    notes: tuple[str, ...]  # e.g. an agency without contact
    dry_run: bool
    # Why nothing was compared at all ("" when it was): e.g. the scan is not complete.
    skipped: str = ""

    @property
    def nothing_changed(self) -> bool:
        return self.alerts is None or self.alerts.empty

    @property
    def failed(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if not d.ok)

    def to_dict(self) -> dict[str, Any]:
        a = self.alerts
        return {
            "scan": self.scan_id,
            "previous_scan": self.previous_id,
            "dry_run": self.dry_run,
            "alerts": a.alert_count() if a else 0,
            "improvements": a.improvement_count() if a else 0,
            "agencies": [x.to_dict() for x in a.agencies] if a else [],
            "messages": [
                {
                    "agency": m.agency,
                    "language": m.language,
                    "to": list(m.to),
                    "cc": list(m.cc),
                    "subject": m.subject,
                }
                for m in self.messages
            ],
            "deliveries": [d.to_dict() for d in self.deliveries],
            "notes": list(self.notes),
            "skipped": self.skipped,
        }


def scan_alerts(store: Store, scan_id: int) -> ScanAlerts:
    """The alerts of scan ``scan_id`` against the previous complete scan of the same
    inventory and profile, both scored with the later scan's profile. KeyError for an
    unknown scan; ProfileError if its profile cannot be loaded."""
    from reports.data import resolve_profile, score_of

    after = store.scan(scan_id)
    before = predecessor(store.scans(), after)
    profile, _note = resolve_profile(None, after)
    if before is None:
        return ScanAlerts(after, None, profile, ())
    agencies = agency_alerts(
        before,
        after,
        store.findings(before.id),
        store.findings(after.id),
        score_of(store, before, profile),
        score_of(store, after, profile),
    )
    return ScanAlerts(after, before, profile, tuple(a for a in agencies if a.worth_sending))


def _scan_id(value: str | int) -> int:
    if isinstance(value, bool):
        raise KeyError(f"no scan {value!r}")
    if isinstance(value, int):
        return value
    text = str(value).strip().lstrip("#")
    if not text.isdigit():
        raise KeyError(f"no scan {value!r}: a scan id is a number (auditor history lists them)")
    return int(text)


def notify_scan(
    store: Store, scan_id: str | int, transports: AlertTransports, *, dry_run: bool = False
) -> NotifyReport:
    """Send the alerts of ``scan_id`` (against its predecessor) by every transport; with
    ``dry_run`` render them and send nothing. Nothing is sent when nothing changed (or the
    scan is the first of its inventory and profile). Delivery failures are in the report
    (``failed``), never raised; KeyError for an unknown scan id."""
    sid = _scan_id(scan_id)
    scan = store.scan(sid)
    if scan.status != "complete":
        # A scan that was interrupted or failed lacks targets: their absence is not news,
        # and what it did see is told after the scan that completes.
        why = f"scan #{sid} is {scan.status}, not complete: no alerts for it"
        return NotifyReport(sid, None, None, (), None, (), (), dry_run, skipped=why)
    alerts = scan_alerts(store, sid)
    previous = alerts.before.id if alerts.before else None
    if alerts.empty:
        return NotifyReport(sid, previous, alerts, (), None, (), (), dry_run)
    notes: list[str] = []
    messages: list[MailMessage] = []
    smtp = transports.smtp
    # A dry run without SMTP still shows the messages, from and to placeholders (RFC 2606
    # reserves .invalid: nothing can ever be delivered there).
    sender, team = (smtp.sender, smtp.team) if smtp else (_DRY_SENDER, (_DRY_TEAM,))
    if smtp is not None or dry_run:
        for agency in alerts.agencies:
            message, note = render_agency(alerts, agency, sender, team)
            if note:
                notes.append(note)
            if message is not None:
                messages.append(message)
    document = payload(alerts) if transports.webhook is not None else None
    deliveries: list[Delivery] = []
    if not dry_run:
        if smtp is not None:
            for r in send_mails(smtp, messages):
                detail, ok = r.detail, r.ok
                if r.refused and r.ok:
                    # Some recipients got it; a refused one (the agency's contact, perhaps)
                    # did not hear of its alerts: a failed delivery for the exit code.
                    ok = False
                    detail = f"refused by the server: {', '.join(r.refused)} (the others got it)"
                elif r.refused:
                    detail = f"{detail}: {', '.join(r.refused)}"
                deliveries.append(
                    Delivery("email", r.message.agency, r.message.recipients, ok, detail)
                )
        if transports.webhook is not None and document is not None:
            w: WebhookResult = post_webhook(transports.webhook, document)
            deliveries.append(Delivery("webhook", None, (w.url,), w.ok, w.detail, w.attempts))
    return NotifyReport(
        sid, previous, alerts, tuple(messages), document, tuple(deliveries), tuple(notes), dry_run
    )
