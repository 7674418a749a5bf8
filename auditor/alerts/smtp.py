"""Sending the alert e-mails over SMTP (the standard library's smtplib: the protocol is the
library's, the policy below is ours).

Policy: ``starttls`` (RFC 3207, submission port 587 by default) insists on the upgrade: a
server that does not offer STARTTLS is an error, never a silent fall back to plain text;
``ssl`` is implicit TLS (RFC 8314, port 465); ``relay`` is a plain connection to an
internal relay (port 25), allowed only without AUTH: credentials never cross an
unencrypted connection (RFC 4954 sec. 4 and RFC 8314 sec. 3). Certificates are verified
with the system's trust store (or ``ca_file``); every socket step has ``timeout``.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from auditor.alerts.config import SmtpTransport
from auditor.alerts.render import MailMessage
from auditor.text import one_line

__all__ = ["MailResult", "SmtpRefused", "send_mails"]


class SmtpRefused(Exception):
    """The server cannot be used as configured (no STARTTLS, AUTH without TLS)."""


@dataclass(frozen=True)
class MailResult:
    message: MailMessage
    ok: bool
    detail: str  # "" when sent; why not otherwise (one line)
    refused: tuple[str, ...] = ()  # recipients the server refused (the others got it)


def _context(transport: SmtpTransport) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=transport.ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 8996: not TLS 1.0/1.1
    return ctx


def _connect(transport: SmtpTransport) -> smtplib.SMTP:
    if transport.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            transport.host, transport.port, timeout=transport.timeout, context=_context(transport)
        )
    else:
        client = smtplib.SMTP(transport.host, transport.port, timeout=transport.timeout)
    try:
        client.ehlo()
        if transport.security == "starttls":
            if not client.has_extn("starttls"):
                raise SmtpRefused(
                    f"{transport.display}: the server does not offer STARTTLS; refusing to send"
                    " in clear (security: relay for an internal relay without TLS)"
                )
            client.starttls(context=_context(transport))
            client.ehlo()
        if transport.user:
            encrypted = transport.security in ("ssl", "starttls")
            if not encrypted:  # config.py refuses this already; never rely on one place
                raise SmtpRefused("AUTH over an unencrypted connection refused")
            client.login(transport.user, transport.password or "")
    except BaseException:
        client.close()
        raise
    return client


def _why(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        raw = exc.smtp_error
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return one_line(f"{exc.smtp_code} {text}", 300)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return one_line(f"TLS certificate not trusted: {exc.verify_message or exc}", 300)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return one_line(f"{type(exc).__name__}: {exc}", 300)


def send_mails(transport: SmtpTransport, messages: Sequence[MailMessage]) -> list[MailResult]:
    """Send every message over one connection; each message's outcome is recorded, a
    failure is a result (never an exception): the webhook and the other messages still
    go."""
    if not messages:
        return []
    try:
        client = _connect(transport)
    except (SmtpRefused, smtplib.SMTPException, OSError) as exc:
        why = f"{transport.display}: {_why(exc) if not isinstance(exc, SmtpRefused) else exc}"
        return [MailResult(m, False, why) for m in messages]
    results: list[MailResult] = []
    try:
        for m in messages:
            try:
                refused = client.send_message(
                    m.to_email(), from_addr=m.sender, to_addrs=list(m.recipients)
                )
            except smtplib.SMTPRecipientsRefused as exc:
                results.append(
                    MailResult(m, False, "every recipient refused", tuple(exc.recipients))
                )
            except (smtplib.SMTPException, OSError, ValueError) as exc:
                results.append(MailResult(m, False, _why(exc)))
                gone = isinstance(exc, smtplib.SMTPServerDisconnected) or (
                    isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)
                )
                if gone:
                    # The connection is gone: the rest fails the same way, say so once each.
                    rest = messages[len(results) :]
                    results.extend(MailResult(r, False, "connection lost") for r in rest)
                    break
            else:
                results.append(MailResult(m, True, "", tuple(refused)))
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()
    return results
