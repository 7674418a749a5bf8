"""MTA-STS (RFC 8461): the ``_mta-sts`` TXT record, the policy file, and MX matching.

Remote text is untrusted: every parser is total (never raises on input), bounded, and
reports what it could not understand as ``errors`` instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from auditor.protocol.names import norm_name

MTA_STS_VERSION = re.compile(r"^v=STSv1\s*(;|$)")
_STS_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
# RFC 8461 section 3.2: max_age is at most 31557600 seconds (about one year).
MTA_STS_MAX_AGE = 31557600


def is_mta_sts_txt(text: str) -> bool:
    return bool(MTA_STS_VERSION.match(text.strip()))


@dataclass(frozen=True)
class MtaStsTxt:
    text: str
    id: str | None = None
    errors: tuple[str, ...] = ()


def parse_mta_sts_txt(text: str) -> MtaStsTxt:
    """``v=STSv1; id=...`` (RFC 8461 section 3.1)."""
    errors: list[str] = []
    ident: str | None = None
    fields = [f.strip() for f in text.split(";") if f.strip()]
    if not fields or fields[0] != "v=STSv1":
        errors.append("v=STSv1 must come first")
    for f in fields[1:20]:
        k, _, v = f.partition("=")
        if k.strip() == "id":
            ident = v.strip()
    if ident is None:
        errors.append("no id= field")
    elif not _STS_ID.match(ident):
        errors.append(f"id {ident[:40]!r} is not 1-32 letters and digits")
    return MtaStsTxt(text, ident, tuple(errors))


@dataclass(frozen=True)
class MtaStsPolicy:
    version: str | None = None
    mode: str | None = None
    max_age: int | None = None
    mx: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


def parse_mta_sts_policy(body: str) -> MtaStsPolicy:
    """The policy file: ``key: value`` lines (RFC 8461 section 3.2)."""
    version = mode = None
    max_age: int | None = None
    mx: list[str] = []
    errors: list[str] = []
    for line in body.splitlines()[:200]:
        line = line.strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            errors.append(f"not a key: value line: {line[:60]!r}")
            continue
        key, value = key.strip(), value.strip()
        if key == "version":
            version = value
        elif key == "mode":
            mode = value
        elif key == "max_age":
            if value.isdigit() and len(value) <= 10:
                max_age = int(value)
            else:
                errors.append(f"max_age {value[:20]!r} is not a number")
        elif key == "mx":
            mx.append(norm_name(value))
    if version != "STSv1":
        errors.append("version: STSv1 missing")
    if mode not in ("enforce", "testing", "none"):
        errors.append(f"mode {mode!r} is not enforce, testing or none")
    if max_age is None:
        errors.append("max_age missing")
    elif max_age > MTA_STS_MAX_AGE:
        errors.append(f"max_age {max_age} exceeds {MTA_STS_MAX_AGE} (RFC 8461 section 3.2)")
    if mode in ("enforce", "testing") and not mx:
        errors.append("no mx: lines")
    return MtaStsPolicy(version, mode, max_age, tuple(mx), tuple(errors))


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 section 4.1: exact match, or ``*.example.org`` matching one label."""
    pattern, host = norm_name(pattern), norm_name(host)
    if pattern.startswith("*."):
        suffix = pattern[1:]
        return host.endswith(suffix) and "." not in host[: -len(suffix)]
    return pattern == host
