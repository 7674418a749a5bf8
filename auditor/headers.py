"""Pure parsers for security-relevant HTTP headers and security.txt.

They follow the standards, not string matching: header field names and directive
names are case-insensitive, quoted-strings are unquoted, whitespace is optional
whitespace, and duplicates are handled the way the relevant standard (and
browsers) do:

- Strict-Transport-Security: RFC 6797 sec. 6.1 (grammar), 8.1 (only the *first* STS header
  field of a response is processed; a field with a repeated directive is invalid).
- Content-Security-Policy: W3C CSP Level 3 sec. 2.2 (serialized policy list: every
  header field, and every comma-separated policy in it, is enforced; in a policy, a
  repeated directive is ignored) and sec. 8 (nonces/hashes/'strict-dynamic').
- Referrer-Policy: W3C Referrer Policy sec. 8.1 (last *valid* token wins).
- X-Frame-Options: HTML Living Standard "check a navigation response's adherence to
  X-Frame-Options" (values split, lower-cased, de-duplicated; conflicting values block).
- X-Content-Type-Options: Fetch Living Standard "determine nosniff" (first value only).
- Set-Cookie: RFC 6265 sec. 5.2 / RFC 6265bis (attribute names case-insensitive, last
  attribute of a kind wins, unknown SameSite values mean "not set").
- security.txt: RFC 9116 sec. 2-4 (field grammar, URI values, RFC 3339 Expires, Canonical)
  and RFC 4880 sec. 6-7 (OpenPGP cleartext signature structure).

Inputs are remote, untrusted text: every function is total (never raises on input).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

# RFC 9110 sec. 5.6.2: token = 1*tchar
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_OWS = " \t"


def is_token(text: str) -> bool:
    return bool(text) and all(c in _TCHAR for c in text)


def split_quoted(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quoted-strings (RFC 9110 sec. 5.6.4), keeping quotes."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    escaped = False
    for ch in text:
        if quoted:
            buf.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
            buf.append(ch)
        elif ch == sep:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def unquote(value: str) -> str | None:
    """The content of a quoted-string, or None when it is not a well-formed one."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return None
    out: list[str] = []
    i = 1
    while i < len(value) - 1:
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value) - 1:
                return None  # the closing quote was escaped
            out.append(value[i + 1])
            i += 2
            continue
        if ch == '"':
            return None
        out.append(ch)
        i += 1
    return "".join(out)


def header_list_values(values: Iterable[str]) -> list[str]:
    """Fetch "get, decode, and split": all fields combined, split on commas outside quotes."""
    out: list[str] = []
    for value in values:
        for part in split_quoted(value, ","):
            out.append(part.strip(_OWS))
    return out


# ---------------------------------------------------------------------------
# Strict-Transport-Security (RFC 6797)


@dataclass(frozen=True)
class Hsts:
    """The STS policy a browser would record from one response."""

    valid: bool
    max_age: int | None = None
    include_subdomains: bool = False
    preload: bool = False
    error: str = ""  # why the field is invalid (browsers then ignore it)
    raw: str = ""  # the field that was processed
    fields: int = 1  # how many STS header fields the response carried


def parse_hsts(values: Sequence[str]) -> Hsts | None:
    """Parse the STS header fields of one response; None when there is none.

    RFC 6797 sec. 8.1: when a response carries more than one STS header field, the UA
    processes only the first one. Sec. 6.1: directive names are case-insensitive, values
    are token or quoted-string, every directive appears at most once, max-age is required
    and is delta-seconds (1*DIGIT); includeSubDomains is valueless.
    """
    if not values:
        return None
    raw = values[0]
    count = len(values)

    def bad(why: str) -> Hsts:
        return Hsts(False, error=why, raw=raw, fields=count)

    seen: dict[str, str | None] = {}
    for part in split_quoted(raw, ";"):
        directive = part.strip(_OWS)
        if not directive:
            continue  # RFC 6797 grammar: [ directive ] *( ";" [ directive ] )
        name, eq, value = directive.partition("=")
        name = name.strip(_OWS)
        if not is_token(name):
            return bad(f"malformed directive {directive[:60]!r}")
        key = name.lower()
        if key in seen:
            return bad(f"directive {name!r} appears more than once (RFC 6797 sec. 6.1 rule 2)")
        parsed: str | None = None
        if eq:
            value = value.strip(_OWS)
            if value.startswith('"'):
                parsed = unquote(value)
                if parsed is None:
                    return bad(f"malformed quoted value in {directive[:60]!r}")
            elif is_token(value):
                parsed = value
            else:
                return bad(f"malformed value in {directive[:60]!r}")
        seen[key] = parsed
    if "max-age" not in seen:
        return bad("no max-age directive (required, RFC 6797 sec. 6.1.1)")
    age = seen["max-age"]
    if age is None or not age.isascii() or not age.isdigit():
        return bad(f"max-age is not delta-seconds: {age!r}")
    if "includesubdomains" in seen and seen["includesubdomains"] is not None:
        return bad("includeSubDomains takes no value (RFC 6797 sec. 6.1.2)")
    return Hsts(
        True,
        max_age=int(age[:20]),  # 20 digits: far beyond any meaningful value, bounded work
        include_subdomains="includesubdomains" in seen,
        preload="preload" in seen,
        raw=raw,
        fields=count,
    )


