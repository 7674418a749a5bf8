"""The alerts after a scheduled scan: the schedule file's ``alerts:`` section, checked when
the scheduler starts (a typo in an SMTP URL is said then, not after the first week's scan)
and used by the scheduler's ``after_scan`` seam (auditor.scheduler, ``auditor serve
--scheduler`` and ``auditor beat``)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from auditor.alerts.config import AlertConfigError, AlertTransports
from auditor.alerts.notify import notify_scan

LOG = logging.getLogger("auditor.scheduler")


def schedule_alert_errors(schedules: Iterable[Any]) -> list[str]:
    """Every schedule whose ``alerts:`` section cannot be used, as ``where: problem``."""
    errors: list[str] = []
    for spec in schedules:
        if spec.alerts is None:
            continue
        try:
            AlertTransports.from_mapping(spec.alerts, spec.alerts_where or spec.name)
        except AlertConfigError as exc:
            errors.append(str(exc))
    return errors


def alerts_after_scan(store: Any, scan_id: int, spec: Any) -> None:
    """Send the alerts of a scheduled scan with its schedule's transports (none: nothing).
    A delivery that failed is logged with its reason (the run stays complete: the scan is
    stored; ``auditor notify --scan ID`` sends again)."""
    if spec.alerts is None:
        return
    transports = AlertTransports.from_mapping(spec.alerts, spec.alerts_where or spec.name)
    report = notify_scan(store, scan_id, transports)
    if report.skipped:
        LOG.info("schedule %s: scan %d: no alerts (%s)", spec.name, scan_id, report.skipped)
        return
    LOG.info(
        "schedule %s: scan %d against %s: %d message(s), %d delivery(ies) failed%s",
        spec.name,
        scan_id,
        report.previous_id if report.previous_id is not None else "no earlier scan",
        len(report.messages),
        len(report.failed),
        " (nothing changed)" if report.nothing_changed else "",
    )
    for d in report.failed:
        LOG.warning(
            "schedule %s: scan %d: %s to %s failed: %s",
            spec.name,
            scan_id,
            d.channel,
            ", ".join(d.to),
            d.detail,
        )
