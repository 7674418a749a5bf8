"""Pure parsers for DMARC (RFC 7489, RFC 9989) and MTA-STS (RFC 8461) text, TXT
presentation format, and the bridge from DNS observations to the SPF evaluator
(checks/_spf.py).

Remote text is untrusted: every parser is total (never raises on input), bounded, and
reports what it could not understand as ``errors`` instead of guessing. The checks re-parse
the stored answers, so a stored scan can be re-evaluated with a newer parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from auditor.obs.core import DnsAnswer, Outcome

if TYPE_CHECKING:
    from checks._spf import Answer

# ---------------------------------------------------------------------------
# TXT presentation format


def txt_text(record: str) -> str:
    """The character-strings of one TXT record (presentation format), concatenated.

    RFC 7208 section 3.3: a record made of several strings is read as their
    concatenation without spaces. Undecodable bytes become U+FFFD.
    """
    try:
        rdata = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.TXT, record)
    except (dns.exception.DNSException, ValueError, UnicodeError):
        # Not valid presentation format: take it as one unquoted string.
        return record.strip().strip('"')
    strings = getattr(rdata, "strings", ())
    return b"".join(strings).decode("utf-8", errors="replace")


def txt_texts(records: Iterable[str]) -> list[str]:
    return [txt_text(r) for r in records]


# ---------------------------------------------------------------------------
# SPF: the grammar and check_host() live in checks/_spf.py; this is the bridge from the
# probe's DNS observations to its lookup interface.


def spf_answer(answer: DnsAnswer | None) -> Answer:
    """What check_host() is told for one stored (or just made) DNS lookup.

    None (not looked up: a cap or the deadline) and a timeout of the scanner's own
    resolver are "missing": the auditor's limit, not the zone's fault (not_tested).
    SERVFAIL, REFUSED and timeouts of the zone's servers are DNS errors (temperror).
    """
    from checks._spf import Answer, AnswerKind

    if answer is None or answer.outcome == Outcome.SKIPPED:
        return Answer(AnswerKind.MISSING)
    if answer.outcome == Outcome.OK:
        kind = AnswerKind.OK if answer.records else AnswerKind.NODATA
        return Answer(kind, answer.records)
    if answer.outcome == Outcome.NODATA:
        return Answer(AnswerKind.NODATA)
    if answer.outcome == Outcome.NXDOMAIN:
        return Answer(AnswerKind.NXDOMAIN)
    if answer.outcome == Outcome.TIMEOUT and answer.resolver_ok is False:
        return Answer(AnswerKind.MISSING, detail="the scanner's resolver did not answer")
    return Answer(AnswerKind.ERROR, detail=f"{answer.outcome} {answer.detail}".strip())


# ---------------------------------------------------------------------------
# DMARC

DMARC_VERSION = re.compile(r"^v\s*=\s*DMARC1\s*(;|$)")


@dataclass(frozen=True)
class DmarcRecord:
    text: str
    tags: tuple[tuple[str, str], ...] = ()
    errors: tuple[str, ...] = ()

    def get(self, tag: str) -> str | None:
        for k, v in self.tags:
            if k == tag:
                return v
        return None


def is_dmarc(text: str) -> bool:
    return bool(DMARC_VERSION.match(text.strip()))


def dmarc_records(texts: Iterable[str]) -> list[str]:
    return [t for t in texts if is_dmarc(t)]


POLICIES = ("none", "quarantine", "reject")


def parse_dmarc(text: str) -> DmarcRecord:
    """Tag-value list (RFC 7489 section 6.3, 6.4); v first, p next and required."""
    tags: list[tuple[str, str]] = []
    errors: list[str] = []
    for part in text.split(";")[:50]:
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            errors.append(f"not a tag=value pair: {part[:60]!r}")
            continue
        tags.append((name.strip().lower(), value.strip()))
    rec = DmarcRecord(text, tuple(tags), ())
    if not tags or tags[0] != ("v", "DMARC1"):
        errors.append("v=DMARC1 must come first")
    p = rec.get("p")
    if p is None:
        errors.append("no p= tag (required)")
    elif p.lower() not in POLICIES:
        errors.append(f"unknown policy p={p[:30]!r}")
    sp = rec.get("sp")
    if sp is not None and sp.lower() not in POLICIES:
        errors.append(f"unknown subdomain policy sp={sp[:30]!r}")
    pct = rec.get("pct")
    if pct is not None and not (pct.isdigit() and 0 <= int(pct) <= 100):
        errors.append(f"pct={pct[:10]!r} is not 0-100")
    return DmarcRecord(text, tuple(tags), tuple(errors))


# ---------------------------------------------------------------------------
# MTA-STS

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
            mx.append(value.lower().rstrip("."))
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
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        suffix = pattern[1:]
        return host.endswith(suffix) and "." not in host[: -len(suffix)]
    return pattern == host
