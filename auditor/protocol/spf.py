"""SPF (RFC 7208): the record grammar and check_host(), with no I/O of their own.

Remote text is untrusted: parsing is total (never raises), bounded, and a syntax error
anywhere makes the record a permerror (RFC 7208 sec. 4.6), with the term named.

**The lookup seam.** :func:`check_host` never resolves anything: it is a generator that
*yields* a :class:`Query` (name, type) and is *sent* the :class:`Answer`. Whoever drives it
decides where answers come from:

- the zone probe drives it with live DNS (:func:`drive_async`), so it fetches exactly
  the records a receiver would, in a receiver's order, and stores every answer;
- ``mail.spf`` drives it again over the stored answers (:func:`drive`), so a stored scan
  is re-evaluated with no network, and an answer the probe did not fetch is a distinct
  "missing" outcome (not_tested), never a guess;
- the unit tests drive it over the zone data of the RFC 7208 test suite.

**Auditing a record vs. judging a sender.** check_host() answers "may <ip> send as
<domain>?". The auditor asks "what does this domain's policy do to a server it does not
list?": that is check_host() for an address that no ip4/ip6/a/mx/ptr term matches
(``ip=None`` plus a family), which evaluates every term a receiver evaluates for such a
sender (all of them up to ``all``), counting DNS-querying terms and void lookups exactly as
a receiver does. It is run once per address family: ``a`` and ``mx`` query A for IPv4
senders and AAAA for IPv6 ones (sec. 5.3, 5.4). Macros that depend on the sender
(%{i}, %{s}, %{l}, %{h}, %{p}, %{c}...) cannot be expanded then: such a term is counted,
not queried, and reported as undetermined.

**Why hand-written.** pyspf (the reference implementation that ships this test suite)
resolves inside the evaluation through a module-level ``DNSLookup`` (tests monkeypatch it),
and checkdmarc resolves with its own dnspython resolver inside its SPF parser: neither can
be fed stored answers or share the scan's resolver, limiter and cache, and neither is
async. Evaluating stored observations again (``auditor evaluate``) needs the evaluator
to be pure, so it is written here from RFC 7208 sections 4 to 7, and checked against the
whole openspf RFC 7208 test suite (tests/data/rfc7208-tests.yml).

Limits (10 DNS-querying terms, 2 void lookups, 10 MX names, 10 PTR names: sec. 4.6.4) are
parameters of :class:`SpfLimits` with the RFC's values as defaults; the check passes its
profile's values.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar
from urllib.parse import quote

from auditor.obs.core import DnsAnswer, Outcome
from auditor.protocol.names import norm_name
from auditor.protocol.txt import txt_text

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
T = TypeVar("T")


# ---------------------------------------------------------------------------
# The lookup interface


class AnswerKind(StrEnum):
    OK = "ok"  # records present
    NODATA = "nodata"  # RCODE 0, no answer of that type (a "void lookup", sec. 4.6.4)
    NXDOMAIN = "nxdomain"  # RCODE 3 (void too)
    ERROR = "error"  # SERVFAIL, REFUSED, timeout...: temperror (sec. 2.6.6, 5)
    MISSING = "missing"  # the driver has no answer (not fetched): the auditor's limit


@dataclass(frozen=True)
class Query:
    name: str  # lower case, no trailing dot
    rdtype: str  # TXT / A / AAAA / MX / PTR


@dataclass(frozen=True)
class Answer:
    """Records in presentation format: A/AAAA addresses, "10 mx.example." for MX,
    "host.example." for PTR, quoted character-strings for TXT."""

    kind: AnswerKind
    records: tuple[str, ...] = ()
    detail: str = ""

    @property
    def void(self) -> bool:
        return self.kind in (AnswerKind.NODATA, AnswerKind.NXDOMAIN) or (
            self.kind == AnswerKind.OK and not self.records
        )


Steps = Generator[Query, Answer, T]


def drive(steps: Steps[T], lookup: Callable[[Query], Answer]) -> T:
    """Run an evaluation with a synchronous lookup (stored answers, test zones)."""
    try:
        query = next(steps)
        while True:
            query = steps.send(lookup(query))
    except StopIteration as stop:
        result: T = stop.value
        return result


async def drive_async(steps: Steps[T], lookup: Callable[[Query], Awaitable[Answer]]) -> T:
    """Run an evaluation with an asynchronous lookup (the zone probe's resolver)."""
    try:
        query = next(steps)
        while True:
            query = steps.send(await lookup(query))
    except StopIteration as stop:
        result: T = stop.value
        return result


def spf_answer(answer: DnsAnswer | None) -> Answer:
    """What check_host() is told for one stored (or just made) DNS lookup: the bridge from
    the probe's DNS observations to the lookup interface.

    None (not looked up: a cap or the deadline) and a timeout of the scanner's own
    resolver are "missing": the auditor's limit, not the zone's fault (not_tested).
    SERVFAIL, REFUSED and timeouts of the zone's servers are DNS errors (temperror).
    """
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
# Results


class SpfResult(StrEnum):
    """RFC 7208 sec. 2.6."""

    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    PERMERROR = "permerror"
    TEMPERROR = "temperror"


QUALIFIER_RESULT = {
    "+": SpfResult.PASS,
    "-": SpfResult.FAIL,
    "~": SpfResult.SOFTFAIL,
    "?": SpfResult.NEUTRAL,
}


@dataclass(frozen=True)
class SpfLimits:
    """Processing limits of RFC 7208 sec. 4.6.4 (defaults are the RFC's)."""

    lookups: int = 10  # DNS-querying terms per evaluation ("MUST limit ... to 10")
    void: int = 2  # void lookups ("SHOULD limit ... to two"; exceeding it is permerror)
    mx_names: int = 10  # MX names per "mx" term (more is permerror)
    ptr_names: int = 10  # PTR names per "ptr" term / %{p} (the rest are ignored)


@dataclass(frozen=True)
class SpfOutcome:
    """What check_host() concluded, and the facts behind it."""

    result: SpfResult
    reason: str  # human-readable, names the deciding term
    domain: str = ""  # the domain whose record held the deciding term
    term: str = ""  # the deciding term as written ("" for a default result)
    explanation: str | None = None  # the exp= text of a "fail" (None: the default)
    lookups: int = 0  # DNS-querying terms evaluated
    void_lookups: int = 0
    trace: tuple[str, ...] = ()  # every evaluated DNS-querying term, indented by depth
    notes: tuple[str, ...] = ()  # ptr used, undetermined terms...
    undetermined: tuple[str, ...] = ()  # terms that depend on the sender (audit mode)
    missing: tuple[str, ...] = ()  # queries the driver had no answer for
    records: tuple[tuple[str, str], ...] = ()  # (domain, SPF record) met, first = <domain>'s
    decided: bool = True  # False: the outcome depends on the sender (audit mode)

    @property
    def record(self) -> str:
        """The SPF record of the domain checked first ("" when it had none)."""
        return self.records[0][1] if self.records else ""

    @property
    def not_observed(self) -> bool:
        """A temperror caused by an answer the auditor did not fetch (not the zone's)."""
        return self.result == SpfResult.TEMPERROR and bool(self.missing)


# ---------------------------------------------------------------------------
# Record selection (sec. 4.5) and TXT presentation format


def is_spf_record(text: str) -> bool:
    """Sec. 4.5: the record begins with exactly "v=spf1" (ABNF literals are case-insensitive,
    test suite "case-insensitive") followed by SP or the end of the record. Leading
    whitespace means it does not begin with the version: not an SPF record."""
    return text[:6].lower() == "v=spf1" and (len(text) == 6 or text[6] == " ")


def spf_records(texts: Iterable[str]) -> list[str]:
    return [t for t in texts if is_spf_record(t)]


# ---------------------------------------------------------------------------
# Grammar (sec. 4.6.1, 5, 6, 7.1 and the collected ABNF of sec. 12)

MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_MOD_NAME = re.compile(
    r"[A-Za-z][A-Za-z0-9_.-]*"
)  # name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
_MECH_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# qnum: no leading zeros (sec. 5.6: "ip4-network ... qnum")
_QNUM = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])"
_IP4_NETWORK = re.compile(rf"{_QNUM}\.{_QNUM}\.{_QNUM}\.{_QNUM}")
_CIDR4 = re.compile(r"0|[1-9][0-9]?")  # ip4-cidr-length = "/" ("0" / %x31-39 0*1DIGIT)
_CIDR6 = re.compile(r"0|[1-9][0-9]{0,2}")  # ip6-cidr-length = "/" ("0" / %x31-39 0*2DIGIT)
_DUAL_CIDR = re.compile(r"(?:/([0-9]+))?(?://([0-9]+))?")
_DUAL_CIDR_TAIL = re.compile(r"(?:/[0-9]+)?(?://[0-9]+)?\Z")
# toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
_TOPLABEL = re.compile(r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9]")
_MACRO = re.compile(r"%\{([A-Za-z])([0-9]*)(r?)([.\-+,/_=]*)\}", re.IGNORECASE)
DOMAIN_LETTERS = frozenset("slodiphv")  # sec. 7.2 macro-letter
EXP_ONLY_LETTERS = frozenset("crt")  # sec. 7.2: "allowed only in "exp" text"


