"""Where alerts go: the SMTP server (or internal relay), the security team's addresses and
the webhook, parsed from an ``alerts:`` mapping (a schedule file) or the ``auditor notify``
options, with every problem named by its field.

Secrets never come from the mapping or the command line themselves (a command line is
visible to every user of the machine in ``ps``, a schedule file is often committed): the
mapping names an environment variable (``password_env``, ``webhook_secret_env``) or a file
(``password_file``, ``webhook_secret_file``) and the secret is read from there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = [
    "DEFAULT_PASSWORD_ENV",
    "DEFAULT_WEBHOOK_SECRET_ENV",
    "AlertConfigError",
    "AlertTransports",
    "SmtpTransport",
    "WebhookTransport",
    "check_address",
]

DEFAULT_PASSWORD_ENV = "AUDITOR_SMTP_PASSWORD"
DEFAULT_WEBHOOK_SECRET_ENV = "AUDITOR_WEBHOOK_SECRET"
SECURITIES = ("starttls", "ssl", "relay")
_KEYS = (
    "smtp",
    "from",
    "team",
    "security",
    "starttls",
    "ssl",
    "relay",
    "user",
    "password_env",
    "password_file",
    "ca_file",
    "timeout",
    "webhook",
    "webhook_secret_env",
    "webhook_secret_file",
)
# RFC 5321 sec. 4.5.3.1.3: a path (address) is at most 256 octets. The pattern is the
# working subset (local@domain, no quoting, no comments, no spaces): a mailbox of an
# agency's inventory, not the whole RFC 5322 grammar; anything else is refused, which is
# also what keeps CR/LF and commas out of the headers and the SMTP envelope.
_ADDRESS_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$"
)
_MAX_ADDRESS = 254
_MAX_SECRET = 4096  # a secret file larger than this is not a secret file
# RFC 2104 sec. 3: an HMAC key shorter than the hash output (32 bytes for SHA-256) is
# "strongly discouraged"; `openssl rand -hex 32` gives 64 characters.
MIN_WEBHOOK_SECRET = 32


class AlertConfigError(ValueError):
    """A bad ``alerts:`` setting or ``auditor notify`` option; the message names it."""


def check_address(text: str) -> str | None:
    """``text`` when it is a plain ``local@domain`` mailbox, else None (CR, LF, spaces,
    display names, several addresses: all refused, never repaired)."""
    if len(text) > _MAX_ADDRESS or not _ADDRESS_RE.match(text) or ".." in text:
        return None
    return text


@dataclass(frozen=True)
class SmtpTransport:
    host: str
    port: int
    security: str  # starttls (RFC 3207) | ssl (implicit TLS, RFC 8314) | relay (plain)
    sender: str
    team: tuple[str, ...]
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout: float = 30.0

    @property
    def display(self) -> str:
        scheme = "smtps" if self.security == "ssl" else "smtp"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port} ({self.security})"


@dataclass(frozen=True)
class WebhookTransport:
    url: str
    secret: bytes = field(repr=False)
    timeout: float = 10.0
    # Waits between attempts (seconds): 1, 2, 4, 8 -- exponential backoff, five attempts,
    # about 15 s of waiting at most (plus the timeouts of the attempts themselves).
    backoff: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    deadline: float = 60.0  # the whole delivery, retries included, never longer
    ca_file: str | None = None  # trust anchors for an https:// receiver (else the system's)


@dataclass(frozen=True)
class AlertTransports:
    smtp: SmtpTransport | None = None
    webhook: WebhookTransport | None = None

    @property
    def empty(self) -> bool:
        return self.smtp is None and self.webhook is None

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object], where: str) -> AlertTransports:
        """The transports of an ``alerts:`` section, e.g. of a schedule file::

            smtp: smtp://mail.example.gov.vn:587   # smtps://HOST[:465] for implicit TLS
            from: auditor@example.gov.vn
            team: [soc@example.gov.vn]             # one address or a list
            security: starttls                     # starttls | ssl | relay
            user: auditor                          # AUTH, never without TLS
            password_env: AUDITOR_SMTP_PASSWORD    # or password_file: /run/secrets/smtp
            webhook: https://soc.example.gov.vn/hooks/auditor
            webhook_secret_env: AUDITOR_WEBHOOK_SECRET  # or webhook_secret_file

        ``where`` prefixes every error (``schedule.yaml: alerts``), each naming its field
        (``schedule.yaml: alerts.smtp: ...``). AlertConfigError on any problem."""
        return parse_transports(mapping, lambda key: f"{where}.{key}")


def _text(mapping: Mapping[str, object], key: str, label: Callable[[str], str]) -> str | None:
    value = mapping.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise AlertConfigError(f"{label(key)}: expected a non-empty string, got {value!r}")
    if any(not ch.isprintable() for ch in value):
        raise AlertConfigError(f"{label(key)}: control characters (CR, LF, ...) are not allowed")
    return value.strip()


def _flag(mapping: Mapping[str, object], key: str, label: Callable[[str], str]) -> bool:
    value = mapping.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise AlertConfigError(f"{label(key)}: expected true or false, got {value!r}")
    return value


def _secret(
    mapping: Mapping[str, object],
    env_key: str,
    file_key: str,
    default_env: str,
    label: Callable[[str], str],
    what: str,
) -> str | None:
    env_name = _text(mapping, env_key, label)
    file_name = _text(mapping, file_key, label)
    if env_name and file_name:
        raise AlertConfigError(f"{label(env_key)} and {label(file_key)}: give one of them")
    if file_name:
        path = Path(file_name)
        try:
            if path.stat().st_size > _MAX_SECRET:
                raise AlertConfigError(f"{label(file_key)}: {file_name}: larger than a secret")
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AlertConfigError(
                f"{label(file_key)}: cannot read {file_name}: {exc.strerror or exc}"
            ) from None
        except UnicodeDecodeError:
            raise AlertConfigError(f"{label(file_key)}: {file_name} is not UTF-8 text") from None
        secret = text.strip("\r\n")
        if not secret:
            raise AlertConfigError(f"{label(file_key)}: {file_name} is empty ({what})")
        return secret
    name = env_name or default_env
    ambient = os.environ.get(name)
    if ambient:
        return ambient
    if env_name:
        raise AlertConfigError(f"{label(env_key)}: environment variable {name} is not set ({what})")
    return None


def _timeout(mapping: Mapping[str, object], label: Callable[[str], str]) -> float:
    value = mapping.get("timeout")
    if value is None:
        return 30.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 300:
        raise AlertConfigError(f"{label('timeout')}: seconds between 0 and 300, got {value!r}")
    return float(value)


def _ca_file(mapping: Mapping[str, object], label: Callable[[str], str]) -> str | None:
    ca_file = _text(mapping, "ca_file", label)
    if ca_file is not None and not Path(ca_file).is_file():
        raise AlertConfigError(f"{label('ca_file')}: no such file: {ca_file}")
    return ca_file


def _smtp(mapping: Mapping[str, object], label: Callable[[str], str]) -> SmtpTransport | None:
    url = _text(mapping, "smtp", label)
    if url is None:
        for key in ("from", "team", "user", "password_env", "password_file", "security"):
            if mapping.get(key) is not None:
                raise AlertConfigError(f"{label(key)}: given without {label('smtp')}")
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AlertConfigError(f"{label('smtp')}: {url!r}: {exc}") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise AlertConfigError(
            f"{label('smtp')}: {url!r}: expected smtp://HOST[:PORT] (STARTTLS, or a relay) or"
            " smtps://HOST[:PORT] (implicit TLS)"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise AlertConfigError(f"{label('smtp')}: {url!r}: no path, query or fragment expected")
    if parts.password is not None:
        raise AlertConfigError(
            f"{label('smtp')}: a password in the URL would be visible to every user of the"
            f" machine; put it in an environment variable ({label('password_env')}, default"
            f" {DEFAULT_PASSWORD_ENV}) or a file ({label('password_file')})"
        )
    chosen = [k for k in SECURITIES if _flag(mapping, k, label)]
    named = _text(mapping, "security", label)
    if named is not None:
        if named not in SECURITIES:
            raise AlertConfigError(
                f"{label('security')}: expected one of {', '.join(SECURITIES)}, got {named!r}"
            )
        chosen.append(named)
    if len(set(chosen)) > 1:
        raise AlertConfigError(
            f"{label('security')}: choose one of {', '.join(SECURITIES)}, got {sorted(set(chosen))}"
        )
    security = chosen[0] if chosen else ("ssl" if parts.scheme == "smtps" else "starttls")
    if parts.scheme == "smtps" and security != "ssl":
        raise AlertConfigError(
            f"{label('security')}: smtps:// is implicit TLS ({security!r} given)"
        )
    if parts.scheme == "smtp" and security == "ssl":
        raise AlertConfigError(f"{label('security')}: implicit TLS is smtps://HOST[:PORT]")
    # RFC 8314 sec. 3.3: 465 implicit TLS; RFC 6409: 587 submission (STARTTLS); 25: relay.
    default_port = {"ssl": 465, "starttls": 587, "relay": 25}[security]
    user = _text(mapping, "user", label) or (unquote(parts.username) if parts.username else None)
    password = _secret(
        mapping, "password_env", "password_file", DEFAULT_PASSWORD_ENV, label, "SMTP password"
    )
    if security == "relay" and user:
        raise AlertConfigError(
            f"{label('user')}: AUTH over an unencrypted connection would send the password in"
            " clear: use starttls or ssl, or no user for an internal relay"
        )
    if user and not password:
        raise AlertConfigError(
            f"{label('user')}: a user needs a password: set {DEFAULT_PASSWORD_ENV} (or name the"
            f" variable in {label('password_env')}) or give {label('password_file')}"
        )
    if not user:
        password = None  # an ambient variable of another tool is not a reason to AUTH
    sender = _text(mapping, "from", label)
    if sender is None:
        raise AlertConfigError(f"{label('from')}: the sender address of the alerts is required")
    if check_address(sender) is None:
        raise AlertConfigError(f"{label('from')}: {sender!r} is not a plain local@domain address")
    team_value = mapping.get("team")
    team_items = [team_value] if isinstance(team_value, str) else team_value
    if not isinstance(team_items, list | tuple) or not team_items:
        raise AlertConfigError(
            f"{label('team')}: the security team's address (or a list of them) is required"
        )
    team: list[str] = []
    for item in team_items:
        if not isinstance(item, str) or check_address(item.strip()) is None:
            raise AlertConfigError(f"{label('team')}: {item!r} is not a plain local@domain address")
        if item.strip() not in team:
            team.append(item.strip())
    return SmtpTransport(
        host=parts.hostname,
        port=port or default_port,
        security=security,
        sender=sender,
        team=tuple(team),
        user=user,
        password=password,
        ca_file=_ca_file(mapping, label),
        timeout=_timeout(mapping, label),
    )


def _webhook(mapping: Mapping[str, object], label: Callable[[str], str]) -> WebhookTransport | None:
    url = _text(mapping, "webhook", label)
    if url is None:
        for key in ("webhook_secret_env", "webhook_secret_file"):
            if mapping.get(key) is not None:
                raise AlertConfigError(f"{label(key)}: given without {label('webhook')}")
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a bad port
    except ValueError as exc:
        raise AlertConfigError(f"{label('webhook')}: {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AlertConfigError(f"{label('webhook')}: {url!r}: expected an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise AlertConfigError(
            f"{label('webhook')}: no credentials in the URL; the payload is signed with the"
            f" secret of {label('webhook_secret_env')} (default {DEFAULT_WEBHOOK_SECRET_ENV})"
        )
    secret = _secret(
        mapping,
        "webhook_secret_env",
        "webhook_secret_file",
        DEFAULT_WEBHOOK_SECRET_ENV,
        label,
        "webhook signing secret",
    )
    if not secret:
        raise AlertConfigError(
            f"{label('webhook')}: the payload is signed (HMAC-SHA256): set"
            f" {DEFAULT_WEBHOOK_SECRET_ENV}, name another variable in"
            f" {label('webhook_secret_env')} or give {label('webhook_secret_file')}"
        )
    if len(secret.encode("utf-8")) < MIN_WEBHOOK_SECRET:
        raise AlertConfigError(
            f"{label('webhook')}: the signing secret is shorter than {MIN_WEBHOOK_SECRET} bytes"
            " (RFC 2104: at least the SHA-256 output); make one with `openssl rand -hex 32`"
        )
    value = mapping.get("timeout")
    timeout = 10.0 if value is None else min(_timeout(mapping, label), 60.0)
    return WebhookTransport(
        url=url, secret=secret.encode("utf-8"), timeout=timeout, ca_file=_ca_file(mapping, label)
    )


def parse_transports(mapping: Mapping[str, object], label: Callable[[str], str]) -> AlertTransports:
    """:meth:`AlertTransports.from_mapping` with ``label(key)`` naming each field in errors
    (a schedule's ``alerts.smtp``, the command line's ``--smtp``)."""
    if not isinstance(mapping, Mapping):
        raise AlertConfigError(f"{label('')[:-1] or 'alerts'}: expected a mapping")
    for key in mapping:
        if key not in _KEYS:
            raise AlertConfigError(
                f"{label(str(key))}: unknown key {key!r}; allowed: {', '.join(_KEYS)}"
            )
    return AlertTransports(smtp=_smtp(mapping, label), webhook=_webhook(mapping, label))