# ---------------------------------------------------------------------------
# Content-Security-Policy (W3C CSP Level 3)

_ASCII_WS = re.compile(r"[\t\n\f\r ]+")
_DIRECTIVE_NAME = re.compile(r"^[A-Za-z0-9-]+$")
_NONCE = re.compile(r"^'nonce-[A-Za-z0-9+/_-]+={0,2}'$", re.IGNORECASE)
_HASH = re.compile(r"^'(sha256|sha384|sha512)-[A-Za-z0-9+/_-]+={0,2}'$", re.IGNORECASE)
# Sources that allow any host: *, a bare http:/https: scheme, or a wildcard host.
_ANY_HOST = re.compile(r"^(\*|https?:|(https?://)?\*(:(\*|\d+))?/?)$", re.IGNORECASE)


@dataclass(frozen=True)
class CspPolicy:
    """One enforced policy: directive name (lower-case) -> source expressions."""

    directives: tuple[tuple[str, tuple[str, ...]], ...]
    duplicates: tuple[str, ...] = ()  # repeated directives (ignored, CSP3 sec. 2.2.2)
    raw: str = ""

    def get(self, name: str) -> tuple[str, ...] | None:
        for key, sources in self.directives:
            if key == name:
                return sources
        return None

    def has(self, name: str) -> bool:
        return self.get(name) is not None


def _parse_serialized_policy(serialized: str) -> CspPolicy | None:
    """CSP3 sec. 2.2.1 "parse a serialized CSP"."""
    directives: list[tuple[str, tuple[str, ...]]] = []
    names: set[str] = set()
    dups: list[str] = []
    for token in serialized.split(";"):
        token = token.strip(" \t\n\r\f")
        if not token:
            continue
        # CSP3: ASCII whitespace only (str.split() would also split on \x1c-\x1f)
        parts = [t for t in _ASCII_WS.split(token) if t]
        if not parts:
            continue
        name = parts[0].lower()
        if not _DIRECTIVE_NAME.match(name):
            continue
        if name in names:
            # CSP3 sec. 2.2.1 step 2.5: "If policy's directive set contains a directive
            # whose name is directive name, continue" - the first one wins and the policy
            # stays valid. (Internet.nl merges repeated directives instead: not what
            # browsers enforce.)
            dups.append(name)
            continue
        names.add(name)
        directives.append((name, tuple(parts[1:])))
    if not directives:
        return None
    return CspPolicy(tuple(directives), tuple(dups), serialized.strip())


# CSP3 sec. 3.3: a policy delivered by <meta http-equiv> cannot carry these.
META_IGNORED_DIRECTIVES = ("report-uri", "frame-ancestors", "sandbox")


def parse_csp_meta(contents: Sequence[str]) -> tuple[tuple[CspPolicy, ...], tuple[str, ...]]:
    """Policies of ``<meta http-equiv="Content-Security-Policy" content=...>`` elements.

    CSP3 sec. 3.3: each content is one serialized policy (commas are *not* policy
    separators here), enforced, with report-uri, frame-ancestors and sandbox removed.
    Returns (policies, the directives removed).
    """
    policies: list[CspPolicy] = []
    removed: list[str] = []
    for content in contents:
        policy = _parse_serialized_policy(content)
        if policy is None:
            continue
        kept = tuple(d for d in policy.directives if d[0] not in META_IGNORED_DIRECTIVES)
        removed += [d[0] for d in policy.directives if d[0] in META_IGNORED_DIRECTIVES]
        if kept:
            policies.append(CspPolicy(kept, policy.duplicates, policy.raw))
    return tuple(policies), tuple(dict.fromkeys(removed))


def parse_csp(values: Sequence[str]) -> tuple[CspPolicy, ...]:
    """Parse CSP header fields into the list of policies a browser enforces.

    CSP3 sec. 2.2.2 "parse a serialized CSP list": each comma-separated item is a policy;
    in a policy, directives are separated by ";", the name is lower-cased, a repeated
    directive is ignored (the first wins), empty policies are dropped.
    """
    policies: list[CspPolicy] = []
    for value in values:
        for serialized in value.split(","):
            policy = _parse_serialized_policy(serialized)
            if policy is not None:
                policies.append(policy)
    return tuple(policies)