@dataclass(frozen=True)
class Macro:
    letter: str  # as written (upper case: URL-escape the value, sec. 7.3)
    digits: int | None = None
    reverse: bool = False
    delimiters: str = ""


@dataclass(frozen=True)
class Escape:
    """ "%%", "%_" or "%-" (sec. 7.1): a macro-expand that stands for fixed text."""

    text: str  # "%", " " or "%20"


MacroPart = str | Macro | Escape  # literal text or an expansion


class MacroError(ValueError):
    pass


def parse_macro_string(text: str, *, explain: bool = False) -> tuple[MacroPart, ...]:
    """Sec. 7.1 macro-string (or explain-string, which adds SP and the letters c, r, t).

    Raises MacroError with the reason on a syntax error.
    """
    parts: list[MacroPart] = []
    buf: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            nxt = text[i + 1 : i + 2]
            if nxt in ("%", "_", "-"):
                if buf:
                    parts.append("".join(buf))
                    buf = []
                parts.append(Escape({"%": "%", "_": " ", "-": "%20"}[nxt]))
                i += 2
                continue
            m = _MACRO.match(text, i)
            if nxt != "{" or not m:
                raise MacroError(
                    f"'%' not followed by '{{', '%', '-' or '_' at {text[i : i + 8]!r}"
                )
            letter, digits, rev, delims = m.group(1), m.group(2), m.group(3), m.group(4)
            low = letter.lower()
            if low not in DOMAIN_LETTERS and not (explain and low in EXP_ONLY_LETTERS):
                where = "only in exp= text" if low in EXP_ONLY_LETTERS else "not a macro letter"
                raise MacroError(f"macro %{{{letter}}}: '{letter}' is {where} (sec. 7.2)")
            if digits and int(digits[:4]) == 0:
                raise MacroError(f"macro {m.group(0)!r}: the digit transformer must be nonzero")
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(Macro(letter, int(digits[:4]) if digits else None, bool(rev), delims))
            i = m.end()
            continue
        code = ord(ch)
        # macro-literal = %x21-24 / %x26-7E; explain-string also allows SP
        if not (0x21 <= code <= 0x7E or (explain and ch == " ")):
            raise MacroError(f"character {ch!r} outside the ABNF")
        buf.append(ch)
        i += 1
    if buf:
        parts.append("".join(buf))
    return tuple(parts)


