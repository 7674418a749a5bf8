"""Regression alerts (issue #17): after a scan, what got worse since the previous scan of
the same inventory and profile, told to each agency in its language (its inventory
``contact``, the security team in copy) by e-mail, and to the team's systems by a signed
webhook. docs/ALERTS.md documents the alert kinds, the payload, the signature and the CLI
(``auditor notify``).

The public API, used by ``auditor notify`` and by the scheduler after each scheduled scan:

- :meth:`AlertTransports.from_mapping` parses an ``alerts:`` section (of a schedule file);
- :func:`notify_scan` sends (or, ``dry_run``, renders) the alerts of one scan and returns
  a :class:`NotifyReport`.
"""

from auditor.alerts.changes import (
    ALERT_KINDS,
    AgencyAlerts,
    Alert,
    Improvement,
    ScanAlerts,
    agency_alerts,
    predecessor,
)
from auditor.alerts.config import (
    AlertConfigError,
    AlertTransports,
    SmtpTransport,
    WebhookTransport,
    check_address,
    parse_transports,
)
from auditor.alerts.notify import Delivery, NotifyReport, notify_scan, scan_alerts
from auditor.alerts.render import MailMessage, render_agency, safe_header
from auditor.alerts.webhook import payload, sign, verify_signature

__all__ = [
    "ALERT_KINDS",
    "AgencyAlerts",
    "Alert",
    "AlertConfigError",
    "AlertTransports",
    "Delivery",
    "Improvement",
    "MailMessage",
    "NotifyReport",
    "ScanAlerts",
    "SmtpTransport",
    "WebhookTransport",
    "agency_alerts",
    "check_address",
    "notify_scan",
    "parse_transports",
    "payload",
    "predecessor",
    "render_agency",
    "safe_header",
    "scan_alerts",
    "sign",
    "verify_signature",
]