@dataclass(frozen=True)
class CspSource:
    """One source expression (CSP3 sec. 2.3.1 grammar), classified."""

    text: str
    # keyword / nonce / hash / scheme / host / other (not valid CSP3 syntax: browsers ignore
    # it, it matches nothing; e.g. "*://x", "'nonce-a=b'", "[ipv6:address]")
    kind: str
    scheme: str = ""  # lower case; "" when absent (host-source without scheme-part)
    host: str = ""  # lower case host-part ("*", "*.example.vn", "example.vn", "[::1]")
    port: str = ""


# host-source = [ scheme-part "://" ] host-part [ ":" port-part ] [ path-part ]
_HOST_SOURCE = re.compile(
    r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?"
    r"(?P<host>\*|(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])"
    r"(?::(?P<port>[0-9]+|\*))?(?P<path>/[^\s;,]*)?"
)
_SCHEME_SOURCE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
CSP_KEYWORDS = frozenset(
    {
        "'self'", "'none'", "'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'",
        "'strict-dynamic'", "'report-sample'", "'wasm-unsafe-eval'",
        "'inline-speculation-rules'", "'unsafe-allow-redirects'",
    }
)  # fmt: skip


def classify_source(text: str) -> CspSource:
    low = text.lower()
    if low in CSP_KEYWORDS:
        return CspSource(text, "keyword")
    if is_nonce(text):
        return CspSource(text, "nonce")
    if is_hash(text):
        return CspSource(text, "hash")
    if _SCHEME_SOURCE.fullmatch(text):
        return CspSource(text, "scheme", scheme=low[:-1])
    m = _HOST_SOURCE.fullmatch(text)
    if m:
        return CspSource(
            text,
            "host",
            scheme=(m.group("scheme") or "").lower(),
            host=m.group("host").lower().rstrip("."),
            port=m.group("port") or "",
        )
    return CspSource(text, "other")


# Directives whose value is a source list (CSP3 sec. 6.1-6.3, navigate-to of CSP3 drafts);
# sandbox, trusted-types, report-to... take other values.
SOURCE_LIST_DIRECTIVES = frozenset(
    {
        "default-src", "child-src", "connect-src", "font-src", "frame-src", "img-src",
        "manifest-src", "media-src", "object-src", "prefetch-src", "script-src",
        "script-src-elem", "script-src-attr", "style-src", "style-src-elem",
        "style-src-attr", "worker-src", "fenced-frame-src", "base-uri", "form-action",
        "frame-ancestors", "navigate-to",
    }
)  # fmt: skip

# CSP3 sec. 6.8.3 "get the effective directive": the fallback list of each fetch directive
CSP_FALLBACKS: dict[str, tuple[str, ...]] = {
    "script-src-elem": ("script-src-elem", "script-src", "default-src"),
    "script-src-attr": ("script-src-attr", "script-src", "default-src"),
    "style-src-elem": ("style-src-elem", "style-src", "default-src"),
    "style-src-attr": ("style-src-attr", "style-src", "default-src"),
    "worker-src": ("worker-src", "child-src", "script-src", "default-src"),
    "frame-src": ("frame-src", "child-src", "default-src"),
    "child-src": ("child-src", "default-src"),
    "object-src": ("object-src", "default-src"),
}


def effective_sources(
    policy: CspPolicy, directive: str
) -> tuple[str | None, tuple[str, ...] | None]:
    """(the directive that governs ``directive`` in ``policy``, its sources), following
    the CSP3 fallback list; (None, None) when nothing governs it."""
    for candidate in CSP_FALLBACKS.get(directive, (directive, "default-src")):
        sources = policy.get(candidate)
        if sources is not None:
            return candidate, sources
    return None, None


def is_nonce(source: str) -> bool:
    return bool(_NONCE.match(source))


def is_hash(source: str) -> bool:
    return bool(_HASH.match(source))


def allows_any_host(source: str) -> bool:
    return bool(_ANY_HOST.match(source))


def unsafe_script_source(source: str) -> bool:
    """A script/object source that lets an attacker supply code: any host, or data:
    (Mozilla Observatory and Google's CSP Evaluator flag data: in script-src)."""
    return allows_any_host(source) or source.lower() == "data:"