def check_domain_spec(text: str) -> str:
    """Why ``text`` is not a domain-spec (sec. 7.1), or "" when it is one.

    domain-spec = macro-string domain-end; domain-end = ( "." toplabel [ "." ] ) /
    macro-expand. So ``museum``, ``foo-bar``, ``abc.123`` and ``1.2.3.4`` are errors.
    """
    if not text:
        return "empty domain-spec"
    try:
        parts = parse_macro_string(text)
    except MacroError as exc:
        return str(exc)
    last = parts[-1] if parts else ""
    if not isinstance(last, str):
        return ""  # domain-end = macro-expand ("%{d}", and also "%%", "%_", "%-")
    tail = last[:-1] if last.endswith(".") else last
    dot = tail.rfind(".")
    if dot < 0:
        return f"{text!r} is not a domain name (no '.' before the top label, sec. 7.1)"
    top = tail[dot + 1 :]
    if not _TOPLABEL.fullmatch(top):
        if _IP4_NETWORK.fullmatch(tail) or top.isdigit():
            return f"{text!r}: the top label is numeric (an address? use ip4:/ip6:)"
        return f"{text!r}: {top!r} is not a valid top label (sec. 7.1)"
    return ""


@dataclass(frozen=True)
class Mechanism:
    qualifier: str  # + - ~ ?
    name: str  # lower case
    text: str  # the term as written
    domain_spec: str = ""  # include/exists: required; a/mx/ptr: optional ("" = <domain>)
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None  # ip4/ip6
    cidr4: int | None = None  # a/mx dual-cidr-length
    cidr6: int | None = None


@dataclass(frozen=True)
class Modifier:
    name: str  # lower case
    value: str
    text: str


Term = Mechanism | Modifier


@dataclass(frozen=True)
class SpfRecord:
    text: str
    terms: tuple[Term, ...] = ()
    error: str = ""  # the first syntax error ("" when the record is valid)
    error_term: str = ""  # the term it is in

    @property
    def valid(self) -> bool:
        return not self.error

    @property
    def mechanisms(self) -> tuple[Mechanism, ...]:
        return tuple(t for t in self.terms if isinstance(t, Mechanism))

    def modifier(self, name: str) -> Modifier | None:
        for t in self.terms:
            if isinstance(t, Modifier) and t.name == name:
                return t
        return None

    @property
    def all_term(self) -> Mechanism | None:
        return next((m for m in self.mechanisms if m.name == "all"), None)


def _cidr(text: str | None, pattern: re.Pattern[str], maximum: int) -> int | str | None:
    if text is None:
        return None
    if not pattern.fullmatch(text) or int(text) > maximum:
        return f"/{text} is not a prefix length 0-{maximum}"
    return int(text)


