"""The alert e-mail of one agency: subject, a plain-text part and an HTML part, in the
agency's language, from the Jinja2 templates in ``auditor/alerts/templates``
(``mail.{vi,en}.{txt,html}.j2``: one template per language and part, so a translator edits
whole sentences, not fragments).

Every string that came from the network (finding messages quote banners, header values,
certificate names) is hostile: in the HTML part Jinja2's autoescape escapes it; in both
parts it is put on one line with control characters removed and clipped
(:func:`auditor.text.one_line`), so it cannot fake a paragraph or grow a message without
bound; in headers CR and LF never reach the message (the subject is put on one line,
addresses that are not a plain ``local@domain`` are refused: :func:`check_address`).
"""

from __future__ import annotations

import email.policy
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

import jinja2

from auditor.alerts.changes import ALERT_KINDS, AgencyAlerts, ScanAlerts
from auditor.alerts.config import check_address
from auditor.text import one_line
from reports.i18n import Catalog

__all__ = ["MailMessage", "render_agency", "safe_header"]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
DETAIL_LIMIT = 300  # characters of a finding's message quoted in a mail
SUBJECT_LIMIT = 200  # RFC 5322 sec. 2.1.1: lines SHOULD stay under 78, MUST under 998
MAX_ITEMS = 200  # alerts listed per agency and kind; the rest is counted
FIX_LIMIT = 400  # characters of a check's "how to fix" (the report has all of it)


@dataclass(frozen=True)
class MailMessage:
    """One rendered e-mail (not yet sent)."""

    agency: str
    language: str
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    text: str
    html: str

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.to, *self.cc)))

    def to_email(self) -> EmailMessage:
        """The MIME message (multipart/alternative: text, then HTML). Raises ValueError if a
        header would hold a line break (never, once built by :func:`render_agency`)."""
        msg = EmailMessage(policy=email.policy.SMTP)
        for value in (self.subject, self.sender, *self.to, *self.cc):
            if "\r" in value or "\n" in value:
                raise ValueError("line break in a mail header")
        msg["Subject"] = self.subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.to)
        if self.cc:
            msg["Cc"] = ", ".join(self.cc)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2])
        # RFC 3834 sec. 5: an automatic message; auto-responders must not answer it.
        msg["Auto-Submitted"] = "auto-generated"
        # base64: Vietnamese text is mostly non-ASCII, and a 7-bit relay (no 8BITMIME, RFC
        # 6152) on the way must not mangle it.
        msg.set_content(self.text, subtype="plain", charset="utf-8", cte="base64")
        msg.add_alternative(self.html, subtype="html", charset="utf-8", cte="base64")
        # RFC 3282; after the parts exist (set_content moves Content-* headers into them).
        msg["Content-Language"] = self.language
        return msg


def safe_header(text: str, limit: int = SUBJECT_LIMIT) -> str:
    """``text`` fit for a header: one line (CR, LF and every other control character
    become spaces), clipped."""
    return one_line(text, limit)


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        # The HTML part escapes everything; the text part is plain text (nothing to escape).
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _day(text: str | None, lang: str) -> str:
    """The day of an ISO 8601 timestamp as the reports write it: dd/mm/yyyy in Vietnamese
    (the order written in Vietnam), yyyy-mm-dd in English; text that is no date as it is."""
    if not text:
        return "-"
    try:
        day = date.fromisoformat(text[:10])
    except ValueError:
        return one_line(text, 40)
    return day.strftime("%d/%m/%Y") if lang == "vi" else day.isoformat()


def _num(value: float | None, lang: str) -> str:
    """A score as the reports write it (one decimal, a decimal comma in Vietnamese)."""
    if value is None:
        return "-"
    text = f"{value:.1f}".removesuffix(".0")
    return text.replace(".", ",") if lang == "vi" else text


def _fix(catalog: Catalog, check: str | None) -> str:
    """The general "how to fix" of a check in the catalogue's language (the reports'
    text), else the first platform's; "" for none."""
    if not check:
        return ""
    fixes = catalog.check_fix(check)
    if "general" in fixes:
        return one_line(fixes["general"], FIX_LIMIT)
    platform, text = next(iter(fixes.items()), ("", ""))
    return one_line(f"({platform}) {text}", FIX_LIMIT) if text else ""