@dataclass(frozen=True)
class ScriptPolicy:
    """How one policy governs scripts (the effective directive, CSP3 sec. 6.8.1)."""

    directive: str | None  # "script-src" / "default-src" / None (scripts unrestricted)
    unsafe_inline: bool = False  # 'unsafe-inline' present *and* in effect
    inline_neutralised_by: str = ""  # "nonce" / "hash" / "strict-dynamic" when ignored
    unsafe_eval: bool = False
    strict_dynamic: bool = False
    any_host: tuple[str, ...] = ()  # *, https:, http: ... in effect (not neutralised)
    nonces: int = 0
    hashes: int = 0


def script_policy(policy: CspPolicy) -> ScriptPolicy:
    """CSP3 semantics for scripts.

    - sec. 6.6.3.3: a nonce or hash source makes 'unsafe-inline' ignored (CSP2+), and so
      does 'strict-dynamic' for scripts.
    - sec. 8.2 'strict-dynamic': host sources, scheme sources, 'self' and 'unsafe-inline'
      are ignored for scripts; trust flows from nonced/hashed scripts only.
    """
    name: str | None = None
    sources: tuple[str, ...] | None = None
    for candidate in ("script-src", "default-src"):
        sources = policy.get(candidate)
        if sources is not None:
            name = candidate
            break
    if sources is None or name is None:
        return ScriptPolicy(None)
    low = [s.lower() for s in sources]
    nonces = sum(1 for s in sources if is_nonce(s))
    hashes = sum(1 for s in sources if is_hash(s))
    strict = "'strict-dynamic'" in low
    inline = "'unsafe-inline'" in low
    by = ""
    if inline:
        if strict:
            by = "strict-dynamic"
        elif nonces:
            by = "nonce"
        elif hashes:
            by = "hash"
    any_host = () if strict else tuple(s for s in sources if unsafe_script_source(s))
    return ScriptPolicy(
        directive=name,
        unsafe_inline=inline and not by,
        inline_neutralised_by=by,
        unsafe_eval="'unsafe-eval'" in low,
        strict_dynamic=strict,
        any_host=any_host,
        nonces=nonces,
        hashes=hashes,
    )


def object_sources(policy: CspPolicy) -> tuple[str | None, tuple[str, ...] | None]:
    for candidate in ("object-src", "default-src"):
        sources = policy.get(candidate)
        if sources is not None:
            return candidate, sources
    return None, None


def frame_ancestors_restrictive(sources: Sequence[str]) -> bool:
    """frame-ancestors that does not let any site frame the page."""
    return not any(allows_any_host(s) for s in sources)


# ---------------------------------------------------------------------------
# Referrer-Policy (W3C Referrer Policy sec. 8.1)

REFERRER_POLICIES = (
    "no-referrer",
    "no-referrer-when-downgrade",
    "same-origin",
    "origin",
    "strict-origin",
    "origin-when-cross-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
)


def parse_referrer_policy(values: Sequence[str]) -> str:
    """The policy a browser applies: the last *valid* token of all fields ("" if none).

    Unknown tokens are skipped (sites list a fallback first, then a newer policy).
    Browsers match the tokens ASCII case-insensitively.
    """
    policy = ""
    for token in header_list_values(values):
        low = token.lower()
        if low in REFERRER_POLICIES:
            policy = low
    return policy


# ---------------------------------------------------------------------------
# X-Frame-Options (HTML Living Standard) and X-Content-Type-Options (Fetch)


def parse_xfo(values: Sequence[str]) -> str:
    """What X-Frame-Options does in a browser: "deny", "sameorigin" or "" (no protection).

    HTML ("check a navigation response's adherence to X-Frame-Options", steps 4-8):
    values split on commas, lower-cased, de-duplicated, so "SAMEORIGIN, SAMEORIGIN" (a
    header set twice, by the application and the proxy) is SAMEORIGIN; more than one
    distinct value including deny/sameorigin/allowall blocks framing entirely ("deny");
    ALLOW-FROM and unknown values give no protection ("invalid": browsers ignore the
    header). Mozilla Observatory's x_frame_options test rejects the repeated value and
    accepts ALLOW-FROM; the spec's (and browsers') answer is kept here.
    """
    options = {v.lower() for v in header_list_values(values) if v}
    if not options:
        return ""
    if len(options) > 1:
        if options & {"deny", "allowall", "sameorigin"}:
            return "deny"
        return ""
    only = next(iter(options))
    return only if only in ("deny", "sameorigin") else ""


def parse_nosniff(values: Sequence[str]) -> bool:
    """Fetch "determine nosniff": the first value is ``nosniff`` (case-insensitive), so
    "nosniff, nosniff" (a header set twice) is nosniff. Mozilla Observatory's
    x_content_type_options test compares the whole combined value with "nosniff" and
    rejects it; the Fetch standard's answer is kept here."""
    items = header_list_values(values)
    return bool(items) and items[0].lower() == "nosniff"