def _parse_mechanism(word: str) -> Mechanism | str:
    qualifier = "+"
    rest = word
    if rest[:1] in QUALIFIER_RESULT:
        qualifier, rest = rest[0], rest[1:]
    m = _MECH_NAME.match(rest)
    if not m:
        return "not a mechanism or modifier"
    name = m.group(0).lower()
    arg = rest[m.end() :]
    if name not in MECHANISMS:
        if arg.startswith("=") and _MOD_NAME.fullmatch(rest[: m.end()]):
            return "a modifier cannot have a qualifier"
        return f"unknown mechanism {m.group(0)!r}"
    if name == "all":
        if arg:
            return "'all' takes no argument (sec. 5.1)"
        return Mechanism(qualifier, name, word)
    if name in ("include", "exists"):
        if not arg.startswith(":"):
            return f"{name} needs ':' and a domain (sec. 5.2, 5.7)"
        spec = arg[1:]
        why = check_domain_spec(spec)
        return f"{name}: {why}" if why else Mechanism(qualifier, name, word, domain_spec=spec)
    if name == "ptr":
        if not arg:
            return Mechanism(qualifier, name, word)
        if not arg.startswith(":"):
            return "ptr takes no prefix length (sec. 5.5)"
        spec = arg[1:]
        why = check_domain_spec(spec)
        return f"ptr: {why}" if why else Mechanism(qualifier, name, word, domain_spec=spec)
    if name in ("a", "mx"):
        spec = ""
        cidr_text = arg
        if arg.startswith(":"):
            body = arg[1:]
            # the longest dual-cidr-length suffix: "foo.example.com/24//64" (the leftmost
            # start that matches to the end; linear, the pattern is anchored)
            tail = _DUAL_CIDR_TAIL.search(body)
            cut = tail.start() if tail else len(body)
            spec, cidr_text = body[:cut], body[cut:]
            why = check_domain_spec(spec)
            if why:
                return f"{name}: {why}"
        dm = _DUAL_CIDR.fullmatch(cidr_text)
        if not dm:
            return f"{name}: {cidr_text!r} is not a dual-cidr-length (sec. 5.3)"
        c4 = _cidr(dm.group(1), _CIDR4, 32)
        c6 = _cidr(dm.group(2), _CIDR6, 128)
        for c in (c4, c6):
            if isinstance(c, str):
                return f"{name}: {c}"
        assert not isinstance(c4, str) and not isinstance(c6, str)
        return Mechanism(qualifier, name, word, domain_spec=spec, cidr4=c4, cidr6=c6)
    # ip4 / ip6 (sec. 5.6)
    if not arg.startswith(":") or len(arg) == 1:
        return f"{name} needs ':' and an address (sec. 5.6)"
    body = arg[1:]
    if name == "ip4":
        net, slash, cidr_text = body.partition("/")
        if not _IP4_NETWORK.fullmatch(net):
            return f"ip4: {net!r} is not a dotted-quad IPv4 address (sec. 5.6)"
        c = _cidr(cidr_text if slash else None, _CIDR4, 32)
        if isinstance(c, str):
            return f"ip4: {c}"
        network: ipaddress.IPv4Network | ipaddress.IPv6Network = ipaddress.IPv4Network(
            f"{net}/{32 if c is None else c}", strict=False
        )
    else:
        net, slash, cidr_text = body.partition("/")
        try:
            if "%" in net or not net:
                raise ValueError(net)
            ipaddress.IPv6Address(net)
        except ValueError:
            return f"ip6: {net!r} is not an IPv6 address (sec. 5.6)"
        c = _cidr(cidr_text if slash else None, _CIDR6, 128)
        if isinstance(c, str):
            return f"ip6: {c}"
        network = ipaddress.IPv6Network(f"{net}/{128 if c is None else c}", strict=False)
    return Mechanism(qualifier, name, word, network=network)


def parse_record(text: str) -> SpfRecord:
    """Parse one SPF record (already selected by :func:`is_spf_record`).

    Sec. 4.6: "if there are any syntax errors anywhere in the record, check_host()
    returns immediately with the result "permerror"": the first error is kept, with the
    term it is in.
    """
    terms: list[Term] = []

    def bad(why: str, term: str) -> SpfRecord:
        return SpfRecord(text, tuple(terms), why, term[:80])

    if not is_spf_record(text):
        return bad("not an SPF record (does not begin with 'v=spf1')", text[:20])
    seen: set[str] = set()
    # sec. 4.6.1: terms are separated by SP only (1*SP); a TAB, CR or LF is not a separator
    for word in text[6:].split(" "):
        if not word:
            continue
        odd = next((c for c in word if not 0x21 <= ord(c) <= 0x7E), None)
        if odd is not None:
            kind = "a control character" if ord(odd) < 0x20 or ord(odd) == 0x7F else "non-ASCII"
            return bad(f"{kind} ({odd!r}) in the record (sec. 3.1, 4.6.1)", word)
        eq = word.find("=")
        mod = _MOD_NAME.match(word)
        if eq > 0 and mod is not None and mod.end() == eq:
            name = word[:eq].lower()
            value = word[eq + 1 :]
            if name in ("redirect", "exp"):
                if name in seen:
                    return bad(f"{name}= appears more than once (sec. 6)", word)
                seen.add(name)
                why = check_domain_spec(value)
                if why:
                    return bad(f"{name}=: {why}", word)
            else:
                try:
                    parse_macro_string(value)
                except MacroError as exc:
                    return bad(f"modifier {name}=: {exc}", word)
            terms.append(Modifier(name, value, word))
            continue
        parsed = _parse_mechanism(word)
        if isinstance(parsed, str):
            return bad(parsed, word)
        terms.append(parsed)
    return SpfRecord(text, tuple(terms))