def _context(scan: ScanAlerts, agency: AgencyAlerts) -> dict[str, Any]:
    lang = agency.language
    catalog = Catalog(lang)
    profile = scan.profile
    titles = {
        r.id: (r.title_vi or r.title) if lang == "vi" else r.title for r in profile.requirements
    }
    groups = []
    for kind in ALERT_KINDS:
        items = [a for a in agency.alerts if a.kind == kind]
        if not items:
            continue
        groups.append(
            {
                "kind": kind,
                "count": len(items),
                "more": max(0, len(items) - MAX_ITEMS),
                "entries": [
                    {
                        "target": one_line(a.target, 255),
                        "target_kind": a.target_kind,
                        "requirement": a.requirement or "",
                        "requirement_title": one_line(
                            titles.get(a.requirement or "", a.requirement or ""), 200
                        ),
                        "check": a.check or "",
                        "check_title": one_line(catalog.check_title(a.check), 200)
                        if a.check
                        else "",
                        "fix": _fix(catalog, a.check),
                        "address": one_line(a.address or "", 200),
                        "before": a.before or "",
                        "after": a.after or "",
                        "days_left": a.days_left,
                        "not_after": _day(a.not_after, lang),
                        "vantage": one_line(a.vantage, 64),
                        "detail": one_line(a.detail, DETAIL_LIMIT),
                    }
                    for a in items[:MAX_ITEMS]
                ],
            }
        )
    improvements = [
        {
            "target": one_line(i.target, 255),
            "requirement": i.requirement,
            "requirement_title": one_line(titles.get(i.requirement, i.requirement), 200),
            "before": i.before,
            "after": i.after,
        }
        for i in agency.improvements[:MAX_ITEMS]
    ]
    name = agency.name if lang == "vi" else (agency.name_en or agency.name)
    before = scan.before
    return {
        "agency": one_line(name, 200),
        "agency_id": agency.id,
        "scan_id": scan.after.id,
        "scan_date": _day(scan.after.started, lang),
        "before_id": before.id if before else None,
        "before_date": _day(before.started, lang) if before else "",
        "inventory": one_line(scan.after.inventory_name, 200),
        "profile": one_line(
            (profile.title_vi or profile.title) if lang == "vi" else profile.title, 200
        ),
        "profile_name": profile.name,
        "score_before": _num(agency.score_before, lang),
        "score_after": _num(agency.score_after, lang),
        "grade_before": agency.grade_before or "-",
        "grade_after": agency.grade_after or "-",
        "alert_count": len(agency.alerts),
        "improvement_count": len(agency.improvements),
        "more_improvements": max(0, len(agency.improvements) - MAX_ITEMS),
        "groups": groups,
        "improvements": improvements,
        "certificate_days": profile.alert_cert_days,
    }


def render_agency(
    scan: ScanAlerts, agency: AgencyAlerts, sender: str, team: Sequence[str]
) -> tuple[MailMessage | None, str]:
    """The agency's message: to its ``contact`` (copy to the team), or to the team alone
    when it has none or a contact that is not a plain address. The second value says why
    the contact was left out ("" when it was not)."""
    note = ""
    to: tuple[str, ...]
    cc: tuple[str, ...]
    contact = agency.contact.strip() if agency.contact else None
    if contact and check_address(contact):
        to, cc = (contact,), tuple(t for t in team if t != contact)
    else:
        if contact:
            note = f"contact {one_line(contact, 80)!r} of {agency.id} is not a plain address"
        elif agency.worth_sending:
            note = f"{agency.id} has no contact in the inventory: sent to the team only"
        to, cc = tuple(team), ()
    if not to:
        return None, note or f"nobody to send the alerts of {agency.id} to"
    env = _environment()
    ctx = _context(scan, agency)
    lang = agency.language if agency.language in ("vi", "en") else "vi"
    subject = env.get_template(f"subject.{lang}.txt.j2").render(ctx)
    text = env.get_template(f"mail.{lang}.txt.j2").render(ctx)
    html = env.get_template(f"mail.{lang}.html.j2").render(ctx)
    return (
        MailMessage(
            agency=agency.id,
            language=lang,
            sender=sender,
            to=to,
            cc=cc,
            subject=safe_header(subject),
            text=text,
            html=html,
        ),
        note,
    )