# ---------------------------------------------------------------------------
# Set-Cookie (RFC 6265 / RFC 6265bis)


@dataclass(frozen=True)
class Cookie:
    name: str
    secure: bool = False
    http_only: bool = False
    same_site: str = ""  # "strict" / "lax" / "none" / "" (absent or unknown value)
    same_site_raw: str = ""
    max_age: int | None = None
    expires: str = ""
    domain: str = ""
    path: str = ""

    @property
    def deletes(self) -> bool:
        """A cookie sent only to delete itself (Max-Age <= 0, RFC 6265 sec. 5.2.2)."""
        return self.max_age is not None and self.max_age <= 0


def parse_set_cookie(value: str) -> Cookie | None:
    """One Set-Cookie field; None when the browser ignores it (RFC 6265 sec. 5.2)."""
    pair, _, attrs = value.partition(";")
    if "=" not in pair:
        # RFC 6265 ignores it; RFC 6265bis makes it a nameless cookie with that value.
        name = ""
        if not pair.strip(_OWS):
            return None
    else:
        name = pair.split("=", 1)[0].strip(_OWS)
    secure = http_only = False
    same_site = same_site_raw = expires = domain = path = ""
    max_age: int | None = None
    for attr in attrs.split(";") if attrs else []:
        key, _, val = attr.partition("=")
        key = key.strip(_OWS).lower()
        val = val.strip(_OWS)
        if key == "secure":
            secure = True
        elif key == "httponly":
            http_only = True
        elif key == "samesite":
            same_site_raw = val
            low = val.lower()
            same_site = low if low in ("strict", "lax", "none") else ""
        elif key == "max-age":
            if re.fullmatch(r"-?[0-9]{1,18}", val):
                max_age = int(val)
        elif key == "expires":
            expires = val
        elif key == "domain":
            domain = val
        elif key == "path":
            path = val
    return Cookie(
        name=name[:100],
        secure=secure,
        http_only=http_only,
        same_site=same_site,
        same_site_raw=same_site_raw[:40],
        max_age=max_age,
        expires=expires[:60],
        domain=domain[:255],
        path=path[:255],
    )


# ---------------------------------------------------------------------------
# Version disclosure (Server, X-Powered-By, X-AspNet-Version, X-AspNetMvc-Version)

DISCLOSURE_HEADERS = ("server", "x-powered-by", "x-aspnet-version", "x-aspnetmvc-version")
# Bounded repetitions: header values are remote text (no quadratic backtracking).
_VERSION = re.compile(r"\d{1,12}(?:\.\d{1,12})+|/[ \t]{0,4}v?\d")


def has_version(value: str) -> bool:
    """A product version number such as nginx/1.18.0, PHP/7.4.3, 4.0.30319, IIS/10.0."""
    return bool(_VERSION.search(value))


# ---------------------------------------------------------------------------
# security.txt (RFC 9116)
#
# Hand-written rather than ``sectxt`` (DigitalTrustCenter, the parser Internet.nl uses):
# its Parser is pure, but importing the package creates a requests.Session at module
# level, it installs pytest and requests-mock as runtime dependencies and PGPy-dtc (a
# fork of an unmaintained OpenPGP library) for a structure check, and it is marked alpha;
# its checks of the bytes it is given are small and are all here (with its test cases
# among ours, tests/unit/test_security_txt.py), plus the parts of RFC 4880 sec. 7 it
# leaves to PGPy (armor checksum, packet types).

_PGP_SIGNED = "-----BEGIN PGP SIGNED MESSAGE-----"
_PGP_SIG = "-----BEGIN PGP SIGNATURE-----"
_PGP_END = "-----END PGP SIGNATURE-----"
# RFC 9116 sec. 4: field-name = 1*ftext (RFC 5322: printable US-ASCII but ":"), fs = ":",
# then SP; a comment starts with "#"; eol = *WSP [CR] LF
_FTEXT = re.compile(r"[\x21-\x39\x3b-\x7e]+")
_ARMOR_HEADER = re.compile(r"[\x21-\x39\x3b-\x7e]+: .*")  # RFC 4880 sec. 6.2 "Key: Value"
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")  # RFC 3986 sec. 3: scheme ":" hier-part
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
# RFC 5646 sec. 2.1, by syntax: a 2-3 letter primary language (ISO 639; 4 letters are
# reserved and 5-8 letter subtags are registered, none exist), or x-/i- tags
_LANG_TAG = re.compile(
    r"(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}(?:-[A-Za-z]{4})?(?:-(?:[A-Za-z]{2}|[0-9]{3}))?"
    r"(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*(?:-[0-9A-WY-Za-wy-z](?:-[A-Za-z0-9]{2,8})+)*"
    r"(?:-[xX](?:-[A-Za-z0-9]{1,8})+)?|[xX](?:-[A-Za-z0-9]{1,8})+|[iI]-[A-Za-z]{2,8})"
)
URI_FIELDS = ("acknowledgments", "canonical", "contact", "encryption", "hiring", "policy", "csaf")
MAX_ISSUES = 30