# ---------------------------------------------------------------------------
# Evaluation (sec. 4 and 5)


class _Stop(Exception):
    def __init__(self, result: SpfResult, reason: str, domain: str = "", term: str = "") -> None:
        super().__init__(reason)
        self.result, self.reason, self.domain, self.term = result, reason, domain, term


class _Undetermined(Exception):
    """A macro needs the sender (audit mode)."""


@dataclass
class _State:
    ip: IP | None
    family: int  # 4 or 6
    sender: str
    local: str
    sender_domain: str
    helo: str
    limits: SpfLimits
    receiver: str
    now: int
    lookups: int = 0
    void: int = 0
    trace: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    undetermined: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    records: dict[str, str] = field(default_factory=dict)
    validated_p: str | None = None


def valid_domain(name: str) -> bool:
    """Sec. 4.3: a multi-label domain name with labels of 1-63 octets (253 in all)."""
    name = name[:-1] if name.endswith(".") else name
    if not name or len(name) > 253 or name.startswith("["):
        return False
    labels = name.split(".")
    return len(labels) > 1 and all(0 < len(label) <= 63 for label in labels)


def _queryable(name: str) -> bool:
    """A name a DNS query can be composed from (RFC 1035: labels of 1-63 octets)."""
    name = name[:-1] if name.endswith(".") else name
    return bool(name) and len(name) <= 253 and all(0 < len(lab) <= 63 for lab in name.split("."))


def _client(ip: str | IP | None) -> IP | None:
    if ip is None:
        return None
    addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    # sec. 5 (and 5.6): an IPv4-mapped IPv6 client is an IPv4 client
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def check_host(
    ip: str | IP | None,
    domain: str,
    sender: str = "",
    helo: str = "",
    *,
    family: int | None = None,
    limits: SpfLimits | None = None,
    receiver: str = "unknown",
    now: int = 0,
    explain: bool = True,
) -> Steps[SpfOutcome]:
    """RFC 7208 check_host(<ip>, <domain>, <sender>) as a sans-I/O generator.

    ``ip=None`` (with ``family`` 4 or 6) is a sender that no address term lists: the
    auditor's question. ``sender`` defaults to postmaster@<domain> (sec. 4.3); ``now`` is
    the %{t} timestamp; ``explain`` fetches the exp= text of a fail (sec. 6.2).
    """
    client = _client(ip)
    fam = family or (6 if isinstance(client, ipaddress.IPv6Address) else 4)
    domain = domain.rstrip(".")
    if not sender:
        sender = f"postmaster@{domain}"
    local, at, sdomain = sender.rpartition("@")
    if not at:
        local, sdomain = "postmaster", sender
    local = local or "postmaster"  # sec. 4.3: no local-part -> "postmaster"
    st = _State(
        client, fam, f"{local}@{sdomain}", local, sdomain, helo, limits or SpfLimits(),
        receiver, now,
    )  # fmt: skip
    try:
        if not valid_domain(domain):
            raise _Stop(SpfResult.NONE, f"{domain!r} is not a valid multi-label domain name")
        result, explanation, _, where, term, reason = yield from _check(
            st, domain.lower(), 0, explain
        )
        return _outcome(st, result, reason, where, term, explanation)
    except _Stop as stop:
        return _outcome(st, stop.result, stop.reason, stop.domain, stop.term, None)
    except _Undetermined as exc:
        # audit mode: the result for an unlisted sender depends on who the sender is
        return _outcome(st, SpfResult.NEUTRAL, str(exc), domain, "", None, decided=False)


def _outcome(
    st: _State,
    result: SpfResult,
    reason: str,
    domain: str,
    term: str,
    explanation: str | None,
    *,
    decided: bool = True,
) -> SpfOutcome:
    return SpfOutcome(
        result=result,
        reason=reason,
        domain=domain,
        term=term,
        explanation=explanation,
        lookups=st.lookups,
        void_lookups=st.void,
        trace=tuple(st.trace),
        notes=tuple(dict.fromkeys(st.notes)),
        undetermined=tuple(dict.fromkeys(st.undetermined)),
        missing=tuple(dict.fromkeys(st.missing)),
        records=tuple(st.records.items()),
        decided=decided,
    )


