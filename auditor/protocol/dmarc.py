"""DMARC records (RFC 7489 and its revision RFC 9989): the tag-list grammar and how a
receiver following each reads a record.

Remote text is untrusted: every parser is total (never raises on input), bounded, and
reports what it could not understand as ``errors`` instead of guessing. The checks re-parse
the stored answers, so a stored scan can be re-evaluated with a newer parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#
# Receivers in service implement RFC 7489; RFC 9989 changes the record: "p" may appear
# anywhere after "v", "pct", "rf" and "ri" are gone, "t" (test mode), "np" (policy for
# non-existent subdomains) and "psd" are new. A record is read the way each of them reads
# it (:func:`dmarc_policy`), and the check reports which one its verdict follows.

RFC7489 = "RFC 7489"
RFC9989 = "RFC 9989"
# RFC 7489 sec. 6.4: dmarc-version = "v" *WSP "=" *WSP %x44 %x4d %x41 %x52 %x43 %x31; the
# record must *start* with it (sec. 6.6.3: "Records that do not start with a "v=" tag
# that identifies the current version of DMARC are discarded"): no leading whitespace.
DMARC_VERSION = re.compile(r"v[ \t]*=[ \t]*DMARC1[ \t]*(;|$)")
_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # RFC 6376 sec. 3.2 tag-name
POLICIES = ("none", "quarantine", "reject")
_DMARC_URI = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):[^\s!,;]+(![0-9]+[kmgtKMGT]?)?")
_FO = re.compile(r"[01ds](:[01ds])*", re.IGNORECASE)
MAX_TAGS = 50


@dataclass(frozen=True)
class DmarcRecord:
    """A DMARC tag-value list (RFC 7489 sec. 6.3, 6.4, with RFC 6376 sec. 3.2's rules)."""

    text: str
    tags: tuple[tuple[str, str], ...] = ()  # (lower-case name, value) in order
    errors: tuple[str, ...] = ()  # tag-list errors: the whole record is invalid

    @property
    def valid(self) -> bool:
        return not self.errors

    def get(self, tag: str) -> str | None:
        for k, v in self.tags:
            if k == tag:
                return v
        return None


def is_dmarc(text: str) -> bool:
    return bool(DMARC_VERSION.match(text))


def dmarc_records(texts: Iterable[str]) -> list[str]:
    return [t for t in texts if is_dmarc(t)]


def parse_dmarc(text: str) -> DmarcRecord:
    """The tag list. RFC 6376 sec. 3.2 (adopted by RFC 7489 sec. 6.4): "Tags with
    duplicate names MUST NOT occur within a single tag-list; if a tag name does occur more
    than once, the entire tag-list is invalid"; "v" must be the first tag."""
    tags: list[tuple[str, str]] = []
    errors: list[str] = []
    for part in text.split(";")[:MAX_TAGS]:
        part = part.strip(" \t\r\n")
        if not part:
            continue  # "v=DMARC1; p=none;" (a trailing ";" is allowed; empty specs tolerated)
        name, sep, value = part.partition("=")
        name = name.strip(" \t")
        if not sep or not _TAG_NAME.fullmatch(name):
            errors.append(f"not a tag=value pair: {part[:60]!r}")
            continue
        key = name.lower()
        if any(k == key for k, _ in tags):
            errors.append(f"tag {name}= appears more than once (RFC 6376 3.2: record invalid)")
            continue
        tags.append((key, value.strip(" \t")))
    if not tags or tags[0][0] != "v" or tags[0][1] != "DMARC1":
        errors.insert(0, "v=DMARC1 must come first")
    return DmarcRecord(text, tuple(tags), tuple(errors))


def _dmarc_uris(value: str) -> tuple[list[str], list[str]]:
    """(valid, invalid) DMARC URIs of a rua=/ruf= value (RFC 7489 sec. 6.4: a URI with a
    scheme, optionally "!" and a size; a bare address lacks "mailto:")."""
    good: list[str] = []
    bad: list[str] = []
    for uri in (u.strip(" \t") for u in value.split(",")):
        (good if _DMARC_URI.fullmatch(uri) else bad).append(uri[:80])
    return good, bad


@dataclass(frozen=True)
class DmarcPolicy:
    """What a receiver following ``rfc`` takes from one record."""

    rfc: str
    applies: bool = True  # False: "applies no DMARC processing" (RFC 7489 sec. 6.6.3)
    p: str = "none"  # the requested policy for the domain (after the rules of 6.6.3)
    sp: str = "none"  # for subdomains (defaults to p)
    np: str | None = None  # RFC 9989: for non-existent subdomains (defaults to sp)
    pct: int = 100  # RFC 7489 only (RFC 9989 removed it)
    testing: bool = False  # RFC 9989 t=y: the policy is not to be applied
    psd: str = "u"  # RFC 9989: y / n / u
    rua: tuple[str, ...] = ()  # valid aggregate-report URIs
    ruf: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()  # tags dropped, their default used (syntax errors)
    problems: tuple[str, ...] = ()  # why p was replaced by none, or DMARC does not apply


def dmarc_policy(record: DmarcRecord, rfc: str = RFC7489) -> DmarcPolicy:
    """Read ``record`` as a receiver following RFC 7489 or RFC 9989 does.

    Both: an invalid tag list is no record; "if a retrieved policy record does not contain
    a valid "p" tag, or contains an "sp" tag that is not valid", the receiver acts as if
    "p=none" was published when rua= has a valid URI, and applies no DMARC processing
    otherwise (RFC 7489 sec. 6.6.3; RFC 9989 keeps the rule and adds np=). Other syntax
    errors are "discarded in favor of default values (if any)" (RFC 7489 sec. 6.3), e.g.
    pct=abc means pct=100. RFC 7489 sec. 6.4: "p" must come right after "v"
    (dmarc-record = dmarc-version dmarc-sep [dmarc-request] ...); RFC 9989 lifts that.
    """
    if not record.valid:
        return DmarcPolicy(rfc, applies=False, problems=record.errors)
    ignored: list[str] = []
    problems: list[str] = []
    bis = rfc == RFC9989
    rua, bad_rua = _dmarc_uris(record.get("rua") or "")
    ruf, bad_ruf = _dmarc_uris(record.get("ruf") or "")
    if record.get("rua") is not None and bad_rua:
        ignored.append(f"rua={','.join(bad_rua)} (not a URI: mailto: missing?)")
    if record.get("ruf") is not None and bad_ruf:
        ignored.append(f"ruf={','.join(bad_ruf)} (not a URI)")

    def policy(tag: str) -> str | None:
        value = record.get(tag)
        if value is None:
            return None
        if value.lower() in POLICIES:
            return value.lower()
        problems.append(f"{tag}={value[:30]!r} is not none, quarantine or reject")
        return ""

    p = policy("p")
    if p is None:
        problems.append("no p= tag")
    elif p and not bis and record.tags[1][0] != "p":
        problems.append(f"p= is not the tag right after v= ({RFC7489} 6.4)")
        p = ""
    sp = policy("sp")
    np = policy("np") if bis else None
    pct = 100
    testing = False
    psd = "u"
    if not bis:
        raw = record.get("pct")
        if raw is not None:
            if raw.isascii() and raw.isdigit() and len(raw) <= 3 and int(raw) <= 100:
                pct = int(raw)
            else:
                ignored.append(f"pct={raw[:10]!r} (not 0-100: default 100 used, {RFC7489} 6.3)")
    else:
        if record.get("pct") is not None:
            ignored.append(f"pct= (removed by {RFC9989}; t= replaces it)")
        raw_t = record.get("t")
        if raw_t is not None:
            if raw_t.lower() in ("y", "n"):
                testing = raw_t.lower() == "y"
            else:
                ignored.append(f"t={raw_t[:10]!r} (not y or n: default n used)")
        raw_psd = record.get("psd")
        if raw_psd is not None:
            if raw_psd.lower() in ("y", "n", "u"):
                psd = raw_psd.lower()
            else:
                ignored.append(f"psd={raw_psd[:10]!r} (not y, n or u)")
    for tag, ok in (("adkim", ("r", "s")), ("aspf", ("r", "s"))):
        raw = record.get(tag)
        if raw is not None and raw.lower() not in ok:
            ignored.append(f"{tag}={raw[:10]!r} (not r or s: default r used)")
    raw_fo = record.get("fo")
    if raw_fo is not None and not _FO.fullmatch(raw_fo.replace(" ", "")):
        ignored.append(f"fo={raw_fo[:20]!r} (default 0 used)")
    if not bis:
        raw_ri = record.get("ri")
        if raw_ri is not None and not (raw_ri.isascii() and raw_ri.isdigit()):
            ignored.append(f"ri={raw_ri[:20]!r} (default 86400 used)")
    if problems:
        # p (or sp/np) missing or invalid: p=none if rua has a valid URI, else no DMARC
        if not rua:
            return DmarcPolicy(rfc, applies=False, ignored=tuple(ignored), problems=tuple(problems))
        return DmarcPolicy(
            rfc, True, "none", "none", "none" if bis else None, 100, False, psd,
            tuple(rua), tuple(ruf), tuple(ignored), tuple(problems),
        )  # fmt: skip
    assert p
    sp = sp or p
    return DmarcPolicy(
        rfc, True, p, sp, (np or sp) if bis else None, pct, testing, psd,
        tuple(rua), tuple(ruf), tuple(ignored), (),
    )  # fmt: skip


def report_destinations(record: DmarcRecord) -> list[tuple[str, str]]:
    """(tag, host) of every mailto: URI of rua= and ruf= (RFC 7489 sec. 6.4: the report
    URIs; other schemes carry no address to authorise)."""
    out: list[tuple[str, str]] = []
    for tag in ("rua", "ruf"):
        good, _bad = _dmarc_uris(record.get(tag) or "")
        for uri in good:
            scheme, _, rest = uri.partition(":")
            if scheme.lower() != "mailto":
                continue
            address = rest.split("!", 1)[0]
            host = address.rpartition("@")[2].strip().rstrip(".").lower()
            if host and (tag, host) not in out:
                out.append((tag, host))
    return out


def external_report_domains(record: DmarcRecord, domain: str) -> list[str]:
    """The report destination hosts whose organisational domain differs from ``domain``'s
    (RFC 7489 sec. 7.1: those must authorise the reports with a record at
    ``<domain>._report._dmarc.<host>``)."""
    from auditor.protocol.names import registrable_domain

    own = registrable_domain(domain)
    hosts = [h for _tag, h in report_destinations(record)]
    return list(dict.fromkeys(h for h in hosts if registrable_domain(h) != own))


def authorises_reports(texts: Iterable[str]) -> bool:
    """RFC 7489 sec. 7.1: the destination's TXT authorises when one record begins with
    v=DMARC1 (and nothing else is required of it)."""
    return any(is_dmarc(t) for t in texts)