@dataclass(frozen=True)
class SecurityTxt:
    fields: tuple[tuple[str, str], ...] = ()  # (lower-case name, value) in order
    contacts: tuple[str, ...] = ()
    expires: datetime | None = None  # timezone-aware
    expires_raw: tuple[str, ...] = ()
    canonical: tuple[str, ...] = ()
    signed: bool = False  # an OpenPGP cleartext signed message with a sound structure
    # "line N: what" against RFC 9116 sec. 2-4 and RFC 4880 sec. 7: the file is invalid
    errors: tuple[str, ...] = field(default_factory=tuple)
    # SHOULDs of RFC 9116 that the file does not follow
    recommendations: tuple[str, ...] = field(default_factory=tuple)
    unknown_fields: tuple[str, ...] = ()  # extension fields (allowed; reported)

    def values(self, name: str) -> tuple[str, ...]:
        low = name.lower()
        return tuple(v for n, v in self.fields if n == low)


def parse_rfc3339(text: str) -> datetime | None:
    """RFC 3339 sec. 5.6 date-time (required by RFC 9116 sec. 2.5.5); None if invalid."""
    m = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", text
    )
    if not m:
        return None
    frac = (m.group(3) or "")[:7]
    offset = m.group(4)
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        value = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{frac}{offset}")
    except ValueError:
        return None
    return value