def _ask(st: _State, name: str, rdtype: str, term: str, domain: str) -> Steps[Answer]:
    """One query; a DNS error is a temperror naming the term (sec. 5: "the mechanism stops
    and the topmost check_host() returns temperror")."""
    answer = yield Query(norm_name(name), rdtype)
    if answer.kind == AnswerKind.MISSING:
        st.missing.append(f"{name} {rdtype}")
        raise _Stop(
            SpfResult.TEMPERROR, f"{term}: {rdtype} of {name} was not fetched", domain, term
        )
    if answer.kind == AnswerKind.ERROR:
        detail = f" ({answer.detail})" if answer.detail else ""
        raise _Stop(
            SpfResult.TEMPERROR,
            f"{term}: {rdtype} lookup of {name} failed{detail}",
            domain,
            term,
        )
    return answer


def _count_void(st: _State, answer: Answer, term: str, domain: str) -> None:
    if answer.void:
        st.void += 1
        if st.void > st.limits.void:
            raise _Stop(
                SpfResult.PERMERROR,
                f"more than {st.limits.void} void lookups (sec. 4.6.4); the last: {term}",
                domain,
                term,
            )


def _count_term(st: _State, term: str, domain: str, depth: int) -> None:
    st.lookups += 1
    st.trace.append(f"{'  ' * depth}{domain}: {term}")
    if st.lookups > st.limits.lookups:
        raise _Stop(
            SpfResult.PERMERROR,
            f"more than {st.limits.lookups} DNS-querying terms (sec. 4.6.4); "
            f"number {st.lookups} is {term} at {domain}",
            domain,
            term,
        )


def _fetch_record(
    st: _State, domain: str, term: str, where: str
) -> Steps[tuple[SpfRecord | None, str]]:
    """Sec. 4.4/4.5: the SPF record of ``domain``, or None (result "none") with why."""
    answer = yield Query(domain, "TXT")
    by = f"{term}: " if term else ""
    if answer.kind == AnswerKind.MISSING:
        st.missing.append(f"{domain} TXT")
        raise _Stop(SpfResult.TEMPERROR, f"{by}TXT of {domain} was not fetched", where, term)
    if answer.kind == AnswerKind.ERROR:
        detail = f" ({answer.detail})" if answer.detail else ""
        raise _Stop(SpfResult.TEMPERROR, f"{by}TXT lookup of {domain} failed{detail}", where, term)
    if answer.kind == AnswerKind.NXDOMAIN:
        return None, f"{domain} does not exist (NXDOMAIN)"
    records = spf_records(txt_text(r) for r in answer.records)
    if not records:
        return None, f"no SPF record at {domain}"
    if len(records) > 1:
        raise _Stop(
            SpfResult.PERMERROR,
            f"{len(records)} SPF records at {domain} (sec. 4.5: exactly one)",
            domain,
            term,
        )
    st.records.setdefault(domain, records[0])
    record = parse_record(records[0])
    if not record.valid:
        raise _Stop(
            SpfResult.PERMERROR,
            f"syntax error in {record.error_term!r} at {domain}: {record.error}",
            domain,
            record.error_term,
        )
    return record, ""


def _check(
    st: _State, domain: str, depth: int, explain: bool, term: str = ""
) -> Steps[tuple[SpfResult, str | None, str, str, str, str]]:
    """(result, explanation, record text, deciding domain, deciding term, reason)."""
    record, why = yield from _fetch_record(st, domain, term, domain)
    if record is None:
        return SpfResult.NONE, None, "", domain, "", why
    for mech in record.mechanisms:
        matched = yield from _match(st, mech, domain, depth)
        if matched:
            result = QUALIFIER_RESULT[mech.qualifier]
            explanation = None
            if result == SpfResult.FAIL and explain:
                explanation = yield from _explanation(st, record, domain)
            return result, explanation, record.text, domain, mech.text, f"{mech.text} matched"
    redirect = record.modifier("redirect")
    if redirect is not None:
        # sec. 6.1: after all mechanisms failed to match ("all" always matches, so a
        # record with "all" never gets here)
        _count_term(st, redirect.text, domain, depth)
        try:
            target = yield from _expand_domain(st, redirect.value, domain)
        except _Undetermined as exc:
            st.undetermined.append(f"{domain}: {redirect.text} ({exc})")
            raise _Undetermined(f"{redirect.text} at {domain}: {exc}") from exc
        if not valid_domain(target):
            raise _Stop(
                SpfResult.PERMERROR,
                f"{redirect.text}: target {target!r} is not a domain name (sec. 6.1)",
                domain,
                redirect.text,
            )
        result, explanation, _, where, deciding, reason = yield from _check(
            st, target, depth + 1, explain, redirect.text
        )
        if result == SpfResult.NONE:
            raise _Stop(
                SpfResult.PERMERROR,
                f"{redirect.text}: {reason} (sec. 6.1: permerror)",
                domain,
                redirect.text,
            )
        return result, explanation, record.text, where, deciding, reason
    return SpfResult.NEUTRAL, None, record.text, domain, "", "no term matched (default ?all)"


