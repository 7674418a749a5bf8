"""Pure parsers for SPF (RFC 7208), DMARC (RFC 7489) and MTA-STS (RFC 8461) text.

Remote text is untrusted: every parser is total (never raises on input), bounded, and
reports what it could not understand as ``errors`` instead of guessing. The zone probe uses
:func:`spf_targets` to know which names to look up next; the checks re-parse the stored
answers, so a stored scan can be re-evaluated with a newer parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import dns.exception
import dns.rdata
import dns.rdataclass
import dns.rdatatype

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
# SPF

SPF_VERSION = re.compile(r"^v=spf1(\s|$)", re.IGNORECASE)
# RFC 7208 section 4.6.4: these terms cause DNS queries and count against the limit of 10.
LOOKUP_TERMS = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
QUALIFIERS = "+-~?"


@dataclass(frozen=True)
class SpfTerm:
    name: str  # mechanism or modifier name, lower case
    value: str | None = None  # domain-spec / CIDR / modifier value
    qualifier: str = "+"
    modifier: bool = False


@dataclass(frozen=True)
class SpfRecord:
    text: str
    terms: tuple[SpfTerm, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def all_term(self) -> SpfTerm | None:
        for t in self.terms:
            if t.name == "all" and not t.modifier:
                return t
        return None

    @property
    def redirect(self) -> str | None:
        for t in self.terms:
            if t.modifier and t.name == "redirect":
                return t.value
        return None


def is_spf(text: str) -> bool:
    return bool(SPF_VERSION.match(text.strip()))


def spf_records(texts: Iterable[str]) -> list[str]:
    """The v=spf1 records among TXT strings (RFC 7208 section 4.5)."""
    return [t for t in texts if is_spf(t)]


_MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$")
_MECH = re.compile(r"^([+\-~?]?)([A-Za-z][A-Za-z0-9_.-]*)(?::(.*)|(/.*))?$")


def parse_spf(text: str) -> SpfRecord:
    terms: list[SpfTerm] = []
    errors: list[str] = []
    words = text.split()
    for word in words[1:200]:  # bounded: a record is at most a few hundred bytes anyway
        mod = _MODIFIER.match(word)
        if mod and ":" not in mod.group(1):
            name = mod.group(1).lower()
            if name in ("redirect", "exp") and any(t.name == name for t in terms if t.modifier):
                errors.append(f"duplicate {name}= modifier")
            terms.append(SpfTerm(name, mod.group(2), modifier=True))
            continue
        mech = _MECH.match(word)
        if not mech:
            errors.append(f"unparsable term {word[:60]!r}")
            continue
        qualifier = mech.group(1) or "+"
        name = mech.group(2).lower()
        value = mech.group(3) if mech.group(3) is not None else mech.group(4)
        if name not in MECHANISMS:
            errors.append(f"unknown mechanism {name!r}")
            continue
        if name in ("ip4", "ip6", "include", "exists") and not value:
            errors.append(f"{name} needs a value")
            continue
        terms.append(SpfTerm(name, value, qualifier))
    return SpfRecord(text, tuple(terms), tuple(errors))


def _domain_of(term: SpfTerm, current: str) -> str | None:
    """The domain a lookup term queries, or None when it holds a macro we cannot expand."""
    value = term.value
    if term.name in ("a", "mx") and value:
        value = value.split("/", 1)[0] or None  # a/24, mx:example.org/24
    target = value or current
    if "%" in target:
        return None  # macros (RFC 7208 section 7) depend on the sender: not evaluated
    return target.rstrip(".").lower()


def spf_targets(record: SpfRecord, current: str) -> list[tuple[str, str]]:
    """(qname, rdtype) pairs the evaluation of ``record`` at ``current`` would query.

    include and redirect fetch the TXT of their target (recursion); a and exists an A
    record; mx the MX RRset. ptr is deprecated and needs the sender's address: not queried.
    """
    out: list[tuple[str, str]] = []
    for term in record.terms:
        kind = {"include": "TXT", "redirect": "TXT", "a": "A", "exists": "A", "mx": "MX"}
        if term.name not in kind:
            continue
        if term.name == "redirect" and record.all_term is not None:
            continue  # RFC 7208 section 6.1: redirect is ignored when "all" is present
        domain = _domain_of(term, current)
        if domain:
            out.append((domain, kind[term.name]))
    return out


@dataclass(frozen=True)
class SpfLookupAnswer:
    """The probe's answer to one lookup, reduced to what the count needs."""

    outcome: str  # ok / nodata / nxdomain / servfail / timeout ...
    records: tuple[str, ...] = ()


@dataclass
class SpfEvaluation:
    """Recursive count of DNS-querying terms (RFC 7208 section 4.6.4)."""

    lookups: int = 0
    void_lookups: int = 0  # NXDOMAIN or no answer (limit 2, section 4.6.4)
    errors: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # includes we have no answer for
    tree: list[str] = field(default_factory=list)  # human-readable path of the count


MAX_DEPTH = 10


def evaluate_spf(
    record: SpfRecord,
    domain: str,
    lookup: Callable[[str, str], SpfLookupAnswer | None],
) -> SpfEvaluation:
    """Count lookups through includes and redirects, with answers from ``lookup``.

    ``lookup(qname, rdtype)`` returns the stored answer or None when the probe did not
    fetch it (cap reached). Loops are cut; depth is bounded.
    """
    ev = SpfEvaluation()
    _walk(record, domain.rstrip(".").lower(), lookup, ev, depth=0, seen=set())
    return ev


def _walk(
    record: SpfRecord,
    domain: str,
    lookup: Callable[[str, str], SpfLookupAnswer | None],
    ev: SpfEvaluation,
    depth: int,
    seen: set[str],
) -> None:
    seen = seen | {domain}
    for err in record.errors:
        ev.errors.append(f"{domain}: {err}")
    for term in record.terms:
        if term.name not in LOOKUP_TERMS:
            continue
        if term.modifier and term.name != "redirect":
            continue
        if term.name == "redirect" and record.all_term is not None:
            continue
        ev.lookups += 1
        ev.tree.append(
            f"{'  ' * depth}{domain}: {term.name}{':' + term.value if term.value else ''}"
        )
        target = _domain_of(term, domain)
        if target is None or term.name == "ptr":
            continue
        rdtype = {"include": "TXT", "redirect": "TXT", "mx": "MX"}.get(term.name, "A")
        answer = lookup(target, rdtype)
        if answer is None:
            if term.name in ("include", "redirect"):
                ev.unresolved.append(target)
            continue
        if answer.outcome in ("nxdomain", "nodata"):
            ev.void_lookups += 1
        if term.name not in ("include", "redirect"):
            continue
        if answer.outcome not in ("ok", "nxdomain", "nodata"):
            ev.errors.append(f"{term.name}:{target}: lookup failed ({answer.outcome})")
            continue
        recs = spf_records(txt_texts(answer.records))
        if len(recs) != 1:
            # RFC 7208 section 5.2: include of a domain without exactly one record = permerror
            ev.errors.append(f"{term.name}:{target}: {len(recs)} SPF records (permerror)")
            continue
        if target in seen:
            ev.errors.append(f"{term.name}:{target}: loop")
            continue
        if depth + 1 >= MAX_DEPTH:
            ev.errors.append(f"{term.name}:{target}: nesting deeper than {MAX_DEPTH}")
            continue
        _walk(parse_spf(recs[0]), target, lookup, ev, depth + 1, seen)


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