def _crc24(data: bytes) -> int:
    """RFC 4880 sec. 6.1 (the armor checksum)."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def _signature_packets(data: bytes) -> str:
    """Why ``data`` is not a sequence of OpenPGP Signature packets (RFC 4880 sec. 4.2,
    5.2), or "" when it is."""
    i = count = 0
    while i < len(data):
        head = data[i]
        i += 1
        if not head & 0x80:
            return "not an OpenPGP packet"
        if head & 0x40:  # new format
            tag = head & 0x3F
            if i >= len(data):
                return "truncated packet header"
            first = data[i]
            i += 1
            if first < 192:
                length = first
            elif first < 224:
                if i >= len(data):
                    return "truncated packet header"
                length = ((first - 192) << 8) + data[i] + 192
                i += 1
            elif first == 255:
                if i + 4 > len(data):
                    return "truncated packet header"
                length = int.from_bytes(data[i : i + 4], "big")
                i += 4
            else:
                return "partial body length (not allowed for a signature packet)"
        else:  # old format
            tag = (head >> 2) & 0x0F
            size = {0: 1, 1: 2, 2: 4}.get(head & 3)
            if size is None or i + size > len(data):
                return "indeterminate or truncated packet length"
            length = int.from_bytes(data[i : i + size], "big")
            i += size
        if tag != 2:
            return f"packet type {tag}, not a signature (type 2)"
        if i + length > len(data) or length == 0:
            return "truncated signature packet"
        if data[i] not in (3, 4, 5, 6):
            return f"unknown signature version {data[i]}"
        i += length
        count += 1
    return "" if count else "no signature packet"


@dataclass
class _Issues:
    errors: list[str] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)

    def error(self, line: int | None, what: str) -> None:
        if len(self.errors) < MAX_ISSUES:
            self.errors.append(f"line {line}: {what}" if line else what)


def _signature_block(lines: list[str], start: int, issues: _Issues) -> int:
    """Check the armored signature that starts at ``lines[start]`` (RFC 4880 sec. 6.2):
    armor headers, a blank line, base64, an optional "=" CRC-24 checksum, the tail line.
    Returns the index after the tail line (len(lines) when there is none)."""
    i = start + 1
    while i < len(lines) and lines[i].strip(" \t") and _ARMOR_HEADER.fullmatch(lines[i]):
        i += 1
    if i < len(lines) and lines[i].strip(" \t") in (_PGP_SIG, _PGP_SIGNED):
        issues.error(i + 1, "a second OpenPGP block inside the signature (RFC 4880 sec. 7)")
        return len(lines)
    if i >= len(lines) or lines[i].strip(" \t"):
        issues.error(i + 1, "signature block: no blank line after the armor headers")
    else:
        i += 1
    body: list[str] = []
    checksum: str | None = None
    while i < len(lines) and lines[i].strip(" \t") != _PGP_END:
        line = lines[i].strip(" \t")
        if line in (_PGP_SIG, _PGP_SIGNED):
            issues.error(i + 1, "a second OpenPGP block inside the signature (RFC 4880 sec. 7)")
            return len(lines)
        if line.startswith("=") and len(line) == 5:
            checksum = line[1:]
        elif checksum is not None or not _B64.fullmatch(line):
            issues.error(i + 1, "signature block: not base64 (corrupt signature)")
            return len(lines)
        else:
            body.append(line)
        i += 1
    if i >= len(lines):
        issues.error(start + 1, f"signature block without '{_PGP_END}'")
        return len(lines)
    try:
        data = base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        issues.error(start + 1, "signature block: base64 does not decode (corrupt signature)")
        return i + 1
    if checksum is not None:
        try:
            want = int.from_bytes(base64.b64decode(checksum, validate=True), "big")
        except (binascii.Error, ValueError):
            want = -1
        if want != _crc24(data):
            issues.error(start + 1, "signature block: armor checksum mismatch (corrupt)")
            return i + 1
    why = _signature_packets(data)
    if why:
        issues.error(start + 1, f"signature block: {why} (corrupt signature)")
    return i + 1


def _cleartext(lines: list[str], issues: _Issues) -> tuple[list[tuple[int, str]], bool]:
    """The lines to read as fields, with their line numbers, and whether the file is a
    structurally sound OpenPGP cleartext signed message (RFC 4880 sec. 7)."""
    stripped = [ln.strip(" \t") for ln in lines]
    if _PGP_SIGNED not in stripped:
        for n, ln in enumerate(stripped, 1):
            if ln in (_PGP_SIG, _PGP_END):
                issues.error(n, f"'{ln}' without '{_PGP_SIGNED}' (RFC 4880 sec. 7)")
        return [(n, ln) for n, ln in enumerate(lines, 1) if ln.strip(" \t") not in (
            _PGP_SIG, _PGP_END)], False  # fmt: skip
    before = len(issues.errors)
    head = stripped.index(_PGP_SIGNED)
    if head != 0:
        # RFC 9116 sec. 4: body = signed / unsigned, signed = sign-header ...: nothing
        # (not even a blank line) comes before the header
        issues.error(head + 1, f"'{_PGP_SIGNED}' is not on the first line")
    i = head + 1
    while i < len(lines) and stripped[i]:
        if not _ARMOR_HEADER.fullmatch(lines[i]):
            issues.error(i + 1, f'not an armor header ("Hash: ..."): {lines[i][:60]!r}')
        i += 1
    if i >= len(lines):
        issues.error(head + 1, "signed message without the blank line and the text")
        return [], False
    i += 1  # the one empty line of RFC 4880 sec. 7
    out: list[tuple[int, str]] = []
    sig = None
    while i < len(lines):
        line = lines[i]
        if stripped[i] == _PGP_SIG:
            sig = i
            break
        if stripped[i] == _PGP_END:
            issues.error(i + 1, f"'{_PGP_END}' without '{_PGP_SIG}'")
            break
        if stripped[i] == _PGP_SIGNED:
            issues.error(i + 1, "a second signed message (RFC 4880 sec. 7)")
        elif line.startswith("- "):
            line = line[2:]  # dash-escaped text (RFC 4880 sec. 7.1)
        elif line.startswith("-"):
            issues.error(i + 1, "a line starting with '-' is not dash-escaped (RFC 4880 7.1)")
        out.append((i + 1, line))
        i += 1
    if sig is None:
        what = f"line {head + 1}: signed message without a signature block (RFC 4880 sec. 7)"
        issues.errors.insert(before, what)
        return out, False
    end = _signature_block(lines, sig, issues)
    for n in range(end, len(lines)):
        if stripped[n] in (_PGP_SIG, _PGP_SIGNED):
            issues.error(n + 1, "a second OpenPGP signature or message after the first")
            break
        if stripped[n]:
            issues.error(n + 1, "data after the signature")
            break
        issues.error(n + 1, "blank line after the signature")
        break
    return out, len(issues.errors) == before


def _check_value(name: str, value: str, n: int, issues: _Issues) -> None:
    if name in URI_FIELDS:
        if not _URI.fullmatch(value):
            issues.error(
                n,
                f"{name.capitalize()} is not a URI: {value[:60]!r} (RFC 9116 sec. 2.5: e.g. "
                "mailto:, https:, tel:)",
            )
        elif value.lower().startswith("http:"):
            issues.error(n, f"{name.capitalize()} is a web URI without https:// ({value[:60]!r})")
        elif name == "csaf" and not (
            value.lower().startswith("https:") and value.endswith("provider-metadata.json")
        ):
            # CSAF 2.0 sec. 7.1.8 (registered by OASIS for RFC 9116): the provider metadata
            issues.error(n, f"CSAF does not name an https provider-metadata.json: {value[:60]!r}")
    elif name == "preferred-languages":
        tags = [t.strip(" \t") for t in value.split(",")]
        bad = [t for t in tags if not _LANG_TAG.fullmatch(t)]
        if bad:
            issues.error(n, f"Preferred-Languages: {bad[0][:30]!r} is not an RFC 5646 language tag")


def parse_security_txt(text: str, *, complete: bool = True) -> SecurityTxt:
    """Parse a security.txt body against RFC 9116 sec. 2-4 (and RFC 4880 sec. 7 when it is
    signed); every deviation is collected, named with its line, never raised.

    ``complete=False``: the body was cut by a size cap, so its end is not judged.
    """
    issues = _Issues()
    if text.startswith("\ufeff"):
        # the first field-name would start with U+FEFF, which is no ftext (sec. 4 ABNF)
        issues.error(1, "starts with a byte-order mark (not allowed: plain UTF-8 text)")
        text = text[1:]
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()  # the final line ending
    elif text and complete:
        issues.error(len(raw), "the last line has no line ending (RFC 9116 sec. 4: eol)")
    # eol = *WSP [CR] LF: a CR belongs to the line ending only right before LF
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in raw]
    body, signed = _cleartext(lines, issues)
    fields: list[tuple[str, str]] = []
    unknown: list[str] = []
    known = (*URI_FIELDS, "expires", "preferred-languages")
    for n, line in body:
        if not line.strip(" \t"):
            continue
        if line.startswith("#"):
            continue
        if _CONTROL.search(line):
            issues.error(n, "control character in the line")
            continue
        if line[0] in " \t":
            issues.error(n, f"leading whitespace: {line.strip()[:60]!r}")
            continue
        name, sep, rest = line.partition(":")
        if not sep:
            issues.error(n, f"not a field: {line.strip()[:80]!r}")
            continue
        if not name.strip(" \t"):
            issues.error(n, "a field without a name")
            continue
        if not _FTEXT.fullmatch(name):
            issues.error(n, f"whitespace or invalid character in the field name {name[:40]!r}")
            continue
        low = name.lower()
        value = rest.strip(" \t")
        if rest and rest[0] != " ":
            issues.error(n, f"no space after '{name}:' (RFC 9116 sec. 4: ':' then SP)")
        if not value:
            issues.error(n, f"{name}: empty value")
            continue
        if low not in known and low not in unknown:
            unknown.append(low)
        _check_value(low, value, n, issues)
        fields.append((low, value))
    contacts = tuple(v for k, v in fields if k == "contact")
    expires_raw = tuple(v for k, v in fields if k == "expires")
    canonical = tuple(v for k, v in fields if k == "canonical")
    expires: datetime | None = None
    if len(expires_raw) > 1:
        issues.error(None, "Expires appears more than once (RFC 9116 sec. 2.5.5: MUST NOT)")
    if expires_raw:
        expires = parse_rfc3339(expires_raw[0])
        if expires is None:
            issues.error(None, f"Expires is not an RFC 3339 date-time: {expires_raw[0][:60]!r}")
    if len([1 for k, _ in fields if k == "preferred-languages"]) > 1:
        issues.error(None, "Preferred-Languages appears more than once (RFC 9116 sec. 2.5.8)")
    if signed and not canonical:
        issues.recommendations.append(
            "a signed file should have a Canonical field (RFC 9116 sec. 2.3)"
        )
    return SecurityTxt(
        fields=tuple(fields),
        contacts=contacts,
        expires=expires,
        expires_raw=expires_raw,
        canonical=canonical,
        signed=signed,
        errors=tuple(issues.errors),
        recommendations=tuple(issues.recommendations),
        unknown_fields=tuple(unknown[:20]),
    )


def media_type(content_type: str) -> tuple[str, dict[str, str]]:
    """(type/subtype lower-case, parameters) of a Content-Type value (RFC 9110 sec. 8.3)."""
    parts = split_quoted(content_type, ";")
    mtype = parts[0].strip(_OWS).lower()
    params: dict[str, str] = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        k = k.strip(_OWS).lower()
        v = v.strip(_OWS)
        if v.startswith('"'):
            v = unquote(v) or ""
        if k and k not in params:
            params[k] = v
    return mtype, params