def _mech_domain(st: _State, mech: Mechanism, domain: str) -> Steps[str]:
    if not mech.domain_spec:
        return domain
    target: str = yield from _expand_domain(st, mech.domain_spec, domain)
    return target


def _match(st: _State, mech: Mechanism, domain: str, depth: int) -> Steps[bool]:
    name = mech.name
    ip = st.ip
    if name == "all":
        return True
    if name in ("ip4", "ip6"):
        assert mech.network is not None
        if ip is None:
            # an unlisted sender exists only outside the range: a /0 lists every address
            return mech.network.prefixlen == 0 and mech.network.version == st.family
        return ip.version == mech.network.version and ip in mech.network
    _count_term(st, mech.text, domain, depth)
    try:
        target = yield from _mech_domain(st, mech, domain)
    except _Undetermined as exc:
        st.undetermined.append(f"{domain}: {mech.text} ({exc})")
        return False
    if name == "include":
        if not valid_domain(target):
            raise _Stop(
                SpfResult.PERMERROR,
                f"{mech.text}: {target!r} is not a domain name",
                domain,
                mech.text,
            )
        try:
            result, _, _, where, deciding, reason = yield from _check(
                st, target, depth + 1, False, mech.text
            )
        except _Undetermined:
            return False  # recorded where it arose; the include may or may not match
        # sec. 5.2 table
        if result == SpfResult.PASS:
            return True
        if result in (SpfResult.FAIL, SpfResult.SOFTFAIL, SpfResult.NEUTRAL):
            return False
        if result == SpfResult.NONE:
            raise _Stop(
                SpfResult.PERMERROR,
                f"{mech.text}: {reason} (sec. 5.2: an include without a record is permerror)",
                domain,
                mech.text,
            )
        raise _Stop(result, reason, where, deciding)  # pragma: no cover - raised below
    if not _queryable(target):
        # a domain-spec that is valid syntax but no DNS name (an empty or long label,
        # perhaps from a macro): RFC 7208 leaves it undefined; it matches nothing
        st.notes.append(f"{mech.text}: {target[:80]!r} cannot be queried; treated as no match")
        return False
    if name == "exists":
        answer = yield from _ask(st, target, "A", mech.text, domain)  # sec. 5.7: always A
        _count_void(st, answer, mech.text, domain)
        return bool(answer.records)
    if name == "a":
        return (yield from _match_a(st, target, mech, domain, mech.text))
    if name == "mx":
        answer = yield from _ask(st, target, "MX", mech.text, domain)
        _count_void(st, answer, mech.text, domain)
        names: list[str] = []
        for rec in answer.records:
            parts = rec.split()
            host = parts[-1].rstrip(".") if len(parts) >= 2 else ""
            if host and host not in names:
                names.append(host)  # "0 ." (RFC 7505 null MX) names no host
        if len(answer.records) > st.limits.mx_names:
            raise _Stop(
                SpfResult.PERMERROR,
                f"{mech.text}: {len(answer.records)} MX records (sec. 4.6.4: at most "
                f"{st.limits.mx_names})",
                domain,
                mech.text,
            )
        for host in names:
            if not _queryable(host):
                continue
            if (yield from _match_a(st, host, mech, domain, mech.text)):
                return True
        return False
    # ptr (sec. 5.5)
    st.notes.append(f"{domain}: {mech.text} (sec. 5.5: 'ptr' SHOULD NOT be used)")
    if ip is None:
        st.undetermined.append(f"{domain}: {mech.text} (needs the sender's address)")
        return False
    for valid in (yield from _validated_names(st, ip)):
        low, tgt = norm_name(valid), norm_name(target)
        if low == tgt or low.endswith("." + tgt):
            return True
    return False


def _match_a(st: _State, host: str, mech: Mechanism, domain: str, term: str) -> Steps[bool]:
    rdtype = "AAAA" if st.family == 6 else "A"
    answer = yield from _ask(st, host, rdtype, term, domain)
    _count_void(st, answer, term, domain)
    bits = mech.cidr6 if st.family == 6 else mech.cidr4
    if st.ip is None:
        # as for ip4:/ip6: a prefix length of 0 around any address lists every address
        return bits == 0 and bool(answer.records)
    for rec in answer.records:
        try:
            addr = ipaddress.ip_address(rec.strip())
            if addr.version != st.ip.version:
                continue
            net = ipaddress.ip_network(f"{addr}/{addr.max_prefixlen if bits is None else bits}",
                                       strict=False)  # fmt: skip
        except ValueError:
            continue
        if st.ip in net:
            return True
    return False


def _reverse_name(ip: IP) -> str:
    return ip.reverse_pointer


def _validated_names(st: _State, ip: IP) -> Steps[list[str]]:
    """Sec. 5.5: PTR names of <ip> whose forward lookup contains <ip> (at most 10 names;
    a DNS error on the PTR or on one name's lookup skips it, it is no temperror)."""
    answer = yield Query(_reverse_name(ip), "PTR")
    if answer.kind in (AnswerKind.ERROR, AnswerKind.MISSING):
        if answer.kind == AnswerKind.MISSING:
            st.missing.append(f"{_reverse_name(ip)} PTR")
        return []
    rdtype = "AAAA" if ip.version == 6 else "A"
    out: list[str] = []
    for rec in answer.records[: st.limits.ptr_names]:
        name = rec.strip().rstrip(".")
        if not _queryable(name):
            continue
        fwd = yield Query(name.lower(), rdtype)
        if fwd.kind != AnswerKind.OK:
            continue
        for addr in fwd.records:
            try:
                if ipaddress.ip_address(addr.strip()) == ip:
                    out.append(name)
                    break
            except ValueError:
                continue
    return out


# ---------------------------------------------------------------------------
# Macro expansion (sec. 7.3, 7.4)


def _ip_dotted(ip: IP) -> str:
    if ip.version == 4:
        return str(ip)
    # sec. 7.3: "i" for IPv6 is the dot-separated nibbles (the test suite's letter case)
    return ".".join(ip.exploded.replace(":", "").upper())


def _macro_value(st: _State, macro: Macro, domain: str) -> Steps[str]:
    low = macro.letter.lower()
    if low == "d":
        return domain
    if low == "v":
        return "ip6" if st.family == 6 else "in-addr"
    if low == "o":
        return st.sender_domain
    if low == "r":
        return st.receiver
    if low == "t":
        return str(st.now)
    if st.ip is None:
        raise _Undetermined(f"%{{{macro.letter}}} needs the sender")
    if low == "s":
        return st.sender
    if low == "l":
        return st.local
    if low == "h":
        return st.helo
    if low == "i":
        return _ip_dotted(st.ip)
    if low == "c":
        return str(st.ip)
    # p (sec. 7.3: "This macro SHOULD NOT be used"): a validated name, preferring <domain>
    # itself, then a subdomain of it, else any; "unknown" when none validates
    if st.validated_p is None:
        names = yield from _validated_names(st, st.ip)
        low_domain = domain.lower()
        pick = next((n for n in names if n.lower() == low_domain), None)
        pick = pick or next((n for n in names if n.lower().endswith("." + low_domain)), None)
        st.validated_p = pick or (names[0] if names else "unknown")
    return st.validated_p


def _expand(st: _State, parts: tuple[MacroPart, ...], domain: str) -> Steps[str]:
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        if isinstance(part, Escape):
            out.append(part.text)
            continue
        value = yield from _macro_value(st, part, domain)
        if part.digits is not None or part.reverse or part.delimiters:
            delims = part.delimiters or "."
            pieces = re.split("[" + re.escape(delims) + "]", value)
            if part.reverse:
                pieces.reverse()
            if part.digits is not None:
                pieces = pieces[-part.digits :]
            value = ".".join(pieces)
        if part.letter.isupper():
            value = quote(value, safe="-._~")  # sec. 7.3: URL-escape, unreserved kept
        out.append(value)
    return "".join(out)


def _expand_domain(st: _State, spec: str, domain: str) -> Steps[str]:
    """Expand a domain-spec into the name to query (sec. 7.3: over 253 characters, labels
    are removed from the left; a trailing dot is dropped)."""
    try:
        parts = parse_macro_string(spec)
    except MacroError as exc:  # pragma: no cover - parse_record checked the syntax
        raise _Stop(SpfResult.PERMERROR, str(exc), domain, spec) from exc
    name = yield from _expand(st, parts, domain)
    name = name[:-1] if name.endswith(".") else name
    while len(name) > 253 and "." in name:
        name = name.split(".", 1)[1]
    return name


def _explanation(st: _State, record: SpfRecord, domain: str) -> Steps[str | None]:
    """Sec. 6.2: the exp= text; any problem (DNS error, not exactly one record, a syntax
    error, non-ASCII text) means "as if no exp modifier was given". Not counted against
    the limits (test suite "exp-void")."""
    exp = record.modifier("exp")
    if exp is None:
        return None
    try:
        target = yield from _expand_domain(st, exp.value, domain)
    except (_Undetermined, _Stop):
        return None
    if not _queryable(target):
        return None
    answer = yield Query(target.lower(), "TXT")
    if answer.kind != AnswerKind.OK or len(answer.records) != 1:
        return None
    text = txt_text(answer.records[0])
    if not text.isascii():
        return None
    try:
        parts = parse_macro_string(text, explain=True)
        value: str = yield from _expand(st, parts, domain)
    except (MacroError, _Undetermined, _Stop):
        return None
    return value


# ---------------------------------------------------------------------------
# Auditing a domain's record (both address families)


def audit(domain: str, family: int, limits: SpfLimits | None = None) -> Steps[SpfOutcome]:
    """check_host() for an IPv4 (``family=4``) or IPv6 sender that the record does not
    list: what the policy does to everyone else."""
    return check_host(None, domain, family=family, limits=limits, explain=False)
